//! The store conformance suite, written once and run against every [`Store`] (SQLite and
//! PostgreSQL): attempts, compare-and-set races between two connection pools, the inbox, the
//! outbox, leases and their take-over. Each check takes two handles on the same database, as
//! two app instances would have. Use [`store_conformance!`](crate::store_conformance) to
//! generate one test per check.

#![allow(clippy::unwrap_used, clippy::panic, clippy::print_stderr, missing_docs)]

use std::sync::Arc;

use serde_json::json;

use crate::event::{self, EventKind, EventPayment, NewEvent};
use crate::model::{InboxItem, Inserted, NewAttempt, Source, TransitionRequest};
use crate::store::{AttemptKeys, AttemptQuery, Held, Lease, Recorded, Store};
use crate::{AttemptState, ids};

/// The provider the checks' rows belong to.
const MOCK: &[&str] = &["mock"];

/// What the checks expect of [`Recorded`].
trait Expect {
    fn new_attempt(self) -> crate::Attempt;
    fn live_attempt(self) -> crate::Attempt;
}

impl Expect for Recorded {
    fn new_attempt(self) -> crate::Attempt {
        match self {
            Recorded::New(a) => a,
            Recorded::Live(a) => panic!("not recorded: the order has {a:?}"),
        }
    }

    fn live_attempt(self) -> crate::Attempt {
        match self {
            Recorded::Live(a) => a,
            Recorded::New(a) => panic!("recorded beside a live attempt: {a:?}"),
        }
    }
}

/// A one-minute lease for `owner` from `now`.
fn lease(owner: &str, now: i64) -> Lease<'_> {
    Lease {
        owner,
        now,
        for_ms: 60_000,
    }
}

/// Two handles (separate connection pools) on one fresh database.
pub type Pair = (Arc<dyn Store>, Arc<dyn Store>);

fn new_attempt(reference: &str, now: i64) -> NewAttempt {
    NewAttempt {
        id: ids::new_id("att", now),
        provider: "mock".into(),
        reference: reference.into(),
        phone: "254712345678".into(),
        amount: 100,
        created_at: now,
        deadline_at: now + 600_000,
        next_check_at: now + 30_000,
    }
}

fn move_to(attempt: &crate::Attempt, to: AttemptState, at: i64, event: bool) -> TransitionRequest {
    TransitionRequest {
        attempt_id: attempt.id.clone(),
        expected: attempt.state,
        version: attempt.version,
        to,
        source: Source::StatusQuery,
        evidence: json!({ "test": true }),
        at,
        payment_id: Some(format!("PAY-{}", attempt.reference)),
        checkout_request_id: Some(format!("ws_CO_{}", attempt.reference)),
        receipt: (to == AttemptState::Completed).then(|| format!("REC-{}", attempt.reference)),
        next_check_at: to.is_open().then_some(at + 30_000),
        event: event.then(|| NewEvent {
            event_id: format!("{}:{}", attempt.id, to),
            attempt_id: attempt.id.clone(),
            kind: settled(attempt, to),
            at,
        }),
    }
}

/// The event for entering `to` (completed, failed or expired).
fn settled(attempt: &crate::Attempt, to: AttemptState) -> EventKind {
    let payment = EventPayment {
        attempt_id: attempt.id.clone(),
        provider: attempt.provider.clone(),
        reference: attempt.reference.clone(),
        amount: attempt.amount,
        phone: attempt.phone.clone(),
        payment_id: None,
        state: to,
    };
    let previous_state = attempt.state;
    match to {
        AttemptState::Completed => EventKind::Completed(event::Completed {
            payment,
            receipt: None,
            transaction_time: None,
            previous_state,
            status: None,
            paid_late: false,
            source: None,
        }),
        AttemptState::Failed => EventKind::Failed(event::Failed {
            payment,
            reason: None,
            previous_state,
            status: None,
            source: None,
        }),
        _ => EventKind::Expired(event::Expired {
            payment,
            previous_state,
        }),
    }
}

