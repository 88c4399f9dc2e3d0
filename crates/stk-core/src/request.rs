//! The push request, its builder, and what a provider answers when it accepts one.

use std::fmt;

use crate::error::InvalidRequest;
use crate::{
    Amount, AmountLimits, CallbackUrl, Description, Metadata, PaymentStatus, PhoneNumber, Reference,
};

/// One STK push: ask `phone` to pay `amount`, tagged with your `reference`.
///
/// Every field is already validated, so a request that exists is well-formed; adapters only
/// check provider rules such as [`AmountLimits`].
///
/// ```
/// use stk_core::StkPushRequest;
///
/// let req = StkPushRequest::builder()
///     .phone("0712 345 678")
///     .amount(100)
///     .reference("ORDER-1001")
///     .callback_url("https://shop.example/mpesa/callback")
///     .metadata("order_id", "1001")
///     .build()?;
/// assert_eq!(req.phone().international(), "254712345678");
/// # Ok::<(), stk_core::InvalidRequest>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StkPushRequest {
    phone: PhoneNumber,
    amount: Amount,
    reference: Reference,
    description: Option<Description>,
    callback_url: Option<CallbackUrl>,
    metadata: Metadata,
}

impl StkPushRequest {
    /// Starts a builder.
    pub fn builder() -> StkPushRequestBuilder {
        StkPushRequestBuilder::default()
    }

    /// The phone that gets the prompt.
    pub fn phone(&self) -> &PhoneNumber {
        &self.phone
    }
    /// The amount to collect.
    pub fn amount(&self) -> Amount {
        self.amount
    }
    /// Your reference.
    pub fn reference(&self) -> &Reference {
        &self.reference
    }
    /// The optional description.
    pub fn description(&self) -> Option<&Description> {
        self.description.as_ref()
    }
    /// The optional per-request callback URL.
    pub fn callback_url(&self) -> Option<&CallbackUrl> {
        self.callback_url.as_ref()
    }
    /// Metadata to store with the payment.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Checks the amount against a provider's limits, as an [`InvalidRequest`].
    pub fn check_limits(&self, limits: &AmountLimits) -> Result<(), InvalidRequest> {
        limits.check(self.amount).map_err(InvalidRequest::Amount)
    }
}

/// Builds a [`StkPushRequest`]. Each setter takes either the validated type or something it
/// can be parsed from (`&str`, integers); the first problem is reported by [`build`](Self::build).
#[derive(Debug, Default)]
#[must_use]
pub struct StkPushRequestBuilder {
    phone: Option<PhoneNumber>,
    amount: Option<Amount>,
    reference: Option<Reference>,
    description: Option<Description>,
    callback_url: Option<CallbackUrl>,
    metadata: Metadata,
    error: Option<InvalidRequest>,
}

impl StkPushRequestBuilder {
    fn set<T, E: Into<InvalidRequest>>(&mut self, value: Result<T, E>) -> Option<T> {
        match value {
            Ok(v) => Some(v),
            Err(e) => {
                self.error.get_or_insert(e.into());
                None
            }
        }
    }

    /// The phone to prompt (required).
    pub fn phone<T>(mut self, phone: T) -> Self
    where
        T: TryInto<PhoneNumber>,
        T::Error: Into<InvalidRequest>,
    {
        self.phone = self.set(phone.try_into());
        self
    }

    /// The amount in whole shillings (required).
    pub fn amount<T>(mut self, amount: T) -> Self
    where
        T: TryInto<Amount>,
        T::Error: Into<InvalidRequest>,
    {
        self.amount = self.set(amount.try_into());
        self
    }

    /// Your reference (required).
    pub fn reference<T>(mut self, reference: T) -> Self
    where
        T: TryInto<Reference>,
        T::Error: Into<InvalidRequest>,
    {
        self.reference = self.set(reference.try_into());
        self
    }

    /// A short description.
    pub fn description<T>(mut self, description: T) -> Self
    where
        T: TryInto<Description>,
        T::Error: Into<InvalidRequest>,
    {
        self.description = self.set(description.try_into());
        self
    }

    /// Where the provider should POST the result (providers that take one per request).
    pub fn callback_url<T>(mut self, url: T) -> Self
    where
        T: TryInto<CallbackUrl>,
        T::Error: Into<InvalidRequest>,
    {
        self.callback_url = self.set(url.try_into());
        self
    }

