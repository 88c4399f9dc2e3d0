//! Where a payment stands: the unified status every provider maps into.

use std::fmt;

use crate::{Amount, PaymentId};

/// An M-Pesa result code, kept as text: most are numbers (`1032`), some are not
/// (`SFC_IC0003`), and providers send them as strings or integers.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ResultCode(String);

impl ResultCode {
    /// Wraps a provider's code, trimming whitespace.
    pub fn new(code: impl Into<String>) -> Self {
        let code: String = code.into();
        Self(code.trim().to_owned())
    }

    /// The code as the provider sent it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is M-Pesa's success code `0`.
    pub fn is_success(&self) -> bool {
        self.0 == "0"
    }

    /// The failure reason this code stands for (`0` maps to [`FailureReason::Other`]; check
    /// [`ResultCode::is_success`] first).
    pub fn reason(&self) -> FailureReason {
        match self.0.as_str() {
            "1" => FailureReason::InsufficientFunds,
            "1032" => FailureReason::Cancelled,
            "1019" | "1037" => FailureReason::Timeout,
            "2001" => FailureReason::WrongPin,
            "1001" => FailureReason::SubscriberBusy,
            "17" | "26" | "1025" | "9999" => FailureReason::ProviderError,
            _ => FailureReason::Other,
        }
    }

    /// The status an M-Pesa result code means: `0` is completed, anything else failed with
    /// the mapped reason and the provider's text kept.
    pub fn to_status(&self, message: Option<String>) -> PaymentStatus {
        if self.is_success() {
            PaymentStatus::Completed(Completed::default())
        } else {
            PaymentStatus::Failed(Failure {
                reason: self.reason(),
                code: Some(self.clone()),
                message,
            })
        }
    }
}

impl fmt::Display for ResultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ResultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResultCode({})", self.0)
    }
}

impl From<&str> for ResultCode {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<i64> for ResultCode {
    fn from(n: i64) -> Self {
        Self(n.to_string())
    }
}

/// Why a payment failed, unified across providers (derived from M-Pesa result codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureReason {
    /// The customer dismissed the prompt (1032).
    Cancelled,
    /// The customer did not answer in time, or the phone was unreachable (1037, 1019).
    Timeout,
    /// Not enough money in M-Pesa or Fuliza (1).
    InsufficientFunds,
    /// Wrong M-Pesa PIN, or invalid initiator information (2001).
    WrongPin,
    /// Another transaction was in progress for this subscriber (1001).
    SubscriberBusy,
    /// M-Pesa or the provider failed to process the push (17, 26, 1025, 9999).
    ProviderError,
    /// Any other code; see [`Failure::code`] and [`Failure::message`].
    Other,
}

impl FailureReason {
    /// A stable snake_case name (`cancelled`, `insufficient_funds`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cancelled => "cancelled",
            Self::Timeout => "timeout",
            Self::InsufficientFunds => "insufficient_funds",
            Self::WrongPin => "wrong_pin",
            Self::SubscriberBusy => "subscriber_busy",
            Self::ProviderError => "provider_error",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Cancelled => "cancelled by the customer",
            Self::Timeout => "the customer did not respond in time",
            Self::InsufficientFunds => "insufficient funds",
            Self::WrongPin => "wrong PIN",
            Self::SubscriberBusy => "the subscriber had another transaction in progress",
            Self::ProviderError => "M-Pesa or the provider could not process the request",
            Self::Other => "failed",
        })
    }
}

/// What a completed payment reports. Fields the provider did not send are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Completed {
    /// The M-Pesa receipt (transaction code), e.g. `SKQ96C7K7H`.
    pub receipt: Option<String>,
    /// The amount paid, in whole shillings.
    pub amount: Option<Amount>,
    /// When it completed, as the provider reported it (formats differ between providers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// The provider's fee, as its decimal text (e.g. KulmiPay's `charges`, `"33.00"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charges: Option<String>,
    /// What reaches the merchant after fees, as decimal text (KulmiPay's `net_amount`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub net_amount: Option<String>,
}

impl Completed {
    /// A completed payment with a receipt.
    pub fn with_receipt(receipt: impl Into<String>) -> Self {
        Self {
            receipt: Some(receipt.into()),
            ..Self::default()
        }
    }

    /// Sets the amount.
    pub fn amount(mut self, amount: Option<Amount>) -> Self {
        self.amount = amount;
        self
    }

    /// Sets the completion time text.
    pub fn completed_at(mut self, at: Option<String>) -> Self {
        self.completed_at = at;
        self
    }

    /// Sets the fee and net amount texts.
    pub fn fees(mut self, charges: Option<String>, net_amount: Option<String>) -> Self {
        self.charges = charges;
        self.net_amount = net_amount;
        self
    }
}

/// Why and how a payment failed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Failure {
    /// The unified reason.
    pub reason: FailureReason,
    /// The provider's result code, if it sent one.
    pub code: Option<ResultCode>,
    /// The provider's own text, if it sent one.
    pub message: Option<String>,
}

