//! A pool's Cognito Sync settings, their rules: what a push-sync configuration, a Cognito
//! Streams configuration and a sync trigger must look like, and the compare-and-set every
//! change of the settings goes through (the API's and the console's alike).

use std::collections::BTreeMap;

use crate::store::{CognitoStreams, PoolSettings, PushSync, SettingsDecider};
use crate::sync::{SyncError, SyncResult};
use crate::validate;

/// The only event type Cognito Sync knows.
pub const SYNC_TRIGGER: &str = "SyncTrigger";

pub fn check_push_sync(p: &PushSync) -> SyncResult<()> {
    for (i, arn) in p.application_arns.iter().flatten().enumerate() {
        validate::application_arn(arn, &format!("pushSync.applicationArns.{}.member", i + 1))?;
    }
    if let Some(role) = &p.role_arn {
        validate::role_arn(role, "pushSync.roleArn")?;
    }
    Ok(())
}

pub fn check_streams(s: &CognitoStreams) -> SyncResult<()> {
    if let Some(name) = &s.stream_name {
        validate::length(name, "cognitoStreams.streamName", 1, 128)?;
    }
    if let Some(role) = &s.role_arn {
        validate::role_arn(role, "cognitoStreams.roleArn")?;
    }
    if let Some(status) = &s.streaming_status {
        validate::one_of(
            status,
            "cognitoStreams.streamingStatus",
            &["ENABLED", "DISABLED"],
        )?;
    }
    Ok(())
}

/// A sync-trigger target: what Lambda's Invoke accepts as a function (a name, a partial or full
/// ARN, each with an optional version or alias), or a webhook URL for self-hosters. Stored as
/// given, as AWS does.
pub fn check_trigger(target: &str) -> SyncResult<()> {
    let ok = if target.starts_with("https://") || target.starts_with("http://") {
        target.len() <= 2048
    } else {
        validate::lambda_function_name(target, "events.SyncTrigger").is_ok()
    };
    if ok {
        Ok(())
    } else {
        Err(SyncError::InvalidParameter(format!(
            "Invalid SyncTrigger target '{}': give a Lambda function name or ARN (as Lambda's Invoke accepts it, at most 170 characters) or an http(s):// URL",
            target.chars().take(64).collect::<String>()
        )))
    }
}

/// SetCognitoEvents' map checked: at most one entry, of the one event type, each target a
/// function or a URL (an empty one removes the entry).
pub fn check_events(events: &BTreeMap<String, String>) -> SyncResult<()> {
    if events.len() > 1 {
        return Err(SyncError::InvalidParameter(
            "1 validation error detected: Value at 'events' failed to satisfy constraint: Member must have length less than or equal to 1".into(),
        ));
    }
    for (kind, target) in events {
        if kind != SYNC_TRIGGER {
            return Err(SyncError::InvalidParameter(format!(
                "Unknown event type '{}': the only event type is {SYNC_TRIGGER}",
                kind.chars().take(64).collect::<String>()
            )));
        }
        if !target.is_empty() {
            check_trigger(target)?;
        }
    }
    Ok(())
}

/// `current`'s events with `changes` applied: an empty target removes its event type.
pub fn events_after(
    current: &BTreeMap<String, String>,
    changes: BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut map = current.clone();
    for (kind, target) in changes {
        if target.is_empty() {
            map.remove(&kind);
        } else {
            map.insert(kind, target);
        }
    }
    map
}

/// Compare-and-set: `next` is stored, as the version after the one read, only over the
/// settings still at the version `read` (None: another writer came first).
pub fn replace_if_unchanged(read: &PoolSettings, next: PoolSettings) -> SettingsDecider {
    let version = read.version;
    let next = PoolSettings {
        version: version + 1,
        ..next
    };
    Box::new(move |stored| (stored.version == version).then(|| next.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_are_lambda_functions_as_invoke_names_them_or_webhooks() {
        for good in [
            "validate",
            "validate:live",
            "123456789012:function:validate",
            "arn:aws:lambda:us-east-1:123456789012:function:validate",
            "https://hooks.example.com/sync",
            "http://127.0.0.1:9000/",
        ] {
            assert!(check_trigger(good).is_ok(), "{good}");
        }
        for bad in [
            "not a function",
            "arn:aws:sqs:us-east-1:123456789012:queue",
            "ftp://example.com/hook",
            &format!("https://example.com/{}", "x".repeat(2048)),
        ] {
            assert!(check_trigger(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn settings_are_replaced_only_over_the_version_read() {
        let read = PoolSettings {
            version: 3,
            ..PoolSettings::default()
        };
        let next = PoolSettings {
            events: [(SYNC_TRIGGER.to_owned(), "f".to_owned())].into(),
            ..PoolSettings::default()
        };
        let decide = replace_if_unchanged(&read, next);
        let written = decide(&read).unwrap();
        assert_eq!(written.version, 4);
        assert_eq!(written.events[SYNC_TRIGGER], "f");
        let moved_on = PoolSettings {
            version: 4,
            ..PoolSettings::default()
        };
        assert!(decide(&moved_on).is_none());
    }

    #[test]
    fn an_empty_target_removes_its_event() {
        let current = [(SYNC_TRIGGER.to_owned(), "f".to_owned())].into();
        let after = events_after(&current, [(SYNC_TRIGGER.to_owned(), String::new())].into());
        assert!(after.is_empty());
        assert!(check_events(&[("Other".to_owned(), "f".to_owned())].into()).is_err());
    }
}
