//! A local double of the Kubernetes API server for the provider's tests, speaking its real wire
//! format: Deployments with their `scale` subresource (GET, merge PATCH fenced by
//! `resourceVersion`, 409 `Status` on a stale one), pods (merge PATCH, DELETE, 404 `Status` for a
//! missing one), and a switch that answers every request 403 as an RBAC-less service account
//! gets. It records every request as sent.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request as the double saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub auth: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
}

/// What the double holds.
#[derive(Default)]
pub struct State {
    /// Deployment name → (wanted replicas, ready replicas).
    pub deployments: BTreeMap<String, (i32, i32)>,
    pub pods: BTreeMap<String, Value>,
    /// One counter for every object's `resourceVersion`, as etcd's revision is.
    pub revision: u64,
    /// Deployment → its scale's resourceVersion.
    pub versions: BTreeMap<String, u64>,
    /// Scale patches still to lose to another writer, who adds one replica first.
    pub conflicts: u32,
    /// Answer everything 403.
    pub forbidden: bool,
    pub seen: Vec<Seen>,
}

pub type Shared = Arc<Mutex<State>>;

/// Starts the double with `deployments` (name, wanted, ready) and `pods` in namespace `render`.
pub async fn start(deployments: &[(&str, i32, i32)], pods: &[&str]) -> (String, Shared) {
    let mut state = State::default();
    for (name, wanted, ready) in deployments {
        state.revision += 1;
        state.deployments.insert((*name).into(), (*wanted, *ready));
        state.versions.insert((*name).into(), state.revision);
    }
    for pod in pods {
        state.pods.insert(
            (*pod).into(),
            json!({ "apiVersion": "v1", "kind": "Pod", "metadata": { "name": pod, "namespace": "render" } }),
        );
    }
    let state = Arc::new(Mutex::new(state));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let shared = Arc::clone(&state);
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(serve(sock, Arc::clone(&shared)));
        }
    });
    (url, state)
}

/// Serves one connection, request after request (kube keeps connections alive).
async fn serve(mut sock: TcpStream, state: Shared) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let (head, body_start) = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break (String::from_utf8_lossy(&buf[..i]).to_string(), i + 4);
            }
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
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
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let mut first = head.lines().next().unwrap_or("").split(' ');
        let method = first.next().unwrap_or("").to_owned();
        let target = first.next().unwrap_or("").to_owned();
        let path = target.split('?').next().unwrap_or("").to_owned();
        let seen = Seen {
            method,
            path,
            auth: header("authorization"),
            content_type: header("content-type"),
            body: String::from_utf8_lossy(&buf[body_start..body_start + len]).to_string(),
        };
        buf.drain(..body_start + len);
        let (code, reply) = answer(&mut state.lock(), seen);
        let reason = match code {
            200 => "OK",
            403 => "Forbidden",
            404 => "Not Found",
            409 => "Conflict",
            _ => "Error",
        };
        let body = reply.to_string();
        let resp = format!(
            "HTTP/1.1 {code} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if sock.write_all(resp.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// The API server's `Status` for a failure.
fn status(code: u16, reason: &str, message: &str) -> (u16, Value) {
    (
        code,
        json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": message, "reason": reason, "code": code }),
    )
}

fn scale_json(name: &str, replicas: i32, version: u64) -> Value {
    json!({ "kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": { "name": name, "namespace": "render", "resourceVersion": version.to_string() },
            "spec": { "replicas": replicas }, "status": { "replicas": replicas } })
}

fn answer(s: &mut State, seen: Seen) -> (u16, Value) {
    s.seen.push(seen.clone());
    if s.forbidden {
        return status(
            403,
            "Forbidden",
            "deployments.apps \"x\" is forbidden: User \"system:serviceaccount:render:default\" cannot patch resource",
        );
    }
    let parts: Vec<&str> = seen.path.trim_start_matches('/').split('/').collect();
    match (seen.method.as_str(), parts.as_slice()) {
        ("GET", ["apis", "apps", "v1", "namespaces", "render", "deployments", name, "scale"]) => {
            match s.deployments.get(*name) {
                Some(&(wanted, _)) => (200, scale_json(name, wanted, s.versions[*name])),
                None => status(
                    404,
                    "NotFound",
                    &format!("deployments.apps \"{name}\" not found"),
                ),
            }
        }
        ("PATCH", ["apis", "apps", "v1", "namespaces", "render", "deployments", name, "scale"]) => {
            let name = (*name).to_owned();
            if !s.deployments.contains_key(&name) {
                return status(
                    404,
                    "NotFound",
                    &format!("deployments.apps \"{name}\" not found"),
                );
            }
            if s.conflicts > 0 {
                // Another writer got there first.
                s.conflicts -= 1;
                s.deployments.get_mut(&name).expect("deployment").0 += 1;
                s.revision += 1;
                s.versions.insert(name.clone(), s.revision);
            }
            let patch: Value = serde_json::from_str(&seen.body).unwrap_or(Value::Null);
            if let Some(v) = patch["metadata"]["resourceVersion"].as_str() {
                if v != s.versions[&name].to_string() {
                    return status(
                        409,
                        "Conflict",
                        "Operation cannot be fulfilled on deployments.apps: the object has been modified; please apply your changes to the latest version and try again",
                    );
                }
            }
            let Some(replicas) = patch["spec"]["replicas"].as_i64() else {
                return status(422, "Invalid", "spec.replicas is required");
            };
            s.deployments.get_mut(&name).expect("deployment").0 = replicas as i32;
            s.revision += 1;
            s.versions.insert(name.clone(), s.revision);
            (200, scale_json(&name, replicas as i32, s.revision))
        }
        ("GET", ["apis", "apps", "v1", "namespaces", "render", "deployments", name]) => {
            match s.deployments.get(*name) {
                Some(&(wanted, ready)) => (
                    200,
                    json!({ "apiVersion": "apps/v1", "kind": "Deployment",
                            "metadata": { "name": name, "namespace": "render",
                                          "resourceVersion": s.versions[*name].to_string() },
                            "spec": { "replicas": wanted,
                                      "selector": { "matchLabels": { "app": name } },
                                      "template": { "metadata": { "labels": { "app": name } } } },
                            "status": { "replicas": wanted, "readyReplicas": ready } }),
                ),
                None => status(
                    404,
                    "NotFound",
                    &format!("deployments.apps \"{name}\" not found"),
                ),
            }
        }
        ("PATCH", ["api", "v1", "namespaces", "render", "pods", name]) => {
            let patch: Value = serde_json::from_str(&seen.body).unwrap_or(Value::Null);
            match s.pods.get_mut(*name) {
                Some(pod) => {
                    pod["metadata"]["annotations"] = patch["metadata"]["annotations"].clone();
                    (200, pod.clone())
                }
                None => status(404, "NotFound", &format!("pods \"{name}\" not found")),
            }
        }
        ("DELETE", ["api", "v1", "namespaces", "render", "pods", name]) => {
            match s.pods.remove(*name) {
                Some(pod) => (200, pod),
                None => status(404, "NotFound", &format!("pods \"{name}\" not found")),
            }
        }
        _ => status(
            404,
            "NotFound",
            &format!("no route for {} {}", seen.method, seen.path),
        ),
    }
}
