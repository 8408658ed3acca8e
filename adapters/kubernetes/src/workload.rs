//! A workload as the configuration names it: `deployments/<name>` or `statefulsets/<name>`.

/// An agent workload the provider scales.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Workload {
    Deployment(String),
    StatefulSet(String),
}

impl Workload {
    /// `deployments/<name>` or `statefulsets/<name>`; anything else says what it wants.
    pub fn parse(named: &str) -> Result<Self, String> {
        let (kind, name) = named.split_once('/').ok_or_else(|| {
            format!("workload {named:?}: expected deployments/<name> or statefulsets/<name>")
        })?;
        if name.is_empty() || name.contains('/') {
            return Err(format!("workload {named:?}: the name is empty or has a /"));
        }
        match kind {
            "deployments" => Ok(Self::Deployment(name.to_owned())),
            "statefulsets" => Ok(Self::StatefulSet(name.to_owned())),
            other => Err(format!(
                "workload {named:?}: {other:?} is neither deployments nor statefulsets"
            )),
        }
    }

    /// The workload's name, which prefixes its pods' names.
    pub fn name(&self) -> &str {
        match self {
            Self::Deployment(n) | Self::StatefulSet(n) => n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_are_deployments_or_statefulsets() {
        assert_eq!(
            Workload::parse("deployments/agent-video-spot"),
            Ok(Workload::Deployment("agent-video-spot".into()))
        );
        assert_eq!(
            Workload::parse("statefulsets/agents").map(|w| w.name().to_owned()),
            Ok("agents".into())
        );
        for bad in ["agent", "daemonsets/x", "deployments/", "deployments/a/b"] {
            assert!(Workload::parse(bad).is_err(), "{bad}");
        }
    }
}
