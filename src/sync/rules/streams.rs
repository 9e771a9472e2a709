//! Cognito Streams: the Kinesis record published per synchronisation (spec §7.2: field names as
//! documented, dates in epoch milliseconds) and the outbox events that carry it.
//!
//! Partition key: `<identityId>/<datasetName>`, so a dataset's records stay in order on one
//! shard. A record over the Kinesis limit is split into several records that together carry
//! every changed record (AWS offloads such payloads to S3 instead).

use serde_json::{json, Value};

use crate::store::CognitoStreams;
use crate::store::{DatasetRow, NewOutboxEvent, PoolSettings, RecordRow};
use crate::sync::OutboxTarget;

/// Largest data blob put in one Kinesis record (the service limit is 1 MiB including the
/// partition key; this leaves room for it).
pub const KINESIS_DATA_LIMIT: usize = 1_000_000;

/// The stream a pool publishes to, when Cognito Streams is configured and ENABLED.
pub fn stream_of(settings: &PoolSettings) -> Option<String> {
    let streams = settings.cognito_streams.as_ref()?;
    if streams.streaming_status.as_deref() != Some("ENABLED") {
        return None;
    }
    streams.stream_name.clone()
}

/// The pool's settings once Kinesis said `stream` does not exist: streaming turned off, as AWS
/// documents ("If you delete the Kinesis stream … you turn off the Amazon Cognito streams"),
/// the rest kept, as the next version. None when the pool no longer publishes to that stream (an operator
/// configured another one meanwhile, or turned streaming off): that configuration stays.
pub fn turn_off_deleted_stream(settings: &PoolSettings, stream: &str) -> Option<PoolSettings> {
    if stream_of(settings).as_deref() != Some(stream) {
        return None;
    }
    let streams = CognitoStreams {
        streaming_status: Some("DISABLED".into()),
        ..settings.cognito_streams.clone()?
    };
    Some(PoolSettings {
        version: settings.version + 1,
        cognito_streams: Some(streams),
        ..settings.clone()
    })
}

fn sync_record(r: &RecordRow) -> Value {
    json!({
        "key": r.key,
        "value": r.value,
        "syncCount": r.sync_count,
        "lastModifiedDate": r.last_modified_ms,
        "deviceLastModifiedDate": r.device_last_modified_ms,
        "op": if r.value.is_some() { "replace" } else { "remove" },
    })
}

fn envelope(partition_key: &str, data: &Value) -> String {
    json!({ "partitionKey": partition_key, "data": data }).to_string()
}

/// The record(s) for one synchronisation; several when one would exceed the Kinesis limit.
fn records_payloads(base: &Value, records: &[RecordRow]) -> Vec<Value> {
    let with = |chunk: Vec<Value>| {
        let mut v = base.clone();
        v["kinesisSyncRecords"] = Value::Array(chunk);
        v
    };
    let all: Vec<Value> = records.iter().map(sync_record).collect();
    let whole = with(all.clone());
    if whole.to_string().len() <= KINESIS_DATA_LIMIT {
        return vec![whole];
    }
    let overhead = with(Vec::new()).to_string().len();
    let mut out = Vec::new();
    let mut chunk = Vec::new();
    let mut size = overhead;
    for r in all {
        let len = r.to_string().len() + 1;
        if !chunk.is_empty() && size + len > KINESIS_DATA_LIMIT {
            out.push(with(std::mem::take(&mut chunk)));
            size = overhead;
        }
        size += len;
        chunk.push(r);
    }
    if !chunk.is_empty() {
        out.push(with(chunk));
    }
    out
}

fn base(pool_id: &str, d: &DatasetRow, operation: &str, last_modified_ms: i64) -> Value {
    json!({
        "identityPoolId": pool_id,
        "identityId": d.identity_id,
        "dataSetName": d.name,
        "operation": operation,
        "kinesisSyncRecords": [],
        "lastModifiedDate": last_modified_ms,
        "kinesisSyncRecordsURL": null,
        "payloadType": "Inline",
        "syncCount": d.sync_count,
    })
}

fn events(
    pool_id: &str,
    stream: &str,
    key: &str,
    job: Option<&str>,
    payloads: Vec<Value>,
) -> Vec<NewOutboxEvent> {
    let partition_key = key.trim_start_matches("bulk/");
    payloads
        .iter()
        .map(|p| NewOutboxEvent {
            pool_id: pool_id.to_owned(),
            stream_key: key.to_owned(),
            target: OutboxTarget::Kinesis {
                stream: stream.to_owned(),
            }
            .encode(),
            payload: envelope(partition_key, p),
            job: job.map(str::to_owned),
        })
        .collect()
}

/// Events for a successful UpdateRecords: the dataset after the update and the records it wrote.
pub fn update_events(
    pool_id: &str,
    stream: &str,
    d: &DatasetRow,
    written: &[RecordRow],
) -> Vec<NewOutboxEvent> {
    let key = format!("{}/{}", d.identity_id, d.name);
    let payloads = records_payloads(&base(pool_id, d, "replace", d.last_modified_ms), written);
    events(pool_id, stream, &key, None, payloads)
}

/// The event for a DeleteDataset: operation `remove`, no records.
pub fn delete_events(
    pool_id: &str,
    stream: &str,
    d: &DatasetRow,
    now_ms: i64,
) -> Vec<NewOutboxEvent> {
    let key = format!("{}/{}", d.identity_id, d.name);
    events(
        pool_id,
        stream,
        &key,
        None,
        vec![base(pool_id, d, "remove", now_ms)],
    )
}

