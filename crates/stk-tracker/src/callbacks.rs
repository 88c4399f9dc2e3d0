//! Callbacks: store raw, acknowledge, then process (verify, match, confirm by status query,
//! compare, apply). A callback is a claim, not a fact: only the provider's status answer moves
//! an attempt.

use serde_json::json;
use stk_core::{
    CallbackAck, CallbackClaim, CallbackRequest, PaymentId, PaymentStatus, StatusReport,
};

use crate::AttemptState;
use crate::binding::{Tie, Verdict, claim_mismatch, judge};
use crate::budget::{Answer, Need};
use crate::error::TrackerError;
use crate::event::AnomalyKind;
use crate::ids;
use crate::model::{Attempt, InboxItem, Inserted, Refused, Source};
use crate::store::{AttemptKeys, Held};
use crate::tracker::{Evidence, Tracker, ms};

/// What processing a callback concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallbackOutcome {
    /// Verified, matched, confirmed by status query, and applied (`changed`: the attempt moved).
    Applied {
        /// The attempt.
        attempt_id: String,
        /// Whether its state changed.
        changed: bool,
    },
    /// The status query does not confirm what the callback claims (forged, or early).
    NotConfirmed {
        /// The attempt.
        attempt_id: String,
    },
    /// The callback names a genuine payment but claims another amount or reference: an
    /// anomaly, never a payment.
    Mismatch {
        /// The attempt.
        attempt_id: String,
    },
    /// Refused: not verifiable or not a callback of this provider.
    Invalid,
    /// No attempt carries any of its ids or its reference; kept in the inbox.
    Unmatched,
    /// A claim the provider's answers can neither confirm nor refute (no id to query, or an
    /// answer that does not tie the payment to this order): evidence only, raised as a
    /// `needs_review` event.
    NeedsReview {
        /// The attempt.
        attempt_id: String,
    },
}

impl CallbackOutcome {
    fn name(&self) -> &'static str {
        match self {
            Self::Applied { .. } => "applied",
            Self::NotConfirmed { .. } => "not_confirmed",
            Self::Mismatch { .. } => "mismatch",
            Self::Invalid => "invalid",
            Self::Unmatched => "unmatched",
            Self::NeedsReview { .. } => "needs_review",
        }
    }

    fn attempt_id(&self) -> Option<&str> {
        match self {
            Self::Applied { attempt_id, .. }
            | Self::NotConfirmed { attempt_id }
            | Self::Mismatch { attempt_id }
            | Self::NeedsReview { attempt_id } => Some(attempt_id),
            Self::Invalid | Self::Unmatched => None,
        }
    }
}

/// The result of storing a callback: how to answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Received {
    /// The inbox id.
    pub inbox_id: String,
    /// Whether an identical callback was already stored (a re-delivery).
    pub duplicate: bool,
    /// The provider's acknowledgement, to answer with now.
    pub ack: CallbackAck,
}

