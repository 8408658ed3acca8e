//! The video the actor tests submit: one shot of the 10-step `tiny-video` model, 8 s, seed 1.

use shotfarm_actors::NewVideo;
use shotfarm_core::domain::ShotSpec;

/// A video of one `tiny-video` shot with `prompt`.
pub fn one_shot(prompt: impl Into<String>) -> NewVideo {
    NewVideo {
        stages: None,
        title: None,
        priority: Default::default(),
        shots: vec![ShotSpec {
            prompt: prompt.into(),
            duration_s: 8,
            model: "tiny-video".into(),
            seed: 1,
            steps: 10,
        }],
    }
}
