//! The Kubernetes provider, on kube-rs: a pool's spot and on-demand agents are two workloads
//! (Deployments or StatefulSets running `shotfarm agent`); buying nodes raises a workload's
//! replica count through its `scale` subresource (the cluster autoscaler then brings GPU
//! machines), giving one back marks its pod cheapest to delete, lowers the count and deletes that
//! pod. The client is kube-rs's own: in-cluster service-account config (or a kubeconfig outside a
//! cluster), TLS on rustls, unless `api_url` names an endpoint (a local double in the tests, or
//! `kubectl proxy`).
//!
//! Scale changes are read-modify-write guarded by the scale's `resourceVersion`: two servers
//! scaling one workload at once get a 409 on the loser, which reads again, so neither's change is
//! lost.

mod workload;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::Client;
use serde_json::json;

use shotfarm_actors::ports::{Inventory, NodeProvider, ProviderError};
use shotfarm_core::autoscaler::Kind;
use shotfarm_core::settings::{KubernetesSettings, PoolWorkloads};

pub use workload::Workload;

/// Read-modify-write tries of one scale change before giving up (each loss is another writer's
/// win, so this many in a row means a storm of them).
const SCALE_TRIES: u32 = 5;

/// Scales agent workloads over the Kubernetes API.
pub struct KubernetesProvider {
    settings: KubernetesSettings,
    namespace: String,
    client: Client,
}

/// A kube error in words an operator can act on: a 403 names the RBAC to grant.
fn explain(what: &str, namespace: &str, e: kube::Error) -> ProviderError {
    match e {
        kube::Error::Api(status) if status.code == 403 => ProviderError::Request(format!(
            "403 forbidden to {what} in namespace {namespace}: grant the server's service account \
             the Role in deploy/base/rbac.yaml ({})",
            status.message
        )),
        kube::Error::Api(status) => ProviderError::Request(format!(
            "{} {} on {what}: {}",
            status.code, status.reason, status.message
        )),
        other => ProviderError::Request(format!("{what}: {other}")),
    }
}

fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(status) if status.code == code)
}

impl KubernetesProvider {
    /// A provider for `settings`: kube-rs's inferred config (in-cluster, else kubeconfig) when
    /// `api_url` is empty, else that endpoint with the configured token.
    pub async fn connect(settings: KubernetesSettings) -> Result<Self, ProviderError> {
        let config = if settings.api_url.is_empty() {
            kube::Config::infer().await.map_err(|e| {
                ProviderError::Request(format!(
                    "no Kubernetes config: not in a cluster and no kubeconfig ({e})"
                ))
            })?
        } else {
            let url = settings.api_url.parse().map_err(|e| {
                ProviderError::Request(format!("autoscaler.kubernetes.api_url: {e}"))
            })?;
            let mut config = kube::Config::new(url);
            config.auth_info.token = token(&settings)?.map(Into::into);
            config
        };
        let namespace = if settings.namespace.is_empty() {
            config.default_namespace.clone()
        } else {
            settings.namespace.clone()
        };
        let client = Client::try_from(config)
            .map_err(|e| ProviderError::Request(format!("Kubernetes client: {e}")))?;
        Ok(Self {
            settings,
            namespace,
            client,
        })
    }

    fn workloads(&self, pool: &str) -> Option<&PoolWorkloads> {
        self.settings.workloads.get(pool)
    }

    fn workload(&self, pool: &str, kind: Kind) -> Result<Workload, ProviderError> {
        let named = self
            .workloads(pool)
            .map(|w| match kind {
                Kind::Spot => w.spot.as_str(),
                Kind::OnDemand => w.on_demand.as_str(),
            })
            .filter(|w| !w.is_empty())
            .ok_or_else(|| ProviderError::NoSuchPool(pool.to_owned(), kind))?;
        Workload::parse(named).map_err(ProviderError::Request)
    }

    /// Adds `delta` to the workload's replicas (not below 0), read-modify-write on the scale's
    /// `resourceVersion`; returns the new count.
    async fn scale_by(&self, workload: &Workload, delta: i64) -> Result<i32, ProviderError> {
        match workload {
            Workload::Deployment(name) => {
                self.scale_api(
                    Api::<Deployment>::namespaced(self.client.clone(), &self.namespace),
                    name,
                    delta,
                )
                .await
            }
            Workload::StatefulSet(name) => {
                self.scale_api(
                    Api::<StatefulSet>::namespaced(self.client.clone(), &self.namespace),
                    name,
                    delta,
                )
                .await
            }
        }
    }

