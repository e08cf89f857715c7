//! Acceptance "/openapi.json is valid for the tools that read it": the
//! served document follows the house rules (one `Error` schema for every
//! error answer, each route's auth, each list's page shape), passes
//! openapi-spec-validator, and a python client generated from it by
//! openapi-python-client pays an order (`openapi_client.py`).
//!
//! The python tools are required, never optional: `.ci/run` installs them,
//! and on a machine without them these tests fail and say what to install.

use crate::harness::{self, Backend, Options, TestApp};
use crate::on_both;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// What `.ci/run` installs (the README's testing section says the same).
const PIP_INSTALL: &str = "pip install openapi-spec-validator==0.9.0 openapi-python-client==0.29.1 python-dateutil==2.9.0.post0 (as .ci/run does)";

const ERROR_REF: &str = "#/components/schemas/Error";

/// The script that drives the generated client.
const CLIENT_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/api/platform/openapi_client.py"
);

/// A scratch folder for one test's files, removed with this value.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> WorkDir {
        let dir = std::env::temp_dir().join(format!(
            "obol_openapi_{}",
            obol_core::id::random_token(12).to_lowercase()
        ));
        std::fs::create_dir_all(&dir).expect("create the scratch folder");
        WorkDir(dir)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `python3 args…` (with `PYTHONPATH` when given); fails the test with
/// a clear message when python3 itself is missing.
fn python(args: &[&str], python_path: Option<&Path>) -> Output {
    let mut command = Command::new("python3");
    command.args(args);
    if let Some(path) = python_path {
        command.env("PYTHONPATH", path);
    }
    command.output().unwrap_or_else(|error| {
        panic!("python3 is needed for the OpenAPI checks and could not be run ({error}): install python3, then {PIP_INSTALL}")
    })
}

/// Fails the test unless python can import `module` (from `package`).
fn require_module(module: &str, package: &str) {
    let output = python(&["-c", &format!("import {module}")], None);
    assert!(
        output.status.success(),
        "the python package {package} is needed for the OpenAPI checks and is missing: {PIP_INSTALL}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[track_caller]
fn assert_ran(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The served document, parsed and written to `dir/openapi.json`.
async fn served_document(app: &TestApp, dir: &Path) -> (Value, PathBuf) {
    let answer = app.send("GET", "/openapi.json", None, None, &[]).await;
    let document = answer.expect(200).clone();
    let file = dir.join("openapi.json");
    std::fs::write(&file, document.to_string()).expect("write openapi.json");
    (document, file)
}

on_both!(
    document_follows_house_rules,
    validator_accepts_document,
    generated_client_pays_an_order,
);

async fn validator_accepts_document(backend: Backend) {
    require_module("openapi_spec_validator", "openapi-spec-validator");
    let app = harness::spawn_with(
        backend,
        Options {
            test_clock: true,
            ..Options::default()
        },
    )
    .await;
    let dir = WorkDir::new();
    let (_, file) = served_document(&app, &dir.0).await;
    let file = file.to_str().expect("a UTF-8 path");
    let output = python(
        &["-m", "openapi_spec_validator", "--errors", "all", file],
        None,
    );
    assert_ran(
        &output,
        "openapi-spec-validator on the served /openapi.json",
    );
}

async fn generated_client_pays_an_order(backend: Backend) {
    require_module("openapi_python_client", "openapi-python-client");
    require_module("dateutil", "python-dateutil");
    let app = harness::spawn_paying(backend, Options::default()).await;
    let dir = WorkDir::new();
    let (_, file) = served_document(&app, &dir.0).await;
    // No post hooks: the generated code need not be formatted, and so the
    // check does not depend on a formatter on PATH. A PDF is a file to the
    // client, as any binary answer (the generator's documented override).
    let config = dir.0.join("client-config.json");
    std::fs::write(
        &config,
        r#"{"post_hooks": [], "content_type_overrides": {"application/pdf": "application/octet-stream"}}"#,
    )
    .expect("write the client config");
    let package = dir.0.join("obol_client");
    let generated = python(
        &[
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            file.to_str().expect("a UTF-8 path"),
            "--output-path",
            package.to_str().expect("a UTF-8 path"),
            "--meta",
            "none",
            "--config",
            config.to_str().expect("a UTF-8 path"),
            // A warning is a part of the document the client cannot use.
            "--fail-on-warning",
        ],
        None,
    );
    assert_ran(&generated, "openapi-python-client generate");
    let paid = python(&[CLIENT_SCRIPT, &app.url, &app.secret_key], Some(&dir.0));
    assert_ran(&paid, "openapi_client.py with the generated client");
}

/// Each operation of the document: (method, path, operation).
fn operations(document: &Value) -> Vec<(String, String, &Value)> {
    let paths = document["paths"].as_object().expect("paths");
    let mut out = Vec::new();
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("path item") {
            if [
                "get", "put", "post", "delete", "patch", "head", "options", "trace",
            ]
            .contains(&method.as_str())
            {
                out.push((method.to_uppercase(), path.clone(), operation));
            }
        }
    }
    out
}

/// The component a `$ref` names.
fn resolve<'a>(document: &'a Value, schema: &Value) -> Option<&'a Value> {
    let name = schema["$ref"]
        .as_str()?
        .strip_prefix("#/components/schemas/")?;
    document["components"]["schemas"].get(name)
}

