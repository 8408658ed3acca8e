//! How an agent learns that its spot machine is being reclaimed, and turns it into a preemption
//! of its GPU-node actor (checkpoint every shot, hand it back, leave) with the cloud's deadline:
//! - GCP: `GET {base}/computeMetadata/v1/instance/preempted` (header `Metadata-Flavor: Google`)
//!   answers `TRUE` once the instance is being preempted; 30 s notice (Azure gives the same).
//! - AWS: `GET {base}/latest/meta-data/spot/instance-action` answers 404 until a reclaim is
//!   scheduled, then `{"action":"terminate","time":"..."}`; two minutes' notice. IMDSv2 first
//!   (a session token from `PUT {base}/latest/api/token`), IMDSv1 where that is refused.
//! - SIGTERM on a spot node (what a cloud's shutdown sends): 30 s.

use std::time::Duration;

use actix::Recipient;
use chrono::{DateTime, Utc};
use clap::ValueEnum;
use tracing::{debug, warn};

use shotfarm_actors::messages::NodeCommand;

/// GCP's and Azure's preemption notice.
pub const GCP_NOTICE: Duration = Duration::from_secs(30);
/// AWS's spot interruption notice.
pub const AWS_NOTICE: Duration = Duration::from_secs(120);
/// How often the metadata endpoint is asked.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// A metadata request slower than this counts as no answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// Which cloud's metadata endpoint to watch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Cloud {
    Gcp,
    Aws,
}

impl Cloud {
    /// Where the endpoint lives on the cloud's machines.
    pub fn default_base(self) -> &'static str {
        match self {
            Cloud::Gcp => "http://metadata.google.internal",
            Cloud::Aws => "http://169.254.169.254",
        }
    }
}

/// Asks the endpoint once: `Some(deadline)` once a reclaim is announced.
pub async fn poll_once(
    http: &reqwest::Client,
    cloud: Cloud,
    base: &str,
) -> Result<Option<Duration>, reqwest::Error> {
    let base = base.trim_end_matches('/');
    match cloud {
        Cloud::Gcp => {
            let resp = http
                .get(format!("{base}/computeMetadata/v1/instance/preempted"))
                .header("Metadata-Flavor", "Google")
                .send()
                .await?;
            let body = resp.error_for_status()?.text().await?;
            Ok((body.trim() == "TRUE").then_some(GCP_NOTICE))
        }
        Cloud::Aws => {
            let token = http
                .put(format!("{base}/latest/api/token"))
                .header("X-aws-ec2-metadata-token-ttl-seconds", "60")
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success());
            let token = match token {
                Some(r) => Some(r.text().await?),
                None => None,
            };
            let mut req = http.get(format!("{base}/latest/meta-data/spot/instance-action"));
            if let Some(t) = &token {
                req = req.header("X-aws-ec2-metadata-token", t.trim());
            }
            let resp = req.send().await?;
            if resp.status() == reqwest::StatusCode::NOT_FOUND {
                return Ok(None);
            }
            let body: serde_json::Value = resp.error_for_status()?.json().await?;
            Ok(Some(aws_deadline(&body, Utc::now())))
        }
    }
}

/// The time left before an AWS instance action, at most the two-minute notice.
pub fn aws_deadline(body: &serde_json::Value, now: DateTime<Utc>) -> Duration {
    body.get("time")
        .and_then(serde_json::Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .and_then(|t| (t.with_timezone(&Utc) - now).to_std().ok())
        .map_or(AWS_NOTICE, |left| left.min(AWS_NOTICE))
}

/// Polls until a reclaim is announced, then preempts the node once.
pub async fn watch_metadata(cloud: Cloud, base: String, node: Recipient<NodeCommand>) {
    let http = match reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build() {
        Ok(h) => h,
        Err(e) => {
            warn!(error = %e, "cannot build the metadata client; no preemption notices from the cloud");
            return;
        }
    };
    let mut complained = false;
    loop {
        match poll_once(&http, cloud, &base).await {
            Ok(Some(deadline)) => {
                warn!(cloud = ?cloud, deadline_s = deadline.as_secs_f64(), "preemption notice from the cloud: checkpointing and handing back every shot");
                node.do_send(NodeCommand::Preempt {
                    deadline: Some(deadline),
                });
                return;
            }
            Ok(None) => complained = false,
            Err(e) if !complained => {
                warn!(cloud = ?cloud, base = %base, error = %e, "metadata endpoint not answering; still polling");
                complained = true;
            }
            Err(e) => debug!(error = %e, "metadata poll failed"),
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// A one-thread HTTP server answering each request with `respond(request line + headers)`.
    fn fake(respond: fn(&str) -> (u16, String)) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten().take(16) {
                let mut conn = conn;
                let mut buf = [0u8; 4096];
                let n = conn.read(&mut buf).unwrap_or(0);
                let (status, body) =
                    respond(&String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase());
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn gcp_needs_the_flavor_header_and_true_means_preempted() {
        let base = fake(|req| {
            match (
                req.contains("metadata-flavor: google"),
                req.starts_with("get /computemetadata/v1/instance/preempted"),
            ) {
                (true, true) => (200, "TRUE".into()),
                _ => (403, String::new()),
            }
        });
        let http = reqwest::Client::new();
        assert_eq!(
            poll_once(&http, Cloud::Gcp, &base).await.expect("poll"),
            Some(GCP_NOTICE)
        );
        let quiet = fake(|_| (200, "FALSE".into()));
        assert_eq!(
            poll_once(&http, Cloud::Gcp, &quiet).await.expect("poll"),
            None
        );
    }

    #[tokio::test]
    async fn aws_uses_an_imdsv2_token_and_404_means_no_notice() {
        let base = fake(|req| {
            if req.starts_with("put /latest/api/token") {
                (200, "tok123".into())
            } else if req.contains("x-aws-ec2-metadata-token: tok123") {
                (
                    200,
                    r#"{"action":"terminate","time":"2000-01-01T00:00:00Z"}"#.into(),
                )
            } else {
                (401, String::new())
            }
        });
        let http = reqwest::Client::new();
        assert_eq!(
            poll_once(&http, Cloud::Aws, &base).await.expect("poll"),
            Some(AWS_NOTICE)
        );
        let calm = fake(|req| {
            if req.starts_with("put") {
                (200, "t".into())
            } else {
                (404, String::new())
            }
        });
        assert_eq!(
            poll_once(&http, Cloud::Aws, &calm).await.expect("poll"),
            None
        );
    }

    #[test]
    fn aws_deadline_is_the_time_left_capped_at_two_minutes() {
        let now = DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let body = serde_json::json!({ "action": "terminate", "time": "2026-11-21T10:01:30Z" });
        assert_eq!(aws_deadline(&body, now), Duration::from_secs(90));
        let far = serde_json::json!({ "action": "stop", "time": "2026-11-21T11:00:00Z" });
        assert_eq!(aws_deadline(&far, now), AWS_NOTICE);
        assert_eq!(aws_deadline(&serde_json::json!({}), now), AWS_NOTICE);
        let past = serde_json::json!({ "time": "2026-11-21T09:00:00Z" });
        assert_eq!(aws_deadline(&past, now), AWS_NOTICE);
    }
}
