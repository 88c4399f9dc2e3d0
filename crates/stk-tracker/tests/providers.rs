//! The tracker against each provider's emulator over real HTTP (127.0.0.1 only): callbacks
//! delivered by the emulator to the tracker's axum receiver, forgeries posted to it with
//! reqwest, status queries and pushes to the emulator. Each test is written once and run for
//! KulmiPay, UpesiPay and Lipia (both callback shapes). The tracker's own clock is moved by
//! hand; the emulators run in real time, waited on (bounded) for conditions, never for
//! timings.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{CANCEL, Claim, Kind, NEVER, Options, QUICK, Rig, SLOW, WAIT};
use serde_json::{Value, json};
use stk_emulator::{Endpoint, Fault};
use stk_tracker::{AttemptState, TrackerError};

/// Runs each listed scenario for every provider: `<scenario>::kulmipay`, `::upesipay`,
/// `::lipia_nested`, `::lipia_flat`.
macro_rules! for_each_provider {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            use super::*;

            #[tokio::test]
            async fn kulmipay() {
                super::$scenario(Kind::KulmiPay).await;
            }

            #[tokio::test]
            async fn upesipay() {
                super::$scenario(Kind::UpesiPay).await;
            }

            #[tokio::test]
            async fn lipia_nested() {
                super::$scenario(Kind::LipiaNested).await;
            }

            #[tokio::test]
            async fn lipia_flat() {
                super::$scenario(Kind::LipiaFlat).await;
            }
        }
    )*};
}

for_each_provider!(
    genuine_completion,
    forged_success_is_never_paid_and_the_genuine_completion_still_is,
    forged_amount_or_reference_is_an_anomaly_never_a_payment,
    contradictory_fields_are_never_a_payment,
    duplicates_and_out_of_order_callbacks_change_nothing,
    a_lost_callback_is_resolved_by_the_sweeper,
    an_outcome_unknown_push_is_resolved_without_a_second_push,
    an_outcome_unknown_push_without_callbacks_is_flagged_for_review,
    a_callback_before_the_push_answer_is_matched_by_reference,
    a_callback_whose_confirmation_fails_is_tried_again,
);

/// (1) The emulator's own callback completes the payment: exactly one `completed` event.
async fn genuine_completion(kind: Kind) {
    let rig = Rig::start(kind, Options::default()).await;
    let attempt = rig.push(QUICK, "ORDER-1").await.unwrap();
    assert_eq!(attempt.state, AttemptState::Submitted, "{kind:?}");
    let id = attempt.payment_id.clone().unwrap();

    let done = rig.process_until(&attempt.id, |a| a.state.is_final()).await;
    assert_eq!(done.state, AttemptState::Completed, "{kind:?}");
    // Completed by the callback (confirmed by a status query), not by the sweeper.
    let last = rig.transitions(&attempt.id).await.pop().unwrap();
    assert_eq!(
        (last.to.as_str(), last.source.as_str()),
        ("completed", "callback")
    );
    assert_eq!(last.evidence["confirmed"], json!(true), "{kind:?}");
    assert!(
        rig.emulator
            .ledger()
            .webhooks()
            .iter()
            .any(|w| w.payment_id == id && w.status == Some(200)),
        "{kind:?}: the emulator delivered its callback and the receiver acknowledged it"
    );

    // Nothing more happens, however long the tracker runs.
    rig.settle().await;
    rig.clock.advance(Duration::from_secs(3600));
    assert_eq!(rig.tracker.sweep().await.unwrap().attempts, 0);
    rig.settle().await;
    assert_eq!(rig.events.kinds(&attempt.id), ["completed"], "{kind:?}");
    assert_eq!(rig.attempt(&attempt.id).await.version, done.version);
    assert_eq!(rig.emulator.ledger().charges().len(), 1);
}

