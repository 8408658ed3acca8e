//! `shotfarm submit --server URL --token T --prompt ... [--shots 8] [--model M] [--watch]`:
//! submits a video over the REST API and, with `--watch`, follows its shots' progress bars on
//! the progress websocket until the video is final.

use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Args;
use serde_json::{json, Value};

use super::watch;

#[derive(Args)]
pub struct SubmitArgs {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    /// A user token (see `shotfarm token`; `shotfarm serve` prints one).
    #[arg(long)]
    token: String,
    /// What to render. Give it once for every shot, or once per shot.
    #[arg(long, required = true)]
    prompt: Vec<String>,
    /// How many shots (default: 8, or one per --prompt when several are given).
    #[arg(long)]
    shots: Option<usize>,
    /// The model (default: the server's default model).
    #[arg(long)]
    model: Option<String>,
    /// Denoising steps per shot (default: the model's).
    #[arg(long)]
    steps: Option<u32>,
    /// Clip length of each shot in seconds (default: 8).
    #[arg(long)]
    duration: Option<u32>,
    /// A title for the video.
    #[arg(long)]
    title: Option<String>,
    /// `standard` or `high` (high only for operators).
    #[arg(long, default_value = "standard")]
    priority: String,
    /// Follow the shots' progress until the video is final.
    #[arg(long)]
    watch: bool,
}

pub fn run(args: SubmitArgs) -> anyhow::Result<()> {
    let server = args.server.trim_end_matches('/').to_owned();
    let body = request_body(&args)?;
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let resp = http
        .post(format!("{server}/api/v1/videos"))
        .bearer_auth(&args.token)
        .json(&body)
        .send()
        .with_context(|| format!("cannot reach {server}"))?;
    let status = resp.status();
    let answer: Value = resp.json().unwrap_or(Value::Null);
    if !status.is_success() {
        bail!(
            "the server refused the video ({status}): {}",
            problem_text(&answer)
        );
    }
    let id = answer["id"]
        .as_str()
        .context("the server's answer has no video id")?
        .to_owned();
    println!("submitted {id}");
    println!("  watch it in a browser: {server}/videos/{id}");
    if !args.watch {
        return Ok(());
    }
    let outcome = watch::follow(&server, &args.token, &id)?;
    println!("video {id} {}", outcome.state);
    if outcome.state == "completed" {
        Ok(())
    } else {
        bail!("video {id} ended {}", outcome.state)
    }
}

/// The `POST /api/v1/videos` body the flags describe.
fn request_body(args: &SubmitArgs) -> anyhow::Result<Value> {
    let shots = match (args.shots, args.prompt.len()) {
        (Some(n), k) if k > 1 && n != k => {
            bail!("--shots {n} but {k} prompts: give one prompt, or one per shot")
        }
        (Some(n), _) => n,
        (None, k) if k > 1 => k,
        (None, _) => 8,
    };
    let prompt = |i: usize| args.prompt.get(i).unwrap_or(&args.prompt[0]).clone();
    let shots: Vec<Value> = (0..shots)
        .map(|i| {
            let mut shot = json!({ "prompt": prompt(i) });
            if let Some(m) = &args.model {
                shot["model"] = json!(m);
            }
            if let Some(s) = args.steps {
                shot["steps"] = json!(s);
            }
            if let Some(d) = args.duration {
                shot["duration_s"] = json!(d);
            }
            shot
        })
        .collect();
    let mut body = json!({ "priority": args.priority, "shots": shots });
    if let Some(t) = &args.title {
        body["title"] = json!(t);
    }
    Ok(body)
}

/// The useful part of a problem-details body.
fn problem_text(problem: &Value) -> String {
    let mut text = problem["detail"]
        .as_str()
        .unwrap_or("no details")
        .to_owned();
    if let Some(errors) = problem["errors"].as_array() {
        for e in errors {
            text.push_str(&format!(
                "\n  {}: {}",
                e["field"].as_str().unwrap_or("?"),
                e["message"].as_str().unwrap_or("?")
            ));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SubmitArgs,
    }

    fn body(argv: &[&str]) -> anyhow::Result<Value> {
        let mut all = vec!["submit", "--token", "t"];
        all.extend_from_slice(argv);
        request_body(&Cli::try_parse_from(all)?.args)
    }

    #[test]
    fn one_prompt_makes_eight_shots_by_default() -> anyhow::Result<()> {
        let b = body(&["--prompt", "a fox"])?;
        let shots = b["shots"].as_array().context("shots")?;
        assert_eq!(shots.len(), 8);
        assert!(shots.iter().all(|s| s["prompt"] == "a fox"));
        assert!(shots[0].get("model").is_none());
        Ok(())
    }

    #[test]
    fn several_prompts_make_one_shot_each() -> anyhow::Result<()> {
        let b = body(&[
            "--prompt", "a", "--prompt", "b", "--model", "m", "--steps", "5",
        ])?;
        assert_eq!(b["shots"][1]["prompt"], "b");
        assert_eq!(b["shots"][1]["model"], "m");
        assert_eq!(b["shots"][0]["steps"], 5);
        assert_eq!(b["shots"].as_array().map(Vec::len), Some(2));
        assert!(body(&["--prompt", "a", "--prompt", "b", "--shots", "3"]).is_err());
        Ok(())
    }
}
