//! `shotfarm submit --server URL --token T --prompt ... [--shots 8] [--model M] [--watch]`, or
//! `--story FILE [--shot-count 8] [--duration-s S] --watch --out DIR`: submits a video (or a
//! story) over the REST API and, with `--watch`, follows its stages' and shots' progress bars on
//! the progress websocket until the video is final; with `--out`, then saves the finished MP4
//! and its poster there.

use std::path::{Path, PathBuf};
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
    #[arg(long, required_unless_present = "story", conflicts_with = "story")]
    prompt: Vec<String>,
    /// How many shots (default: 8, or one per --prompt when several are given).
    #[arg(long, conflicts_with = "story")]
    shots: Option<usize>,
    /// A text file holding a story: the farm writes its script, draws a reference, renders its
    /// shots and stitches them into one MP4.
    #[arg(long)]
    story: Option<PathBuf>,
    /// Shots the story is split into (1..=16; the server's default is 8).
    #[arg(long)]
    shot_count: Option<u32>,
    /// The model (default: the server's default model).
    #[arg(long)]
    model: Option<String>,
    /// Denoising steps per shot (default: the model's).
    #[arg(long, conflicts_with = "story")]
    steps: Option<u32>,
    /// Clip length of each shot in seconds (default: 8).
    #[arg(long, alias = "duration-s")]
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
    /// With --watch: save the finished MP4 as DIR/<video id>.mp4 (and its poster as
    /// DIR/<video id>.png) once the video completes.
    #[arg(long, requires = "watch", value_name = "DIR")]
    out: Option<PathBuf>,
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
    if outcome.state != "completed" {
        bail!("video {id} ended {}", outcome.state)
    }
    if let Some(dir) = &args.out {
        save_outputs(&http, &server, &args.token, &id, dir)?;
    }
    Ok(())
}

/// Saves the finished MP4 and its poster of video `id` into `dir`. Their links are signed, so
/// they are fetched without the token (which must not leak to wherever artifacts are served).
fn save_outputs(
    http: &reqwest::blocking::Client,
    server: &str,
    token: &str,
    id: &str,
    dir: &Path,
) -> anyhow::Result<()> {
    let video: Value = http
        .get(format!("{server}/api/v1/videos/{id}"))
        .bearer_auth(token)
        .send()
        .with_context(|| format!("cannot reach {server}"))?
        .error_for_status()
        .context("reading the finished video")?
        .json()?;
    let Some(mp4) = video["artifact_url"].as_str() else {
        bail!("video {id} has no finished MP4 to save (only story videos are stitched into one)");
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(format!("{id}.mp4"));
    download(http, server, mp4, &path)?;
    println!("saved {}", path.display());
    if let Some(poster) = video["poster_url"].as_str() {
        let path = dir.join(format!("{id}.png"));
        download(http, server, poster, &path)?;
        println!("saved {}", path.display());
    }
    Ok(())
}

/// Fetches a signed link (relative to `server`, or absolute) into `path`.
fn download(
    http: &reqwest::blocking::Client,
    server: &str,
    link: &str,
    path: &Path,
) -> anyhow::Result<()> {
    let url = if link.starts_with("http://") || link.starts_with("https://") {
        link.to_owned()
    } else {
        format!("{server}{link}")
    };
    // Large videos take longer than the API's 30 s request timeout.
    let mut resp = http
        .get(&url)
        .timeout(Duration::from_secs(600))
        .send()
        .with_context(|| format!("cannot download {url}"))?
        .error_for_status()
        .with_context(|| format!("downloading {url}"))?;
    let mut file =
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    resp.copy_to(&mut file)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The `POST /api/v1/videos` body the flags describe.
fn request_body(args: &SubmitArgs) -> anyhow::Result<Value> {
    if let Some(file) = &args.story {
        return story_body(args, file);
    }
    if args.shot_count.is_some() {
        bail!("--shot-count splits a --story; with --prompt, give --shots");
    }
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

/// The body of a story submission: the file's text, checked here so a wrong path or an empty
/// file is named before anything is sent.
fn story_body(args: &SubmitArgs, file: &Path) -> anyhow::Result<Value> {
    let story = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the story file {}", file.display()))?;
    if story.trim().is_empty() {
        bail!("the story file {} is empty", file.display());
    }
    let mut body = json!({ "priority": args.priority, "story": story });
    if let Some(n) = args.shot_count {
        body["shot_count"] = json!(n);
    }
    if let Some(m) = &args.model {
        body["model"] = json!(m);
    }
    if let Some(d) = args.duration {
        body["duration_s"] = json!(d);
    }
    if let Some(t) = &args.title {
        body["title"] = json!(t);
    }
    Ok(body)
}

/// The useful part of a problem-details body.
pub(super) fn problem_text(problem: &Value) -> String {
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

    #[test]
    fn a_story_file_becomes_a_story_body() -> anyhow::Result<()> {
        let dir = std::env::temp_dir().join(format!("shotfarm-submit-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let file = dir.join("story.txt");
        std::fs::write(&file, "A fox crosses the snow. It finds a den.")?;
        let path = file.to_string_lossy().into_owned();
        let b = body(&["--story", &path, "--shot-count", "3", "--duration-s", "4"])?;
        assert_eq!(b["story"], "A fox crosses the snow. It finds a den.");
        assert_eq!(
            (b["shot_count"].as_u64(), b["duration_s"].as_u64()),
            (Some(3), Some(4))
        );
        assert!(b.get("shots").is_none());
        std::fs::write(&file, " \n")?;
        let empty = body(&["--story", &path]).expect_err("empty");
        assert!(empty.to_string().contains("is empty"), "{empty}");
        let missing = body(&["--story", "/nonexistent/story.txt"]).expect_err("missing");
        assert!(
            format!("{missing:#}").contains("cannot read the story file"),
            "{missing:#}"
        );
        assert!(body(&["--story", &path, "--prompt", "a"]).is_err(), "both");
        assert!(body(&[]).is_err(), "neither");
        assert!(body(&["--prompt", "a", "--shot-count", "2"]).is_err());
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
