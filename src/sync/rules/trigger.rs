//! Cognito Events' sync trigger, its rules: the event a function sees during UpdateRecords
//! (spec §6) and how its answer becomes the patches that are committed.
//!
//! The event lists every live record of the dataset (`op: replace`, old and new value equal)
//! with the caller's patches applied (`newValue` changed, `op: remove` for removals, no
//! `oldValue` for new keys). In the answer, a record the caller patched is written as the
//! function says; any other record is written only if the function changed, added or removed
//! it; records left out are not written. The read-only fields must come back unchanged.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Map, Value};

use super::update::{Patch, PatchOp};
use crate::store::{PoolSettings, RecordRow, Rejection, UpdateSnapshot};
use crate::sync::ports::TriggerError;
use crate::sync::SyncError;

/// The identifying, read-only part of an event.
pub struct EventContext<'a> {
    pub region: &'a str,
    pub pool_id: &'a str,
    pub identity_id: &'a str,
    pub dataset: &'a str,
}

impl EventContext<'_> {
    fn fields(&self) -> [(&'static str, Value); 6] {
        [
            ("version", json!(2)),
            ("eventType", json!("SyncTrigger")),
            ("region", json!(self.region)),
            ("identityPoolId", json!(self.pool_id)),
            ("identityId", json!(self.identity_id)),
            ("datasetName", json!(self.dataset)),
        ]
    }
}

fn bad(message: impl Into<String>) -> SyncError {
    SyncError::InvalidLambdaOutput(message.into())
}

/// The event for `patches` over the dataset's current `records` (tombstones included).
pub fn event(ctx: &EventContext<'_>, records: &[RecordRow], patches: &[Patch]) -> Value {
    let mut entries: BTreeMap<String, Value> = BTreeMap::new();
    for r in records.iter().filter(|r| r.value.is_some()) {
        entries.insert(
            r.key.clone(),
            json!({ "oldValue": r.value, "newValue": r.value, "op": "replace" }),
        );
    }
    let current: HashMap<&str, &RecordRow> = records.iter().map(|r| (r.key.as_str(), r)).collect();
    for p in patches {
        let old = current.get(p.key.as_str()).and_then(|r| r.value.clone());
        let mut entry = Map::new();
        if let Some(old) = old {
            entry.insert("oldValue".into(), json!(old));
        }
        match p.op {
            PatchOp::Replace => {
                entry.insert(
                    "newValue".into(),
                    json!(p.value.clone().unwrap_or_default()),
                );
                entry.insert("op".into(), json!("replace"));
            }
            PatchOp::Remove => {
                entry.insert("newValue".into(), Value::Null);
                entry.insert("op".into(), json!("remove"));
            }
        }
        entries.insert(p.key.clone(), Value::Object(entry));
    }
    let mut event = Map::new();
    for (k, v) in ctx.fields() {
        event.insert(k.into(), v);
    }
    event.insert("datasetRecords".into(), json!(entries));
    Value::Object(event)
}

/// The patches to commit from the function's answer. Counts are the stored ones (the caller's
/// counts were checked before the function ran).
pub fn patches_from_output(
    ctx: &EventContext<'_>,
    output: &Value,
    records: &[RecordRow],
    patches: &[Patch],
) -> Result<Vec<Patch>, SyncError> {
    let obj = output
        .as_object()
        .ok_or_else(|| bad("The sync trigger must return a JSON object"))?;
    for (field, expected) in ctx.fields() {
        if obj.get(field) != Some(&expected) {
            return Err(bad(format!(
                "The sync trigger changed or dropped the read-only field '{field}'"
            )));
        }
    }
    let out = obj
        .get("datasetRecords")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("The sync trigger's answer has no datasetRecords object"))?;
    let current: HashMap<&str, &RecordRow> = records.iter().map(|r| (r.key.as_str(), r)).collect();
    let patched: HashMap<&str, &Patch> = patches.iter().map(|p| (p.key.as_str(), p)).collect();
    let mut result = Vec::new();
    for (key, entry) in out {
        let entry = entry
            .as_object()
            .ok_or_else(|| bad(format!("datasetRecords['{key}'] must be an object")))?;
        let new_value = match entry.get("newValue") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                return Err(bad(format!(
                    "datasetRecords['{key}'].newValue must be a string or null"
                )))
            }
        };
        let op = match entry.get("op").and_then(Value::as_str) {
            Some("remove") => PatchOp::Remove,
            Some("replace") | None => {
                if new_value.is_some() {
                    PatchOp::Replace
                } else {
                    PatchOp::Remove
                }
            }
            Some(other) => {
                return Err(bad(format!(
                    "datasetRecords['{key}'].op '{other}' is neither replace nor remove"
                )))
            }
        };
        let value = if op == PatchOp::Remove {
            None
        } else {
            new_value
        };
        let stored = current.get(key.as_str());
        let unchanged = stored.is_some_and(|r| r.value == value)
            || (stored.is_none_or(|r| r.value.is_none()) && value.is_none());
        let user = patched.get(key.as_str());
        if user.is_none() && unchanged {
            continue;
        }
        super::check_record(
            key,
            value.as_deref(),
            "datasetRecords.key",
            "datasetRecords.newValue",
        )
        .map_err(|v| bad(v.0))?;
        result.push(Patch {
            op,
            key: key.clone(),
            value,
            sync_count: stored.map_or(0, |r| r.sync_count),
            device_last_modified_ms: user.and_then(|p| p.device_last_modified_ms),
        });
    }
    Ok(result)
}

