//! Granted credit: grants by the brand and redeemed codes, each a row with
//! what is left of it, bound to the request key that made it, and removed
//! at its `expires_at` by `ExpireGrant`.

use super::{
    AMOUNT_MAX, Wallet, brand_account, get, live_customer, record_movement, wallet_account,
    wallet_in,
};
use crate::error::{Error, Result};
use crate::ledger::{self, AccountType, NewEntry};
use obol_core::{BrandId, Currency, CustomerId, Money, Timestamp, validate};
use obol_kernel::idempotency::IdempotencyKey;
use obol_kernel::jobs::{Job, JobError};
use obol_kernel::state::AppState;
use obol_store::Conn;
use obol_store::wallets::GrantRow;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

const REASON_MAX_CHARS: usize = 500;

/// `POST /v1/customers/{id}/wallet/credits`: a granted credit.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantCredit {
    /// In the currency's minor units, positive.
    pub amount: i64,
    pub currency: String,
    /// Why it is granted (shown in the ledger entry): 1 to 500 characters.
    pub reason: String,
    /// RFC 3339, in the future: what is left of the credit is removed then.
    pub expires_at: Option<String>,
}

/// `wallet.credited` for granted credit from `source` (a redeem code).
pub async fn record_credit(
    conn: &mut Conn,
    brand_id: &BrandId,
    customer_id: &CustomerId,
    money: Money,
    source: &str,
    grant_id: &str,
    now: Timestamp,
) -> Result<()> {
    record_movement(
        conn,
        brand_id,
        customer_id,
        "wallet.credited",
        money,
        source,
        None,
        Some(grant_id),
        now,
    )
    .await
}

/// Whether the request's key credited the wallet already (its first
/// attempt committed and its answer was lost): its retry then answers the
/// wallet and credits nothing again. Key reused for another request: 422.
pub async fn credited_by(state: &AppState, key: Option<&IdempotencyKey>) -> Result<bool> {
    let Some(key) = key else { return Ok(false) };
    let mut conn = state.db.pool.acquire().await?;
    let bound = obol_store::idempotency::bound(
        &mut conn,
        &key.scope,
        &key.key,
        obol_store::idempotency::BoundObject::WalletCredit,
    )
    .await?;
    match bound {
        Some((_, request_hash)) if request_hash == key.request_hash => Ok(true),
        Some(_) => Err(Error::Kernel(
            obol_kernel::error::ApiError::idempotency_key_reused(),
        )),
        None => Ok(false),
    }
}

/// Binds grant `grant_id` to the request's key, inside its transaction.
pub async fn bind_credit(
    conn: &mut Conn,
    key: Option<&IdempotencyKey>,
    grant_id: &str,
    now: Timestamp,
) -> Result<()> {
    if let Some(key) = key {
        obol_store::idempotency::bind(
            conn,
            &key.binding(),
            obol_store::idempotency::BoundObject::WalletCredit,
            grant_id,
            now.as_ms(),
        )
        .await?;
    }
    Ok(())
}

/// Grants credit to the customer's wallet: `promotions` → granted credit,
/// with `wallet.credited`, and its expiry scheduled, in one transaction.
pub async fn grant(
    state: &AppState,
    brand_id: &BrandId,
    customer_id: &CustomerId,
    input: GrantCredit,
    key: Option<&IdempotencyKey>,
) -> Result<Wallet> {
    if credited_by(state, key).await? {
        return get(state, brand_id, customer_id).await;
    }
    let now = state.now();
    let currency = validate::currency("currency", &input.currency)?;
    if !(1..=AMOUNT_MAX).contains(&input.amount) {
        return Err(Error::invalid(
            "amount",
            format!("amount must be a positive integer in minor units, at most {AMOUNT_MAX}"),
        ));
    }
    let reason = validate::text("reason", input.reason.trim(), 1, REASON_MAX_CHARS)?;
    let expires_at = input
        .expires_at
        .as_deref()
        .map(|text| validate::future_time("expires_at", text, now))
        .transpose()?;
    let mut tx = state.db.begin().await?;
    live_customer(&mut tx, brand_id, customer_id).await?;
    let money = Money {
        amount_minor: input.amount,
        currency,
    };
    let grant_id = add_grant(
        state,
        &mut tx,
        brand_id,
        customer_id,
        money,
        &reason,
        "grant",
        expires_at,
        now,
    )
    .await?;
    record_movement(
        &mut tx,
        brand_id,
        customer_id,
        "wallet.credited",
        money,
        "grant",
        None,
        Some(&grant_id),
        now,
    )
    .await?;
    bind_credit(&mut tx, key, &grant_id, now).await?;
    let wallet = wallet_in(&mut tx, brand_id, customer_id).await?;
    tx.commit().await?;
    Ok(wallet)
}