/// One live attempt per order; a failed one frees the order.
pub async fn one_live_attempt_per_order((a, b): Pair) {
    let now = ids::unix_ms_now();
    let first = a
        .insert_attempt(&new_attempt("R1", now))
        .await
        .unwrap()
        .new_attempt();
    let refused = b
        .insert_attempt(&new_attempt("R1", now))
        .await
        .unwrap()
        .live_attempt();
    assert_eq!(refused.id, first.id);
    assert!(
        a.transition(&move_to(&first, AttemptState::Failed, now, true))
            .await
            .unwrap()
    );
    let again = b
        .insert_attempt(&new_attempt("R1", now))
        .await
        .unwrap()
        .new_attempt();
    assert_ne!(again.id, first.id);
    assert_eq!(
        a.search_attempts(&AttemptQuery::newest(10))
            .await
            .unwrap()
            .len(),
        2
    );
}

/// Searching: by state, provider, reference, receipt, the one search box (reference,
/// receipt, payment id, phone ending), creation time, newest first and page after page.
pub async fn search_finds_by_every_key((a, b): Pair) {
    let now = ids::unix_ms_now();
    let mut made = Vec::new();
    for (i, reference) in ["S1", "S2", "S3"].iter().enumerate() {
        let mut new = new_attempt(reference, now + i64::try_from(i).unwrap());
        new.phone = format!("25471234{:04}", 5670 + i);
        made.push(a.insert_attempt(&new).await.unwrap().new_attempt());
    }
    let paid = &made[1];
    assert!(
        a.transition(&move_to(paid, AttemptState::Completed, now + 10, false))
            .await
            .unwrap()
    );
    let ids = |found: Vec<crate::Attempt>| found.into_iter().map(|x| x.id).collect::<Vec<_>>();
    let search = |q: AttemptQuery| {
        let b = b.clone();
        async move { b.search_attempts(&q).await.unwrap() }
    };
    let newest: Vec<String> = made.iter().rev().map(|x| x.id.clone()).collect();
    assert_eq!(ids(search(AttemptQuery::newest(10)).await), newest);
    let q = |f: &dyn Fn(&mut AttemptQuery)| {
        let mut q = AttemptQuery::newest(10);
        f(&mut q);
        q
    };
    let only_paid = vec![paid.id.clone()];
    assert_eq!(
        ids(search(q(&|q| q.states = vec![AttemptState::Completed])).await),
        only_paid
    );
    assert_eq!(
        ids(search(q(&|q| q.reference = Some("S2".into()))).await),
        only_paid
    );
    assert_eq!(
        ids(search(q(&|q| q.receipt = Some("REC-S2".into()))).await),
        only_paid
    );
    for text in ["S2", "REC-S2", "PAY-S2", "5671", " 5671 "] {
        assert_eq!(
            ids(search(q(&|q| q.text = Some(text.into()))).await),
            only_paid,
            "{text:?}"
        );
    }
    assert!(
        search(q(&|q| q.text = Some("71".into()))).await.is_empty(),
        "2 digits: no phone search"
    );
    assert!(
        search(q(&|q| q.provider = Some("other".into())))
            .await
            .is_empty()
    );
    assert!(
        search(q(&|q| q.text = Some("S2' OR '1'='1".into())))
            .await
            .is_empty()
    );
    assert_eq!(
        ids(search(q(&|q| q.created_from = Some(now + 1))).await),
        newest[..2]
    );
    assert_eq!(
        ids(search(q(&|q| q.created_before = Some(now + 1))).await),
        newest[2..]
    );
    // Page after page, nothing repeated or skipped.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = search(q(&|q| {
            q.limit = 1;
            q.after.clone_from(&after);
        }))
        .await;
        let Some(last) = page.last() else { break };
        after = Some(crate::Cursor {
            created_at: last.created_at,
            id: last.id.clone(),
        });
        seen.extend(ids(page));
    }
    assert_eq!(seen, newest);
}