    /// Adds one metadata entry.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let r = self.metadata.insert(key, value);
        self.set(r);
        self
    }

    /// Checks that every required field was given and valid.
    pub fn build(self) -> Result<StkPushRequest, InvalidRequest> {
        if let Some(e) = self.error {
            return Err(e);
        }
        Ok(StkPushRequest {
            phone: self.phone.ok_or(InvalidRequest::Missing("phone"))?,
            amount: self.amount.ok_or(InvalidRequest::Missing("amount"))?,
            reference: self.reference.ok_or(InvalidRequest::Missing("reference"))?,
            description: self.description,
            callback_url: self.callback_url,
            metadata: self.metadata,
        })
    }
}

/// The provider's handle for a payment, used for status queries (KulmiPay's `invoice_id`,
/// UpesiPay's `reference`, Lipia's `TransactionReference`, Daraja's `CheckoutRequestID`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct PaymentId(String);

impl PaymentId {
    /// Wraps a provider's id.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PaymentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PaymentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PaymentId({:?})", self.0)
    }
}

impl From<&str> for PaymentId {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for PaymentId {
    fn from(s: String) -> Self {
        Self(s)
    }
}

/// The provider accepted the push: the prompt is on its way. This is **not** payment; poll
/// [`status`](crate::StkProvider::status) or wait for a callback.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct PushAccepted {
    /// Which provider accepted it.
    pub provider: &'static str,
    /// The handle for status queries.
    pub payment_id: PaymentId,
    /// M-Pesa's `CheckoutRequestID`, when the provider returns it.
    pub checkout_request_id: Option<String>,
    /// The provider's message for the customer, when it sends one.
    pub customer_message: Option<String>,
    /// The status right after acceptance (usually pending).
    pub status: PaymentStatus,
}

impl PushAccepted {
    /// An acceptance with a pending status.
    pub fn new(provider: &'static str, payment_id: PaymentId) -> Self {
        Self {
            provider,
            payment_id,
            checkout_request_id: None,
            customer_message: None,
            status: PaymentStatus::Pending,
        }
    }

    /// Sets the checkout request id.
    pub fn checkout_request_id(mut self, id: Option<String>) -> Self {
        self.checkout_request_id = id;
        self
    }

    /// Sets the customer message.
    pub fn customer_message(mut self, m: Option<String>) -> Self {
        self.customer_message = m;
        self
    }

    /// Sets the initial status.
    pub fn status(mut self, s: PaymentStatus) -> Self {
        self.status = s;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AmountError, PhoneError};

    #[test]
    fn builder_reports_first_problem() {
        let e = StkPushRequest::builder()
            .phone("0812345678")
            .amount(0)
            .reference("R1")
            .build()
            .unwrap_err();
        assert_eq!(
            e,
            InvalidRequest::Phone(PhoneError::NotMobile { prefix: '8' })
        );
        let e = StkPushRequest::builder()
            .phone("0712345678")
            .amount("1.5")
            .reference("R1")
            .build()
            .unwrap_err();
        assert_eq!(e, InvalidRequest::Amount(AmountError::Fractional));
        let e = StkPushRequest::builder()
            .phone("0712345678")
            .amount(5)
            .build()
            .unwrap_err();
        assert_eq!(e, InvalidRequest::Missing("reference"));
    }

    #[test]
    fn builder_takes_validated_types() {
        let phone = PhoneNumber::parse("0712345678").unwrap();
        let req = StkPushRequest::builder()
            .phone(phone)
            .amount(Amount::new(10).unwrap())
            .reference(Reference::new("A").unwrap())
            .description("Two mandazi")
            .build()
            .unwrap();
        assert_eq!(req.amount().shillings(), 10);
        assert_eq!(
            req.description().map(Description::as_str),
            Some("Two mandazi")
        );
        assert!(
            req.check_limits(&AmountLimits::up_to_mpesa_cap("kulmipay", 10))
                .is_ok()
        );
        let small = StkPushRequest::builder()
            .phone(phone)
            .amount(9u32)
            .reference("A")
            .build()
            .unwrap();
        assert!(
            small
                .check_limits(&AmountLimits::up_to_mpesa_cap("kulmipay", 10))
                .is_err()
        );
    }
}