impl Tracker {
    /// Stores a callback for `provider` in the inbox and returns the acknowledgement to answer
    /// with at once; processing happens afterwards (see [`process_inbox`](Self::process_inbox)
    /// and [`run`](Self::run)). Identical re-deliveries are stored once. Framework-free: call
    /// it from any web server. Callbacks arriving together are stored in one transaction by a
    /// writer task started on the runtime of the first call: keep that runtime running while
    /// the tracker receives.
    ///
    /// What is not this provider's callback, or fails its verification (token, challenge,
    /// signature), is refused before anything is stored ([`TrackerError::Refused`]: answer
    /// 4xx); only its count and the latest excerpt are kept ([`InboxStore::refused`]).
    ///
    /// [`InboxStore::refused`]: crate::InboxStore::refused
    pub async fn receive(
        &self,
        provider: &str,
        callback: CallbackRequest,
    ) -> Result<Received, TrackerError> {
        let provider = self.provider(provider)?;
        let now = self.now();
        if let Err(error) = provider.parse_callback(&callback) {
            let refused = Refused::new(provider.name(), &error.to_string(), &callback.body, now);
            if let Err(e) = self.inner.store.record_refused(&refused).await {
                tracing::warn!(error = %e, "a refused callback could not be counted");
            }
            tracing::debug!(provider = provider.name(), error = %error, "callback refused before storage");
            return Err(TrackerError::Refused {
                provider: provider.name(),
                error,
            });
        }
        self.check_backlog(provider.name()).await?;
        let item = InboxItem {
            id: ids::new_id("cb", now),
            provider: provider.name().to_owned(),
            received_at: now,
            target: callback.path_and_query.clone(),
            headers: callback.headers.clone(),
            body: callback.body,
            processed_at: None,
            outcome: None,
            attempt_id: None,
            error: None,
        };
        let inserted = self.inner.intake.insert(&self.inner.store, item).await?;
        crate::fault::point("after_inbox_before_process");
        let (inbox_id, duplicate) = match inserted {
            Inserted::New(id) => (id, false),
            Inserted::Duplicate(id) => (id, true),
        };
        if !duplicate {
            self.inner.work.notify_one();
        }
        Ok(Received {
            inbox_id,
            duplicate,
            ack: provider.callback_ack(),
        })
    }

