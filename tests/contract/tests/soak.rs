//! Fault soak (issue 12): every adapter at once, over real HTTP against its emulator on
//! 127.0.0.1, through random interleavings of the emulators' faults on `initiate` and `status`.
//!
//! Each logical payment is ONE push with a unique reference, never sent again by the test;
//! half of them go through a provider with the opt-in retry policy, which may send it again
//! only after an answer that certainly means "not processed". An `outcome_unknown` push is
//! resolved only by status queries, once an id is known (the emulator's ledger stands in for
//! the callback that would carry it). Asserted:
//!
//! - nothing panics; every call returns a `Result` whose error kind is one the README's fault
//!   table allows for that call, and every message formats;
//! - a push answered `unavailable`, `rate_limited`, `rejected`, `unauthorized` or
//!   `invalid_request` created no charge; a push answered `ok` created exactly one, the one
//!   the answer names, for the amount asked;
//! - at most one charge per logical payment, and no charge the test did not ask for;
//! - a push is sent once (with retries on: again only after a 429 or 503), counted from the
//!   emulators' ledgers;
//! - every payment with a known id resolves by status queries to the outcome its phone
//!   number scripts.
//!
//! The seed is printed; `STK_SOAK_SEED=<seed>` replays the same choices (the interleaving of
//! concurrent requests still varies). Bounded: about 2,800 calls (4,300 HTTP requests), about
//! ten seconds in a debug build on 2 cores.
#![cfg(feature = "emulator")]
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stk_contract::faults::Emulator;
use stk_contract::receiver::Received;
use stk_core::{
    CallbackUrl, Error, PaymentId, PaymentStatus, PhoneNumber, PollPolicy, StkProvider,
    StkPushRequest, wait_for_final,
};
use stk_daraja::{Daraja, DarajaConfig};
use stk_emulator::{
    DarajaEmulator, DarajaEmulatorConfig, Endpoint, Fault, KulmiPayEmulator,
    KulmiPayEmulatorConfig, LipiaEmulator, LipiaEmulatorConfig, UpesiPayAbuseRules,
    UpesiPayEmulator, UpesiPayEmulatorConfig,
};
use stk_http::RetryPolicy;
use stk_kulmipay::{ApiGeneration, KulmiPay, KulmiPayConfig};
use stk_lipia::{Lipia, LipiaConfig};
use stk_mock::{Scenario, TEST_NUMBERS};
use stk_upesipay::{UpesiPay, UpesiPayConfig};

/// Concurrent workers per adapter.
const WORKERS: usize = 4;
/// Logical payments per worker.
const PAYMENTS: usize = 60;
/// The adapters' request timeout: short, so slow answers cost little.
const TIMEOUT: Duration = Duration::from_millis(250);
/// How long [`Fault::Slow`] holds an answer: past [`TIMEOUT`].
const SLOW: Duration = Duration::from_millis(500);
/// Time from acceptance to result in the emulators.
const PAYMENT_DELAY: Duration = Duration::from_millis(40);

/// Answers to a push that say it was certainly not processed (README, "Which answers to a
/// push mean not accepted").
const NOT_ACCEPTED: &[&str] = &[
    "unavailable",
    "rate_limited",
    "rejected",
    "unauthorized",
    "invalid_request",
];
/// What a push may answer under the soak's faults and test numbers.
const INITIATE_KINDS: &[&str] = &[
    "ok",
    "unavailable",
    "rate_limited",
    "rejected",
    "outcome_unknown",
];
/// What a status query may answer under the soak's faults.
const STATUS_KINDS: &[&str] = &[
    "ok",
    "unavailable",
    "rate_limited",
    "outcome_unknown",
    "unexpected_response",
];
/// What `wait_for_final` may answer: final, or stopped by a status answer it cannot read.
const WAIT_KINDS: &[&str] = &["ok", "unexpected_response"];