/// (2) A forged success (with the genuine secret: the URL or challenge leaked) for a pending
/// payment is never paid; one with a guessed secret is refused outright; the genuine
/// completion that follows is paid once.
async fn forged_success_is_never_paid_and_the_genuine_completion_still_is(kind: Kind) {
    let rig = Rig::start(kind, Options::default()).await;
    let attempt = rig.push(SLOW, "ORDER-2").await.unwrap();
    let id = attempt.payment_id.clone().unwrap();

    let claim = Claim::paid(&attempt);
    let forged = rig.claim_body(&id, &claim);
    assert_eq!(
        rig.post(&forged).await,
        200,
        "{kind:?}: stored and acknowledged"
    );
    let guessed = rig.claim_body(&id, &Claim::paid(&attempt));
    assert_eq!(
        rig.post_with_guessed_secret(&guessed).await,
        400,
        "{kind:?}: refused before storage"
    );
    rig.settle().await;
    assert!(
        !rig.emulator.payment_status(&id).unwrap().is_final(),
        "{kind:?}: precondition: the payment must still be pending at the provider (slow machine?)"
    );
    let after_forgery = rig.attempt(&attempt.id).await;
    assert!(after_forgery.state.is_open(), "{kind:?}: {after_forgery:?}");
    assert!(
        rig.events.all().is_empty(),
        "{kind:?}: {:?}",
        rig.events.all()
    );
    let outcomes = rig.inbox_outcomes().await;
    assert_eq!(
        outcomes.get("not_confirmed"),
        Some(&1),
        "{kind:?}: {outcomes:?}"
    );
    assert_eq!(outcomes.get("invalid"), None, "{kind:?}: {outcomes:?}");
    let refused = rig.tracker.store().refused().await.unwrap();
    assert_eq!(
        refused.iter().map(|r| r.count).sum::<i64>(),
        1,
        "{refused:?}"
    );
    assert_eq!(
        after_forgery.checkout_request_id, attempt.checkout_request_id,
        "{kind:?}: an unconfirmed callback records no ids"
    );

    // The customer really pays; the emulator's callback completes it, once: at once, or (if
    // the forgery spent the payment's query budget, final claims asking at most every two
    // seconds) at the quick look a second later.
    let done = rig
        .process_and_look_until(&attempt.id, |a| a.state.is_final())
        .await;
    assert_eq!(done.state, AttemptState::Completed, "{kind:?}");
    assert_eq!(rig.events.kinds(&attempt.id), ["completed"], "{kind:?}");
    assert_ne!(done.receipt, Some(claim.receipt.clone()), "{kind:?}");
    let paid = rig
        .transitions(&attempt.id)
        .await
        .into_iter()
        .find(|t| t.to == "completed")
        .unwrap();
    assert!(
        ["callback", "status_query"].contains(&paid.source.as_str()),
        "{kind:?}: {paid:?}"
    );
    assert_ne!(
        paid.evidence["callback"]["receipt"],
        json!(claim.receipt),
        "completed on the genuine callback"
    );
}

