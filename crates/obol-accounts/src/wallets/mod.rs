//! Customer wallets: one balance per currency, held as two ledger accounts
//! of the customer, paid credit (`customer_wallet`, from top-ups) and
//! granted credit (`wallet_granted`, from grants and redeem codes, with
//! `promotions` as its source), so reports tell paid money from granted.
//! Both are credit-normal: what Obol owes the customer, never in debit.
//! A payment spends granted credit that expires soonest first, then other
//! granted credit (oldest first), then paid credit; each grant keeps what
//! is left of it, removed at its `expires_at` by `ExpireGrant`.

pub(crate) mod api;

pub use crate::error::Error;
use crate::error::Result;
use crate::ledger::{self, AccountKey, AccountType, NewEntry};
use obol_core::{BrandId, Currency, CustomerId, Money, OrderId, Timestamp, validate};
use obol_kernel::events;
use obol_kernel::idempotency::IdempotencyKey;
use obol_kernel::jobs::{Job, JobError};
use obol_kernel::state::AppState;
use obol_store::Conn;
use obol_store::wallets::GrantRow;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Largest amount of one credit, as for orders: 2^53 − 1 minor units.
const AMOUNT_MAX: i64 = (1 << 53) - 1;
const REASON_MAX_CHARS: usize = 500;

/// A wallet as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Wallet {
    /// Always `wallet`.
    pub object: &'static str,
    pub customer_id: String,
    /// One per currency the customer has held credit in.
    pub balances: Vec<WalletBalance>,
}

/// A wallet's credit in one currency, in its minor units.
#[derive(Debug, Serialize, ToSchema)]
pub struct WalletBalance {
    pub currency: String,
    /// What the customer can spend: paid plus granted.
    pub available: i64,
    /// From top-ups.
    pub paid: i64,
    /// From grants and redeem codes.
    pub granted: i64,
}

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

/// What a `wallet.credited` or `wallet.debited` event carries.
#[derive(Debug, Serialize)]
struct WalletMovement<'a> {
    object: &'static str,
    customer_id: &'a str,
    currency: &'a str,
    amount: i64,
    /// `top_up`, `grant`, `redeem_code`, `payment`, `refund`, `expiry`.
    source: &'a str,
    order_id: Option<&'a str>,
    grant_id: Option<&'a str>,
    wallet: &'a Wallet,
}

/// The wallet an order's payment moves: its brand, customer and order.
#[derive(Debug, Clone, Copy)]
pub struct OrderWallet<'a> {
    pub brand_id: &'a BrandId,
    pub customer_id: &'a CustomerId,
    pub order_id: &'a OrderId,
}

fn wallet_account(
    brand_id: &BrandId,
    account_type: AccountType,
    customer_id: &CustomerId,
    currency: Currency,
) -> AccountKey {
    AccountKey {
        brand_id: brand_id.clone(),
        account_type,
        currency,
        owner_id: Some(customer_id.to_string()),
    }
}

fn brand_account(brand_id: &BrandId, account_type: AccountType, currency: Currency) -> AccountKey {
    AccountKey {
        brand_id: brand_id.clone(),
        account_type,
        currency,
        owner_id: None,
    }
}

/// The customer's paid-credit account in `currency`.
pub fn paid_account(
    brand_id: &BrandId,
    customer_id: &CustomerId,
    currency: Currency,
) -> AccountKey {
    wallet_account(brand_id, AccountType::CustomerWallet, customer_id, currency)
}

/// The customer's wallet, read inside `conn`.
pub async fn wallet_in(
    conn: &mut Conn,
    brand_id: &BrandId,
    customer_id: &CustomerId,
) -> Result<Wallet> {
    let accounts =
        obol_store::ledger::wallet_accounts(conn, brand_id, customer_id.as_str()).await?;
    let mut balances: Vec<WalletBalance> = Vec::new();
    for account in accounts {
        let owed = -account.balance;
        let at = match balances.iter().position(|b| b.currency == account.currency) {
            Some(at) => at,
            None => {
                balances.push(WalletBalance {
                    currency: account.currency.clone(),
                    available: 0,
                    paid: 0,
                    granted: 0,
                });
                balances.len() - 1
            }
        };
        let balance = &mut balances[at];
        if account.account_type == AccountType::WalletGranted.as_str() {
            balance.granted += owed;
        } else {
            balance.paid += owed;
        }
        balance.available += owed;
    }
    balances.sort_by(|a, b| a.currency.cmp(&b.currency));
    Ok(Wallet {
        object: "wallet",
        customer_id: customer_id.to_string(),
        balances,
    })
}

