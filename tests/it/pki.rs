//! A throwaway certificate authority for the TLS tests: a root, an intermediate, and server
//! certificates for `localhost` / 127.0.0.1 issued by the intermediate.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};

pub struct Pki {
    root: CertifiedIssuer<'static, KeyPair>,
    intermediate: CertifiedIssuer<'static, KeyPair>,
}

/// A server certificate chain (server certificate, then the intermediate) and its key.
pub struct ServerCert {
    pub chain_pem: String,
    pub key_pem: String,
    /// DER of the server certificate, to recognise it in a handshake.
    pub der: Vec<u8>,
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

impl Pki {
    pub fn new(name: &str) -> Self {
        let root = CertifiedIssuer::self_signed(
            ca_params(&format!("{name} root")),
            KeyPair::generate().unwrap(),
        )
        .unwrap();
        let intermediate = CertifiedIssuer::signed_by(
            ca_params(&format!("{name} intermediate")),
            KeyPair::generate().unwrap(),
            &root,
        )
        .unwrap();
        Pki { root, intermediate }
    }

    pub fn root_pem(&self) -> String {
        self.root.pem()
    }

    /// A server certificate for `localhost` and 127.0.0.1 with the given key.
    pub fn server_cert(&self, key: KeyPair) -> ServerCert {
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params
            .subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        params
            .distinguished_name
            .push(DnType::CommonName, "cogsync test server");
        let cert = params.signed_by(&key, &self.intermediate).unwrap();
        ServerCert {
            chain_pem: format!("{}{}", cert.pem(), self.intermediate.pem()),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }
}

/// The RSA test key of `tests/fixtures` (ring signs with RSA but cannot make RSA keys).
pub fn rsa_key() -> KeyPair {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/rsa-2048.pk8.pem"
    );
    KeyPair::from_pem(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The same RSA key in PKCS#1 form (`BEGIN RSA PRIVATE KEY`), as older tools write it.
pub fn rsa_key_pkcs1_pem() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/rsa-2048.pkcs1.pem"
    );
    std::fs::read_to_string(path).unwrap()
}
