//! The latest live preview of each shot this server's jobs are running, in memory only: what a
//! progress snapshot shows its owner, so a page opened (or resynchronised) mid-shot has a picture
//! before the next previewed step. Previews are ephemeral: the stream of events and the stored
//! records never hold them, and a shot's is forgotten when its job ends.

use dashmap::DashMap;

use shotfarm_core::domain::{ShotPreview, ShotState, VideoRecord};
use shotfarm_core::ids::ShotId;

/// The latest two previews per running shot (small images: bounded by the shots in flight).
/// Two, because the job shows a step's preview before that step's write is stored: a snapshot
/// read in between has the step before, and gets the preview before.
#[derive(Debug, Default)]
pub struct PreviewBoard {
    latest: DashMap<ShotId, Latest>,
}

/// A shot's newest preview and the one before it.
#[derive(Debug, Clone)]
struct Latest {
    newest: ShotPreview,
    before: Option<ShotPreview>,
}

impl PreviewBoard {
    pub fn new() -> Self {
        Self::default()
    }

    /// `preview` is `shot`'s latest.
    pub fn show(&self, shot: &ShotId, preview: ShotPreview) {
        let mut entry = self.latest.entry(shot.clone()).or_insert_with(|| Latest {
            newest: preview.clone(),
            before: None,
        });
        if entry.newest != preview {
            let before = std::mem::replace(&mut entry.newest, preview);
            entry.before = Some(before);
        }
    }

    /// `shot`'s job ended: its preview goes with it.
    pub fn forget(&self, shot: &ShotId) {
        self.latest.remove(shot);
    }

    /// The previews a snapshot of `video` shows, by shot index: of shots that are running (or
    /// assigned, resuming) in the record, the newest of a step the record has reached, so a
    /// snapshot never shows a picture of a step its events do not include yet.
    pub fn of(&self, video: &VideoRecord) -> Vec<(usize, ShotPreview)> {
        video
            .shots
            .iter()
            .filter(|s| matches!(s.state, ShotState::Running | ShotState::Assigned))
            .filter_map(|s| {
                let held = self.latest.get(&s.id)?;
                let shown = std::iter::once(&held.newest)
                    .chain(held.before.as_ref())
                    .find(|p| p.step <= s.step)?;
                Some((s.index, shown.clone()))
            })
            .collect()
    }

    /// Shots with a preview held (a gauge for tests).
    pub fn len(&self) -> usize {
        self.latest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.latest.is_empty()
    }
}

#[cfg(test)]
// Tests may panic on the unexpected: that is how they fail.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::Utc;
    use shotfarm_core::domain::{Priority, ShotSpec};
    use shotfarm_core::ids::{OwnerId, VideoId};

    fn video(states: &[(ShotState, u32)]) -> VideoRecord {
        let spec = ShotSpec {
            prompt: "p".into(),
            duration_s: 8,
            model: "tiny-video".into(),
            seed: 1,
            steps: 20,
        };
        let mut v = VideoRecord::queued(
            VideoId::from("vid_p"),
            OwnerId::from("alice"),
            None,
            Priority::Standard,
            vec![spec; states.len()],
            Utc::now(),
        );
        for (shot, (state, step)) in v.shots.iter_mut().zip(states) {
            shot.state = *state;
            shot.step = *step;
        }
        v
    }

    fn preview(step: u32) -> ShotPreview {
        ShotPreview::new(step, "image/png", &[step as u8 + 1]).unwrap()
    }

    #[test]
    fn a_snapshot_shows_running_shots_latest_preview_of_a_step_it_reached() {
        let board = PreviewBoard::new();
        let v = video(&[
            (ShotState::Running, 9),
            (ShotState::Running, 7),
            (ShotState::Queued, 4),
            (ShotState::Completed, 20),
        ]);
        board.show(&v.shots[0].id, preview(4));
        board.show(&v.shots[0].id, preview(8));
        // One ahead of the record read (its event is not in the snapshot yet): the one before.
        board.show(&v.shots[1].id, preview(4));
        board.show(&v.shots[1].id, preview(8));
        // Requeued, or done: no picture of a past attempt or over the clip.
        board.show(&v.shots[2].id, preview(4));
        board.show(&v.shots[3].id, preview(20));
        assert_eq!(board.of(&v), vec![(0, preview(8)), (1, preview(4))]);

        board.forget(&v.shots[0].id);
        assert_eq!(board.of(&v), vec![(1, preview(4))]);
        assert_eq!(board.len(), 3);
    }
}
