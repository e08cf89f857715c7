//! Acceptance "/openapi.json is valid OpenAPI 3 and lists every route the
//! router serves": the document is checked for shape and dangling references,
//! then compared with what the running router answers, method by method.

use crate::harness::{self, ADMIN_KEY, Backend, Options, Resp, TestApp};
use crate::on_both;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

const METHODS: [&str; 5] = ["GET", "POST", "PATCH", "DELETE", "PUT"];
const DUMMY_ID: &str = "xyz_00000000000000000000000000";

/// Routes the brief requires to be served and documented.
const REQUIRED: &[&str] = &[
    "/health",
    "/openapi.json",
    "/v1/brands",
    "/v1/brands/{id}",
    "/v1/api_keys",
    "/v1/api_keys/{id}",
    "/v1/customers",
    "/v1/customers/{id}",
    "/v1/events",
    "/v1/events/{id}",
    "/v1/test_clock",
    "/v1/test_clock/advance",
];

/// Every route the HTTP contract names, served yet or not: whichever of them
/// the router answers must be in the document.
const CONTRACT: &[&str] = &[
    "/v1/api_keys",
    "/v1/api_keys/{id}",
    "/v1/balance",
    "/v1/brands",
    "/v1/brands/{id}",
    "/v1/brands/{id}/license_public_key",
    "/v1/child_brands",
    "/v1/child_brands/{id}/balance",
    "/v1/connector_accounts",
    "/v1/connector_accounts/{id}",
    "/v1/countries",
    "/v1/coupons",
    "/v1/coupons/{id}",
    "/v1/coupons/{id}/disable",
    "/v1/currencies",
    "/v1/customers",
    "/v1/customers/{id}",
    "/v1/customers/{id}/wallet",
    "/v1/customers/{id}/wallet/credits",
    "/v1/disputes",
    "/v1/disputes/{id}",
    "/v1/disputes/{id}/evidence",
    "/v1/events",
    "/v1/events/{id}",
    "/v1/events/{id}/resend",
    "/v1/exchange_rates",
    "/v1/features",
    "/v1/features/{id}",
    "/v1/invoices",
    "/v1/invoices/{id}",
    "/v1/invoices/{id}/credit_notes",
    "/v1/invoices/{id}/finalize",
    "/v1/invoices/{id}/mark_uncollectible",
    "/v1/invoices/{id}/pay",
    "/v1/invoices/{id}/pay_options",
    "/v1/invoices/{id}/pdf",
    "/v1/invoices/{id}/void",
    "/v1/ipn/{connector_account_id}",
    "/v1/ledger/accounts",
    "/v1/ledger/entries",
    "/v1/ledger/entries/{id}",
    "/v1/licenses",
    "/v1/licenses/validate",
    "/v1/licenses/{id}",
    "/v1/licenses/{id}/devices",
    "/v1/licenses/{id}/devices/{device_id}",
    "/v1/licenses/{id}/suspend",
    "/v1/licenses/{id}/reinstate",
    "/v1/licenses/{id}/revoke",
    "/v1/mandates",
    "/v1/mandates/{id}",
    "/v1/mandates/{id}/revoke",
    "/v1/orders",
    "/v1/orders/{id}",
    "/v1/orders/{id}/capture",
    "/v1/orders/{id}/confirm",
    "/v1/orders/{id}/increment_authorization",
    "/v1/orders/{id}/return",
    "/v1/orders/{id}/reverse",
    "/v1/orders/{id}/sync",
    "/v1/orders/{id}/void",
    "/v1/packages",
    "/v1/packages/{id}",
    "/v1/payment_methods",
    "/v1/prices",
    "/v1/prices/{id}",
    "/v1/products",
    "/v1/products/{id}",
    "/v1/redeem_codes",
    "/v1/redeem_codes/redeem",
    "/v1/redeem_codes/{id}",
    "/v1/redeem_codes/{id}/disable",
    "/v1/refunds",
    "/v1/refunds/{id}",
    "/v1/subscriptions",
    "/v1/subscriptions/{id}",
    "/v1/subscriptions/{id}/cancel",
    "/v1/subscriptions/{id}/change",
    "/v1/subscriptions/{id}/pause",
    "/v1/subscriptions/{id}/resume",
    "/v1/tax_rates",
    "/v1/tax_rates/{id}",
    "/v1/test_clock",
    "/v1/test_clock/advance",
    "/v1/time_zones",
    "/v1/transactions",
    "/v1/transactions/{id}",
    "/v1/webhook_endpoints",
    "/v1/webhook_endpoints/{id}",
    "/v1/webhook_endpoints/{id}/deliveries",
];

