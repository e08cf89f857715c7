//! Crypto on the sandbox: an invoice the customer pays from a wallet, kept
//! as a crypto processor keeps one (a deposit address, the amount asked,
//! an expiry, what arrived). A sale only: crypto cannot be held and
//! captured later. The invoice page (served by Obol) lets the customer
//! pay exactly, too little or too much; an invoice not paid in full by its
//! expiry fails, `underpaid` when something arrived.

use super::state::{NewPayment, PaymentRow};
use super::{Sandbox, missing_row};
use crate::{AuthorizeRequest, ConnectorError, ConnectorResponse, ConnectorResult, Operation};
use crate::{Outcome, sandbox::describe};
use obol_core::new_id;
use obol_core::time::MINUTE_MS;

/// How long an invoice waits for its payment, on the clock.
pub const INVOICE_TTL_MS: i64 = 15 * MINUTE_MS;

/// How the customer pays an invoice on the sandbox's page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoicePayment {
    Exact,
    Under,
    Over,
}

impl InvoicePayment {
    /// `exact`, `under` or `over`.
    pub fn parse(text: &str) -> Option<InvoicePayment> {
        match text {
            "exact" => Some(InvoicePayment::Exact),
            "under" => Some(InvoicePayment::Under),
            "over" => Some(InvoicePayment::Over),
            _ => None,
        }
    }

    /// What the customer sends for an invoice of `amount`: all of it, half
    /// of it, or 10 % more (at least one minor unit more).
    pub fn received(self, amount: i64) -> i64 {
        match self {
            InvoicePayment::Exact => amount,
            InvoicePayment::Under => amount / 2,
            InvoicePayment::Over => amount.saturating_add((amount / 10).max(1)),
        }
    }
}

/// The invoice's deposit address: fake, and always the same for a payment.
pub fn invoice_address(payment_id: &str) -> String {
    let tail: String = payment_id
        .trim_start_matches("sbx_pay_")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    format!("sbx1q{tail}")
}

/// What a processor refuses before looking at state: crypto is a sale of
/// a positive amount.
fn check_invoice(request: &AuthorizeRequest) -> Result<(), ConnectorError> {
    if request.operation != Operation::Sale {
        return Err(ConnectorError::Invalid(format!(
            "a crypto payment is a sale (authorize and capture at once), not a {}",
            request.operation.as_str()
        )));
    }
    if request.amount.amount_minor < 1 {
        return Err(ConnectorError::Invalid(
            "the amount must be positive".into(),
        ));
    }
    Ok(())
}

impl Sandbox {
    /// Opens an invoice for a crypto sale: `requires_action` with the
    /// invoice page; its expiry is when the sandbox tells Obol how it
    /// ended. A repeat with the same transaction id answers as the first.
    pub(super) async fn record_invoice(&self, request: &AuthorizeRequest) -> ConnectorResult {
        check_invoice(request)?;
        let (account_id, transaction_id) = (
            request.account.account_id.as_str(),
            request.transaction_id.as_str(),
        );
        let id = new_id("sbx_pay");
        let now_ms = self.clock.now().as_ms();
        let expires_at_ms = now_ms + INVOICE_TTL_MS;
        let payment = NewPayment {
            id: &id,
            account_id,
            transaction_id,
            operation: request.operation.as_str(),
            currency: request.amount.currency.code(),
            amount: request.amount.amount_minor,
            status: "requires_action",
            decline_code: None,
            state: "none",
            authorized: 0,
            captured: 0,
            card_brand: "",
            card_last4: "",
            settle_at_ms: None,
            return_url: &request.return_url,
            now_ms,
            method: "crypto",
            invoice_expires_at_ms: Some(expires_at_ms),
        };
        if let Some(first) = self.first_call(&payment).await {
            return first;
        }
        tracing::debug!(payment_id = %id, account_id, "sandbox crypto invoice");
        self.notify_at(&id, expires_at_ms).await;
        let url = self.invoice_url(&id);
        Ok(ConnectorResponse {
            outcome: Outcome::RequiresAction { url },
            connector_transaction_id: Some(id),
            http_code: Some(200),
            amount: Some(request.amount.amount_minor),
            amount_received: None,
            mandate: None,
        })
    }

    /// The customer pays invoice `payment_id` as `pay` says; the sandbox
    /// tells Obol at once. Refused unless the invoice is open and unexpired.
    pub async fn pay_invoice(
        &self,
        payment_id: &str,
        pay: InvoicePayment,
    ) -> Result<PaymentRow, ConnectorError> {
        let payment = self
            .payment(payment_id)
            .await?
            .filter(|payment| payment.method == "crypto")
            .ok_or_else(|| {
                ConnectorError::Invalid(format!("the sandbox has no invoice {payment_id}"))
            })?;
        let now_ms = self.clock.now().as_ms();
        let received = pay.received(payment.amount);
        if !self.state.pay_invoice(payment_id, received, now_ms).await? {
            let state = describe(&payment);
            return Err(ConnectorError::Invalid(format!(
                "the invoice is {state}, not open for payment"
            )));
        }
        self.notify_at(payment_id, now_ms).await;
        let paid = self.state.payment_by_id(payment_id).await?;
        paid.ok_or_else(missing_row)
    }

    /// Where the customer pays an invoice.
    pub fn invoice_url(&self, payment_id: &str) -> String {
        format!("{}/sandbox/crypto/{payment_id}", self.challenge_base_url)
    }

    /// The answer an invoice's recorded state gives: what it received, and
    /// a failure that is no card decline.
    pub(super) fn invoice_response(&self, payment: &PaymentRow) -> ConnectorResponse {
        let outcome = match payment.status.as_str() {
            "succeeded" => Outcome::Succeeded,
            "pending" => Outcome::Pending,
            "requires_action" => Outcome::RequiresAction {
                url: self.invoice_url(&payment.id),
            },
            status => {
                let code = match (status, payment.decline_code.as_deref()) {
                    ("canceled", _) => "canceled",
                    (_, Some(code)) => code,
                    (_, None) => "expired",
                };
                Outcome::Failed {
                    code: code.to_owned(),
                    message: failure_message(
                        code,
                        payment.amount_received,
                        payment.amount,
                        &payment.currency,
                    ),
                }
            }
        };
        ConnectorResponse {
            http_code: Some(super::http_code(&outcome)),
            outcome,
            connector_transaction_id: Some(payment.id.clone()),
            amount: Some(payment.amount),
            amount_received: payment.amount_received,
            mandate: None,
        }
    }
}

/// Why an invoice of `amount` that received `received` failed, in words.
pub(super) fn failure_message(
    code: &str,
    received: Option<i64>,
    amount: i64,
    currency: &str,
) -> String {
    match code {
        "underpaid" => format!(
            "The invoice expired underpaid: {} of {amount} {currency} arrived.",
            received.unwrap_or(0)
        ),
        "canceled" => "The invoice was canceled.".to_owned(),
        _ => "The invoice expired before it was paid.".to_owned(),
    }
}
