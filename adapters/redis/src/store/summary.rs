//! A shot's summary, the field `k:<i>` the write script derives its video from:
//! `state|attempt|step|progress|eta key|eta json`. Built by hand rather than through `format!`:
//! the formatting machinery (two `format!`s and chrono's `collect_str` for the ETA) was about
//! 6,000 instructions a write, a fifth of the store's side of it (BENCHMARKS.md, "Throughput of
//! the farm itself"). The text is the one `format!` wrote, byte for byte (tested), so servers of
//! either kind share a Redis.

use chrono::{DateTime, Utc};
use shotfarm_core::domain::ShotRecord;

/// `shot`'s summary.
pub(crate) fn summary(shot: &ShotRecord) -> String {
    let mut text = String::with_capacity(96);
    let mut digits = itoa::Buffer::new();
    text.push_str(shot.state.as_str());
    text.push('|');
    text.push_str(digits.format(shot.attempt));
    text.push('|');
    text.push_str(digits.format(shot.step));
    text.push('|');
    push_progress(&mut text, shot.progress());
    text.push('|');
    match shot.eta {
        None => text.push_str("|null"),
        Some(t) => {
            push_eta_key(&mut text, t);
            text.push('|');
            shotfarm_core::rfc3339::push_json(&mut text, &t);
        }
    }
    text
}

/// `progress` as `{}` writes an `f64`; the two values most writes carry (a fresh claim's 0, a
/// completion's 1) without the float formatter (~390 instructions each, callgrind).
fn push_progress(text: &mut String, progress: f64) {
    use std::fmt::Write;
    if progress == 0.0 && progress.is_sign_positive() {
        text.push('0');
    } else if progress == 1.0 {
        text.push('1');
    } else {
        write!(text, "{progress}").expect("writing to a String cannot fail");
    }
}

/// An ETA as a key that sorts lexically, appended to `text`: its nanoseconds since the epoch,
/// zero-padded to 20 digits (what `{:020}` writes for a non-negative number).
fn push_eta_key(text: &mut String, t: DateTime<Utc>) {
    let nanos = t.timestamp_nanos_opt().unwrap_or(i64::MAX).max(0);
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(nanos);
    text.extend(std::iter::repeat_n(
        '0',
        20usize.saturating_sub(digits.len()),
    ));
    text.push_str(digits);
}

#[cfg(test)]
mod tests {
    use super::*;
    use shotfarm_core::domain::{ShotSpec, ShotState};
    use shotfarm_core::ids::ShotId;

    /// The summary as it was written with `format!` (what servers of earlier versions write).
    fn formatted(shot: &ShotRecord) -> String {
        let (key, eta) = match shot.eta {
            None => (String::new(), "null".to_owned()),
            Some(t) => (
                format!("{:020}", t.timestamp_nanos_opt().unwrap_or(i64::MAX).max(0)),
                serde_json::to_string(&t).unwrap(),
            ),
        };
        format!(
            "{}|{}|{}|{}|{}|{}",
            shot.state.as_str(),
            shot.attempt,
            shot.step,
            shot.progress(),
            key,
            eta
        )
    }

    #[test]
    fn summaries_are_what_format_wrote() {
        let spec = ShotSpec {
            prompt: "p".into(),
            duration_s: 8,
            model: "null-10".into(),
            seed: 1,
            steps: 30,
        };
        let mut shot = ShotRecord::new(ShotId::from("shot_x_0"), 0, spec, Utc::now());
        let etas = [
            None,
            DateTime::from_timestamp(1_765_000_000, 0),
            DateTime::from_timestamp(1_765_000_000, 123_456_789),
            DateTime::from_timestamp(0, 7),
            DateTime::from_timestamp(-5, 0),
        ];
        let states = [
            ShotState::Queued,
            ShotState::Assigned,
            ShotState::Running,
            ShotState::Completed,
        ];
        for (i, (state, eta)) in states.iter().zip(etas.iter().cycle()).enumerate() {
            for step in [0, 1, 7, 10, 29, 30] {
                shot.state = *state;
                shot.step = step;
                shot.attempt = 1 + i as u32 * 100_000;
                shot.eta = *eta;
                assert_eq!(summary(&shot), formatted(&shot));
            }
        }
        for eta in etas.iter().flatten() {
            shot.eta = Some(*eta);
            assert_eq!(summary(&shot), formatted(&shot));
        }
    }

    fn eta_key(t: DateTime<Utc>) -> String {
        let mut key = String::new();
        push_eta_key(&mut key, t);
        key
    }

    #[test]
    fn eta_keys_sort_like_the_times_they_encode() {
        let early = DateTime::from_timestamp(1_700_000_000, 5).expect("time");
        let late = DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        let (a, b) = (eta_key(early), eta_key(late));
        assert!(a < b);
        assert_eq!(a.len(), 20);
        assert_eq!(b.len(), 20);
        assert_eq!(
            eta_key(DateTime::from_timestamp(0, 7).expect("time")),
            format!("{:020}", 7)
        );
    }
}
