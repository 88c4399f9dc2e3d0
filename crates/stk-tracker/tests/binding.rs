//! The binding rules, case by case (issue 17): a provider payment pays at most one order, and
//! only on the provider's own proof. Each case runs against the providers' emulators over
//! real HTTP on 127.0.0.1, the tracker on a real SQLite file, its clock moved by hand.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{CANCEL, Claim, Kind, NEVER, Options, QUICK, Rig, SLOW, TempDir, request};
use stk_emulator::{Endpoint, Fault};
use stk_tracker::{AttemptState, TrackerError};

/// Another customer: completes after the emulator's default delay.
const OTHER: &str = "0722000003";

macro_rules! for_each_provider {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            use super::*;

            #[tokio::test]
            async fn kulmipay() {
                super::$case(Kind::KulmiPay).await;
            }

            #[tokio::test]
            async fn upesipay() {
                super::$case(Kind::UpesiPay).await;
            }

            #[tokio::test]
            async fn lipia_nested() {
                super::$case(Kind::LipiaNested).await;
            }

            #[tokio::test]
            async fn lipia_flat() {
                super::$case(Kind::LipiaFlat).await;
            }

            #[tokio::test]
            async fn daraja() {
                super::$case(Kind::Daraja).await;
            }
        }
    )*};
}

for_each_provider!(
    a_forged_success_with_someone_elses_payment_pays_nothing,
    a_forged_failure_never_fails_the_order_nor_unblocks_a_second_push,
    a_restarted_provider_reusing_ids_never_pays_two_orders,
    a_completion_keeps_the_receipt,
);

/// An id a forged callback invents (naming an outcome-unknown order) is asked about once; the
/// provider does not know it, so the claim is closed, never queried again.
#[tokio::test]
async fn an_invented_id_is_queried_once() {
    for kind in [Kind::KulmiPay, Kind::UpesiPay, Kind::LipiaFlat] {
        let rig = Rig::start(kind, Options::default()).await;
        let victim = outcome_unknown_push(&rig, NEVER, "VICTIM-3").await;
        let real = rig.emulator.ledger().charges()[0].id.clone();
        let invented = "INVENTED9999";
        let mut body = rig.claim_body(&real, &Claim::paid(&victim));
        let text = String::from_utf8(body.clone()).unwrap();
        let checkout = rig.emulator.checkout_request_id(&real).unwrap_or_default();
        let mut text = text.replace(&real, invented);
        if !checkout.is_empty() {
            text = text.replace(&checkout, invented);
        }
        body = text.into_bytes();
        assert_eq!(rig.post(&body).await, 200);
        rig.settle().await;
        // Queries naming the invented id (in the path or the body).
        let about_invented = || {
            rig.emulator
                .ledger()
                .requests_to(Endpoint::Status)
                .iter()
                .filter(|r| {
                    r.path.contains(invented) || String::from_utf8_lossy(&r.body).contains(invented)
                })
                .count()
        };
        assert_eq!(about_invented(), 1, "{kind:?}");
        rig.clock.advance(Duration::from_secs(120));
        rig.settle().await;
        assert_eq!(about_invented(), 1, "{kind:?}: never asked again");
        assert_eq!(
            rig.attempt(&victim.id).await.state,
            AttemptState::OutcomeUnknown
        );
    }
}

/// A payment made outside this tracker (another customer's, another till's), final at the
/// provider: its id.
async fn outsider_payment(rig: &Rig, phone: &str, reference: &str) -> String {
    let provider = rig.tracker.provider(rig.kind.name()).unwrap();
    let accepted = provider.initiate(&request(phone, reference)).await.unwrap();
    let id = accepted.payment_id.to_string();
    rig.until_provider_final(&id).await;
    rig.until_callback_delivered(&id).await;
    rig.settle().await;
    id
}

/// A push whose answer is lost (the connection closes after the provider made the charge):
/// `outcome_unknown`, no payment id.
async fn outcome_unknown_push(rig: &Rig, phone: &str, reference: &str) -> stk_tracker::Attempt {
    rig.emulator
        .faults()
        .push_for(Endpoint::Initiate, Fault::CloseAfterBody);
    let attempt = rig.push(phone, reference).await.unwrap();
    assert_eq!(
        attempt.state,
        AttemptState::OutcomeUnknown,
        "{:?}",
        rig.kind
    );
    assert_eq!(attempt.payment_id, None);
    attempt
}

