//! Push delivery through SNS platform endpoints, with the official `aws-sdk-sns` crate.

use async_trait::async_trait;
use aws_sdk_sns::error::{DisplayErrorContext, ProvideErrorMetadata};

use super::aws::{http_client, AwsSettings};
use super::{DeliveryError, PushError, PushService};

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

#[async_trait]
impl PushService for SnsPush {
    async fn create_endpoint(
        &self,
        application_arn: &str,
        token: &str,
        user_data: &str,
    ) -> Result<String, DeliveryError> {
        let out = self
            .client
            .create_platform_endpoint()
            .platform_application_arn(application_arn)
            .token(token)
            .custom_user_data(user_data)
            .send()
            .await
            .map_err(|e| DeliveryError(DisplayErrorContext(&e).to_string()))?;
        let arn = out
            .endpoint_arn()
            .ok_or_else(|| DeliveryError("SNS returned no EndpointArn".into()))?
            .to_owned();
        // A token registered before may have been disabled; registering it again revives it.
        self.client
            .set_endpoint_attributes()
            .endpoint_arn(&arn)
            .attributes("Enabled", "true")
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
