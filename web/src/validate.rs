//! The body of `POST /api/v1/videos` and its validation into a [`NewVideo`]: every rule of the
//! contract is checked and every broken one reported at once, each naming its field. A story
//! video's own fields are checked in [`story`].

mod story;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
pub use shotfarm_actors::NewVideo;
use shotfarm_core::domain::{Priority, ShotSpec};
use shotfarm_core::settings::{ModelSettings, StorySettings};

use crate::problem::{ApiError, FieldError};

/// Shots per video.
pub const MAX_SHOTS: usize = 16;
/// Characters (not bytes) per prompt.
pub const MAX_PROMPT_CHARS: usize = 4000;
/// Characters per title.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest clip, in seconds.
pub const MAX_DURATION_S: u32 = 10;
/// Clip length of a shot that names none.
pub const DEFAULT_DURATION_S: u32 = 8;
/// Most denoising steps a shot may ask for.
pub const MAX_STEPS: u32 = 1000;

/// What a user submits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SubmitVideo)]
pub struct SubmitVideoRequest {
    /// At most 200 characters; blank is no title.
    #[schema(max_length = 200)]
    pub title: Option<String>,
    /// `high` only for operators.
    #[schema(value_type = Option<crate::openapi::schemas::PriorityDoc>)]
    pub priority: Option<Priority>,
    /// The shots, written by the user; or give a `story` instead.
    #[schema(min_items = 1, max_items = 16)]
    #[serde(default)]
    pub shots: Option<Vec<ShotRequest>>,
    /// A story of 1..=20000 characters, instead of `shots`: the farm writes the script (one
    /// prompt per shot and a character sheet), draws a character reference, renders the shots
    /// from it and stitches them into one MP4.
    #[schema(min_length = 1, max_length = 20000)]
    #[serde(default)]
    pub story: Option<String>,
    /// With `story`: how many shots, 1..=16 (default 8).
    #[schema(minimum = 1, maximum = 16)]
    #[serde(default)]
    pub shot_count: Option<u32>,
    /// With `story`: the video model of every shot (default: the configured default model).
    #[serde(default)]
    pub model: Option<String>,
    /// With `story`: seconds of every shot, 1..=10 (default 8).
    #[schema(minimum = 1, maximum = 10)]
    #[serde(default)]
    pub duration_s: Option<u32>,
}

/// One shot as submitted; omitted fields take the defaults of the contract.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SubmitShot)]
pub struct ShotRequest {
    /// 1..=4000 characters.
    #[schema(min_length = 1, max_length = 4000, example = "a fox in snow, dawn")]
    pub prompt: String,
    /// Seconds of clip, 1..=10 (default 8).
    #[schema(minimum = 1, maximum = 10)]
    pub duration_s: Option<u32>,
    /// A model of the registry (default: the configured default model).
    #[schema(example = "tiny-video")]
    pub model: Option<String>,
    /// Default: derived from the prompt. Any unsigned 64-bit integer.
    #[schema(format = "uint64")]
    pub seed: Option<u64>,
    /// Denoising steps, 1..=1000 (default: the model's).
    #[schema(minimum = 1, maximum = 1000)]
    pub steps: Option<u32>,
}