/// The review queue: expired attempts, `created`/`outcome_unknown` past their deadline, and
/// attempts with an anomaly or needs-review row no operator row has answered; and the tally
/// by local day, state and provider.
pub async fn review_queue_and_tally((a, b): Pair) {
    let now = ids::unix_ms_now();
    let mut made = Vec::new();
    for (i, reference) in ["Q1", "Q2", "Q3", "Q4", "Q5"].iter().enumerate() {
        let mut new = new_attempt(reference, now + i64::try_from(i).unwrap());
        if *reference != "Q5" {
            new.deadline_at = now + 1_000;
        }
        new.amount = 10 * (u64::try_from(i).unwrap() + 1);
        made.push(a.insert_attempt(&new).await.unwrap().new_attempt());
    }
    let (fresh, expired, anomalous, unknown, answered) =
        (&made[0], &made[1], &made[2], &made[3], &made[4]);
    assert!(
        a.transition(&move_to(expired, AttemptState::Expired, now + 10, false))
            .await
            .unwrap()
    );
    assert!(
        a.transition(&move_to(
            unknown,
            AttemptState::OutcomeUnknown,
            now + 10,
            false
        ))
        .await
        .unwrap()
    );
    assert!(
        a.transition(&move_to(
            anomalous,
            AttemptState::Completed,
            now + 10,
            false
        ))
        .await
        .unwrap()
    );
    let row = |attempt: &crate::Attempt, to: &str, source: Source, at: i64| crate::Transition {
        attempt_id: attempt.id.clone(),
        from: attempt.state.as_str().into(),
        to: to.into(),
        source: source.as_str().into(),
        evidence: json!({}),
        at,
    };
    a.note(&row(anomalous, "anomaly", Source::Callback, now + 20), None)
        .await
        .unwrap();
    a.note(
        &row(answered, "needs_review", Source::Callback, now + 20),
        None,
    )
    .await
    .unwrap();
    a.note(&row(answered, "reviewed", Source::Operator, now + 30), None)
        .await
        .unwrap();
    let review = |at: i64| {
        let b = b.clone();
        async move {
            let q = AttemptQuery {
                review_at: Some(at),
                ..AttemptQuery::newest(10)
            };
            let mut found: Vec<String> = b
                .search_attempts(&q)
                .await
                .unwrap()
                .into_iter()
                .map(|x| x.reference)
                .collect();
            found.sort();
            found
        }
    };
    // Before the deadline: the expired one and the unanswered anomaly.
    assert_eq!(review(now + 500).await, ["Q2", "Q3"]);
    // After it: also the outcome-unknown and the still-created one.
    assert_eq!(review(now + 2_000).await, ["Q1", "Q2", "Q3", "Q4"]);
    // New evidence after the review brings it back.
    a.note(&row(answered, "anomaly", Source::Callback, now + 40), None)
        .await
        .unwrap();
    assert_eq!(review(now + 500).await, ["Q2", "Q3", "Q5"]);
    // Paid late: a completion after expiry, until an operator reviews it.
    let expired = b.attempt(&expired.id).await.unwrap().unwrap();
    assert!(
        a.transition(&move_to(&expired, AttemptState::Completed, now + 50, false))
            .await
            .unwrap()
    );
    assert_eq!(review(now + 500).await, ["Q2", "Q3", "Q5"]);
    a.note(&row(&expired, "reviewed", Source::Operator, now + 60), None)
        .await
        .unwrap();
    assert_eq!(review(now + 500).await, ["Q3", "Q5"]);
    let _ = fresh;

    // The tally of those created in a window, by state and provider.
    let tally = b.tally(now, now + 5).await.unwrap();
    let mut by_state: Vec<(AttemptState, i64, i64)> =
        tally.iter().map(|t| (t.state, t.count, t.amount)).collect();
    by_state.sort_by_key(|c| c.0.as_str());
    assert_eq!(
        by_state,
        [
            (AttemptState::Completed, 2, 50),
            (AttemptState::Created, 2, 60),
            (AttemptState::OutcomeUnknown, 1, 40),
        ]
    );
    assert!(tally.iter().all(|t| t.provider == "mock"));
    assert_eq!(
        b.tally(now + 1, now + 2).await.unwrap().len(),
        1,
        "one attempt at now + 1"
    );
    assert!(b.tally(now + 5, now + 10).await.unwrap().is_empty());
}

