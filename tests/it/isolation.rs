//! Black-box test of isolation between users: Bob can neither read, list, watch (progress
//! websocket, by header and by `?token=`), cancel nor download Alice's video, on every route,
//! and is answered 404 (existence is not revealed); Alice's signed artifact URL reaches nobody
//! else, and an altered, re-targeted or expired one is 403. Expired, forged, `alg: none` and node
//! tokens are refused as users (401) on every user route, and operators' routes answer 403 to
//! users.

use crate::support;

use std::time::Duration;

use serde_json::{json, Value};
use shotfarm_web::artifact_url::ArtifactSigner;
use shotfarm_web::auth::{now_unix, Claims, Role, TokenIssuer};
use support::Server;

/// The status of a websocket upgrade to `path` (101 when it opens), by header or by `?token=`.
fn upgrade_status(s: &Server, path: &str, token: &str, in_query: bool) -> u16 {
    use tungstenite::client::IntoClientRequest;
    let base = s.base.replace("http://", "ws://");
    let url = if in_query {
        let sep = if path.contains('?') { '&' } else { '?' };
        format!("{base}{path}{sep}token={token}")
    } else {
        format!("{base}{path}")
    };
    let mut request = url.into_client_request().expect("request");
    if !in_query {
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
    }
    match tungstenite::connect(request) {
        Ok((mut ws, _)) => {
            let _ = ws.close(None);
            101
        }
        Err(tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("upgrade {path}: {e}"),
    }
}

fn get_status(s: &Server, path: &str, token: &str) -> u16 {
    s.get(path, token).status().as_u16()
}

fn post_status(s: &Server, path: &str, token: &str, body: &Value) -> u16 {
    s.post(path, token, body).status().as_u16()
}

/// A token with `claims` signed by nobody: `alg: none`.
fn unsigned(claims: &Value) -> String {
    let b64 = |v: &Value| base64url(v.to_string().as_bytes());
    format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(claims)
    )
}

