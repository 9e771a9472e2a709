//! The text of the route flags, read when the command line is (so a mistake in a configuration
//! file stops start-up naming the flag), their secrets not yet read: `NAME=key=value;…`.
//!
//! - `--push-fcm ARN=service-account=SECRET` (a `…:app/GCM/…` application)
//! - `--push-apns ARN=key=SECRET;key-id=ID;team-id=ID;topic=BUNDLE_ID` (`app/APNS/…` or
//!   `app/APNS_SANDBOX/…`)
//! - `--stream-webhook STREAM=url=URL;secret=SECRET`
//! - `--stream-nats STREAM=url=nats://HOST:PORT[;subject=S][;token=SECRET][;user=U;password=SECRET]`
//!
//! A SECRET is a file's path or `env:VARIABLE` ([`SecretRef`]).

use std::collections::BTreeMap;

use super::secret::SecretRef;

/// `--push-fcm`: a GCM platform application pushed through FCM HTTP v1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FcmSpec {
    pub application_arn: String,
    /// The Google service account's JSON key.
    pub service_account: SecretRef,
}

/// `--push-apns`: an APNS or APNS_SANDBOX platform application pushed through APNs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApnsSpec {
    pub application_arn: String,
    /// The `.p8` signing key.
    pub key: SecretRef,
    pub key_id: String,
    pub team_id: String,
    /// The app's bundle id (`apns-topic`).
    pub topic: String,
}

/// `--stream-webhook`: a stream's records POSTed to a URL, signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSpec {
    pub stream: String,
    pub url: String,
    /// The `whsec_…` signing secret.
    pub secret: SecretRef,
}

/// `--stream-nats`: a stream's records published to NATS JetStream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsSpec {
    pub stream: String,
    pub url: String,
    /// The subject published to (default `cogsync.<stream>`).
    pub subject: String,
    pub token: Option<SecretRef>,
    pub user: Option<String>,
    pub password: Option<SecretRef>,
}

/// The platform of an SNS platform application ARN (`arn:P:sns:R:A:app/PLATFORM/NAME`).
pub fn application_platform(arn: &str) -> Option<&str> {
    let (account_part, resource) = arn.rsplit_once(':')?;
    let parts: Vec<&str> = account_part.split(':').collect();
    if parts.len() != 5 || parts[0] != "arn" || parts[2] != "sns" {
        return None;
    }
    let (platform, name) = resource.strip_prefix("app/")?.split_once('/')?;
    let well_formed = !platform.is_empty() && !name.is_empty() && !name.contains('/');
    well_formed.then_some(platform)
}

/// `NAME=key=value;…` as the name and its fields, each key one of `allowed`, given once.
fn fields(text: &str, allowed: &[&str]) -> Result<(String, BTreeMap<String, String>), String> {
    let (name, rest) = text
        .trim()
        .split_once('=')
        .ok_or("not NAME=key=value;… (see --help)")?;
    let name = name.trim();
    if name.is_empty() {
        return Err("no name before the first `=`".into());
    }
    let mut out = BTreeMap::new();
    for field in rest.split(';').map(str::trim).filter(|f| !f.is_empty()) {
        let (key, value) = field
            .split_once('=')
            .ok_or_else(|| format!("{name}: `{field}` is not key=value"))?;
        let (key, value) = (key.trim(), value.trim());
        if !allowed.contains(&key) {
            return Err(format!(
                "{name}: unknown key `{key}` (the keys are {})",
                allowed.join(", ")
            ));
        }
        if value.is_empty() {
            return Err(format!("{name}: `{key}` has no value"));
        }
        if out.insert(key.to_owned(), value.to_owned()).is_some() {
            return Err(format!("{name}: `{key}` given twice"));
        }
    }
    Ok((name.to_owned(), out))
}

fn required(
    name: &str,
    fields: &mut BTreeMap<String, String>,
    key: &str,
) -> Result<String, String> {
    fields
        .remove(key)
        .ok_or_else(|| format!("{name}: `{key}` is missing"))
}

