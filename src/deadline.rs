//! The time by which a request's store work must be done: set once per request by the API
//! layer, read by the store engines, which give up (nothing written, or the commit's outcome
//! looked up) when it passes. Work outside a request (the outbox dispatcher, the import tool)
//! has none, and an engine applies its own per-operation timeout.

use std::future::Future;

use tokio::time::Instant;

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Runs `work` with `deadline` as the deadline of the store work it does.
pub async fn within<F: Future>(deadline: Instant, work: F) -> F::Output {
    DEADLINE.scope(deadline, work).await
}

/// The deadline of the request being served, if any.
pub fn current() -> Option<Instant> {
    DEADLINE.try_with(|d| *d).ok()
}

/// When work started now, allowed `timeout` on its own, must end: the request's deadline if
/// that is sooner.
pub fn for_work(timeout: std::time::Duration) -> Instant {
    let own = Instant::now() + timeout;
    current().map_or(own, |d| d.min(own))
}
