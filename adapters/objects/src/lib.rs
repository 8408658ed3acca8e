//! The artifact store on the `object_store` crate: one adapter for a local directory
//! (`file:///path`), S3 and S3-compatible servers (`s3://bucket/prefix`), Google Cloud Storage
//! (`gs://`) and Azure Blob Storage (`az://`), chosen by `artifacts.url` ([`open`]). Cloud
//! credentials come from the environment as each SDK reads them; the stores that sign URLs (S3,
//! GCS, Azure) let downloads and agents' uploads bypass the server.
//!
//! Every call is bounded by `artifacts.timeout`: a store that is down or slow answers
//! `Unavailable` (a download's 503) instead of holding a request.

mod open;
#[cfg(feature = "testkit")]
pub mod testkit;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{
    Attribute, Attributes, GetOptions, GetRange, ObjectStore, PutMultipartOptions, PutOptions,
    PutPayload, WriteMultipart,
};
use tracing::warn;

use shotfarm_actors::ports::{
    check_key, keys, Access, ArtifactError, ArtifactStore, ByteRange, ByteStream, Object,
    ObjectMeta,
};

pub use open::{open, ObjectsError};

/// How many parts of one streamed upload are in flight at once.
const UPLOAD_CONCURRENCY: usize = 4;

/// Artifacts in an `object_store` store, under an optional key prefix.
pub struct ObjectArtifacts {
    store: Arc<dyn ObjectStore>,
    /// Set for stores that presign URLs.
    signer: Option<Arc<dyn Signer>>,
    /// `""` or `"some/prefix/"`: where this farm's keys start in the bucket.
    prefix: String,
    /// For logs: the configured URL.
    url: String,
    timeout: Duration,
    /// Whether the store keeps a content type with each object (a directory does not: the
    /// type comes from the key's extension).
    keeps_types: bool,
}

impl ObjectArtifacts {
    fn path(&self, key: &str) -> Result<Path, ArtifactError> {
        check_key(key)?;
        Path::parse(format!("{}{key}", self.prefix)).map_err(|_| ArtifactError::BadKey(key.into()))
    }

    fn key_of(&self, path: &Path) -> String {
        let full = path.as_ref();
        full.strip_prefix(&self.prefix).unwrap_or(full).to_owned()
    }

    fn attributes(&self, content_type: &str) -> Attributes {
        let mut attributes = Attributes::new();
        if self.keeps_types {
            attributes.insert(Attribute::ContentType, content_type.to_owned().into());
        }
        attributes
    }

    /// `fut`'s own result if it answers within the configured timeout, else `Unavailable`.
    async fn within<T>(
        &self,
        what: &str,
        fut: impl std::future::Future<Output = object_store::Result<T>>,
    ) -> Result<object_store::Result<T>, ArtifactError> {
        tokio::time::timeout(self.timeout, fut).await.map_err(|_| {
            ArtifactError::Unavailable(format!(
                "{what}: no answer from {} within {:?}",
                self.url, self.timeout
            ))
        })
    }

    /// `fut` within the configured timeout, its error mapped.
    async fn timed<T>(
        &self,
        what: &str,
        fut: impl std::future::Future<Output = object_store::Result<T>>,
    ) -> Result<T, ArtifactError> {
        self.within(what, fut)
            .await?
            .map_err(|e| map_error(what, e))
    }
}

/// Network and HTTP failures come as `Generic` from the cloud stores: the store is unavailable
/// (down, unreachable, refusing); anything else is an error of the request.
fn map_error(what: &str, e: object_store::Error) -> ArtifactError {
    match e {
        object_store::Error::Generic { .. } => ArtifactError::Unavailable(format!("{what}: {e}")),
        other => ArtifactError::Io(format!("{what}: {other}")),
    }
}

fn is_not_found(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. })
}

#[async_trait::async_trait]
impl ArtifactStore for ObjectArtifacts {
    async fn put(&self, key: &str, content_type: &str, bytes: Bytes) -> Result<(), ArtifactError> {
        let path = self.path(key)?;
        let opts = PutOptions {
            attributes: self.attributes(content_type),
            ..PutOptions::default()
        };
        // One request (S3 PUT, a staged file renamed): the object appears whole or not at all.
        self.timed(
            "put",
            self.store.put_opts(&path, PutPayload::from(bytes), opts),
        )
        .await
        .map(|_| ())
    }

