//! The `stream` workload's setting: the pool streams to Kinesis (the echo process answering
//! PutRecord, as the server was told by `AWS_ENDPOINT_URL_KINESIS`) while the clients write,
//! and the time until every node's outbox is empty again is read from their `/metrics`.

use std::time::{Duration, Instant};

use axum::http::Method;
use serde_json::json;

use super::client::{HttpClient, Signer};
use super::Device;

/// Longest wait for the outbox to empty after a run.
const DRAIN_LIMIT: Duration = Duration::from_secs(600);

/// Turns the device's pool's Cognito Streams on or off (the developer's SetIdentityPoolConfiguration).
pub async fn set_streaming(d: &Device, on: bool) -> Result<(), String> {
    let signer = Signer {
        credentials: d.developer.credentials.clone(),
        service: "cognito-sync",
    };
    let body = json!({
        "CognitoStreams": {
            "StreamName": "bench",
            "RoleArn": "arn:aws:iam::000000000000:role/bench",
            "StreamingStatus": if on { "ENABLED" } else { "DISABLED" },
        }
    });
    let path = format!(
        "/identitypools/{}/configuration",
        d.pool.replace(':', "%3A")
    );
    let reply = d
        .http
        .call(
            Method::POST,
            &path,
            &[("content-type", "application/json")],
            body.to_string().into_bytes(),
            Some(&signer),
        )
        .await?;
    match reply.status {
        200 => Ok(()),
        s => Err(format!(
            "SetIdentityPoolConfiguration: HTTP {s} {}",
            reply.body
        )),
    }
}

/// The undelivered outbox events a node reports.
async fn pending(admin: &str) -> Result<i64, String> {
    let (status, scrape) = HttpClient::new(admin).get_text("/metrics").await?;
    if status != 200 {
        return Err(format!("{admin}/metrics: HTTP {status}"));
    }
    Ok(scrape
        .lines()
        .filter(|l| l.starts_with("cogsync_outbox_pending{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<i64>().ok())
        .sum())
}

/// Waits until no node reports undelivered events.
pub async fn wait_until_drained(admins: &[String]) -> Result<(), String> {
    if admins.is_empty() {
        return Err("stream: no admin listener to read the outbox backlog from".into());
    }
    let until = Instant::now() + DRAIN_LIMIT;
    loop {
        let mut left = 0;
        for admin in admins {
            left += pending(admin).await?;
        }
        if left == 0 {
            return Ok(());
        }
        if Instant::now() > until {
            return Err(format!(
                "stream: {left} events still undelivered after {DRAIN_LIMIT:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
