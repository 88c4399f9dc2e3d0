//! Floods at the public callback endpoint (issue 18). Garbage and forgeries that fail
//! verification are answered 400 and never stored (only counts by reason and the latest
//! excerpt), so they cannot fill the disk; well-formed claims naming one live payment share
//! its status queries, so they cannot walk the merchant into the provider's rate limits.
//! Over real HTTP against the providers' emulators and the tracker's receiver, the store a real
//! SQLite file.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Claim, Kind, NEVER, Options, QUICK, Rig};
use stk_emulator::Endpoint;

/// The store's files on disk, after SQLite folded its write-ahead log into the database.
async fn store_bytes(rig: &Rig) -> u64 {
    let pool = sqlx::AnyPool::connect(&format!("sqlite://{}", rig.db().display()))
        .await
        .unwrap();
    sqlx::raw_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    std::fs::metadata(rig.db()).unwrap().len()
}

/// The providers whose callbacks carry a secret the tracker checks (token, challenge), one
/// callback shape each.
const WITH_CALLBACK_SECRET: [Kind; 4] = [
    Kind::KulmiPay,
    Kind::UpesiPay,
    Kind::LipiaFlat,
    Kind::Daraja,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_flood_is_refused_and_stores_nothing() {
    for kind in WITH_CALLBACK_SECRET {
        let rig = Rig::start(kind, Options::default()).await;
        let attempt = rig.push(NEVER, "FLOOD-1").await.unwrap();
        let before = store_bytes(&rig).await;

        // 300 bodies of 60 KB that are not JSON, and 100 well-formed forgeries with a guessed
        // secret.
        let garbage = vec![b'x'; 60 * 1024];
        for _ in 0..300 {
            assert_eq!(rig.post(&garbage).await, 400, "{kind:?}");
        }
        let id = attempt.payment_id.clone().unwrap();
        let forged = rig.claim_body(&id, &Claim::paid(&attempt));
        let guessed_status = rig.post_with_guessed_secret(&forged).await;
        let guessable = guessed_status == 200;
        for _ in 0..99 {
            rig.post_with_guessed_secret(&forged).await;
        }
        rig.settle().await;

        // Only the provider's own webhooks about the push (KulmiPay: pending, processing).
        let genuine = rig
            .emulator
            .ledger()
            .webhooks()
            .iter()
            .filter(|w| w.status.is_some_and(|s| s / 100 == 2))
            .count();
        let stored = usize::try_from(rig.inbox_rows().await).unwrap();
        assert_eq!(stored, genuine, "{kind:?}: nothing of the flood stored");
        let refused = rig.tracker.store().refused().await.unwrap();
        let total: i64 = refused.iter().map(|r| r.count).sum();
        let expected = if guessable { 300 } else { 400 };
        assert_eq!(total, expected, "{kind:?}: {refused:?}");
        assert!(
            refused.len() <= 3,
            "{kind:?}: a few reasons, not one per request"
        );
        for row in &refused {
            assert!(row.sample.chars().count() <= stk_tracker::Refused::SAMPLE_CHARS);
        }
        let growth = store_bytes(&rig).await.saturating_sub(before);
        assert!(
            growth <= 400 * 1024 / 10,
            "{kind:?}: the store grew {growth} bytes for 400 refused requests"
        );
        assert!(rig.events.all().is_empty(), "{kind:?}");
        assert!(rig.attempt(&attempt.id).await.state.is_open());
    }
}

/// 200 distinct forged successes (the genuine secret leaked) naming one live, pending payment:
/// nothing is paid, and the provider is asked a handful of times, not 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_naming_one_payment_share_its_status_queries() {
    for kind in WITH_CALLBACK_SECRET {
        let rig = Rig::start(kind, Options::default()).await;
        let attempt = rig.push(NEVER, "FLOOD-2").await.unwrap();
        let id = attempt.payment_id.clone().unwrap();
        let before = rig.emulator.ledger().requests_to(Endpoint::Status).len();
        for _ in 0..200 {
            // A new receipt each time: 200 distinct callbacks, none a re-delivery.
            let forged = rig.claim_body(&id, &Claim::paid(&attempt));
            assert_eq!(rig.post(&forged).await, 200, "{kind:?}");
        }
        rig.settle().await;
        let queries = rig.emulator.ledger().requests_to(Endpoint::Status).len() - before;
        // One per round of (at most 64) callbacks processed together, and one for each of
        // the provider's own callbacks (one per claim before: 200).
        assert!(
            queries <= 8,
            "{kind:?}: {queries} status queries for 200 claims"
        );
        // The tracker's own count agrees: the claims shared answers or were processed together.
        let counts = rig.tracker.status_query_counts();
        let asked = counts.final_claims + counts.pending_claims + counts.scheduled;
        assert_eq!(
            usize::try_from(asked).unwrap(),
            queries,
            "{kind:?}: {counts:?}"
        );
        assert!(
            counts.shared + counts.coalesced >= 190,
            "{kind:?}: {counts:?}"
        );
        assert!(rig.attempt(&attempt.id).await.state.is_open(), "{kind:?}");
        assert!(
            !rig.events
                .kinds(&attempt.id)
                .contains(&"completed".to_owned()),
            "{kind:?}"
        );
        eprintln!("{kind:?}: 200 forged claims on one live payment -> {queries} status queries");
    }
}

