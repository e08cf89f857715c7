//! Redeem codes: a brand's codes that credit a customer's wallet with
//! granted credit (`promotions` → `wallet_granted`, through the wallets'
//! grants), once per customer and never beyond `max_redemptions`, even
//! concurrently: a unique redemption per code and customer and a
//! conditional count settle it in the database. A code is looked up by a
//! keyed hash of its text and kept sealed to be shown to the brand again.
//! Failed attempts are counted per customer and per API key: past the
//! limit, 429 with `Retry-After`.

pub(crate) mod api;

use crate::error::{Error, Result};
use crate::wallets::{self, Wallet};
use obol_core::{ApiKeyId, BrandId, Currency, CustomerId, Money, Timestamp, validate};
use obol_kernel::error::ApiError;
use obol_kernel::idempotency::IdempotencyKey;
use obol_kernel::list::{self, List};
use obol_kernel::state::AppState;
use obol_store::page::PageRequest;
use obol_store::redeem_codes::RedeemCodeRow;
use rand::Rng;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

const AMOUNT_MAX: i64 = (1 << 53) - 1;
/// Failed attempts a customer may make in the window.
const CUSTOMER_FAILURES_MAX: i64 = 10;
/// Failed attempts one API key may make in the window, over all customers.
const KEY_FAILURES_MAX: i64 = 100;
const FAILURE_WINDOW_MS: i64 = 15 * 60 * 1000;
/// A generated code: 16 characters of an alphabet without look-alikes
/// (no 0/O, 1/I/L), about 80 bits.
const GENERATED_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
const GENERATED_LENGTH: usize = 16;

/// A redeem code as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RedeemCode {
    pub id: String,
    /// Always `redeem_code`.
    pub object: &'static str,
    pub code: String,
    pub amount: i64,
    pub currency: String,
    pub max_redemptions: Option<i64>,
    pub redemptions: i64,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    /// `active` or `disabled`.
    pub status: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// `POST /v1/redeem_codes`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRedeemCode {
    pub amount: i64,
    pub currency: String,
    pub max_redemptions: Option<i64>,
    /// RFC 3339, in the future.
    pub expires_at: Option<String>,
    /// 4 to 64 letters, digits and dashes, unique per brand (case is not
    /// significant); a generated unguessable one when absent.
    pub code: Option<String>,
}

/// `POST /v1/redeem_codes/redeem`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Redeem {
    pub code: String,
    pub customer_id: String,
}

/// What a code is matched by: upper case, without surrounding space.
fn normalized(code: &str) -> String {
    code.trim().to_ascii_uppercase()
}

fn code_hash(state: &AppState, brand_id: &BrandId, code: &str) -> String {
    let keyed = format!("{brand_id}:{}", normalized(code));
    state.master_key.hmac_hex("redeem_code", keyed.as_bytes())
}