/// Case 1. VICTIM-1's push answer was lost. A callback naming another customer's completed
/// KES 100 payment P with `VICTIM-1` as its reference is matched to VICTIM-1 by reference;
/// the query of P answers "completed" for another order (and phone), so nothing is paid:
/// an anomaly where the answer names the order, a review where it names nothing.
async fn a_forged_success_with_someone_elses_payment_pays_nothing(kind: Kind) {
    let rig = Rig::start(kind, Options::default()).await;
    let paid = outsider_payment(&rig, OTHER, "OTHER-1").await;
    let victim = outcome_unknown_push(&rig, NEVER, "VICTIM-1").await;
    let unmatched = rig.inbox_outcomes().await.get("unmatched").copied();

    let forged = rig.claim_body(&paid, &Claim::paid(&victim));
    assert_eq!(
        rig.post(&forged).await,
        200,
        "{kind:?}: stored and acknowledged"
    );
    rig.settle().await;

    let after = rig.attempt(&victim.id).await;
    assert_eq!(after.state, AttemptState::OutcomeUnknown, "{kind:?}");
    assert_eq!(
        (&after.payment_id, &after.receipt),
        (&None, &None),
        "{kind:?}"
    );
    let kinds = rig.events.kinds(&victim.id);
    match kind {
        // Their answers name OTHER-1: a mismatch.
        Kind::KulmiPay | Kind::LipiaFlat => {
            assert_eq!(
                rig.events.anomalies(&victim.id),
                ["status_mismatch"],
                "{kind:?}"
            );
            let anomaly = &rig.events.payloads(&victim.id, "anomaly")[0];
            assert_eq!(anomaly["detail"]["field"], "merchant_reference", "{kind:?}");
        }
        // UpesiPay's answer names no order; Lipia's nested callback has no id to query.
        Kind::UpesiPay | Kind::LipiaNested => assert_eq!(kinds, ["needs_review"], "{kind:?}"),
        // Daraja's callback names no order: it matches nothing.
        Kind::Daraja => {
            assert!(kinds.is_empty(), "{kind:?}: {kinds:?}");
            let now = rig.inbox_outcomes().await.get("unmatched").copied();
            assert_eq!(now, Some(unmatched.unwrap_or(0) + 1));
        }
    }
    assert!(!kinds.contains(&"completed".to_owned()), "{kind:?}");
    if kind != Kind::Daraja {
        a_person_reviews_the_evidence(&rig, &after).await;
    }
}

/// The evidence puts the attempt in the review queue (before its deadline, so for the
/// evidence alone); a review refused for evidence newer than what was shown, then recorded,
/// takes it out.
async fn a_person_reviews_the_evidence(rig: &Rig, attempt: &stk_tracker::Attempt) {
    let queued = || async {
        let mut query = stk_tracker::AttemptQuery::newest(50);
        query.review_at = Some(attempt.deadline_at - 1);
        let page = rig.tracker.payments(&query).await.unwrap();
        page.attempts.iter().any(|a| a.id == attempt.id)
    };
    assert!(queued().await, "{:?}: in the review queue", rig.kind);
    let record = rig.tracker.payment(&attempt.id).await.unwrap();
    let seen = stk_tracker::awaiting_review(&record.timeline)
        .iter()
        .map(|t| t.at)
        .max()
        .unwrap();
    let stale = rig
        .tracker
        .mark_reviewed(&attempt.id, "checked", seen - 1)
        .await
        .unwrap_err();
    assert!(
        stale.to_string().contains("new evidence arrived"),
        "{stale}"
    );
    assert!(queued().await, "a refused review changes nothing");
    rig.tracker
        .mark_reviewed(&attempt.id, "statement: not this customer's payment", seen)
        .await
        .unwrap();
    assert!(!queued().await, "{:?}: reviewed", rig.kind);
    let after = rig.attempt(&attempt.id).await;
    assert_eq!(after.state, attempt.state, "a review moves nothing");
}

/// Case 2. A forged failure (another customer's failed payment F, naming VICTIM-2) never
/// fails an outcome-unknown order: the order stays blocked (no second prompt), and the
/// customer's genuine completion that follows is paid where the provider can prove it.
async fn a_forged_failure_never_fails_the_order_nor_unblocks_a_second_push(kind: Kind) {
    let rig = Rig::start(kind, Options::default()).await;
    let failed = outsider_payment(&rig, CANCEL, "OTHER-2").await;
    let victim = outcome_unknown_push(&rig, SLOW, "VICTIM-2").await;
    let genuine = rig.emulator.ledger().charges_for_reference("VICTIM-2")[0]
        .id
        .clone();

    let forged = rig.claim_body(&failed, &Claim::cancelled(&victim));
    assert_eq!(rig.post(&forged).await, 200);
    rig.settle().await;
    assert!(
        !rig.emulator.payment_status(&genuine).unwrap().is_final(),
        "{kind:?}: precondition: the genuine payment must still be pending (slow machine?)"
    );
    assert_eq!(
        rig.attempt(&victim.id).await.state,
        AttemptState::OutcomeUnknown
    );

    // No second prompt for the order.
    let again = rig.push(QUICK, "VICTIM-2").await.unwrap_err();
    assert!(
        matches!(&again, TrackerError::AlreadyLive { attempt } if attempt.id == victim.id),
        "{kind:?}: {again}"
    );
    assert_eq!(
        rig.emulator
            .ledger()
            .charges_for_reference("VICTIM-2")
            .len(),
        1
    );

    rig.until_callback_delivered(&genuine).await;
    rig.settle().await;
    let after = rig.attempt(&victim.id).await;
    assert_ne!(after.state, AttemptState::Failed, "{kind:?}");
    if kind.claims_are_provable() {
        assert_eq!(after.state, AttemptState::Completed, "{kind:?}");
        assert_eq!(after.payment_id.as_deref(), Some(genuine.as_str()));
        assert_eq!(
            rig.events
                .kinds(&victim.id)
                .iter()
                .filter(|k| *k == "completed" || *k == "failed")
                .collect::<Vec<_>>(),
            ["completed"],
            "{kind:?}"
        );
    } else {
        assert_eq!(after.state, AttemptState::OutcomeUnknown, "{kind:?}");
    }
}

