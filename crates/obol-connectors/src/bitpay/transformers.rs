//! BitPay's wire format (API version 2.0.0, POS facade): the account's
//! credentials, the invoice Obol creates, the invoice BitPay answers, its
//! (unsigned) notifications, and their mapping to Obol's outcomes.

use crate::decimal::{Decimal, share_of, to_decimal};
use crate::{AccountContext, AuthorizeRequest, ConnectorError, Outcome};
use obol_core::Money;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The credentials keys an account must have.
pub const REQUIRED_CREDENTIALS: &[&str] = &["token"];

/// An account's BitPay credentials. Never shown: `Debug` names no value.
#[derive(Deserialize)]
pub(super) struct Credentials {
    pub(super) token: String,
    #[serde(default)]
    pub(super) api_base: Option<String>,
}

impl Credentials {
    pub(super) fn of(account: &AccountContext) -> Result<Credentials, ConnectorError> {
        // serde's own message could quote a value: a fixed one instead.
        serde_json::from_value::<Credentials>(account.credentials.clone())
            .ok()
            .filter(|credentials| !credentials.token.is_empty())
            .ok_or_else(|| {
                ConnectorError::Invalid(
                    "the BitPay credentials take token (and api_base) as strings".into(),
                )
            })
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").finish_non_exhaustive()
    }
}

/// `POST /invoices`: the price as an exact decimal string.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct NewInvoice<'a> {
    pub(super) token: &'a str,
    pub(super) price: String,
    pub(super) currency: &'a str,
    pub(super) order_id: &'a str,
    pub(super) item_desc: &'a str,
    #[serde(rename = "notificationURL")]
    pub(super) notification_url: &'a str,
    #[serde(rename = "redirectURL")]
    pub(super) redirect_url: &'a str,
    pub(super) extended_notifications: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) buyer: Option<Buyer<'a>>,
}

#[derive(Debug, Serialize)]
pub(super) struct Buyer<'a> {
    pub(super) email: &'a str,
}

impl<'a> NewInvoice<'a> {
    pub(super) fn of(
        credentials: &'a Credentials,
        request: &'a AuthorizeRequest,
        notification_url: &'a str,
    ) -> NewInvoice<'a> {
        let email = request
            .customer
            .as_ref()
            .and_then(|customer| customer.email.as_deref());
        NewInvoice {
            token: &credentials.token,
            price: to_decimal(request.amount),
            currency: request.amount.currency.code(),
            order_id: &request.transaction_id,
            item_desc: &request.order_id,
            notification_url,
            redirect_url: &request.return_url,
            extended_notifications: true,
            buyer: email.map(|email| Buyer { email }),
        }
    }
}

/// BitPay's answer: `{"data": …}`, or `{"error": …}`.
#[derive(Debug, Deserialize)]
pub(super) struct Envelope<T> {
    pub(super) data: Option<T>,
    #[serde(default)]
    pub(super) error: Option<String>,
    #[serde(default)]
    pub(super) message: Option<String>,
}

impl<T> Envelope<T> {
    pub(super) fn error_message(&self) -> String {
        self.error
            .clone()
            .or_else(|| self.message.clone())
            .unwrap_or_else(|| "no message".into())
    }
}

/// An invoice as BitPay shows it. Amounts paid are integers in the smallest
/// unit of the coin paid (`transactionCurrency`): satoshis for BTC.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Invoice {
    pub(super) id: String,
    pub(super) url: String,
    pub(super) status: String,
    #[serde(default)]
    pub(super) amount_paid: Option<u64>,
    /// `false`, or `paidPartial`, `paidOver`.
    #[serde(default)]
    pub(super) exception_status: serde_json::Value,
    #[serde(default)]
    pub(super) transaction_currency: Option<String>,
    #[serde(default)]
    pub(super) payment_totals: HashMap<String, u64>,
}

impl Invoice {
    fn exception(&self) -> Option<&str> {
        self.exception_status.as_str()
    }