fn secret(name: &str, key: &str, text: &str) -> Result<SecretRef, String> {
    SecretRef::parse(text).map_err(|e| format!("{name}: `{key}`: {e}"))
}

/// A Kinesis stream name, as pools name it in `CognitoStreams.StreamName`.
fn stream_name(name: &str) -> Result<(), String> {
    let ok = (1..=128).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    ok.then_some(())
        .ok_or_else(|| format!("{name}: not a Kinesis stream name ([A-Za-z0-9_.-], 1 to 128)"))
}

pub fn fcm(text: &str) -> Result<FcmSpec, String> {
    let (arn, mut f) = fields(text, &["service-account"])?;
    if application_platform(&arn) != Some("GCM") {
        return Err(format!(
            "{arn}: not a GCM platform application ARN (arn:aws:sns:REGION:ACCOUNT:app/GCM/NAME)"
        ));
    }
    let service_account = secret(
        &arn,
        "service-account",
        &required(&arn, &mut f, "service-account")?,
    )?;
    Ok(FcmSpec {
        application_arn: arn,
        service_account,
    })
}

pub fn apns(text: &str) -> Result<ApnsSpec, String> {
    let (arn, mut f) = fields(text, &["key", "key-id", "team-id", "topic"])?;
    if !matches!(application_platform(&arn), Some("APNS" | "APNS_SANDBOX")) {
        return Err(format!(
            "{arn}: not an APNS or APNS_SANDBOX platform application ARN (arn:aws:sns:REGION:ACCOUNT:app/APNS/NAME)"
        ));
    }
    let key = secret(&arn, "key", &required(&arn, &mut f, "key")?)?;
    let id = |f: &mut BTreeMap<String, String>, k: &str| -> Result<String, String> {
        let v = required(&arn, f, k)?;
        if v.chars().all(|c| c.is_ascii_alphanumeric()) {
            Ok(v)
        } else {
            Err(format!("{arn}: `{k}` is not letters and digits"))
        }
    };
    let (key_id, team_id) = (id(&mut f, "key-id")?, id(&mut f, "team-id")?);
    let topic = required(&arn, &mut f, "topic")?;
    Ok(ApnsSpec {
        application_arn: arn,
        key,
        key_id,
        team_id,
        topic,
    })
}

pub fn webhook(text: &str) -> Result<WebhookSpec, String> {
    let (stream, mut f) = fields(text, &["url", "secret"])?;
    stream_name(&stream)?;
    let url = required(&stream, &mut f, "url")?;
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(format!("{stream}: `url` is not an http:// or https:// URL"));
    }
    let secret = secret(&stream, "secret", &required(&stream, &mut f, "secret")?)?;
    Ok(WebhookSpec {
        stream,
        url,
        secret,
    })
}