/// 300 forged claims of other amounts about one genuine payment: one `anomaly` event counting
/// 300, and the genuine `completed` event is delivered even while the handler refuses
/// anomalies (an anomaly never delays a payment's own event).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anomaly_flood_is_one_event_and_never_delays_the_payment() {
    for kind in [Kind::KulmiPay, Kind::LipiaFlat] {
        let rig = Rig::start(kind, Options::default()).await;
        let attempt = rig.push(QUICK, "FLOOD-3").await.unwrap();
        let id = attempt.payment_id.clone().unwrap();
        for amount in 1..=300 {
            let mut claim = Claim::paid(&attempt);
            claim.amount = 1_000 + amount;
            assert_eq!(rig.post(&rig.claim_body(&id, &claim)).await, 200);
        }
        rig.until_callback_delivered(&id).await;
        while rig.tracker.process_inbox().await.unwrap() > 0 {}
        assert_eq!(
            rig.attempt(&attempt.id).await.state,
            stk_tracker::AttemptState::Completed,
            "{kind:?}"
        );
        // A handler that refuses anomalies still gets the completion.
        let delivered = std::sync::Mutex::new(Vec::new());
        let handler = |event: stk_tracker::Event| {
            let refuse = event.kind.name() == "anomaly";
            delivered
                .lock()
                .unwrap()
                .push((event.kind.name().to_owned(), event.occurrences));
            async move {
                if refuse {
                    Err::<(), stk_tracker::HandlerError>("not now".into())
                } else {
                    Ok(())
                }
            }
        };
        rig.tracker.deliver_events(&handler).await.unwrap();
        let delivered = delivered.into_inner().unwrap();
        assert!(
            delivered.contains(&("completed".to_owned(), 1)),
            "{kind:?}: {delivered:?}"
        );
        let anomalies: Vec<_> = rig
            .tracker
            .store()
            .events(&attempt.id)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.kind.name() == "anomaly")
            .collect();
        assert_eq!(anomalies.len(), 1, "{kind:?}: {anomalies:?}");
        assert_eq!(anomalies[0].occurrences, 300, "{kind:?}");
        let timeline = rig.transitions(&attempt.id).await;
        assert_eq!(
            timeline.iter().filter(|t| t.to == "anomaly").count(),
            300,
            "{kind:?}: every claim is on the timeline"
        );

        // Once delivered (the refused anomaly is retried after 1 s), a new occurrence in the
        // same window is news: an event of its own.
        rig.clock.advance(std::time::Duration::from_secs(2));
        rig.settle().await;
        assert_eq!(rig.events.anomalies(&attempt.id).len(), 1, "{kind:?}");
        let mut claim = Claim::paid(&attempt);
        claim.amount = 5;
        assert_eq!(rig.post(&rig.claim_body(&id, &claim)).await, 200);
        rig.settle().await;
        let anomalies = rig.events.anomalies(&attempt.id);
        assert_eq!(anomalies.len(), 2, "{kind:?}: {anomalies:?}");
    }
}