impl Failure {
    /// A failure with a reason and nothing else.
    pub fn new(reason: FailureReason) -> Self {
        Self {
            reason,
            code: None,
            message: None,
        }
    }

    /// A failure from an M-Pesa result code and the provider's text.
    pub fn from_code(code: ResultCode, message: Option<String>) -> Self {
        Self {
            reason: code.reason(),
            code: Some(code),
            message,
        }
    }
}

/// Where a payment stands. Only [`Completed`](PaymentStatus::Completed) and
/// [`Failed`](PaymentStatus::Failed) are final; anything a provider says that an adapter does
/// not recognise maps to `Pending`, never to a guess.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PaymentStatus {
    /// Accepted; the customer has not acted yet (or the provider has not said).
    Pending,
    /// The customer is paying (KulmiPay's `PROCESSING`).
    Processing,
    /// Paid.
    Completed(Completed),
    /// Not paid, and it will not be: start a new push if the customer wants to retry.
    Failed(Failure),
}

impl PaymentStatus {
    /// Whether the status will not change any more.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Completed(_) | Self::Failed(_))
    }

    /// A stable snake_case name: `pending`, `processing`, `completed`, `failed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Completed(_) => "completed",
            Self::Failed(_) => "failed",
        }
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pending => f.write_str("pending: waiting for the customer"),
            Self::Processing => f.write_str("processing: the customer is paying"),
            Self::Completed(c) => {
                f.write_str("completed")?;
                if let Some(r) = &c.receipt {
                    write!(f, ", receipt {r}")?;
                }
                if let Some(a) = &c.amount {
                    write!(f, ", {a}")?;
                }
                Ok(())
            }
            Self::Failed(fail) => {
                write!(f, "failed: {}", fail.reason)?;
                if let Some(code) = &fail.code {
                    write!(f, " (code {code}")?;
                    if let Some(m) = &fail.message {
                        write!(f, ": {m}")?;
                    }
                    f.write_str(")")?;
                }
                Ok(())
            }
        }
    }
}

/// A status answer with what it says about *whose* payment it is: the merchant reference and
/// the phone the provider's own answer names (receipt, amount and time are in
/// [`Completed`]). Fields the provider's answer does not carry are `None`.
///
/// This is the provider's own proof that a payment belongs to an order: a tracker lets an id
/// that only a callback supplied pay an order only when this report names that order.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct StatusReport {
    /// Where the payment stands (serialized flat: `status`, then its fields).
    #[serde(flatten)]
    pub status: PaymentStatus,
    /// The merchant reference (your order) the answer names, trimmed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_reference: Option<String>,
    /// The phone the answer names, as the provider wrote it (trimmed); compare it after
    /// [`PhoneNumber::parse`](crate::PhoneNumber::parse). Masked in `Debug`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

impl StatusReport {
    /// A report of `status` that names no order or phone.
    pub fn new(status: PaymentStatus) -> Self {
        Self {
            status,
            merchant_reference: None,
            phone: None,
        }
    }

    /// Sets the merchant reference the answer names (blank is `None`).
    pub fn merchant_reference(mut self, reference: Option<&str>) -> Self {
        self.merchant_reference = non_blank(reference);
        self
    }

    /// Sets the phone the answer names (blank is `None`).
    pub fn phone(mut self, phone: Option<&str>) -> Self {
        self.phone = non_blank(phone);
        self
    }

    /// The phone the answer names, canonical (`2547…`): `None` when it names none,
    /// `Some(Err(()))` when it names one that is not a Kenyan mobile number.
    pub fn parsed_phone(&self) -> Option<Result<crate::PhoneNumber, ()>> {
        self.phone
            .as_deref()
            .map(|p| crate::PhoneNumber::parse(p).map_err(|_| ()))
    }
}

fn non_blank(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

impl From<PaymentStatus> for StatusReport {
    fn from(status: PaymentStatus) -> Self {
        Self::new(status)
    }
}

impl fmt::Debug for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phone = self.parsed_phone().map(|p| match p {
            Ok(phone) => phone.masked(),
            Err(()) => "<not a Kenyan mobile number>".to_owned(),
        });
        f.debug_struct("StatusReport")
            .field("status", &self.status)
            .field("merchant_reference", &self.merchant_reference)
            .field("phone", &phone)
            .finish()
    }
}

