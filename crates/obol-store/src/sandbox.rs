//! The sandbox connector's own state: its payments (authorize, sale,
//! verify) and the follow-up operations on them, as a processor keeps them.
//!
//! Every rule that guards money is one conditional `UPDATE`, so concurrent
//! calls cannot both pass a check that only one of them may pass.

use crate::{Conn, Result};

/// A payment to record: the outcome of an authorize, sale or verify call.
#[derive(Debug, Clone)]
pub struct NewPayment<'a> {
    pub id: &'a str,
    pub account_id: &'a str,
    pub transaction_id: &'a str,
    /// `authorize`, `sale` or `verify`.
    pub operation: &'a str,
    pub currency: &'a str,
    pub amount: i64,
    /// `succeeded`, `pending`, `requires_action`, `declined` or `failed`.
    pub status: &'a str,
    pub decline_code: Option<&'a str>,
    /// `none`, `authorized` or `captured`.
    pub state: &'a str,
    pub authorized: i64,
    pub captured: i64,
    pub card_brand: &'a str,
    pub card_last4: &'a str,
    /// When a pending (asynchronous) payment succeeds on its own.
    pub settle_at_ms: Option<i64>,
    /// Where the customer goes back to after a challenge or an invoice.
    pub return_url: &'a str,
    pub now_ms: i64,
    /// `card` or `crypto`.
    pub method: &'a str,
    /// When a crypto invoice not paid in full fails.
    pub invoice_expires_at_ms: Option<i64>,
}

/// A stored sandbox payment.
#[derive(Debug, Clone)]
pub struct PaymentRow {
    pub id: String,
    pub account_id: String,
    pub transaction_id: String,
    pub operation: String,
    pub currency: String,
    pub amount: i64,
    pub status: String,
    pub decline_code: Option<String>,
    pub state: String,
    pub authorized: i64,
    pub captured: i64,
    pub refunded: i64,
    pub card_brand: String,
    pub card_last4: String,
    pub settle_at: Option<i64>,
    pub return_url: Option<String>,
    pub created_at: i64,
    pub method: String,
    pub invoice_expires_at: Option<i64>,
    pub amount_received: Option<i64>,
}
crate::from_row!(PaymentRow {
    id,
    account_id,
    transaction_id,
    operation,
    currency,
    amount,
    status,
    decline_code,
    state,
    authorized,
    captured,
    refunded,
    card_brand,
    card_last4,
    settle_at,
    return_url,
    created_at,
    method,
    invoice_expires_at,
    amount_received
});

const PAYMENT_COLUMNS: &str = "id, account_id, transaction_id, operation, currency, amount, status, \
     decline_code, state, authorized, captured, refunded, card_brand, card_last4, settle_at, \
     return_url, created_at, method, invoice_expires_at, amount_received";

/// A follow-up that moved money, to record.
#[derive(Debug, Clone)]
pub struct NewOperation<'a> {
    pub id: &'a str,
    pub account_id: &'a str,
    pub transaction_id: &'a str,
    pub payment_id: &'a str,
    /// `capture`, `increment_authorization`, `void`, `reverse` or `refund`.
    pub kind: &'a str,
    pub amount: i64,
    pub now_ms: i64,
}

/// A stored follow-up operation.
#[derive(Debug, Clone)]
pub struct OperationRow {
    pub id: String,
    pub account_id: String,
    pub transaction_id: String,
    pub payment_id: String,
    pub kind: String,
    pub amount: i64,
    pub created_at: i64,
}
crate::from_row!(OperationRow {
    id,
    account_id,
    transaction_id,
    payment_id,
    kind,
    amount,
    created_at
});

const OPERATION_COLUMNS: &str =
    "id, account_id, transaction_id, payment_id, kind, amount, created_at";

