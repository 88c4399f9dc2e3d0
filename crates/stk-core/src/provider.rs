//! The one trait every provider implements.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::{
    AmountLimits, CallbackAck, CallbackClaim, CallbackRequest, Error, PaymentId, PaymentStatus,
    PushAccepted, StatusReport, StkPushRequest,
};

/// A way to send STK pushes: an aggregator adapter, Daraja, the fake provider, or a wrapper
/// (retries, tracing, an abuse guard) around another provider.
///
/// Kept small on purpose; conveniences such as [`wait_for_final`](crate::wait_for_final) are
/// free functions over `&dyn StkProvider`. It is object safe, and `&P`, `Box<P>` and `Arc<P>`
/// implement it too, so providers compose and can be shared as `Arc<dyn StkProvider>`.
#[async_trait]
pub trait StkProvider: Send + Sync + fmt::Debug {
    /// A stable lowercase name (`kulmipay`, `mock`, …), used in errors and output.
    fn name(&self) -> &'static str;

    /// The amounts this provider accepts; [`initiate`](Self::initiate) refuses others with
    /// [`Error::InvalidRequest`] before sending anything.
    fn limits(&self) -> AmountLimits;

    /// Sends the push. `Ok` means the provider accepted it, not that the customer paid.
    ///
    /// On [`Error::OutcomeUnknown`] the push may have gone out: do not call this again for
    /// the same order; query the status or wait for the callback.
    async fn initiate(&self, request: &StkPushRequest) -> Result<PushAccepted, Error>;

    /// Asks the provider where a payment stands. Safe to repeat.
    async fn status(&self, id: &PaymentId) -> Result<PaymentStatus, Error>;

    /// Asks where a payment stands, with the merchant reference and phone the provider's
    /// answer names ([`StatusReport`]): what a tracker compares before a callback's claim may
    /// pay an order. The default names neither (providers whose answers carry them override
    /// it; every adapter in this workspace does).
    async fn status_report(&self, id: &PaymentId) -> Result<StatusReport, Error> {
        self.status(id).await.map(StatusReport::new)
    }

    /// Verifies and parses a callback the provider POSTed to you.
    fn parse_callback(&self, callback: &CallbackRequest) -> Result<CallbackClaim, Error>;

    /// How your webhook server should answer this provider's callbacks once accepted
    /// (default: HTTP 200 `ok`). Answer quickly: providers retry unanswered callbacks.
    fn callback_ack(&self) -> CallbackAck {
        CallbackAck::OK
    }
}

macro_rules! forward {
    ($($ty:ty),*) => {$(
        #[async_trait]
        impl<P: StkProvider + ?Sized> StkProvider for $ty {
            fn name(&self) -> &'static str {
                (**self).name()
            }
            fn limits(&self) -> AmountLimits {
                (**self).limits()
            }
            async fn initiate(&self, request: &StkPushRequest) -> Result<PushAccepted, Error> {
                (**self).initiate(request).await
            }
            async fn status(&self, id: &PaymentId) -> Result<PaymentStatus, Error> {
                (**self).status(id).await
            }
            async fn status_report(&self, id: &PaymentId) -> Result<StatusReport, Error> {
                (**self).status_report(id).await
            }
            fn parse_callback(&self, callback: &CallbackRequest) -> Result<CallbackClaim, Error> {
                (**self).parse_callback(callback)
            }
            fn callback_ack(&self) -> CallbackAck {
                (**self).callback_ack()
            }
        }
    )*};
}

forward!(&P, Box<P>, Arc<P>);