/// The faults drawn from, on both endpoints.
fn faults() -> Vec<Fault> {
    vec![
        Fault::RateLimited {
            retry_after: Some(Duration::from_secs(1)),
        },
        Fault::RateLimited { retry_after: None },
        Fault::Status(500),
        Fault::Status(502),
        Fault::Status(503),
        Fault::Status(504),
        Fault::HtmlError(502),
        Fault::HtmlError(503),
        Fault::HtmlError(504),
        Fault::MalformedJson,
        Fault::TruncatedJson,
        Fault::MissingFields,
        Fault::ExtraFields,
        Fault::Slow(SLOW),
        Fault::CloseBeforeBody,
        Fault::CloseAfterBody,
    ]
}

/// Whether an answer under `fault` (to a push to a number scripted `scenario`) certainly
/// said "not processed", so that the retry policy may send the push again.
fn retry_allowed_after(fault: Option<&Fault>, scenario: Scenario) -> bool {
    match fault {
        Some(Fault::RateLimited { .. } | Fault::Status(503) | Fault::HtmlError(503)) => true,
        // The number's own answer is a 503 unless a fault replaced it with another status.
        None
        | Some(
            Fault::MalformedJson | Fault::TruncatedJson | Fault::MissingFields | Fault::ExtraFields,
        ) => scenario == Scenario::UnavailableAtInitiate,
        Some(_) => false,
    }
}

fn retry_policy() -> RetryPolicy {
    let mut policy = RetryPolicy::attempts(3);
    policy.base_delay = Duration::from_millis(5);
    policy.max_delay = Duration::from_millis(20);
    policy.deadline = Duration::from_millis(1500);
    policy
}

fn poll_policy() -> PollPolicy {
    PollPolicy::default()
        .intervals(Duration::from_millis(10), Duration::from_millis(40))
        .deadline(Duration::from_secs(5))
}

/// One adapter under soak: a provider without retries, one with, and its emulator.
struct Lane {
    name: &'static str,
    tag: &'static str,
    plain: Arc<dyn StkProvider>,
    retrying: Arc<dyn StkProvider>,
    emulator: Arc<dyn Emulator + Send>,
}

/// What the test asked for and got, per logical payment.
#[derive(Debug, Clone)]
struct Payment {
    reference: String,
    scenario: Scenario,
    amount: u64,
    retrying: bool,
    initiate: &'static str,
    resolved: Option<&'static str>,
}

/// Counts shared by the workers.
#[derive(Default)]
struct Tally {
    /// `operation kind` → how many calls answered so.
    answers: Mutex<BTreeMap<String, usize>>,
}

impl Tally {
    fn count(&self, operation: &str, kind: &str) {
        *self
            .answers
            .lock()
            .unwrap()
            .entry(format!("{operation:<8} {kind}"))
            .or_default() += 1;
    }

    fn calls(&self, operation: &str) -> usize {
        self.answers
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.starts_with(operation))
            .map(|(_, n)| n)
            .sum()
    }
}

fn kind<T>(result: &Result<T, Error>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(e) => {
            // Every error formats, both ways.
            assert!(!e.to_string().is_empty() && !format!("{e:?}").is_empty());
            e.kind().as_str()
        }
    }
}

/// A status seen for a payment agrees with what its number scripts and what was asked.
fn check_status(lane: &str, payment: &Payment, status: &PaymentStatus) {
    let reference = &payment.reference;
    match status {
        PaymentStatus::Completed(done) => {
            assert_eq!(
                payment.scenario,
                Scenario::Complete,
                "{lane} {reference}: completed, but its number fails"
            );
            if let Some(amount) = done.amount {
                assert_eq!(
                    amount.shillings(),
                    payment.amount,
                    "{lane} {reference}: completed for another amount"
                );
            }
        }
        PaymentStatus::Failed(_) => assert!(
            !matches!(
                payment.scenario,
                Scenario::Complete | Scenario::NeverAnswers
            ),
            "{lane} {reference}: failed, but its number does not fail"
        ),
        _ => {}
    }
}

