//! Sync-trigger invocation: a Lambda function through the official `aws-sdk-lambda` crate
//! (RequestResponse), or, for self-hosters, an `http://`/`https://` webhook that receives the
//! same event as a POST body and answers with the same JSON. Five seconds at most, as on AWS.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_lambda::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_lambda::primitives::Blob;
use serde_json::Value;

use super::aws::{http_client, AwsSettings};
use crate::sync::ports::{TriggerError, TriggerInvoker};

/// How long a trigger may take (fixed on AWS).
pub const TRIGGER_TIMEOUT: Duration = Duration::from_secs(5);

/// The [`TriggerInvoker`] of a running server: Lambda, or a webhook for `http(s)://` targets.
pub struct Triggers {
    lambda: aws_sdk_lambda::Client,
    http: reqwest::Client,
}

impl Triggers {
    pub fn new(settings: &AwsSettings) -> Self {
        let mut b = aws_sdk_lambda::Config::builder()
            .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
            .region(aws_sdk_lambda::config::Region::new(settings.region.clone()))
            .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
            .http_client(http_client());
        if let Some(url) = settings
            .lambda_endpoint
            .as_ref()
            .or(settings.endpoint.as_ref())
        {
            b = b.endpoint_url(url);
        }
        if let Some(c) = &settings.credentials {
            b = b.credentials_provider(c.clone());
        }
        let http = super::outbound::client(TRIGGER_TIMEOUT);
        Triggers {
            lambda: aws_sdk_lambda::Client::from_conf(b.build()),
            http,
        }
    }

    async fn webhook(&self, url: &str, event: &Value) -> Result<Value, TriggerError> {
        let resp = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(event.to_string())
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    TriggerError::Timeout(format!(
                        "the webhook did not answer within {TRIGGER_TIMEOUT:?}"
                    ))
                } else {
                    TriggerError::Unreachable(format!("cannot reach the webhook: {e}"))
                }
            })?;
        let status = resp.status();
        let body = resp
            .text()
            .await
            .map_err(|e| TriggerError::Unreachable(e.to_string()))?;
        if status.as_u16() == 429 {
            return Err(TriggerError::Throttled(
                "The sync trigger webhook is throttling requests".into(),
            ));
        }
        if !status.is_success() {
            let shown: String = body.chars().take(512).collect();
            return Err(TriggerError::FunctionError(format!(
                "The sync trigger webhook answered {status}: {shown}"
            )));
        }
        serde_json::from_str(&body).map_err(|e| {
            TriggerError::BadOutput(format!("The sync trigger answered with invalid JSON: {e}"))
        })
    }

    /// Invokes `function` as stored (a name, a partial or full ARN, with or without a version
    /// or alias): it is Invoke's `FunctionName` unchanged, so Lambda resolves it as AWS would.
    async fn lambda(&self, function: &str, event: &Value) -> Result<Value, TriggerError> {
        let out = self
            .lambda
            .invoke()
            .function_name(function)
            .invocation_type(aws_sdk_lambda::types::InvocationType::RequestResponse)
            .payload(Blob::new(event.to_string()))
            .send()
            .await
            .map_err(|e| match e.code() {
                Some("TooManyRequestsException") => {
                    TriggerError::Throttled("AWS Lambda throttled the sync trigger".into())
                }
                Some(code) => TriggerError::FunctionError(format!(
                    "The sync trigger could not be invoked ({code}): {}",
                    e.message().unwrap_or_default()
                )),
                None => TriggerError::Unreachable(format!(
                    "cannot reach AWS Lambda: {}",
                    DisplayErrorContext(&e)
                )),
            })?;
        let payload = out
            .payload()
            .map(|b| b.as_ref().to_vec())
            .unwrap_or_default();
        if let Some(kind) = out.function_error() {
            let detail = serde_json::from_slice::<Value>(&payload)
                .ok()
                .and_then(|v| {
                    v.get("errorMessage")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| {
                    String::from_utf8_lossy(&payload)
                        .chars()
                        .take(512)
                        .collect()
                });
            return Err(TriggerError::FunctionError(format!(
                "The sync trigger failed ({kind}): {detail}"
            )));
        }
        serde_json::from_slice(&payload).map_err(|e| {
            TriggerError::BadOutput(format!("The sync trigger returned invalid JSON: {e}"))
        })
    }
}

#[async_trait]
impl TriggerInvoker for Triggers {
    async fn invoke(&self, target: &str, event: &Value) -> Result<Value, TriggerError> {
        let call = async {
            if target.starts_with("http://") || target.starts_with("https://") {
                self.webhook(target, event).await
            } else {
                self.lambda(target, event).await
            }
        };
        match tokio::time::timeout(TRIGGER_TIMEOUT, call).await {
            Ok(result) => result,
            Err(_) => Err(TriggerError::Timeout(format!(
                "The sync trigger did not answer within {TRIGGER_TIMEOUT:?}"
            ))),
        }
    }
}