async fn document_follows_house_rules(backend: Backend) {
    let app = harness::spawn_with(
        backend,
        Options {
            test_clock: true,
            ..Options::default()
        },
    )
    .await;
    let dir = WorkDir::new();
    let (document, _) = served_document(&app, &dir.0).await;
    let schemas = document["components"]["schemas"]
        .as_object()
        .expect("components.schemas");

    // One error schema, describing `ApiError::body`.
    for gone in ["ErrorBody", "ErrorDetail"] {
        assert!(!schemas.contains_key(gone), "schema {gone} is still there");
    }
    let error = &schemas["Error"];
    assert_eq!(error["required"], serde_json::json!(["error"]), "{error}");
    let detail = &error["properties"]["error"];
    for field in ["type", "code", "message", "param"] {
        assert!(
            detail["properties"].get(field).is_some(),
            "Error.error has no {field}: {detail}"
        );
    }
    // And an actual error answer has that shape.
    let missing = app
        .get("/v1/customers/cus_00000000000000000000000000")
        .await;
    missing.expect(404);
    for field in ["type", "code", "message", "param"] {
        assert!(
            missing.body["error"].get(field).is_some(),
            "{}",
            missing.body
        );
    }

    let mut lists = 0;
    for (method, path, operation) in operations(&document) {
        let at = format!("{method} {path}");
        // Pages, the system constants, and the API routes that check a
        // signature instead of a key.
        let public = !path.starts_with("/v1/")
            || [
                "/v1/currencies",
                "/v1/countries",
                "/v1/time_zones",
                "/v1/ipn/{connector_account_id}",
                "/v1/orders/{id}/return",
            ]
            .contains(&path.as_str());
        let page = ["/pay/", "/sandbox/", "/stripe/"]
            .iter()
            .any(|prefix| path.starts_with(prefix));
        let expected = if public {
            serde_json::json!([])
        } else {
            serde_json::json!([{"bearer": []}])
        };
        assert_eq!(operation["security"], expected, "{at}: security");

        let responses = operation["responses"].as_object().expect("responses");
        for (status, response) in responses {
            let description = response["description"].as_str().unwrap_or_default();
            assert!(
                !description.trim().is_empty(),
                "{at} {status}: no description"
            );
            let is_error =
                status == "default" || status.starts_with('4') || status.starts_with('5');
            if is_error && page {
                let content = response["content"].as_object().expect("error content");
                assert_eq!(
                    content.keys().collect::<Vec<_>>(),
                    ["text/html"],
                    "{at} {status}"
                );
            } else if is_error {
                let content = response["content"].as_object().expect("error content");
                assert_eq!(
                    content.keys().collect::<Vec<_>>(),
                    ["application/json"],
                    "{at} {status}"
                );
                assert_eq!(
                    content["application/json"]["schema"]["$ref"], ERROR_REF,
                    "{at} {status}: not the Error schema"
                );
            }
        }
        let documents = |status: &str| responses.contains_key(status);
        assert!(documents("default"), "{at}: no default (error) response");
        let parameters = operation["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let takes_input =
            operation.get("requestBody").is_some() || parameters.iter().any(|p| p["in"] == "query");
        if takes_input {
            assert!(documents("400"), "{at}: takes input but documents no 400");
        }
        if !public {
            assert!(documents("401"), "{at}: needs a key but documents no 401");
        }
        if path.contains('{') {
            assert!(documents("404"), "{at}: names an id but documents no 404");
        }

        // A list (it pages with `limit`) answers the page shape, whose
        // items are a schema of their own.
        if parameters.iter().any(|p| p["name"] == "limit") {
            lists += 1;
            let schema = &responses["200"]["content"]["application/json"]["schema"];
            let mut page = resolve(&document, schema)
                .unwrap_or_else(|| panic!("{at}: the page is not a named schema: {schema}"));
            // A list that also answers one object (`GET /v1/exchange_rates`
            // with a pair: the rate in force) offers the page as one branch.
            if let Some(branches) = page["oneOf"].as_array() {
                page = branches
                    .iter()
                    .filter_map(|branch| resolve(&document, branch))
                    .find(|branch| branch["properties"].get("has_more").is_some())
                    .unwrap_or_else(|| panic!("{at}: no branch is a page: {page}"));
            }
            assert_eq!(
                page["required"],
                serde_json::json!(["object", "data", "has_more"]),
                "{at}: {page}"
            );
            assert_eq!(
                page["properties"]["object"]["enum"],
                serde_json::json!(["list"])
            );
            assert_eq!(page["properties"]["has_more"]["type"], "boolean");
            assert_eq!(page["properties"]["data"]["type"], "array");
            let items = &page["properties"]["data"]["items"];
            assert!(
                resolve(&document, items).is_some(),
                "{at}: the page's items are not a named schema: {items}"
            );
        }
    }
    assert!(lists >= 5, "only {lists} list operations found");
}
