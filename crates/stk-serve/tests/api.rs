//! The service over real HTTP on 127.0.0.1: a real SQLite store, the fake provider's results
//! arriving as callbacks, and a webhook endpoint that checks every signature.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};
use stk::mock::MockProvider;
use stk_serve::{Account, AccountConfig, WebhookTarget};
use stk_tracker::{Clock, SqlStore, Tracker};

mod common;
use common::{Delivery, Hooks, KEY, SECRET_B64, answer, fake_provider, hook_endpoint};

struct Service {
    base: String,
    http: reqwest::Client,
    hooks: Hooks,
    clock: Clock,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), stk_serve::ServeError>>>,
    _db: TempPath,
}

/// A database file removed on drop.
struct TempPath(std::path::PathBuf);

impl Drop for TempPath {
    fn drop(&mut self) {
        if !self.0.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

impl Service {
    async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    async fn start_with(tweak: impl FnOnce(&mut AccountConfig)) -> Self {
        let path = std::env::temp_dir().join(format!("stk-serve-{}.db", fastrand::u64(..)));
        Self::start_on(path, Hooks::default(), tweak).await
    }

    /// A service on the store at `path`, delivering webhooks to a new endpoint using `hooks`.
    async fn start_on(
        path: std::path::PathBuf,
        hooks: Hooks,
        tweak: impl FnOnce(&mut AccountConfig),
    ) -> Self {
        let store = SqlStore::open_sqlite(&path).await.unwrap();
        Self::start_with_store(store, TempPath(path), hooks, None, tweak).await
    }

    /// A service on `store`, delivering webhooks to a new endpoint using `hooks`.
    async fn start_with_store(
        store: SqlStore,
        db: TempPath,
        hooks: Hooks,
        provider: Option<MockProvider>,
        tweak: impl FnOnce(&mut AccountConfig),
    ) -> Self {
        let hook_url = hook_endpoint(&hooks).await;
        let store = Arc::new(store);
        let mock = provider.unwrap_or_else(fake_provider);
        let clock = Clock::manual();
        let tracker = Tracker::builder(store)
            .provider(Arc::new(mock.clone()))
            .clock(clock.clone())
            .build();
        stk_serve::forward_mock_callbacks(mock, tracker.clone());
        let mut config = AccountConfig::new(KEY).unwrap();
        config.webhook =
            Some(WebhookTarget::new(&hook_url, &format!("whsec_{SECRET_B64}")).unwrap());
        tweak(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let account = Account::new("shop", tracker, config).unwrap();
        let task = tokio::spawn(stk_serve::serve(listener, vec![account], async {
            let _ = stopped.await;
        }));
        Self {
            base,
            http: reqwest::Client::new(),
            hooks,
            clock,
            stop: Some(stop),
            task: Some(task),
            _db: db,
        }
    }

    /// Stops the service as SIGTERM would, and waits for it.
    async fn shut_down(mut self) -> std::path::PathBuf {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap();
        // The next service keeps the file.
        std::mem::take(&mut self._db.0)
    }

    async fn post(&self, body: Value) -> (StatusCode, Value) {
        self.post_to("/v1/payments", body).await
    }

    async fn post_to(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let request = self.http.post(format!("{}{path}", self.base)).json(&body);
        answer(request.bearer_auth(KEY)).await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        answer(
            self.http
                .get(format!("{}{path}", self.base))
                .bearer_auth(KEY),
        )
        .await
    }

    /// Waits (polling, up to 10 s) until the webhook endpoint has seen `n` deliveries.
    async fn deliveries(&self, n: usize) -> Vec<Delivery> {
        self.hooks.wait_for(n).await
    }
}

fn order(reference: &str) -> Value {
    json!({ "phone": "0712345678", "amount": 100, "reference": reference })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_is_created_once_and_its_completion_arrives_signed() {
    let service = Service::start().await;
    let (status, created) = service.post(order("ORD-1")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["state"], "submitted");
    assert_eq!(created["phone"], "2547******78", "the phone is masked");
    let id = created["id"].as_str().unwrap().to_owned();

    // A client retrying its POST gets the same payment; nothing is sent again.
    let (status, again) = service.post(order("ORD-1")).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["id"], created["id"]);
    // The same order with another amount is a conflict, with the existing payment.
    let (status, conflict) = service
        .post(json!({ "phone": "0712345678", "amount": 150, "reference": "ORD-1" }))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{conflict}");
    assert_eq!(conflict["error"]["kind"], "already_live");
    assert_eq!(conflict["payment"]["id"], created["id"]);

    let delivered = service.deliveries(1).await;
    let body = &delivered[0].body;
    assert_eq!(body["type"], "payment.completed", "{body}");
    assert_eq!(body["data"]["id"], created["id"]);
    assert_eq!(body["data"]["state"], "completed");
    assert!(body["data"]["receipt"].is_string(), "{body}");
    assert_eq!(delivered[0].id, format!("{id}:completed"));
    assert_eq!(
        body["event"]["phone"], "2547******78",
        "masked in the event too"
    );
    assert_eq!(body["event"]["source"], "callback", "{body}");

    let (status, shown) = service
        .get(&format!("/v1/payments/{id}?expand=timeline"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["state"], "completed");
    let timeline = shown["timeline"].as_array().unwrap();
    assert_eq!(timeline.last().unwrap()["to"], "completed", "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_webhook_is_delivered_again_with_the_same_id() {
    let service = Service::start().await;
    service
        .hooks
        .answers
        .lock()
        .unwrap()
        .push(StatusCode::INTERNAL_SERVER_ERROR);
    let (_, created) = service.post(order("ORD-2")).await;
    let first = service.deliveries(1).await;
    // The retry is due a second later on the tracker's clock.
    service.clock.advance(Duration::from_secs(2));
    let both = service.deliveries(2).await;
    // The delivery log, once the second try is acknowledged in the store.
    let path = format!(
        "/v1/payments/{}?expand=webhooks",
        created["id"].as_str().unwrap()
    );
    let mut shown = Value::Null;
    for _ in 0..200 {
        shown = service.get(&path).await.1;
        if shown["webhooks"][0]["delivered_at"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let log = &shown["webhooks"][0];
    assert_eq!(log["webhook_id"], first[0].id, "{shown}");
    assert_eq!(log["type"], "payment.completed");
    assert_eq!(log["tries"], 2, "{shown}");
    assert!(log["delivered_at"].is_string(), "{shown}");
    assert!(log["next_try_at"].is_null(), "{shown}");
    assert_eq!(
        log["last_error"],
        "the webhook endpoint answered 500 Internal Server Error"
    );
    assert_eq!(both[0].id, both[1].id, "the same webhook-id on every retry");
    assert_eq!(first[0].body["data"]["id"], created["id"]);
    assert_eq!(both[1].body["type"], "payment.completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_keys_and_bad_input_record_nothing() {
    let service = Service::start().await;
    let url = format!("{}/v1/payments", service.base);
    for auth in [None, Some("wrong-key-0123456789"), Some("")] {
        let mut request = service.http.post(&url).json(&order("ORD-X"));
        if let Some(key) = auth {
            request = request.bearer_auth(key);
        }
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status().as_u16(), 401);
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["error"]["kind"], "unauthorized");
    }
    for bad in [
        json!({ "phone": "0712", "amount": 100, "reference": "R" }),
        json!({ "phone": "0712345678", "amount": 0, "reference": "R" }),
        json!({ "phone": "0712345678", "amount": 1.5, "reference": "R" }),
        json!({ "phone": "0712345678", "amount": "100", "reference": "R" }),
        json!({ "phone": "0712345678", "amount": -1, "reference": "R" }),
        json!({ "phone": "0712345678", "amount": 100, "reference": "" }),
        json!({ "phone": "0712345678", "amount": 100, "reference": "R", "admin": true }),
        json!({ "amount": 100, "reference": "R" }),
        json!([1, 2, 3]),
    ] {
        let (status, body) = service.post(bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["error"]["kind"], "invalid_request", "{bad}: {body}");
    }
    // Its own client: the server answers 413 without reading the rest and closes the
    // connection, which a pooled client might otherwise reuse for the next request.
    let huge = reqwest::Client::new()
        .post(&url)
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body(vec![b' '; 100_000])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status().as_u16(), 413);
    let (status, list) = service.get("/v1/payments").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["payments"], json!([]), "nothing was recorded");
    // The scheme is case-insensitive; the key is not.
    let lower = service
        .http
        .get(&url)
        .header("authorization", format!("bearer {KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(lower.status().as_u16(), 200);
    let (status, body) = service.get("/v1/payments/%FF%FE").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["kind"], "invalid_request", "{body}");
    let (status, body) = service.get("/v1/payments/att_nope").await;
    assert_eq!(
        (status, body["error"]["kind"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_attempt"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_push_is_recorded_failed_and_lists_filter() {
    let service = Service::start().await;
    let (status, refused) = service
        .post(json!({ "phone": "0700000008", "amount": 10, "reference": "ORD-R" }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{refused}");
    assert_eq!(refused["state"], "failed");
    assert_eq!(refused["error"]["kind"], "rejected", "{refused}");
    for n in 0..3 {
        let (status, _) = service.post(order(&format!("ORD-L{n}"))).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (_, failed) = service.get("/v1/payments?state=failed").await;
    assert_eq!(failed["payments"].as_array().unwrap().len(), 1, "{failed}");
    let (_, page) = service.get("/v1/payments?limit=2").await;
    assert_eq!(page["payments"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = service
        .get(&format!("/v1/payments?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(rest["payments"].as_array().unwrap().len(), 2);
    assert!(rest["next_cursor"].is_null());
    let (_, one) = service.get("/v1/payments?reference=ORD-L1").await;
    assert_eq!(one["payments"][0]["reference"], "ORD-L1");
    for bad in [
        "state=paid",
        "limit=0",
        "limit=501",
        "cursor=nope",
        "colour=red",
    ] {
        let (status, body) = service.get(&format!("/v1/payments?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let health = service
        .http
        .get(format!("{}/healthz", service.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let ready = service
        .http
        .get(format!("{}/readyz", service.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_resolves_and_reconciles_over_http() {
    let service = Service::start().await;
    // The provider is down at initiation: nothing accepted, the payment is failed.
    let (status, failed) = service
        .post(json!({ "phone": "0700000009", "amount": 10, "reference": "ORD-O" }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{failed}");
    assert_eq!(failed["state"], "failed");
    assert_eq!(failed["error"]["kind"], "unavailable");
    let id = failed["id"].as_str().unwrap();
    let resolve = format!("/v1/payments/{id}/resolve");
    // The customer shows a receipt: a person records it.
    let (status, paid) = service
        .post_to(
            &resolve,
            json!({ "resolution": "completed", "note": "statement shows UAB1C2D3E4", "receipt": "UAB1C2D3E4" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    assert_eq!(
        (paid["state"].as_str(), paid["receipt"].as_str()),
        (Some("completed"), Some("UAB1C2D3E4"))
    );
    // A completed payment never moves.
    let (status, refused) = service
        .post_to(&resolve, json!({ "resolution": "failed", "note": "oops" }))
        .await;
    assert_eq!(
        (status, refused["error"]["kind"].as_str()),
        (StatusCode::CONFLICT, Some("not_resolvable"))
    );
    for bad in [
        json!({ "resolution": "refunded", "note": "x" }),
        json!({ "resolution": "failed" }),
        json!({ "resolution": "failed", "note": "x", "force": true }),
    ] {
        let (status, body) = service.post_to(&resolve, bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let (status, _) = service
        .post_to(
            "/v1/payments/att_nope/resolve",
            json!({ "resolution": "failed", "note": "x" }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The app can tell a person's decision from the provider's word, and why it failed.
    let delivered = service.deliveries(2).await;
    let of = |kind: &str| {
        delivered
            .iter()
            .find(|d| d.body["type"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {delivered:?}"))
            .body
            .clone()
    };
    let failed_hook = of("payment.failed");
    assert_eq!(failed_hook["data"]["state"], "failed", "{failed_hook}");
    assert_eq!(
        failed_hook["event"]["reason"], "unavailable",
        "{failed_hook}"
    );
    assert_eq!(failed_hook["event"]["source"], "initiate", "{failed_hook}");
    let paid_hook = of("payment.completed");
    assert_eq!(paid_hook["event"]["source"], "operator", "{paid_hook}");
    assert_eq!(paid_hook["data"]["receipt"], "UAB1C2D3E4", "{paid_hook}");
    let (status, checked) = service
        .post_to(&format!("/v1/payments/{id}/reconcile"), json!({}))
        .await;
    assert_eq!(
        (status, checked["state"].as_str()),
        (StatusCode::OK, Some("completed"))
    );
    let (status, _) = service
        .post_to("/v1/payments/att_nope/reconcile", json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runaway_client_is_slowed_and_metrics_count_it() {
    let service = Service::start_with(|config| config.payments_per_second = 1).await;
    let mut statuses = Vec::new();
    for n in 0..5 {
        let answer = service
            .http
            .post(format!("{}/v1/payments", service.base))
            .bearer_auth(KEY)
            .json(&order(&format!("ORD-M{n}")))
            .send()
            .await
            .unwrap();
        let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert!(
                answer.headers().contains_key("retry-after"),
                "a 429 says when to come back"
            );
        }
        statuses.push(status);
    }
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    // A burst of two, then 429 (a third may pass if the machine took over a second).
    assert!(
        created >= 2 && limited >= 2 && created + limited == 5,
        "{statuses:?}"
    );
    service.deliveries(created).await;
    let text = service
        .http
        .get(format!("{}/metrics", service.base))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        format!(
            "stk_payments_requests_total{{account=\"shop\",provider=\"mock\",outcome=\"submitted\"}} {created}"
        ),
        format!(
            "stk_payments_requests_total{{account=\"shop\",provider=\"none\",outcome=\"rate_limited\"}} {limited}"
        ),
        format!("stk_webhooks_total{{account=\"shop\",result=\"delivered\"}} {created}"),
        format!("stk_event_to_webhook_seconds_count{{account=\"shop\"}} {created}"),
        "# TYPE stk_status_queries_total counter".to_owned(),
        "stk_events_pending{account=\"shop\"} 0".to_owned(),
    ] {
        assert!(text.contains(&line), "{line} not in\n{text}");
    }
    // The fake provider sends a callback per step (processing, then the result).
    let value = |series: &str| -> u64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(series))
            .unwrap_or_else(|| panic!("{series} not in\n{text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let applied = value("stk_callbacks_total{account=\"shop\",outcome=\"applied\"}");
    assert!(applied >= created as u64, "{text}");
    assert_eq!(
        value("stk_callback_to_decision_seconds_count{account=\"shop\"}"),
        applied
    );
    let anonymous = service
        .http
        .get(format!("{}/metrics", service.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401, "metrics need the key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_refused_before_a_restart_is_delivered_after_it_with_the_same_id() {
    let hooks = Hooks::default();
    hooks
        .answers
        .lock()
        .unwrap()
        .extend([StatusCode::SERVICE_UNAVAILABLE; 3]);
    let path = std::env::temp_dir().join(format!("stk-serve-{}.db", fastrand::u64(..)));
    let first = Service::start_on(path, hooks.clone(), |_| {}).await;
    let (_, created) = first.post(order("ORD-RESTART")).await;
    let refused = first.deliveries(1).await;
    let path = first.shut_down().await;
    // The app is back; so is the service, on the same store.
    hooks.answers.lock().unwrap().clear();
    let second = Service::start_on(path, hooks, |_| {}).await;
    second.clock.advance(Duration::from_secs(5));
    let all = second.deliveries(2).await;
    let delivered = all.last().unwrap();
    assert_eq!(
        delivered.id, refused[0].id,
        "the same webhook-id after the restart"
    );
    assert_eq!(delivered.body["data"]["id"], created["id"]);
    assert_eq!(delivered.body["type"], "payment.completed");
    let (_, shown) = second
        .get(&format!("/v1/payments/{}", created["id"].as_str().unwrap()))
        .await;
    assert_eq!(shown["state"], "completed", "recorded before the restart");
}

/// Two instances on one PostgreSQL database (behind a load balancer): payments created through
/// either, every event's webhook delivered once, by one of them.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_postgres_share_the_work() {
    let Some(url) = stk_tracker::conformance::test_postgres_url() else {
        eprintln!("skipped: STK_TEST_POSTGRES_URL is not set");
        return;
    };
    let url = stk_tracker::conformance::fresh_postgres_database(&url).await;
    let hooks = Hooks::default();
    // Both instances talk to one provider, as behind a load balancer.
    let provider = fake_provider();
    let mut instances = Vec::new();
    for _ in 0..2 {
        let store = SqlStore::connect(&url).await.unwrap();
        let db = TempPath(std::path::PathBuf::new());
        let instance =
            Service::start_with_store(store, db, hooks.clone(), Some(provider.clone()), |_| {})
                .await;
        instances.push(instance);
    }
    let mut ids = std::collections::BTreeSet::new();
    for n in 0..10 {
        let (status, created) = instances[n % 2].post(order(&format!("ORD-PG{n}"))).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        ids.insert(format!("{}:completed", created["id"].as_str().unwrap()));
        // The other instance sees it at once.
        let (status, _) = instances[(n + 1) % 2]
            .get(&format!("/v1/payments/{}", created["id"].as_str().unwrap()))
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let seen = instances[0].deliveries(10).await;
    let delivered: std::collections::BTreeSet<String> = seen.iter().map(|d| d.id.clone()).collect();
    assert_eq!(delivered, ids, "every completion delivered");
    assert_eq!(seen.len(), 10, "none twice: {seen:?}");
}
