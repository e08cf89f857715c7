//! Mandates at the sandbox. A payment made with `setup_mandate` keeps, under
//! a new token, its card as shown (brand, last four digits, expiry) and
//! what the card's number means for later charges. Once that payment has
//! succeeded — at once, after its 3-D Secure challenge, or when its
//! asynchronous approval settles — its answers (the call's, every sync's)
//! carry the mandate, and the token pays with no card and no challenge.

use super::state::{MandateRow, NewPayment, PaymentRow};
use super::{Sandbox, Scenario, check_operation, new_payment};
use crate::{AuthorizeRequest, ConnectorError, ConnectorResponse, ConnectorResult, StoredMandate};
use obol_core::card::CardDetails;
use obol_core::new_id;

/// The decline codes a mandate's charges may be refused with.
const DECLINE_CODES: [&str; 4] = [
    "generic_decline",
    "insufficient_funds",
    "expired_card",
    "incorrect_cvc",
];

impl Scenario {
    /// How the charges of a mandate set up with this card are declined;
    /// `None`: approved, with no challenge (a card that needed one at setup
    /// needs none after).
    fn charge_decline(self) -> Option<&'static str> {
        match self {
            Scenario::VerifyOnly => Some("generic_decline"),
            _ => None,
        }
    }

    /// What a charge of a mandate does, from its stored decline code.
    fn of_charge(decline_code: Option<&str>) -> Scenario {
        match decline_code {
            None => Scenario::Approve,
            Some(code) => Scenario::Decline(
                DECLINE_CODES
                    .into_iter()
                    .find(|known| *known == code)
                    .unwrap_or("generic_decline"),
            ),
        }
    }
}

impl Sandbox {
    /// Keeps the mandate that `payment` sets up, before the payment is
    /// recorded (a repeated call keeps the first one); none when it was not
    /// asked for or the payment cannot succeed.
    pub(super) async fn keep_mandate(
        &self,
        request: &AuthorizeRequest,
        card: &CardDetails,
        scenario: Scenario,
        payment: &NewPayment<'_>,
    ) -> Result<(), ConnectorError> {
        if !request.setup_mandate || matches!(payment.status, "declined" | "failed") {
            return Ok(());
        }
        let mandate = MandateRow {
            token: new_id("sbx_mdt"),
            account_id: payment.account_id.to_owned(),
            transaction_id: payment.transaction_id.to_owned(),
            card_brand: card.brand.as_str().to_owned(),
            card_last4: card.last4.clone(),
            exp_month: i64::from(card.exp_month),
            exp_year: i64::from(card.exp_year),
            charge_decline_code: scenario.charge_decline().map(str::to_owned),
            created_at: payment.now_ms,
        };
        self.state.insert_mandate(&mandate).await
    }

    /// The mandate that `payment` set up, once it succeeded (its
    /// notification names it).
    pub async fn mandate_of(
        &self,
        payment: &PaymentRow,
    ) -> Result<Option<MandateRow>, ConnectorError> {
        if payment.status != "succeeded" {
            return Ok(None);
        }
        self.state
            .mandate_of_payment(&payment.account_id, &payment.transaction_id)
            .await
    }

    /// `answer` about the account's payment `transaction_id`, now in
    /// `status`, with the mandate that payment set up once it succeeded.
    pub(super) async fn with_mandate(
        &self,
        mut answer: ConnectorResponse,
        status: &str,
        account_id: &str,
        transaction_id: &str,
    ) -> ConnectorResult {
        if status == "succeeded" {
            let mandate = self
                .state
                .mandate_of_payment(account_id, transaction_id)
                .await?;
            answer.mandate = mandate.map(|row| StoredMandate {
                token: row.token,
                card_brand: row.card_brand,
                last4: row.card_last4,
                exp_month: row.exp_month,
                exp_year: row.exp_year,
            });
        }
        Ok(answer)
    }

    /// A charge of the mandate `token`: no card, no challenge; it succeeds
    /// or is declined as the setup card's number says of later charges. A
    /// repeated call answers as the first one did.
    pub(super) async fn charge_mandate(
        &self,
        request: &AuthorizeRequest,
        token: &str,
    ) -> ConnectorResult {
        check_operation(request)?;
        let account_id = request.account.account_id.as_str();
        let mandate = self
            .state
            .mandate_by_token(account_id, token)
            .await?
            .ok_or_else(|| ConnectorError::Invalid("the sandbox has no such mandate".into()))?;
        let setup = match self
            .state
            .payment_by_transaction(account_id, &mandate.transaction_id)
            .await?
        {
            Some(payment) => Some(self.current(payment).await?),
            None => None,
        };
        if setup.is_none_or(|payment| payment.status != "succeeded") {
            return Err(ConnectorError::Invalid(
                "the mandate's setup payment has not succeeded".into(),
            ));
        }
        let scenario = Scenario::of_charge(mandate.charge_decline_code.as_deref());
        let id = new_id("sbx_pay");
        let shown = (mandate.card_brand.as_str(), mandate.card_last4.as_str());
        let payment = new_payment(request, shown, scenario, &id, self.clock.now().as_ms());
        if let Some(first) = self.first_call(&payment).await {
            return first;
        }
        tracing::debug!(payment_id = %id, account_id, status = payment.status, "sandbox mandate charge");
        Ok(self.response(&id, payment.status, payment.decline_code, payment.amount))
    }
}