/// (3) A callback naming a genuine payment but claiming another amount or reference is an
/// anomaly, never a payment: while the payment is pending, and after it completed.
async fn forged_amount_or_reference_is_an_anomaly_never_a_payment(kind: Kind) {
    let rig = Rig::start(kind, Options::default()).await;

    // Pending at the provider (never answers).
    let pending = rig.push(NEVER, "ORDER-3A").await.unwrap();
    let id = pending.payment_id.clone().unwrap();
    let mut amount = Claim::paid(&pending);
    amount.amount += 900;
    let mut reference = Claim::paid(&pending);
    reference.reference = "ORDER-OTHER".to_owned();
    rig.post(&rig.claim_body(&id, &amount)).await;
    rig.post(&rig.claim_body(&id, &reference)).await;
    rig.settle().await;
    let after = rig.attempt(&pending.id).await;
    assert!(after.state.is_open(), "{kind:?}: {after:?}");
    let mut anomalies = rig.events.anomalies(&pending.id);
    anomalies.sort();
    if kind == Kind::LipiaNested {
        // The nested body names the payment only by CheckoutRequestID, which the tracker
        // learns from the first confirmed callback, and by reference: with a forged
        // reference it matches no attempt at all (kept in the inbox as unmatched).
        assert_eq!(anomalies, ["amount_mismatch"], "{kind:?}");
        assert_eq!(rig.inbox_outcomes().await.get("unmatched"), Some(&1));
    } else {
        assert_eq!(
            anomalies,
            ["amount_mismatch", "reference_mismatch"],
            "{kind:?}"
        );
    }
    assert_eq!(
        rig.events.kinds(&pending.id).len(),
        anomalies.len(),
        "only anomalies"
    );

    // Completed genuinely, then a forged amount and reference about it.
    let paid = rig.push(QUICK, "ORDER-3B").await.unwrap();
    let id = paid.payment_id.clone().unwrap();
    let done = rig.process_until(&paid.id, |a| a.state.is_final()).await;
    assert_eq!(done.state, AttemptState::Completed);
    let mut amount = Claim::paid(&paid);
    amount.amount = 1;
    let mut reference = Claim::paid(&paid);
    reference.reference = "ORDER-3A".to_owned();
    rig.post(&rig.claim_body(&id, &amount)).await;
    rig.post(&rig.claim_body(&id, &reference)).await;
    rig.settle().await;
    let after = rig.attempt(&paid.id).await;
    assert_eq!(
        (after.state, after.version),
        (AttemptState::Completed, done.version)
    );
    let kinds = rig.events.kinds(&paid.id);
    assert_eq!(kinds.iter().filter(|k| *k == "completed").count(), 1);
    let mut anomalies = rig.events.anomalies(&paid.id);
    anomalies.sort();
    assert_eq!(
        anomalies,
        ["amount_mismatch", "reference_mismatch"],
        "{kind:?}"
    );
    // The reference forgery named the other (pending) order: it did not touch it either.
    assert!(rig.attempt(&pending.id).await.state.is_open());
}

/// (4) A callback that contradicts itself (success with ResultCode 1032) is never a payment.
async fn contradictory_fields_are_never_a_payment(kind: Kind) {
    // Only the callbacks posted here reach the tracker.
    let options = Options {
        callbacks: false,
        ..Options::default()
    };
    let rig = Rig::start(kind, options).await;
    let attempt = rig.push(NEVER, "ORDER-4").await.unwrap();
    let id = attempt.payment_id.clone().unwrap();
    let mut claim = Claim::paid(&attempt);
    claim.result_code = 1032;
    rig.post(&rig.claim_body(&id, &claim)).await;
    // And the other way round: failed, with ResultCode 0 and a receipt.
    let mut claim = Claim::cancelled(&attempt);
    claim.result_code = 0;
    claim.receipt = "FRG0000001".to_owned();
    rig.post(&rig.claim_body(&id, &claim)).await;
    rig.settle().await;

    let after = rig.attempt(&attempt.id).await;
    assert!(after.state.is_open(), "{kind:?}: {after:?}");
    assert!(
        rig.events.all().is_empty(),
        "{kind:?}: {:?}",
        rig.events.all()
    );
    // Each was either refused before storage (counted) or stored and not confirmed.
    let outcomes = rig.inbox_outcomes().await;
    let refused: i64 = rig
        .tracker
        .store()
        .refused()
        .await
        .unwrap()
        .iter()
        .map(|r| r.count)
        .sum();
    assert_eq!(outcomes.values().sum::<i64>() + refused, 2, "{kind:?}");
    assert!(
        outcomes.keys().all(|o| o == "not_confirmed"),
        "{kind:?}: {outcomes:?}"
    );
}