fn pick_phone(rng: &mut fastrand::Rng) -> String {
    if rng.u8(0..10) < 6 {
        // Not a test number: completes.
        format!("0712{:06}", rng.u32(0..1_000_000))
    } else {
        TEST_NUMBERS[rng.usize(..TEST_NUMBERS.len())].0.to_owned()
    }
}

async fn worker(lane: Arc<Lane>, worker: usize, seed: u64, tally: Arc<Tally>) -> Vec<Payment> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let faults = faults();
    let (queue, ledger) = (lane.emulator.faults(), lane.emulator.ledger());
    let name = lane.name;
    let mut done = Vec::with_capacity(PAYMENTS);
    for n in 0..PAYMENTS {
        let reference = format!("SK-{}{worker}-{n:04}", lane.tag);
        let phone = pick_phone(&mut rng);
        let scenario = Scenario::for_phone(&PhoneNumber::parse(phone.as_str()).unwrap());
        let amount = rng.u64(10..=5_000);
        let retrying = rng.bool();
        let provider = if retrying {
            lane.retrying.as_ref()
        } else {
            lane.plain.as_ref()
        };
        let request = StkPushRequest::builder()
            .phone(phone.as_str())
            .amount(amount)
            .reference(reference.as_str())
            .build()
            .unwrap();

        // The one push.
        if rng.u8(0..10) < 6 {
            queue.push_for(
                Endpoint::Initiate,
                faults[rng.usize(..faults.len())].clone(),
            );
        }
        let result = provider.initiate(&request).await;
        let initiate = kind(&result);
        tally.count("initiate", initiate);
        assert!(
            INITIATE_KINDS.contains(&initiate),
            "{name} {reference}: a push answered {initiate}: {result:?}"
        );
        let mut payment = Payment {
            reference: reference.clone(),
            scenario,
            amount,
            retrying,
            initiate,
            resolved: None,
        };
        let id = match &result {
            Ok(accepted) => {
                let charges = ledger.charges_for_reference(&reference);
                assert_eq!(charges.len(), 1, "{name} {reference}: accepted, one charge");
                assert_eq!(
                    charges[0].id,
                    accepted.payment_id.as_str(),
                    "{name} {reference}: the answer names the charge"
                );
                assert_eq!(charges[0].amount, amount, "{name} {reference}: amount");
                Some(accepted.payment_id.clone())
            }
            Err(e) if NOT_ACCEPTED.contains(&initiate) => {
                assert!(
                    ledger.charges_for_reference(&reference).is_empty(),
                    "{name} {reference}: answered {initiate} ({e}) but charged"
                );
                None
            }
            Err(e) => {
                assert!(!e.is_retryable(), "{name} {reference}: {e} is retryable");
                // The callback would name the payment; the ledger stands in for it.
                ledger
                    .charges_for_reference(&reference)
                    .first()
                    .map(|c| PaymentId::new(&c.id))
            }
        };

        if let Some(id) = id {
            // A few status queries under faults.
            for _ in 0..rng.usize(1..=3) {
                if rng.bool() {
                    queue.push_for(Endpoint::Status, faults[rng.usize(..faults.len())].clone());
                }
                let result = provider.status(&id).await;
                let status = kind(&result);
                tally.count("status", status);
                assert!(
                    STATUS_KINDS.contains(&status),
                    "{name} {reference}: a status query answered {status}: {result:?}"
                );
                if let Ok(s) = &result {
                    check_status(name, &payment, s);
                }
            }
            // Then resolved by status queries alone (other workers' faults may still hit).
            if scenario != Scenario::NeverAnswers {
                for _ in 0..6 {
                    let result = wait_for_final(provider, &id, &poll_policy()).await;
                    let waited = kind(&result);
                    tally.count("wait", waited);
                    assert!(
                        WAIT_KINDS.contains(&waited),
                        "{name} {reference}: wait_for_final answered {waited}: {result:?}"
                    );
                    if let Ok(s) = &result {
                        check_status(name, &payment, s);
                        payment.resolved = Some(s.as_str());
                        break;
                    }
                }
                assert!(
                    payment.resolved.is_some(),
                    "{name} {reference}: not resolved by status queries"
                );
            }
        }
        done.push(payment);
    }
    done
}

