//! Customer wallets: one balance per currency, held as two ledger accounts
//! of the customer, paid credit (`customer_wallet`, from top-ups) and
//! granted credit (`wallet_granted`, from grants and redeem codes, with
//! `promotions` as its source), so reports tell paid money from granted.
//! Both are credit-normal: what Obol owes the customer, never in debit.
//! A payment spends granted credit that expires soonest first, then other
//! granted credit (oldest first), then paid credit; each grant keeps what
//! is left of it, removed at its `expires_at` by `ExpireGrant`.

pub(crate) mod api;
mod grants;

pub use grants::{
    ExpireGrant, GrantCredit, add_grant, bind_credit, credited_by, grant, record_credit,
};

pub use crate::error::Error;
use crate::error::Result;
use crate::ledger::{self, AccountKey, AccountType, NewEntry};
use obol_core::{BrandId, Currency, CustomerId, Money, OrderId, Timestamp};
use obol_kernel::events;
use obol_kernel::state::AppState;
use obol_store::Conn;
use serde::Serialize;
use utoipa::ToSchema;

/// Largest amount of one credit, as for orders: 2^53 − 1 minor units.
const AMOUNT_MAX: i64 = (1 << 53) - 1;

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

/// The brand's own account of `account_type` in `currency`.
pub fn brand_account(
    brand_id: &BrandId,
    account_type: AccountType,
    currency: Currency,
) -> AccountKey {
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
    let description = format!("top-up {}", wallet.order_id);
    credit_paid(state, conn, wallet, money, from, "top_up", description, now).await
}

/// Credits `money` from `from` (the brand's balance, for billing's credit
/// of unused time or a credit note) to the customer's paid credit inside
/// the caller's transaction, with `wallet.credited` naming `source`.
#[allow(clippy::too_many_arguments)]
pub async fn credit_paid(
    state: &AppState,
    conn: &mut Conn,
    wallet: OrderWallet<'_>,
    money: Money,
    from: AccountKey,
    source: &str,
    description: String,
    now: Timestamp,
) -> Result<()> {
    let OrderWallet {
        brand_id,
        customer_id,
        order_id,
    } = wallet;
    let entry = NewEntry {
        brand_id: brand_id.clone(),
        description,
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
        source,
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