/// A provider's backlog of unprocessed callbacks is capped: beyond it, callbacks are answered
/// 503 (the provider retries), never stored; once processed, room is made again. Processed
/// callbacks are pruned after the retention (the evidence stays on the attempts' timelines).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backlog_is_capped_and_processed_callbacks_are_pruned() {
    let mut config = stk_tracker::TrackerConfig::default();
    config.max_unprocessed = 10;
    let options = Options {
        config,
        ..Options::default()
    };
    let rig = Rig::start(Kind::LipiaFlat, options).await;
    let attempt = rig.push(NEVER, "FLOOD-4").await.unwrap();
    let id = attempt.payment_id.clone().unwrap();
    let mut answers = Vec::new();
    for _ in 0..25 {
        answers.push(
            rig.post(&rig.claim_body(&id, &Claim::paid(&attempt)))
                .await
                .as_u16(),
        );
    }
    assert_eq!(
        answers.iter().filter(|a| **a == 200).count(),
        10,
        "{answers:?}"
    );
    assert_eq!(
        answers.iter().filter(|a| **a == 503).count(),
        15,
        "{answers:?}"
    );
    assert_eq!(rig.tracker.overloaded_callbacks(), 15, "counted");
    assert_eq!(rig.inbox_rows().await, 10);

    rig.settle().await;
    let pruned_now = rig.tracker.prune().await.unwrap();
    assert_eq!(pruned_now, 0, "kept for the retention");
    rig.clock
        .advance(std::time::Duration::from_secs(31 * 24 * 3600));
    assert_eq!(rig.tracker.prune().await.unwrap(), 10);
    assert_eq!(rig.inbox_rows().await, 0);
    assert!(
        !rig.transitions(&attempt.id).await.is_empty(),
        "the timeline stays"
    );
}

/// 100 forged claims, each inventing an id, naming an outcome-unknown order (whose callbacks'
/// ids cannot be checked against the attempt): at most the per-provider budget of queries
/// (a burst of 20) is spent on them; the rest wait in the inbox, nothing is paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invented_ids_cost_a_bounded_number_of_queries() {
    let rig = Rig::start(Kind::LipiaFlat, Options::default()).await;
    rig.emulator
        .faults()
        .push_for(Endpoint::Initiate, stk_emulator::Fault::CloseAfterBody);
    let attempt = rig.push(NEVER, "FLOOD-5").await.unwrap();
    assert_eq!(attempt.state, stk_tracker::AttemptState::OutcomeUnknown);
    let real = rig.emulator.ledger().charges()[0].id.clone();
    let before = rig.emulator.ledger().requests_to(Endpoint::Status).len();
    for n in 0..100 {
        let body = rig.claim_body(&real, &Claim::paid(&attempt));
        let forged = String::from_utf8(body)
            .unwrap()
            .replace(&real, &format!("INVENTED{n:04}"));
        assert_eq!(rig.post(forged.as_bytes()).await, 200);
    }
    rig.tracker.process_inbox().await.unwrap();
    rig.tracker.process_inbox().await.unwrap();
    let queries = rig.emulator.ledger().requests_to(Endpoint::Status).len() - before;
    eprintln!("100 invented ids -> {queries} status queries");
    assert!(
        queries <= 25,
        "{queries} status queries for 100 invented ids"
    );
    assert!(
        rig.inbox_outcomes()
            .await
            .get("unprocessed")
            .copied()
            .unwrap_or(0)
            >= 70
    );
    assert_eq!(
        rig.attempt(&attempt.id).await.state,
        stk_tracker::AttemptState::OutcomeUnknown
    );
}

