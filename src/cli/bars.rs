//! Draws a followed video on the terminal: one progress bar per shot (state, attempt, node,
//! ETA) and one for the video, with indicatif, and for a story video one per stage (script,
//! reference, shots, stitch) above the shots'; plain lines per state change when the output is
//! not a terminal (CI logs, pipes).

use chrono::Utc;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::follow::{Change, Follow, ShotView, StageView};

/// Resolution of the video's and the stages' bars.
const VIDEO_BAR_LEN: u64 = 1000;

/// The bars, or plain lines when nobody watches a terminal.
pub struct Bars {
    multi: MultiProgress,
    video: ProgressBar,
    /// A story video's stage bars by name, made at its first snapshot (above the shots').
    stages: Vec<(String, ProgressBar)>,
    shots: Vec<ProgressBar>,
    plain: bool,
}

impl Bars {
    /// Bars on standard error (hidden, with plain lines on standard output, off a terminal).
    pub fn new() -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let plain = multi.is_hidden();
        let video = multi.add(ProgressBar::new(VIDEO_BAR_LEN));
        video.set_style(style(
            "{prefix:>8} {bar:40.green/white} {percent:>3}% {msg}",
        ));
        video.set_prefix("video");
        Self {
            multi,
            video,
            stages: Vec::new(),
            shots: Vec::new(),
            plain,
        }
    }

    /// Redraws what `change` touched.
    pub fn show(&mut self, follow: &Follow, change: &Change) {
        match change {
            Change::All => {
                for stage in &follow.stages {
                    self.draw_stage(stage);
                }
                for shot in &follow.shots {
                    self.draw_shot(shot);
                }
                self.draw_video(follow);
            }
            Change::Shot { index, from } => {
                if let Some(shot) = follow.shots.iter().find(|s| s.index == *index) {
                    self.draw_shot(shot);
                    if from.as_deref() != Some(shot.state.as_str()) {
                        self.line(&transition(shot));
                    }
                }
                self.draw_stage_named(follow, "shots");
                self.draw_stage_named(follow, "stitch");
                self.draw_video(follow);
            }
            Change::Stage { name, from } => {
                if let Some(stage) = follow.stages.iter().find(|s| s.name == *name) {
                    self.draw_stage(stage);
                    if from.as_deref() != Some(stage.state.as_str()) {
                        self.line(&stage_transition(stage));
                    }
                }
                // Completing a stage releases the next one from `waiting`.
                for stage in &follow.stages {
                    self.draw_stage(stage);
                }
            }
            Change::Video => {
                self.draw_video(follow);
                self.line(&format!("video {}", follow.state));
            }
            Change::None => {}
        }
    }

    /// A message between the bars (or a plain line).
    pub fn note(&self, text: &str) {
        if self.plain {
            println!("{text}");
        } else {
            let _ = self.multi.println(text);
        }
    }

    /// Leaves the bars as they ended.
    pub fn finish(&self, follow: &Follow) {
        self.draw_done(follow);
        for (_, bar) in &self.stages {
            bar.abandon();
        }
        for bar in &self.shots {
            bar.abandon();
        }
        self.video.abandon();
    }

    fn draw_done(&self, follow: &Follow) {
        if self.plain {
            for stage in &follow.stages {
                println!("{}", stage_transition(stage));
            }
            for shot in &follow.shots {
                println!("{}", transition(shot));
            }
        }
    }

    fn line(&self, text: &str) {
        if self.plain {
            println!("{text}");
        }
    }

    fn draw_shot(&mut self, shot: &ShotView) {
        while self.shots.len() <= shot.index {
            let bar = self.multi.add(ProgressBar::new(1));
            bar.set_style(style(
                "{prefix:>8} {bar:40.cyan/blue} {pos:>4}/{len:<4} {msg}",
            ));
            bar.set_prefix(format!("shot {}", self.shots.len() + 1));
            self.shots.push(bar);
        }
        let bar = &self.shots[shot.index];
        bar.set_length(u64::from(shot.steps.max(1)));
        bar.set_position(u64::from(shot.step));
        bar.set_message(describe(shot));
    }

    fn draw_stage_named(&mut self, follow: &Follow, name: &str) {
        if let Some(stage) = follow.stages.iter().find(|s| s.name == name) {
            self.draw_stage(stage);
        }
    }

    fn draw_stage(&mut self, stage: &StageView) {
        let at = match self.stages.iter().position(|(n, _)| *n == stage.name) {
            Some(at) => at,
            None => {
                // Stage bars go above the shots' (inserted after the video bar, in order).
                let bar = self
                    .multi
                    .insert(1 + self.stages.len(), ProgressBar::new(VIDEO_BAR_LEN));
                bar.set_style(style(
                    "{prefix:>9} {bar:40.yellow/white} {percent:>3}% {msg}",
                ));
                bar.set_prefix(stage.name.clone());
                self.stages.push((stage.name.clone(), bar));
                self.stages.len() - 1
            }
        };
        let bar = &self.stages[at].1;
        bar.set_position((stage.progress.clamp(0.0, 1.0) * VIDEO_BAR_LEN as f64).round() as u64);
        bar.set_message(describe_stage(stage));
    }

    fn draw_video(&self, follow: &Follow) {
        let n = follow.shots.len().max(1) as f64;
        let progress = follow.shots.iter().map(|s| s.progress).sum::<f64>() / n;
        self.video
            .set_position((progress * VIDEO_BAR_LEN as f64).round() as u64);
        self.video.set_message(follow.state.clone());
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// `running · attempt 2 · video-spot-1 · ETA 12s`
fn describe(shot: &ShotView) -> String {
    let mut parts = vec![shot.state.clone()];
    if shot.attempt > 1 {
        parts.push(format!("attempt {}", shot.attempt));
    }
    if let Some(node) = &shot.node {
        parts.push(node.clone());
    }
    if let Some(eta) = shot.eta {
        let left = (eta - Utc::now()).num_seconds();
        parts.push(if left < 1 {
            "ETA <1s".to_owned()
        } else {
            format!("ETA {left}s")
        });
    }
    if let Some(e) = &shot.error {
        parts.push(format!("error: {e}"));
    }
    parts.join(" · ")
}

/// `running · attempt 2 · llm-1 · error: ...`
fn describe_stage(stage: &StageView) -> String {
    let mut parts = vec![stage.state.clone()];
    if stage.attempt > 1 {
        parts.push(format!("attempt {}", stage.attempt));
    }
    if let Some(node) = &stage.node {
        parts.push(node.clone());
    }
    if let Some(e) = &stage.error {
        parts.push(format!("error: {e}"));
    }
    parts.join(" · ")
}

/// `stage reference: running on image-1 (attempt 1)`
fn stage_transition(stage: &StageView) -> String {
    let node = stage
        .node
        .as_deref()
        .map(|n| format!(" on {n}"))
        .unwrap_or_default();
    format!(
        "stage {}: {}{node} (attempt {})",
        stage.name, stage.state, stage.attempt
    )
}

/// `shot 3: preempted at step 7/20 on video-spot-1 (attempt 1)`
fn transition(shot: &ShotView) -> String {
    let node = shot
        .node
        .as_deref()
        .map(|n| format!(" on {n}"))
        .unwrap_or_default();
    format!(
        "shot {}: {} at step {}/{}{node} (attempt {})",
        shot.index + 1,
        shot.state,
        shot.step,
        shot.steps,
        shot.attempt
    )
}
