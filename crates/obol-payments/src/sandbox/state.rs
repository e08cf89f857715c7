//! The sandbox connector's state over Obol's database: each step of
//! [`SandboxState`] is one statement of `obol_store::sandbox`, a follow-up
//! one transaction.

use async_trait::async_trait;
use obol_connectors::ConnectorError;
use obol_connectors::sandbox::SandboxState;
use obol_connectors::sandbox::state::{
    FollowUp, FollowUpOutcome, MandateRow, NewPayment, OperationRow, PaymentRow, Rule,
};
use obol_kernel::jobs::Job;
use obol_store::sandbox as store;
use obol_store::{Conn, Db, PoolConn, StoreError};

/// The sandbox's payments and operations in Obol's database.
pub struct StoreSandboxState {
    db: Db,
}

impl StoreSandboxState {
    pub fn new(db: Db) -> StoreSandboxState {
        StoreSandboxState { db }
    }

    async fn connection(&self) -> Result<PoolConn, ConnectorError> {
        // Its reads may settle a payment (a write): use the writer.
        self.db.write_conn().await.map_err(ConnectorError::state)
    }

    /// The follow-up's transaction; `Applied` is the only outcome that
    /// commits (the caller drops the transaction otherwise).
    async fn apply(
        &self,
        tx: &mut Conn,
        follow_up: &FollowUp<'_>,
    ) -> Result<FollowUpOutcome, StoreError> {
        let (account_id, transaction_id) = (follow_up.account_id, follow_up.transaction_id);
        if let Some(done) = store::operation_by_transaction(tx, account_id, transaction_id).await? {
            return Ok(FollowUpOutcome::AlreadyDone(from_store_operation(done)));
        }
        let mut payment =
            store::payment_by_transaction(tx, account_id, follow_up.payment_transaction_id).await?;
        if let (None, Some(id)) = (&payment, follow_up.connector_payment_id) {
            payment = store::payment_for_account(tx, account_id, id).await?;
        }
        let Some(payment) = payment else {
            return Ok(FollowUpOutcome::NoPayment);
        };
        if payment.currency != follow_up.currency {
            return Ok(FollowUpOutcome::OtherCurrency(payment.currency));
        }
        let now_ms = follow_up.now_ms;
        // What has come due counts as settled for what follows.
        settle_due(tx, &payment.id, now_ms).await?;
        let claim = store::NewOperation {
            id: follow_up.id,
            account_id,
            transaction_id,
            payment_id: &payment.id,
            kind: follow_up.rule.operation().as_str(),
            amount: follow_up.amount,
            now_ms,
        };
        match store::insert_operation(tx, &claim).await {
            Ok(()) => {}
            Err(StoreError::UniqueViolation) => return Ok(FollowUpOutcome::ClaimTaken),
            Err(error) => return Err(error),
        }
        let Some(acted) =
            apply_rule(tx, follow_up.rule, &payment.id, follow_up.amount, now_ms).await?
        else {
            let payment = store::payment_by_id(tx, &payment.id)
                .await?
                .ok_or(StoreError::NotFound)?;
            return Ok(FollowUpOutcome::Refused(Box::new(from_store_payment(
                payment,
            ))));
        };
        if acted != follow_up.amount {
            store::set_operation_amount(tx, follow_up.id, acted).await?;
        }
        Ok(FollowUpOutcome::Applied {
            payment_id: payment.id,
            acted,
        })
    }
}

#[async_trait]
impl SandboxState for StoreSandboxState {
    async fn insert_payment(&self, payment: &NewPayment<'_>) -> Result<bool, ConnectorError> {
        let row = store::NewPayment {
            id: payment.id,
            account_id: payment.account_id,
            transaction_id: payment.transaction_id,
            operation: payment.operation,
            currency: payment.currency,
            amount: payment.amount,
            status: payment.status,
            decline_code: payment.decline_code,
            state: payment.state,
            authorized: payment.authorized,
            captured: payment.captured,
            card_brand: payment.card_brand,
            card_last4: payment.card_last4,
            settle_at_ms: payment.settle_at_ms,
            return_url: payment.return_url,
            now_ms: payment.now_ms,
            method: payment.method,
            invoice_expires_at_ms: payment.invoice_expires_at_ms,
        };
        let mut conn = self.connection().await?;
        match store::insert_payment(&mut conn, &row).await {
            Ok(()) => Ok(true),
            Err(StoreError::UniqueViolation) => Ok(false),
            Err(error) => Err(ConnectorError::state(error)),
        }
    }