/// Concurrent compare-and-set transitions from two pools: exactly one writer wins each step,
/// and the loser changes nothing.
pub async fn compare_and_set_races((a, b): Pair) {
    let now = ids::unix_ms_now();
    for round in 0..10 {
        let attempt = a
            .insert_attempt(&new_attempt(&format!("RACE-{round}"), now))
            .await
            .unwrap()
            .new_attempt();
        let (complete, fail) = (
            move_to(&attempt, AttemptState::Completed, now, true),
            move_to(&attempt, AttemptState::Failed, now, true),
        );
        let (x, y) = tokio::join!(a.transition(&complete), b.transition(&fail));
        assert!(x.unwrap() ^ y.unwrap(), "exactly one writer wins");
        let stored = b.attempt(&attempt.id).await.unwrap().unwrap();
        assert_eq!(stored.version, 1);
        assert_eq!(b.transitions(&attempt.id).await.unwrap().len(), 1);
        assert_eq!(a.events(&attempt.id).await.unwrap().len(), 1, "one event");
        // A stale writer (old version) changes nothing.
        assert!(
            !a.transition(&move_to(&attempt, AttemptState::Pending, now, false))
                .await
                .unwrap()
        );
    }
}

/// Callbacks found by payment id, status id, checkout id, then reference.
pub async fn attempts_are_found_by_any_id((a, b): Pair) {
    let now = ids::unix_ms_now();
    let attempt = a
        .insert_attempt(&new_attempt("FIND-1", now))
        .await
        .unwrap()
        .new_attempt();
    assert!(
        a.transition(&move_to(&attempt, AttemptState::Submitted, now, false))
            .await
            .unwrap()
    );
    let keys = |ids: Vec<&'static str>,
                checkout: Option<&'static str>,
                reference: Option<&'static str>| AttemptKeys {
        provider: "mock",
        payment_ids: ids,
        checkout_request_id: checkout,
        reference,
    };
    for k in [
        keys(vec!["PAY-FIND-1"], None, None),
        keys(vec!["nope", "ws_CO_FIND-1"], None, None),
        keys(vec![], Some("ws_CO_FIND-1"), None),
        keys(vec![], None, Some("FIND-1")),
    ] {
        assert_eq!(b.find_attempt(&k).await.unwrap().unwrap().id, attempt.id);
    }
    assert!(
        b.find_attempt(&keys(vec!["nope"], Some("nope"), Some("NOPE")))
            .await
            .unwrap()
            .is_none()
    );
    let other = AttemptKeys {
        provider: "lipia",
        ..keys(vec!["PAY-FIND-1"], None, None)
    };
    assert!(
        b.find_attempt(&other).await.unwrap().is_none(),
        "per provider"
    );
}

fn callback(n: usize, now: i64) -> InboxItem {
    InboxItem {
        id: ids::new_id("cb", now),
        provider: "mock".into(),
        received_at: now,
        target: Some("/mock?token=t".into()),
        headers: vec![("content-type".into(), "application/json".into())],
        body: format!("{{\"n\":{n},\"bytes\":\"\\u0000\"}}").into_bytes(),
        processed_at: None,
        outcome: None,
        attempt_id: None,
        error: None,
    }
}

/// Stores one callback.
async fn insert(store: &Arc<dyn Store>, item: InboxItem) -> Inserted {
    let mut answers = store.insert_inbox(&[item]).await.unwrap();
    assert_eq!(answers.len(), 1, "one answer per callback");
    answers.remove(0)
}