/// Records a payment; `UniqueViolation` when the account already has one
/// with this transaction id.
pub async fn insert_payment(conn: &mut Conn, payment: &NewPayment<'_>) -> Result<()> {
    crate::sql::query(
        "INSERT INTO sandbox_payments (id, account_id, transaction_id, operation, currency, amount, \
         status, decline_code, state, authorized, captured, refunded, card_brand, card_last4, \
         settle_at, created_at, updated_at, return_url, method, invoice_expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, $12, $13, $14, $15, $15, $16, $17, $18)",
    )
    .bind(payment.id)
    .bind(payment.account_id)
    .bind(payment.transaction_id)
    .bind(payment.operation)
    .bind(payment.currency)
    .bind(payment.amount)
    .bind(payment.status)
    .bind(payment.decline_code)
    .bind(payment.state)
    .bind(payment.authorized)
    .bind(payment.captured)
    .bind(payment.card_brand)
    .bind(payment.card_last4)
    .bind(payment.settle_at_ms)
    .bind(payment.now_ms)
    .bind(payment.return_url)
    .bind(payment.method)
    .bind(payment.invoice_expires_at_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// The account's payment made with this Obol transaction id.
pub async fn payment_by_transaction(
    conn: &mut Conn,
    account_id: &str,
    transaction_id: &str,
) -> Result<Option<PaymentRow>> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM sandbox_payments WHERE account_id = $1 AND transaction_id = $2"
    );
    crate::sql::query_as(sql)
        .bind(account_id)
        .bind(transaction_id)
        .fetch_optional(conn)
        .await
}

