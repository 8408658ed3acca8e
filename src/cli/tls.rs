//! The agent's TLS client: rustls on the ring provider, trusting the Mozilla roots (webpki-roots,
//! so a slim agent image needs no CA bundle) plus, for a private CA, the PEM certificates of
//! `--tls-ca`. One configuration serves both the websocket and enrollment.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

/// A client configuration trusting the public roots and every certificate in `extra_ca`.
pub fn client_config(extra_ca: Option<&Path>) -> anyhow::Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_ca {
        let mut added = 0;
        for cert in CertificateDer::pem_file_iter(path)
            .with_context(|| format!("--tls-ca {}: cannot read it", path.display()))?
        {
            let cert = cert.with_context(|| {
                format!("--tls-ca {}: not a PEM certificate file", path.display())
            })?;
            roots.add(cert).with_context(|| {
                format!("--tls-ca {}: a certificate is invalid", path.display())
            })?;
            added += 1;
        }
        if added == 0 {
            bail!("--tls-ca {}: holds no PEM certificate", path.display());
        }
    }
    // The provider is named, not taken from the process default: with one provider built in
    // there is no ambiguity, and no global state to install first.
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .context("rustls: no TLS version is available")?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_certificates_is_refused_by_name() {
        let dir = std::env::temp_dir().join(format!("shotfarm-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = client_config(Some(&empty)).unwrap_err().to_string();
        assert!(
            err.contains("--tls-ca") && err.contains("empty.pem"),
            "{err}"
        );
        let missing = client_config(Some(&dir.join("missing.pem")))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("cannot read"), "{missing}");
        assert!(client_config(None).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