/// What one lane's ledger shows, checked against its payments.
struct LaneReport {
    requests: usize,
    faults: BTreeMap<&'static str, usize>,
    max_charges: usize,
    charges: usize,
    resent: usize,
    pending_faults: usize,
}

fn check_ledger(lane: &Lane, payments: &[Payment]) -> LaneReport {
    let name = lane.name;
    let ledger = lane.emulator.ledger();
    let by_reference: HashMap<&str, &Payment> =
        payments.iter().map(|p| (p.reference.as_str(), p)).collect();

    // Charges: at most one per logical payment, none the test did not ask for.
    let mut charges: HashMap<String, usize> = HashMap::new();
    for charge in ledger.charges() {
        let reference = charge.reference.clone().unwrap_or_default();
        assert!(
            by_reference.contains_key(reference.as_str()),
            "{name}: a charge nobody asked for: {charge:?}"
        );
        *charges.entry(reference).or_default() += 1;
    }
    let max_charges = charges.values().copied().max().unwrap_or(0);
    assert!(
        max_charges <= 1,
        "{name}: duplicate charges: {:?}",
        charges.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );
    for p in payments {
        let n = charges.get(&p.reference).copied().unwrap_or(0);
        if NOT_ACCEPTED.contains(&p.initiate) {
            assert_eq!(
                n, 0,
                "{name} {}: answered {}, charged",
                p.reference, p.initiate
            );
        }
        if p.initiate == "ok" {
            assert_eq!(n, 1, "{name} {}: accepted, not charged once", p.reference);
        }
    }

    // Pushes on the wire: once, or (with retries) again only after "not processed".
    let requests = ledger.requests();
    let pushes: Vec<_> = requests
        .iter()
        .filter(|r| r.endpoint == Endpoint::Initiate)
        .collect();
    let mut sent: HashMap<&str, Vec<Option<&Fault>>> = HashMap::new();
    let mut unseen = 0;
    for push in &pushes {
        if push.body.is_empty() {
            // Closed before its body was read: it carries no reference.
            unseen += 1;
            continue;
        }
        let body = String::from_utf8_lossy(&push.body);
        let p = payments
            .iter()
            .find(|p| body.contains(&p.reference))
            .unwrap_or_else(|| panic!("{name}: a push nobody made: {body}"));
        sent.entry(p.reference.as_str())
            .or_default()
            .push(push.fault.as_ref());
    }
    let mut resent = 0;
    for (reference, attempts) in &sent {
        let p = by_reference[reference];
        if attempts.len() > 1 {
            assert!(
                p.retrying,
                "{name} {reference}: re-sent without retries: {attempts:?}"
            );
            for fault in &attempts[..attempts.len() - 1] {
                assert!(
                    retry_allowed_after(*fault, p.scenario),
                    "{name} {reference}: re-sent after {fault:?} ({:?})",
                    p.scenario
                );
            }
            resent += attempts.len() - 1;
        }
    }
    // A push whose body was never read ends as `outcome_unknown` and is never sent again, so
    // it can only be the last attempt of a push answered `outcome_unknown`: the only one, or
    // one after answers that allowed a retry. More unseen pushes than that would be a re-send
    // hidden behind a connection closed before the body.
    let could_end_unseen = payments
        .iter()
        .filter(|p| p.initiate == "outcome_unknown")
        .filter(|p| match sent.get(p.reference.as_str()) {
            None => true,
            Some(attempts) => {
                p.retrying
                    && attempts
                        .iter()
                        .all(|fault| retry_allowed_after(*fault, p.scenario))
            }
        })
        .count();
    assert!(
        unseen <= could_end_unseen,
        "{name}: {unseen} pushes closed before their body, but only {could_end_unseen} \
         pushes can have ended so"
    );

    let mut faults: BTreeMap<&'static str, usize> = BTreeMap::new();
    for r in &requests {
        if let Some(f) = &r.fault {
            *faults.entry(f.name()).or_default() += 1;
        }
    }
    let pending_faults = lane.emulator.faults().pending();
    LaneReport {
        requests: requests
            .iter()
            .filter(|r| matches!(r.endpoint, Endpoint::Initiate | Endpoint::Status))
            .count(),
        faults,
        max_charges,
        charges: charges.values().sum(),
        resent,
        pending_faults,
    }
}

