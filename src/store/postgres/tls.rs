//! TLS to PostgreSQL, configured as libpq configures it: `sslmode` (`disable`, `prefer` —
//! the default —, `require`, `verify-ca`, `verify-full`) and `sslrootcert` in the connection
//! string, over rustls.
//!
//! - `prefer` tries TLS and falls back to plain text; `require` insists on TLS. Neither checks
//!   the certificate, unless `sslrootcert` names a file: then, as with libpq, `require` checks
//!   it like `verify-ca`.
//! - `verify-ca` checks that the certificate chains to a trusted root; `verify-full` also that
//!   it names the host connected to.
//! - Trusted roots: the PEM file `sslrootcert` names, else (and with `sslrootcert=system`) the
//!   system's roots. `sslrootcert=system` asks for `verify-full`, as in libpq 16.
//!
//! tokio-postgres knows only `disable`/`prefer`/`require`, so this module takes the TLS
//! options out of the string, hands it the rest, and does the checking in its verifier.

use std::path::PathBuf;
use std::sync::Arc;

use percent_encoding::percent_decode_str;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<Self, String> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            "allow" => {
                return Err(
                    "sslmode=allow (plain text first, TLS only if the server insists) is not \
                     supported: use prefer, require, verify-ca or verify-full"
                        .into(),
                )
            }
            other => {
                return Err(format!(
                "unknown sslmode '{other}': use disable, prefer, require, verify-ca or verify-full"
            ))
            }
        })
    }

    fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// What tokio-postgres is told: whether TLS is off, optional or required.
    fn negotiation(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => "require",
        }
    }
}

/// Where trusted roots come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    System,
    File(PathBuf),
}

/// The TLS options of one connection string, decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    pub mode: SslMode,
    /// Which roots the certificate is checked against; None: not checked.
    pub verify_with: Option<Roots>,
}

impl TlsOptions {
    fn decide(mode: Option<SslMode>, root: Option<&str>) -> Result<Self, String> {
        let roots = match root {
            None | Some("") => None,
            Some("system") => Some(Roots::System),
            Some(path) => Some(Roots::File(PathBuf::from(path))),
        };
        let mode = match (mode, &roots) {
            (None, Some(Roots::System)) => SslMode::VerifyFull,
            (Some(m), Some(Roots::System)) if m != SslMode::VerifyFull => {
                return Err(format!(
                    "sslrootcert=system needs sslmode=verify-full, not sslmode={}",
                    m.name()
                ))
            }
            (m, _) => m.unwrap_or(SslMode::Prefer),
        };
        let verify_with = match mode {
            SslMode::Disable | SslMode::Prefer => None,
            // libpq: with a root file, require checks the chain like verify-ca.
            SslMode::Require => roots,
            SslMode::VerifyCa | SslMode::VerifyFull => Some(roots.unwrap_or(Roots::System)),
        };
        Ok(TlsOptions { mode, verify_with })
    }

    /// Describes the setting for error messages.
    pub fn describe(&self) -> String {
        match &self.verify_with {
            None => format!("sslmode={}", self.mode.name()),
            Some(Roots::System) => format!("sslmode={}, system roots", self.mode.name()),
            Some(Roots::File(path)) => format!(
                "sslmode={}, sslrootcert={}",
                self.mode.name(),
                path.display()
            ),
        }
    }

    /// The tokio-postgres connector that applies these options.
    pub fn connector(&self) -> Result<MakeRustlsConnect, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier: Arc<dyn ServerCertVerifier> = match &self.verify_with {
            None => Arc::new(Unchecked(provider.clone())),
            Some(roots) => {
                let store = load_roots(roots)?;
                let inner =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
                        .build()
                        .map_err(|e| format!("cannot use the trusted roots: {e}"))?;
                Arc::new(Checked {
                    inner,
                    check_name: self.mode != SslMode::VerifyCa && self.mode != SslMode::Require,
                    setting: self.describe(),
                })
            }
        };
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }
}

