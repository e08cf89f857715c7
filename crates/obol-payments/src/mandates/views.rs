//! The API view of a mandate: the card as the customer sees it, never the
//! connector's token.

use obol_core::Timestamp;
use obol_store::mandates::MandateRow;
use serde::Serialize;
use utoipa::ToSchema;

/// A mandate: a customer's card kept for payments without them present.
#[derive(Debug, Serialize, ToSchema)]
pub struct Mandate {
    pub id: String,
    /// Always `mandate`.
    pub object: &'static str,
    pub customer_id: String,
    /// `active` or `revoked`.
    pub status: String,
    pub payment_method: MandatePaymentMethod,
    /// Where its charges go: the account that set it up.
    pub connector_account_id: String,
    /// The order whose payment set it up.
    pub order_id: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
}

/// The card a mandate charges.
#[derive(Debug, Serialize, ToSchema)]
pub struct MandatePaymentMethod {
    /// Always `card`.
    #[serde(rename = "type")]
    pub method_type: &'static str,
    pub brand: String,
    pub last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
}

impl From<&MandateRow> for Mandate {
    fn from(row: &MandateRow) -> Self {
        Mandate {
            id: row.id.to_string(),
            object: "mandate",
            customer_id: row.customer_id.to_string(),
            status: row.status.clone(),
            payment_method: MandatePaymentMethod {
                method_type: "card",
                brand: row.card_brand.clone(),
                last4: row.card_last4.clone(),
                exp_month: row.exp_month,
                exp_year: row.exp_year,
            },
            connector_account_id: row.connector_account_id.to_string(),
            order_id: row.order_id.to_string(),
            created_at: Timestamp::from_ms(row.created_at),
            revoked_at: row.revoked_at.map(Timestamp::from_ms),
        }
    }
}

/// How a charge of the mandate shows its payment method on its transaction.
pub(crate) fn charge_method(row: &MandateRow) -> serde_json::Value {
    serde_json::json!({"type": "card", "brand": row.card_brand, "last4": row.card_last4,
        "exp_month": row.exp_month, "exp_year": row.exp_year, "mandate_id": row.id})
}