/// A batch of callbacks is stored at once: one answer per callback, in order; a copy of a
/// stored callback, or of an earlier one in the same batch, is a duplicate of it; two
/// instances storing overlapping batches at once both succeed.
pub async fn inbox_batches_keep_order_and_dedupe((a, b): Pair) {
    let now = ids::unix_ms_now();
    let Inserted::New(first) = insert(&a, callback(0, now)).await else {
        panic!("new")
    };
    let mut batch: Vec<InboxItem> = (1..=3).map(|n| callback(n, now)).collect();
    batch.push(callback(0, now));
    batch.push(callback(2, now));
    let answers = b.insert_inbox(&batch).await.unwrap();
    let [
        Inserted::New(one),
        Inserted::New(two),
        Inserted::New(three),
        Inserted::Duplicate(zero),
        Inserted::Duplicate(two_again),
    ] = answers.as_slice()
    else {
        panic!("unexpected answers: {answers:?}")
    };
    assert_eq!(
        (one, two, three),
        (&batch[0].id, &batch[1].id, &batch[2].id)
    );
    assert_eq!((zero, two_again), (&first, two));
    assert!(a.insert_inbox(&[]).await.unwrap().is_empty());
    // Overlapping batches from two instances at once (opposite orders).
    let forward: Vec<InboxItem> = (10..60).map(|n| callback(n, now)).collect();
    let backward: Vec<InboxItem> = (10..60).rev().map(|n| callback(n, now)).collect();
    let (x, y) = tokio::join!(a.insert_inbox(&forward), b.insert_inbox(&backward));
    let (x, y) = (x.unwrap(), y.unwrap());
    let new = x
        .iter()
        .chain(&y)
        .filter(|i| matches!(i, Inserted::New(_)))
        .count();
    assert_eq!(new, 50, "each callback stored once");
    let claimed = a.claim_inbox(MOCK, &lease("one", now), 100).await.unwrap();
    assert_eq!(claimed.len(), 54);
}