    async fn scale_api<K>(&self, api: Api<K>, name: &str, delta: i64) -> Result<i32, ProviderError>
    where
        K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let what = format!("scale {name}");
        for _ in 0..SCALE_TRIES {
            let scale = api
                .get_scale(name)
                .await
                .map_err(|e| explain(&what, &self.namespace, e))?;
            let now = scale.spec.and_then(|s| s.replicas).unwrap_or(0);
            let want = (i64::from(now) + delta).clamp(0, i64::from(i32::MAX)) as i32;
            let patch = json!({
                "metadata": { "resourceVersion": scale.metadata.resource_version },
                "spec": { "replicas": want },
            });
            match api
                .patch_scale(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => return Ok(want),
                // Another writer changed it since the read: read again.
                Err(e) if is_status(&e, 409) => continue,
                Err(e) => return Err(explain(&what, &self.namespace, e)),
            }
        }
        Err(ProviderError::Request(format!(
            "{what}: {SCALE_TRIES} conflicting writes in a row; giving up this round"
        )))
    }

    /// Wanted and ready replicas of a workload.
    async fn replicas(&self, workload: &Workload) -> Result<(u32, u32), ProviderError> {
        let what = format!("read {}", workload.name());
        let count = |n: Option<i32>| n.unwrap_or(0).max(0) as u32;
        match workload {
            Workload::Deployment(name) => {
                let d = Api::<Deployment>::namespaced(self.client.clone(), &self.namespace)
                    .get(name)
                    .await
                    .map_err(|e| explain(&what, &self.namespace, e))?;
                Ok((
                    count(d.spec.replicas),
                    count(d.status.and_then(|s| s.ready_replicas)),
                ))
            }
            Workload::StatefulSet(name) => {
                let s = Api::<StatefulSet>::namespaced(self.client.clone(), &self.namespace)
                    .get(name)
                    .await
                    .map_err(|e| explain(&what, &self.namespace, e))?;
                Ok((
                    count(s.spec.replicas),
                    count(s.status.and_then(|s| s.ready_replicas)),
                ))
            }
        }
    }
}

/// The bearer token for an explicit `api_url`: the setting, else the file it names.
fn token(settings: &KubernetesSettings) -> Result<Option<String>, ProviderError> {
    Ok(match (&settings.token, &settings.token_file) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(path)) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| ProviderError::Request(format!("reading token file {path}: {e}")))?
                .trim()
                .to_owned(),
        ),
        (None, None) => None,
    })
}

#[async_trait]
impl NodeProvider for KubernetesProvider {
    async fn add(&self, pool: &str, kind: Kind, nodes: u32) -> Result<u32, ProviderError> {
        let workload = self.workload(pool, kind)?;
        self.scale_by(&workload, i64::from(nodes)).await?;
        Ok(nodes)
    }

    async fn release(&self, pool: &str, node: &str) -> Result<(), ProviderError> {
        // An agent's node id is its pod's name (the manifests set it from metadata.name); the
        // pod belongs to the workload whose name prefixes it.
        let w = self
            .workloads(pool)
            .ok_or_else(|| ProviderError::NoSuchPool(pool.to_owned(), Kind::Spot))?;
        let workload = [w.spot.as_str(), w.on_demand.as_str()]
            .into_iter()
            .filter_map(|w| Workload::parse(w).ok())
            .filter(|w| node.starts_with(&format!("{}-", w.name())))
            .max_by_key(|w| w.name().len())
            .ok_or_else(|| {
                ProviderError::Request(format!("node {node} belongs to no workload of pool {pool}"))
            })?;
        let pods = Api::<Pod>::namespaced(self.client.clone(), &self.namespace);
        // Cheapest to delete, so lowering the count removes this pod and no busy one.
        let cheapest = json!({ "metadata": { "annotations": {
            "controller.kubernetes.io/pod-deletion-cost": "-1000" } } });
        match pods
            .patch(node, &PatchParams::default(), &Patch::Merge(&cheapest))
            .await
        {
            Ok(_) => {}
            // Gone already (reclaimed, or an earlier release): only the count is left to lower.
            Err(e) if is_status(&e, 404) => {}
            Err(e) => return Err(explain(&format!("mark pod {node}"), &self.namespace, e)),
        }
        self.scale_by(&workload, -1).await?;
        // The controller may have deleted it already.
        match pods.delete(node, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(e) if is_status(&e, 404) => Ok(()),
            Err(e) => Err(explain(&format!("delete pod {node}"), &self.namespace, e)),
        }
    }

    async fn inventory(&self, pool: &str) -> Result<Inventory, ProviderError> {
        let mut inv = Inventory::default();
        for kind in [Kind::Spot, Kind::OnDemand] {
            let Ok(workload) = self.workload(pool, kind) else {
                continue;
            };
            let (wanted, ready) = self.replicas(&workload).await?;
            let booting = wanted.saturating_sub(ready);
            match kind {
                Kind::Spot => inv.booting_spot = booting,
                Kind::OnDemand => inv.booting_on_demand = booting,
            }
        }
        Ok(inv)
    }
}

#[cfg(test)]
mod tests;
