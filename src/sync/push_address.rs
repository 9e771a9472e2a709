//! Where a push device is reached, and the one place the stored form of that (the devices'
//! `endpoint_arn` column) is written and read: an SNS platform endpoint ARN, the form every
//! database already holds, or `direct:<platform application ARN>` for a device registered
//! while the operator mapped its platform application to a direct provider (FCM, APNs). Such a
//! device has no SNS endpoint: its token is its address, and the application names the
//! provider.

const DIRECT_PREFIX: &str = "direct:";

/// How a registered device is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceAddress {
    /// Through its SNS platform endpoint.
    Sns { endpoint_arn: String },
    /// Straight through the provider its platform application is mapped to.
    Direct { application_arn: String },
}

impl DeviceAddress {
    /// The stored form.
    pub fn encode(&self) -> String {
        match self {
            DeviceAddress::Sns { endpoint_arn } => endpoint_arn.clone(),
            DeviceAddress::Direct { application_arn } => {
                format!("{DIRECT_PREFIX}{application_arn}")
            }
        }
    }

    /// The address a stored form names. Anything but the direct form is an SNS endpoint ARN
    /// (ARNs start with `arn:`), as databases written before direct push hold.
    pub fn decode(stored: &str) -> DeviceAddress {
        match stored.strip_prefix(DIRECT_PREFIX) {
            Some(app) => DeviceAddress::Direct {
                application_arn: app.to_owned(),
            },
            None => DeviceAddress::Sns {
                endpoint_arn: stored.to_owned(),
            },
        }
    }
}

/// The platform application an SNS endpoint belongs to, read from the endpoint's ARN:
/// `arn:P:sns:R:A:endpoint/PLATFORM/NAME/ID` → `arn:P:sns:R:A:app/PLATFORM/NAME`. None for
/// anything else.
pub fn application_of_endpoint(endpoint_arn: &str) -> Option<String> {
    let (account_part, resource) = endpoint_arn.rsplit_once(':')?;
    let parts: Vec<&str> = account_part.split(':').collect();
    if parts.len() != 5 || parts[0] != "arn" || parts[2] != "sns" {
        return None;
    }
    let mut path = resource.strip_prefix("endpoint/")?.split('/');
    let (platform, name, id) = (path.next()?, path.next()?, path.next()?);
    if platform.is_empty() || name.is_empty() || id.is_empty() || path.next().is_some() {
        return None;
    }
    Some(format!("{account_part}:app/{platform}/{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENDPOINT: &str =
        "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/MyApp/5c2b0e5a-91a3-3c5e-a1b7-0d5e1f3a8c11";

    #[test]
    fn an_sns_endpoint_is_stored_as_databases_already_hold_it() {
        let sns = DeviceAddress::Sns {
            endpoint_arn: ENDPOINT.into(),
        };
        assert_eq!(sns.encode(), ENDPOINT);
        assert_eq!(DeviceAddress::decode(ENDPOINT), sns);
        let direct = DeviceAddress::Direct {
            application_arn: "arn:aws:sns:us-east-1:123456789012:app/APNS/MyApp".into(),
        };
        assert_eq!(
            direct.encode(),
            "direct:arn:aws:sns:us-east-1:123456789012:app/APNS/MyApp"
        );
        assert_eq!(DeviceAddress::decode(&direct.encode()), direct);
    }

    #[test]
    fn an_endpoint_names_its_application() {
        assert_eq!(
            application_of_endpoint(ENDPOINT).as_deref(),
            Some("arn:aws:sns:us-east-1:123456789012:app/GCM/MyApp")
        );
        assert_eq!(
            application_of_endpoint("arn:aws-cn:sns:cn-north-1:1:endpoint/APNS_SANDBOX/A/x")
                .as_deref(),
            Some("arn:aws-cn:sns:cn-north-1:1:app/APNS_SANDBOX/A")
        );
        for other in [
            "",
            "direct:arn:aws:sns:us-east-1:1:app/GCM/A",
            "arn:aws:sns:us-east-1:1:app/GCM/A",
            "arn:aws:sns:us-east-1:1:endpoint/GCM/A",
            "arn:aws:sns:us-east-1:1:endpoint/GCM/A/x/y",
            "arn:aws:sqs:us-east-1:1:endpoint/GCM/A/x",
            "arn:aws:sns:1:endpoint/GCM/A/x",
        ] {
            assert_eq!(application_of_endpoint(other), None, "{other}");
        }
    }
}
