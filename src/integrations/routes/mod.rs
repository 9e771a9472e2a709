//! The operator's routes for a deployment without AWS: the SNS platform applications whose
//! devices are pushed straight through FCM or APNs, and the Kinesis stream names whose records
//! go to a webhook or NATS JetStream, keyed by the names pools already carry
//! (`PushSync.ApplicationArns`, `CognitoStreams.StreamName`), so a pool needs no change.
//! What is not routed goes to SNS and Kinesis as before. The flags' text is read by [`spec`];
//! [`Routes::resolve`] reads the secrets and keys at start-up, so a bad one stops start-up.

pub mod secret;
pub mod spec;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use secret::Secret;
use spec::{ApnsSpec, FcmSpec, NatsSpec, WebhookSpec};

use super::apns::ApnsKey;
use super::fcm::ServiceAccount;
use super::webhook::signature::WebhookKey;

/// Where the devices of one platform application are pushed.
#[derive(Debug, Clone)]
pub enum PushRoute {
    Fcm(Arc<ServiceAccount>),
    Apns(Arc<ApnsKey>),
}

/// Where one stream's records go.
#[derive(Debug, Clone)]
pub enum StreamRoute {
    Webhook(WebhookRoute),
    Nats(NatsRoute),
}

#[derive(Debug, Clone)]
pub struct WebhookRoute {
    pub url: String,
    pub key: WebhookKey,
}

#[derive(Debug, Clone)]
pub struct NatsRoute {
    pub url: String,
    pub subject: String,
    pub auth: NatsAuth,
}

#[derive(Debug, Clone)]
pub enum NatsAuth {
    None,
    Token(Secret),
    UserPassword { user: String, password: Secret },
}

/// Every route, resolved.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    /// By platform application ARN.
    pub push: BTreeMap<String, PushRoute>,
    /// By Kinesis stream name.
    pub streams: BTreeMap<String, StreamRoute>,
    /// PEM certificates the FCM, APNs and webhook clients trust besides the system's roots
    /// (`--delivery-ca-file`: a private mirror's CA, a test's).
    pub extra_roots_pem: Option<Vec<u8>>,
}

/// What the route flags say, not yet resolved.
#[derive(Debug, Clone, Default)]
pub struct RouteSpecs<'a> {
    pub fcm: &'a [FcmSpec],
    pub apns: &'a [ApnsSpec],
    pub webhooks: &'a [WebhookSpec],
    pub nats: &'a [NatsSpec],
    pub ca_file: Option<&'a Path>,
}

impl Routes {
    /// The routes `specs` name, their secrets read and keys parsed; why not (naming the flag
    /// and the file or variable, never a secret).
    pub fn resolve(specs: &RouteSpecs<'_>) -> Result<Routes, String> {
        let mut routes = Routes::default();
        for s in specs.fcm {
            let text = s.service_account.read()?;
            let account = ServiceAccount::from_json(text.expose()).map_err(|e| {
                format!(
                    "--push-fcm {}: {}: {e}",
                    s.application_arn,
                    s.service_account.describe()
                )
            })?;
            routes.add_push(&s.application_arn, PushRoute::Fcm(Arc::new(account)))?;
        }
        for s in specs.apns {
            let pem = s.key.read()?;
            let sandbox = spec::application_platform(&s.application_arn) == Some("APNS_SANDBOX");
            let key = ApnsKey::new(pem.expose(), &s.key_id, &s.team_id, &s.topic, sandbox)
                .map_err(|e| {
                    format!(
                        "--push-apns {}: {}: {e}",
                        s.application_arn,
                        s.key.describe()
                    )
                })?;
            routes.add_push(&s.application_arn, PushRoute::Apns(Arc::new(key)))?;
        }
        for s in specs.webhooks {
            let text = s.secret.read()?;
            let key = WebhookKey::parse(text.expose()).map_err(|e| {
                format!(
                    "--stream-webhook {}: {}: {e}",
                    s.stream,
                    s.secret.describe()
                )
            })?;
            let route = StreamRoute::Webhook(WebhookRoute {
                url: s.url.clone(),
                key,
            });
            routes.add_stream(&s.stream, route)?;
        }
        for s in specs.nats {
            let auth = match (&s.token, &s.user, &s.password) {
                (Some(token), _, _) => NatsAuth::Token(trimmed(token.read()?)),
                (None, Some(user), Some(password)) => NatsAuth::UserPassword {
                    user: user.clone(),
                    password: trimmed(password.read()?),
                },
                _ => NatsAuth::None,
            };
            let route = StreamRoute::Nats(NatsRoute {
                url: s.url.clone(),
                subject: s.subject.clone(),
                auth,
            });
            routes.add_stream(&s.stream, route)?;
        }
        if let Some(path) = specs.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| format!("--delivery-ca-file {}: {e}", path.display()))?;
            super::outbound::extra_roots(&pem)
                .map_err(|e| format!("--delivery-ca-file {}: {e}", path.display()))?;
            routes.extra_roots_pem = Some(pem);
        }
        Ok(routes)
    }

    fn add_push(&mut self, arn: &str, route: PushRoute) -> Result<(), String> {
        match self.push.insert(arn.to_owned(), route) {
            None => Ok(()),
            Some(_) => Err(format!("{arn} is routed twice (--push-fcm, --push-apns)")),
        }
    }

    fn add_stream(&mut self, stream: &str, route: StreamRoute) -> Result<(), String> {
        match self.streams.insert(stream.to_owned(), route) {
            None => Ok(()),
            Some(_) => Err(format!(
                "the stream {stream} is routed twice (--stream-webhook, --stream-nats)"
            )),
        }
    }
}