async fn customer_exists(
    conn: &mut Conn,
    brand_id: &BrandId,
    customer_id: &CustomerId,
) -> Result<()> {
    obol_store::customers::get(conn, brand_id, customer_id)
        .await?
        .map(|_| ())
        .ok_or_else(|| Error::not_found("customer", customer_id.as_str()))
}

/// A customer credit may go to: one of the brand's, not deleted (a deleted
/// one's wallet can still be read, as its orders can).
pub async fn live_customer(
    conn: &mut Conn,
    brand_id: &BrandId,
    customer_id: &CustomerId,
) -> Result<()> {
    obol_store::customers::get(conn, brand_id, customer_id)
        .await?
        .filter(|customer| customer.deleted_at.is_none())
        .map(|_| ())
        .ok_or_else(|| Error::not_found("customer", customer_id.as_str()))
}

/// `GET /v1/customers/{id}/wallet`.
pub async fn get(state: &AppState, brand_id: &BrandId, customer_id: &CustomerId) -> Result<Wallet> {
    let mut conn = state.db.pool.acquire().await?;
    customer_exists(&mut conn, brand_id, customer_id).await?;
    wallet_in(&mut conn, brand_id, customer_id).await
}

#[allow(clippy::too_many_arguments)]
async fn record_movement(
    conn: &mut Conn,
    brand_id: &BrandId,
    customer_id: &CustomerId,
    event_type: &str,
    money: Money,
    source: &str,
    order_id: Option<&OrderId>,
    grant_id: Option<&str>,
    now: Timestamp,
) -> Result<()> {
    let wallet = wallet_in(conn, brand_id, customer_id).await?;
    let movement = WalletMovement {
        object: "wallet_movement",
        customer_id: customer_id.as_str(),
        currency: money.currency.code(),
        amount: money.amount_minor,
        source,
        order_id: order_id.map(OrderId::as_str),
        grant_id,
        wallet: &wallet,
    };
    events::record(
        conn,
        brand_id,
        event_type,
        customer_id.as_str(),
        Some(customer_id),
        &movement,
        now,
    )
    .await?;
    Ok(())
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
    let expires_at = match &input.expires_at {
        None => None,
        Some(text) => Some(
            Timestamp::parse_rfc3339(text)
                .filter(|at| *at > now)
                .ok_or_else(|| {
                    Error::invalid(
                        "expires_at",
                        "expires_at must be an RFC 3339 time in the future",
                    )
                })?,
        ),
    };
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

/// Credits a paid top-up inside the caller's transaction: the money the
/// order's capture put in `from` becomes the customer's paid credit, with
/// `wallet.credited`.
pub async fn credit_top_up(
    state: &AppState,
    conn: &mut Conn,
    wallet: OrderWallet<'_>,
    money: Money,
    from: AccountKey,
    now: Timestamp,
) -> Result<()> {
    let OrderWallet {
        brand_id,
        customer_id,
        order_id,
    } = wallet;
    let entry = NewEntry {
        brand_id: brand_id.clone(),
        description: format!("top-up {order_id}"),
        order_id: Some(order_id.clone()),
        customer_id: Some(customer_id.clone()),
        postings: vec![
            (from, money.amount_minor),
            (
                paid_account(brand_id, customer_id, money.currency),
                -money.amount_minor,
            ),
        ],
    };
    ledger::post(conn, &state.caches, entry, now).await?;
    record_movement(
        conn,
        brand_id,
        customer_id,
        "wallet.credited",
        money,
        "top_up",
        Some(order_id),
        None,
        now,
    )
    .await
}

/// Spends `money` from the customer's wallet for the order, inside the
/// caller's transaction: granted credit first (soonest expiring first),
/// then paid credit, into `to`, with `wallet.debited`. Not enough:
/// `insufficient_funds`, and the caller rolls back.
pub async fn spend(
    state: &AppState,
    conn: &mut Conn,
    wallet: OrderWallet<'_>,
    money: Money,
    to: AccountKey,
    now: Timestamp,
) -> Result<()> {
    let OrderWallet {
        brand_id,
        customer_id,
        order_id,
    } = wallet;
    let grants = obol_store::wallets::spendable_grants(
        conn,
        state.db.backend,
        brand_id,
        customer_id,
        money.currency.code(),
        now.as_ms(),
    )
    .await?;
    let mut left = money.amount_minor;
    let mut from_grants = 0;
    for grant in grants {
        if left == 0 {
            break;
        }
        let take = grant.remaining.min(left);
        if !obol_store::wallets::add_to_remaining(conn, &grant.id, -take).await? {
            return Err(ledger::insufficient_funds(Some(order_id)));
        }
        obol_store::wallets::add_spend(conn, order_id, &grant.id, take).await?;
        left -= take;
        from_grants += take;
    }
    let mut postings = vec![(to, -money.amount_minor)];
    if from_grants > 0 {
        postings.push((
            wallet_account(
                brand_id,
                AccountType::WalletGranted,
                customer_id,
                money.currency,
            ),
            from_grants,
        ));
    }
    if left > 0 {
        postings.push((paid_account(brand_id, customer_id, money.currency), left));
    }
    let entry = NewEntry {
        brand_id: brand_id.clone(),
        description: format!("wallet payment of {order_id}"),
        order_id: Some(order_id.clone()),
        customer_id: Some(customer_id.clone()),
        postings,
    };
    ledger::post(conn, &state.caches, entry, now).await?;
    record_movement(
        conn,
        brand_id,
        customer_id,
        "wallet.debited",
        money,
        "payment",
        Some(order_id),
        None,
        now,
    )
    .await
}

/// Gives `money` of the order's wallet payment back from `from`, inside
/// the caller's transaction: paid credit first, then the granted part to
/// the grants it came from (the last spent first); a grant that has expired
/// since keeps nothing, its part goes back to `promotions`. `unrefunded`
/// is what the wallet paid less what earlier refunds gave back.
#[allow(clippy::too_many_arguments)]
pub async fn refund(
    state: &AppState,
    conn: &mut Conn,
    wallet: OrderWallet<'_>,
    money: Money,
    unrefunded: i64,
    from: AccountKey,
    now: Timestamp,
) -> Result<()> {
    let OrderWallet {
        brand_id,
        customer_id,
        order_id,
    } = wallet;
    obol_store::wallets::lock_spent_grants(conn, state.db.backend, order_id).await?;
    let spends = obol_store::wallets::spends_of(conn, order_id).await?;
    let granted_left: i64 = spends.iter().map(|(_, amount)| amount).sum();
    // Refunds give paid credit back first, so grants keep their spends
    // until the paid part is all back.
    let paid_left = (unrefunded - granted_left).max(0);
    let to_paid = money.amount_minor.min(paid_left);
    let mut to_granted = money.amount_minor - to_paid;
    let mut postings = vec![(from, money.amount_minor)];
    if to_paid > 0 {
        postings.push((
            paid_account(brand_id, customer_id, money.currency),
            -to_paid,
        ));
    }
    let mut granted_back = 0;
    let mut expired_back = 0;
    for (grant_id, amount) in spends {
        if to_granted == 0 {
            break;
        }
        let back = amount.min(to_granted);
        obol_store::wallets::reduce_spend(conn, order_id, &grant_id, back).await?;
        if obol_store::wallets::add_to_remaining(conn, &grant_id, back).await? {
            granted_back += back;
        } else {
            expired_back += back;
        }
        to_granted -= back;
    }
    if to_granted > 0 {
        return Err(Error::internal(format!(
            "a wallet refund of {order_id} exceeds what the wallet paid"
        )));
    }
    if granted_back > 0 {
        postings.push((
            wallet_account(
                brand_id,
                AccountType::WalletGranted,
                customer_id,
                money.currency,
            ),
            -granted_back,
        ));
    }
    if expired_back > 0 {
        postings.push((
            brand_account(brand_id, AccountType::Promotions, money.currency),
            -expired_back,
        ));
    }
    let entry = NewEntry {
        brand_id: brand_id.clone(),
        description: format!("wallet refund of {order_id}"),
        order_id: Some(order_id.clone()),
        customer_id: Some(customer_id.clone()),
        postings,
    };
    ledger::post(conn, &state.caches, entry, now).await?;
    record_movement(
        conn,
        brand_id,
        customer_id,
        "wallet.credited",
        money,
        "refund",
        Some(order_id),
        None,
        now,
    )
    .await
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
