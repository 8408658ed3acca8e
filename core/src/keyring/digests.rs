//! [`PromptDigests`]: each prompt's audit digest, computed once. A shot's prompt is digested
//! for the record of every attempt (the inference) and again whenever its video is shown with
//! its prompts (a prompt read): HMAC-SHA256 of the prompt each time was about 3% of the server's
//! instructions at full load (BENCHMARKS.md, "Throughput of the farm itself"), growing with the
//! prompt's length.
//!
//! The plain prompts kept here are in the process's memory anyway (the shot's job holds each
//! one, the sealed store its last sealed form); they are bounded by their total length.

use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::DashMap;

/// Prompt text kept at most, in bytes; past this the memory is cleared and refilled as digests
/// are asked for (a cleared prompt costs one HMAC, nothing else).
const KEPT_BYTES_MAX: usize = 8 << 20;

/// Digests by the prompt they digest.
#[derive(Default)]
pub(super) struct PromptDigests {
    digests: DashMap<Box<str>, Box<str>>,
    /// Bytes of prompt and digest text kept (an estimate under concurrent clears: never more).
    bytes: AtomicUsize,
}

impl PromptDigests {
    /// `prompt`'s digest, from memory or made by `digest` and kept.
    pub(super) fn get_or_make(&self, prompt: &str, digest: impl FnOnce() -> String) -> String {
        if let Some(known) = self.digests.get(prompt) {
            return known.to_string();
        }
        let made = digest();
        let size = prompt.len() + made.len();
        if self.bytes.fetch_add(size, Ordering::Relaxed) + size > KEPT_BYTES_MAX {
            self.digests.clear();
            self.bytes.store(size, Ordering::Relaxed);
        }
        self.digests.insert(prompt.into(), made.as_str().into());
        made
    }

    /// How many prompts are kept.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.digests.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prompt_is_digested_once_and_memory_stays_bounded() {
        let digests = PromptDigests::default();
        let made = std::cell::Cell::new(0);
        let digest = |text: &str| {
            digests.get_or_make(text, || {
                made.set(made.get() + 1);
                format!("d:{}", text.len())
            })
        };
        assert_eq!(digest("a prompt"), "d:8");
        assert_eq!(digest("a prompt"), "d:8");
        assert_eq!(made.get(), 1);

        // Three prompts of 3 MiB do not fit in 8 MiB: the third clears the first two, and each
        // is still answered with its own digest.
        let big: Vec<String> = (b'x'..=b'z')
            .map(|c| (c as char).to_string().repeat(3 << 20))
            .collect();
        for text in &big {
            assert_eq!(digest(text), format!("d:{}", 3 << 20));
        }
        assert_eq!(made.get(), 4);
        assert_eq!(digests.len(), 1);
        assert_eq!(digest(&big[2]), format!("d:{}", 3 << 20));
        assert_eq!(made.get(), 4);
    }
}