/// What a provider's callback (webhook) claims about a payment: a claim, not a fact.
///
/// Callbacks are unsigned or weakly signed at most providers: treat a claim as a hint and
/// confirm with [`StkProvider::status`](crate::StkProvider::status) before fulfilling an order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct CallbackClaim {
    /// Which provider sent it.
    pub provider: &'static str,
    /// The provider's payment handle (as [`PushAccepted::payment_id`](crate::PushAccepted)
    /// gave it), when the callback carries it.
    pub payment_id: Option<PaymentId>,
    /// The id [`StkProvider::status`](crate::StkProvider::status) accepts for this payment,
    /// when the callback carries one: confirm the event with it. By default the
    /// `payment_id`; another id where the provider's lookup accepts it (UpesiPay's
    /// `CheckoutRequestID`). `None` when the callback carries no such id: match it to your
    /// stored push by `checkout_request_id` or `merchant_reference` and query with the
    /// stored payment id.
    pub status_id: Option<PaymentId>,
    /// M-Pesa's `CheckoutRequestID`, when the callback carries it.
    pub checkout_request_id: Option<String>,
    /// Your reference, echoed back, when the callback carries it.
    pub merchant_reference: Option<String>,
    /// The status the callback reports (serialized flat: `status`, then its fields).
    #[serde(flatten)]
    pub status: PaymentStatus,
}

impl CallbackClaim {
    /// An event for a payment id.
    pub fn new(
        provider: &'static str,
        payment_id: Option<PaymentId>,
        status: PaymentStatus,
    ) -> Self {
        Self {
            provider,
            status_id: payment_id.clone(),
            payment_id,
            checkout_request_id: None,
            merchant_reference: None,
            status,
        }
    }

    /// Sets the id [`StkProvider::status`](crate::StkProvider::status) accepts.
    pub fn status_id(mut self, id: Option<PaymentId>) -> Self {
        self.status_id = id;
        self
    }

    /// Sets the checkout request id.
    pub fn checkout_request_id(mut self, id: Option<String>) -> Self {
        self.checkout_request_id = id;
        self
    }

    /// Sets the echoed merchant reference.
    pub fn merchant_reference(mut self, r: Option<String>) -> Self {
        self.merchant_reference = r;
        self
    }

    /// A key that is equal for re-deliveries of the same news (same payment, same status),
    /// for de-duplicating retried callbacks.
    pub fn dedup_key(&self) -> String {
        let id = self
            .payment_id
            .as_ref()
            .map(PaymentId::as_str)
            .or(self.checkout_request_id.as_deref())
            .or(self.merchant_reference.as_deref())
            .unwrap_or("");
        format!("{}:{}:{}", self.provider, id, self.status.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn result_codes_map_to_reasons() {
        use FailureReason::*;
        let table = [
            ("1", InsufficientFunds),
            ("17", ProviderError),
            ("26", ProviderError),
            ("1001", SubscriberBusy),
            ("1019", Timeout),
            ("1025", ProviderError),
            ("1032", Cancelled),
            ("1037", Timeout),
            ("2001", WrongPin),
            ("9999", ProviderError),
            ("SFC_IC0003", Other),
            ("", Other),
            ("4242", Other),
        ];
        for (code, reason) in table {
            assert_eq!(ResultCode::new(code).reason(), reason, "{code}");
            let status = ResultCode::new(code).to_status(Some("text".into()));
            assert!(status.is_final());
            let PaymentStatus::Failed(f) = status else {
                panic!("{code} should fail")
            };
            assert_eq!(f.message.as_deref(), Some("text"));
            assert_eq!(f.code.as_ref().map(ResultCode::as_str), Some(code));
        }
        assert!(matches!(
            ResultCode::new(" 0 ").to_status(None),
            PaymentStatus::Completed(_)
        ));
    }

    #[test]
    fn only_completed_and_failed_are_final() {
        assert!(!PaymentStatus::Pending.is_final());
        assert!(!PaymentStatus::Processing.is_final());
        assert!(PaymentStatus::Completed(Completed::default()).is_final());
        assert!(PaymentStatus::Failed(Failure::new(FailureReason::Other)).is_final());
    }

    #[test]
    fn status_serialises_with_a_tag() {
        let s = PaymentStatus::Failed(Failure::from_code(
            "1032".into(),
            Some("Request cancelled by user".into()),
        ));
        insta::assert_json_snapshot!(s, @r#"
        {
          "status": "failed",
          "reason": "cancelled",
          "code": "1032",
          "message": "Request cancelled by user"
        }
        "#);
        assert_eq!(
            s.to_string(),
            "failed: cancelled by the customer (code 1032: Request cancelled by user)"
        );
    }

    proptest! {
        #[test]
        fn any_code_maps_without_panicking(code in any::<String>()) {
            let rc = ResultCode::new(code.clone());
            let status = rc.to_status(None);
            prop_assert!(status.is_final());
            if code.trim() == "0" {
                prop_assert!(matches!(status, PaymentStatus::Completed(_)), "0 completes");
            } else {
                prop_assert!(matches!(status, PaymentStatus::Failed(_)), "non-zero fails");
            }
        }

        #[test]
        fn numeric_codes_outside_the_table_are_other(n in 0i64..100_000) {
            let known = [0, 1, 17, 26, 1001, 1019, 1025, 1032, 1037, 2001, 9999];
            prop_assume!(!known.contains(&n));
            prop_assert_eq!(ResultCode::from(n).reason(), FailureReason::Other);
        }
    }
}
