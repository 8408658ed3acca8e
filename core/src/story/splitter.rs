//! The deterministic scene splitter: the story's sentences, in order, grouped into `n` scenes of
//! about equal length (by characters), each scene's prompt the scene plus the character sheet.
//! Stands in for an LLM on the embedded default; same story and `n`, same script.

use super::{Scene, Script, MAX_SCRIPT_TEXT_CHARS, SPLITTER};

/// Characters of the story's first sentence kept as the character sheet.
const CHARACTER_CHARS: usize = 240;

/// The script of `story` in `n` scenes (`n` ≥ 1).
pub fn split(story: &str, n: usize) -> Script {
    let n = n.max(1);
    let mut pieces = sentences(story);
    // Fewer sentences than scenes: split the longest at a word boundary until there are enough
    // (a single word is repeated: every shot still gets a prompt).
    while pieces.len() < n {
        let (i, longest) = pieces
            .iter()
            .enumerate()
            .max_by_key(|(_, p)| p.chars().count())
            .map(|(i, p)| (i, p.clone()))
            .unwrap_or((0, story.trim().to_owned()));
        match halve(&longest) {
            Some((a, b)) => {
                pieces[i] = a;
                pieces.insert(i + 1, b);
            }
            None => pieces.push(longest),
        }
    }
    let character = character_sheet(&pieces[0]);
    let scenes = group(&pieces, n)
        .into_iter()
        .map(|text| {
            let prompt = clip(
                &format!("{text} Character: {character}"),
                MAX_SCRIPT_TEXT_CHARS,
            );
            Scene { text, prompt }
        })
        .collect();
    Script {
        character,
        scenes,
        source: SPLITTER.to_owned(),
    }
}

/// The story's sentences: text up to `.`, `!`, `?`, `。` or a line break, trimmed, none empty.
fn sentences(story: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in story.chars() {
        if c == '\n' || c == '\r' {
            push_trimmed(&mut out, &mut current);
            continue;
        }
        current.push(c);
        if matches!(c, '.' | '!' | '?' | '。' | '！' | '？') {
            push_trimmed(&mut out, &mut current);
        }
    }
    push_trimmed(&mut out, &mut current);
    if out.is_empty() {
        out.push(story.trim().to_owned());
    }
    out
}

fn push_trimmed(out: &mut Vec<String>, current: &mut String) {
    let t = current.trim();
    if !t.is_empty() {
        out.push(t.to_owned());
    }
    current.clear();
}

/// `text` split at the word boundary nearest its middle, if it has two words.
fn halve(text: &str) -> Option<(String, String)> {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.len() < 2 {
        return None;
    }
    let mid = words.len() / 2;
    Some((words[..mid].join(" "), words[mid..].join(" ")))
}

/// Contiguous groups of `pieces` into exactly `n` scenes (`pieces.len() >= n`): the k-th cut
/// goes at the sentence boundary nearest k/n of the story's length, every scene keeping at
/// least one piece.
fn group(pieces: &[String], n: usize) -> Vec<String> {
    let mut ends = Vec::with_capacity(pieces.len());
    let mut total = 0usize;
    for p in pieces {
        total += p.chars().count();
        ends.push(total);
    }
    let mut cuts = Vec::with_capacity(n);
    let mut from = 0;
    for k in 1..n {
        let ideal = (total * k) as f64 / n as f64;
        // A cut after piece `j` (exclusive end `j + 1`): at least one piece since the last cut,
        // and enough left for the scenes after this one.
        let last = pieces.len() - (n - k);
        let cut = (from + 1..=last)
            .min_by(|a, b| {
                let da = (ends[a - 1] as f64 - ideal).abs();
                let db = (ends[b - 1] as f64 - ideal).abs();
                da.total_cmp(&db)
            })
            .unwrap_or(from + 1);
        cuts.push(cut);
        from = cut;
    }
    cuts.push(pieces.len());
    let mut start = 0;
    cuts.into_iter()
        .map(|end| {
            let text = pieces[start..end].join(" ");
            start = end;
            text
        })
        .collect()
}

fn character_sheet(first: &str) -> String {
    clip(first, CHARACTER_CHARS)
}

/// At most `max` characters of `text`.
fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}