fn generated_code() -> String {
    let mut rng = rand::rng();
    let chars: String = (0..GENERATED_LENGTH)
        .map(|_| GENERATED_ALPHABET[rng.random_range(0..GENERATED_ALPHABET.len())] as char)
        .collect();
    // XXXX-XXXX-XXXX-XXXX, easier to read out and type.
    chars
        .as_bytes()
        .chunks(4)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

fn view(state: &AppState, row: &RedeemCodeRow) -> Result<RedeemCode> {
    let code = state
        .master_key
        .decrypt(&row.code_ciphertext)
        .map_err(Error::internal)
        .and_then(|bytes| String::from_utf8(bytes).map_err(Error::internal))?;
    Ok(RedeemCode {
        id: row.id.clone(),
        object: "redeem_code",
        code,
        amount: row.amount,
        currency: row.currency.clone(),
        max_redemptions: row.max_redemptions,
        redemptions: row.redemptions,
        expires_at: row.expires_at.map(Timestamp::from_ms),
        status: row.status.clone(),
        created_at: Timestamp::from_ms(row.created_at),
    })
}

pub async fn create(
    state: &AppState,
    brand_id: &BrandId,
    input: CreateRedeemCode,
) -> Result<RedeemCode> {
    let now = state.now();
    let currency = validate::currency("currency", &input.currency)?;
    if !(1..=AMOUNT_MAX).contains(&input.amount) {
        return Err(Error::invalid(
            "amount",
            format!("amount must be a positive integer in minor units, at most {AMOUNT_MAX}"),
        ));
    }
    if input.max_redemptions.is_some_and(|max| max < 1) {
        return Err(Error::invalid(
            "max_redemptions",
            "max_redemptions must be at least 1",
        ));
    }
    let expires_at = input
        .expires_at
        .as_deref()
        .map(|text| validate::future_time("expires_at", text, now))
        .transpose()?;
    let code = match &input.code {
        Some(code) => {
            let code = normalized(code);
            let well_formed = (4..=64).contains(&code.len())
                && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !well_formed {
                return Err(Error::invalid(
                    "code",
                    "code must be 4 to 64 letters, digits and dashes",
                ));
            }
            code
        }
        None => generated_code(),
    };
    let row = RedeemCodeRow {
        id: obol_core::new_id("rdc"),
        brand_id: brand_id.clone(),
        code_hash: code_hash(state, brand_id, &code),
        code_ciphertext: state.master_key.encrypt(code.as_bytes()),
        amount: input.amount,
        currency: currency.code().to_owned(),
        max_redemptions: input.max_redemptions,
        redemptions: 0,
        expires_at: expires_at.map(Timestamp::as_ms),
        status: "active".into(),
        created_at: now.as_ms(),
        updated_at: now.as_ms(),
    };
    let mut tx = state.db.begin().await?;
    if !obol_store::redeem_codes::insert(&mut tx, &row).await? {
        return Err(Error::AlreadyExists {
            what: "redeem code",
            param: "code",
        });
    }
    tx.commit().await?;
    view(state, &row)
}

pub async fn get(state: &AppState, brand_id: &BrandId, id: &str) -> Result<RedeemCode> {
    let mut conn = state.db.pool.acquire().await?;
    let row = obol_store::redeem_codes::get(&mut conn, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("redeem code", id))?;
    view(state, &row)
}

pub async fn list(
    state: &AppState,
    brand_id: &BrandId,
    page: &PageRequest,
) -> Result<List<RedeemCode>> {
    let mut conn = state.db.pool.acquire().await?;
    let rows = list::fetch(
        &mut conn,
        page,
        async |conn, after| {
            Ok(obol_store::redeem_codes::get(conn, brand_id, after)
                .await?
                .is_some())
        },
        async |conn, page| obol_store::redeem_codes::list(conn, brand_id, page).await,
    )
    .await?;
    List::of(rows, |row| view(state, &row))
}

/// Disables a code: redemptions are refused from then on.
pub async fn disable(state: &AppState, brand_id: &BrandId, id: &str) -> Result<RedeemCode> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let row = obol_store::redeem_codes::get(&mut tx, brand_id, id)
        .await?
        .ok_or_else(|| Error::not_found("redeem code", id))?;
    if !obol_store::redeem_codes::disable(&mut tx, brand_id, id, now.as_ms()).await? {
        return Err(Error::invalid_state(format!(
            "redeem code {id} is {} already",
            row.status
        )));
    }
    let row = obol_store::redeem_codes::get(&mut tx, brand_id, id)
        .await?
        .ok_or_else(|| Error::internal("redeem code vanished"))?;
    tx.commit().await?;
    view(state, &row)
}

fn refused(code: &str, message: &str) -> Error {
    Error::Kernel(ApiError::bad_request(code, message).with_param("code"))
}

/// Whether `subject` may try now, its own attempt counted; 429 with the
/// seconds to wait.
async fn check_attempts(
    state: &AppState,
    brand_id: &BrandId,
    subject: &str,
    max: i64,
) -> Result<()> {
    let now = state.now().as_ms();
    let mut conn = state.db.pool.acquire().await?;
    let (failures, oldest) = obol_store::redeem_codes::failures_since(
        &mut conn,
        brand_id,
        subject,
        now - FAILURE_WINDOW_MS,
    )
    .await?;
    if failures <= max {
        return Ok(());
    }
    let wait_ms = oldest.map_or(FAILURE_WINDOW_MS, |at| at + FAILURE_WINDOW_MS - now);
    // Whole seconds, rounded up.
    let seconds = u16::try_from((wait_ms.max(0) + 999) / 1000).unwrap_or(u16::MAX);
    Err(Error::Kernel(ApiError::rate_limited(
        "too many failed redemptions; try again later",
        seconds,
    )))
}

