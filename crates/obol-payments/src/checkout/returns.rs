//! The 3-D Secure return: where a challenge (or a crypto invoice) sends the
//! customer back to. Obol signs the return's parameters when it sends the
//! payment (HMAC under the master key, an expiry, a one-time nonce); the
//! return is honoured once, before its expiry, and then Obol asks the
//! connector for the outcome: the parameters only say which payment to ask
//! about, never how it went.

use crate::error::Error;
use crate::orders::operations;
use obol_core::time::HOUR_MS;
use obol_core::{OrderId, TransactionId};
use obol_kernel::auth::constant_time_eq;
use obol_kernel::state::AppState;

/// How long a signed return stays valid: longer than any challenge or
/// invoice takes, short enough that an old link is useless.
pub const RETURN_TTL_MS: i64 = HOUR_MS;

/// The query of a signed return, as received.
#[derive(Debug, Default)]
pub struct ReturnParams {
    pub transaction_id: Option<String>,
    pub expires: Option<String>,
    pub nonce: Option<String>,
    pub sig: Option<String>,
}

fn signature(
    state: &AppState,
    order_id: &OrderId,
    txn: &str,
    expires: &str,
    nonce: &str,
) -> String {
    let signed = format!("{order_id}.{txn}.{expires}.{nonce}");
    state
        .master_key
        .hmac_hex("checkout_return", signed.as_bytes())
}

/// The signed return URL for the payment `transaction_id` of `order_id`,
/// valid for [`RETURN_TTL_MS`] from now.
pub fn signed_url(state: &AppState, order_id: &OrderId, transaction_id: &TransactionId) -> String {
    let expires = (state.now().as_ms() + RETURN_TTL_MS) / 1000;
    let expires = expires.to_string();
    let nonce = obol_core::id::random_token(24);
    let sig = signature(state, order_id, transaction_id.as_str(), &expires, &nonce);
    format!(
        "{}/v1/orders/{order_id}/return?transaction_id={transaction_id}&expires={expires}&nonce={nonce}&sig={sig}",
        state.public_url
    )
}

/// A refused return: why, and whether its signature held (a genuine
/// return used twice or too late, whose visitor may go back to the page).
#[derive(Debug)]
pub struct Refused {
    pub error: Error,
    pub signed: bool,
}

/// A refusal naming the parameter that failed.
fn rejected(param: &str, message: &str, signed: bool) -> Refused {
    Refused {
        error: Error::invalid(param, message.to_owned()),
        signed,
    }
}

/// Honours a signed return: checks the signature, the expiry and the
/// nonce (spent by this use), then syncs the payment with its connector;
/// answers where the customer goes next. A tampered, expired or replayed
/// return is refused and changes nothing.
pub async fn complete(
    state: &AppState,
    order_id: &OrderId,
    params: ReturnParams,
) -> std::result::Result<String, Refused> {
    let (Some(txn), Some(expires), Some(nonce), Some(sig)) = (
        params.transaction_id,
        params.expires,
        params.nonce,
        params.sig,
    ) else {
        return Err(Refused {
            error: Error::invalid_request(
                "parameter_missing",
                "the return is missing its signed parameters",
            ),
            signed: false,
        });
    };
    let expected = signature(state, order_id, &txn, &expires, &nonce);
    if !constant_time_eq(&sig, &expected) {
        return Err(rejected(
            "sig",
            "the return's signature does not match",
            false,
        ));
    }
    let expires_ms = expires
        .parse::<i64>()
        .ok()
        .and_then(|seconds| seconds.checked_mul(1000))
        .ok_or_else(|| rejected("expires", "the return's expiry is malformed", true))?;
    let now = state.now();
    if now.as_ms() > expires_ms {
        return Err(rejected("expires", "the return has expired", true));
    }
    let fault = |error: Error| Refused {
        error,
        signed: true,
    };
    let transaction_id = TransactionId::from(txn.as_str());
    let mut conn = state.db.pool.acquire().await.map_err(|e| fault(e.into()))?;
    let transaction = obol_store::orders::find_transaction(&mut conn, &transaction_id)
        .await
        .map_err(|e| fault(e.into()))?
        .filter(|t| t.order_id == *order_id)
        .ok_or_else(|| {
            rejected(
                "transaction_id",
                "the return names no payment of this order",
                true,
            )
        })?;
    drop(conn);
    let spend = async {
        let mut tx = state.db.begin().await?;
        let fresh = obol_store::checkout::spend_return_nonce(
            &mut tx,
            &nonce,
            order_id,
            &transaction_id,
            now.as_ms(),
        )
        .await?;
        tx.commit().await?;
        Ok::<_, Error>(fresh)
    };
    if !spend.await.map_err(fault)? {
        return Err(rejected("nonce", "the return was already used", true));
    }
    // The nonce is spent: whatever the sync says, the customer goes on. A
    // sync that fails leaves the payment to its sync job, and the page
    // shows it as it stands.
    if let Err(error) = operations::sync_transaction(state, &transaction).await {
        tracing::warn!(%order_id, transaction_id = transaction_id.as_str(), %error,
            "a 3-D Secure return could not sync its payment; its sync job will");
    }
    match crate::orders::get(state, &transaction.brand_id, order_id).await {
        Ok(order) => Ok(super::landing(state, &order)),
        Err(error) => {
            tracing::warn!(%order_id, %error, "a 3-D Secure return could not read its order");
            Ok(crate::orders::views::payment_link(state, order_id))
        }
    }
}
