//! `shotfarm pool hold|release NAME --reason ...` and `shotfarm user hold|release ID --reason
//! ...`: the operators' holds, through the same API as the dashboard's controls (an operator's
//! token). Prints what was held or released, by whom and why.

use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::submit::problem_text;

/// `shotfarm pool ...` or `shotfarm user ...`.
#[derive(Args)]
pub struct HoldArgs {
    #[command(subcommand)]
    command: HoldCommand,
}

#[derive(Subcommand)]
enum HoldCommand {
    /// Hold it: nothing more of it is placed (running work finishes).
    Hold {
        #[command(flatten)]
        target: Target,
        /// Why (one line, shown to the owner and other operators, kept in the audit log).
        #[arg(long)]
        reason: String,
    },
    /// Release it: its queued work is placed again, in the order it had.
    Release {
        #[command(flatten)]
        target: Target,
        /// Why (optional; kept in the audit log).
        #[arg(long)]
        reason: Option<String>,
    },
}

/// What, on which server, as which operator.
#[derive(Args)]
struct Target {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    /// An operator's token (see `shotfarm token --role operator`).
    #[arg(long)]
    token: String,
    /// The pool's name or the user's id.
    name: String,
}

/// The request a command makes on `kind` (`pools` or `users`): the URL path after the server,
/// and its body.
fn request<'a>(kind: &str, command: &'a HoldCommand) -> (&'a Target, String, Value) {
    let (target, action, body) = match command {
        HoldCommand::Hold { target, reason } => (target, "hold", json!({ "reason": reason })),
        HoldCommand::Release { target, reason } => match reason {
            Some(r) => (target, "release", json!({ "reason": r })),
            None => (target, "release", json!({})),
        },
    };
    let path = format!(
        "/api/v1/{kind}/{}/{action}",
        urlencoding_segment(&target.name)
    );
    (target, path, body)
}

/// `name` as one URL path segment (what is not unreserved is percent-encoded).
fn urlencoding_segment(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs `shotfarm pool ...` (`kind` = `pools`) or `shotfarm user ...` (`users`).
pub fn run(kind: &str, args: HoldArgs) -> anyhow::Result<()> {
    let (target, path, body) = request(kind, &args.command);
    let server = target.server.trim_end_matches('/');
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let resp = http
        .post(format!("{server}{path}"))
        .bearer_auth(&target.token)
        .json(&body)
        .send()
        .with_context(|| format!("cannot reach {server}"))?;
    let status = resp.status();
    let answer: Value = resp.json().unwrap_or(Value::Null);
    let what = format!("{} {}", kind.trim_end_matches('s'), target.name);
    if !status.is_success() {
        bail!(
            "the server refused ({status}) for {what}: {}",
            problem_text(&answer)
        );
    }
    let done = if answer["action"] == "hold" {
        "held"
    } else {
        "released"
    };
    println!(
        "{what} {done} (hold by {} since {}: {})",
        answer["by"].as_str().unwrap_or("?"),
        answer["at"].as_str().unwrap_or("?"),
        answer["reason"].as_str().unwrap_or("?")
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
        args: HoldArgs,
    }

    fn parse(argv: &[&str]) -> Result<HoldArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("pool").chain(argv.iter().copied())).map(|c| c.args)
    }

    #[test]
    fn hold_sends_its_reason_and_release_may_omit_one() -> anyhow::Result<()> {
        let args = parse(&[
            "hold",
            "--token",
            "t",
            "--reason",
            "driver upgrade",
            "video",
        ])?;
        let (_, path, body) = request("pools", &args.command);
        assert_eq!(path, "/api/v1/pools/video/hold");
        assert_eq!(body, json!({"reason": "driver upgrade"}));
        let args = parse(&["release", "--token", "t", "alice smith"])?;
        let (_, path, body) = request("users", &args.command);
        assert_eq!(path, "/api/v1/users/alice%20smith/release");
        assert_eq!(body, json!({}));
        Ok(())
    }

    #[test]
    fn a_hold_needs_a_reason_a_name_and_a_token() {
        assert!(
            parse(&["hold", "--token", "t", "video"]).is_err(),
            "no reason"
        );
        assert!(
            parse(&["hold", "--token", "t", "--reason", "r"]).is_err(),
            "no name"
        );
        assert!(parse(&["release", "video"]).is_err(), "no token");
    }
}