    async fn payment_by_transaction(
        &self,
        account_id: &str,
        transaction_id: &str,
    ) -> Result<Option<PaymentRow>, ConnectorError> {
        let mut conn = self.connection().await?;
        let row = store::payment_by_transaction(&mut conn, account_id, transaction_id)
            .await
            .map_err(ConnectorError::state)?;
        Ok(row.map(from_store_payment))
    }

    async fn payment_by_id(&self, id: &str) -> Result<Option<PaymentRow>, ConnectorError> {
        let mut conn = self.connection().await?;
        let row = store::payment_by_id(&mut conn, id)
            .await
            .map_err(ConnectorError::state)?;
        Ok(row.map(from_store_payment))
    }

    async fn settle_due(&self, id: &str, now_ms: i64) -> Result<bool, ConnectorError> {
        let mut conn = self.connection().await?;
        settle_due(&mut conn, id, now_ms)
            .await
            .map_err(ConnectorError::state)
    }

    async fn pay_invoice(
        &self,
        id: &str,
        received: i64,
        now_ms: i64,
    ) -> Result<bool, ConnectorError> {
        let mut conn = self.connection().await?;
        store::pay_invoice(&mut conn, id, received, now_ms)
            .await
            .map_err(ConnectorError::state)
    }

    /// A `sandbox.notify` job row, due at `at_ms`.
    async fn schedule_notification(
        &self,
        id: &str,
        at_ms: i64,
        now_ms: i64,
    ) -> Result<(), ConnectorError> {
        let job = super::notify::SandboxNotify {
            payment_id: id.to_owned(),
        }
        .at(obol_core::Timestamp::from_ms(at_ms));
        let mut conn = self.connection().await?;
        obol_store::jobs::enqueue(&mut conn, &obol_core::JobId::new(), &job, now_ms)
            .await
            .map_err(ConnectorError::state)?;
        Ok(())
    }

    async fn finish_challenge(
        &self,
        id: &str,
        decline_code: Option<&str>,
        now_ms: i64,
    ) -> Result<bool, ConnectorError> {
        let mut conn = self.connection().await?;
        store::finish_challenge(&mut conn, id, decline_code, now_ms)
            .await
            .map_err(ConnectorError::state)
    }

    async fn operation_by_transaction(
        &self,
        account_id: &str,
        transaction_id: &str,
    ) -> Result<Option<OperationRow>, ConnectorError> {
        let mut conn = self.connection().await?;
        let row = store::operation_by_transaction(&mut conn, account_id, transaction_id)
            .await
            .map_err(ConnectorError::state)?;
        Ok(row.map(from_store_operation))
    }

    async fn follow_up(&self, follow_up: &FollowUp<'_>) -> Result<FollowUpOutcome, ConnectorError> {
        let mut tx = self.db.begin().await.map_err(ConnectorError::state)?;
        let outcome = self
            .apply(&mut tx, follow_up)
            .await
            .map_err(ConnectorError::state)?;
        if matches!(outcome, FollowUpOutcome::Applied { .. }) {
            tx.commit().await.map_err(ConnectorError::state)?;
        }
        Ok(outcome)
    }

    async fn insert_mandate(&self, mandate: &MandateRow) -> Result<(), ConnectorError> {
        let row = store::MandateRow {
            token: mandate.token.clone(),
            account_id: mandate.account_id.clone(),
            transaction_id: mandate.transaction_id.clone(),
            card_brand: mandate.card_brand.clone(),
            card_last4: mandate.card_last4.clone(),
            exp_month: mandate.exp_month,
            exp_year: mandate.exp_year,
            charge_decline_code: mandate.charge_decline_code.clone(),
            created_at: mandate.created_at,
        };
        let mut conn = self.connection().await?;
        store::insert_mandate(&mut conn, &row)
            .await
            .map_err(ConnectorError::state)
    }