/// Cases 3 and 4. The provider restarts with the same seed and gives a new push the id an
/// old, never-paid order holds. The new push's answer binds nothing (anomaly on both
/// orders); the old order's query of that id answers about the new order, which providers
/// naming the order show as a mismatch; no id or receipt ever completes two attempts.
async fn a_restarted_provider_reusing_ids_never_pays_two_orders(kind: Kind) {
    let dir = TempDir::new();
    let store = dir.0.join("payments.db");
    let options = Options {
        seed: Some(42),
        store: Some(store.clone()),
        ..Options::default()
    };
    let first = Rig::start(kind, options.clone()).await;
    let old = first.push(NEVER, "OLD-1").await.unwrap();
    let reused = old.payment_id.clone().unwrap();
    drop(first);

    let rig = Rig::start(kind, options).await;
    let new = rig.push(QUICK, "NEW-1").await.unwrap();
    assert_eq!(
        rig.emulator.ledger().charges()[0].id,
        reused,
        "{kind:?}: precondition: the restarted provider reuses the id"
    );
    assert_eq!(new.state, AttemptState::OutcomeUnknown, "{kind:?}");
    assert_eq!(new.payment_id, None, "{kind:?}");
    rig.settle().await;
    let has =
        |attempt: &str, anomaly: &str| rig.events.anomalies(attempt).contains(&anomaly.to_owned());
    assert!(has(&new.id, "payment_id_already_bound"), "{kind:?}");
    assert!(has(&old.id, "payment_id_reused"), "{kind:?}");

    // The payment completes at the provider; callbacks come; the old order is queried.
    rig.until_provider_final(&reused).await;
    rig.settle().await;
    rig.clock
        .advance(rig.config.first_check + Duration::from_secs(1));
    rig.tracker.check(&old.id).await.unwrap();
    rig.settle().await;
    let (old, new) = (rig.attempt(&old.id).await, rig.attempt(&new.id).await);
    assert_ne!(new.state, AttemptState::Completed, "{kind:?}");
    match kind {
        // Their answers name NEW-1: OLD-1 is never paid by it.
        Kind::KulmiPay | Kind::LipiaNested | Kind::LipiaFlat => {
            assert_eq!(old.state, AttemptState::Submitted, "{kind:?}");
            assert!(
                has(&old.id, "status_mismatch"),
                "{kind:?}: {:?}",
                rig.events.anomalies(&old.id)
            );
        }
        // Their answers name nothing: the provider's own id is all there is, so OLD-1 takes
        // the payment, once (the merchant was warned by `payment_id_reused`).
        Kind::UpesiPay | Kind::Daraja => {}
    }
    let completed: Vec<_> = [&old, &new]
        .into_iter()
        .filter(|a| a.state == AttemptState::Completed)
        .collect();
    assert!(completed.len() <= 1, "{kind:?}: one payment, one order");
}

/// Case 5. A completion keeps its receipt: Daraja's query answer has none, so the confirmed
/// callback's receipt (and time) is carried into the attempt and the `completed` event,
/// marked as the callback's; the others' answers carry their own.
async fn a_completion_keeps_the_receipt(kind: Kind) {
    let rig = Rig::start(kind, Options::default()).await;
    let attempt = rig.push(QUICK, "RECEIPT-1").await.unwrap();
    let done = rig.process_until(&attempt.id, |a| a.state.is_final()).await;
    assert_eq!(done.state, AttemptState::Completed, "{kind:?}");
    let Some(stk_core::PaymentStatus::Completed(paid)) = rig
        .emulator
        .payment_status(done.payment_id.as_deref().unwrap())
    else {
        panic!("{kind:?}: completed at the provider")
    };
    let receipt = paid.receipt.clone().unwrap();
    assert_eq!(done.receipt.as_deref(), Some(receipt.as_str()), "{kind:?}");
    let event = &rig.events.payloads(&attempt.id, "completed")[0];
    assert_eq!(event["receipt"], receipt.as_str(), "{kind:?}: {event}");
    let completing = rig
        .transitions(&attempt.id)
        .await
        .into_iter()
        .find(|t| t.to == "completed")
        .unwrap();
    assert_eq!(
        completing.evidence["receipt_from_callback"],
        kind == Kind::Daraja,
        "{kind:?}"
    );
    if kind == Kind::Daraja {
        assert!(event["transaction_time"].is_string(), "{event}");
    }
}
