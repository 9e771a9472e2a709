//! Where an outbox event is delivered, and the one place its stored form is written and read.
//!
//! The store keeps the target as text, `kinesis:<stream name>` or `sns:<endpoint ARN>`: the
//! format databases written by earlier versions already hold, so it must not change. A push
//! straight to FCM or APNs is `direct:<device id>` (its provider, token and body are in the
//! event's payload); a version that does not know that form leaves such events waiting.
//! Where a stream's records go (Kinesis, a webhook, NATS JetStream) is the operator's mapping
//! of the stream's name, looked up at delivery: the target is the stream as the pool names it.

const KINESIS_PREFIX: &str = "kinesis:";
const SNS_PREFIX: &str = "sns:";
const DIRECT_PUSH_PREFIX: &str = "direct:";

/// The destination of an outbox event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxTarget {
    /// A Kinesis stream (Cognito Streams): one record per event.
    Kinesis { stream: String },
    /// An SNS platform endpoint (push sync): one push per event.
    Sns { endpoint_arn: String },
    /// A device pushed straight through FCM or APNs (push sync): one push per event.
    DirectPush { device_id: String },
}

impl OutboxTarget {
    /// The stored form of the target (`NewOutboxEvent::target`).
    pub fn encode(&self) -> String {
        match self {
            OutboxTarget::Kinesis { stream } => format!("{KINESIS_PREFIX}{stream}"),
            OutboxTarget::Sns { endpoint_arn } => format!("{SNS_PREFIX}{endpoint_arn}"),
            OutboxTarget::DirectPush { device_id } => format!("{DIRECT_PUSH_PREFIX}{device_id}"),
        }
    }

    /// The target's kind, as metrics label it.
    pub fn kind(&self) -> &'static str {
        match self {
            OutboxTarget::Kinesis { .. } => "kinesis",
            OutboxTarget::Sns { .. } => "sns",
            OutboxTarget::DirectPush { .. } => "direct",
        }
    }

    /// The target a stored event names; None for a form this version does not deliver.
    pub fn decode(stored: &str) -> Option<OutboxTarget> {
        if let Some(stream) = stored.strip_prefix(KINESIS_PREFIX) {
            return Some(OutboxTarget::Kinesis {
                stream: stream.to_owned(),
            });
        }
        if let Some(device) = stored.strip_prefix(DIRECT_PUSH_PREFIX) {
            return Some(OutboxTarget::DirectPush {
                device_id: device.to_owned(),
            });
        }
        stored
            .strip_prefix(SNS_PREFIX)
            .map(|arn| OutboxTarget::Sns {
                endpoint_arn: arn.to_owned(),
            })
    }

    /// Whether the stored target `stored` is a stream's (a Kinesis stream name).
    pub fn is_stream(stored: &str) -> bool {
        stored.starts_with(KINESIS_PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::OutboxTarget;

    #[test]
    fn the_stored_form_is_the_one_databases_already_hold() {
        let kinesis = OutboxTarget::Kinesis { stream: "s".into() };
        assert_eq!(kinesis.encode(), "kinesis:s");
        let arn = "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/app/5c2b0e5a";
        let sns = OutboxTarget::Sns {
            endpoint_arn: arn.into(),
        };
        assert_eq!(sns.encode(), format!("sns:{arn}"));
        let direct = OutboxTarget::DirectPush {
            device_id: "5c2b0e5a".into(),
        };
        assert_eq!(direct.encode(), "direct:5c2b0e5a");
        assert!(OutboxTarget::is_stream(&kinesis.encode()));
        assert!(
            !OutboxTarget::is_stream(&sns.encode()) && !OutboxTarget::is_stream(&direct.encode())
        );
        for target in [kinesis, sns, direct] {
            assert_eq!(OutboxTarget::decode(&target.encode()), Some(target));
        }
    }

    #[test]
    fn unknown_forms_are_not_delivered() {
        for stored in ["", "lambda:f", "Kinesis:s", "sqs:queue", "kinesis"] {
            assert_eq!(OutboxTarget::decode(stored), None, "{stored}");
        }
        assert_eq!(
            OutboxTarget::decode("kinesis:a:b"),
            Some(OutboxTarget::Kinesis {
                stream: "a:b".into()
            }),
            "only the first prefix is the kind"
        );
    }
}