fn seed() -> u64 {
    match std::env::var("STK_SOAK_SEED") {
        Ok(s) if !s.trim().is_empty() => s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("STK_SOAK_SEED={s:?} is not a u64")),
        _ => fastrand::u64(..),
    }
}

async fn lanes(seed: u64) -> (Vec<Arc<Lane>>, Vec<Received>) {
    let retry = retry_policy();

    let kulmipay = KulmiPayEmulator::start(
        KulmiPayEmulatorConfig::default()
            .delay(PAYMENT_DELAY)
            .seed(seed),
    )
    .await
    .unwrap();
    let kulmipay_config = |api| {
        KulmiPayConfig::builder()
            .api(api)
            .secret_key(kulmipay.secret_key())
            .api_token(kulmipay.api_token())
            .base_url(kulmipay.base_url())
            .timeout(TIMEOUT)
    };
    let kulmipay_lane = Lane {
        name: "kulmipay",
        tag: "K",
        plain: Arc::new(
            KulmiPay::new(kulmipay_config(ApiGeneration::Express).build().unwrap()).unwrap(),
        ),
        retrying: Arc::new(
            KulmiPay::new(
                kulmipay_config(ApiGeneration::Collection)
                    .retry(retry)
                    .build()
                    .unwrap(),
            )
            .unwrap(),
        ),
        emulator: Arc::new(kulmipay),
    };

    let (upesipay_callbacks, url) =
        Received::start(stk_core::CallbackAck::OK, "/callbacks/upesipay").await;
    let upesipay = UpesiPayEmulator::start(
        UpesiPayEmulatorConfig::default()
            .delay(PAYMENT_DELAY)
            .seed(seed)
            // The soak fails payments on purpose; the documented abuse rules would block
            // the test numbers after ten failures and turn every later push into a refusal.
            .abuse_rules(UpesiPayAbuseRules::disabled()),
    )
    .await
    .unwrap();
    let upesipay_config = || {
        UpesiPayConfig::builder()
            .api_token(upesipay.token())
            .channel_id(upesipay.channel_id())
            .base_url(upesipay.base_url())
            .callback_url(CallbackUrl::parse(&url).unwrap())
            .callback_token("soak-callback-token")
            .timeout(TIMEOUT)
    };
    let upesipay_lane = Lane {
        name: "upesipay",
        tag: "U",
        plain: Arc::new(UpesiPay::new(upesipay_config().build().unwrap()).unwrap()),
        retrying: Arc::new(UpesiPay::new(upesipay_config().retry(retry).build().unwrap()).unwrap()),
        emulator: Arc::new(upesipay),
    };

    let (lipia_callbacks, url) = Received::start(
        stk_core::CallbackAck::new(
            stk_lipia::CALLBACK_ACK.status,
            stk_lipia::CALLBACK_ACK.content_type,
            stk_lipia::CALLBACK_ACK.body,
        ),
        "/callbacks/lipia",
    )
    .await;
    let lipia = LipiaEmulator::start(
        LipiaEmulatorConfig::default()
            .delay(PAYMENT_DELAY)
            .seed(seed),
    )
    .await
    .unwrap();
    let lipia_config = || {
        LipiaConfig::builder()
            .api_key(lipia.api_key())
            .base_url(lipia.base_url())
            .callback_url(CallbackUrl::parse(&url).unwrap())
            .callback_token("soak-callback-token")
            .timeout(TIMEOUT)
    };
    let lipia_lane = Lane {
        name: "lipia",
        tag: "L",
        plain: Arc::new(Lipia::new(lipia_config().build().unwrap()).unwrap()),
        retrying: Arc::new(Lipia::new(lipia_config().retry(retry).build().unwrap()).unwrap()),
        emulator: Arc::new(lipia),
    };

    let (daraja_callbacks, url) =
        Received::start(stk_daraja::CALLBACK_ACK, "/callbacks/daraja").await;
    let daraja = DarajaEmulator::start(
        DarajaEmulatorConfig::default()
            .delay(PAYMENT_DELAY)
            .seed(seed),
    )
    .await
    .unwrap();
    let daraja_config = || {
        DarajaConfig::builder()
            .consumer_key(daraja.consumer_key())
            .consumer_secret(daraja.consumer_secret())
            .base_url(daraja.base_url())
            .callback_url(CallbackUrl::parse(&url).unwrap())
            .callback_token("soak-callback-token")
            .timeout(TIMEOUT)
    };
    let daraja_lane = Lane {
        name: "daraja",
        tag: "D",
        plain: Arc::new(Daraja::new(daraja_config().build().unwrap()).unwrap()),
        retrying: Arc::new(Daraja::new(daraja_config().retry(retry).build().unwrap()).unwrap()),
        emulator: Arc::new(daraja),
    };

    (
        vec![
            Arc::new(kulmipay_lane),
            Arc::new(upesipay_lane),
            Arc::new(lipia_lane),
            Arc::new(daraja_lane),
        ],
        vec![upesipay_callbacks, lipia_callbacks, daraja_callbacks],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_adapter_under_random_faults_charges_at_most_once() {
    let seed = seed();
    println!("soak seed {seed} (replay: STK_SOAK_SEED={seed})");
    let (lanes, _receivers) = lanes(seed).await;
    let tally = Arc::new(Tally::default());
    let started = Instant::now();

    let mut tasks = Vec::new();
    for (l, lane) in lanes.iter().enumerate() {
        for w in 0..WORKERS {
            let worker_seed = seed
                .wrapping_add(1 + l as u64 * 1_000)
                .wrapping_add(w as u64);
            tasks.push((
                l,
                tokio::spawn(worker(lane.clone(), w, worker_seed, tally.clone())),
            ));
        }
    }
    let mut payments: Vec<Vec<Payment>> = vec![Vec::new(); lanes.len()];
    for (l, task) in tasks {
        // A panic in a worker fails the test here, with its message.
        match task.await {
            Ok(done) => payments[l].extend(done),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    let elapsed = started.elapsed();

    let mut requests = 0;
    let mut injected: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut max_charges = 0;
    for (lane, payments) in lanes.iter().zip(&payments) {
        let report = check_ledger(lane, payments);
        let resolved = payments.iter().filter(|p| p.resolved.is_some()).count();
        let retrying = payments.iter().filter(|p| p.retrying).count();
        println!(
            "{:<9} payments {} ({retrying} with retries), charges {}, max per payment {}, \
             resolved by status {resolved}, pushes re-sent after 429/503 {}, requests {}, \
             faults {}, faults left queued {}",
            lane.name,
            payments.len(),
            report.charges,
            report.max_charges,
            report.resent,
            report.requests,
            report.faults.values().sum::<usize>(),
            report.pending_faults,
        );
        requests += report.requests;
        max_charges = max_charges.max(report.max_charges);
        for (fault, n) in report.faults {
            *injected.entry(fault).or_default() += n;
        }
        lane.emulator.faults().clear();
    }
    let calls = tally.calls("initiate") + tally.calls("status") + tally.calls("wait");
    println!(
        "calls {calls} (initiate {}, status {}, wait_for_final {}), HTTP requests {requests}, \
         faults injected {}, max charges per payment {max_charges}, duration {elapsed:.2?}",
        tally.calls("initiate"),
        tally.calls("status"),
        tally.calls("wait"),
        injected.values().sum::<usize>(),
    );
    println!("faults: {injected:?}");
    for (answer, n) in tally.answers.lock().unwrap().iter() {
        println!("  {answer:<30} {n}");
    }
    assert!(max_charges <= 1);
}
