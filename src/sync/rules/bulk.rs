//! The bulk-publish state machine (spec §7.2), decided here and persisted by the store: a
//! request starts a job unless one is in progress or the last success is too recent; the
//! job succeeds when its last event is delivered (at once when there is nothing to publish)
//! and fails when an event cannot be delivered.

use crate::store::{BulkDecider, BulkEvent, BulkJob, Rejection};

/// A job's status, as GetBulkPublishDetails reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkStatus {
    NotStarted,
    InProgress,
    Succeeded,
    Failed,
}

impl BulkStatus {
    pub const ALL: [BulkStatus; 4] = [
        BulkStatus::NotStarted,
        BulkStatus::InProgress,
        BulkStatus::Succeeded,
        BulkStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BulkStatus::NotStarted => "NOT_STARTED",
            BulkStatus::InProgress => "IN_PROGRESS",
            BulkStatus::Succeeded => "SUCCEEDED",
            BulkStatus::Failed => "FAILED",
        }
    }

    /// A stored job's status; none (or an unknown word) reads as NOT_STARTED.
    pub fn of(job: Option<&BulkJob>) -> Self {
        Self::of_word(job.map_or("", |j| j.status.as_str()))
    }

    /// A stored status word; an unknown one reads as NOT_STARTED.
    pub fn of_word(stored: &str) -> Self {
        [
            BulkStatus::InProgress,
            BulkStatus::Succeeded,
            BulkStatus::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == stored)
        .unwrap_or(BulkStatus::NotStarted)
    }
}

/// A pool's job as reported: NOT_STARTED when never requested.
pub fn reported(job: Option<BulkJob>) -> BulkJob {
    job.unwrap_or_else(|| BulkJob {
        status: BulkStatus::NotStarted.as_str().into(),
        ..BulkJob::default()
    })
}

/// What `event` makes of the stored job at `now_ms`: the job to store, None to leave it, or
/// the refusal of a request.
pub fn next(
    current: Option<&BulkJob>,
    event: BulkEvent<'_>,
    now_ms: i64,
    min_interval_ms: i64,
) -> Result<Option<BulkJob>, Rejection> {
    let status = BulkStatus::of(current);
    let last_success_ms = current.and_then(|j| j.last_success_ms);
    match event {
        BulkEvent::Requested => {
            if status == BulkStatus::InProgress {
                return Err(Rejection::BulkInProgress);
            }
            if last_success_ms.is_some_and(|t| now_ms - t < min_interval_ms) {
                return Err(Rejection::BulkTooSoon);
            }
            Ok(Some(BulkJob {
                status: BulkStatus::InProgress.as_str().into(),
                start_ms: Some(now_ms),
                complete_ms: None,
                failure_message: None,
                last_success_ms,
            }))
        }
        _ if status != BulkStatus::InProgress => Ok(None),
        BulkEvent::Drained => Ok(current.map(|job| BulkJob {
            status: BulkStatus::Succeeded.as_str().into(),
            complete_ms: Some(now_ms),
            last_success_ms: Some(now_ms),
            ..job.clone()
        })),
        BulkEvent::DeliveryFailed(message) => Ok(current.map(|job| BulkJob {
            status: BulkStatus::Failed.as_str().into(),
            complete_ms: Some(now_ms),
            failure_message: Some(message.to_owned()),
            ..job.clone()
        })),
    }
}

/// The rules as the store runs them, at `now_ms`, a new job refused within
/// `min_interval_ms` of the last success.
pub fn decider(now_ms: i64, min_interval_ms: i64) -> BulkDecider {
    Box::new(move |current, event| next(current, event, now_ms, min_interval_ms))
}

/// The rules for a job's progress after its request (deliveries done or lost), at `now_ms`.
pub fn progress(now_ms: i64) -> BulkDecider {
    decider(now_ms, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(status: BulkStatus, last_success_ms: Option<i64>) -> BulkJob {
        BulkJob {
            status: status.as_str().into(),
            start_ms: Some(10),
            complete_ms: None,
            failure_message: None,
            last_success_ms,
        }
    }

    #[test]
    fn a_request_starts_a_job_unless_one_runs_or_the_last_success_is_recent() {
        let started = next(None, BulkEvent::Requested, 100, 1_000)
            .unwrap()
            .unwrap();
        assert_eq!(BulkStatus::of(Some(&started)), BulkStatus::InProgress);
        assert_eq!(started.start_ms, Some(100));
        let running = job(BulkStatus::InProgress, None);
        assert_eq!(
            next(Some(&running), BulkEvent::Requested, 200, 1_000),
            Err(Rejection::BulkInProgress)
        );
        let done = job(BulkStatus::Succeeded, Some(500));
        assert_eq!(
            next(Some(&done), BulkEvent::Requested, 1_499, 1_000),
            Err(Rejection::BulkTooSoon)
        );
        let again = next(Some(&done), BulkEvent::Requested, 1_500, 1_000)
            .unwrap()
            .unwrap();
        assert_eq!(
            again.last_success_ms,
            Some(500),
            "the last success is remembered"
        );
        let failed = job(BulkStatus::Failed, None);
        assert!(next(Some(&failed), BulkEvent::Requested, 1, 1_000)
            .unwrap()
            .is_some());
    }

    #[test]
    fn a_running_job_succeeds_when_drained_and_fails_on_a_lost_delivery() {
        let running = job(BulkStatus::InProgress, None);
        let ok = next(Some(&running), BulkEvent::Drained, 300, 1_000)
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                BulkStatus::of(Some(&ok)),
                ok.complete_ms,
                ok.last_success_ms
            ),
            (BulkStatus::Succeeded, Some(300), Some(300))
        );
        let lost = next(
            Some(&running),
            BulkEvent::DeliveryFailed("gone"),
            400,
            1_000,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (
                BulkStatus::of(Some(&lost)),
                lost.complete_ms,
                lost.failure_message.as_deref()
            ),
            (BulkStatus::Failed, Some(400), Some("gone"))
        );
    }

    #[test]
    fn only_a_running_job_moves() {
        for status in [BulkStatus::Succeeded, BulkStatus::Failed] {
            let j = job(status, Some(5));
            assert_eq!(next(Some(&j), BulkEvent::Drained, 9, 1).unwrap(), None);
            assert_eq!(
                next(Some(&j), BulkEvent::DeliveryFailed("x"), 9, 1).unwrap(),
                None
            );
        }
        assert_eq!(next(None, BulkEvent::Drained, 9, 1).unwrap(), None);
        assert_eq!(
            BulkStatus::of(Some(&reported(None))),
            BulkStatus::NotStarted
        );
        assert_eq!(reported(None).status, BulkStatus::NotStarted.as_str());
    }
}
