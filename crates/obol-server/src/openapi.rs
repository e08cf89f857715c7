//! The OpenAPI document's house rules, applied once to the merged document
//! rather than repeated in every domain's annotations: each response has a
//! description, each error answer is the one `Error` schema, each operation
//! documents the errors every route of its kind can give, each route says
//! its auth, and each list's page references the schema of its items.

use utoipa::Modify;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::schema::{ArrayItems, Schema};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response};

/// The name of the one error schema (`obol_kernel::error::ErrorBody`).
pub const ERROR_SCHEMA: &str = "Error";

/// The security scheme of every `/v1` route: the brand's or admin's key.
pub const BEARER: &str = "bearer";

/// The pass over the merged document; run after every domain's routes are in.
pub struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut OpenApi) {
        concrete_lists(openapi);
        for (path, item) in openapi.paths.paths.iter_mut() {
            for (method, operation) in operations(item) {
                finish_operation(path, method, operation);
            }
        }
    }
}

/// Each operation of a path, with its method in lower case.
fn operations(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", &mut item.get),
        ("put", &mut item.put),
        ("post", &mut item.post),
        ("delete", &mut item.delete),
        ("options", &mut item.options),
        ("head", &mut item.head),
        ("patch", &mut item.patch),
        ("trace", &mut item.trace),
        ("query", &mut item.query),
    ]
    .into_iter()
    .filter_map(|(method, operation)| Some((method, operation.as_mut()?)))
}

/// Only `/v1` needs a key; `/health` and `/openapi.json` are public.
fn is_public(path: &str) -> bool {
    !path.starts_with("/v1/") || PUBLIC_API_PATHS.contains(&path)
}

/// API routes that take no key: the system constants, and those that check
/// a signature of their own (a connector's notification, Obol's signed 3-D
/// Secure return).
const PUBLIC_API_PATHS: &[&str] = &[
    "/v1/currencies",
    "/v1/countries",
    "/v1/time_zones",
    "/v1/ipn/{connector_account_id}",
    "/v1/orders/{id}/return",
];

/// Pages answer in HTML, their errors too: their responses stay as declared.
fn is_page(path: &str) -> bool {
    path.starts_with("/pay/") || path.starts_with("/sandbox/") || path.starts_with("/stripe/")
}

fn finish_operation(path: &str, method: &str, operation: &mut Operation) {
    let public = is_public(path);
    operation.security = Some(if public {
        Vec::new()
    } else {
        vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]
    });

    // The errors any route of its kind can give, whatever its annotation
    // lists: a body or query can be wrong, a key missing or not allowed
    // (`auth::authorize` decides each route), an id unknown, a POST's
    // Idempotency-Key busy or reused (the idempotency middleware).
    let takes_input = operation.request_body.is_some()
        || operation.parameters.iter().flatten().any(
            |parameter| matches!(parameter, RefOr::T(p) if p.parameter_in == ParameterIn::Query),
        );
    let mut implied = vec!["default"];
    if takes_input {
        implied.push("400");
    }
    if !public {
        implied.extend(["401", "403"]);
    }
    if path.contains('{') {
        implied.push("404");
    }
    if !public && method == "post" {
        implied.extend(["409", "422"]);
    }
    for status in implied {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(Response::new("")));
    }

    for (status, response) in operation.responses.responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if is_error(status) && is_page(path) {
            // A page's error is a page too: the reason in HTML.
            response.content.clear();
            response.content.insert(
                "text/html".to_owned(),
                RefOr::T(Content::new(Some(RefOr::T(Schema::Object(
                    utoipa::openapi::schema::Object::with_type(
                        utoipa::openapi::schema::Type::String,
                    ),
                ))))),
            );
            if response.description.trim().is_empty() {
                response.description = error_description(status).to_owned();
            }
        } else if is_error(status) {
            // Every error answer is `ApiError`'s body, whatever was annotated.
            response.content.clear();
            response.content.insert(
                "application/json".to_owned(),
                RefOr::T(Content::new(Some(Ref::from_schema_name(ERROR_SCHEMA)))),
            );
            if response.description.trim().is_empty() {
                response.description = error_description(status).to_owned();
            }
        } else if response.description.trim().is_empty() {
            response.description = success_description(response);
        }
    }
}

/// `4xx`, `5xx` and `default` (any other error) answer with `Error`.
fn is_error(status: &str) -> bool {
    status == "default" || status.starts_with('4') || status.starts_with('5')
}

/// What each error status means in this API (api.md, "Errors").
fn error_description(status: &str) -> &'static str {
    match status {
        "400" => {
            "the request is invalid: a field or parameter is unknown or wrong (`param` names it), or the body is not JSON"
        }
        "401" => "no API key, or one that is unknown, revoked or of the wrong kind",
        "402" => "the payment was refused (e.g. a declined card)",
        "403" => "this key may not do this: its role, or the admin key on a brand's route",
        "404" => "not found: no such object, or a filter names none",
        "405" => "the route does not take this method",
        "409" => {
            "a conflict: the object's state does not allow this now, it already exists, or a request with this Idempotency-Key is still in progress"
        }
        "422" => "the Idempotency-Key was used with another request",
        "500" => "an internal error; the Request-Id identifies it in the server log",
        "502" => "the connector failed or did not answer; the outcome is unknown (sync the order)",
        "default" => "any other error (e.g. 500 `internal_error`), in the same `Error` shape",
        _ => "an error",
    }
}

/// "OK", and what the answer is when its schema is named.
fn success_description(response: &Response) -> String {
    let schema = response.content.values().find_map(|content| match content {
        RefOr::T(content) => content.schema.as_ref(),
        RefOr::Ref(_) => None,
    });
    let Some(RefOr::Ref(reference)) = schema else {
        return "OK".to_owned();
    };
    let name = reference
        .ref_location
        .rsplit('/')
        .next()
        .unwrap_or_default();
    match name.strip_prefix("List_") {
        Some(item) => format!("OK: a page of `{item}` objects (`object`, `data`, `has_more`)"),
        None => format!("OK: the `{name}`"),
    }
}

/// Each `List_T` page (`obol_kernel::list::List<T>`): its `object` is the
/// constant `list`, and its `data` items reference `T` rather than repeat it
/// inline, so that clients get one type per object and not one per list.
fn concrete_lists(openapi: &mut OpenApi) {
    let Some(components) = openapi.components.as_mut() else {
        return;
    };
    let named = components.schemas.clone();
    for (name, schema) in components.schemas.iter_mut() {
        let Some(item) = name.strip_prefix("List_") else {
            continue;
        };
        let RefOr::T(Schema::Object(list)) = schema else {
            continue;
        };
        if let Some(RefOr::T(Schema::Object(object))) = list.properties.get_mut("object") {
            object.enum_values = Some(vec!["list".into()]);
        }
        if let Some(RefOr::T(Schema::Array(data))) = list.properties.get_mut("data")
            && let ArrayItems::RefOrSchema(items) = &mut data.items
            && named.get(item) == Some(&**items)
        {
            **items = RefOr::Ref(Ref::from_schema_name(item));
        }
    }
}