/// Adds a grant of `money` inside the caller's transaction: its row, its
/// ledger entry and its expiry job; returns its id. Redeem codes use it too.
#[allow(clippy::too_many_arguments)]
pub async fn add_grant(
    state: &AppState,
    conn: &mut Conn,
    brand_id: &BrandId,
    customer_id: &CustomerId,
    money: Money,
    reason: &str,
    source: &str,
    expires_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<String> {
    let row = GrantRow {
        id: obol_core::new_id("wgr"),
        brand_id: brand_id.clone(),
        customer_id: customer_id.clone(),
        currency: money.currency.code().to_owned(),
        amount: money.amount_minor,
        remaining: money.amount_minor,
        reason: reason.to_owned(),
        source: source.to_owned(),
        expires_at: expires_at.map(Timestamp::as_ms),
        expired_at: None,
        created_at: now.as_ms(),
    };
    obol_store::wallets::insert_grant(conn, &row).await?;
    let entry = NewEntry {
        brand_id: brand_id.clone(),
        description: format!("granted credit {}: {reason}", row.id),
        order_id: None,
        customer_id: Some(customer_id.clone()),
        postings: vec![
            (
                brand_account(brand_id, AccountType::Promotions, money.currency),
                money.amount_minor,
            ),
            (
                wallet_account(
                    brand_id,
                    AccountType::WalletGranted,
                    customer_id,
                    money.currency,
                ),
                -money.amount_minor,
            ),
        ],
    };
    ledger::post(conn, &state.caches, entry, now).await?;
    if let Some(at) = expires_at {
        let job = ExpireGrant {
            grant_id: row.id.clone(),
        }
        .at(at);
        obol_kernel::jobs::enqueue(conn, &job, now).await?;
    }
    Ok(row.id)
}

/// Removes what is left of a grant at its `expires_at`: granted credit
/// back to `promotions`, with a ledger entry and `wallet.debited`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ExpireGrant {
    pub grant_id: String,
}

impl Job for ExpireGrant {
    const KIND: &'static str = "wallets.expire_grant";

    async fn run(self, state: AppState) -> std::result::Result<(), JobError> {
        expire_grant(&state, &self.grant_id)
            .await
            .map_err(|error| JobError::new(error.to_string()))
    }
}

async fn expire_grant(state: &AppState, grant_id: &str) -> Result<()> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let Some(grant) =
        obol_store::wallets::grant_for_update(&mut tx, state.db.backend, grant_id).await?
    else {
        return Ok(());
    };
    if grant.expired_at.is_some() {
        return Ok(());
    }
    let currency = Currency::parse(&grant.currency)
        .ok_or_else(|| Error::internal(format!("grant {grant_id} has a corrupt currency")))?;
    let left = grant.remaining;
    obol_store::wallets::expire(&mut tx, grant_id, now.as_ms()).await?;
    if left > 0 {
        let entry = NewEntry {
            brand_id: grant.brand_id.clone(),
            description: format!("granted credit {grant_id} expired"),
            order_id: None,
            customer_id: Some(grant.customer_id.clone()),
            postings: vec![
                (
                    wallet_account(
                        &grant.brand_id,
                        AccountType::WalletGranted,
                        &grant.customer_id,
                        currency,
                    ),
                    left,
                ),
                (
                    brand_account(&grant.brand_id, AccountType::Promotions, currency),
                    -left,
                ),
            ],
        };
        ledger::post(&mut tx, &state.caches, entry, now).await?;
        let money = Money {
            amount_minor: left,
            currency,
        };
        record_movement(
            &mut tx,
            &grant.brand_id,
            &grant.customer_id,
            "wallet.debited",
            money,
            "expiry",
            None,
            Some(grant_id),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