/// 2,100 distinct forged successes naming one live payment, stored before the genuine callback
/// of another: claims that say the same thing about the same payment are processed together,
/// so each round costs one lookup and at most one status query for the flood, and the
/// genuine payment is recorded in the round that reaches it, its callback the only one about
/// it. Every forged row keeps its outcome in the inbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_genuine_callback_behind_a_flood_waits_rounds_not_forgeries() {
    for kind in [Kind::UpesiPay, Kind::LipiaFlat, Kind::Daraja] {
        let rig = Rig::start(kind, Options::default()).await;
        let live = rig.push(NEVER, "FLOODED").await.unwrap();
        let id = live.payment_id.clone().unwrap();
        let bodies: Vec<Vec<u8>> = (0..2_100)
            .map(|n| {
                let mut claim = Claim::paid(&live);
                claim.receipt = format!("FRG{n:07}");
                rig.claim_body(&id, &claim)
            })
            .collect();
        for body in &bodies {
            assert_eq!(rig.post(body).await, 200, "{kind:?}");
        }
        let genuine = rig.push(QUICK, "GENUINE").await.unwrap();
        let genuine_id = genuine.payment_id.clone().unwrap();
        rig.until_callback_delivered(&genuine_id).await;
        let queries = || rig.emulator.ledger().requests_to(Endpoint::Status).len();
        let before = queries();
        let mut rounds = 0;
        while rig.attempt(&genuine.id).await.state.is_open() {
            assert!(rig.tracker.process_inbox().await.unwrap() > 0, "{kind:?}");
            rounds += 1;
        }
        // 64 × 16 claims a round: the genuine callback is reached in the third.
        assert_eq!(rounds, 3, "{kind:?}");
        assert!(
            queries() - before <= rounds + 1,
            "{kind:?}: {} status queries",
            queries() - before
        );
        assert!(rig.attempt(&live.id).await.state.is_open(), "{kind:?}");
        let outcomes = rig.inbox_outcomes().await;
        assert_eq!(outcomes.get("unprocessed"), None, "{kind:?}: {outcomes:?}");
        assert_eq!(
            outcomes.values().sum::<i64>(),
            rig.inbox_rows().await,
            "{kind:?}"
        );
        assert!(
            outcomes.get("not_confirmed").copied().unwrap_or(0) >= 2_100,
            "{kind:?}: {outcomes:?}"
        );
    }
}

/// A forged completion with another receipt stored next to the genuine one (a leaked token):
/// processed together, neither receipt is taken from a callback; the payment is recorded on
/// the provider's answer (with its receipt where it has one) and `receipt_conflict` raised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn differing_receipts_processed_together_lend_none() {
    for kind in [Kind::LipiaFlat, Kind::Daraja] {
        let rig = Rig::start(kind, Options::default()).await;
        let attempt = rig.push(QUICK, "RECEIPTS").await.unwrap();
        let id = attempt.payment_id.clone().unwrap();
        rig.until_callback_delivered(&id).await;
        let mut claim = Claim::paid(&attempt);
        claim.receipt = "FRG0000001".to_owned();
        assert_eq!(
            rig.post(&rig.claim_body(&id, &claim)).await,
            200,
            "{kind:?}"
        );
        rig.settle().await;
        let done = rig.attempt(&attempt.id).await;
        assert_eq!(done.state, stk_tracker::AttemptState::Completed, "{kind:?}");
        assert_ne!(done.receipt.as_deref(), Some("FRG0000001"), "{kind:?}");
        if kind == Kind::Daraja {
            assert_eq!(done.receipt, None, "Daraja's answer has no receipt");
        } else {
            assert!(done.receipt.is_some(), "{kind:?}: the provider's own");
        }
        assert!(
            rig.events
                .anomalies(&attempt.id)
                .contains(&"receipt_conflict".to_owned()),
            "{kind:?}: {:?}",
            rig.events.all()
        );
    }
}