/// Checks `req` against the contract and the model registry `models`, filling defaults
/// (`default_model`, the model's steps, 8 s, and for a shot naming no seed `default_seed` of its
/// prompt: the farm's keyed one, `Farm::default_seed`). Only callers who may
/// (`may_use_high`: operators and plans with `high_priority`, such as `paid`) ask for `high`
/// priority. Exactly one of `shots` and `story`; a story's stages take `story`'s models.
/// Returns every field error found, not just the first.
pub fn validate(
    req: SubmitVideoRequest,
    models: &BTreeMap<String, ModelSettings>,
    default_model: &str,
    may_use_high: bool,
    default_seed: &dyn Fn(&str) -> u64,
    stages: &StorySettings,
) -> Result<NewVideo, ApiError> {
    let mut errors = Vec::new();

    let title = req.title.filter(|t| !t.trim().is_empty());
    if let Some(title) = &title {
        check_text(&mut errors, "title", title, MAX_TITLE_CHARS);
    }

    let priority = req.priority.unwrap_or_default();
    if priority == Priority::High && !may_use_high {
        errors.push(FieldError::new(
            "priority",
            "`high` priority is for operators and paid plans; your plan allows `standard`",
        ));
    }

    let requested = match (req.shots, req.story) {
        (Some(_), Some(_)) => {
            errors.push(FieldError::new(
                "story",
                "give either `story` or `shots`, not both",
            ));
            errors.push(FieldError::new(
                "shots",
                "give either `shots` or `story`, not both",
            ));
            return Err(ApiError::Validation(errors));
        }
        (None, None) => {
            errors.push(FieldError::new(
                "shots",
                "give `shots` (1 to 16 prompts) or a `story` to make them from",
            ));
            errors.push(FieldError::new(
                "story",
                "give `story` or `shots` (1 to 16 prompts)",
            ));
            return Err(ApiError::Validation(errors));
        }
        (None, Some(text)) => {
            let story = story::StoryRequest {
                story: text,
                shot_count: req.shot_count,
                model: req.model,
                duration_s: req.duration_s,
            };
            let ctx = story::Registry {
                models,
                default_model,
                stages,
            };
            let video = story::validate_story(&mut errors, story, &ctx, default_seed);
            return match video {
                Some((shots, stages)) if errors.is_empty() => Ok(NewVideo {
                    title,
                    priority,
                    shots,
                    stages: Some(stages),
                }),
                _ => Err(ApiError::Validation(errors)),
            };
        }
        (Some(shots), None) => shots,
    };
    for (field, set) in [
        ("shot_count", req.shot_count.is_some()),
        ("model", req.model.is_some()),
        ("duration_s", req.duration_s.is_some()),
    ] {
        if set {
            errors.push(FieldError::new(
                field,
                format!("`{field}` goes with `story`; with `shots`, give each shot its own"),
            ));
        }
    }

    match requested.len() {
        0 => errors.push(FieldError::new("shots", "at least 1 shot is required")),
        n if n > MAX_SHOTS => errors.push(FieldError::new(
            "shots",
            format!("at most {MAX_SHOTS} shots per video, got {n}"),
        )),
        _ => {}
    }

    // Past the shot limit, checking the rest would only grow the answer: a body at the size
    // limit can hold thousands of empty shots.
    let mut shots = Vec::with_capacity(requested.len().min(MAX_SHOTS));
    for (i, shot) in requested.into_iter().take(MAX_SHOTS).enumerate() {
        let spec = validate_shot(&mut errors, i, shot, models, default_model, default_seed);
        if let Some(spec) = spec {
            shots.push(spec);
        }
    }

    if errors.is_empty() {
        Ok(NewVideo {
            title,
            priority,
            shots,
            stages: None,
        })
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Checks shot `i`, pushing its errors; the spec when it has none.
fn validate_shot(
    errors: &mut Vec<FieldError>,
    i: usize,
    shot: ShotRequest,
    models: &BTreeMap<String, ModelSettings>,
    default_model: &str,
    default_seed: &dyn Fn(&str) -> u64,
) -> Option<ShotSpec> {
    let before = errors.len();
    let field = |name: &str| format!("shots[{i}].{name}");

    if shot.prompt.trim().is_empty() {
        errors.push(FieldError::new(field("prompt"), "must not be blank"));
    } else {
        check_text(errors, &field("prompt"), &shot.prompt, MAX_PROMPT_CHARS);
    }

    let duration_s = shot.duration_s.unwrap_or(DEFAULT_DURATION_S);
    if !(1..=MAX_DURATION_S).contains(&duration_s) {
        errors.push(FieldError::new(
            field("duration_s"),
            format!("must be 1..={MAX_DURATION_S} seconds, got {duration_s}"),
        ));
    }

    let model_name = shot.model.unwrap_or_else(|| default_model.to_owned());
    let model = models.get(&model_name);
    if let Some(m) = model.filter(|m| m.stage != shotfarm_core::domain::Stage::Shot) {
        errors.push(FieldError::new(
            field("model"),
            format!(
                "{model_name:?} is a {} model, not a video model",
                m.stage.as_str()
            ),
        ));
    }
    if model.is_none() {
        let known: Vec<&str> = models.keys().map(String::as_str).collect();
        errors.push(FieldError::new(
            field("model"),
            format!(
                "unknown model {model_name:?}; known models: {}",
                known.join(", ")
            ),
        ));
    }

    let steps = shot.steps.or(model.map(|m| m.steps));
    if let Some(steps) = steps.filter(|s| !(1..=MAX_STEPS).contains(s)) {
        errors.push(FieldError::new(
            field("steps"),
            format!("must be 1..={MAX_STEPS}, got {steps}"),
        ));
    }

    if errors.len() > before {
        return None;
    }
    let seed = shot.seed.unwrap_or_else(|| default_seed(&shot.prompt));
    Some(ShotSpec {
        prompt: shot.prompt,
        duration_s,
        model: model_name,
        seed,
        // `model` was found above, so `steps` is set.
        steps: steps.unwrap_or_default(),
    })
}

/// Checks a prompt given on its own (a re-roll's edited prompt) as a submitted shot's is
/// checked: not blank, at most [`MAX_PROMPT_CHARS`], no control characters; the errors name
/// `field`.
pub fn check_prompt(field: &str, prompt: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if prompt.trim().is_empty() {
        errors.push(FieldError::new(field, "must not be blank"));
    } else {
        check_text(&mut errors, field, prompt, MAX_PROMPT_CHARS);
    }
    errors
}

/// Length in characters and no control characters but newline and tab.
fn check_text(errors: &mut Vec<FieldError>, field: &str, text: &str, max_chars: usize) {
    let chars = text.chars().count();
    if chars > max_chars {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max_chars} characters, got {chars}"),
        ));
    }
    if let Some((at, c)) = text
        .chars()
        .enumerate()
        .find(|(_, c)| c.is_control() && *c != '\n' && *c != '\t')
    {
        errors.push(FieldError::new(
            field,
            format!(
                "must not contain control characters (U+{:04X} at character {at})",
                u32::from(c)
            ),
        ));
    }
}