    /// Processes stored callbacks not yet processed (also those left by a crash), up to
    /// 16 times the batch size; returns how many were processed.
    ///
    /// Claims that say the same thing about the same payment (the same ids, reference, status
    /// and amount; receipts aside) are processed once, together: a flood of forged claims
    /// naming a few payments costs a few lookups a round, and genuine callbacks queued behind
    /// it wait for rounds, not for every forgery before them. Each keeps its row in the inbox
    /// with the outcome.
    pub async fn process_inbox(&self) -> Result<usize, TrackerError> {
        let config = &self.inner.config;
        // Everything claimed below was stored before now: a status answer asked after this
        // serves all of this round's claims about its payment.
        let seen = tokio::time::Instant::now();
        let items = self
            .inner
            .store
            .claim_inbox(
                &self.provider_names(),
                &self.lease(),
                config.batch.saturating_mul(CLAIMS_PER_ROUND),
            )
            .await?;
        let count = items.len();
        let groups = self.group_claims(items);
        let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(
            usize::try_from(config.batch.max(1)).unwrap_or(64),
        ));
        let mut tasks = tokio::task::JoinSet::new();
        for group in groups {
            let (tracker, slots) = (self.clone(), std::sync::Arc::clone(&slots));
            tasks.spawn(async move {
                let _slot = slots.acquire_owned().await;
                tracker.process_group(group, seen).await
            });
        }
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "a callback could not be processed; it stays in the inbox")
                }
                Err(e) => tracing::error!(error = %e, "a callback task panicked"),
            }
        }
        Ok(count)
    }

    /// Claims that say the same thing about the same payment, together, in arrival order.
    fn group_claims(&self, items: Vec<InboxItem>) -> Vec<Group> {
        let mut groups: Vec<Group> = Vec::new();
        let mut by_key: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for item in items {
            let Some((key, receipt)) = self.claim_key(&item) else {
                groups.push(Group::of(item, None));
                continue;
            };
            match by_key.get(&key) {
                Some(&n) => {
                    groups[n].items.push(item);
                    groups[n].receipts.insert(receipt);
                }
                None => {
                    by_key.insert(key, groups.len());
                    groups.push(Group::of(item, Some(receipt)));
                }
            }
        }
        groups
    }

    /// What a claim says, its receipt aside, and the receipt a completion claim names;
    /// `None` when it does not parse (processed alone).
    fn claim_key(&self, item: &InboxItem) -> Option<(String, Option<String>)> {
        let provider = self.provider(&item.provider).ok()?;
        let event = provider.parse_callback(&stored_request(item)).ok()?;
        let (status, receipt) = match &event.status {
            PaymentStatus::Completed(done) => (
                format!("completed {:?}", done.amount.map(|a| a.shillings())),
                done.receipt.clone(),
            ),
            other => (serde_json::to_string(other).ok()?, None),
        };
        let key = format!(
            "{} {:?} {:?} {:?} {:?} {status}",
            item.provider,
            event.payment_id,
            event.status_id,
            event.checkout_request_id,
            event.merchant_reference
        );
        Some((key, receipt))
    }

    /// The processing of a group's first claim decides them all.
    async fn process_group(
        &self,
        group: Group,
        seen: tokio::time::Instant,
    ) -> Result<(), TrackerError> {
        // Claims in a group differ only in their receipts: if they name several, at least one
        // is forged, and none may be kept where the provider's answer has none (Daraja).
        let receipts_agree = group.receipts.len() <= 1;
        let group = group.items;
        let Some(first) = group.first() else {
            return Ok(());
        };
        self.inner.queries.count_coalesced(group.len() - 1);
        match self.process_callback(first, seen, receipts_agree).await {
            Ok(outcome) => self.finish(&group, &outcome, None).await,
            Err(Failed::Refused(outcome, why)) => self.finish(&group, &outcome, Some(&why)).await,
            Err(failed @ (Failed::Transient(_) | Failed::Later(..))) => {
                // The store or the provider failed, or the query budget is spent: the
                // callbacks stay in the inbox and are tried again (the provider got its
                // acknowledgement and will not resend).
                let (why, after) = match failed {
                    Failed::Later(why, after) => (why, after),
                    Failed::Transient(why) | Failed::Refused(_, why) => (why, RETRY_CALLBACK_AFTER),
                };
                let retry_at = self.now().saturating_add(ms(after));
                tracing::warn!(inbox = %first.id, callbacks = group.len(), error = %why, "callbacks will be processed again later");
                for item in &group {
                    self.inner
                        .store
                        .release_inbox(&item.id, retry_at, &why)
                        .await?;
                }
                Ok(())
            }
        }
    }

    async fn finish(
        &self,
        items: &[InboxItem],
        outcome: &CallbackOutcome,
        error: Option<&str>,
    ) -> Result<(), TrackerError> {
        let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
        self.inner
            .store
            .finish_inbox(
                &ids,
                self.now(),
                outcome.name(),
                outcome.attempt_id(),
                error,
            )
            .await?;
        let now = self.now();
        for item in items {
            let waited = u64::try_from(now.saturating_sub(item.received_at)).unwrap_or(0);
            self.inner
                .callbacks
                .decided(outcome.name(), std::time::Duration::from_millis(waited));
        }
        tracing::debug!(callbacks = ids.len(), first = ?ids.first(), outcome = outcome.name(), "callbacks processed");
        Ok(())
    }

    /// Verify, match, compare, confirm, apply. `receipts_agree`: whether the claims processed
    /// with this one name the same receipt (else none is taken from a callback).
    async fn process_callback(
        &self,
        item: &InboxItem,
        seen: tokio::time::Instant,
        receipts_agree: bool,
    ) -> Result<CallbackOutcome, Failed> {
        let provider = self
            .provider(&item.provider)
            .map_err(|e| Failed::Refused(CallbackOutcome::Invalid, e.to_string()))?;
        let event = provider
            .parse_callback(&stored_request(item))
            .map_err(|e| Failed::Refused(CallbackOutcome::Invalid, e.to_string()))?;
        let store_err = |e: crate::store::StoreError| Failed::Transient(e.to_string());
        let payment_ids: Vec<&str> = [event.payment_id.as_ref(), event.status_id.as_ref()]
            .into_iter()
            .flatten()
            .map(PaymentId::as_str)
            .collect();
        let keys = AttemptKeys {
            provider: provider.name(),
            payment_ids,
            checkout_request_id: event.checkout_request_id.as_deref(),
            reference: event.merchant_reference.as_deref(),
        };
        let Some(attempt) = self
            .inner
            .store
            .find_attempt(&keys)
            .await
            .map_err(store_err)?
        else {
            return Ok(CallbackOutcome::Unmatched);
        };
        let attempt_id = attempt.id.clone();
        let with_attempt = |e: TrackerError| Failed::Transient(e.to_string());
        if let Some(what) = claim_mismatch(&attempt, &event) {
            self.anomaly(&attempt, what, json!({ "callback": event }))
                .await
                .map_err(with_attempt)?;
            return Ok(CallbackOutcome::Mismatch { attempt_id });
        }
        // A paid attempt cannot move: a re-delivery or a late claim needs no status query
        // (this keeps a flood of callbacks from becoming a flood of queries).
        if attempt.state == AttemptState::Completed {
            return Ok(if event.status.as_str() == "completed" {
                CallbackOutcome::Applied {
                    attempt_id,
                    changed: false,
                }
            } else {
                CallbackOutcome::NotConfirmed { attempt_id }
            });
        }
        // Confirm by status query: the attempt's own id (the provider's answer to the push
        // gave it) first, else the id the callback says `status()` accepts. What the answer
        // may then do is decided by the binding rules (`crate::binding`).
        let (query_id, tie) = match (&attempt.payment_id, &event.status_id) {
            (Some(own), _) => (PaymentId::new(own.clone()), Tie::Own),
            (None, Some(claimed)) => (claimed.clone(), Tie::Claimed),
            (None, None) => {
                let why = "the callback carries no id the provider's status query accepts, and the provider cannot be asked by merchant reference";
                return self
                    .unverifiable(&attempt, &event, None, why, &item.id)
                    .await;
            }
        };
        if tie == Tie::Claimed {
            // An id another attempt holds pays nothing here (and costs no query).
            if let Some(other) = self
                .inner
                .store
                .attempt_holding(provider.name(), Held::PaymentId(query_id.as_str()))
                .await
                .map_err(store_err)?
                .filter(|other| other.id != attempt.id)
            {
                let detail = json!({ "callback": event, "held_by": other.id, "key": query_id });
                self.anomaly(&attempt, AnomalyKind::PaymentIdAlreadyBound, detail)
                    .await
                    .map_err(with_attempt)?;
                return Ok(CallbackOutcome::Mismatch { attempt_id });
            }
        }
        // Ids only a callback supplied cost queries anyone can trigger: a budget per provider
        // (the claim waits in the inbox when it is spent).
        if tie == Tie::Claimed && !self.inner.queries.take_claimed(provider.name()) {
            return Err(Failed::Transient(
                "deferred: the budget for querying callback-supplied ids is spent for now"
                    .to_owned(),
            ));
        }
        let need = if event.status.is_final() {
            Need::Budgeted
        } else {
            Need::Any
        };
        let report = match self
            .status_report(provider.as_ref(), &query_id, seen, need)
            .await
        {
            Ok(Answer::Given(report)) => report,
            Ok(Answer::NotNow(wait)) => {
                return Err(Failed::Later(
                    "waiting for the provider's status query budget".to_owned(),
                    wait,
                ));
            }
            // An id only a callback supplied that the provider does not know (or answers
            // garbage about) proves nothing, now or later: asking again would let anyone
            // make the tracker query the provider forever.
            Err(e) if tie == Tie::Claimed && !transient(&e) => {
                return Ok(CallbackOutcome::NotConfirmed { attempt_id });
            }
            Err(e) => {
                return Err(Failed::Transient(format!("the status query failed: {e}")));
            }
        };
        let verdict = judge(&attempt, &report, tie);
        match verdict {
            Verdict::Proven => {}
            Verdict::Mismatch { field } => {
                let detail = json!({ "field": field, "callback": event, "status": report, "queried": query_id });
                self.anomaly(&attempt, AnomalyKind::StatusMismatch, detail)
                    .await
                    .map_err(with_attempt)?;
                return Ok(CallbackOutcome::Mismatch { attempt_id });
            }
            Verdict::Unproven { why } => {
                return self
                    .unverifiable(&attempt, &event, Some(&report), why, &item.id)
                    .await;
            }
        }
        let confirmed = report.status.as_str() == event.status.as_str();
        // Daraja's answer has no receipt: the confirmed callback's is kept, marked as such,
        // unless another completed attempt holds it.
        if confirmed && !receipts_agree && matches!(report.status, PaymentStatus::Completed(_)) {
            let why = "completion claims processed together named different receipts: at least one is forged, none was taken from a callback";
            self.anomaly(
                &attempt,
                AnomalyKind::ReceiptConflict,
                json!({ "callback": event, "why": why }),
            )
            .await
            .map_err(with_attempt)?;
        }
        let (status, receipt_from_callback) = if confirmed && receipts_agree {
            self.with_callback_receipt(&attempt, report.status.clone(), &event)
                .await
                .map_err(with_attempt)?
        } else {
            (report.status.clone(), false)
        };
        let before = (attempt.state, attempt.version);
        let evidence = Evidence {
            payment_id: Some(query_id.to_string()),
            // A CheckoutRequestID is kept (to match later callbacks) only from a claim the
            // provider confirmed final, or when it is the id the provider answered for: a
            // forged "pending" claim is confirmed by any pending payment.
            checkout_request_id: event.checkout_request_id.clone().filter(|checkout| {
                confirmed && (report.status.is_final() || checkout.as_str() == query_id.as_str())
            }),
            ..Evidence::of_status(
                Source::Callback,
                status,
                json!({
                    "callback": event,
                    "status": report,
                    "confirmed": confirmed,
                    "inbox_id": item.id,
                    "queried_by_callback_id": tie == Tie::Claimed,
                    "binding": verdict.to_json(),
                    "receipt_from_callback": receipt_from_callback,
                }),
            )
        };
        let after = self.apply(attempt, evidence).await.map_err(with_attempt)?;
        // A final claim the status does not confirm: a pending answer, or a failure where the
        // callback says paid (status endpoints lag; M-Pesa reports some payments failed, then
        // paid). Look again within seconds, not at the sweeper's next round.
        let contradicted = matches!(event.status, PaymentStatus::Completed(_))
            && matches!(report.status, PaymentStatus::Failed(_));
        let unconfirmed = event.status.is_final() && !report.status.is_final();
        // Also for an expired or failed attempt: a genuine completion may still come.
        if (unconfirmed || contradicted) && after.state != AttemptState::Completed {
            let now = self.now();
            // The series of quick looks restarts for a claim after the last one finished.
            let first = after
                .claimed_at
                .filter(|_| crate::tracker::in_claim_series(&after, now))
                .unwrap_or(now);
            let check_at = crate::tracker::claim_recheck_after(first, now).unwrap_or(now);
            self.inner
                .store
                .note_claim(&after.id, now, check_at)
                .await
                .map_err(store_err)?;
        }
        let changed = (after.state, after.version) != before;
        if confirmed {
            Ok(CallbackOutcome::Applied {
                attempt_id,
                changed,
            })
        } else {
            Ok(CallbackOutcome::NotConfirmed { attempt_id })
        }
    }

    /// A claim the provider's answers cannot confirm or refute. A non-final claim is simply
    /// not confirmed. While the push's own answer is still expected (`created`) a final one
    /// waits in the inbox and is processed again later: that answer brings the id to query
    /// (or, if it never comes, the attempt becomes outcome-unknown and the claim is raised).
    /// Otherwise the claim is evidence, raised once per attempt as a `needs_review` event
    /// (every further claim is recorded on the timeline), and nothing moves.
    async fn unverifiable(
        &self,
        attempt: &Attempt,
        event: &CallbackClaim,
        report: Option<&StatusReport>,
        why: &str,
        inbox_id: &str,
    ) -> Result<CallbackOutcome, Failed> {
        let attempt_id = attempt.id.clone();
        if !event.status.is_final() {
            // "Pending" or "processing" claims nothing worth a person's time.
            return Ok(CallbackOutcome::NotConfirmed { attempt_id });
        }
        if attempt.state == AttemptState::Created {
            return Err(Failed::Transient(format!(
                "deferred: the answer to attempt {attempt_id}'s push is not recorded yet"
            )));
        }
        let detail = json!({ "claim": event, "status": report, "why": why, "inbox_id": inbox_id });
        self.needs_review(attempt, detail)
            .await
            .map_err(|e| Failed::Transient(e.to_string()))?;
        Ok(CallbackOutcome::NeedsReview { attempt_id })
    }

    /// The status to apply and whether its receipt came from the callback: the callback's
    /// receipt (and time) fill a confirmed completion that has none, unless another completed
    /// attempt holds that receipt (then it is left out and raised as an anomaly).
    async fn with_callback_receipt(
        &self,
        attempt: &Attempt,
        status: PaymentStatus,
        event: &CallbackClaim,
    ) -> Result<(PaymentStatus, bool), TrackerError> {
        let (PaymentStatus::Completed(mut done), PaymentStatus::Completed(claimed)) =
            (status.clone(), &event.status)
        else {
            return Ok((status, false));
        };
        let Some(receipt) = claimed.receipt.clone().filter(|_| done.receipt.is_none()) else {
            return Ok((status, false));
        };
        let held = self
            .inner
            .store
            .attempt_holding(&attempt.provider, Held::Receipt(&receipt))
            .await?
            .filter(|other| other.id != attempt.id && other.state == AttemptState::Completed);
        if let Some(other) = held {
            let detail = json!({ "held_by": other.id, "key": receipt, "from": "callback" });
            self.anomaly(attempt, AnomalyKind::ReceiptAlreadyUsed, detail)
                .await?;
            return Ok((status, false));
        }
        done.receipt = Some(receipt);
        if done.completed_at.is_none() {
            done.completed_at.clone_from(&claimed.completed_at);
        }
        Ok((PaymentStatus::Completed(done), true))
    }
}

