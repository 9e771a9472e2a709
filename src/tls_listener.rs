//! TLS on the device-facing listener, with rustls. The certificate chain and private key come
//! from PEM files (RSA, ECDSA or Ed25519 keys in PKCS#8, PKCS#1 or SEC1 form);
//! [`TlsListener::reload`] reads them again, so a renewed certificate needs no restart:
//! connections already open keep the certificate they shook hands with, new handshakes get
//! the new one. A reload that fails keeps the certificate in use.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

/// Where the listener's certificate chain and key live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificates: the server's first, then any intermediates.
    pub cert: PathBuf,
    /// The PEM private key of the first certificate.
    pub key: PathBuf,
}

/// Why the certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS certificate file {0}: {1}")]
    Certificate(PathBuf, String),
    #[error("{0} holds no PEM certificate")]
    NoCertificate(PathBuf),
    #[error("cannot read a PEM private key (PKCS#8, PKCS#1 or SEC1) from {0}: {1}")]
    Key(PathBuf, String),
    #[error("the private key in {key} does not fit the certificate in {cert}: {reason}")]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
    #[error("cannot set up TLS: {0}")]
    Setup(String),
}

/// The certificate new handshakes get; swapped by a reload.
#[derive(Debug)]
struct CurrentCertificate(RwLock<Arc<CertifiedKey>>);

impl CurrentCertificate {
    fn get(&self) -> Arc<CertifiedKey> {
        match self.0.read() {
            Ok(current) => current.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set(&self, next: Arc<CertifiedKey>) {
        match self.0.write() {
            Ok(mut current) => *current = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
    }
}

impl ResolvesServerCert for CurrentCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }
}

/// The listener's TLS settings and the certificate it serves.
pub struct TlsListener {
    files: TlsFiles,
    current: Arc<CurrentCertificate>,
    acceptor: TlsAcceptor,
}

fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

fn load(files: &TlsFiles) -> Result<Arc<CertifiedKey>, TlsError> {
    let cert_error =
        |e: rustls::pki_types::pem::Error| TlsError::Certificate(files.cert.clone(), e.to_string());
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .map_err(cert_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(cert_error)?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(files.cert.clone()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| TlsError::Key(files.key.clone(), e.to_string()))?;
    let certified =
        CertifiedKey::from_der(chain, key, &provider()).map_err(|e| TlsError::Mismatch {
            cert: files.cert.clone(),
            key: files.key.clone(),
            reason: e.to_string(),
        })?;
    Ok(Arc::new(certified))
}

impl TlsListener {
    /// Reads the files and prepares the acceptor (HTTP/1.1 over TLS 1.2 or 1.3).
    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        let current = Arc::new(CurrentCertificate(RwLock::new(load(&files)?)));
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Setup(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsListener {
            files,
            current,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    pub fn acceptor(&self) -> TlsAcceptor {
        self.acceptor.clone()
    }

    pub fn certificate_file(&self) -> &Path {
        &self.files.cert
    }

    /// Reads the files again and serves the new certificate to new handshakes; on error the
    /// current certificate stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        self.current.set(load(&self.files)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn self_signed(key: &rcgen::KeyPair) -> String {
        rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(key)
            .unwrap()
            .pem()
    }

    fn ecdsa() -> rcgen::KeyPair {
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap()
    }

    /// The RSA test key (ring signs with RSA keys but cannot make them).
    fn fixture(name: &str) -> String {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        std::fs::read_to_string(dir.join(name)).unwrap()
    }

    #[test]
    fn ecdsa_and_rsa_keys_load_and_reload_swaps_the_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let key = ecdsa();
        let files = TlsFiles {
            cert: write(dir.path(), "cert.pem", &self_signed(&key)),
            key: write(dir.path(), "key.pem", &key.serialize_pem()),
        };
        let tls = TlsListener::load(files.clone()).unwrap();
        let first = tls.current.get().cert[0].clone();

        // An RSA key, given in PKCS#1 form.
        let rsa = rcgen::KeyPair::from_pem(&fixture("rsa-2048.pk8.pem")).unwrap();
        write(dir.path(), "cert.pem", &self_signed(&rsa));
        write(dir.path(), "key.pem", &fixture("rsa-2048.pkcs1.pem"));
        tls.reload().unwrap();
        assert_ne!(tls.current.get().cert[0], first);
    }

    #[test]
    fn a_bad_reload_keeps_the_certificate_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let key = ecdsa();
        let files = TlsFiles {
            cert: write(dir.path(), "cert.pem", &self_signed(&key)),
            key: write(dir.path(), "key.pem", &key.serialize_pem()),
        };
        let tls = TlsListener::load(files).unwrap();
        let serving = tls.current.get().cert[0].clone();

        // A key that belongs to another certificate.
        write(dir.path(), "key.pem", &ecdsa().serialize_pem());
        assert!(matches!(tls.reload(), Err(TlsError::Mismatch { .. })));
        write(dir.path(), "cert.pem", "not a certificate");
        assert!(matches!(tls.reload(), Err(TlsError::NoCertificate(_))));
        assert_eq!(tls.current.get().cert[0], serving);
    }
}