/// The inbox keeps raw callbacks once; two workers claim disjoint sets; an expired claim is
/// taken over; processed callbacks are not claimed again.
pub async fn inbox_dedupes_claims_and_takes_over((a, b): Pair) {
    let now = ids::unix_ms_now();
    let first = insert(&a, callback(0, now)).await;
    let Inserted::New(id) = first else {
        panic!("new")
    };
    assert_eq!(
        insert(&b, callback(0, now)).await,
        Inserted::Duplicate(id.clone())
    );
    let stored = a.inbox_item(&id).await.unwrap().unwrap();
    assert_eq!(stored.body, callback(0, now).body, "raw bytes kept");
    assert_eq!(stored.headers, callback(0, now).headers);
    for n in 1..60 {
        insert(&a, callback(n, now)).await;
    }
    let (one, two) = (lease("one", now), lease("two", now));
    let (x, y) = tokio::join!(a.claim_inbox(MOCK, &one, 40), b.claim_inbox(MOCK, &two, 40));
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x.len() + y.len(), 60);
    assert!(
        x.iter().all(|i| y.iter().all(|j| i.id != j.id)),
        "disjoint claims"
    );
    // Claimed: nobody else gets them until the lease ends; then another worker does.
    assert!(
        a.claim_inbox(MOCK, &lease("three", now + 1), 100)
            .await
            .unwrap()
            .is_empty()
    );
    let taken = b
        .claim_inbox(MOCK, &lease("three", now + 61_000), 100)
        .await
        .unwrap();
    assert_eq!(taken.len(), 60, "expired claims are taken over");
    let (first, rest) = taken.split_at(1);
    a.finish_inbox(&[first[0].id.as_str()], now, "applied", None, None)
        .await
        .unwrap();
    let rest: Vec<&str> = rest.iter().map(|i| i.id.as_str()).collect();
    a.finish_inbox(&rest, now, "applied", None, None)
        .await
        .unwrap();
    a.finish_inbox(&[], now, "applied", None, None)
        .await
        .unwrap();
    assert!(
        b.claim_inbox(MOCK, &lease("four", now + 200_000), 100)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Events: one per id, claimed by one worker at a time, re-offered after a refusal, never
/// after an acknowledgement.
pub async fn outbox_delivers_until_acknowledged((a, b): Pair) {
    let now = ids::unix_ms_now();
    let mut ids_seen = Vec::new();
    for n in 0..20 {
        let attempt = a
            .insert_attempt(&new_attempt(&format!("EV-{n}"), now))
            .await
            .unwrap()
            .new_attempt();
        assert!(
            a.transition(&move_to(&attempt, AttemptState::Failed, now, true))
                .await
                .unwrap()
        );
        ids_seen.push(format!("{}:failed", attempt.id));
    }
    assert_eq!(b.undelivered(1_000).await.unwrap(), 20);
    assert_eq!(b.undelivered(7).await.unwrap(), 7, "a bounded count");
    let (one, two) = (lease("one", now), lease("two", now));
    let (x, y) = tokio::join!(a.claim_events(&one, 15), b.claim_events(&two, 15));
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x.len() + y.len(), 20);
    assert!(x.iter().all(|e| y.iter().all(|f| e.event_id != f.event_id)));
    for e in &x {
        a.ack_event(&e.event_id, now).await.unwrap();
    }
    for e in &y {
        b.retry_event(&e.event_id, now + 5_000, "handler down")
            .await
            .unwrap();
    }
    assert!(
        a.claim_events(&lease("three", now + 1_000), 100)
            .await
            .unwrap()
            .is_empty()
    );
    let again = b
        .claim_events(&lease("three", now + 6_000), 100)
        .await
        .unwrap();
    assert_eq!(again.len(), y.len());
    assert!(again.iter().all(|e| e.deliveries == 1));
    assert_eq!(
        a.undelivered(1_000).await.unwrap(),
        i64::try_from(y.len()).unwrap()
    );
    // What the delivery log shows: when, how many tries, why the last failed.
    let acked = a.events(&x[0].attempt_id).await.unwrap();
    assert_eq!(acked[0].delivered_at, Some(now));
    let retried = a.events(&y[0].attempt_id).await.unwrap();
    assert_eq!(retried[0].delivered_at, None);
    assert_eq!(retried[0].next_attempt_at, now + 5_000);
    assert_eq!(retried[0].last_error.as_deref(), Some("handler down"));
    // Pruning takes delivered events only, oldest first, never one still to deliver.
    assert_eq!(
        b.prune_events(now, 1_000).await.unwrap(),
        0,
        "delivered at now"
    );
    let pruned = b.prune_events(now + 1, 5).await.unwrap();
    assert_eq!(pruned, 5.min(u64::try_from(x.len()).unwrap()));
    b.prune_events(now + 1, 1_000).await.unwrap();
    assert!(a.events(&x[0].attempt_id).await.unwrap().is_empty());
    assert_eq!(a.events(&y[0].attempt_id).await.unwrap().len(), 1);
    assert_eq!(
        a.undelivered(1_000).await.unwrap(),
        i64::try_from(y.len()).unwrap()
    );
}