/// (5) Re-deliveries of the genuine callback, an older "pending" claim and a "failed" claim
/// after completion: no second event, the completed attempt never moves.
async fn duplicates_and_out_of_order_callbacks_change_nothing(kind: Kind) {
    let rig = Rig::start(kind, Options::default()).await;
    let attempt = rig.push(QUICK, "ORDER-5").await.unwrap();
    let id = attempt.payment_id.clone().unwrap();
    // KulmiPay sends webhooks while pending too: keep the first one, to replay it late.
    let early = rig.emulator.callback_for(&id);

    let done = rig.process_until(&attempt.id, |a| a.state.is_final()).await;
    assert_eq!(done.state, AttemptState::Completed, "{kind:?}");
    let transitions = rig.transitions(&attempt.id).await.len();
    let rows = rig.inbox_rows().await;

    let genuine = rig.emulator.callback_for(&id).unwrap().body;
    for _ in 0..5 {
        assert_eq!(rig.post(&genuine).await, 200);
    }
    assert!(
        rig.inbox_rows().await <= rows + 1,
        "{kind:?}: identical re-deliveries are stored once"
    );
    if let Some(early) = early {
        let state = serde_json::from_slice::<Value>(&early.body).unwrap()["state"].clone();
        assert_ne!(state, json!("COMPLETE"), "{kind:?}: an older webhook");
        rig.post(&early.body).await;
    }
    rig.post(&rig.claim_body(&id, &Claim::cancelled(&attempt)))
        .await;
    let mut timeout = Claim::cancelled(&attempt);
    timeout.result_code = 1037;
    rig.post(&rig.claim_body(&id, &timeout)).await;
    rig.settle().await;
    rig.clock.advance(Duration::from_secs(3600));
    rig.tracker.sweep().await.unwrap();
    rig.settle().await;

    let after = rig.attempt(&attempt.id).await;
    assert_eq!(
        (after.state, after.version),
        (AttemptState::Completed, done.version),
        "{kind:?}"
    );
    assert_eq!(rig.transitions(&attempt.id).await.len(), transitions);
    assert_eq!(rig.events.kinds(&attempt.id), ["completed"], "{kind:?}");
}

/// (6) Every callback is lost: the sweeper's status query, once due, completes the payment.
async fn a_lost_callback_is_resolved_by_the_sweeper(kind: Kind) {
    let options = Options {
        callbacks: false,
        ..Options::default()
    };
    let rig = Rig::start(kind, options).await;
    let attempt = rig.push(QUICK, "ORDER-6").await.unwrap();
    let id = attempt.payment_id.clone().unwrap();
    rig.until_provider_final(&id).await;

    rig.settle().await;
    assert_eq!(
        rig.inbox_rows().await,
        0,
        "{kind:?}: no callback reached the tracker"
    );
    assert_eq!(
        rig.attempt(&attempt.id).await.state,
        AttemptState::Submitted
    );
    assert_eq!(rig.tracker.sweep().await.unwrap().queries, 0, "not due yet");

    rig.clock
        .advance(rig.config.first_check + Duration::from_secs(1));
    let report = rig.tracker.sweep().await.unwrap();
    assert_eq!((report.queries, report.moved), (1, 1), "{kind:?}");
    rig.settle().await;
    let after = rig.attempt(&attempt.id).await;
    assert_eq!(after.state, AttemptState::Completed, "{kind:?}");
    let last = rig.transitions(&attempt.id).await.pop().unwrap();
    assert_eq!(last.source, "status_query");
    assert_eq!(rig.events.kinds(&attempt.id), ["completed"]);

    rig.clock.advance(Duration::from_secs(3600));
    assert_eq!(
        rig.tracker.sweep().await.unwrap().attempts,
        0,
        "settled: never queried again"
    );
}

