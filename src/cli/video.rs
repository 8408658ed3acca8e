//! `shotfarm video pause|resume|retry|priority --server URL --token T VIDEO_ID [--now]
//! [--priority P] [--before OTHER_ID]` and `shotfarm video reroll VIDEO_ID INDEX [--seed N]
//! [--prompt TEXT]`: the owner's controls over a submitted video, through the same API as the
//! video page's buttons. Prints the video's state afterwards and how many of its shots are held
//! paused (a re-roll: the shot's new version and seed).

use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::submit::problem_text;

#[derive(Args)]
pub struct VideoArgs {
    #[command(subcommand)]
    command: VideoCommand,
}

#[derive(Subcommand)]
enum VideoCommand {
    /// Pause a video: its queued shots leave the queue; running ones finish (or stop now).
    Pause {
        #[command(flatten)]
        target: Target,
        /// Stop running shots at their next step boundary; they resume from their checkpoint.
        #[arg(long)]
        now: bool,
    },
    /// Resume a paused video from its checkpoints, in the place it had in the queue.
    Resume {
        #[command(flatten)]
        target: Target,
    },
    /// Retry a failed video: its failed shots start over with fresh budgets (one credit on a
    /// metered plan).
    Retry {
        #[command(flatten)]
        target: Target,
    },
    /// Re-roll one completed shot of a completed video: it renders again as a new version (a
    /// story video is stitched again), for a fraction of a credit on a metered plan.
    Reroll {
        #[command(flatten)]
        target: Target,
        /// The shot's index among the video's shots, from 0.
        index: usize,
        /// The new version's seed (default: a fresh one).
        #[arg(long)]
        seed: Option<u64>,
        /// An edited prompt (default: the shot's own).
        #[arg(long)]
        prompt: Option<String>,
    },
    /// Change a video's priority (within your plan) or move it ahead of another of yours.
    Priority {
        #[command(flatten)]
        target: Target,
        /// `standard`, or `high` where your plan allows it.
        #[arg(long, required_unless_present = "before")]
        priority: Option<String>,
        /// Another unfinished video of yours to go ahead of.
        #[arg(long, value_name = "VIDEO_ID")]
        before: Option<String>,
    },
}

/// Which video, on which server, as whom.
#[derive(Args)]
struct Target {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    /// The video owner's token (see `shotfarm token`).
    #[arg(long)]
    token: String,
    /// The video's id (as `shotfarm submit` printed it).
    video: String,
}

/// The request one command makes: the action (the route's last segment; `priority` is the
/// video's own `PATCH`) and its body.
fn request(command: &VideoCommand) -> (&Target, &'static str, Value) {
    match command {
        VideoCommand::Pause { target, now } => (target, "pause", json!({ "now": now })),
        VideoCommand::Resume { target } => (target, "resume", json!({})),
        VideoCommand::Retry { target } => (target, "retry", json!({})),
        VideoCommand::Reroll {
            target,
            seed,
            prompt,
            ..
        } => {
            let mut body = serde_json::Map::new();
            if let Some(seed) = seed {
                body.insert("seed".into(), json!(seed));
            }
            if let Some(prompt) = prompt {
                body.insert("prompt".into(), json!(prompt));
            }
            (target, "reroll", Value::Object(body))
        }
        VideoCommand::Priority {
            target,
            priority,
            before,
        } => {
            let mut body = serde_json::Map::new();
            if let Some(p) = priority {
                body.insert("priority".into(), json!(p));
            }
            if let Some(b) = before {
                body.insert("before".into(), json!(b));
            }
            (target, "priority", Value::Object(body))
        }
    }
}

/// The shot a `reroll` names (0 for the other commands, which name none).
fn rerolled_index(command: &VideoCommand) -> usize {
    match command {
        VideoCommand::Reroll { index, .. } => *index,
        _ => 0,
    }
}

