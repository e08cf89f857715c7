//! The Obol server, wiring only: each domain's routes and jobs merged, the
//! OpenAPI document, the first start, and serve.

pub mod bootstrap;
pub mod openapi;

pub use obol_accounts::{brands, customers, ledger, redeem_codes, wallets};
pub use obol_kernel::{AppState, Config};
pub use obol_kernel::{auth, crypto, error, events, idempotency, jobs, outbound, state};
pub use obol_payments::{connector_accounts, orders};

use axum::response::IntoResponse;
use axum::{Extension, Router, middleware};
use obol_kernel::api as system;
use obol_kernel::clock::{self, SystemClock, TestClock};
use obol_kernel::error::ApiError;
use obol_kernel::jobs::{self as job_runtime, JobRegistry};
use obol_kernel::outbound::Outbound;
use obol_kernel::request_log;
use obol_store::Db;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Obol", description = "Payments and billing server: the HTTP contract."),
    modifiers(&BearerAuth),
    components(schemas(obol_kernel::error::ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every job kind and due-work scanner: the kernel's and each domain's.
pub fn job_registry() -> JobRegistry {
    let mut registry = JobRegistry::builtin();
    add_domain_jobs(&mut registry);
    registry
}

fn add_domain_jobs(registry: &mut JobRegistry) {
    obol_accounts::jobs(registry);
    obol_payments::jobs(registry);
    obol_billing::jobs(registry);
    obol_notify::jobs(registry);
}

/// A server ready to serve: connected, migrated, state built.
pub struct Server {
    pub state: AppState,
    router: Router,
    openapi: Arc<String>,
    poll_interval: Duration,
}

/// The longest per-call connector timeout accepted (api.md), so that the
/// waits sized from the timeout (sync's "not found" window, how long a
/// request renews its idempotency record) stay bounded.
pub const CONNECTOR_TIMEOUT_MAX_MS: u64 = 60_000;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] obol_store::StoreError),
    #[error("{0}")]
    Api(String),
    #[error("configuration: {0}")]
    Config(String),
}

impl From<ApiError> for StartError {
    fn from(error: ApiError) -> Self {
        StartError::Api(error.message)
    }
}

impl Server {
    /// Connects, migrates and builds the state and router. `jobs` are the job
    /// handlers (built-ins plus any the caller adds).
    pub async fn new(config: &Config, mut jobs: JobRegistry) -> Result<Server, StartError> {
        // A registry built without the domains' due work would leave orders
        // unexpired and unsynced: every server has it, whoever built `jobs`.
        add_domain_jobs(&mut jobs);
        let db = Db::connect(&config.database_url).await?;
        db.migrate().await?;
        let (clock, test_clock): (Arc<dyn clock::Clock>, _) = if config.test_clock {
            let test_clock = Arc::new(TestClock::load(&db).await?);
            (test_clock.clone(), Some(test_clock))
        } else {
            (Arc::new(SystemClock), None)
        };
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", config.listen))
            .trim_end_matches('/')
            .to_owned();
        if !(1..=CONNECTOR_TIMEOUT_MAX_MS).contains(&config.connector_timeout_ms) {
            return Err(StartError::Config(format!(
                "OBOL_CONNECTOR_TIMEOUT_MS must be 1 to {CONNECTOR_TIMEOUT_MAX_MS}"
            )));
        }
        if let Some(failpoint) = &config.failpoint {
            if !state::FAILPOINTS.contains(&failpoint.as_str()) {
                return Err(StartError::Config(format!(
                    "OBOL_FAILPOINT={failpoint} is not a known test hook"
                )));
            }
            tracing::warn!(
                failpoint,
                "a test hook is set (OBOL_FAILPOINT): never in production"
            );
        }
        let master_key = crypto::load(
            config.master_key.as_deref(),
            &config.database_url,
            db.backend,
        )
        .map_err(StartError::Config)?;
        let outbound = Outbound::new(
            config.allow_private_network,
            Duration::from_millis(outbound::TIMEOUT_MS),
        )
        .map_err(|error| StartError::Config(format!("outbound HTTP client: {error}")))?;
        if config.allow_private_network {
            tracing::info!(
                "outbound requests may reach private networks (OBOL_ALLOW_PRIVATE_NETWORK)"
            );
        }
        let mut connectors = obol_connectors::ConnectorRegistry::default();
        let sandbox_state = obol_payments::sandbox::StoreSandboxState::new(db.clone());
        let sandbox = Arc::new(obol_connectors::sandbox::Sandbox::new(
            Arc::new(sandbox_state),
            clock.clone(),
            public_url.clone(),
        ));
        connectors.register(sandbox.clone());
        connectors.register(Arc::new(stripe_connector(&outbound, &public_url)));
        register_crypto_connectors(&mut connectors, &outbound, &public_url);
        let mut parts = axum::http::Extensions::new();
        // Its pages call it directly (a challenge's answer is no API call).
        parts.insert(sandbox);
        parts.insert(Arc::new(connectors));
        // Billing hears of the orders it made inside their payments' transactions.
        parts.insert(obol_payments::listeners::OrderListeners::new(vec![
            obol_billing::order_listener(),
        ]));
        parts.insert(obol_billing::order_coupons());
        parts.insert(Arc::new(obol_notify::Notify::new(
            [
                obol_accounts::EVENT_TYPES,
                obol_payments::EVENT_TYPES,
                obol_billing::EVENT_TYPES,
            ]
            .concat(),
        )));
        let mailer =
            obol_notify::Mailer::new(config.smtp_url.as_deref()).map_err(StartError::Config)?;
        parts.insert(Arc::new(mailer));
        let state = AppState {
            db,
            clock,
            test_clock,
            jobs: Arc::new(jobs),
            admin_key_hash: config.admin_key.as_deref().map(auth::hash_secret),
            public_url: public_url.into(),
            parts: Arc::new(parts),
            master_key: Arc::new(master_key),
            connector_timeout_ms: config.connector_timeout_ms,
            failpoint: config.failpoint.as_deref().map(Arc::from),
            failpoint_armed: Arc::new(true.into()),
            caches: Arc::default(),
            outbound,
        };
        obol_accounts::brands::seal_webhook_secrets(&state)
            .await
            .map_err(ApiError::from)?;
        job_runtime::schedule_maintenance(&state).await?;
        obol_payments::purge::schedule(&state).await?;
        obol_notify::start(&state).await?;
        let (router, openapi) = build_router(state.clone());
        Ok(Server {
            state,
            router,
            openapi,
            poll_interval: Duration::from_millis(config.job_poll_interval_ms),
        })
    }

