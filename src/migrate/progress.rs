//! Progress a person can watch: a bar with counts, rate and ETA (where the total is known) on
//! a terminal, a log line every few seconds otherwise.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bar, when the total is known.
const WITH_TOTAL: &str = "{spinner} {prefix} [{bar:30}] {percent}% eta {eta} {wide_msg}";

/// How often a log line is written when stderr is not a terminal.
const LOG_EVERY: Duration = Duration::from_secs(5);

pub struct Progress {
    what: &'static str,
    bar: Option<ProgressBar>,
    started: Instant,
    last_log: Mutex<Instant>,
    pools: AtomicU64,
    identities: AtomicU64,
    datasets: AtomicU64,
    records: AtomicU64,
    bytes: AtomicU64,
}

impl Progress {
    /// `total_bytes`: the input's size, when known (the bar then shows an ETA).
    pub fn new(what: &'static str, total_bytes: Option<u64>) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = match total_bytes {
                Some(total) => {
                    let bar = ProgressBar::new(total);
                    let style = ProgressStyle::with_template(WITH_TOTAL);
                    if let Ok(style) = style {
                        bar.set_style(style.progress_chars("=> "));
                    }
                    bar
                }
                None => {
                    let bar = ProgressBar::new_spinner();
                    if let Ok(style) = ProgressStyle::with_template("{spinner} {prefix} {wide_msg}")
                    {
                        bar.set_style(style);
                    }
                    bar
                }
            };
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.set_prefix(what);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            what,
            bar,
            started: Instant::now(),
            last_log: Mutex::new(Instant::now()),
            pools: AtomicU64::new(0),
            identities: AtomicU64::new(0),
            datasets: AtomicU64::new(0),
            records: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    /// No output at all (tests, library callers).
    pub fn quiet() -> Self {
        let mut p = Progress::new("", None);
        if let Some(bar) = p.bar.take() {
            bar.finish_and_clear();
        }
        p.what = "";
        p
    }

    /// The total `bytes` will reach, once known: the bar then shows how far and an ETA.
    pub fn set_total(&self, total: u64) {
        let Some(bar) = &self.bar else { return };
        if total == 0 {
            return;
        }
        bar.set_length(total);
        if let Ok(style) = ProgressStyle::with_template(WITH_TOTAL) {
            bar.set_style(style.progress_chars("=> "));
        }
    }

    pub fn pools(&self, n: u64) {
        self.pools.fetch_add(n, Ordering::Relaxed);
        self.show();
    }

    pub fn identity(&self, datasets: u64, records: u64) {
        self.identities.fetch_add(1, Ordering::Relaxed);
        self.datasets.fetch_add(datasets, Ordering::Relaxed);
        self.records.fetch_add(records, Ordering::Relaxed);
        self.show();
    }

    pub fn bytes(&self, n: u64) {
        let at = self.bytes.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(bar) = &self.bar {
            bar.set_position(at);
        }
    }

    /// What has been done so far, in words.
    pub fn line(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let identities = self.identities.load(Ordering::Relaxed);
        let records = self.records.load(Ordering::Relaxed);
        format!(
            "{} pools, {identities} identities, {} datasets, {records} records \
             ({:.0} identities/s, {:.0} records/s)",
            self.pools.load(Ordering::Relaxed),
            self.datasets.load(Ordering::Relaxed),
            identities as f64 / secs,
            records as f64 / secs,
        )
    }

    fn show(&self) {
        if self.what.is_empty() {
            return;
        }
        match &self.bar {
            Some(bar) => bar.set_message(self.line()),
            None => {
                let Ok(mut last) = self.last_log.lock() else {
                    return;
                };
                if last.elapsed() >= LOG_EVERY {
                    *last = Instant::now();
                    tracing::info!("{}: {}", self.what, self.line());
                }
            }
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
