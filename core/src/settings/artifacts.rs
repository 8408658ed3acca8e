//! `[artifacts]`: where checkpoints, clips and videos are kept (a directory or an object store),
//! how long, and how downloads and agents reach them. Every key optional.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The artifact store's settings.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ArtifactSettings {
    /// `file:///path`, `s3://bucket/prefix`, `gs://bucket/prefix` or `az://container/prefix`
    /// (`SHOTFARM_ARTIFACTS__URL`). Unset: `file://` on `executor.data_dir`. Cloud credentials
    /// come from the environment as each SDK reads them (`AWS_*`, `GOOGLE_*`, `AZURE_*`).
    pub url: Option<String>,
    /// Extra store options, as `object_store` names them (`aws_endpoint`, `aws_allow_http`,
    /// `google_service_account`, ...), over what the environment says. Written as strings;
    /// an override that reads as a number or a boolean is taken as its text.
    #[serde(deserialize_with = "scalars_as_text")]
    pub options: BTreeMap<String, String>,
    /// Clips and videos older than this are deleted by the sweeper.
    #[serde(with = "super::humantime_serde_compat")]
    pub retention: Duration,
    /// Checkpoints untouched this long belong to no running shot (a finished shot's are
    /// deleted when it finishes; this catches the rest) and are deleted by the sweeper.
    #[serde(with = "super::humantime_serde_compat")]
    pub checkpoint_max_age: Duration,
    /// How often each server sweeps (deletes are idempotent, so servers may overlap).
    #[serde(with = "super::humantime_serde_compat")]
    pub sweep_period: Duration,
    /// How long a presigned store URL (or the server's own signed upload URL) is valid.
    #[serde(with = "super::humantime_serde_compat")]
    pub presign_ttl: Duration,
    /// A store call that takes longer fails as unavailable (a download answers 503).
    #[serde(with = "super::humantime_serde_compat")]
    pub timeout: Duration,
    /// Downloads redirect to the store's presigned URL where it has them (S3, GCS, Azure);
    /// `false` streams every download through the server.
    pub redirect: bool,
    /// The largest upload the server's own upload route takes.
    pub max_upload_bytes: u64,
}

impl Default for ArtifactSettings {
    fn default() -> Self {
        Self {
            url: None,
            options: BTreeMap::new(),
            retention: Duration::from_secs(30 * 24 * 3600),
            checkpoint_max_age: Duration::from_secs(24 * 3600),
            sweep_period: Duration::from_secs(3600),
            presign_ttl: Duration::from_secs(300),
            timeout: Duration::from_secs(10),
            redirect: true,
            max_upload_bytes: 1 << 30,
        }
    }
}

/// A table of scalars, each as its text (`true`, `9000`, `"http://..."`).
fn scalars_as_text<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Text(String),
        Flag(bool),
        Int(i64),
        Float(f64),
    }
    let table = BTreeMap::<String, Scalar>::deserialize(d)?;
    Ok(table
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                Scalar::Text(t) => t,
                Scalar::Flag(b) => b.to_string(),
                Scalar::Int(i) => i.to_string(),
                Scalar::Float(f) => f.to_string(),
            };
            (k, text)
        })
        .collect())
}

impl ArtifactSettings {
    /// The store's URL: `url`, else `file://` on `data_dir` (made absolute).
    pub fn url_or(&self, data_dir: &Path) -> String {
        if let Some(url) = &self.url {
            return url.clone();
        }
        let dir = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
        format!("file://{}", dir.display())
    }
}
