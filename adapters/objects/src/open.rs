//! From `artifacts.url` to a store: the scheme picks the backend, the environment gives the
//! credentials (each SDK's own variables: `AWS_*`, `GOOGLE_*`, `AZURE_*`), and
//! `artifacts.options` adds or overrides `object_store`'s named options.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::signer::Signer;
use object_store::{ObjectStore, RetryConfig};

use crate::ObjectArtifacts;
use shotfarm_core::settings::ArtifactSettings;

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ObjectsError {
    #[error("artifacts.url {url:?}: {why}")]
    Config { url: String, why: String },
}

/// The store `settings.url` names (`file://` on `data_dir` when unset).
pub fn open(settings: &ArtifactSettings, data_dir: &Path) -> Result<ObjectArtifacts, ObjectsError> {
    let raw = settings.url_or(data_dir);
    let bad = |why: String| ObjectsError::Config {
        url: raw.clone(),
        why,
    };
    let url = url::Url::parse(&raw).map_err(|e| bad(e.to_string()))?;
    let prefix = match url.path().trim_matches('/') {
        "" => String::new(),
        p => format!("{p}/"),
    };
    // Cloud clients time out a little before the farm's own bound, so a slow store's error
    // names the request rather than the bound.
    let client_timeout = humantime::format_duration(settings.timeout).to_string();
    let retry = RetryConfig {
        max_retries: 2,
        retry_timeout: settings.timeout,
        ..RetryConfig::default()
    };
    let Backend {
        store,
        signer,
        keeps_types,
        prefix,
    } = match url.scheme() {
        "file" => {
            let dir = url
                .to_file_path()
                .map_err(|_| bad("not a local path".into()))?;
            std::fs::create_dir_all(&dir).map_err(|e| bad(format!("{}: {e}", dir.display())))?;
            let local = LocalFileSystem::new_with_prefix(&dir).map_err(|e| bad(e.to_string()))?;
            // The whole path is the root: keys start right under it.
            Backend::new(Arc::new(local), None, false, String::new())
        }
        "memory" => Backend::new(Arc::new(InMemory::new()), None, true, prefix),
        "s3" | "s3a" => {
            let mut b = AmazonS3Builder::from_env()
                .with_url(raw.as_str())
                .with_retry(retry);
            for (k, v) in defaults(&client_timeout).chain(options(settings)) {
                b = b.with_config(k.parse().map_err(|e| bad(format!("{e}")))?, v);
            }
            let s3 = Arc::new(b.build().map_err(|e| bad(e.to_string()))?);
            Backend::new(s3.clone(), Some(s3), true, prefix)
        }
        "gs" => {
            let mut b = GoogleCloudStorageBuilder::from_env()
                .with_url(raw.as_str())
                .with_retry(retry);
            for (k, v) in defaults(&client_timeout).chain(options(settings)) {
                b = b.with_config(k.parse().map_err(|e| bad(format!("{e}")))?, v);
            }
            let gcs = Arc::new(b.build().map_err(|e| bad(e.to_string()))?);
            Backend::new(gcs.clone(), Some(gcs), true, prefix)
        }
        "az" | "azure" | "abfs" | "abfss" => {
            let mut b = MicrosoftAzureBuilder::from_env()
                .with_url(raw.as_str())
                .with_retry(retry);
            for (k, v) in defaults(&client_timeout).chain(options(settings)) {
                b = b.with_config(k.parse().map_err(|e| bad(format!("{e}")))?, v);
            }
            let azure = Arc::new(b.build().map_err(|e| bad(e.to_string()))?);
            Backend::new(azure.clone(), Some(azure), true, prefix)
        }
        other => {
            return Err(bad(format!(
                "scheme {other:?}: expected file://, s3://, gs:// or az://"
            )))
        }
    };
    Ok(ObjectArtifacts {
        store,
        signer,
        prefix,
        url: without_secrets(&url),
        timeout: settings.timeout.max(Duration::from_millis(1)),
        keeps_types,
    })
}

/// What a scheme opens: the store, its signer if it presigns, whether it keeps content types,
/// and the key prefix inside it.
struct Backend {
    store: Arc<dyn ObjectStore>,
    signer: Option<Arc<dyn Signer>>,
    keeps_types: bool,
    prefix: String,
}

impl Backend {
    fn new(
        store: Arc<dyn ObjectStore>,
        signer: Option<Arc<dyn Signer>>,
        keeps_types: bool,
        prefix: String,
    ) -> Self {
        Self {
            store,
            signer,
            keeps_types,
            prefix,
        }
    }
}

/// The client options every cloud store gets unless `artifacts.options` says otherwise.
fn defaults(timeout: &str) -> impl Iterator<Item = (String, String)> {
    [
        ("timeout".to_owned(), timeout.to_owned()),
        ("connect_timeout".to_owned(), timeout.to_owned()),
    ]
    .into_iter()
}

fn options(settings: &ArtifactSettings) -> impl Iterator<Item = (String, String)> + '_ {
    settings.options.iter().map(|(k, v)| (k.clone(), v.clone()))
}

/// The URL as logs may show it (a user or password in it is dropped).
fn without_secrets(url: &url::Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}