/// `/v1/customers/{id}` → `/v1/customers/xyz_000…`.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') && segment.ends_with('}') {
                DUMMY_ID
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Sends `method` to a route with the admin key (and `{}` where a body goes).
async fn probe(app: &TestApp, method: &str, path: &str) -> Resp {
    let body = matches!(method, "POST" | "PATCH").then(|| json!({}));
    app.send(method, &concrete(path), Some(ADMIN_KEY), body, &[])
        .await
}

/// The router's own 404 for a path it has no route for.
fn is_unknown_route(answer: &Resp) -> bool {
    answer.status == 404 && answer.body["error"]["message"] == "unrecognized request URL"
}

/// Every `$ref` anywhere in `value`, with where it was found.
fn collect_refs(value: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if key == "$ref"
                    && let Some(target) = child.as_str()
                {
                    out.push((at.to_owned(), target.to_owned()));
                }
                collect_refs(child, &format!("{at}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                collect_refs(child, &format!("{at}/{index}"), out);
            }
        }
        _ => {}
    }
}

async fn fetch_document(app: &TestApp) -> Value {
    let answer = app.send("GET", "/openapi.json", None, None, &[]).await;
    let document = answer.expect(200).clone();
    assert!(
        answer
            .header("content-type")
            .unwrap_or_default()
            .starts_with("application/json"),
        "content type {:?}",
        answer.header("content-type")
    );
    assert!(
        document.is_object(),
        "/openapi.json is not a JSON object: {document}"
    );
    document
}