/// (7) The push's answer is lost (connection closed after the charge was created): the
/// attempt is `outcome_unknown`, a second push for the order is refused, and the
/// callback, matched by merchant reference, resolves it. Lipia's nested callback carries no
/// id its status query accepts: the attempt stays open, then is flagged for review.
async fn an_outcome_unknown_push_is_resolved_without_a_second_push(kind: Kind) {
    let rig = Rig::start(kind, Options::default()).await;
    rig.emulator
        .faults()
        .push_for(Endpoint::Initiate, Fault::CloseAfterBody);
    let attempt = rig.push(QUICK, "ORDER-7").await.unwrap();
    assert_eq!(attempt.state, AttemptState::OutcomeUnknown, "{kind:?}");
    assert_eq!(attempt.payment_id, None);
    let charges = rig.emulator.ledger().charges_for_reference("ORDER-7");
    assert_eq!(charges.len(), 1, "{kind:?}: the charge exists");
    let charge = charges[0].id.clone();

    let again = rig.push(QUICK, "ORDER-7").await.unwrap_err();
    assert!(
        matches!(&again, TrackerError::AlreadyLive { attempt: a } if a.id == attempt.id),
        "{again}"
    );

    if !kind.claims_are_provable() {
        // The callback's claim cannot be tied to this order by the provider's own answer:
        // it is raised once for review, and nothing moves.
        rig.until_callback_delivered(&charge).await;
        rig.settle().await;
        let after = rig.attempt(&attempt.id).await;
        assert_eq!(after.state, AttemptState::OutcomeUnknown, "{kind:?}");
        assert_eq!(
            rig.inbox_outcomes().await.get("needs_review"),
            Some(&1),
            "{kind:?}"
        );
        let review = rig.events.payloads(&attempt.id, "needs_review");
        assert_eq!(review.len(), 1, "{kind:?}");
        assert_eq!(
            review[0]["detail"]["claim"]["status"], "completed",
            "{kind:?}"
        );
        rig.clock
            .advance(rig.config.first_check + Duration::from_secs(1));
        assert_eq!(
            rig.tracker.sweep().await.unwrap().queries,
            0,
            "no id to query"
        );
        rig.clock.advance(rig.config.deadline);
        let report = rig.tracker.sweep().await.unwrap();
        assert_eq!(report.expired, 1);
        rig.settle().await;
        assert_eq!(rig.attempt(&attempt.id).await.state, AttemptState::Expired);
        assert_eq!(rig.events.kinds(&attempt.id), ["needs_review", "expired"]);
    } else {
        let done = rig.process_until(&attempt.id, |a| a.state.is_final()).await;
        assert_eq!(done.state, AttemptState::Completed, "{kind:?}");
        assert_eq!(done.payment_id.as_deref(), Some(charge.as_str()));
        let via = rig
            .transitions(&attempt.id)
            .await
            .into_iter()
            .find(|t| t.to == "completed")
            .unwrap();
        assert_eq!(via.source, "callback");
        assert_eq!(via.evidence["binding"]["verdict"], "proven", "{kind:?}");
        assert_eq!(rig.events.kinds(&attempt.id), ["completed"], "{kind:?}");
    }
    let ledger = rig.emulator.ledger();
    assert_eq!(
        ledger.requests_to(Endpoint::Initiate).len(),
        1,
        "{kind:?}: one push"
    );
    assert_eq!(ledger.charges().len(), 1, "{kind:?}: one charge");
}

/// (7b) The push's answer is lost and so is every callback: no provider's status query takes
/// the merchant reference, so the sweeper cannot find the payment. The attempt is never
/// pushed again and never failed: at its deadline it is flagged `expired` for review.
async fn an_outcome_unknown_push_without_callbacks_is_flagged_for_review(kind: Kind) {
    let options = Options {
        callbacks: false,
        ..Options::default()
    };
    let rig = Rig::start(kind, options).await;
    rig.emulator
        .faults()
        .push_for(Endpoint::Initiate, Fault::CloseAfterBody);
    let attempt = rig.push(QUICK, "ORDER-7B").await.unwrap();
    assert_eq!(attempt.state, AttemptState::OutcomeUnknown, "{kind:?}");
    let charge = rig.emulator.ledger().charges()[0].id.clone();
    rig.until_provider_final(&charge).await;

    let mut elapsed = Duration::ZERO;
    while elapsed <= rig.config.deadline {
        rig.tracker.sweep().await.unwrap();
        rig.settle().await;
        rig.clock.advance(Duration::from_secs(30));
        elapsed += Duration::from_secs(30);
    }
    rig.tracker.sweep().await.unwrap();
    rig.settle().await;
    assert_eq!(rig.attempt(&attempt.id).await.state, AttemptState::Expired);
    assert_eq!(rig.events.kinds(&attempt.id), ["expired"]);
    let ledger = rig.emulator.ledger();
    assert_eq!(ledger.requests_to(Endpoint::Initiate).len(), 1);
    assert_eq!(ledger.requests_to(Endpoint::Status).len(), 0);
    assert_eq!(ledger.charges().len(), 1);
}