    /// What arrived, in minor units of the invoice's `amount`: the share
    /// paid of what BitPay asked in the coin paid.
    pub(super) fn received(&self, amount: Money) -> Result<i64, ConnectorError> {
        let paid = self.amount_paid.unwrap_or(0);
        if paid == 0 {
            return Ok(0);
        }
        let asked = self
            .transaction_currency
            .as_ref()
            .and_then(|coin| self.payment_totals.get(coin))
            .copied()
            .unwrap_or(0);
        let whole = |units: u64| Decimal {
            units: i128::from(units),
            scale: 0,
        };
        share_of(amount.amount_minor, whole(paid), whole(asked)).ok_or_else(|| {
            ConnectorError::Provider {
                http_code: Some(200),
                message: "BitPay answered an invoice paid in a coin it did not price".into(),
            }
        })
    }

    /// How the invoice stands for a payment of `amount`, and what arrived.
    pub(super) fn outcome(&self, amount: Money) -> Result<(Outcome, i64), ConnectorError> {
        let received = self.received(amount)?;
        let partial = self.exception() == Some("paidPartial")
            || (0 < received && received < amount.amount_minor);
        let outcome = match self.status.as_str() {
            "confirmed" | "complete" => Outcome::Succeeded,
            "paid" => Outcome::Pending,
            "new" if received > 0 => Outcome::Pending,
            "new" => Outcome::RequiresAction {
                url: self.url.clone(),
            },
            "expired" | "invalid" if partial => Outcome::Failed {
                code: "underpaid".into(),
                message: format!(
                    "The invoice expired underpaid: {} of {} {} arrived.",
                    to_decimal(Money {
                        amount_minor: received,
                        ..amount
                    }),
                    to_decimal(amount),
                    amount.currency.code()
                ),
            },
            "expired" => Outcome::Failed {
                code: "expired".into(),
                message: "The invoice expired before it was paid.".into(),
            },
            "invalid" => Outcome::Failed {
                code: "invalid".into(),
                message: "BitPay marked the invoice invalid (its payment was not confirmed)."
                    .into(),
            },
            // A card-funded invoice the issuer refused.
            "declined" => Outcome::Failed {
                code: "declined".into(),
                message: "BitPay declined the invoice's payment.".into(),
            },
            other => {
                return Err(ConnectorError::Provider {
                    http_code: Some(200),
                    message: format!(
                        "BitPay answered an invoice status Obol does not know: {other:?}"
                    ),
                });
            }
        };
        Ok((outcome, received))
    }
}

