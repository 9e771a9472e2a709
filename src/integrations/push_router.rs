//! Which way a push goes: straight to FCM or APNs for the platform applications the operator
//! routes to them, through SNS for the others (registration included: a routed application's
//! devices are registered without SNS).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;

use super::apns::{self, Apns};
use super::fcm::{self, Fcm};
use super::routes::{PushRoute, Routes};
use crate::sync::ports::{DeliveryError, DirectPush, PushError, PushService};

enum Provider {
    Fcm(Fcm),
    Apns(Apns),
}

pub struct PushRouter {
    sns: Arc<dyn PushService>,
    direct: HashMap<String, Provider>,
}

/// The HTTP clients of the direct providers.
pub struct Clients {
    /// For FCM (HTTP/1.1 or HTTP/2, as ALPN says).
    pub fcm: reqwest::Client,
    /// For APNs: HTTP/2 only.
    pub apns: reqwest::Client,
}

impl PushRouter {
    /// `sns` for what `routes` leaves alone; `urls` the `--provider-url` base URLs by name
    /// (`fcm.googleapis.com`, `api.push.apple.com`, `api.sandbox.push.apple.com`).
    pub fn new(
        sns: Arc<dyn PushService>,
        routes: &Routes,
        urls: &BTreeMap<String, String>,
        clients: &Clients,
    ) -> PushRouter {
        let base = |(name, public): (&str, &'static str)| -> String {
            urls.get(name).cloned().unwrap_or_else(|| public.to_owned())
        };
        let direct = routes
            .push
            .iter()
            .map(|(arn, route)| {
                let provider = match route {
                    PushRoute::Fcm(account) => Provider::Fcm(Fcm::new(
                        account.clone(),
                        &base((fcm::NAME, fcm::PUBLIC_BASE)),
                        clients.fcm.clone(),
                    )),
                    PushRoute::Apns(key) => {
                        let host = if key.sandbox {
                            apns::SANDBOX
                        } else {
                            apns::PRODUCTION
                        };
                        Provider::Apns(Apns::new(key.clone(), &base(host), clients.apns.clone()))
                    }
                };
                (arn.clone(), provider)
            })
            .collect();
        PushRouter { sns, direct }
    }
}

#[async_trait]
impl PushService for PushRouter {
    async fn create_endpoint(
        &self,
        application_arn: &str,
        token: &str,
        user_data: &str,
    ) -> Result<String, DeliveryError> {
        self.sns
            .create_endpoint(application_arn, token, user_data)
            .await
    }

    async fn publish(&self, endpoint_arn: &str, message: &str) -> Result<(), PushError> {
        self.sns.publish(endpoint_arn, message).await
    }

    fn direct(&self, application_arn: &str) -> bool {
        self.direct.contains_key(application_arn)
    }

    async fn send_direct(&self, push: &DirectPush<'_>) -> Result<(), PushError> {
        match self.direct.get(push.application_arn) {
            Some(Provider::Fcm(fcm)) => fcm.send(push.token, push.body).await,
            Some(Provider::Apns(apns)) => apns.send(push.token, push.body).await,
            // Registered while the application was routed: it waits for the route to be back
            // (SNS has no endpoint for it; registering again through SNS makes one).
            None => Err(PushError::Retry(format!(
                "{} is no longer routed to FCM or APNs (--push-fcm, --push-apns)",
                push.application_arn
            ))),
        }
    }
}