fn load_roots(roots: &Roots) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match roots {
        Roots::File(path) => {
            let read = |e: rustls::pki_types::pem::Error| {
                format!("cannot read sslrootcert {}: {e}", path.display())
            };
            for cert in CertificateDer::pem_file_iter(path).map_err(read)? {
                store
                    .add(cert.map_err(read)?)
                    .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
            }
            if store.is_empty() {
                return Err(format!(
                    "sslrootcert {} holds no certificate",
                    path.display()
                ));
            }
        }
        Roots::System => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                return Err(
                    "no system root certificates found to check the database's certificate \
                     (install the CA certificates, or give sslrootcert=FILE)"
                        .into(),
                );
            }
        }
    }
    Ok(store)
}

/// Splits the TLS options out of a connection string (URL or `key=value` form): the string
/// tokio-postgres is given (with `sslmode` reduced to what it knows) and the options decided.
pub fn split(conninfo: &str) -> Result<(String, TlsOptions), String> {
    let (rest, mode, root) = if let Some((base, query)) = url_query(conninfo) {
        let mut kept = Vec::new();
        let (mut mode, mut root) = (None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode_str(value).decode_utf8_lossy().into_owned();
            match key {
                "sslmode" => mode = Some(value),
                "sslrootcert" => root = Some(value),
                _ => {
                    refuse_unsupported(key)?;
                    kept.push(pair.to_owned());
                }
            }
        }
        (Rebuild::Url { base, kept }, mode, root)
    } else {
        let mut kept = Vec::new();
        let (mut mode, mut root) = (None, None);
        for (key, value, raw) in key_values(conninfo)? {
            match key.as_str() {
                "sslmode" => mode = Some(value),
                "sslrootcert" => root = Some(value),
                _ => {
                    refuse_unsupported(&key)?;
                    kept.push(raw);
                }
            }
        }
        (Rebuild::KeyValue { kept }, mode, root)
    };
    let mode = mode.as_deref().map(SslMode::parse).transpose()?;
    let options = TlsOptions::decide(mode, root.as_deref())?;
    Ok((rest.with_sslmode(options.mode.negotiation()), options))
}

fn refuse_unsupported(key: &str) -> Result<(), String> {
    match key {
        "sslcert" | "sslkey" | "sslpassword" | "sslcrl" | "sslcrldir" => Err(format!(
            "{key} is not supported: cogsync does not present client certificates or read CRLs \
             (server certificates are checked with sslmode=verify-ca/verify-full and sslrootcert)"
        )),
        _ => Ok(()),
    }
}

enum Rebuild<'a> {
    Url { base: &'a str, kept: Vec<String> },
    KeyValue { kept: Vec<String> },
}

impl Rebuild<'_> {
    fn with_sslmode(self, mode: &str) -> String {
        match self {
            Rebuild::Url { base, mut kept } => {
                kept.push(format!("sslmode={mode}"));
                format!("{base}?{}", kept.join("&"))
            }
            Rebuild::KeyValue { mut kept } => {
                kept.push(format!("sslmode={mode}"));
                kept.join(" ")
            }
        }
    }
}

/// For a `postgres://` or `postgresql://` URL: the part before `?` and the query.
fn url_query(conninfo: &str) -> Option<(&str, &str)> {
    if !(conninfo.starts_with("postgres://") || conninfo.starts_with("postgresql://")) {
        return None;
    }
    Some(conninfo.split_once('?').unwrap_or((conninfo, "")))
}

/// The `key=value` pairs of a libpq keyword/value string (values may be single-quoted, with
/// `\'` and `\\` escapes), each with its decoded value and its original text.
fn key_values(conninfo: &str) -> Result<Vec<(String, String, String)>, String> {
    let mut out = Vec::new();
    let mut chars = conninfo.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            return Ok(out);
        };
        let mut key = String::new();
        while let Some((_, c)) = chars.next_if(|(_, c)| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        if chars.next_if(|(_, c)| *c == '=').is_none() {
            return Err(format!(
                "missing '=' after '{key}' in the connection string"
            ));
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if(|(_, c)| *c == '\'').is_some() {
            loop {
                match chars.next() {
                    Some((_, '\'')) => break,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, c)) => value.push(c),
                        None => return Err("unterminated quoted value".into()),
                    },
                    Some((_, c)) => value.push(c),
                    None => return Err("unterminated quoted value".into()),
                }
            }
        } else {
            while let Some((_, c)) = chars.next_if(|(_, c)| !c.is_whitespace()) {
                value.push(c);
            }
        }
        let end = chars.peek().map_or(conninfo.len(), |&(i, _)| i);
        out.push((key, value, conninfo[start..end].trim_end().to_owned()));
    }
}