/// A notification's body: version 2 (`{"event": …, "data": invoice}`) or
/// the legacy invoice itself. Only which invoice it names is read.
#[derive(Debug, Deserialize)]
pub(super) struct Hint {
    #[serde(default)]
    pub(super) event: Option<HintEvent>,
    #[serde(default)]
    pub(super) data: Option<HintInvoice>,
    #[serde(default)]
    pub(super) id: Option<String>,
    #[serde(default)]
    pub(super) status: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct HintEvent {
    #[serde(default)]
    pub(super) name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct HintInvoice {
    pub(super) id: String,
    #[serde(default)]
    pub(super) status: Option<String>,
}

impl Hint {
    /// The invoice it names, and what it claims (an event name or status).
    pub(super) fn about(self) -> Option<(String, String)> {
        let name = self.event.and_then(|event| event.name);
        let (id, status) = match self.data {
            Some(invoice) => (invoice.id, invoice.status),
            None => (self.id?, self.status),
        };
        let claim = name
            .or(status.map(|status| format!("invoice_{status}")))
            .unwrap_or_else(|| "invoice_notification".into());
        (!id.is_empty()).then_some((id, claim))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use obol_core::Currency;
    use serde_json::json;

    fn invoice(body: serde_json::Value) -> Invoice {
        serde_json::from_value(body).expect("an invoice")
    }

    fn eur(amount_minor: i64) -> Money {
        Money {
            amount_minor,
            currency: Currency::parse("EUR").expect("EUR"),
        }
    }

    #[test]
    fn invoice_statuses_map_as_the_contract_says() {
        let base = |status: &str, paid: u64, exception: serde_json::Value| {
            invoice(
                json!({"id": "inv1", "url": "https://bitpay.test/i/inv1", "status": status,
                "amountPaid": paid, "exceptionStatus": exception, "transactionCurrency": "BTC",
                "paymentTotals": {"BTC": 297500}}),
            )
        };
        let outcome = |i: Invoice| i.outcome(eur(8925)).expect("an outcome");
        assert_eq!(
            outcome(base("new", 0, json!(false))),
            (
                Outcome::RequiresAction {
                    url: "https://bitpay.test/i/inv1".into()
                },
                0
            )
        );
        assert_eq!(
            outcome(base("paid", 297500, json!(false))),
            (Outcome::Pending, 8925)
        );
        assert!(matches!(
            outcome(base("declined", 0, json!(false))),
            (Outcome::Failed { code, .. }, 0) if code == "declined"
        ));
        assert_eq!(
            outcome(base("confirmed", 297500, json!(false))),
            (Outcome::Succeeded, 8925)
        );
        assert_eq!(
            outcome(base("complete", 327250, json!("paidOver"))),
            (Outcome::Succeeded, 9817)
        );
        assert_eq!(
            outcome(base("new", 148750, json!("paidPartial"))),
            (Outcome::Pending, 4462)
        );
        let (failed, received) = outcome(base("expired", 148750, json!("paidPartial")));
        assert!(matches!(failed, Outcome::Failed { ref code, .. } if code == "underpaid"));
        assert_eq!(received, 4462);
        let (failed, _) = outcome(base("expired", 0, json!(false)));
        assert!(matches!(failed, Outcome::Failed { ref code, .. } if code == "expired"));
        assert!(
            base("refunded", 0, json!(false))
                .outcome(eur(8925))
                .is_err()
        );
    }

    #[test]
    fn a_hint_names_its_invoice() {
        let v2: Hint =
            serde_json::from_value(json!({"event": {"code": 1005, "name": "invoice_confirmed"},
            "data": {"id": "inv1", "status": "confirmed"}}))
            .expect("v2");
        assert_eq!(
            v2.about(),
            Some(("inv1".into(), "invoice_confirmed".into()))
        );
        let legacy: Hint =
            serde_json::from_value(json!({"id": "inv2", "status": "paid"})).expect("legacy");
        assert_eq!(legacy.about(), Some(("inv2".into(), "invoice_paid".into())));
        let empty: Hint = serde_json::from_value(json!({})).expect("empty");
        assert_eq!(empty.about(), None);
    }

    #[test]
    fn the_price_is_an_exact_decimal_string() {
        let credentials = Credentials {
            token: "tok".into(),
            api_base: None,
        };
        let request = AuthorizeRequest {
            account: AccountContext {
                account_id: obol_core::ConnectorAccountId::from("cna_1"),
                credentials: json!({}),
            },
            transaction_id: "txn_1".into(),
            order_id: obol_core::OrderId::from("ord_1"),
            amount: Money {
                amount_minor: 1000,
                currency: Currency::parse("KWD").expect("KWD"),
            },
            operation: crate::Operation::Sale,
            instrument: crate::Instrument::Crypto,
            setup_mandate: false,
            return_url: "https://obol.test/return".into(),
            customer: None,
        };
        let body = serde_json::to_value(NewInvoice::of(
            &credentials,
            &request,
            "https://obol.test/v1/ipn/cna_1",
        ))
        .expect("JSON");
        assert_eq!(body["price"], "1.000");
        assert_eq!(body["currency"], "KWD");
        assert_eq!(body["orderId"], "txn_1");
        assert_eq!(body["notificationURL"], "https://obol.test/v1/ipn/cna_1");
        assert_eq!(body["redirectURL"], "https://obol.test/return");
        assert!(body.get("buyer").is_none());
    }
}
