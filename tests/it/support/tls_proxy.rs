//! A TLS-terminating proxy in front of a test server, as an Ingress is in front of a real one:
//! a private CA (written as PEM for `--tls-ca`) signs a certificate for `localhost`, and every
//! connection to the proxy is decrypted and piped to the server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// A running proxy: its `https://localhost:PORT` URL and the CA file that makes it trusted.
pub struct TlsProxy {
    pub url: String,
    pub ca_pem: PathBuf,
}

impl Drop for TlsProxy {
    /// The CA file's folder goes with the proxy (the proxy's thread stops with the process).
    fn drop(&mut self) {
        if let Some(dir) = self.ca_pem.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl TlsProxy {
    /// Starts a proxy to `backend` (`host:port`) on a thread of its own; it lives as long as the
    /// test process.
    pub fn start(backend: &str) -> Self {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
        let leaf_key = KeyPair::generate().expect("leaf key");
        let leaf = CertificateParams::new(vec!["localhost".to_owned()])
            .expect("leaf params")
            .signed_by(&leaf_key, &ca, &ca_key)
            .expect("leaf certificate");

        let dir = super::scratch_dir();
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let ca_pem = dir.join("proxy-ca.pem");
        std::fs::write(&ca_pem, ca.pem()).expect("write the CA");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .expect("server certificate");
        let acceptor = TlsAcceptor::from(Arc::new(config));

        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("proxy address").port();
        let backend: SocketAddr = backend.parse().expect("backend address");
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("proxy runtime");
            rt.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("tokio listener");
                while let Ok((client, _)) = listener.accept().await {
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        // A client that does not trust the CA fails its handshake here: nothing
                        // is proxied.
                        let Ok(mut client) = acceptor.accept(client).await else {
                            return;
                        };
                        let Ok(mut server) = TcpStream::connect(backend).await else {
                            return;
                        };
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    });
                }
            });
        });
        Self {
            url: format!("https://localhost:{port}"),
            ca_pem,
        }
    }
}