/// The documented methods of each path, upper case.
fn documented_routes(document: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let paths = document["paths"].as_object().expect("paths is an object");
    paths
        .iter()
        .map(|(path, item)| {
            let methods = item
                .as_object()
                .expect("path item is an object")
                .keys()
                .filter(|key| {
                    METHODS.contains(&key.to_uppercase().as_str())
                        || ["head", "options", "trace"].contains(&key.as_str())
                })
                .map(|key| key.to_uppercase())
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

on_both!(document_is_valid_openapi_3, document_matches_router);

async fn document_is_valid_openapi_3(backend: Backend) {
    let app = harness::spawn_with(
        backend,
        Options {
            test_clock: true,
            ..Options::default()
        },
    )
    .await;
    let document = fetch_document(&app).await;

    let version = document["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3."), "openapi is {version}");
    let title = document["info"]["title"].as_str().unwrap_or_default();
    let info_version = document["info"]["version"].as_str().unwrap_or_default();
    assert!(
        !title.is_empty() && !info_version.is_empty(),
        "info: {}",
        document["info"]
    );

    // Every reference resolves to a schema of the document.
    let schemas = document["components"]["schemas"]
        .as_object()
        .expect("components.schemas");
    let mut refs = Vec::new();
    collect_refs(&document, "#", &mut refs);
    assert!(
        !refs.is_empty(),
        "no $ref at all: the schemas are not referenced"
    );
    for (at, target) in &refs {
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| {
                panic!("{at}: $ref {target} is not a #/components/schemas/ reference")
            });
        assert!(
            schemas.contains_key(name),
            "{at}: $ref {target} names no schema"
        );
    }

    // Each operation: responses, a unique operationId, its path parameters
    // declared, and known security schemes.
    let schemes = document["components"]["securitySchemes"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut operation_ids = BTreeSet::new();
    for (path, methods) in documented_routes(&document) {
        assert!(path.starts_with('/'), "path {path} does not start with /");
        assert!(!methods.is_empty(), "{path} has no operation");
        let placeholders: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        for method in methods {
            let operation = &document["paths"][&path][method.to_lowercase()];
            let responses = operation["responses"].as_object().expect("responses");
            assert!(
                !responses.is_empty(),
                "{method} {path} documents no response"
            );
            if let Some(id) = operation["operationId"].as_str() {
                assert!(
                    operation_ids.insert(id.to_owned()),
                    "operationId {id} is used twice"
                );
            }
            let declared: BTreeSet<&str> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .inspect(|p| {
                    assert_eq!(
                        p["required"], true,
                        "{method} {path}: path parameter {p} not required"
                    )
                })
                .filter_map(|p| p["name"].as_str())
                .collect();
            assert_eq!(declared, placeholders, "{method} {path}: path parameters");
            for requirement in operation["security"].as_array().into_iter().flatten() {
                for scheme in requirement
                    .as_object()
                    .expect("security requirement")
                    .keys()
                {
                    assert!(
                        schemes.contains_key(scheme),
                        "{method} {path}: unknown security scheme {scheme}"
                    );
                }
            }
            if matches!(method.as_str(), "POST" | "PATCH" | "PUT")
                && path.starts_with("/v1/")
                && let Some(body) = operation.get("requestBody")
            {
                assert!(
                    body["content"]["application/json"].is_object(),
                    "{method} {path}: request body is not JSON"
                );
            }
        }
    }
}

async fn document_matches_router(backend: Backend) {
    let app = harness::spawn_with(
        backend,
        Options {
            test_clock: true,
            ..Options::default()
        },
    )
    .await;
    let document = fetch_document(&app).await;
    let routes = documented_routes(&document);

    for path in REQUIRED {
        assert!(
            routes.contains_key(*path),
            "{path} is missing from /openapi.json"
        );
    }
    // Writes the contract names, documented with their methods.
    for (method, path) in [
        ("POST", "/v1/brands"),
        ("GET", "/v1/brands/{id}"),
        ("PATCH", "/v1/brands/{id}"),
        ("POST", "/v1/api_keys"),
        ("GET", "/v1/api_keys"),
        ("DELETE", "/v1/api_keys/{id}"),
        ("POST", "/v1/customers"),
        ("GET", "/v1/customers/{id}"),
        ("GET", "/v1/events"),
        ("GET", "/v1/events/{id}"),
        ("GET", "/v1/test_clock"),
        ("POST", "/v1/test_clock/advance"),
        ("GET", "/health"),
        ("GET", "/openapi.json"),
    ] {
        assert!(
            routes[path].contains(method),
            "{method} {path} is not documented"
        );
    }

    // What the document lists, the router serves; any other method is 405.
    for (path, methods) in &routes {
        for method in METHODS {
            let answer = probe(&app, method, path).await;
            if methods.contains(method) {
                assert!(
                    answer.status != 405 && !is_unknown_route(&answer),
                    "{method} {path} is documented but not served: {} {}",
                    answer.status,
                    answer.body
                );
            } else {
                assert_eq!(
                    answer.status, 405,
                    "{method} {path} is not documented but answers: {}",
                    answer.body
                );
                assert_eq!(answer.code(), "method_not_allowed");
            }
        }
    }

    // What the router serves, the document lists.
    for path in CONTRACT {
        if routes.contains_key(*path) {
            continue;
        }
        for method in METHODS {
            let answer = probe(&app, method, path).await;
            assert!(
                is_unknown_route(&answer),
                "{method} {path} is served ({} {}) but missing from /openapi.json",
                answer.status,
                answer.body
            );
        }
    }
    // And an unknown route is the router's 404, for every method.
    for method in METHODS {
        assert!(is_unknown_route(
            &probe(&app, method, "/v1/no_such_thing").await
        ));
    }
}
