//! The dispatcher's pushes: through an SNS endpoint, or straight to the FCM or APNs the
//! device's platform application is mapped to. A push the provider says can never reach the
//! device (a disabled or deleted endpoint, an unregistered token) counts as done: the device
//! is marked disabled and gets no more pushes until it registers again, and nobody's sync
//! fails for it. A push refused for good for another reason is dropped, with an error logged.

use serde_json::Value;

use super::Dispatcher;
use crate::store::OutboxEvent;
use crate::sync::ports::{DirectPush, PushError};
use crate::sync::rules::push_events::DirectPayload;

impl Dispatcher {
    /// Publishes the event's message to its SNS endpoint.
    pub(super) async fn deliver_push(&self, e: &OutboxEvent, endpoint: &str) -> Result<(), String> {
        let envelope: Value =
            serde_json::from_str(&e.event.payload).map_err(|err| format!("bad payload: {err}"))?;
        let message = envelope["message"]
            .as_str()
            .ok_or("push payload without a message")?;
        let device = envelope["deviceId"].as_str();
        let outcome = self.push.publish(endpoint, message).await;
        self.push_outcome(e, device, endpoint, outcome).await
    }

    /// Sends the event's push to the provider its platform application is mapped to.
    pub(super) async fn deliver_direct(&self, e: &OutboxEvent) -> Result<(), String> {
        let payload = DirectPayload::decode(&e.event.payload)?;
        let push = DirectPush {
            application_arn: &payload.application,
            platform: &payload.platform,
            token: &payload.token,
            body: &payload.body,
        };
        let outcome = self.push.send_direct(&push).await;
        self.push_outcome(e, Some(&payload.device_id), &payload.address, outcome)
            .await
    }

    /// What a push's outcome leaves to do: nothing (delivered, gone, refused for good) or a
    /// retry (Err). `address` is the device's address the push was decided for: only a device
    /// still holding it is disabled (one that registered again meanwhile keeps its pushes).
    async fn push_outcome(
        &self,
        e: &OutboxEvent,
        device: Option<&str>,
        address: &str,
        outcome: Result<(), PushError>,
    ) -> Result<(), String> {
        match outcome {
            Ok(()) => Ok(()),
            Err(PushError::Gone(reason)) => {
                tracing::info!(device, address, %reason, "push endpoint or token unusable; device disabled");
                if let Some(device) = device {
                    self.store
                        .disable_device(device, address)
                        .await
                        .map_err(|err| err.to_string())?;
                }
                Ok(())
            }
            Err(PushError::Rejected(reason)) => {
                tracing::error!(device, target = %e.event.target, %reason, "push refused for good; dropped");
                if let Some(metrics) = &self.metrics {
                    if let Some(target) = crate::sync::OutboxTarget::decode(&e.event.target) {
                        metrics.delivery_failed(target.kind());
                    }
                }
                Ok(())
            }
            Err(PushError::Retry(reason)) => Err(reason),
        }
    }
}