pub fn nats(text: &str) -> Result<NatsSpec, String> {
    let (stream, mut f) = fields(text, &["url", "subject", "token", "user", "password"])?;
    stream_name(&stream)?;
    let url = required(&stream, &mut f, "url")?;
    if !(url.starts_with("nats://") || url.starts_with("tls://")) {
        return Err(format!("{stream}: `url` is not a nats:// or tls:// URL"));
    }
    let subject = f
        .remove("subject")
        .unwrap_or_else(|| format!("cogsync.{stream}"));
    let valid_subject = subject
        .split('.')
        .all(|t| !t.is_empty() && t != "*" && t != ">" && !t.contains(char::is_whitespace));
    if !valid_subject {
        return Err(format!(
            "{stream}: `subject` {subject} is not a NATS subject without wildcards"
        ));
    }
    let token = f
        .remove("token")
        .map(|t| secret(&stream, "token", &t))
        .transpose()?;
    let user = f.remove("user");
    let password = f
        .remove("password")
        .map(|p| secret(&stream, "password", &p))
        .transpose()?;
    if user.is_some() != password.is_some() {
        return Err(format!("{stream}: `user` and `password` go together"));
    }
    if token.is_some() && user.is_some() {
        return Err(format!("{stream}: either `token` or `user` and `password`"));
    }
    Ok(NatsSpec {
        stream,
        url,
        subject,
        token,
        user,
        password,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GCM: &str = "arn:aws:sns:us-east-1:123456789012:app/GCM/MyApp";

    #[test]
    fn platform_applications_are_told_by_their_arn() {
        assert_eq!(application_platform(GCM), Some("GCM"));
        assert_eq!(
            application_platform("arn:aws:sns:eu-west-1:1:app/APNS_SANDBOX/A"),
            Some("APNS_SANDBOX")
        );
        for other in [
            "arn:aws:sns:us-east-1:1:endpoint/GCM/A/x",
            "arn:aws:sns:us-east-1:1:app/GCM/",
            "arn:aws:sqs:us-east-1:1:app/GCM/A",
            "app/GCM/A",
        ] {
            assert_eq!(application_platform(other), None, "{other}");
        }
    }

    #[test]
    fn each_flag_reads_its_keys() {
        assert_eq!(
            fcm(&format!("{GCM}=service-account=/etc/cogsync/fcm.json")),
            Ok(FcmSpec {
                application_arn: GCM.into(),
                service_account: SecretRef::File("/etc/cogsync/fcm.json".into()),
            })
        );
        let a = apns("arn:aws:sns:us-east-1:1:app/APNS/A=key=env:P8; key-id=ABC123DEFG;team-id=DEF123GHIJ;topic=com.example.app").unwrap();
        assert_eq!(
            (
                a.key,
                a.key_id.as_str(),
                a.team_id.as_str(),
                a.topic.as_str()
            ),
            (
                SecretRef::Env("P8".into()),
                "ABC123DEFG",
                "DEF123GHIJ",
                "com.example.app"
            )
        );
        let w = webhook("orders=url=https://hooks.example/c?x=1;secret=env:WHSEC").unwrap();
        assert_eq!(w.url, "https://hooks.example/c?x=1", "a URL may hold `=`");
        let n = nats("orders=url=nats://127.0.0.1:4222").unwrap();
        assert_eq!(
            (n.subject.as_str(), n.token, n.user),
            ("cogsync.orders", None, None)
        );
        let n = nats("orders=url=tls://n:4222;subject=a.b;user=u;password=/p").unwrap();
        assert_eq!(n.subject, "a.b");
        assert_eq!(n.password, Some(SecretRef::File("/p".into())));
    }

    #[test]
    fn mistakes_are_named() {
        for (got, says) in [
            (fcm(GCM).map(|_| ()), "not NAME=key=value"),
            (
                fcm(&format!("{GCM}=key=/x")).map(|_| ()),
                "unknown key `key`",
            ),
            (
                fcm(&format!("{GCM}=")).map(|_| ()),
                "`service-account` is missing",
            ),
            (
                fcm("arn:aws:sns:us-east-1:1:app/APNS/A=service-account=/x").map(|_| ()),
                "not a GCM platform application",
            ),
            (
                apns(&format!("{GCM}=key=/k;key-id=A;team-id=B;topic=t")).map(|_| ()),
                "not an APNS",
            ),
            (
                apns("arn:aws:sns:us-east-1:1:app/APNS/A=key=/k;key-id=A-1;team-id=B;topic=t")
                    .map(|_| ()),
                "`key-id` is not letters",
            ),
            (
                webhook("s=url=ftp://x;secret=/s").map(|_| ()),
                "not an http",
            ),
            (webhook("s=url=http://x").map(|_| ()), "`secret` is missing"),
            (
                webhook("bad name=url=http://x;secret=/s").map(|_| ()),
                "not a Kinesis stream name",
            ),
            (
                webhook("s=url=http://x;secret=env:").map(|_| ()),
                "names no variable",
            ),
            (
                webhook("s=url=http://x;url=http://y;secret=/s").map(|_| ()),
                "given twice",
            ),
            (nats("s=url=http://x").map(|_| ()), "not a nats://"),
            (
                nats("s=url=nats://x;subject=a.>").map(|_| ()),
                "without wildcards",
            ),
            (nats("s=url=nats://x;user=u").map(|_| ()), "go together"),
        ] {
            let err = got.unwrap_err();
            assert!(err.contains(says), "{err} should say {says}");
        }
    }
}
