//! What a re-roll is charged under: its own allowance per period (the plan's
//! `reroll_allowance`, a re-roll costing `reroll_cost` of a video), counted by the same accounts
//! port as videos under a period of its own (`<month>/rerolls`), one charge per re-roll keyed
//! `<video>~reroll~<job index>~v<version>` so its refund finds it and happens at most once.

use crate::ports::Period;
use shotfarm_core::ids::VideoId;

const MARK: &str = "~reroll~";

/// The period re-rolls are counted in: `period`'s, apart from its videos.
pub fn reroll_period(period: &Period) -> Period {
    Period {
        id: format!("{}/rerolls", period.id),
        ..period.clone()
    }
}

/// The charge of re-rolling job `index` of `video` into `version`.
pub fn reroll_charge(video: &VideoId, index: usize, version: u32) -> VideoId {
    VideoId::from(format!("{video}{MARK}{index}~v{version}"))
}

/// The video, job index and version a re-roll's charge is for; `None` for a video's own charge.
pub fn reroll_charged(charge: &VideoId) -> Option<(VideoId, usize, u32)> {
    let (video, rest) = charge.as_str().split_once(MARK)?;
    let (index, version) = rest.split_once("~v")?;
    Some((
        VideoId::from(video),
        index.parse().ok()?,
        version.parse().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn a_reroll_charge_names_its_video_job_and_version_and_counts_apart() {
        let video = VideoId::from("vid_abc");
        let charge = reroll_charge(&video, 5, 3);
        assert_eq!(reroll_charged(&charge), Some((video.clone(), 5, 3)));
        assert_eq!(reroll_charged(&video), None);
        let month = Period::month_of(Utc::now());
        let rerolls = reroll_period(&month);
        assert_ne!(rerolls.id, month.id);
        assert_eq!(rerolls.resets_at, month.resets_at);
    }
}
