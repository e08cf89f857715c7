//! What the subscriptions' API shows and takes.

use obol_core::Timestamp;
use obol_core::validate::Metadata;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// A subscription as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Subscription {
    pub id: String,
    /// Always `subscription`.
    pub object: &'static str,
    pub customer_id: String,
    pub price_id: String,
    pub package_id: String,
    /// `incomplete`, `trialing`, `active`, `past_due`, `unpaid`, `paused`,
    /// `canceled` or `incomplete_expired`.
    pub status: String,
    /// `charge_automatically` or `send_invoice`.
    pub collection_method: String,
    pub mandate_id: Option<String>,
    /// Whether renewals are paid from the wallet when it covers them.
    pub pay_from_wallet: bool,
    pub days_until_due: i64,
    pub coupon_id: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub current_period_start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub current_period_end: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub trial_end: Option<Timestamp>,
    pub cancel_at_period_end: bool,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub canceled_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub paused_at: Option<Timestamp>,
    /// A downgrade waiting for the period's end.
    pub pending_price_id: Option<String>,
    pub latest_invoice_id: Option<String>,
    /// A trial without a mandate: the zero-amount order whose card payment
    /// sets one up, and its payment link.
    pub setup_order_id: Option<String>,
    pub setup_payment_link: Option<String>,
    /// While `past_due`: when the failed invoice is tried again.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_retry_at: Option<Timestamp>,
    pub metadata: Metadata,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// `POST /v1/subscriptions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSubscription {
    pub customer_id: String,
    /// An active recurring price.
    pub price_id: String,
    /// A coupon's id or code.
    pub coupon: Option<String>,
    /// `charge_automatically` (default) or `send_invoice`.
    pub collection_method: Option<String>,
    /// An active mandate of the customer to charge.
    pub mandate_id: Option<String>,
    /// `send_invoice`: days from an invoice to its due date (default 7).
    pub days_until_due: Option<i64>,
    /// Pay renewals from the customer's wallet when it covers the whole amount (default false).
    pub pay_from_wallet: Option<bool>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

/// `POST /v1/subscriptions/{id}/change`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeSubscription {
    pub price_id: String,
    /// `immediate` (the default for a dearer price) or `period_end` (the
    /// default for a cheaper one).
    pub proration: Option<String>,
}

/// `POST /v1/subscriptions/{id}/cancel`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelSubscription {
    /// At the end of the period (true) or now (false, the default).
    pub at_period_end: Option<bool>,
    /// Canceling now: credit the unused part of the paid period to the wallet.
    pub refund_unused: Option<bool>,
}