#[cfg(test)]
// Tests may panic on the unexpected: that is how they fail.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::problem::parse_json;

    fn models() -> BTreeMap<String, ModelSettings> {
        let model = |steps| ModelSettings {
            pool: "gpu".into(),
            steps,
            clip_seconds: 4.0,
            gpus: 1,
            gpu_memory_mb: 1000,
            seconds_per_step: BTreeMap::from([("L4".to_owned(), 0.5)]),
            onnx: None,
            simulated_faults: Default::default(),
            stage: Default::default(),
            llm: None,
        };
        BTreeMap::from([
            ("tiny-video".to_owned(), model(20)),
            ("big-video".to_owned(), model(50)),
        ])
    }

    fn shot(prompt: &str) -> ShotRequest {
        ShotRequest {
            prompt: prompt.into(),
            duration_s: None,
            model: None,
            seed: None,
            steps: None,
        }
    }

    fn request(shots: Vec<ShotRequest>) -> SubmitVideoRequest {
        SubmitVideoRequest {
            title: None,
            priority: None,
            shots: Some(shots),
            story: None,
            shot_count: None,
            model: None,
            duration_s: None,
        }
    }

    /// A stand-in for the farm's keyed seed: any function of the prompt.
    fn seed_of(prompt: &str) -> u64 {
        prompt.len() as u64 * 1000 + 7
    }

    fn run(req: SubmitVideoRequest) -> Result<NewVideo, ApiError> {
        validate(
            req,
            &models(),
            "tiny-video",
            false,
            &seed_of,
            &Default::default(),
        )
    }

    fn errors(result: Result<NewVideo, ApiError>) -> Vec<FieldError> {
        match result {
            Err(ApiError::Validation(errors)) => errors,
            other => panic!("expected validation errors, got {other:?}"),
        }
    }

    fn fields(result: Result<NewVideo, ApiError>) -> Vec<String> {
        errors(result).into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn defaults_are_filled_in() {
        let video = run(request(vec![shot("a fox in snow, dawn")])).unwrap();
        assert_eq!(video.priority, Priority::Standard);
        assert_eq!(video.title, None);
        let spec = &video.shots[0];
        assert_eq!(spec.duration_s, DEFAULT_DURATION_S);
        assert_eq!(spec.model, "tiny-video");
        assert_eq!(spec.steps, 20);
        assert_eq!(spec.seed, seed_of("a fox in snow, dawn"));
    }

    #[test]
    fn explicit_values_are_kept() {
        let mut s = shot("p");
        s.duration_s = Some(3);
        s.model = Some("big-video".into());
        s.seed = Some(7);
        s.steps = Some(1000);
        let mut req = request(vec![s]);
        req.title = Some("Trailer\tcut\n2".into());
        let video = run(req).unwrap();
        assert_eq!(video.title.as_deref(), Some("Trailer\tcut\n2"));
        assert_eq!(
            video.shots[0],
            ShotSpec {
                prompt: "p".into(),
                duration_s: 3,
                model: "big-video".into(),
                seed: 7,
                steps: 1000
            }
        );
    }

    #[test]
    fn the_default_seed_comes_from_the_prompt() {
        let a = run(request(vec![shot("same"), shot("same"), shot("other")])).unwrap();
        assert_eq!(a.shots[0].seed, a.shots[1].seed);
        assert_ne!(a.shots[0].seed, a.shots[2].seed);
    }

    #[test]
    fn shot_count_is_1_to_16() {
        assert_eq!(fields(run(request(vec![]))), ["shots"]);
        let many = (0..17).map(|i| shot(&format!("p{i}"))).collect();
        let errs = errors(run(request(many)));
        assert_eq!(errs.len(), 1);
        assert!(errs[0].message.contains("17"), "{:?}", errs[0]);
        let sixteen = (0..16).map(|i| shot(&format!("p{i}"))).collect();
        assert_eq!(run(request(sixteen)).unwrap().shots.len(), 16);
    }

    #[test]
    fn prompts_must_be_present_short_and_printable() {
        let long = "é".repeat(MAX_PROMPT_CHARS);
        let too_long = "é".repeat(MAX_PROMPT_CHARS + 1);
        let shots = vec![
            shot(&long),
            shot(""),
            shot("  \n\t"),
            shot(&too_long),
            shot("bell\u{7}"),
            shot("line\nbreak\tand tab"),
        ];
        let fields = fields(run(request(shots)));
        assert_eq!(
            fields,
            [
                "shots[1].prompt",
                "shots[2].prompt",
                "shots[3].prompt",
                "shots[4].prompt"
            ]
        );
    }

    #[test]
    fn duration_is_1_to_10() {
        let mut zero = shot("p");
        zero.duration_s = Some(0);
        let mut eleven = shot("p");
        eleven.duration_s = Some(11);
        let mut ten = shot("p");
        ten.duration_s = Some(10);
        let fields = fields(run(request(vec![zero, ten, eleven])));
        assert_eq!(fields, ["shots[0].duration_s", "shots[2].duration_s"]);
    }

    #[test]
    fn unknown_models_are_named_with_the_known_ones() {
        let mut s = shot("p");
        s.model = Some("sora-9".into());
        let errs = errors(run(request(vec![shot("ok"), s])));
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "shots[1].model");
        assert!(errs[0].message.contains("sora-9"), "{}", errs[0].message);
        assert!(
            errs[0].message.contains("big-video, tiny-video"),
            "{}",
            errs[0].message
        );
    }

    #[test]
    fn steps_are_1_to_1000() {
        let mut zero = shot("p");
        zero.steps = Some(0);
        let mut big = shot("p");
        big.steps = Some(1001);
        assert_eq!(
            fields(run(request(vec![zero, big]))),
            ["shots[0].steps", "shots[1].steps"]
        );
    }

    #[test]
    fn titles_are_short_and_printable() {
        let mut req = request(vec![shot("p")]);
        req.title = Some("t".repeat(MAX_TITLE_CHARS + 1));
        assert_eq!(fields(run(req)), ["title"]);
        let mut req = request(vec![shot("p")]);
        req.title = Some("esc\u{1b}[31m".into());
        assert_eq!(fields(run(req)), ["title"]);
        let mut req = request(vec![shot("p")]);
        req.title = Some("   ".into());
        assert_eq!(run(req).unwrap().title, None);
    }

    #[test]
    fn high_priority_is_for_operators() {
        let mut req = request(vec![shot("p")]);
        req.priority = Some(Priority::High);
        let errs = errors(validate(
            req.clone(),
            &models(),
            "tiny-video",
            false,
            &seed_of,
            &Default::default(),
        ));
        assert_eq!(errs[0].field, "priority");
        assert!(errs[0].message.contains("operators"), "{}", errs[0].message);
        let video = validate(
            req,
            &models(),
            "tiny-video",
            true,
            &seed_of,
            &Default::default(),
        )
        .unwrap();
        assert_eq!(video.priority, Priority::High);
    }

    #[test]
    fn every_error_is_reported_at_once() {
        let mut bad_model = shot("");
        bad_model.model = Some("nope".into());
        bad_model.duration_s = Some(30);
        let mut req = request(vec![shot("fine"), bad_model]);
        req.title = Some("x".repeat(201));
        req.priority = Some(Priority::High);
        assert_eq!(
            fields(run(req)),
            [
                "title",
                "priority",
                "shots[1].prompt",
                "shots[1].duration_s",
                "shots[1].model"
            ]
        );
    }

    #[test]
    fn the_wire_shape_is_strict() {
        let ok: SubmitVideoRequest = parse_json(
            br#"{"title":"t","priority":"standard","shots":[{"prompt":"a fox","duration_s":8,"model":"tiny-video","seed":7,"steps":20}]}"#,
        )
        .unwrap();
        assert_eq!(run(ok).unwrap().shots[0].seed, 7);

        let err = parse_json::<SubmitVideoRequest>(br#"{"shots":[{"prompt":"a","fps":24}]}"#)
            .unwrap_err();
        assert!(matches!(&err, ApiError::Validation(e) if e[0].field == "shots[0].fps"));
        let err =
            parse_json::<SubmitVideoRequest>(br#"{"priority":"urgent","shots":[]}"#).unwrap_err();
        assert!(matches!(&err, ApiError::Validation(e) if e[0].field == "priority"));
        let err = parse_json::<SubmitVideoRequest>(br#"{"shots":[{"prompt":"a","seed":-1}]}"#)
            .unwrap_err();
        assert!(matches!(&err, ApiError::Validation(e) if e[0].field == "shots[0].seed"));
    }
}
