//! The Kubernetes provider: a pool's spot and on-demand agents are two workloads (Deployments or
//! StatefulSets running `shotfarm agent`); buying nodes raises a workload's replica count through
//! its `scale` subresource (the cluster autoscaler then brings GPU machines), giving one back
//! marks its pod cheapest to delete, lowers the count and deletes that pod. Plain HTTP with a
//! bearer token (reqwest), not kube-rs: see ARCHITECTURE.md.

use async_trait::async_trait;
use serde_json::{json, Value};

use shotfarm_actors::ports::{Inventory, NodeProvider, ProviderError};
use shotfarm_core::autoscaler::Kind;
use shotfarm_core::settings::{KubernetesSettings, PoolWorkloads};

/// Scales agent workloads over the Kubernetes API.
pub struct KubernetesProvider {
    settings: KubernetesSettings,
    token: Option<String>,
    http: reqwest::Client,
}

fn err(e: impl std::fmt::Display) -> ProviderError {
    ProviderError::Request(e.to_string())
}

impl KubernetesProvider {
    /// A provider for `settings`; reads the token file if one is named.
    pub fn new(settings: KubernetesSettings) -> Result<Self, ProviderError> {
        let token = match (&settings.token, &settings.token_file) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(path)) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| err(format!("reading token file {path}: {e}")))?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        Ok(Self {
            settings,
            token,
            http: reqwest::Client::new(),
        })
    }

    fn workloads(&self, pool: &str) -> Option<&PoolWorkloads> {
        self.settings.workloads.get(pool)
    }

    fn workload(&self, pool: &str, kind: Kind) -> Result<&str, ProviderError> {
        let w = self
            .workloads(pool)
            .map(|w| match kind {
                Kind::Spot => w.spot.as_str(),
                Kind::OnDemand => w.on_demand.as_str(),
            })
            .filter(|w| !w.is_empty());
        w.ok_or_else(|| ProviderError::NoSuchPool(pool.to_owned(), kind))
    }

    /// `<api>/apis/apps/v1/namespaces/<ns>/<kind>/<name>` for `deployments/<name>`.
    fn workload_url(&self, workload: &str) -> String {
        format!(
            "{}/apis/apps/v1/namespaces/{}/{}",
            self.settings.api_url.trim_end_matches('/'),
            self.settings.namespace,
            workload
        )
    }

    fn pod_url(&self, pod: &str) -> String {
        format!(
            "{}/api/v1/namespaces/{}/pods/{}",
            self.settings.api_url.trim_end_matches('/'),
            self.settings.namespace,
            pod
        )
    }

    fn request(&self, method: reqwest::Method, url: String) -> reqwest::RequestBuilder {
        let r = self.http.request(method, url);
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    async fn send(&self, r: reqwest::RequestBuilder) -> Result<Value, ProviderError> {
        let resp = r.send().await.map_err(err)?;
        let status = resp.status();
        let body = resp.text().await.map_err(err)?;
        if !status.is_success() {
            return Err(err(format!("{status}: {body}")));
        }
        Ok(serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    async fn replicas(&self, workload: &str) -> Result<u32, ProviderError> {
        let scale = self
            .send(self.request(
                reqwest::Method::GET,
                format!("{}/scale", self.workload_url(workload)),
            ))
            .await?;
        Ok(scale["spec"]["replicas"].as_u64().unwrap_or(0) as u32)
    }

    async fn set_replicas(&self, workload: &str, replicas: u32) -> Result<(), ProviderError> {
        self.send(
            self.request(
                reqwest::Method::PATCH,
                format!("{}/scale", self.workload_url(workload)),
            )
            .header("content-type", "application/merge-patch+json")
            .body(json!({ "spec": { "replicas": replicas } }).to_string()),
        )
        .await
        .map(|_| ())
    }
}

#[async_trait]
impl NodeProvider for KubernetesProvider {
    async fn add(&self, pool: &str, kind: Kind, nodes: u32) -> Result<u32, ProviderError> {
        let workload = self.workload(pool, kind)?;
        let now = self.replicas(workload).await?;
        self.set_replicas(workload, now + nodes).await?;
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
            .filter(|w| {
                let name = w.rsplit('/').next().unwrap_or(w);
                !name.is_empty() && node.starts_with(&format!("{name}-"))
            })
            .max_by_key(|w| w.len())
            .ok_or_else(|| err(format!("node {node} belongs to no workload of pool {pool}")))?;
        // Cheapest to delete, so lowering the count removes this pod and no busy one.
        self.send(
            self.request(reqwest::Method::PATCH, self.pod_url(node))
                .header("content-type", "application/merge-patch+json")
                .body(
                    json!({ "metadata": { "annotations": {
                        "controller.kubernetes.io/pod-deletion-cost": "-1000" } } })
                    .to_string(),
                ),
        )
        .await?;
        let now = self.replicas(workload).await?;
        self.set_replicas(workload, now.saturating_sub(1)).await?;
        // The controller may have deleted it already.
        match self
            .send(self.request(reqwest::Method::DELETE, self.pod_url(node)))
            .await
        {
            Err(ProviderError::Request(e)) if e.starts_with("404") => Ok(()),
            other => other.map(|_| ()),
        }
    }

    async fn inventory(&self, pool: &str) -> Result<Inventory, ProviderError> {
        let mut inv = Inventory::default();
        for kind in [Kind::Spot, Kind::OnDemand] {
            let Ok(workload) = self.workload(pool, kind) else {
                continue;
            };
            let w = self
                .send(self.request(reqwest::Method::GET, self.workload_url(workload)))
                .await?;
            let wanted = w["spec"]["replicas"].as_u64().unwrap_or(0) as u32;
            let ready = w["status"]["readyReplicas"].as_u64().unwrap_or(0) as u32;
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
