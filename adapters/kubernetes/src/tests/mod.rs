//! The kube-rs provider against a local double of the API server (`api_double.rs`): scale
//! changes through the scale subresource with the token, a release that marks, lowers and
//! deletes, a conflicting writer whose change survives ours, and RBAC refusals named as such.

mod api_double;

use super::*;
use api_double::Seen;
use shotfarm_core::settings::{KubernetesSettings, PoolWorkloads};

const SPOT: &str = "agent-video-spot";
const ON_DEMAND: &str = "agent-video-od";

async fn provider(url: &str) -> KubernetesProvider {
    let mut settings = KubernetesSettings {
        api_url: url.to_owned(),
        token: Some("sekrit".into()),
        namespace: "render".into(),
        ..KubernetesSettings::default()
    };
    settings.workloads.insert(
        "video".into(),
        PoolWorkloads {
            spot: format!("deployments/{SPOT}"),
            on_demand: format!("deployments/{ON_DEMAND}"),
        },
    );
    KubernetesProvider::connect(settings)
        .await
        .expect("provider")
}

async fn double() -> (String, api_double::Shared) {
    api_double::start(
        &[(SPOT, 3, 2), (ON_DEMAND, 3, 2)],
        &["agent-video-od-7d9f-x2k4p"],
    )
    .await
}

fn seen(state: &api_double::Shared) -> Vec<Seen> {
    state.lock().seen.clone()
}

#[actix_rt::test]
async fn scaling_up_patches_the_scale_subresource_with_the_token() {
    let (url, state) = double().await;
    let granted = provider(&url)
        .await
        .add("video", Kind::Spot, 2)
        .await
        .expect("add");
    assert_eq!(granted, 2);
    assert_eq!(state.lock().deployments[SPOT].0, 5, "3 up + 2");
    let seen = seen(&state);
    let patch = seen.iter().find(|s| s.method == "PATCH").expect("a PATCH");
    assert_eq!(
        patch.path,
        format!("/apis/apps/v1/namespaces/render/deployments/{SPOT}/scale")
    );
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    let body: serde_json::Value = serde_json::from_str(&patch.body).expect("json body");
    assert_eq!(body["spec"]["replicas"], 5);
    assert!(body["metadata"]["resourceVersion"].is_string(), "{body}");
    assert!(seen
        .iter()
        .all(|s| s.auth.as_deref() == Some("Bearer sekrit")));
}

#[actix_rt::test]
async fn a_conflicting_writer_loses_nothing() {
    let (url, state) = double().await;
    // Twice, another writer adds a replica between our read and our write.
    state.lock().conflicts = 2;
    provider(&url)
        .await
        .add("video", Kind::Spot, 2)
        .await
        .expect("add");
    assert_eq!(
        state.lock().deployments[SPOT].0,
        3 + 2 + 2,
        "both of the other writer's replicas and both of ours"
    );
    let patches = seen(&state).iter().filter(|s| s.method == "PATCH").count();
    assert_eq!(patches, 3, "two lost to the other writer, then ours");
}

#[actix_rt::test]
async fn scaling_down_marks_lowers_and_deletes_the_named_pod() {
    let (url, state) = double().await;
    provider(&url)
        .await
        .release("video", "agent-video-od-7d9f-x2k4p")
        .await
        .expect("release");
    let s = state.lock();
    assert_eq!(
        s.deployments[ON_DEMAND].0, 2,
        "the on-demand workload owns the pod"
    );
    assert_eq!(s.deployments[SPOT].0, 3);
    assert!(s.pods.is_empty(), "the pod was deleted");
    let mark = s
        .seen
        .iter()
        .position(|r| r.method == "PATCH" && r.path.contains("/pods/"))
        .expect("deletion-cost patch");
    let lower = s
        .seen
        .iter()
        .position(|r| r.method == "PATCH" && r.path.ends_with("/scale"))
        .expect("scale");
    assert!(mark < lower, "marked cheapest before the count went down");
    assert!(s.seen[mark].body.contains("pod-deletion-cost"));
}

#[actix_rt::test]
async fn releasing_a_pod_that_is_already_gone_still_lowers_the_count() {
    let (url, state) = double().await;
    provider(&url)
        .await
        .release("video", "agent-video-spot-5c4b-q9z8m")
        .await
        .expect("release of a vanished pod");
    assert_eq!(state.lock().deployments[SPOT].0, 2);
}

#[actix_rt::test]
async fn inventory_counts_replicas_not_ready_as_booting() {
    let (url, _) = double().await;
    let inv = provider(&url)
        .await
        .inventory("video")
        .await
        .expect("inventory");
    assert_eq!((inv.booting_spot, inv.booting_on_demand), (1, 1));
}

#[actix_rt::test]
async fn a_forbidden_service_account_is_named_with_the_rbac_to_grant() {
    let (url, state) = double().await;
    state.lock().forbidden = true;
    let err = provider(&url)
        .await
        .add("video", Kind::OnDemand, 1)
        .await
        .expect_err("403");
    let text = err.to_string();
    assert!(text.contains("403") && text.contains("rbac.yaml"), "{text}");
    assert_eq!(state.lock().deployments[ON_DEMAND].0, 3);
}

#[actix_rt::test]
async fn an_unknown_pool_is_refused_without_a_request() {
    let (url, state) = double().await;
    assert!(provider(&url)
        .await
        .add("image", Kind::Spot, 1)
        .await
        .is_err());
    assert!(seen(&state).is_empty());
}
