//! The Kubernetes provider against a local HTTP server playing the API server's part: the
//! replica patch, the pod delete and the bearer token are checked as sent.

use std::sync::Arc;

use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use shotfarm_core::settings::{KubernetesSettings, PoolWorkloads};

/// One request as the fake API server saw it.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    auth: Option<String>,
    content_type: Option<String>,
    body: String,
}

/// Serves the scale subresource (3 replicas) and the workload (3 wanted, 2 ready); records all.
async fn fake_api() -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read the head, then the body by its length.
            let (head, body_start) = loop {
                let n = sock.read(&mut chunk).await.expect("read");
                buf.extend_from_slice(&chunk[..n]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break (String::from_utf8_lossy(&buf[..i]).to_string(), i + 4);
                }
                assert!(n > 0, "connection closed mid-head");
            };
            let header = |name: &str| {
                head.lines()
                    .find(|l| l.to_ascii_lowercase().starts_with(&format!("{name}:")))
                    .map(|l| l[name.len() + 1..].trim().to_owned())
            };
            let len: usize = header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            while buf.len() < body_start + len {
                let n = sock.read(&mut chunk).await.expect("read body");
                buf.extend_from_slice(&chunk[..n]);
            }
            let mut first = head.lines().next().unwrap_or("").split(' ');
            let method = first.next().unwrap_or("").to_owned();
            let path = first.next().unwrap_or("").to_owned();
            log.lock().push(Seen {
                method: method.clone(),
                path: path.clone(),
                auth: header("authorization"),
                content_type: header("content-type"),
                body: String::from_utf8_lossy(&buf[body_start..body_start + len]).to_string(),
            });
            let reply = if path.ends_with("/scale") {
                r#"{"kind":"Scale","spec":{"replicas":3},"status":{"replicas":3}}"#
            } else if path.contains("/pods/") && method == "DELETE" {
                r#"{"kind":"Status","status":"Success"}"#
            } else {
                r#"{"spec":{"replicas":3},"status":{"readyReplicas":2}}"#
            };
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                reply.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
        }
    });
    (url, seen)
}

fn provider(url: &str) -> KubernetesProvider {
    let mut settings = KubernetesSettings {
        api_url: url.to_owned(),
        token: Some("sekrit".into()),
        namespace: "render".into(),
        ..KubernetesSettings::default()
    };
    settings.workloads.insert(
        "video".into(),
        PoolWorkloads {
            spot: "deployments/agent-video-spot".into(),
            on_demand: "deployments/agent-video-od".into(),
        },
    );
    KubernetesProvider::new(settings).expect("provider")
}

#[actix_rt::test]
async fn scaling_up_patches_the_replica_count_with_the_token() {
    let (url, seen) = fake_api().await;
    let granted = provider(&url)
        .add("video", Kind::Spot, 2)
        .await
        .expect("add");
    assert_eq!(granted, 2);
    let seen = seen.lock().clone();
    let patch = seen
        .iter()
        .find(|s| s.method == "PATCH")
        .expect("a PATCH was sent");
    assert_eq!(
        patch.path,
        "/apis/apps/v1/namespaces/render/deployments/agent-video-spot/scale"
    );
    let body: serde_json::Value = serde_json::from_str(&patch.body).expect("json body");
    assert_eq!(
        body,
        serde_json::json!({"spec": {"replicas": 5}}),
        "3 up + 2"
    );
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert!(seen
        .iter()
        .all(|s| s.auth.as_deref() == Some("Bearer sekrit")));
}

#[actix_rt::test]
async fn scaling_down_lowers_the_count_and_deletes_the_named_pod() {
    let (url, seen) = fake_api().await;
    provider(&url)
        .release("video", "agent-video-od-7d9f-x2k4p")
        .await
        .expect("release");
    let seen = seen.lock().clone();
    let scale = seen
        .iter()
        .find(|s| s.method == "PATCH" && s.path.ends_with("/scale"))
        .expect("scale patch");
    assert_eq!(
        scale.path, "/apis/apps/v1/namespaces/render/deployments/agent-video-od/scale",
        "the on-demand workload owns the pod"
    );
    let body: serde_json::Value = serde_json::from_str(&scale.body).expect("json");
    assert_eq!(body["spec"]["replicas"], 2);
    let delete = seen.iter().find(|s| s.method == "DELETE").expect("delete");
    assert_eq!(
        delete.path,
        "/api/v1/namespaces/render/pods/agent-video-od-7d9f-x2k4p"
    );
    assert_eq!(delete.auth.as_deref(), Some("Bearer sekrit"));
    // The pod was marked cheapest to delete before the count went down.
    let mark = seen
        .iter()
        .position(|s| s.method == "PATCH" && s.path.contains("/pods/"))
        .expect("deletion-cost patch");
    let lower = seen
        .iter()
        .position(|s| s.method == "PATCH" && s.path.ends_with("/scale"))
        .expect("scale");
    assert!(mark < lower);
    assert!(seen[mark].body.contains("pod-deletion-cost"));
}

#[actix_rt::test]
async fn inventory_counts_replicas_not_ready_as_booting() {
    let (url, _) = fake_api().await;
    let inv = provider(&url).inventory("video").await.expect("inventory");
    assert_eq!((inv.booting_spot, inv.booting_on_demand), (1, 1));
}

#[actix_rt::test]
async fn an_unknown_pool_is_refused() {
    let (url, seen) = fake_api().await;
    assert!(provider(&url).add("image", Kind::Spot, 1).await.is_err());
    assert!(seen.lock().is_empty());
}