    /// The OpenAPI document as JSON.
    pub fn openapi_json(&self) -> Arc<String> {
        self.openapi.clone()
    }

    /// Serves on `listener` with the job worker until `shutdown` resolves;
    /// in-flight requests and the job in hand finish first.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop_worker, worker_stop) = tokio::sync::watch::channel(false);
        let worker = tokio::spawn(job_runtime::worker(
            self.state.clone(),
            self.poll_interval,
            worker_stop,
        ));
        let checkpointer = tokio::spawn(checkpoint_loop(
            self.state.db.clone(),
            stop_worker.subscribe(),
        ));
        let result = axum::serve(listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await;
        let _ = stop_worker.send(true);
        let _ = worker.await;
        let _ = checkpointer.await;
        self.state.db.close().await;
        result
    }
}

/// The Stripe connector on the outbound client, its accounts' `api_base`
/// checked by the outbound policy: the client's resolver alone would not
/// see a host given as an IP address.
fn stripe_connector(outbound: &Outbound, public_url: &str) -> obol_connectors::stripe::Stripe {
    let policy = outbound.clone();
    obol_connectors::stripe::Stripe::new(outbound.client().clone(), public_url.to_owned())
        .with_url_guard(Arc::new(move |url| {
            policy
                .check_url(url.as_str())
                .map(|_| ())
                .map_err(|refused| refused.to_string())
        }))
}

/// How often the SQLite write-ahead log is checkpointed: often, so that each
/// restart, which holds the writer, has little left to copy.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(250);

/// Checkpoints SQLite's write-ahead log beside the writer until `stop`.
async fn checkpoint_loop(db: Db, mut stop: tokio::sync::watch::Receiver<bool>) {
    if db.backend != obol_store::Backend::Sqlite {
        return;
    }
    while !*stop.borrow() {
        tokio::select! {
            _ = tokio::time::sleep(CHECKPOINT_INTERVAL) => {}
            _ = stop.changed() => {}
        }
        if let Err(error) = db.checkpoint().await {
            tracing::warn!(%error, "checkpoint failed");
        }
    }
}

fn build_router(state: AppState) -> (Router, Arc<String>) {
    let (api, mut doc) = utoipa_axum::router::OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(obol_accounts::routes())
        .merge(obol_payments::routes())
        .merge(obol_billing::routes())
        .merge(obol_notify::routes())
        .merge(obol_kernel::events::routes())
        .merge(system::test_clock_routes())
        .split_for_parts();
    let api = api
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            idempotency::middleware,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::middleware,
        ));
    let (public, public_doc) = system::public_routes()
        .merge(obol_accounts::public_routes())
        .merge(obol_payments::public_routes())
        .merge(obol_billing::public_routes())
        .routes(utoipa_axum::routes!(openapi_json))
        .split_for_parts();
    doc.merge(public_doc);
    // After the merge: the house rules hold for every domain's operations.
    openapi::Conventions.modify(&mut doc);
    let json = Arc::new(doc.to_json().unwrap_or_else(|_| "{}".into()));
    let router = Router::new()
        .merge(api)
        .merge(public)
        .route(
            obol_kernel::web::STYLESHEET_PATH,
            axum::routing::get(obol_kernel::web::stylesheet),
        )
        .fallback(|| async { ApiError::route_not_found().into_response() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed().into_response() })
        .layer(Extension(json.clone()))
        .layer(middleware::from_fn(request_log::middleware))
        .with_state(state);
    (router, json)
}

/// This document: the OpenAPI 3 description of every route.
#[utoipa::path(get, path = "/openapi.json", tag = "system", responses((status = 200, description = "the OpenAPI document", content_type = "application/json")))]
async fn openapi_json(Extension(json): Extension<Arc<String>>) -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        json.as_str().to_owned(),
    )
}

/// CoinPayments and BitPay, calling out through the server's outbound
/// client, each account's `api_base` checked against its address policy.
fn register_crypto_connectors(
    connectors: &mut obol_connectors::ConnectorRegistry,
    outbound: &Outbound,
    public_url: &str,
) {
    let policy = outbound.clone();
    let guard: obol_connectors::UrlGuard = Arc::new(move |url: &obol_connectors::Url| {
        policy
            .check_url(url.as_str())
            .map(|_| ())
            .map_err(|refused| refused.to_string())
    });
    let client = outbound.client().clone();
    connectors.register(Arc::new(
        obol_connectors::coinpayments::CoinPayments::new(client.clone(), public_url.to_owned())
            .with_url_guard(guard.clone()),
    ));
    connectors.register(Arc::new(
        obol_connectors::bitpay::BitPay::new(client, public_url.to_owned()).with_url_guard(guard),
    ));
}