/// The account's payment with this sandbox id.
pub async fn payment_for_account(
    conn: &mut Conn,
    account_id: &str,
    id: &str,
) -> Result<Option<PaymentRow>> {
    let sql =
        format!("SELECT {PAYMENT_COLUMNS} FROM sandbox_payments WHERE account_id = $1 AND id = $2");
    crate::sql::query_as(sql)
        .bind(account_id)
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The payment with this sandbox id, whatever its account (the challenge
/// page knows only the id).
pub async fn payment_by_id(conn: &mut Conn, id: &str) -> Result<Option<PaymentRow>> {
    let sql = format!("SELECT {PAYMENT_COLUMNS} FROM sandbox_payments WHERE id = $1");
    crate::sql::query_as(sql)
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Settles a pending payment whose time has come as succeeded; false when
/// it is not pending or not yet due.
pub async fn settle_due(conn: &mut Conn, id: &str, now_ms: i64) -> Result<bool> {
    let result = crate::sql::query(
        "UPDATE sandbox_payments SET status = 'succeeded', settle_at = NULL, updated_at = $2, \
         state = CASE operation WHEN 'authorize' THEN 'authorized' WHEN 'sale' THEN 'captured' ELSE 'none' END, \
         authorized = CASE WHEN operation = 'verify' THEN 0 ELSE amount END, \
         captured = CASE WHEN operation = 'sale' THEN amount ELSE 0 END \
         WHERE id = $1 AND status = 'pending' AND settle_at <= $2",
    )
    .bind(id)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Fails a crypto invoice past its expiry that was not paid in full:
/// `underpaid` when it received something, else `expired`; false when it
/// is paid, closed, or not yet expired.
pub async fn expire_invoice(conn: &mut Conn, id: &str, now_ms: i64) -> Result<bool> {
    let result = crate::sql::query(
        "UPDATE sandbox_payments SET status = 'declined', updated_at = $2, \
         decline_code = CASE WHEN amount_received > 0 THEN 'underpaid' ELSE 'expired' END \
         WHERE id = $1 AND method = 'crypto' AND status IN ('requires_action', 'pending') \
         AND invoice_expires_at <= $2",
    )
    .bind(id)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Records what an open, unexpired crypto invoice received: in full (or
/// more), the sale is captured; less, it stays pending until its expiry.
/// False when the invoice is not open for payment.
pub async fn pay_invoice(conn: &mut Conn, id: &str, received: i64, now_ms: i64) -> Result<bool> {
    let result = crate::sql::query(
        "UPDATE sandbox_payments SET amount_received = $2, updated_at = $3, \
         status = CASE WHEN $2 >= amount THEN 'succeeded' ELSE 'pending' END, \
         state = CASE WHEN $2 >= amount THEN 'captured' ELSE 'none' END, \
         authorized = CASE WHEN $2 >= amount THEN amount ELSE 0 END, \
         captured = CASE WHEN $2 >= amount THEN amount ELSE 0 END \
         WHERE id = $1 AND method = 'crypto' AND status = 'requires_action' \
         AND invoice_expires_at > $3",
    )
    .bind(id)
    .bind(received)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Ends a 3-D Secure challenge: succeeded (the money moves as the operation
/// says) or declined with `decline_code`; false unless it awaited one (a
/// crypto invoice awaits its payment, never a challenge).
pub async fn finish_challenge(
    conn: &mut Conn,
    id: &str,
    decline_code: Option<&str>,
    now_ms: i64,
) -> Result<bool> {
    let result = crate::sql::query(
        "UPDATE sandbox_payments SET updated_at = $3, decline_code = $2, \
         status = CASE WHEN $2 IS NULL THEN 'succeeded' ELSE 'declined' END, \
         state = CASE WHEN $2 IS NOT NULL THEN 'none' WHEN operation = 'authorize' THEN 'authorized' \
                 WHEN operation = 'sale' THEN 'captured' ELSE 'none' END, \
         authorized = CASE WHEN $2 IS NULL AND operation <> 'verify' THEN amount ELSE 0 END, \
         captured = CASE WHEN $2 IS NULL AND operation = 'sale' THEN amount ELSE 0 END \
         WHERE id = $1 AND status = 'requires_action' AND method = 'card'",
    )
    .bind(id)
    .bind(decline_code)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Captures `amount` of an uncaptured authorization that covers it; the
/// rest of the hold is released. False when the rules forbid it.
pub async fn capture(conn: &mut Conn, id: &str, amount: i64, now_ms: i64) -> Result<bool> {
    let result = crate::sql::query(
        "UPDATE sandbox_payments SET state = 'captured', captured = $2, updated_at = $3 \
         WHERE id = $1 AND state = 'authorized' AND authorized >= $2",
    )
    .bind(id)
    .bind(amount)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Raises an uncaptured authorization to `new_total`, which must exceed it.
pub async fn increment(conn: &mut Conn, id: &str, new_total: i64, now_ms: i64) -> Result<bool> {
    let result = crate::sql::query(
        "UPDATE sandbox_payments SET authorized = $2, updated_at = $3 \
         WHERE id = $1 AND state = 'authorized' AND authorized < $2",
    )
    .bind(id)
    .bind(new_total)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Voids an uncaptured authorization; the amount released, or `None` when
/// it is not one.
pub async fn void_authorization(conn: &mut Conn, id: &str, now_ms: i64) -> Result<Option<i64>> {
    crate::sql::query_scalar(
        "UPDATE sandbox_payments SET state = 'voided', updated_at = $2 \
         WHERE id = $1 AND state = 'authorized' RETURNING authorized",
    )
    .bind(id)
    .bind(now_ms)
    .fetch_optional(conn)
    .await
}

/// Cancels a payment still awaiting its 3-D Secure challenge; its amount,
/// or `None` when it awaits none.
pub async fn cancel_challenge(conn: &mut Conn, id: &str, now_ms: i64) -> Result<Option<i64>> {
    crate::sql::query_scalar(
        "UPDATE sandbox_payments SET status = 'canceled', updated_at = $2 \
         WHERE id = $1 AND status = 'requires_action' RETURNING amount",
    )
    .bind(id)
    .bind(now_ms)
    .fetch_optional(conn)
    .await
}

/// Voids a capture that has no refunds, returning all of it; the amount
/// returned, or `None` when the rules forbid it.
pub async fn reverse(conn: &mut Conn, id: &str, now_ms: i64) -> Result<Option<i64>> {
    crate::sql::query_scalar(
        "UPDATE sandbox_payments SET state = 'reversed', updated_at = $2 \
         WHERE id = $1 AND state = 'captured' AND refunded = 0 RETURNING captured",
    )
    .bind(id)
    .bind(now_ms)
    .fetch_optional(conn)
    .await
}

/// Refunds `amount` of a capture if that much is still unrefunded.
pub async fn refund(conn: &mut Conn, id: &str, amount: i64, now_ms: i64) -> Result<bool> {
    let result = crate::sql::query(
        "UPDATE sandbox_payments SET refunded = refunded + $2, updated_at = $3 \
         WHERE id = $1 AND state = 'captured' AND captured - refunded >= $2",
    )
    .bind(id)
    .bind(amount)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Records a follow-up; `UniqueViolation` when the account already has one
/// with this transaction id.
pub async fn insert_operation(conn: &mut Conn, operation: &NewOperation<'_>) -> Result<()> {
    crate::sql::query(
        "INSERT INTO sandbox_operations (id, account_id, transaction_id, payment_id, kind, amount, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(operation.id)
    .bind(operation.account_id)
    .bind(operation.transaction_id)
    .bind(operation.payment_id)
    .bind(operation.kind)
    .bind(operation.amount)
    .bind(operation.now_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets the amount of a follow-up recorded earlier in the same transaction,
/// once the conditional update has said what it acted on.
pub async fn set_operation_amount(conn: &mut Conn, id: &str, amount: i64) -> Result<()> {
    crate::sql::query("UPDATE sandbox_operations SET amount = $2 WHERE id = $1")
        .bind(id)
        .bind(amount)
        .execute(conn)
        .await?;
    Ok(())
}

/// The account's follow-up made with this Obol transaction id.
pub async fn operation_by_transaction(
    conn: &mut Conn,
    account_id: &str,
    transaction_id: &str,
) -> Result<Option<OperationRow>> {
    let sql = format!(
        "SELECT {OPERATION_COLUMNS} FROM sandbox_operations WHERE account_id = $1 AND transaction_id = $2"
    );
    crate::sql::query_as(sql)
        .bind(account_id)
        .bind(transaction_id)
        .fetch_optional(conn)
        .await
}

/// A mandate the sandbox keeps: the card as shown, and what later charges
/// of it do (a decline code, or `None` for approved) — never the number.
#[derive(Debug, Clone)]
pub struct MandateRow {
    pub token: String,
    pub account_id: String,
    /// Obol's transaction id of the payment that sets it up.
    pub transaction_id: String,
    pub card_brand: String,
    pub card_last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
    pub charge_decline_code: Option<String>,
    pub created_at: i64,
}
crate::from_row!(MandateRow {
    token,
    account_id,
    transaction_id,
    card_brand,
    card_last4,
    exp_month,
    exp_year,
    charge_decline_code,
    created_at
});

const MANDATE_COLUMNS: &str = "token, account_id, transaction_id, card_brand, card_last4, \
     exp_month, exp_year, charge_decline_code, created_at";

/// Records the mandate a payment sets up; a second one for the same
/// payment (a repeated call) is dropped, the first one kept.
pub async fn insert_mandate(conn: &mut Conn, mandate: &MandateRow) -> Result<()> {
    let sql = format!(
        "INSERT INTO sandbox_mandates ({MANDATE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (account_id, transaction_id) DO NOTHING"
    );
    crate::sql::query(sql)
        .bind(&mandate.token)
        .bind(&mandate.account_id)
        .bind(&mandate.transaction_id)
        .bind(&mandate.card_brand)
        .bind(&mandate.card_last4)
        .bind(mandate.exp_month)
        .bind(mandate.exp_year)
        .bind(&mandate.charge_decline_code)
        .bind(mandate.created_at)
        .execute(conn)
        .await?;
    Ok(())
}

/// The mandate the account's payment with this Obol transaction id sets up.
pub async fn mandate_of_payment(
    conn: &mut Conn,
    account_id: &str,
    transaction_id: &str,
) -> Result<Option<MandateRow>> {
    let sql = format!(
        "SELECT {MANDATE_COLUMNS} FROM sandbox_mandates WHERE account_id = $1 AND transaction_id = $2"
    );
    crate::sql::query_as(sql)
        .bind(account_id)
        .bind(transaction_id)
        .fetch_optional(conn)
        .await
}

/// The account's mandate with this token.
pub async fn mandate_by_token(
    conn: &mut Conn,
    account_id: &str,
    token: &str,
) -> Result<Option<MandateRow>> {
    let sql = format!(
        "SELECT {MANDATE_COLUMNS} FROM sandbox_mandates WHERE account_id = $1 AND token = $2"
    );
    crate::sql::query_as(sql)
        .bind(account_id)
        .bind(token)
        .fetch_optional(conn)
        .await
}
