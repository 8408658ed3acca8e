//! A story video's script: what the `script` stage answers (scenes, one prompt per shot, a
//! character sheet), the schema an LLM's answer is checked against, and the deterministic
//! scene splitter that stands in for an LLM where none is configured (its output says
//! `splitter`, as simulated telemetry says `simulated`).

mod splitter;

use serde::{Deserialize, Serialize};

pub use splitter::split;

/// Longest story a submission may carry, in characters.
pub const MAX_STORY_CHARS: usize = 20_000;
/// Longest character sheet or prompt a script may hold, in characters (a shot prompt's limit).
pub const MAX_SCRIPT_TEXT_CHARS: usize = 4_000;
/// What [`split`]'s scripts name as their source.
pub const SPLITTER: &str = "splitter";

/// One scene of the story and the prompt its shot is rendered from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scene {
    /// The part of the story the scene tells.
    pub text: String,
    /// What the video model is asked to draw for it.
    pub prompt: String,
}

/// The script of a story video: one scene per shot, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Script {
    /// A short description of the main character, which the reference image is drawn from.
    pub character: String,
    pub scenes: Vec<Scene>,
    /// Who wrote it: `splitter`, or the LLM model's name.
    #[serde(default)]
    pub source: String,
}

/// Why an answer is not a usable script.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    #[error("the script is not JSON of the expected shape: {0}")]
    NotJson(String),
    #[error("the script has {got} scenes, {want} were asked for")]
    WrongCount { got: usize, want: usize },
    #[error("the script's {0} is empty")]
    Empty(String),
    #[error("the script's {field} is over {max} characters")]
    TooLong { field: String, max: usize },
}

/// The JSON shape an LLM is asked to answer with (`response_format` `json_schema`), for
/// `shot_count` scenes.
pub fn json_schema(shot_count: usize) -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["character", "scenes"],
        "properties": {
            "character": {"type": "string", "minLength": 1, "maxLength": MAX_SCRIPT_TEXT_CHARS},
            "scenes": {
                "type": "array",
                "minItems": shot_count,
                "maxItems": shot_count,
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["text", "prompt"],
                    "properties": {
                        "text": {"type": "string"},
                        "prompt": {"type": "string", "minLength": 1, "maxLength": MAX_SCRIPT_TEXT_CHARS}
                    }
                }
            }
        }
    })
}

impl Script {
    /// Parses and checks an answer against the schema for `shot_count` scenes.
    pub fn parse(answer: &str, shot_count: usize) -> Result<Script, ScriptError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Wire {
            character: String,
            scenes: Vec<Scene>,
            #[serde(default)]
            source: String,
        }
        // serde's message can quote the answer (and so the story): say only where and what.
        let wire: Wire = serde_json::from_str(answer.trim()).map_err(|e| {
            let what = match e.classify() {
                serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                    "not JSON"
                }
                _ => "JSON of another shape",
            };
            ScriptError::NotJson(format!("{what} at line {} column {}", e.line(), e.column()))
        })?;
        let script = Script {
            character: wire.character,
            scenes: wire.scenes,
            source: wire.source,
        };
        script.check(shot_count)?;
        Ok(script)
    }

    /// Checks the scene count and that every text the shots need is present and not too long.
    pub fn check(&self, shot_count: usize) -> Result<(), ScriptError> {
        if self.scenes.len() != shot_count {
            return Err(ScriptError::WrongCount {
                got: self.scenes.len(),
                want: shot_count,
            });
        }
        check_text("character", &self.character)?;
        for (i, scene) in self.scenes.iter().enumerate() {
            check_text(&format!("scenes[{i}].prompt"), &scene.prompt)?;
            if scene.text.chars().count() > MAX_STORY_CHARS {
                return Err(ScriptError::TooLong {
                    field: format!("scenes[{i}].text"),
                    max: MAX_STORY_CHARS,
                });
            }
        }
        Ok(())
    }

    /// The script as stored and carried (compact JSON).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

fn check_text(field: &str, text: &str) -> Result<(), ScriptError> {
    if text.trim().is_empty() {
        return Err(ScriptError::Empty(field.to_owned()));
    }
    if text.chars().count() > MAX_SCRIPT_TEXT_CHARS {
        return Err(ScriptError::TooLong {
            field: field.to_owned(),
            max: MAX_SCRIPT_TEXT_CHARS,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