    async fn put_stream(
        &self,
        key: &str,
        content_type: &str,
        mut body: ByteStream,
        limit: u64,
    ) -> Result<u64, ArtifactError> {
        let path = self.path(key)?;
        let opts = PutMultipartOptions {
            attributes: self.attributes(content_type),
            ..PutMultipartOptions::default()
        };
        let upload = self
            .timed("upload", self.store.put_multipart_opts(&path, opts))
            .await?;
        // Parts are invisible until `finish`; an abort (or a drop) discards them: a directory
        // removes its staged file, S3 its multipart upload (a crash's leftovers are a bucket
        // lifecycle rule's to reclaim, docs/OPERATIONS.md).
        let mut writer = WriteMultipart::new(upload);
        let mut written = 0u64;
        let failed = loop {
            let chunk = match body.next().await {
                None => break None,
                Some(Ok(chunk)) => chunk,
                Some(Err(e)) => break Some(e),
            };
            written += chunk.len() as u64;
            if written > limit {
                break Some(ArtifactError::TooLarge { limit });
            }
            if let Err(e) = self
                .timed("upload", writer.wait_for_capacity(UPLOAD_CONCURRENCY))
                .await
            {
                break Some(e);
            }
            writer.put(chunk);
        };
        if let Some(e) = failed {
            if let Err(abort) = writer.abort().await {
                warn!(key, error = %abort, "cannot abort an upload");
            }
            return Err(e);
        }
        self.timed("upload", writer.finish()).await?;
        Ok(written)
    }

    async fn get(
        &self,
        key: &str,
        range: Option<ByteRange>,
    ) -> Result<Option<Object>, ArtifactError> {
        let path = self.path(key)?;
        let range = match range {
            None => None,
            Some(range) => {
                // Resolved against the size first: stores disagree on ranges past the end.
                let head = match self.within("head", self.store.head(&path)).await? {
                    Err(e) if is_not_found(&e) => return Ok(None),
                    r => r.map_err(|e| map_error("head", e))?,
                };
                Some(GetRange::Bounded(range.resolve(head.size)?))
            }
        };
        let opts = GetOptions {
            range,
            ..GetOptions::default()
        };
        let got = match self.within("get", self.store.get_opts(&path, opts)).await? {
            Err(e) if is_not_found(&e) => return Ok(None),
            r => r.map_err(|e| map_error("get", e))?,
        };
        let content_type = got
            .attributes
            .get(&Attribute::ContentType)
            .map(|v| v.to_string())
            .unwrap_or_else(|| keys::content_type_of(key).to_owned());
        let (size, within) = (got.meta.size, got.range.clone());
        let body = got.into_stream().map_err(|e| map_error("read", e)).boxed();
        Ok(Some(Object {
            content_type,
            size,
            range: within,
            body,
        }))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, ArtifactError> {
        // Stores list by directory: list the one the prefix is in, keep what starts with it.
        let dir = match prefix.rfind('/') {
            Some(i) => &prefix[..i],
            None => "",
        };
        let full_dir = format!("{}{dir}", self.prefix);
        let dir_path = Path::parse(full_dir.trim_end_matches('/'))
            .map_err(|_| ArtifactError::BadKey(prefix.into()))?;
        let listing = self
            .store
            .list(Some(&dir_path))
            .try_filter_map(|m| {
                let key = self.key_of(&m.location);
                let keep = key.starts_with(prefix);
                futures_util::future::ready(Ok(keep.then_some(ObjectMeta {
                    key,
                    size: m.size,
                    modified: m.last_modified,
                })))
            })
            .try_collect::<Vec<_>>();
        match self.within("list", listing).await? {
            Err(e) if is_not_found(&e) => Ok(Vec::new()),
            r => r.map_err(|e| map_error("list", e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), ArtifactError> {
        let path = self.path(key)?;
        match self.within("delete", self.store.delete(&path)).await? {
            Err(e) if is_not_found(&e) => Ok(()),
            r => r.map_err(|e| map_error("delete", e)),
        }
    }

    async fn presign(
        &self,
        access: Access,
        key: &str,
        ttl: Duration,
    ) -> Result<Option<String>, ArtifactError> {
        let Some(signer) = &self.signer else {
            return Ok(None);
        };
        let path = self.path(key)?;
        let method = match access {
            Access::Get => http::Method::GET,
            Access::Put => http::Method::PUT,
            Access::Delete => http::Method::DELETE,
        };
        match self
            .timed("sign", signer.signed_url(method, &path, ttl))
            .await
        {
            Ok(url) => Ok(Some(url.to_string())),
            // A store that cannot sign with the credentials it has (GCS without a service
            // account key) still serves through the server.
            Err(e) => {
                warn!(key, error = %e, "cannot presign; serving through the server");
                Ok(None)
            }
        }
    }

    fn describe(&self) -> String {
        self.url.clone()
    }
}

#[cfg(test)]
mod tests;