    async fn mandate_of_payment(
        &self,
        account_id: &str,
        transaction_id: &str,
    ) -> Result<Option<MandateRow>, ConnectorError> {
        let mut conn = self.connection().await?;
        let row = store::mandate_of_payment(&mut conn, account_id, transaction_id)
            .await
            .map_err(ConnectorError::state)?;
        Ok(row.map(from_store_mandate))
    }

    async fn mandate_by_token(
        &self,
        account_id: &str,
        token: &str,
    ) -> Result<Option<MandateRow>, ConnectorError> {
        let mut conn = self.connection().await?;
        let row = store::mandate_by_token(&mut conn, account_id, token)
            .await
            .map_err(ConnectorError::state)?;
        Ok(row.map(from_store_mandate))
    }
}

/// Settles what has come due on a payment (each step one conditional
/// update): an asynchronous approval, or an invoice's expiry.
async fn settle_due(conn: &mut Conn, id: &str, now_ms: i64) -> Result<bool, StoreError> {
    let approved = store::settle_due(conn, id, now_ms).await?;
    Ok(approved || store::expire_invoice(conn, id, now_ms).await?)
}

/// Applies `rule` with one conditional update (a void: two, the second for
/// a payment awaiting its challenge); the amount it acted on, or `None`
/// when the rule forbids it.
async fn apply_rule(
    tx: &mut Conn,
    rule: Rule,
    payment_id: &str,
    amount: i64,
    now_ms: i64,
) -> Result<Option<i64>, StoreError> {
    Ok(match rule {
        Rule::Capture => store::capture(tx, payment_id, amount, now_ms)
            .await?
            .then_some(amount),
        Rule::IncrementAuthorization => store::increment(tx, payment_id, amount, now_ms)
            .await?
            .then_some(amount),
        Rule::Void => match store::void_authorization(tx, payment_id, now_ms).await? {
            Some(released) => Some(released),
            None => store::cancel_challenge(tx, payment_id, now_ms).await?,
        },
        Rule::Reverse => store::reverse(tx, payment_id, now_ms).await?,
        Rule::Refund => store::refund(tx, payment_id, amount, now_ms)
            .await?
            .then_some(amount),
    })
}

/// The store's row as the connector's.
fn from_store_payment(row: store::PaymentRow) -> PaymentRow {
    PaymentRow {
        id: row.id,
        account_id: row.account_id,
        transaction_id: row.transaction_id,
        operation: row.operation,
        currency: row.currency,
        amount: row.amount,
        status: row.status,
        decline_code: row.decline_code,
        state: row.state,
        authorized: row.authorized,
        captured: row.captured,
        refunded: row.refunded,
        card_brand: row.card_brand,
        card_last4: row.card_last4,
        settle_at: row.settle_at,
        return_url: row.return_url,
        created_at: row.created_at,
        method: row.method,
        invoice_expires_at: row.invoice_expires_at,
        amount_received: row.amount_received,
    }
}

fn from_store_operation(row: store::OperationRow) -> OperationRow {
    OperationRow {
        id: row.id,
        account_id: row.account_id,
        transaction_id: row.transaction_id,
        payment_id: row.payment_id,
        kind: row.kind,
        amount: row.amount,
        created_at: row.created_at,
    }
}

fn from_store_mandate(row: store::MandateRow) -> MandateRow {
    MandateRow {
        token: row.token,
        account_id: row.account_id,
        transaction_id: row.transaction_id,
        card_brand: row.card_brand,
        card_last4: row.card_last4,
        exp_month: row.exp_month,
        exp_year: row.exp_year,
        charge_decline_code: row.charge_decline_code,
        created_at: row.created_at,
    }
}
