//! Obol's domain core: pure types and rules with no IO.

pub mod billing;
pub mod card;
pub mod clock;
pub mod exchange_rate;
pub mod id;
pub mod ledger;
pub mod mandate;
pub mod money;
pub mod order;
pub mod role;
pub mod time;
pub mod validate;

pub use id::{
    ApiKeyId, BrandId, ConnectorAccountId, CouponId, CreditNoteId, CustomerId, DisputeId, EmailId,
    EventId, ExchangeRateId, FeatureId, InvoiceId, JobId, LedgerAccountId, LedgerEntryId,
    MandateId, OrderId, PackageId, PriceId, ProductId, RefundId, SubscriptionId, TaxRateId,
    TransactionId, WebhookDeliveryId, WebhookEndpointId, new_id,
};
pub use money::{Currency, Money, format_amount};
pub use role::Role;
pub use time::Timestamp;
