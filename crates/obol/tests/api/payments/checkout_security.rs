//! Acceptance: a payment link or a 3-D Secure return that was forged,
//! altered, expired or replayed is refused and changes nothing; a
//! publishable key reaches nothing but its own order; the page pays
//! without JavaScript, and shows paid, expired and canceled orders as such.

use crate::harness::{Backend, Options, TestApp, spawn_paying};
use crate::on_both;
use serde_json::{Value, json};

on_both!(
    tampered_links_and_returns_change_nothing,
    publishable_key_reaches_only_its_order,
    pays_without_javascript,
    shows_closed_orders_as_such,
    failed_challenge_leaves_the_order_payable,
    page_keys_for_brands_made_before,
    shows_an_inline_logo_only,
);

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    crate::harness::http_client();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// `name="…" value="…"` of a page's hidden field.
fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..].split('"').next().expect("value").to_owned()
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("a location")
        .to_owned()
}

/// Confirms `order_id` with the 3-D Secure card and answers its challenge
/// with "Complete"; the signed return the challenge sends the customer to.
async fn challenge_completed(app: &TestApp, order_id: &str) -> String {
    challenge_answered(app, order_id, "complete").await
}

/// `challenge_completed` with the answer `outcome` (`complete` or `fail`).
async fn challenge_answered(app: &TestApp, order_id: &str, outcome: &str) -> String {
    let confirmed = app.confirm_card(order_id, "4000000000003220").await;
    let challenge = confirmed.expect(200)["next_action"]["url"]
        .as_str()
        .expect("challenge url")
        .to_owned();
    let client = no_redirects();
    let page = client.get(&challenge).send().await.expect("challenge page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    let answer = client
        .post(&challenge)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={}&outcome={outcome}", field(&html, "token")))
        .send()
        .await
        .expect("answer");
    assert_eq!(answer.status(), 303);
    location(&answer)
}

/// The order's status and its payments' statuses.
async fn standing(app: &TestApp, order_id: &str) -> (Value, Vec<Value>) {
    let order = app.order(order_id).await;
    let payments = order["payments"]
        .as_array()
        .expect("payments")
        .iter()
        .map(|p| json!([p["status"], p["status_history"].as_array().map(Vec::len)]))
        .collect();
    (order["status"].clone(), payments)
}

/// `text` with its last character changed (to another hex digit).
fn altered(text: &str) -> String {
    let (head, last) = text.split_at(text.len() - 1);
    format!("{head}{}", if last == "0" { "1" } else { "0" })
}

/// `url` with query parameter `name` set to `value`.
fn with_param(url: &str, name: &str, value: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("url");
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == name {
                value.to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    parsed.query_pairs_mut().clear().extend_pairs(pairs);
    parsed.to_string()
}

fn param(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .expect("param")
}

async fn get_json(url: &str) -> (u16, Value) {
    let response = no_redirects().get(url).send().await.expect("get");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn tampered_links_and_returns_change_nothing(backend: Backend) {
    let options = Options {
        test_clock: true,
        ..Options::default()
    };
    let app = spawn_paying(backend, options).await;
    let order = app
        .create_order(
            json!({"amount": 1500, "currency": "EUR", "return_url": "https://shop.example/done"}),
        )
        .await;
    let other = app
        .create_order(json!({"amount": 700, "currency": "EUR"}))
        .await;
    let (id, other_id) = (order["id"].as_str().unwrap(), other["id"].as_str().unwrap());

    // Links: another order's signature, an altered one, none at all.
    let link = order["payment_link"].as_str().unwrap();
    let sig = param(link, "sig");
    let client = no_redirects();
    for forged in [
        format!("{}/pay/{other_id}?sig={sig}", app.url),
        with_param(link, "sig", &altered(&sig)),
        format!("{}/pay/{id}", app.url),
    ] {
        let page = client.get(&forged).send().await.expect("page");
        assert_eq!(page.status(), 404, "{forged}");
        let html = page.text().await.unwrap();
        assert!(
            html.contains("not valid") && !html.contains("card-form"),
            "{html}"
        );
    }

    let signed = challenge_completed(&app, id).await;
    assert!(
        signed.starts_with(&format!("{}/v1/orders/{id}/return?", app.url)),
        "{signed}"
    );
    let before = standing(&app, id).await;
    assert_eq!(before.0, "requires_action");
    let other_txn = app.confirm_card(other_id, "4000000000003220").await;
    let other_txn = other_txn.body["payments"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let nonces = "SELECT COUNT(*) FROM checkout_returns";

    let mut tampered = vec![
        (with_param(&signed, "transaction_id", &other_txn), "sig"),
        (
            with_param(
                &signed,
                "expires",
                &(param(&signed, "expires").parse::<i64>().unwrap() + 60).to_string(),
            ),
            "sig",
        ),
        (
            with_param(&signed, "nonce", "AAAAAAAAAAAAAAAAAAAAAAAA"),
            "sig",
        ),
        (with_param(&signed, "sig", &"0".repeat(64)), "sig"),
        (
            signed.replace(&format!("/orders/{id}/"), &format!("/orders/{other_id}/")),
            "sig",
        ),
    ];
    tampered.push((signed.split('?').next().unwrap().to_owned(), ""));
    for (url, named) in tampered {
        let (status, body) = get_json(&url).await;
        assert_eq!(status, 400, "{url}: {body}");
        if !named.is_empty() {
            assert_eq!(body["error"]["param"], named, "{body}");
        }
        assert_eq!(
            standing(&app, id).await,
            before,
            "a tampered return changed the order"
        );
        assert_eq!(
            app.count(nonces).await,
            0,
            "a tampered return spent a nonce"
        );
    }

    // The genuine return, once: paid, and on to the merchant with the order id.
    let first = client.get(&signed).send().await.expect("return");
    assert_eq!(first.status(), 303);
    assert_eq!(
        location(&first),
        format!("https://shop.example/done?order_id={id}")
    );
    let paid = standing(&app, id).await;
    assert_eq!(paid.0, "paid");
    let (status, body) = get_json(&signed).await;
    assert_eq!(
        (status, body["error"]["param"].as_str()),
        (400, Some("nonce")),
        "{body}"
    );
    assert_eq!(
        standing(&app, id).await,
        paid,
        "a replayed return changed the order"
    );
    // A browser is shown the reason as a page.
    let page = client
        .get(&signed)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);
    let html = page.text().await.unwrap();
    // A genuine return, used twice: the reason, and the way back.
    assert!(
        html.contains("already used") && html.contains("Back to the payment page"),
        "{html}"
    );

    // An expired return: an hour and more on the clock after it was made.
    let late = app
        .create_order(json!({"amount": 900, "currency": "EUR"}))
        .await;
    let late_id = late["id"].as_str().unwrap();
    let signed = challenge_completed(&app, late_id).await;
    app.advance(3_700).await;
    let before = standing(&app, late_id).await;
    let spent = app.count(nonces).await;
    let (status, body) = get_json(&signed).await;
    assert_eq!(
        (status, body["error"]["param"].as_str()),
        (400, Some("expires")),
        "{body}"
    );
    assert_eq!(standing(&app, late_id).await, before);
    assert_eq!(
        app.count(nonces).await,
        spent,
        "an expired return spent its nonce"
    );

    // Another order's client secret reads and confirms nothing.
    let pk = app.publishable_key.clone();
    let secret = other["client_secret"].as_str().unwrap();
    let read = app
        .send(
            "GET",
            &format!("/v1/orders/{id}?client_secret={secret}"),
            Some(&pk),
            None,
            &[],
        )
        .await;
    assert_eq!(read.status, 404);
    let fresh = app
        .create_order(json!({"amount": 300, "currency": "EUR"}))
        .await;
    let fresh_id = fresh["id"].as_str().unwrap();
    let confirm = app
        .send(
            "POST",
            &format!("/v1/orders/{fresh_id}/confirm"),
            Some(&pk),
            Some(json!({"payment_method": TestApp::card("4242424242424242"), "client_secret": secret})),
            &[],
        )
        .await;
    assert_eq!(confirm.status, 404);
    let untouched = app.order(fresh_id).await;
    assert_eq!(
        (
            untouched["status"].as_str(),
            untouched["payments"].as_array().map(Vec::len)
        ),
        (Some("in_progress"), Some(0))
    );
}

async fn publishable_key_reaches_only_its_order(backend: Backend) {
    let app = spawn_paying(backend, Options::default()).await;
    let paid = app.paid_order(1200, true).await;
    let id = paid["id"].as_str().unwrap();
    let customer = app.create_customer("someone@example.com").await;
    let pk = app.publishable_key.clone();
    let refused = [
        ("GET", "/v1/orders".to_owned(), None),
        (
            "POST",
            "/v1/refunds".to_owned(),
            Some(json!({"order_id": id})),
        ),
        ("POST", format!("/v1/orders/{id}/capture"), Some(json!({}))),
        ("POST", format!("/v1/orders/{id}/void"), Some(json!({}))),
        ("POST", format!("/v1/orders/{id}/reverse"), Some(json!({}))),
        ("GET", "/v1/customers".to_owned(), None),
        (
            "GET",
            format!("/v1/customers/{}", customer["id"].as_str().unwrap()),
            None,
        ),
        (
            "POST",
            "/v1/customers".to_owned(),
            Some(json!({"email": "new@example.com"})),
        ),
        ("GET", "/v1/transactions".to_owned(), None),
        ("GET", "/v1/events".to_owned(), None),
        (
            "POST",
            "/v1/orders".to_owned(),
            Some(json!({"amount": 100, "currency": "EUR"})),
        ),
    ];
    for (method, path, body) in refused {
        let answer = app.send(method, &path, Some(&pk), body, &[]).await;
        assert_eq!(answer.status, 401, "{method} {path}: {}", answer.body);
    }
    assert_eq!(app.order(id).await["amount_refunded"], 0);
    let customers = app.get("/v1/customers").await;
    assert_eq!(
        customers.expect(200)["data"].as_array().map(Vec::len),
        Some(1)
    );
}

/// The page's HTML and the cookie it sets.
async fn page(url: &str) -> (u16, String, Option<String>) {
    let response = no_redirects().get(url).send().await.expect("page");
    let status = response.status().as_u16();
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap().to_owned());
    let csp = response
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'")
            && csp.contains("script-src 'self';")
            && csp.contains("frame-ancestors 'none'")
            && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    (status, response.text().await.expect("html"), cookie)
}

async fn post_form(url: &str, cookie: &str, body: &str) -> reqwest::Response {
    no_redirects()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", cookie)
        .body(body.to_owned())
        .send()
        .await
        .expect("form post")
}

async fn pays_without_javascript(backend: Backend) {
    let app = spawn_paying(backend, Options::default()).await;
    let order = app
        .create_order(json!({"amount": 4200, "currency": "EUR", "return_url": "https://shop.example/thanks?ref=7"}))
        .await;
    let id = order["id"].as_str().unwrap();
    let link = order["payment_link"].as_str().unwrap();
    let response = no_redirects().get(link).send().await.expect("page");
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/pay/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("form-action 'self' https://shop.example;"),
        "{csp}"
    );
    let (status, html, cookie) = page(link).await;
    assert_eq!(status, 200);
    let cookie = cookie.expect("the form's cookie");
    let csrf = field(&html, "csrf");
    let action = format!("{}/pay/{id}/confirm?sig={}", app.url, param(link, "sig"));

    // No token, a wrong one: refused before any payment.
    for body in [
        "method=card&number=4242424242424242&exp=12%2F34&cvc=123".to_owned(),
        "method=card&csrf=wrong&number=4242424242424242&exp=12%2F34&cvc=123".to_owned(),
    ] {
        let refused = post_form(&action, &cookie, &body).await;
        assert_eq!(refused.status(), 400);
        assert!(refused.text().await.unwrap().contains("form expired"));
    }
    // The page's token without its cookie: refused as well.
    let no_cookie = post_form(
        &action,
        "",
        &format!("method=card&csrf={csrf}&number=4242424242424242&exp=1234&cvc=123"),
    )
    .await;
    assert_eq!(no_cookie.status(), 400);
    // A bad card: the page again with the reason, never the number.
    let bad = post_form(
        &action,
        &cookie,
        &format!("method=card&csrf={csrf}&number=4242424242424241&exp=12%2F34&cvc=123"),
    )
    .await;
    assert_eq!(bad.status(), 400);
    let html = bad.text().await.unwrap();
    assert!(
        html.contains("card-form") && !html.contains("4242424242424241"),
        "{html}"
    );
    assert_eq!(
        app.order(id).await["payments"].as_array().map(Vec::len),
        Some(0)
    );

    // A decline shows its reason; another card pays and goes to the merchant.
    let declined = post_form(
        &action,
        &cookie,
        &format!("method=card&csrf={csrf}&number=4000+0000+0000+0002&exp=12%2F34&cvc=123"),
    )
    .await;
    assert_eq!(declined.status(), 303);
    let (_, html, _) = page(&location(&declined)).await;
    assert!(html.contains("Your card was declined."), "{html}");
    let paid = post_form(
        &action,
        &cookie,
        &format!(
            "method=card&csrf={csrf}&number=4242+4242+4242+4242&exp=1234&cvc=123&holder_name=A+B"
        ),
    )
    .await;
    assert_eq!(paid.status(), 303);
    assert_eq!(
        location(&paid),
        format!("https://shop.example/thanks?ref=7&order_id={id}")
    );
    let order = app.order(id).await;
    assert_eq!(order["status"], "paid");
    assert_eq!(order["payments"][1]["trigger"], "checkout");

    // Paid: the page says so, with no form; a second post pays nothing.
    let (_, html, _) = page(link).await;
    assert!(
        html.contains("Payment received") && !html.contains("card-form"),
        "{html}"
    );
    let again = post_form(
        &action,
        &cookie,
        &format!("method=card&csrf={csrf}&number=4242424242424242&exp=12%2F34&cvc=123"),
    )
    .await;
    assert_eq!(again.status(), 303);
    assert_eq!(
        app.order(id).await["payments"].as_array().map(Vec::len),
        Some(2)
    );
}

async fn shows_closed_orders_as_such(backend: Backend) {
    let options = Options {
        test_clock: true,
        ..Options::default()
    };
    let app = spawn_paying(backend, options).await;
    let canceled = app
        .create_order(json!({"amount": 500, "currency": "EUR"}))
        .await;
    let id = canceled["id"].as_str().unwrap();
    app.post(&format!("/v1/orders/{id}/void"), json!({}))
        .await
        .expect(200);
    let (status, html, _) = page(canceled["payment_link"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Order canceled") && !html.contains("card-form"),
        "{html}"
    );

    let expiring = app
        .create_order(json!({"amount": 500, "currency": "EUR"}))
        .await;
    app.advance(25 * 3600).await;
    let (_, html, _) = page(expiring["payment_link"].as_str().unwrap()).await;
    assert!(
        html.contains("Link expired") && !html.contains("card-form"),
        "{html}"
    );
    assert_eq!(
        app.order(expiring["id"].as_str().unwrap()).await["status"],
        "expired"
    );
}

async fn failed_challenge_leaves_the_order_payable(backend: Backend) {
    let app = spawn_paying(backend, Options::default()).await;
    let order = app
        .create_order(
            json!({"amount": 2100, "currency": "EUR", "return_url": "https://shop.example/done"}),
        )
        .await;
    let id = order["id"].as_str().unwrap();
    let signed = challenge_answered(&app, id, "fail").await;
    let back = no_redirects().get(&signed).send().await.expect("return");
    assert_eq!(back.status(), 303);
    // Back to the payment page, not to the merchant.
    assert_eq!(location(&back), order["payment_link"].as_str().unwrap());
    let failed = app.order(id).await;
    assert_eq!(failed["status"], "in_progress");
    assert_eq!(failed["payments"][0]["status"], "failed");
    assert_eq!(failed["last_payment_error"]["code"], "card_declined");
    let (_, html, _) = page(&location(&back)).await;
    assert!(
        html.contains("card-form") && html.contains("declined"),
        "{html}"
    );
    app.confirm_card(id, "4242424242424242").await.expect(200);
    assert_eq!(app.order(id).await["status"], "paid");
}

/// A brand whose publishable key was made before keys were kept for the
/// page gets a new one on its first page view, which the page embeds and
/// which reads the order.
async fn page_keys_for_brands_made_before(backend: Backend) {
    let app = spawn_paying(backend, Options::default()).await;
    obol_store::sql::query("UPDATE api_keys SET publishable_key_ciphertext = NULL")
        .execute(&app.state.db.pool)
        .await
        .expect("forget the sealed keys");
    let order = app
        .create_order(json!({"amount": 800, "currency": "EUR"}))
        .await;
    let (status, html, _) = page(order["payment_link"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    let marker = "data-publishable-key=\"";
    let start = html.find(marker).expect("an embedded key") + marker.len();
    let key = html[start..].split('"').next().unwrap().to_owned();
    assert!(
        key.starts_with("pk_") && key != app.publishable_key,
        "{key}"
    );
    let keys = app.get("/v1/api_keys").await;
    let names: Vec<&str> = keys.expect(200)["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["name"].as_str())
        .collect();
    assert!(names.contains(&"Hosted payment page"), "{names:?}");
    let secret = order["client_secret"].as_str().unwrap();
    let id = order["id"].as_str().unwrap();
    let read = app
        .send(
            "GET",
            &format!("/v1/orders/{id}?client_secret={secret}"),
            Some(&key),
            None,
            &[],
        )
        .await;
    assert_eq!(read.expect(200)["id"], id);
    // The next view reuses it.
    let (_, again, _) = page(order["payment_link"].as_str().unwrap()).await;
    assert!(again.contains(&key));
}

/// A brand's logo shows when it is inline (a `data:` URL); an http(s) one
/// would load from elsewhere, so the page shows the name instead.
async fn shows_an_inline_logo_only(backend: Backend) {
    let app = spawn_paying(backend, Options::default()).await;
    let brand = format!("/v1/brands/{}", app.brand_id);
    let logo = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    app.patch(&brand, json!({"display_name": "Acme", "logo_url": logo}))
        .await
        .expect(200);
    let order = app
        .create_order(json!({"amount": 800, "currency": "EUR"}))
        .await;
    let link = order["payment_link"].as_str().unwrap();
    let (_, html, _) = page(link).await;
    let shown = format!("<img src=\"{}\" alt=\"Acme\">", logo.replace('/', "&#x2f;"));
    assert!(html.contains(&shown), "{html}");
    app.patch(&brand, json!({"logo_url": "https://cdn.example/logo.png"}))
        .await
        .expect(200);
    let (_, html, _) = page(link).await;
    assert!(
        !html.contains("<img") && !html.contains("cdn.example"),
        "{html}"
    );
    let refused = app
        .patch(&brand, json!({"logo_url": "data:text/html;base64,PGI+"}))
        .await;
    assert_eq!((refused.status, refused.param()), (400, Some("logo_url")));
}
