//! The payment simulation shared by the fake provider and the HTTP emulators: payments
//! scripted by phone number that progress with (virtual or real) time.

use std::collections::HashMap;
use std::time::Duration;

use stk_core::{Amount, Completed, Failure, PaymentId, PaymentStatus, PhoneNumber, StkPushRequest};
use tokio::time::Instant;

use crate::Scenario;

/// How one phone number behaves: its scenario and how long until the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Script {
    /// What happens.
    pub scenario: Scenario,
    /// How long from acceptance to the final result. The payment is `pending` for the first
    /// half and `processing` for the second.
    pub delay: Duration,
}

impl Script {
    /// A script.
    pub fn new(scenario: Scenario, delay: Duration) -> Self {
        Self { scenario, delay }
    }
}

/// Why the simulation refused a push at initiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The provider rejects the push (e.g. not an M-Pesa line).
    Rejected,
    /// The provider is down; nothing is accepted.
    Unavailable,
}

/// One simulated payment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimulatedPayment {
    /// Its id.
    pub id: PaymentId,
    /// Who was prompted.
    pub phone: PhoneNumber,
    /// How much.
    pub amount: Amount,
    /// The merchant reference.
    pub reference: String,
    /// What will happen.
    pub script: Script,
    /// When it was accepted.
    pub created: Instant,
    /// The receipt it will get if it completes.
    pub receipt: String,
}

impl SimulatedPayment {
    /// Where the payment stands at `now`.
    pub fn status_at(&self, now: Instant) -> PaymentStatus {
        let elapsed = now.saturating_duration_since(self.created);
        if elapsed < self.script.delay / 2 {
            return PaymentStatus::Pending;
        }
        if elapsed < self.script.delay {
            return PaymentStatus::Processing;
        }
        match self.script.scenario.result() {
            None => PaymentStatus::Pending,
            Some((code, _)) if code.is_success() => PaymentStatus::Completed(
                Completed::with_receipt(self.receipt.clone()).amount(Some(self.amount)),
            ),
            Some((code, text)) => {
                PaymentStatus::Failed(Failure::from_code(code, Some(text.to_owned())))
            }
        }
    }

    /// When the payment reaches its final status, if it ever does.
    pub fn final_at(&self) -> Option<Instant> {
        self.script
            .scenario
            .result()
            .map(|_| self.created + self.script.delay)
    }
}

/// The simulation: scripted numbers, the payments created, and a seeded generator for ids
/// and receipts, so runs with the same seed produce the same ids.
#[derive(Debug)]
pub struct Simulation {
    rng: fastrand::Rng,
    id_prefix: &'static str,
    default_delay: Duration,
    scripts: HashMap<PhoneNumber, Script>,
    payments: HashMap<PaymentId, SimulatedPayment>,
}

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

impl Simulation {
    /// A simulation whose payments take `default_delay` unless a number is scripted
    /// otherwise, and whose ids start with `id_prefix`.
    pub fn new(seed: u64, id_prefix: &'static str, default_delay: Duration) -> Self {
        Self {
            rng: fastrand::Rng::with_seed(seed),
            id_prefix,
            default_delay,
            scripts: HashMap::new(),
            payments: HashMap::new(),
        }
    }

    /// Scripts one number, overriding the built-in test-number table.
    pub fn script(&mut self, phone: PhoneNumber, script: Script) {
        self.scripts.insert(phone, script);
    }

    /// The script that applies to `phone`.
    pub fn script_for(&self, phone: &PhoneNumber) -> Script {
        self.scripts
            .get(phone)
            .copied()
            .unwrap_or_else(|| Script::new(Scenario::for_phone(phone), self.default_delay))
    }

    fn random_code(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from(ALPHANUMERIC[self.rng.usize(..ALPHANUMERIC.len())]))
            .collect()
    }

    /// Starts a payment for `request` at `now`, or refuses it as the script says.
    pub fn start(
        &mut self,
        request: &StkPushRequest,
        now: Instant,
    ) -> Result<SimulatedPayment, Refusal> {
        let script = self.script_for(request.phone());
        match script.scenario {
            Scenario::RejectAtInitiate => return Err(Refusal::Rejected),
            Scenario::UnavailableAtInitiate => return Err(Refusal::Unavailable),
            _ => {}
        }
        let code = self.random_code(10);
        let id = PaymentId::new(format!("{}{code}", self.id_prefix));
        // M-Pesa receipts: ten characters, a letter first (the year's letter, `U` for 2026).
        let receipt = format!("U{}", self.random_code(9));
        let payment = SimulatedPayment {
            id: id.clone(),
            phone: *request.phone(),
            amount: request.amount(),
            reference: request.reference().to_string(),
            script,
            created: now,
            receipt,
        };
        self.payments.insert(id, payment.clone());
        Ok(payment)
    }

    /// A payment by id.
    pub fn get(&self, id: &PaymentId) -> Option<&SimulatedPayment> {
        self.payments.get(id)
    }

    /// How many payments were created.
    pub fn len(&self) -> usize {
        self.payments.len()
    }

    /// Whether no payment was created.
    pub fn is_empty(&self) -> bool {
        self.payments.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(phone: &str) -> StkPushRequest {
        StkPushRequest::builder()
            .phone(phone)
            .amount(100)
            .reference("R-1")
            .build()
            .unwrap()
    }

    #[test]
    fn progresses_pending_processing_final() {
        let mut sim = Simulation::new(7, "T", Duration::from_secs(10));
        let t0 = Instant::now();
        let p = sim.start(&request("0700000001"), t0).unwrap();
        assert_eq!(p.status_at(t0), PaymentStatus::Pending);
        assert_eq!(
            p.status_at(t0 + Duration::from_secs(5)),
            PaymentStatus::Processing
        );
        let PaymentStatus::Failed(f) = p.status_at(t0 + Duration::from_secs(10)) else {
            panic!("should fail")
        };
        assert_eq!(f.reason, stk_core::FailureReason::Cancelled);
        assert_eq!(p.final_at(), Some(t0 + Duration::from_secs(10)));
    }

    #[test]
    fn same_seed_same_ids_and_receipts() {
        let t0 = Instant::now();
        let run = || {
            let mut sim = Simulation::new(42, "T", Duration::ZERO);
            (0..3)
                .map(|_| {
                    let p = sim.start(&request("0712345678"), t0).unwrap();
                    (p.id, p.receipt)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
        let receipt = &run()[0].1;
        assert_eq!(receipt.len(), 10);
        assert!(
            receipt
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        );
    }

    #[test]
    fn refusals_and_overrides() {
        let t0 = Instant::now();
        let mut sim = Simulation::new(1, "T", Duration::ZERO);
        assert_eq!(
            sim.start(&request("0700000008"), t0),
            Err(Refusal::Rejected)
        );
        assert_eq!(
            sim.start(&request("0700000009"), t0),
            Err(Refusal::Unavailable)
        );
        assert!(sim.is_empty());
        let phone = PhoneNumber::parse("0712345678").unwrap();
        sim.script(
            phone,
            Script::new(Scenario::InsufficientFunds, Duration::ZERO),
        );
        let p = sim.start(&request("0712345678"), t0).unwrap();
        assert!(matches!(p.status_at(t0), PaymentStatus::Failed(_)));
        assert_eq!(sim.len(), 1);
    }
}
