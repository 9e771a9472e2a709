//! Wall-clock helpers: the server keeps every timestamp as integer epoch milliseconds.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Epoch milliseconds as the fractional epoch seconds AWS JSON protocols put on the wire
/// (at most three decimals, always a JSON number).
pub fn ms_to_epoch_seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_seconds_keep_millisecond_precision_on_the_wire() {
        let v = serde_json::to_string(&ms_to_epoch_seconds(1_412_974_057_151)).unwrap();
        assert_eq!(v, "1412974057.151");
    }
}
