//! `GET /metrics`: Prometheus text for the key's account. Counters kept by the service
//! (payments requests by provider and outcome, webhook deliveries and their latency) and read
//! from the tracker (callbacks by outcome and how long they waited, status queries by reason,
//! callbacks refused or shed, events waiting for delivery).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Extension;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use stk_tracker::LatencyHistogram;

use crate::account::Account;

/// Undelivered events are counted up to this many (a bounded query).
const PENDING_COUNT_LIMIT: i64 = 100_000;

/// What the service counts itself, per account.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    /// (provider, outcome) → payments requests.
    payments: Mutex<BTreeMap<(String, &'static str), u64>>,
    webhooks_delivered: AtomicU64,
    webhooks_failed: AtomicU64,
    /// From an event being recorded to its webhook being acknowledged.
    event_to_webhook: LatencyHistogram,
}

impl Metrics {
    pub(crate) fn payment(&self, provider: &str, outcome: &'static str) {
        let mut counts = self.payments.lock().unwrap_or_else(|e| e.into_inner());
        // Provider names come from the tracker's table (or "none"): bounded.
        *counts.entry((provider.to_owned(), outcome)).or_default() += 1;
    }

    pub(crate) fn webhook(&self, delivered: bool, age_ms: i64) {
        if !delivered {
            self.webhooks_failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.webhooks_delivered.fetch_add(1, Ordering::Relaxed);
        let age = Duration::from_millis(u64::try_from(age_ms).unwrap_or(0));
        self.event_to_webhook.observe(age);
    }
}

/// Prometheus text, every series labelled with the account.
struct Text {
    out: String,
    account: String,
}

impl Text {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// `name{account="…",labels} value`; label values are names from fixed tables.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        let _ = write!(self.out, "{name}{{account=\"{}\"", self.account);
        for (k, v) in labels {
            let _ = write!(self.out, ",{k}=\"{v}\"");
        }
        let _ = writeln!(self.out, "}} {value}");
    }

    fn histogram(&mut self, name: &str, help: &str, histogram: &LatencyHistogram) {
        self.family(name, "histogram", help);
        let (buckets, sum) = histogram.cumulative();
        let mut count = 0;
        for (bound, n) in buckets {
            let le = if bound.is_finite() {
                bound.to_string()
            } else {
                "+Inf".to_owned()
            };
            self.sample(&format!("{name}_bucket"), &[("le", &le)], n);
            count = n;
        }
        self.sample(&format!("{name}_sum"), &[], sum.as_secs_f64());
        self.sample(&format!("{name}_count"), &[], count);
    }
}

pub(crate) async fn metrics(Extension(account): Extension<Arc<Account>>) -> impl IntoResponse {
    // Account names are checked plain (letters, digits, - and _): safe in a label.
    let mut t = Text {
        out: String::new(),
        account: account.name().to_owned(),
    };
    let m = &account.metrics;
    let tracker = &account.tracker;

    let name = "stk_payments_requests_total";
    t.family(
        name,
        "counter",
        "POST /v1/payments by provider and outcome.",
    );
    for ((provider, outcome), n) in m.payments.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        t.sample(name, &[("provider", provider), ("outcome", outcome)], n);
    }

    let name = "stk_callbacks_total";
    t.family(name, "counter", "Provider callbacks decided, by outcome.");
    for (outcome, n) in tracker.callback_outcomes() {
        t.sample(name, &[("outcome", outcome)], n);
    }
    t.histogram(
        "stk_callback_to_decision_seconds",
        "From a callback being stored to its being decided (confirmed and applied, or refused).",
        tracker.callback_latency(),
    );

    let q = tracker.status_query_counts();
    let name = "stk_status_queries_total";
    t.family(name, "counter", "Status queries sent, by reason.");
    for (reason, n) in [
        ("final_claim", q.final_claims),
        ("pending_claim", q.pending_claims),
        ("scheduled", q.scheduled),
    ] {
        t.sample(name, &[("reason", reason)], n);
    }
    let name = "stk_status_queries_saved_total";
    t.family(
        name,
        "counter",
        "Claims answered without a query of their own.",
    );
    for (how, n) in [
        ("shared", q.shared),
        ("coalesced", q.coalesced),
        ("deferred", q.deferred),
        ("throttled", q.throttled),
    ] {
        t.sample(name, &[("how", how)], n);
    }

    let name = "stk_callbacks_overloaded_total";
    t.family(
        name,
        "counter",
        "Callbacks answered 503: the backlog was full.",
    );
    t.sample(name, &[], tracker.overloaded_callbacks());
    let store = tracker.store().as_ref();
    if let Ok(refused) = stk_tracker::InboxStore::refused(store).await {
        let mut by_provider: BTreeMap<String, i64> = BTreeMap::new();
        for r in refused {
            *by_provider.entry(r.provider).or_default() += r.count;
        }
        let name = "stk_callbacks_refused_total";
        t.family(
            name,
            "counter",
            "Callbacks refused before storage (not the provider's, or failing its verification).",
        );
        for (provider, n) in by_provider {
            t.sample(name, &[("provider", &provider)], n);
        }
    }
    if let Ok(pending) = stk_tracker::OutboxStore::undelivered(store, PENDING_COUNT_LIMIT).await {
        let name = "stk_events_pending";
        t.family(
            name,
            "gauge",
            "Events not yet delivered (webhooks waiting or being retried), counted up to 100000.",
        );
        t.sample(name, &[], pending);
    }

    let name = "stk_webhooks_total";
    t.family(name, "counter", "Webhook deliveries by result.");
    t.sample(
        name,
        &[("result", "delivered")],
        m.webhooks_delivered.load(Ordering::Relaxed),
    );
    t.sample(
        name,
        &[("result", "failed")],
        m.webhooks_failed.load(Ordering::Relaxed),
    );
    t.histogram(
        "stk_event_to_webhook_seconds",
        "From an event being recorded to its webhook being acknowledged.",
        &m.event_to_webhook,
    );
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], t.out)
}