pub fn run(args: VideoArgs) -> anyhow::Result<()> {
    let (target, action, body) = request(&args.command);
    let server = target.server.trim_end_matches('/');
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let video_url = format!("{server}/api/v1/videos/{}", target.video);
    let call = match action {
        "priority" => http.patch(&video_url).json(&body),
        "pause" => http.post(format!("{video_url}/pause")).json(&body),
        "reroll" => http
            .post(format!(
                "{video_url}/shots/{}/reroll",
                rerolled_index(&args.command)
            ))
            .json(&body),
        _ => http.post(format!("{video_url}/{action}")),
    };
    let call = call.bearer_auth(&target.token);
    let resp = call
        .send()
        .with_context(|| format!("cannot reach {server}"))?;
    let status = resp.status();
    let answer: Value = resp.json().unwrap_or(Value::Null);
    if !status.is_success() {
        bail!(
            "the server refused to {action} video {} ({status}): {}",
            target.video,
            problem_text(&answer)
        );
    }
    if let VideoCommand::Reroll { index, .. } = &args.command {
        let shot = &answer["shots"][*index];
        println!(
            "video {} shot {index} re-rolled: version {} (seed {}) {}; the video is {}",
            target.video,
            shot["version"],
            shot["seed"],
            shot["state"].as_str().unwrap_or("?"),
            answer["state"].as_str().unwrap_or("?")
        );
        return Ok(());
    }
    let held = answer["shots"]
        .as_array()
        .map_or(0, |s| s.iter().filter(|s| s["state"] == "paused").count());
    println!(
        "video {} {}: {} ({held} shot(s) paused)",
        target.video,
        match action {
            "pause" => "paused",
            "resume" => "resumed",
            "retry" => "retried",
            _ => "reordered",
        },
        answer["state"].as_str().unwrap_or("?")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: VideoArgs,
    }

    fn parse(argv: &[&str]) -> Result<VideoArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("video").chain(argv.iter().copied())).map(|c| c.args)
    }

    #[test]
    fn pause_now_asks_for_a_stop_and_the_others_name_their_route() -> anyhow::Result<()> {
        let args = parse(&["pause", "--token", "t", "--now", "vid_1"])?;
        let (target, action, body) = request(&args.command);
        assert_eq!((target.video.as_str(), action), ("vid_1", "pause"));
        assert_eq!(body, json!({"now": true}));
        let args = parse(&["resume", "--token", "t", "vid_1"])?;
        assert_eq!(request(&args.command).1, "resume");
        let args = parse(&["retry", "--token", "t", "vid_1"])?;
        assert_eq!(request(&args.command).1, "retry");
        let args = parse(&["priority", "--token", "t", "--before", "vid_0", "vid_1"])?;
        assert_eq!(request(&args.command).2, json!({"before": "vid_0"}));
        let args = parse(&["priority", "--token", "t", "--priority", "high", "vid_1"])?;
        assert_eq!(request(&args.command).2, json!({"priority": "high"}));
        let args = parse(&["reroll", "--token", "t", "vid_1", "3", "--seed", "7"])?;
        let (target, action, body) = request(&args.command);
        assert_eq!((target.video.as_str(), action), ("vid_1", "reroll"));
        assert_eq!(body, json!({"seed": 7}));
        assert_eq!(rerolled_index(&args.command), 3);
        let args = parse(&["reroll", "--token", "t", "vid_1", "0", "--prompt", "closer"])?;
        assert_eq!(request(&args.command).2, json!({"prompt": "closer"}));
        Ok(())
    }

    #[test]
    fn a_video_id_and_a_token_are_required() {
        assert!(parse(&["pause", "--token", "t"]).is_err());
        assert!(parse(&["resume", "vid_1"]).is_err());
        assert!(
            parse(&["retry", "--token", "t", "--now", "vid_1"]).is_err(),
            "--now is pause's"
        );
        assert!(
            parse(&["priority", "--token", "t", "vid_1"]).is_err(),
            "nothing to change"
        );
        assert!(
            parse(&["reroll", "--token", "t", "vid_1"]).is_err(),
            "which shot"
        );
        assert!(parse(&["reroll", "--token", "t", "vid_1", "first"]).is_err());
    }
}
