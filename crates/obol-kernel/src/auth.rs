//! Who is calling, and whether they may: API keys resolved once per request,
//! and every route's permission decided in `authorize`.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use obol_core::Role;
use obol_core::{ApiKeyId, BrandId};
use sha2::{Digest, Sha256};

/// The caller behind a request's key.
#[derive(Debug, Clone)]
pub enum Principal {
    /// The platform admin key: brands and the test clock only.
    Admin,
    /// A brand's secret key with its role.
    Secret {
        brand_id: BrandId,
        key_id: ApiKeyId,
        role: Role,
    },
    /// A brand's publishable key (hosted pages).
    Publishable { brand_id: BrandId, key_id: ApiKeyId },
}

impl Principal {
    /// The id of the brand key behind this caller.
    pub fn key_id(&self) -> Option<&ApiKeyId> {
        match self {
            Principal::Admin => None,
            Principal::Secret { key_id, .. } | Principal::Publishable { key_id, .. } => {
                Some(key_id)
            }
        }
    }

    /// The namespace of this caller's idempotency keys.
    pub fn idempotency_scope(&self) -> String {
        match self {
            Principal::Admin => "admin".into(),
            Principal::Secret { brand_id, .. } => brand_id.to_string(),
            // Apart from the brand's secret keys, so a checkout page can
            // neither replay nor block a key the merchant uses.
            Principal::Publishable { brand_id, .. } => format!("pk:{brand_id}"),
        }
    }
}

/// SHA-256 of a secret in hex: what is stored and looked up.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compares two strings without an early exit on the first difference.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Resolves the bearer key into a `Principal` and checks the route's
/// permission before the handler runs.
pub async fn middleware(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_default();
    let method = request.method().as_str().to_owned();
    let principal = match resolve(&state, request.headers()).await {
        Ok(principal) => principal,
        Err(error) => return axum::response::IntoResponse::into_response(error),
    };
    if let Err(error) = authorize(&principal, &method, &route) {
        return axum::response::IntoResponse::into_response(error);
    }
    request.extensions_mut().insert(principal);
    next.run(request).await
}

async fn resolve(state: &AppState, headers: &axum::http::HeaderMap) -> Result<Principal, ApiError> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::unauthenticated(
                "no API key given: use the header Authorization: Bearer <key>",
            )
        })?;
    let key = header
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .ok_or_else(|| {
            ApiError::unauthenticated("malformed Authorization header: expected Bearer <key>")
        })?;
    let hash = hash_secret(key);
    if key.starts_with("sk_") || key.starts_with("pk_") {
        if let Some(principal) = state.caches.key(&hash) {
            return Ok(principal);
        }
        let mut conn = state.db.pool.acquire().await.map_err(ApiError::internal)?;
        let row = obol_store::api_keys::find_active_by_hash(&mut conn, &hash)
            .await?
            .ok_or_else(|| ApiError::unauthenticated("invalid API key"))?;
        let principal = match (row.kind.as_str(), Role::parse(&row.role)) {
            ("publishable", _) => Ok(Principal::Publishable {
                brand_id: row.brand_id,
                key_id: row.id,
            }),
            ("secret", Some(role)) => Ok(Principal::Secret {
                brand_id: row.brand_id,
                key_id: row.id,
                role,
            }),
            _ => Err(ApiError::internal(format!(
                "api key {} has a corrupt kind or role",
                row.id
            ))),
        }?;
        state.caches.remember_key(hash, principal.clone());
        return Ok(principal);
    }
    if let Some(expected) = &state.admin_key_hash
        && constant_time_eq(expected, &hash)
    {
        return Ok(Principal::Admin);
    }
    let mut conn = state.db.pool.acquire().await.map_err(ApiError::internal)?;
    if obol_store::api_keys::admin_exists(&mut conn, &hash).await? {
        return Ok(Principal::Admin);
    }
    Err(ApiError::unauthenticated("invalid API key"))
}

/// The one place that decides whether `principal` may call `method` on
/// `route` (the route pattern, e.g. `/v1/customers/{id}`).
pub fn authorize(principal: &Principal, method: &str, route: &str) -> Result<(), ApiError> {
    let admin_route =
        route.starts_with("/v1/test_clock") || (route == "/v1/brands" && method == "POST");
    let brand_route = route.starts_with("/v1/brands/");
    match principal {
        Principal::Admin if admin_route || brand_route => Ok(()),
        Principal::Admin => Err(ApiError::forbidden(
            "the admin key manages brands and the test clock only; use a brand's secret key",
        )),
        Principal::Publishable { .. } if publishable_route(method, route) => Ok(()),
        Principal::Publishable { .. } => Err(ApiError::unauthenticated(
            "a publishable key may only read and confirm an order with its client_secret",
        )),
        Principal::Secret { .. } if admin_route => {
            Err(ApiError::forbidden("this route needs the admin key"))
        }
        Principal::Secret { role, .. } if role.allows(method, route) => Ok(()),
        Principal::Secret { role, .. } => Err(ApiError::forbidden(format!(
            "the role {} may not {method} {route}",
            role.as_str()
        ))),
    }
}

/// The routes a publishable key may call (with the order's client_secret).
fn publishable_route(method: &str, route: &str) -> bool {
    matches!(
        (method, route),
        ("GET", "/v1/orders/{id}") | ("POST", "/v1/orders/{id}/confirm")
    )
}

/// The caller of an order route: a secret key of the brand, or a
/// publishable key that named the order's client secret.
#[derive(Debug, Clone)]
pub enum OrderCaller {
    Secret(BrandAuth),
    Publishable { brand_id: BrandId },
}

impl OrderCaller {
    pub fn brand_id(&self) -> &BrandId {
        match self {
            OrderCaller::Secret(auth) => &auth.brand_id,
            OrderCaller::Publishable { brand_id } => brand_id,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for OrderCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match parts.extensions.get::<Principal>() {
            Some(Principal::Publishable { brand_id, .. }) => Ok(OrderCaller::Publishable {
                brand_id: brand_id.clone(),
            }),
            _ => BrandAuth::from_request_parts(parts, state)
                .await
                .map(OrderCaller::Secret),
        }
    }
}

/// A brand's secret key on a brand route: which brand, which role.
#[derive(Debug, Clone)]
pub struct BrandAuth {
    pub brand_id: BrandId,
    pub key_id: ApiKeyId,
    pub role: Role,
}

impl<S: Send + Sync> FromRequestParts<S> for BrandAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        match parts.extensions.get::<Principal>() {
            Some(Principal::Secret {
                brand_id,
                key_id,
                role,
            }) => Ok(BrandAuth {
                brand_id: brand_id.clone(),
                key_id: key_id.clone(),
                role: *role,
            }),
            Some(Principal::Admin) => {
                Err(ApiError::forbidden("this route needs a brand's secret key"))
            }
            _ => Err(ApiError::unauthenticated(
                "this route needs a brand's secret key",
            )),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| ApiError::unauthenticated("no API key given"))
    }
}