/// Redeems a code for a customer: granted credit in their wallet, once per
/// customer, never beyond the code's redemptions; the wallet.
///
/// Each attempt is written as a failure before it is checked and tried, so
/// attempts made at once count each other: of the guesses that turn out
/// wrong, at most the limit were tried (the last of them to count saw them
/// all). An attempt refused, or one that found a real code, takes its rows
/// back.
pub async fn redeem(
    state: &AppState,
    brand_id: &BrandId,
    key_id: &ApiKeyId,
    input: Redeem,
    key: Option<&IdempotencyKey>,
) -> Result<Wallet> {
    let customer_id = CustomerId::from(input.customer_id.as_str());
    if wallets::credited_by(state, key).await? {
        return wallets::get(state, brand_id, &customer_id).await;
    }
    let customer_subject = format!("customer:{customer_id}");
    let key_subject = format!("key:{key_id}");
    let subjects = [customer_subject.as_str(), key_subject.as_str()];
    let attempt_id = obol_core::id::random_token(16);
    let now = state.now().as_ms();
    {
        let mut conn = state.db.write_conn().await?;
        obol_store::redeem_codes::record_attempt(
            &mut conn,
            brand_id,
            &subjects,
            &attempt_id,
            now,
            now - FAILURE_WINDOW_MS,
        )
        .await?;
    }
    let allowed =
        match check_attempts(state, brand_id, &customer_subject, CUSTOMER_FAILURES_MAX).await {
            Ok(()) => check_attempts(state, brand_id, &key_subject, KEY_FAILURES_MAX).await,
            refused => refused,
        };
    let outcome = match allowed {
        Ok(()) => try_redeem(state, brand_id, &customer_id, &input.code, key).await,
        Err(refused) => Err(refused),
    };
    let guess = matches!(&outcome, Err(Error::Kernel(api)) if api.code == "redeem_code_invalid");
    if !guess {
        let cleanup = async {
            let mut conn = state.db.write_conn().await?;
            obol_store::redeem_codes::forget_attempt(&mut conn, brand_id, &subjects, &attempt_id)
                .await?;
            if outcome.is_ok() {
                obol_store::redeem_codes::clear_failures(&mut conn, brand_id, &customer_subject)
                    .await?;
            }
            Ok::<(), obol_store::StoreError>(())
        };
        if let Err(error) = cleanup.await {
            // The redemption stands; its rows only count against guessing.
            tracing::warn!(%error, "could not take back a redemption attempt's rows");
        }
    }
    outcome
}

async fn try_redeem(
    state: &AppState,
    brand_id: &BrandId,
    customer_id: &CustomerId,
    code: &str,
    key: Option<&IdempotencyKey>,
) -> Result<Wallet> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    crate::wallets::live_customer(&mut tx, brand_id, customer_id)
        .await
        .map_err(|error| match error {
            Error::NotFound { what, id, .. } => Error::NotFound {
                what,
                id,
                param: Some("customer_id"),
            },
            other => other,
        })?;
    let hash = code_hash(state, brand_id, code);
    let Some(row) =
        obol_store::redeem_codes::find_for_update(&mut tx, state.db.backend, brand_id, &hash)
            .await?
    else {
        return Err(refused("redeem_code_invalid", "no such redeem code"));
    };
    if row.status != "active" {
        return Err(refused(
            "redeem_code_disabled",
            "this redeem code is disabled",
        ));
    }
    if row.expires_at.is_some_and(|at| at <= now.as_ms()) {
        return Err(refused(
            "redeem_code_expired",
            "this redeem code has expired",
        ));
    }
    let currency = Currency::parse(&row.currency)
        .ok_or_else(|| Error::internal(format!("redeem code {} has a corrupt currency", row.id)))?;
    let money = Money {
        amount_minor: row.amount,
        currency,
    };
    let reason = format!("redeem code {}", row.id);
    let grant_id = wallets::add_grant(
        state,
        &mut tx,
        brand_id,
        customer_id,
        money,
        &reason,
        "redeem_code",
        None,
        now,
    )
    .await?;
    if !obol_store::redeem_codes::insert_redemption(
        &mut tx,
        &row.id,
        customer_id,
        &grant_id,
        now.as_ms(),
    )
    .await?
    {
        return Err(refused(
            "redeem_code_already_redeemed",
            "this customer has redeemed this code already",
        ));
    }
    if !obol_store::redeem_codes::count_redemption(&mut tx, &row.id, now.as_ms()).await? {
        return Err(refused(
            "redeem_code_exhausted",
            "this redeem code has no redemptions left",
        ));
    }
    wallets::record_credit(
        &mut tx,
        brand_id,
        customer_id,
        money,
        "redeem_code",
        &grant_id,
        now,
    )
    .await?;
    wallets::bind_credit(&mut tx, key, &grant_id, now).await?;
    let wallet = wallets::wallet_in(&mut tx, brand_id, customer_id).await?;
    tx.commit().await?;
    Ok(wallet)
}