/// The pool's SyncTrigger target, if one is set.
pub fn target_of(settings: &PoolSettings) -> Option<String> {
    settings
        .events
        .get(super::settings::SYNC_TRIGGER)
        .filter(|t| !t.is_empty())
        .cloned()
}

/// Inside the write transaction: the dataset must still be at the count the function saw.
pub fn check_unchanged(
    snapshot: &UpdateSnapshot,
    expected: i64,
    patches: &[Patch],
) -> Result<(), Rejection> {
    let current = snapshot.dataset.as_ref().map_or(0, |d| d.sync_count);
    if current == expected {
        return Ok(());
    }
    let first = patches.first();
    let key = first.map_or_else(String::new, |p| p.key.clone());
    Err(Rejection::Conflict {
        stored: snapshot.existing.get(&key).map_or(0, |r| r.sync_count),
        sent: first.map_or(0, |p| p.sync_count),
        key,
    })
}

pub fn trigger_error(e: TriggerError) -> SyncError {
    match e {
        TriggerError::Throttled(m) => SyncError::LambdaThrottled(m),
        TriggerError::Timeout(m) => SyncError::LambdaTimeout(m),
        TriggerError::FunctionError(m)
        | TriggerError::BadOutput(m)
        | TriggerError::Unreachable(m) => SyncError::InvalidLambdaOutput(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> EventContext<'static> {
        EventContext {
            region: "us-east-1",
            pool_id: "us-east-1:p",
            identity_id: "us-east-1:i",
            dataset: "ds",
        }
    }

    fn rec(key: &str, value: Option<&str>, count: i64) -> RecordRow {
        RecordRow {
            key: key.into(),
            value: value.map(Into::into),
            sync_count: count,
            last_modified_ms: 0,
            last_modified_by: "x".into(),
            device_last_modified_ms: None,
        }
    }

    fn patch(op: PatchOp, key: &str, value: Option<&str>, count: i64) -> Patch {
        Patch {
            op,
            key: key.into(),
            value: value.map(Into::into),
            sync_count: count,
            device_last_modified_ms: None,
        }
    }

    #[test]
    fn the_event_shows_every_live_record_with_the_patches_applied() {
        let records = [
            rec("a", Some("1"), 1),
            rec("b", Some("2"), 1),
            rec("gone", None, 2),
        ];
        let patches = [
            patch(PatchOp::Replace, "a", Some("10"), 1),
            patch(PatchOp::Remove, "b", None, 1),
            patch(PatchOp::Replace, "new", Some("n"), 0),
        ];
        let e = event(&ctx(), &records, &patches);
        assert_eq!(e["version"], 2);
        assert_eq!(e["eventType"], "SyncTrigger");
        let r = &e["datasetRecords"];
        assert_eq!(
            r["a"],
            json!({"oldValue": "1", "newValue": "10", "op": "replace"})
        );
        assert_eq!(
            r["b"],
            json!({"oldValue": "2", "newValue": null, "op": "remove"})
        );
        assert_eq!(r["new"], json!({"newValue": "n", "op": "replace"}));
        assert!(r.get("gone").is_none(), "tombstones are not records");
    }

    #[test]
    fn the_answer_decides_what_is_written() {
        let records = [
            rec("a", Some("1"), 3),
            rec("b", Some("2"), 1),
            rec("c", Some("3"), 1),
        ];
        let patches = [
            patch(PatchOp::Replace, "a", Some("10"), 3),
            patch(PatchOp::Replace, "d", Some("x"), 0),
        ];
        let mut out = event(&ctx(), &records, &patches);
        out["datasetRecords"]["a"]["newValue"] = json!("99");
        out["datasetRecords"]["c"] = json!({"oldValue": "3", "newValue": null, "op": "replace"});
        out["datasetRecords"]["added"] = json!({"newValue": "z", "op": "replace"});
        out["datasetRecords"].as_object_mut().unwrap().remove("d");
        let mut got = patches_from_output(&ctx(), &out, &records, &patches).unwrap();
        got.sort_by(|x, y| x.key.cmp(&y.key));
        let summary: Vec<_> = got
            .iter()
            .map(|p| (p.key.as_str(), p.op, p.value.as_deref(), p.sync_count))
            .collect();
        assert_eq!(
            summary,
            [
                ("a", PatchOp::Replace, Some("99"), 3),
                ("added", PatchOp::Replace, Some("z"), 0),
                ("c", PatchOp::Remove, None, 1)
            ],
            "rewritten, added and removed records are written; untouched and omitted ones are not"
        );
    }

    #[test]
    fn read_only_fields_and_shapes_are_enforced() {
        let out = event(&ctx(), &[], &[]);
        let mut changed = out.clone();
        changed["identityId"] = json!("someone else");
        assert!(
            matches!(patches_from_output(&ctx(), &changed, &[], &[]), Err(SyncError::InvalidLambdaOutput(m)) if m.contains("identityId"))
        );
        assert!(patches_from_output(&ctx(), &json!("nope"), &[], &[]).is_err());
        let mut bad_value = out.clone();
        bad_value["datasetRecords"] = json!({"k": {"newValue": 5, "op": "replace"}});
        assert!(patches_from_output(&ctx(), &bad_value, &[], &[]).is_err());
        let mut bad_op = out;
        bad_op["datasetRecords"] = json!({"k": {"newValue": "v", "op": "upsert"}});
        assert!(patches_from_output(&ctx(), &bad_op, &[], &[]).is_err());
    }
}
