//! The story form of `POST /api/v1/videos`: a story, a shot count, a video model and a clip
//! length, checked and turned into the video's shots (prompts to come from its script) and its
//! other stages' jobs.

use std::collections::BTreeMap;

use shotfarm_actors::StoryStages;
use shotfarm_core::domain::{ShotSpec, Stage};
use shotfarm_core::settings::{ModelSettings, StorySettings};
use shotfarm_core::story::MAX_STORY_CHARS;

use super::{check_text, DEFAULT_DURATION_S, MAX_DURATION_S, MAX_SHOTS};
use crate::problem::FieldError;

/// Shots of a story video that names no `shot_count` (the seed's videos have 8).
pub const DEFAULT_SHOT_COUNT: u32 = 8;

/// The story fields of a submission.
pub(super) struct StoryRequest {
    pub story: String,
    pub shot_count: Option<u32>,
    pub model: Option<String>,
    pub duration_s: Option<u32>,
}

/// The model registry and the stages' models a story is checked against.
pub(super) struct Registry<'a> {
    pub models: &'a BTreeMap<String, ModelSettings>,
    pub default_model: &'a str,
    pub stages: &'a StorySettings,
}

/// Checks a story submission, pushing every error; its shots and stages when it has none.
/// Seeds derive from the story (keyed per owner by `default_seed`), so the same story gives
/// the same video.
pub(super) fn validate_story(
    errors: &mut Vec<FieldError>,
    req: StoryRequest,
    reg: &Registry<'_>,
    default_seed: &dyn Fn(&str) -> u64,
) -> Option<(Vec<ShotSpec>, StoryStages)> {
    let before = errors.len();
    if req.story.trim().is_empty() {
        errors.push(FieldError::new("story", "must not be blank"));
    } else {
        check_text(errors, "story", &req.story, MAX_STORY_CHARS);
    }
    let shot_count = req.shot_count.unwrap_or(DEFAULT_SHOT_COUNT);
    if !(1..=MAX_SHOTS as u32).contains(&shot_count) {
        errors.push(FieldError::new(
            "shot_count",
            format!("must be 1..={MAX_SHOTS}, got {shot_count}"),
        ));
    }
    let duration_s = req.duration_s.unwrap_or(DEFAULT_DURATION_S);
    if !(1..=MAX_DURATION_S).contains(&duration_s) {
        errors.push(FieldError::new(
            "duration_s",
            format!("must be 1..={MAX_DURATION_S} seconds, got {duration_s}"),
        ));
    }
    let video_model = req.model.unwrap_or_else(|| reg.default_model.to_owned());
    let video = model_of(errors, reg, "model", &video_model, Stage::Shot);
    let script = model_of(
        errors,
        reg,
        "story",
        &reg.stages.script_model,
        Stage::Script,
    );
    let reference = model_of(
        errors,
        reg,
        "story",
        &reg.stages.reference_model,
        Stage::Reference,
    );
    let stitch = model_of(
        errors,
        reg,
        "story",
        &reg.stages.stitch_model,
        Stage::Stitch,
    );
    if errors.len() > before {
        return None;
    }
    let (video, script, reference, stitch) = (video?, script?, reference?, stitch?);
    let spec = |prompt: String, model: &str, steps: u32, seed_of: &str| ShotSpec {
        prompt,
        duration_s,
        model: model.to_owned(),
        seed: default_seed(seed_of),
        steps,
    };
    let shots = (0..shot_count)
        .map(|i| {
            let seed_of = format!("shot {i}\n{}", req.story);
            spec(String::new(), &video_model, video.steps, &seed_of)
        })
        .collect();
    let reference_seed = format!("reference\n{}", req.story);
    let stages = StoryStages {
        script: spec(
            req.story.clone(),
            &reg.stages.script_model,
            script.steps,
            &req.story,
        ),
        reference: spec(
            String::new(),
            &reg.stages.reference_model,
            reference.steps,
            &reference_seed,
        ),
        stitch: spec(String::new(), &reg.stages.stitch_model, stitch.steps, ""),
    };
    Some((shots, stages))
}

/// The model `name` for `stage`, or an error on `field`: an unknown name lists the models of
/// that stage.
fn model_of<'a>(
    errors: &mut Vec<FieldError>,
    reg: &Registry<'a>,
    field: &str,
    name: &str,
    stage: Stage,
) -> Option<&'a ModelSettings> {
    match reg.models.get(name) {
        Some(m) if m.stage == stage => Some(m),
        Some(m) => {
            errors.push(FieldError::new(
                field,
                format!(
                    "{name:?} is a {} model, not a {} model",
                    m.stage.as_str(),
                    stage.as_str()
                ),
            ));
            None
        }
        None => {
            let known: Vec<&str> = reg
                .models
                .iter()
                .filter(|(_, m)| m.stage == stage)
                .map(|(k, _)| k.as_str())
                .collect();
            let what = if field == "model" {
                format!("unknown model {name:?}")
            } else {
                format!(
                    "this server's {} model {name:?} is not configured",
                    stage.as_str()
                )
            };
            errors.push(FieldError::new(
                field,
                format!(
                    "{what}; known {} models: {}",
                    stage.as_str(),
                    known.join(", ")
                ),
            ));
            None
        }
    }
}
