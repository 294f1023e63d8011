//! Loading a certificate chain and private key (PEM) into a rustls server configuration.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// A certificate or key that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file.
    #[error("certificate {0}: {1}")]
    Certificate(String, String),
    /// The key file.
    #[error("private key {0}: {1}")]
    Key(String, String),
    /// The pair.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// A TLS server configuration (TLS 1.2 and 1.3, ring) from PEM files: the certificate
/// chain, leaf first, and its private key (PKCS#8, PKCS#1 or SEC1).
pub fn load_tls(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| TlsError::Certificate(cert.display().to_string(), e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Certificate(cert.display().to_string(), e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::Certificate(
            cert.display().to_string(),
            "no CERTIFICATE block".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| TlsError::Key(key.display().to_string(), e.to_string()))?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