/// (9) The final callback arrives while the push's answer is still on its way (the answer is
/// held back; the charge exists): the attempt is `created`, without a payment id. The
/// callback is matched by merchant reference and confirmed by the id it carries; the late
/// answer then changes nothing. Where the callback cannot prove the payment (Lipia's nested
/// callback carries no id; UpesiPay's status answer names no order) it waits in the inbox,
/// and the sweeper completes the attempt once the answer brought the payment id.
async fn a_callback_before_the_push_answer_is_matched_by_reference(kind: Kind) {
    let rig = Rig::start(kind, Options::default()).await;
    rig.emulator
        .faults()
        .push_for(Endpoint::Initiate, Fault::Slow(Duration::from_secs(3)));
    let tracker = rig.tracker.clone();
    let push = tokio::spawn(async move {
        tracker
            .push(&common::request(QUICK, "ORDER-9"))
            .await
            .unwrap()
    });
    let charge = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(charge) = rig.emulator.ledger().charges().pop() {
                return charge.id;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    rig.until_callback_delivered(&charge).await;
    rig.settle().await;
    assert!(
        !push.is_finished(),
        "{kind:?}: precondition: the push's answer must still be held back (slow machine?)"
    );
    let early = rig
        .tracker
        .payments(&stk_tracker::AttemptQuery::newest(10))
        .await
        .unwrap()
        .attempts
        .pop()
        .unwrap();
    if !kind.claims_are_provable() {
        // Left in the inbox until the push's answer brings the id to query.
        assert_eq!(early.state, AttemptState::Created, "{kind:?}");
        assert_eq!(rig.inbox_outcomes().await.get("unprocessed"), Some(&1));
    } else {
        assert_eq!(early.state, AttemptState::Completed, "{kind:?}: {early:?}");
    }

    let pushed = push.await.unwrap();
    assert_eq!(pushed.id, early.id);
    if !kind.claims_are_provable() {
        assert_eq!(pushed.state, AttemptState::Submitted);
        // The deferred callback asked for a check in 1 s, but the answer's transition
        // rescheduled it at `first_check`.
        rig.clock.advance(Duration::from_secs(2));
        assert_eq!(rig.tracker.sweep().await.unwrap().queries, 0);
        rig.clock.advance(rig.config.first_check);
        let report = rig.tracker.sweep().await.unwrap();
        assert_eq!(report.queries, 1);
        rig.settle().await;
    }
    let done = rig.attempt(&pushed.id).await;
    assert_eq!(done.state, AttemptState::Completed, "{kind:?}");
    assert_eq!(rig.events.kinds(&done.id), ["completed"], "{kind:?}");
    assert_eq!(rig.emulator.ledger().charges().len(), 1);
}

/// (8) A flood at the KulmiPay receiver: 10,000 callbacks at 64 concurrent connections —
/// genuine webhooks for 400 real payments (350 settle: 300 paid, 50 cancelled; 50 never
/// answer), 20% exact duplicates, 10% forged (unknown invoices, and successes forged with
/// the leaked challenge for the never-answering payments), shuffled. Then everything is
/// processed: exactly one final event per settled payment, none for the others, none for a
/// forgery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::print_stderr)]
async fn flood_of_callbacks_at_the_receiver() {
    const PAID: usize = 300;
    const CANCELLED: usize = 50;
    const SILENT: usize = 50;
    const TOTAL: usize = 10_000;
    const CONNECTIONS: usize = 64;
    let options = Options {
        callbacks: false,
        delay: Duration::from_millis(500),
        ..Options::default()
    };
    let rig = std::sync::Arc::new(Rig::start(Kind::KulmiPay, options).await);
    let mut rng = fastrand::Rng::with_seed(7);

    // The pushes, 16 at a time; keep the first (pending) webhook of each.
    let started = Instant::now();
    let phones: Vec<&str> = std::iter::repeat_n(QUICK, PAID)
        .chain(std::iter::repeat_n(CANCEL, CANCELLED))
        .chain(std::iter::repeat_n(NEVER, SILENT))
        .collect();
    let mut pushes = tokio::task::JoinSet::new();
    let mut payments = Vec::new();
    for (i, phone) in phones.iter().enumerate() {
        let (rig, phone) = (rig.clone(), *phone);
        pushes.spawn(async move {
            let attempt = rig.push(phone, &format!("FLOOD-{i:04}")).await.unwrap();
            let id = attempt.payment_id.clone().unwrap();
            let early = rig.emulator.callback_for(&id).unwrap().body;
            (phone, attempt, id, early)
        });
        if pushes.len() >= 16 {
            payments.push(pushes.join_next().await.unwrap().unwrap());
        }
    }
    while let Some(done) = pushes.join_next().await {
        payments.push(done.unwrap());
    }
    let push_time = started.elapsed();
    for (phone, _, id, _) in &payments {
        if *phone != NEVER {
            rig.until_provider_final(id).await;
        }
    }

    // The callbacks: 70% genuine (each payment's early webhook, then webhooks as the
    // provider would send them now), 20% exact duplicates of genuine ones, 10% forged.
    let genuine_count = TOTAL * 7 / 10;
    let mut genuine: Vec<Vec<u8>> = payments.iter().map(|p| p.3.clone()).collect();
    while genuine.len() < genuine_count {
        let (_, _, id, _) = &payments[genuine.len() % payments.len()];
        genuine.push(rig.emulator.callback_for(id).unwrap().body);
    }
    let mut bodies = genuine.clone();
    for _ in 0..TOTAL * 2 / 10 {
        bodies.push(genuine[rng.usize(..genuine.len())].clone());
    }
    let silent: Vec<_> = payments.iter().filter(|p| p.0 == NEVER).collect();
    let forged_count = TOTAL - bodies.len();
    for n in 0..forged_count {
        if n % 2 == 0 {
            let (_, attempt, id, _) = silent[n / 2 % silent.len()];
            bodies.push(rig.claim_body(id, &Claim::paid(attempt)));
        } else {
            let mut v: Value = serde_json::from_slice(&genuine[n % genuine.len()]).unwrap();
            v["invoice_id"] = json!(format!("FORGED{n:05}"));
            v["api_ref"] = json!(format!("NO-SUCH-ORDER-{n}"));
            v["state"] = json!("COMPLETE");
            bodies.push(serde_json::to_vec(&v).unwrap());
        }
    }
    rng.shuffle(&mut bodies);
    assert_eq!(bodies.len(), TOTAL);

    // Post them all, 64 connections at once.
    let queue = std::sync::Arc::new(std::sync::Mutex::new(bodies));
    let started = Instant::now();
    let mut posters = tokio::task::JoinSet::new();
    for _ in 0..CONNECTIONS {
        let (rig, queue) = (rig.clone(), queue.clone());
        posters.spawn(async move {
            let mut refused = 0_usize;
            loop {
                let Some(body) = queue.lock().unwrap().pop() else {
                    return refused;
                };
                if rig.post(&body).await != 200 {
                    refused += 1;
                }
            }
        });
    }
    let mut refused = 0;
    while let Some(done) = posters.join_next().await {
        refused += done.unwrap();
    }
    let receive_time = started.elapsed();
    assert_eq!(refused, 0, "every callback was stored and acknowledged");
    let rows = rig.inbox_rows().await;

    // Process everything.
    let queries_before = rig.emulator.ledger().requests_to(Endpoint::Status).len();
    let started = Instant::now();
    // Until nothing waits: past the provider's query budget (50 a second, bursts of 100),
    // callbacks wait a moment in the inbox (the tracker's clock moves with the real one here).
    tokio::time::timeout(WAIT * 6, async {
        loop {
            rig.settle().await;
            let outcomes = rig.inbox_outcomes().await;
            if !outcomes.contains_key("unprocessed") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            rig.clock.advance(Duration::from_millis(20));
        }
    })
    .await
    .unwrap();
    let process_time = started.elapsed();
    let queries = rig.emulator.ledger().requests_to(Endpoint::Status).len() - queries_before;
    let outcomes = rig.inbox_outcomes().await;

    let events = rig.events.all();
    for (phone, attempt, _, _) in &payments {
        let kinds = rig.events.kinds(&attempt.id);
        let state = rig.attempt(&attempt.id).await.state;
        match *phone {
            QUICK => {
                assert_eq!(kinds, ["completed"], "{attempt:?}");
                assert_eq!(state, AttemptState::Completed);
            }
            CANCEL => {
                assert_eq!(kinds, ["failed"], "{attempt:?}");
                assert_eq!(state, AttemptState::Failed);
            }
            _ => {
                assert!(kinds.is_empty(), "forged successes paid nothing: {kinds:?}");
                assert!(state.is_open(), "{state}");
            }
        }
    }
    assert_eq!(events.len(), PAID + CANCELLED, "no event for any forgery");
    assert_eq!(outcomes.get("unprocessed"), None, "{outcomes:?}");

    let secs = |d: Duration| d.as_secs_f64().max(1e-9);
    eprintln!(
        "flood: {PAID} + {CANCELLED} + {SILENT} pushes in {:.2} s; {TOTAL} callbacks posted \
         at {CONNECTIONS} connections in {:.2} s = {:.0} callbacks/s received; {rows} stored \
         (the rest exact duplicates); processed in {:.2} s = {:.0} stored callbacks/s; {queries} \
         status queries; outcomes {outcomes:?}; {} events",
        secs(push_time),
        secs(receive_time),
        TOTAL as f64 / secs(receive_time),
        secs(process_time),
        rows as f64 / secs(process_time),
        events.len(),
    );
}

/// (10) The status query confirming a callback fails (the provider is down): the callback is
/// not lost (it was acknowledged, the provider will not resend it); it stays in the inbox and
/// completes the payment once the provider answers again.
async fn a_callback_whose_confirmation_fails_is_tried_again(kind: Kind) {
    let rig = Rig::start(kind, Options::default()).await;
    let attempt = rig.push(QUICK, "ORDER-10").await.unwrap();
    let id = attempt.payment_id.clone().unwrap();
    rig.until_provider_final(&id).await;
    rig.until_callback_delivered(&id).await;
    for _ in 0..4 {
        rig.emulator.faults().push_for(
            stk_emulator::Endpoint::Status,
            stk_emulator::Fault::Status(503),
        );
    }
    rig.settle().await;
    assert_eq!(
        rig.attempt(&attempt.id).await.state,
        AttemptState::Submitted,
        "{kind:?}"
    );
    assert!(rig.events.kinds(&attempt.id).is_empty());
    // Later, the provider answers again: the stored callback completes the payment.
    rig.emulator.faults().clear();
    rig.clock.advance(Duration::from_secs(31));
    rig.settle().await;
    let done = rig.attempt(&attempt.id).await;
    assert_eq!(done.state, AttemptState::Completed, "{kind:?}");
    let last = rig.transitions(&attempt.id).await.pop().unwrap();
    assert_eq!(last.source, "callback", "{kind:?}");
    assert_eq!(rig.events.kinds(&attempt.id), ["completed"]);
}