/// `prefer`/`require` without roots: any certificate, but the handshake must still prove
/// that the server holds its key.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca` / `verify-full`: the chain must lead to a trusted root; the host name is
/// checked only for `verify-full`. Refusals say which setting refused.
#[derive(Debug)]
struct Checked {
    inner: Arc<WebPkiServerVerifier>,
    check_name: bool,
    setting: String,
}

impl ServerCertVerifier for Checked {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let checked = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        match checked {
            Ok(v) => Ok(v),
            // The chain was checked before the name: only the name is wrong.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            Err(rustls::Error::InvalidCertificate(reason)) => {
                Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                    rustls::OtherError(Arc::new(Refused {
                        reason: format!("{reason:?}"),
                        setting: self.setting.clone(),
                    })),
                )))
            }
            Err(other) => Err(other),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A certificate refusal, naming the setting that refused it.
#[derive(thiserror::Error)]
#[error("the database server's certificate was refused ({reason}) under {setting}")]
struct Refused {
    reason: String,
    setting: String,
}

/// rustls shows the cause with `Debug`: make that the sentence.
impl std::fmt::Debug for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(conninfo: &str) -> (String, TlsOptions) {
        split(conninfo).unwrap()
    }

    #[test]
    fn the_default_is_prefer_without_checking() {
        let (rest, o) = options("postgres://u@h:5432/db");
        assert_eq!(rest, "postgres://u@h:5432/db?sslmode=prefer");
        assert_eq!(o.mode, SslMode::Prefer);
        assert_eq!(o.verify_with, None);
    }

    #[test]
    fn verify_modes_become_require_and_check_against_roots() {
        let (rest, o) = options(
            "postgresql://u@h/db?application_name=x&sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem",
        );
        assert_eq!(
            rest,
            "postgresql://u@h/db?application_name=x&sslmode=require"
        );
        assert_eq!(o.mode, SslMode::VerifyFull);
        assert_eq!(o.verify_with, Some(Roots::File("/etc/ca.pem".into())));
        let (_, o) = options("postgres://h/db?sslmode=verify-ca");
        assert_eq!(o.verify_with, Some(Roots::System));
    }

    #[test]
    fn require_with_a_root_file_checks_the_chain_like_libpq() {
        let (_, o) = options("postgres://h/db?sslmode=require&sslrootcert=/ca.pem");
        assert_eq!(o.mode, SslMode::Require);
        assert_eq!(o.verify_with, Some(Roots::File("/ca.pem".into())));
        let (_, o) = options("postgres://h/db?sslmode=require");
        assert_eq!(o.verify_with, None);
    }

    #[test]
    fn sslrootcert_system_means_verify_full() {
        let (_, o) = options("postgres://h/db?sslrootcert=system");
        assert_eq!(o.mode, SslMode::VerifyFull);
        assert_eq!(o.verify_with, Some(Roots::System));
        assert!(split("postgres://h/db?sslrootcert=system&sslmode=require").is_err());
    }

    #[test]
    fn keyword_value_strings_are_understood() {
        let (rest, o) =
            options("host=db.example user=app sslmode=verify-full sslrootcert='/my ca/root.pem'");
        assert_eq!(rest, "host=db.example user=app sslmode=require");
        assert_eq!(o.verify_with, Some(Roots::File("/my ca/root.pem".into())));
        let (rest, _) = options("host = h password='it\\'s'");
        assert_eq!(rest, "host = h password='it\\'s' sslmode=prefer");
    }

    #[test]
    fn unsupported_settings_are_refused_by_name() {
        for bad in [
            "postgres://h/db?sslmode=allow",
            "postgres://h/db?sslmode=bogus",
            "postgres://h/db?sslcert=/c.pem",
            "host=h sslkey=/k.pem",
            "host=h sslmode",
        ] {
            assert!(split(bad).is_err(), "{bad}");
        }
    }
}