/// Due attempts are claimed by one sweeper at a time; a dead sweeper's claim expires.
pub async fn due_attempts_are_leased((a, b): Pair) {
    let now = ids::unix_ms_now();
    for n in 0..10 {
        let attempt = a
            .insert_attempt(&new_attempt(&format!("DUE-{n}"), now))
            .await
            .unwrap()
            .new_attempt();
        assert!(
            a.transition(&move_to(&attempt, AttemptState::Submitted, now, false))
                .await
                .unwrap()
        );
    }
    assert!(
        a.claim_due_attempts(MOCK, &lease("one", now), 100)
            .await
            .unwrap()
            .is_empty(),
        "not due yet"
    );
    let later = now + 31_000;
    let (one, two) = (lease("one", later), lease("two", later));
    let (x, y) = tokio::join!(
        a.claim_due_attempts(MOCK, &one, 100),
        b.claim_due_attempts(MOCK, &two, 100)
    );
    assert_eq!(x.unwrap().len() + y.unwrap().len(), 10);
    assert!(
        b.claim_due_attempts(MOCK, &lease("three", later + 1), 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        b.claim_due_attempts(MOCK, &lease("three", later + 61_000), 100)
            .await
            .unwrap()
            .len(),
        10
    );
}

/// Work is claimed only for the providers an instance has; a released callback waits for its
/// retry time.
pub async fn claims_are_per_provider_and_releases_wait((a, b): Pair) {
    let now = ids::unix_ms_now();
    let mut foreign = callback(1, now);
    foreign.provider = "lipia".into();
    insert(&a, foreign).await;
    insert(&a, callback(2, now)).await;
    let mine = b.claim_inbox(MOCK, &lease("one", now), 10).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].provider, "mock");
    b.release_inbox(&mine[0].id, now + 30_000, "provider down")
        .await
        .unwrap();
    assert!(
        a.claim_inbox(MOCK, &lease("two", now + 1_000), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        a.claim_inbox(MOCK, &lease("two", now + 31_000), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        a.claim_inbox(&["lipia"], &lease("three", now), 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// An attempt's events are offered in order: a later one waits while an earlier one is
/// undelivered (a refused `failed` must not be overtaken by a `completed`).
pub async fn events_of_one_attempt_arrive_in_order((a, b): Pair) {
    let now = ids::unix_ms_now();
    let attempt = a
        .insert_attempt(&new_attempt("ORD-1", now))
        .await
        .unwrap()
        .new_attempt();
    assert!(
        a.transition(&move_to(&attempt, AttemptState::Failed, now, true))
            .await
            .unwrap()
    );
    let failed = a.attempt(&attempt.id).await.unwrap().unwrap();
    assert!(
        a.transition(&move_to(&failed, AttemptState::Completed, now + 1, true))
            .await
            .unwrap()
    );
    let first = b.claim_events(&lease("one", now + 2), 10).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].kind.name(), "failed");
    b.retry_event(&first[0].event_id, now + 5_000, "handler down")
        .await
        .unwrap();
    assert!(
        a.claim_events(&lease("two", now + 3), 10)
            .await
            .unwrap()
            .is_empty(),
        "completed waits"
    );
    let again = a
        .claim_events(&lease("two", now + 6_000), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    a.ack_event(&again[0].event_id, now + 6_000).await.unwrap();
    let next = b
        .claim_events(&lease("three", now + 6_001), 10)
        .await
        .unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].kind.name(), "completed");
}

/// One provider payment id per attempt, one receipt per completed attempt: two pools racing
/// to give the same id (or receipt) to two attempts, exactly one wins and the other gets a
/// conflict, changing nothing. Another provider may use the same id.
pub async fn a_payment_id_or_receipt_binds_one_attempt((a, b): Pair) {
    let now = ids::unix_ms_now();
    for round in 0..5 {
        let x = a
            .insert_attempt(&new_attempt(&format!("BIND-X{round}"), now))
            .await
            .unwrap()
            .new_attempt();
        let y = b
            .insert_attempt(&new_attempt(&format!("BIND-Y{round}"), now))
            .await
            .unwrap()
            .new_attempt();
        let shared = |attempt: &crate::Attempt, to: AttemptState| {
            let mut request = move_to(attempt, to, now, false);
            request.payment_id = Some(format!("SHARED-{round}"));
            request.receipt = (to == AttemptState::Completed).then(|| format!("UREC{round}"));
            request
        };
        let (to_x, to_y) = (
            shared(&x, AttemptState::Submitted),
            shared(&y, AttemptState::Submitted),
        );
        let (first, second) = tokio::join!(a.transition(&to_x), b.transition(&to_y));
        let (won, lost) = match (first, second) {
            (Ok(true), Err(e)) => ((&x, &a), (&y, e)),
            (Err(e), Ok(true)) => ((&y, &b), (&x, e)),
            other => panic!("exactly one attempt may hold the id: {other:?}"),
        };
        assert!(lost.1.is_conflict(), "{}", lost.1);
        let loser = a.attempt(&lost.0.id).await.unwrap().unwrap();
        assert_eq!(
            (loser.state, loser.payment_id.as_deref()),
            (AttemptState::Created, None)
        );
        assert!(b.transitions(&lost.0.id).await.unwrap().is_empty());
        let holder = b
            .attempt_holding("mock", Held::PaymentId(&format!("SHARED-{round}")))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(holder.id, won.0.id);

        // Completions: the loser completes under its own id, but not with the winner's receipt.
        let winner = won.1.attempt(&won.0.id).await.unwrap().unwrap();
        assert!(
            won.1
                .transition(&shared(&winner, AttemptState::Completed))
                .await
                .unwrap()
        );
        let mut late = move_to(&loser, AttemptState::Completed, now, false);
        late.receipt = Some(format!("UREC{round}"));
        let refused = a.transition(&late).await.unwrap_err();
        assert!(refused.is_conflict(), "{refused}");
        late.receipt = Some(format!("UOWN{round}"));
        assert!(a.transition(&late).await.unwrap());
        let done = b.attempt(&loser.id).await.unwrap().unwrap();
        assert_eq!(
            done.receipt.as_deref(),
            Some(format!("UOWN{round}").as_str())
        );
        let by_receipt = a
            .attempt_holding("mock", Held::Receipt(&format!("UREC{round}")))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(by_receipt.id, winner.id);
    }
    // The same id at another provider is another payment.
    let mut other = new_attempt("BIND-OTHER", now);
    other.provider = "lipia".into();
    let other = a.insert_attempt(&other).await.unwrap().new_attempt();
    let mut request = move_to(&other, AttemptState::Submitted, now, false);
    request.payment_id = Some("SHARED-0".into());
    assert!(b.transition(&request).await.unwrap());
}

/// Generates one `#[tokio::test]` per conformance check for a store. `$pair` is an async
/// expression giving `Option<Pair>` (two handles on one fresh database; `None` skips, e.g.
/// when no PostgreSQL server is configured outside CI).
#[macro_export]
macro_rules! store_conformance {
    ($pair:expr) => {
        $crate::store_conformance!(@tests $pair;
            one_live_attempt_per_order,
            compare_and_set_races,
            attempts_are_found_by_any_id,
            inbox_dedupes_claims_and_takes_over,
            inbox_batches_keep_order_and_dedupe,
            outbox_delivers_until_acknowledged,
            due_attempts_are_leased,
            claims_are_per_provider_and_releases_wait,
            events_of_one_attempt_arrive_in_order,
            a_payment_id_or_receipt_binds_one_attempt,
            search_finds_by_every_key,
            review_queue_and_tally
        );
    };
    (@tests $pair:expr; $($check:ident),*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $check() {
            if let Some(pair) = $pair.await {
                $crate::conformance::$check(pair).await;
            }
        }
    )*};
}

/// The PostgreSQL test server (`STK_TEST_POSTGRES_URL`), if any. In CI (`CI` set) a missing
/// server is a failure, never a silent skip.
pub fn test_postgres_url() -> Option<String> {
    match std::env::var("STK_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!(
                "CI must run the PostgreSQL tests: STK_TEST_POSTGRES_URL is not set (.ci/run starts a server)"
            )
        }
        _ => {
            eprintln!("skipping: STK_TEST_POSTGRES_URL is not set (see README: Tests)");
            None
        }
    }
}

/// Creates a new, empty database on the server at `url`; returns its URL.
pub async fn fresh_postgres_database(url: &str) -> String {
    sqlx::any::install_default_drivers();
    let name = format!("stk_t_{:016x}", fastrand::u64(..));
    let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap();
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let base = url.rsplit_once('/').map_or(url, |(head, _)| head);
    format!("{base}/{name}")
}
