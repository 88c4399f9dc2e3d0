//! What every measurement reports: one JSON line per run, the same shape as the Python and
//! Node peers print (`bench/peers/README.md`), so the runner reads them all alike.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One measured run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Run {
    /// What ran: `stk`, `reqwest`, `python-requests`, `node-fetch`, `fastapi`, …
    pub(crate) tool: String,
    /// The provider whose wire format was used, if any.
    #[serde(default)]
    pub(crate) provider: String,
    /// Requests in flight at once.
    #[serde(default)]
    pub(crate) concurrency: u64,
    /// Requests (or payments, or callbacks) attempted.
    pub(crate) requests: u64,
    /// Those that succeeded.
    pub(crate) ok: u64,
    /// Those that failed.
    pub(crate) errors: u64,
    /// Wall time of the measured part.
    pub(crate) seconds: f64,
    /// `ok / seconds`.
    pub(crate) rps: f64,
    /// Median latency.
    #[serde(default)]
    pub(crate) p50_ms: f64,
    /// 99th percentile latency.
    #[serde(default)]
    pub(crate) p99_ms: f64,
    /// Peak resident memory of the process that ran it.
    #[serde(default)]
    pub(crate) peak_rss_kb: u64,
    /// Anything else the section reports (status calls per payment, …).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub(crate) extra: serde_json::Map<String, serde_json::Value>,
}

impl Run {
    /// A run of `tool` from its latencies (one per request) and wall time.
    pub(crate) fn from_latencies(
        tool: &str,
        mut latencies: Vec<Duration>,
        errors: u64,
        wall: Duration,
    ) -> Self {
        latencies.sort_unstable();
        let ok = latencies.len() as u64;
        let seconds = wall.as_secs_f64();
        Self {
            tool: tool.to_owned(),
            requests: ok + errors,
            ok,
            errors,
            seconds,
            rps: if seconds > 0.0 {
                ok as f64 / seconds
            } else {
                0.0
            },
            p50_ms: percentile(&latencies, 0.50),
            p99_ms: percentile(&latencies, 0.99),
            peak_rss_kb: peak_rss_kb(),
            ..Self::default()
        }
    }

    /// Prints the run as one JSON line on stdout (what the runner reads).
    pub(crate) fn print(&self) {
        #[allow(clippy::print_stdout)]
        match serde_json::to_string(self) {
            Ok(line) => println!("{line}"),
            Err(e) => println!(
                "{{\"tool\":\"error\",\"requests\":0,\"ok\":0,\"errors\":1,\"seconds\":0,\"rps\":0,\"error\":{:?}}}",
                e.to_string()
            ),
        }
    }
}

/// The `q` quantile of sorted latencies, in milliseconds.
pub(crate) fn percentile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[index.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// This process's peak resident set (`VmHWM` of `/proc/self/status`), in KiB; 0 where unknown.
pub(crate) fn peak_rss_kb() -> u64 {
    kb_field("VmHWM:")
}

/// This process's current resident set, in KiB; 0 where unknown.
pub(crate) fn rss_kb() -> u64 {
    kb_field("VmRSS:")
}

fn kb_field(name: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
