//! `GET /metrics`: Prometheus text. Counters kept by the service (payments created by
//! provider and outcome, webhook deliveries) and read from the tracker (status queries by
//! reason, callbacks answered 503 for a full backlog, callbacks refused before storage).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Extension;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use std::sync::Arc;

use crate::account::Account;

/// Upper bounds (seconds) of the event→webhook latency histogram's buckets.
const LATENCY_BUCKETS: [f64; 9] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0];

/// What the service counts itself.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    /// (provider, outcome) → payments requests.
    payments: Mutex<BTreeMap<(String, &'static str), u64>>,
    webhooks_delivered: AtomicU64,
    webhooks_failed: AtomicU64,
    /// Per bucket (and +Inf last): deliveries whose event was that old when delivered.
    latency: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    latency_sum_ms: AtomicU64,
}

impl Metrics {
    pub(crate) fn payment(&self, provider: &str, outcome: &'static str) {
        let mut counts = self.payments.lock().unwrap_or_else(|e| e.into_inner());
        // Provider names come from the tracker's table (or "unknown"): bounded.
        *counts.entry((provider.to_owned(), outcome)).or_default() += 1;
    }

    pub(crate) fn webhook(&self, delivered: bool, age_ms: i64) {
        if !delivered {
            self.webhooks_failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.webhooks_delivered.fetch_add(1, Ordering::Relaxed);
        let age_ms = u64::try_from(age_ms).unwrap_or(0);
        #[allow(clippy::cast_precision_loss)]
        let seconds = age_ms as f64 / 1000.0;
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.latency[bucket].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_ms.fetch_add(age_ms, Ordering::Relaxed);
    }
}

pub(crate) async fn metrics(Extension(account): Extension<Arc<Account>>) -> impl IntoResponse {
    let mut out = String::new();
    let m = &account.metrics;
    // Account names are checked plain (letters, digits, - and _): safe in a label.
    let a = account.name();
    let _ = writeln!(
        out,
        "# HELP stk_payments_requests_total POST /v1/payments by provider and outcome."
    );
    let _ = writeln!(out, "# TYPE stk_payments_requests_total counter");
    for ((provider, outcome), n) in m.payments.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        let _ = writeln!(
            out,
            "stk_payments_requests_total{{account=\"{a}\",provider=\"{provider}\",outcome=\"{outcome}\"}} {n}"
        );
    }
    let q = account.tracker.status_query_counts();
    let _ = writeln!(
        out,
        "# HELP stk_status_queries_total Status queries sent, by reason."
    );
    let _ = writeln!(out, "# TYPE stk_status_queries_total counter");
    for (reason, n) in [
        ("final_claim", q.final_claims),
        ("pending_claim", q.pending_claims),
        ("scheduled", q.scheduled),
    ] {
        let _ = writeln!(
            out,
            "stk_status_queries_total{{account=\"{a}\",reason=\"{reason}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP stk_status_queries_saved_total Claims answered without a query of their own."
    );
    let _ = writeln!(out, "# TYPE stk_status_queries_saved_total counter");
    for (how, n) in [
        ("shared", q.shared),
        ("coalesced", q.coalesced),
        ("deferred", q.deferred),
        ("throttled", q.throttled),
    ] {
        let _ = writeln!(
            out,
            "stk_status_queries_saved_total{{account=\"{a}\",how=\"{how}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP stk_callbacks_overloaded_total Callbacks answered 503: the backlog was full."
    );
    let _ = writeln!(out, "# TYPE stk_callbacks_overloaded_total counter");
    let _ = writeln!(
        out,
        "stk_callbacks_overloaded_total{{account=\"{a}\"}} {}",
        account.tracker.overloaded_callbacks()
    );
    if let Ok(refused) = stk_tracker::InboxStore::refused(account.tracker.store().as_ref()).await {
        let mut by_provider: BTreeMap<String, i64> = BTreeMap::new();
        for r in refused {
            *by_provider.entry(r.provider).or_default() += r.count;
        }
        let _ = writeln!(
            out,
            "# HELP stk_callbacks_refused_total Callbacks refused before storage (not the provider's, or failing its verification)."
        );
        let _ = writeln!(out, "# TYPE stk_callbacks_refused_total counter");
        for (provider, n) in by_provider {
            let _ = writeln!(
                out,
                "stk_callbacks_refused_total{{account=\"{a}\",provider=\"{provider}\"}} {n}"
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP stk_webhooks_total Webhook deliveries by result."
    );
    let _ = writeln!(out, "# TYPE stk_webhooks_total counter");
    let _ = writeln!(
        out,
        "stk_webhooks_total{{account=\"{a}\",result=\"delivered\"}} {}",
        m.webhooks_delivered.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "stk_webhooks_total{{account=\"{a}\",result=\"failed\"}} {}",
        m.webhooks_failed.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP stk_event_to_webhook_seconds From an event being recorded to its webhook being acknowledged."
    );
    let _ = writeln!(out, "# TYPE stk_event_to_webhook_seconds histogram");
    let mut cumulative = 0;
    for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
        cumulative += m.latency[i].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "stk_event_to_webhook_seconds_bucket{{account=\"{a}\",le=\"{bound}\"}} {cumulative}"
        );
    }
    cumulative += m.latency[LATENCY_BUCKETS.len()].load(Ordering::Relaxed);
    let _ = writeln!(
        out,
        "stk_event_to_webhook_seconds_bucket{{account=\"{a}\",le=\"+Inf\"}} {cumulative}"
    );
    #[allow(clippy::cast_precision_loss)]
    let sum = m.latency_sum_ms.load(Ordering::Relaxed) as f64 / 1000.0;
    let _ = writeln!(
        out,
        "stk_event_to_webhook_seconds_sum{{account=\"{a}\"}} {sum}"
    );
    let _ = writeln!(
        out,
        "stk_event_to_webhook_seconds_count{{account=\"{a}\"}} {cumulative}"
    );
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
