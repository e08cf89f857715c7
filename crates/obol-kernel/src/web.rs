//! Server-rendered pages (the hosted payment page, the sandbox's pages, the
//! portal and dashboard later): templates compiled into the binary, and
//! one answer type that carries the same strict headers on every page.
//!
//! A page loads nothing from outside: its script and style come from this
//! server, the Content-Security-Policy allows only them (plus one inline
//! style block by nonce, for a brand's colour), and no page may be framed.

use crate::error::ApiError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use minijinja::value::Serde;
use minijinja::{Environment, Value, context};
use rand::RngCore;
use serde::Serialize;

/// The layout every page extends (`{% extends "layout.html" %}`).
const LAYOUT: &str = include_str!("web/layout.html");

/// The stylesheet every page links, served at [`STYLESHEET_PATH`].
pub const STYLESHEET: &str = include_str!("web/obol.css");
pub const STYLESHEET_PATH: &str = "/assets/obol.css";

/// A template environment with the layout and `templates` (name, source),
/// HTML-escaped. A template that does not parse is a build mistake, caught
/// by every test that renders a page.
pub fn environment(templates: &[(&'static str, &'static str)]) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    let all = std::iter::once(("layout.html", LAYOUT)).chain(templates.iter().copied());
    for (name, source) in all {
        if let Err(error) = env.add_template(name, source) {
            tracing::error!(template = name, %error, "a page template does not parse");
        }
    }
    env
}

/// A rendered page and the headers it needs.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub html: String,
    nonce: String,
    /// Origins beyond this server that the page's forms may end up at
    /// (a form whose answer redirects to a merchant's return URL).
    form_targets: Vec<String>,
}

/// A fresh value for the CSP nonce of one answer.
fn new_nonce() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl Page {
    /// Renders `name` with `ctx`; the template also sees `csp_nonce` (for
    /// its one inline `<style nonce>` block) and `stylesheet`.
    pub fn render(
        env: &Environment<'_>,
        name: &str,
        ctx: impl Serialize,
    ) -> Result<Page, ApiError> {
        let nonce = new_nonce();
        let template = env.get_template(name).map_err(ApiError::internal)?;
        let html = template
            .render(context! {
                csp_nonce => nonce.clone(),
                stylesheet => STYLESHEET_PATH,
                ..Value::from(Serde(&ctx))
            })
            .map_err(ApiError::internal)?;
        Ok(Page {
            status: StatusCode::OK,
            html,
            nonce,
            form_targets: Vec::new(),
        })
    }

    pub fn with_status(mut self, status: StatusCode) -> Page {
        self.status = status;
        self
    }

    /// Lets the page's forms lead to the origin of `url` (http or https only).
    pub fn allow_form_target(mut self, url: &str) -> Page {
        if let Ok(parsed) = url::Url::parse(url)
            && matches!(parsed.scheme(), "http" | "https")
        {
            let origin = parsed.origin().ascii_serialization();
            if !self.form_targets.contains(&origin) {
                self.form_targets.push(origin);
            }
        }
        self
    }

    fn content_security_policy(&self) -> String {
        let mut form_action = String::from("'self'");
        for origin in &self.form_targets {
            form_action.push(' ');
            form_action.push_str(origin);
        }
        format!(
            "default-src 'none'; script-src 'self'; style-src 'self' 'nonce-{}'; img-src 'self' data:; \
             connect-src 'self'; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'",
            self.nonce
        )
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let csp = self.content_security_policy();
        let mut response = (self.status, self.html).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        if let Ok(value) = HeaderValue::from_str(&csp) {
            headers.insert(header::CONTENT_SECURITY_POLICY, value);
        }
        secure_headers(headers);
        response
    }
}

/// Headers every page and page asset carries: no sniffing, no framing, and
/// no referrer (a payment link's signature must not leak to the next site).
fn secure_headers(headers: &mut axum::http::HeaderMap) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// A static asset compiled into the binary (a page's script or stylesheet).
pub fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    secure_headers(headers);
    // Assets change only with the binary; a short cache keeps upgrades quick.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// A redirect after a form post or a return: `303 See Other` to `location`.
pub fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    secure_headers(response.headers_mut());
    response
}

/// Serves the shared stylesheet.
pub async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", STYLESHEET)
}

/// Whether the caller is a browser asking for a page (errors then come
/// as pages, not JSON).
pub fn wants_html(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// The value of the request's cookie `name`.
pub fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// A form's CSRF token, double-submitted: the same value in an `HttpOnly`,
/// `SameSite=Strict` cookie and in the form; a post whose two differ is
/// refused. A cross-site page can neither read the cookie nor set it.
#[derive(Debug, Clone)]
pub struct Csrf {
    pub cookie_name: &'static str,
    /// The path the cookie is sent to (the forms' routes).
    pub path: &'static str,
}

const CSRF_TOKEN_LEN: usize = 32;

impl Csrf {
    /// The visitor's token, and the `Set-Cookie` value when it is new.
    pub fn token(&self, headers: &axum::http::HeaderMap, secure: bool) -> (String, Option<String>) {
        if let Some(token) = cookie(headers, self.cookie_name).filter(|v| v.len() == CSRF_TOKEN_LEN)
        {
            return (token, None);
        }
        let token = obol_core::id::random_token(CSRF_TOKEN_LEN);
        let secure = if secure { "; Secure" } else { "" };
        let set = format!(
            "{}={token}; Path={}; HttpOnly; SameSite=Strict{secure}",
            self.cookie_name, self.path
        );
        (token, Some(set))
    }

    /// Whether a posted form's token matches the visitor's cookie.
    pub fn check(&self, headers: &axum::http::HeaderMap, posted: &str) -> bool {
        let cookie = cookie(headers, self.cookie_name).unwrap_or_default();
        !cookie.is_empty() && crate::auth::constant_time_eq(&cookie, posted)
    }
}

/// Adds a `Set-Cookie` header to `response`.
pub fn set_cookie(response: &mut Response, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}