/// Bulk publish: the whole dataset with its live records, as one job's events.
pub fn bulk_events(
    pool_id: &str,
    stream: &str,
    d: &DatasetRow,
    records: &[RecordRow],
) -> Vec<NewOutboxEvent> {
    let key = format!("bulk/{}/{}", d.identity_id, d.name);
    let payloads = records_payloads(&base(pool_id, d, "replace", d.last_modified_ms), records);
    events(pool_id, stream, &key, Some(pool_id), payloads)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset() -> DatasetRow {
        DatasetRow {
            identity_id: "us-east-1:i".into(),
            name: "ds".into(),
            live: true,
            sync_count: 7,
            creation_ms: 1,
            last_modified_ms: 1_424_801_824_343,
            last_modified_by: "x".into(),
            data_storage: 0,
            num_records: 0,
            deleted_at_sync_count: None,
            merged_into: None,
        }
    }

    fn record(key: &str, value: Option<String>) -> RecordRow {
        RecordRow {
            key: key.into(),
            value,
            sync_count: 7,
            last_modified_ms: 1_424_801_824_343,
            last_modified_by: "x".into(),
            device_last_modified_ms: Some(1_424_801_824_000),
        }
    }

    #[test]
    fn an_update_becomes_one_record_in_the_documented_shape() {
        let ev = update_events(
            "us-east-1:p",
            "s",
            &dataset(),
            &[record("a", Some("1".into())), record("b", None)],
        );
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].target, "kinesis:s");
        assert_eq!(ev[0].stream_key, "us-east-1:i/ds");
        let env: Value = serde_json::from_str(&ev[0].payload).unwrap();
        assert_eq!(env["partitionKey"], "us-east-1:i/ds");
        let d = &env["data"];
        assert_eq!(d["dataSetName"], "ds");
        assert_eq!(d["operation"], "replace");
        assert_eq!(d["syncCount"], 7);
        assert_eq!(d["payloadType"], "Inline");
        assert_eq!(d["lastModifiedDate"], 1_424_801_824_343i64);
        assert_eq!(d["kinesisSyncRecords"][0]["op"], "replace");
        assert_eq!(d["kinesisSyncRecords"][1]["op"], "remove");
        assert_eq!(d["kinesisSyncRecords"][1]["value"], Value::Null);
        assert_eq!(
            d["kinesisSyncRecords"][0]["deviceLastModifiedDate"],
            1_424_801_824_000i64
        );
    }

    #[test]
    fn oversized_payloads_split_without_losing_a_record() {
        let records: Vec<RecordRow> = (0..5)
            .map(|i| record(&format!("k{i}"), Some("v".repeat(400_000))))
            .collect();
        let ev = update_events("p", "s", &dataset(), &records);
        assert!(ev.len() >= 2);
        let mut keys = Vec::new();
        for e in &ev {
            let env: Value = serde_json::from_str(&e.payload).unwrap();
            assert!(env["data"].to_string().len() <= KINESIS_DATA_LIMIT);
            for r in env["data"]["kinesisSyncRecords"].as_array().unwrap() {
                keys.push(r["key"].as_str().unwrap().to_string());
            }
        }
        assert_eq!(keys, ["k0", "k1", "k2", "k3", "k4"]);
    }

    #[test]
    fn a_deleted_stream_turns_off_the_pools_that_still_publish_to_it() {
        let settings = |streams: &str| PoolSettings {
            version: 4,
            push_sync: serde_json::from_str(r#"{"ApplicationArns":["arn:app"]}"#).unwrap(),
            cognito_streams: serde_json::from_str(streams).unwrap(),
            events: [("SyncTrigger".to_owned(), "f".to_owned())].into(),
            limits: Default::default(),
        };
        let enabled = settings(
            r#"{"StreamName":"s","RoleArn":"arn:aws:iam::1:role/r","StreamingStatus":"ENABLED"}"#,
        );
        let off = turn_off_deleted_stream(&enabled, "s").expect("streaming turned off");
        assert_eq!(stream_of(&off), None);
        let streams = serde_json::to_value(off.cognito_streams.as_ref().unwrap()).unwrap();
        assert_eq!(
            streams,
            json!({"StreamName": "s", "RoleArn": "arn:aws:iam::1:role/r", "StreamingStatus": "DISABLED"})
        );
        assert_eq!(
            (off.version, &off.push_sync, &off.events),
            (5, &enabled.push_sync, &enabled.events),
            "the rest is kept, as the next version"
        );
        assert_eq!(
            turn_off_deleted_stream(&enabled, "other"),
            None,
            "a pool re-configured to another stream keeps it"
        );
        let disabled = settings(r#"{"StreamName":"s","StreamingStatus":"DISABLED"}"#);
        assert_eq!(turn_off_deleted_stream(&disabled, "s"), None);
        assert_eq!(turn_off_deleted_stream(&PoolSettings::default(), "s"), None);
    }

    #[test]
    fn only_enabled_streams_publish() {
        let mut s = PoolSettings::default();
        assert_eq!(stream_of(&s), None);
        s.cognito_streams =
            serde_json::from_str(r#"{"StreamName":"x","StreamingStatus":"DISABLED"}"#).unwrap();
        assert_eq!(stream_of(&s), None);
        s.cognito_streams =
            serde_json::from_str(r#"{"StreamName":"x","StreamingStatus":"ENABLED"}"#).unwrap();
        assert_eq!(stream_of(&s).as_deref(), Some("x"));
    }
}