/// A secret read from a file ends with a newline more often than not.
fn trimmed(s: Secret) -> Secret {
    Secret::new(s.expose().trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secret::SecretRef;

    const WHSEC: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

    #[test]
    fn routes_resolve_their_secrets_and_never_show_them() {
        let dir = tempfile::tempdir().unwrap();
        let rsa = include_str!("../../../tests/fixtures/rsa-2048.pk8.pem");
        let account = serde_json::json!({"type": "service_account", "project_id": "p",
            "private_key_id": "kid-1", "private_key": rsa, "client_email": "a@p.iam.gserviceaccount.com"});
        let (fcm_file, hook_file, token_file) = (
            dir.path().join("fcm.json"),
            dir.path().join("whsec"),
            dir.path().join("token"),
        );
        std::fs::write(&fcm_file, account.to_string()).unwrap();
        std::fs::write(&hook_file, format!("{WHSEC}\n")).unwrap();
        std::fs::write(&token_file, "nats-s3cret\n").unwrap();
        let fcm = [spec::FcmSpec {
            application_arn: "arn:aws:sns:us-east-1:1:app/GCM/A".into(),
            service_account: SecretRef::File(fcm_file),
        }];
        let webhooks = [spec::WebhookSpec {
            stream: "s".into(),
            url: "https://h.example/".into(),
            secret: SecretRef::File(hook_file.clone()),
        }];
        let nats = [spec::NatsSpec {
            stream: "t".into(),
            url: "nats://127.0.0.1:4222".into(),
            subject: "cogsync.t".into(),
            token: Some(SecretRef::File(token_file)),
            user: None,
            password: None,
        }];
        let specs = RouteSpecs {
            fcm: &fcm,
            webhooks: &webhooks,
            nats: &nats,
            ..Default::default()
        };
        let routes = Routes::resolve(&specs).unwrap();
        assert_eq!((routes.push.len(), routes.streams.len()), (1, 2));
        let shown = format!("{routes:?}");
        for secret in ["PRIVATE KEY", "C2FVsBQ", "nats-s3cret"] {
            assert!(!shown.contains(secret), "{secret} shown: {shown}");
        }
        assert!(matches!(&routes.streams["t"], StreamRoute::Nats(n)
            if matches!(&n.auth, NatsAuth::Token(t) if t.expose() == "nats-s3cret")));
        // The same stream routed twice is a mistake, named.
        let twice = [webhooks[0].clone(), webhooks[0].clone()];
        let err = Routes::resolve(&RouteSpecs {
            webhooks: &twice,
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.contains("the stream s is routed twice"), "{err}");
    }
}
