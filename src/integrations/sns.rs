//! Push delivery through SNS platform endpoints, with the official `aws-sdk-sns` crate.
//!
//! Registration follows AWS's documented practice for mobile endpoints: a token SNS already
//! holds with other attributes (typically one SNS disabled when the token went stale) is
//! refused by CreatePlatformEndpoint with the existing endpoint's ARN in the message; that
//! endpoint is taken over, given the token and user data again and enabled.

use async_trait::async_trait;
use aws_sdk_sns::error::{DisplayErrorContext, ProvideErrorMetadata};

use super::aws::{http_client, AwsSettings};
use crate::sync::ports::{DeliveryError, PushError, PushService};

pub struct SnsPush {
    client: aws_sdk_sns::Client,
}

impl SnsPush {
    pub fn new(settings: &AwsSettings) -> Self {
        let mut b = aws_sdk_sns::Config::builder()
            .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
            .region(aws_sdk_sns::config::Region::new(settings.region.clone()))
            .http_client(http_client());
        if let Some(url) = settings
            .sns_endpoint
            .as_ref()
            .or(settings.endpoint.as_ref())
        {
            b = b.endpoint_url(url);
        }
        if let Some(c) = &settings.credentials {
            b = b.credentials_provider(c.clone());
        }
        SnsPush {
            client: aws_sdk_sns::Client::from_conf(b.build()),
        }
    }
}

/// The endpoint named by SNS's refusal of CreatePlatformEndpoint for a token it already holds
/// with other attributes: "Invalid parameter: Token Reason: Endpoint <arn> already exists with
/// the same Token, but different attributes." None for any other message.
pub fn existing_endpoint_arn(message: &str) -> Option<&str> {
    let (before, after) = message.split_once(" already exists with the same ")?;
    if !(after.starts_with("Token") || after.starts_with("token")) {
        return None;
    }
    let (_, arn) = before.rsplit_once("Endpoint ")?;
    // arn:<partition>:sns:<region>:<account>:endpoint/<platform>/<application>/<id>
    let parts: Vec<&str> = arn.split(':').collect();
    let well_formed = parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "sns"
        && parts[5].starts_with("endpoint/")
        && !arn.contains(char::is_whitespace);
    well_formed.then_some(arn)
}

#[async_trait]
impl PushService for SnsPush {
    async fn create_endpoint(
        &self,
        application_arn: &str,
        token: &str,
        user_data: &str,
    ) -> Result<String, DeliveryError> {
        let created = self
            .client
            .create_platform_endpoint()
            .platform_application_arn(application_arn)
            .token(token)
            .custom_user_data(user_data)
            .send()
            .await;
        let arn = match created {
            Ok(out) => out
                .endpoint_arn()
                .ok_or_else(|| DeliveryError("SNS returned no EndpointArn".into()))?
                .to_owned(),
            Err(e) => {
                let existing = e
                    .as_service_error()
                    .filter(|se| se.is_invalid_parameter_exception())
                    .and_then(|se| se.message())
                    .and_then(existing_endpoint_arn)
                    .map(str::to_owned);
                match existing {
                    Some(arn) => {
                        tracing::info!(endpoint = %arn, "SNS holds this token with other attributes; taking its endpoint over");
                        arn
                    }
                    None => return Err(DeliveryError(DisplayErrorContext(&e).to_string())),
                }
            }
        };
        // The endpoint may have been disabled (a stale token) or carry another user's data:
        // registering the token again makes it this device's working endpoint.
        self.client
            .set_endpoint_attributes()
            .endpoint_arn(&arn)
            .attributes("Enabled", "true")
            .attributes("Token", token)
            .attributes("CustomUserData", user_data)
            .send()
            .await
            .map_err(|e| DeliveryError(DisplayErrorContext(&e).to_string()))?;
        Ok(arn)
    }

    async fn publish(&self, endpoint_arn: &str, message: &str) -> Result<(), PushError> {
        match self
            .client
            .publish()
            .target_arn(endpoint_arn)
            .message_structure("json")
            .message(message)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let code = e.code().unwrap_or_default().to_owned();
                let text = DisplayErrorContext(&e).to_string();
                if code.contains("EndpointDisabled") || code.contains("NotFound") {
                    Err(PushError::Gone(text))
                } else {
                    Err(PushError::Retry(text))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::existing_endpoint_arn;

    const ARN: &str = "arn:aws:sns:us-west-2:123456789012:endpoint/GCM/MyApp/5c2b0e5a-91a3-3c5e-a1b7-0d5e1f3a8c11";

    #[test]
    fn the_existing_endpoint_is_read_from_the_refusal() {
        let message = format!(
            "Invalid parameter: Token Reason: Endpoint {ARN} already exists with the same Token, but different attributes."
        );
        assert_eq!(existing_endpoint_arn(&message), Some(ARN));
        let lower = format!("Endpoint {ARN} already exists with the same token");
        assert_eq!(existing_endpoint_arn(&lower), Some(ARN));
        let china = "Invalid parameter: Token Reason: Endpoint arn:aws-cn:sns:cn-north-1:123456789012:endpoint/APNS/App/x already exists with the same Token, but different attributes.";
        assert_eq!(
            existing_endpoint_arn(china),
            Some("arn:aws-cn:sns:cn-north-1:123456789012:endpoint/APNS/App/x")
        );
    }

    #[test]
    fn other_refusals_name_no_endpoint() {
        for message in [
            "Invalid parameter: Token Reason: iOS device tokens must be no more than 400 hexadecimal characters",
            "Invalid parameter: PlatformApplicationArn Reason: no value for required parameter",
            &format!("Endpoint {ARN} already exists with the same CustomUserData"),
            "Endpoint arn:aws:sns:us-west-2:123456789012:app/GCM/MyApp already exists with the same Token",
            "Endpoint  already exists with the same Token",
            "",
        ] {
            assert_eq!(existing_endpoint_arn(message), None, "{message}");
        }
    }
}
