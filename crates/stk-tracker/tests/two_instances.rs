//! Two tracker instances on one PostgreSQL database (issue 18): the genuine callbacks of 20
//! payments, each delivered four times and spread over both instances, become 20 events, each
//! delivered once, within seconds of the payments completing (not after a lease expires).

#![allow(clippy::unwrap_used)]

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_within_seconds_on_two_instances() {
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use stk_core::{PaymentId, StkProvider, StkPushRequest};
    use stk_mock::MockProvider;
    use stk_tracker::{Event, SqlStore, Tracker};

    let Some(url) = stk_tracker::conformance::test_postgres_url() else {
        return;
    };
    let url = stk_tracker::conformance::fresh_postgres_database(&url).await;
    let mock = MockProvider::builder()
        .delay(Duration::from_millis(100))
        .callback_token("t")
        .build();
    let instance = || async {
        let store = SqlStore::connect(&url).await.unwrap();
        Tracker::builder(Arc::new(store))
            .provider(Arc::new(mock.clone()))
            .build()
    };
    let (a, b) = (instance().await, instance().await);
    let delivered: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    for tracker in [a.clone(), b.clone()] {
        let delivered = Arc::clone(&delivered);
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let handler = move |event: Event| {
                let delivered = Arc::clone(&delivered);
                async move {
                    delivered
                        .lock()
                        .unwrap()
                        .push((event.event_id.clone(), Instant::now()));
                    Ok::<(), stk_tracker::HandlerError>(())
                }
            };
            tracker
                .run(&handler, Duration::from_millis(500), async move {
                    let _ = stopped.changed().await;
                })
                .await;
        });
    }

    let mut ids = Vec::new();
    for n in 0..20 {
        let request = StkPushRequest::builder()
            .phone("0712345678")
            .amount(100)
            .reference(format!("TWO-{n}"))
            .build()
            .unwrap();
        let attempt = a.push(&request).await.unwrap();
        ids.push(PaymentId::new(attempt.payment_id.unwrap()));
    }
    // The payments complete at the provider (their push answers said pending).
    for id in &ids {
        tokio::time::timeout(Duration::from_secs(10), async {
            while !mock.status(id).await.unwrap().is_final() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap();
    }
    assert!(
        delivered.lock().unwrap().is_empty(),
        "nothing final before the callbacks"
    );
    let started = Instant::now();
    for round in 0..4 {
        for (n, id) in ids.iter().enumerate() {
            let target = if (n + round) % 2 == 0 { &a } else { &b };
            let mut callback = mock.callback_for(id).unwrap();
            // Four distinct deliveries of the same news (a provider's retries differ in bytes).
            callback.body.extend(std::iter::repeat_n(b' ', round));
            target.receive("mock", callback).await.unwrap();
        }
    }
    let all = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if delivered.lock().unwrap().len() >= 20 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let _ = stop.send(true);
    if all.is_err() {
        // Diagnose: events leased but never handled wait for their lease to end.
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        let leased: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM stk_outbox WHERE delivered_at IS NULL AND lease_until IS NOT NULL",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        panic!(
            "only {} events in 30 s; {leased} leased and undelivered",
            delivered.lock().unwrap().len()
        );
    }
    let delivered = delivered.lock().unwrap().clone();
    let last = delivered.iter().map(|(_, at)| *at).max().unwrap();
    let took = last.duration_since(started);
    eprintln!("20 payments, 80 callbacks over two instances: all events in {took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    let unique: std::collections::HashSet<_> = delivered.iter().map(|(id, _)| id).collect();
    assert_eq!(unique.len(), delivered.len(), "each event once");
}