/// Unpadded base64url (RFC 4648 §5), as JWTs use.
fn base64url(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ABC[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

#[test]
fn one_user_can_neither_read_list_watch_cancel_nor_download_anothers_video() {
    let s = Server::start(&[]);
    let (alice, bob, ops) = (s.user("alice"), s.user("bob"), s.operator());
    let body = json!({ "title": "alice's story", "shots": [
        { "prompt": "alice's secret plot twist", "model": "tiny-video", "steps": 2 },
    ]});
    let v = s.submit(&alice, &body);
    let id = v["id"].as_str().expect("id").to_owned();
    let done = s.wait_final(&alice, &id);
    assert_eq!(done["state"], "completed", "{done:#}");
    let shot_id = done["shots"][0]["id"].as_str().expect("shot").to_owned();
    let url = done["shots"][0]["artifact_url"]
        .as_str()
        .expect("artifact_url")
        .to_owned();
    // A second video of Alice's, still running, for cancel.
    let slow = s.submit(
        &alice,
        &json!({ "shots": [{ "prompt": "long take", "model": "cogvideox-5b" }] }),
    );
    let slow_id = slow["id"].as_str().expect("id").to_owned();

    // Read: 404 for Bob (the same as for a video that does not exist), 200 for Alice and ops.
    let video_path = format!("/api/v1/videos/{id}");
    assert_eq!(get_status(&s, &video_path, &bob), 404);
    assert_eq!(get_status(&s, "/api/v1/videos/vid_nonexistent", &bob), 404);
    let resp = s.get(&video_path, &bob);
    let text = resp.text().expect("body");
    assert!(
        !text.contains("secret plot") && !text.contains(&shot_id),
        "{text}"
    );
    assert_eq!(get_status(&s, &video_path, &alice), 200);
    assert_eq!(get_status(&s, &video_path, &ops), 200);

    // List: Bob's list holds none of Alice's videos, whatever the filter.
    for query in ["", "?state=completed", "?state=running", "?limit=100"] {
        let list = s.get(&format!("/api/v1/videos{query}"), &bob);
        assert_eq!(list.status(), 200, "{query}");
        let text = list.text().expect("body");
        assert!(
            !text.contains(&id) && !text.contains(&slow_id) && !text.contains("secret plot"),
            "{query}: {text}"
        );
    }
    let mine: Value = s.get("/api/v1/videos", &alice).json().expect("json");
    assert!(mine.to_string().contains(&id));

    // Watch: the progress websocket, by header and by `?token=`, with and without `since`.
    for path in [
        format!("/api/v1/videos/{id}/progress"),
        format!("/api/v1/videos/{id}/progress?since=0"),
        format!("/api/v1/videos/{slow_id}/progress"),
    ] {
        assert_eq!(upgrade_status(&s, &path, &bob, false), 404, "{path}");
        assert_eq!(upgrade_status(&s, &path, &bob, true), 404, "{path} ?token=");
        assert_eq!(upgrade_status(&s, &path, &alice, true), 101, "{path}");
    }

    // Cancel: 404 for Bob, and the video runs on.
    let cancel = format!("/api/v1/videos/{slow_id}/cancel");
    assert_eq!(post_status(&s, &cancel, &bob, &json!({})), 404);
    assert_eq!(
        post_status(&s, &format!("/api/v1/videos/{id}/cancel"), &bob, &json!({})),
        404
    );
    let still: Value = s
        .get(&format!("/api/v1/videos/{slow_id}"), &alice)
        .json()
        .expect("json");
    assert_ne!(still["state"], "cancelled", "{still:#}");
    assert_eq!(post_status(&s, &cancel, &alice, &json!({})), 200);

    // Download: Bob has no way to Alice's signed URL (above: 404 everywhere it appears, and the
    // operator views are 403 to him); without the URL, or with it altered, it is 403.
    let download = |path: &str| {
        s.http
            .get(format!("{}{path}", s.base))
            .send()
            .expect("GET")
            .status()
            .as_u16()
    };
    assert_eq!(download(&url), 200, "the link itself works, with no token");
    let bare = format!("/api/v1/shots/{shot_id}/artifact");
    assert_eq!(download(&bare), 403);
    let resp = s
        .http
        .get(format!("{}{bare}", s.base))
        .bearer_auth(&alice)
        .send()
        .expect("GET");
    assert_eq!(resp.status(), 403, "a bearer token is not a signature");
    let (prefix, sig) = url.split_once("&sig=").expect("sig");
    let mut flipped = sig.to_owned();
    let last = if flipped.ends_with('0') { "1" } else { "0" };
    flipped.replace_range(flipped.len() - 1.., last);
    assert_eq!(
        download(&format!("{prefix}&sig={flipped}")),
        403,
        "altered sig"
    );
    let exp: u64 = prefix
        .rsplit("exp=")
        .next()
        .and_then(|e| e.parse().ok())
        .expect("exp");
    assert_eq!(
        download(&format!(
            "/api/v1/shots/{shot_id}/artifact?exp={}&sig={sig}",
            exp + 60
        )),
        403,
        "extended expiry"
    );
    let other_shot = format!("{}x", shot_id);
    assert_eq!(
        download(&format!(
            "/api/v1/shots/{other_shot}/artifact?exp={exp}&sig={sig}"
        )),
        403,
        "a signature for another shot"
    );
    let expired = ArtifactSigner::new(support::SECRET, Duration::from_secs(60))
        .url_expiring_at(&shot_id, now_unix() - 1);
    assert_eq!(download(&expired), 403, "expired");
    let forged = ArtifactSigner::new("some-other-secret-entirely", Duration::from_secs(60))
        .url(&shot_id, now_unix());
    assert_eq!(download(&forged), 403, "signed with another secret");
}

#[test]
fn bad_tokens_are_401_on_every_user_route_and_operator_routes_are_403_to_users() {
    let s = Server::start(&[]);
    let alice = s.user("alice");
    let v = s.submit(&alice, &support::video(1, "cogvideox-5b"));
    let id = v["id"].as_str().expect("id").to_owned();
    let now = now_unix();
    let claims = |sub: &str, exp: u64, role: Role| Claims {
        sub: sub.into(),
        exp,
        iat: now - 10,
        role,
        plan: None,
        org: None,
    };
    let expired = s
        .tokens()
        .mint_claims(&claims("alice", now - 5, Role::Authenticated))
        .expect("mint");
    let forged = TokenIssuer::new("some-other-secret-entirely")
        .mint("alice", Role::Operator, Duration::from_secs(600))
        .expect("mint");
    let none = unsigned(&json!({"sub": "alice", "exp": now + 600, "role": "operator"}));
    let node = s
        .tokens()
        .mint("alice", Role::Node, Duration::from_secs(600))
        .expect("mint");
    let bad = [
        ("expired", expired),
        ("forged", forged),
        ("alg none", none),
        ("node", node),
        ("garbage", "abc.def.ghi".to_owned()),
    ];
    let video = format!("/api/v1/videos/{id}");
    for (what, token) in &bad {
        for path in [
            video.as_str(),
            "/api/v1/videos",
            "/api/v1/nodes",
            "/api/v1/cluster",
            "/api/v1/queue",
        ] {
            assert_eq!(get_status(&s, path, token), 401, "{what} GET {path}");
        }
        let submit = post_status(
            &s,
            "/api/v1/videos",
            token,
            &support::video(1, "cogvideox-5b"),
        );
        assert_eq!(submit, 401, "{what} submit");
        let cancel = post_status(&s, &format!("{video}/cancel"), token, &json!({}));
        assert_eq!(cancel, 401, "{what} cancel");
        for in_query in [false, true] {
            let progress = upgrade_status(&s, &format!("{video}/progress"), token, in_query);
            assert_eq!(progress, 401, "{what} progress (query: {in_query})");
            let stream = upgrade_status(&s, "/api/v1/operator/stream", token, in_query);
            assert_eq!(stream, 401, "{what} operator stream (query: {in_query})");
        }
    }
    // The video is untouched by all of that.
    let still: Value = s.get(&video, &alice).json().expect("json");
    assert_ne!(still["state"], "cancelled");

    // Operators' routes are 403 to users (not 404, not 401).
    for path in [
        "/api/v1/nodes",
        "/api/v1/cluster",
        "/api/v1/queue",
        "/api/v1/autoscaler",
        "/api/v1/audit",
        "/api/v1/audit/export",
    ] {
        assert_eq!(get_status(&s, path, &alice), 403, "GET {path}");
        assert_eq!(
            get_status(&s, path, &s.operator()),
            200,
            "GET {path} as operator"
        );
    }
    for action in ["preempt", "drain", "revoke"] {
        let path = format!("/api/v1/nodes/video-spot-1/{action}");
        assert_eq!(
            post_status(&s, &path, &alice, &json!({})),
            403,
            "POST {path}"
        );
    }
    assert_eq!(
        upgrade_status(&s, "/api/v1/operator/stream", &alice, false),
        403
    );
    assert_eq!(
        upgrade_status(&s, "/api/v1/operator/stream", &alice, true),
        403
    );
}
