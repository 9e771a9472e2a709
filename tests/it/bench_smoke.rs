//! A short run of every benchmark workload: no errors, and the server's state equals the
//! ledger of acknowledged writes. (No timing is asserted: speed is the benchmark's business.)

use std::time::Duration;

use cogsync_bench::{self as bench, Budget, Workload};

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_workload_runs_clean_with_a_matching_ledger() {
    let (echo_url, _task) = bench::start_echo().await.unwrap();
    // As the benchmark starts its server: its clients' unsigned calls all come from one
    // address, and its Kinesis is the echo.
    let kinesis = echo_url.clone();
    let s = TestServer::start_custom(|c| {
        c.throttle.per_address = None;
        c.admin_listen = Some("127.0.0.1:0".parse().unwrap());
        c.aws.kinesis_endpoint = Some(kinesis);
        c.aws.credentials = Some(aws_credential_types::Credentials::new(
            "AKBENCHKINESIS000000",
            "bench-kinesis-secret",
            None,
            None,
            "t",
        ));
    })
    .await;
    let creds = aws_credential_types::Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "t");
    let devices = bench::provision(&s.endpoint, &creds, 4).await.unwrap();
    // Server and echo run in this process: no CPU figures here.
    let targets = bench::Targets {
        echo_url,
        admin_urls: s.admin.clone().into_iter().collect(),
        ..Default::default()
    };
    let budget = Budget {
        duration: Duration::from_secs(30),
        max_requests: Some(300),
    };
    for w in Workload::ALL {
        let r = bench::run(w, &devices, 4, budget, &targets).await;
        assert_eq!(r.errors, 0, "{}: {:?}", w.name(), r.first_error);
        assert!(
            r.requests >= 100,
            "{}: only {} requests",
            w.name(),
            r.requests
        );
        if w == Workload::Stream {
            assert!(r.events_per_second().is_some(), "the outbox never drained");
        }
        if w.writes() {
            assert_eq!(r.ledger, Some(Ok(())), "{}", w.name());
        } else {
            assert!(r.ledger.is_none());
        }
    }
    // The replaying workloads (pre-signed once, sent byte for byte) are among them.
    assert!(Workload::ALL.contains(&Workload::ListReplay));
    assert!(Workload::ALL.contains(&Workload::EchoReplay));
}