/// Whether a failed status query may succeed if asked again.
fn transient(error: &stk_core::Error) -> bool {
    use stk_core::Error as E;
    matches!(
        error,
        E::RateLimited { .. }
            | E::Unavailable { .. }
            | E::OutcomeUnknown { .. }
            | E::Unauthorized { .. }
            | E::Config { .. }
            | E::Guarded { .. }
    )
}

/// Why a callback was not processed.
enum Failed {
    /// For good: recorded with this outcome.
    Refused(CallbackOutcome, String),
    /// For now (the store or the provider failed): tried again later.
    Transient(String),
    /// For a moment (the provider's query budget is spent): tried again after it.
    Later(String, std::time::Duration),
}

/// Stored callbacks processed together: the first decides them all.
struct Group {
    items: Vec<InboxItem>,
    /// The receipts their completion claims name (`None`: no receipt, or not a completion).
    receipts: std::collections::BTreeSet<Option<String>>,
}

impl Group {
    fn of(item: InboxItem, receipt: Option<Option<String>>) -> Self {
        Self {
            items: vec![item],
            receipts: receipt.into_iter().collect(),
        }
    }
}

/// Stored callbacks claimed per round, in batches (`TrackerConfig::batch`): claims about one
/// payment in a round are processed together.
const CLAIMS_PER_ROUND: i64 = 16;

/// A stored callback as it was received.
fn stored_request(item: &InboxItem) -> CallbackRequest {
    let mut request = CallbackRequest::new(item.body.clone());
    request.headers = item.headers.clone();
    request.path_and_query = item.target.clone();
    request
}

/// How long a callback whose processing failed for now waits before it is tried again.
const RETRY_CALLBACK_AFTER: std::time::Duration = std::time::Duration::from_secs(30);
