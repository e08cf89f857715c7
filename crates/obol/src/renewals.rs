//! `obol bench-renewals`: against a server on the test clock, starts N
//! monthly subscriptions charged by one mandate, moves the clock to just
//! before their renewal (so the month's other work — clearing, deliveries
//! — runs first), then times the one advance that renews them all, and
//! checks that each was billed once.

use anyhow::Context;
use serde_json::{Value, json};
use std::time::Instant;

/// What to run.
pub struct RenewalArgs {
    pub url: String,
    pub key: String,
    pub admin_key: String,
    pub subscriptions: usize,
    pub clients: usize,
}

struct Api {
    client: reqwest::Client,
    url: String,
}

impl Api {
    async fn call(
        &self,
        key: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.with_context(|| path.to_owned())?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .with_context(|| format!("{path}: body"))?;
        anyhow::ensure!(status.is_success(), "{path}: {status} {body}");
        Ok(body)
    }
}

fn id(object: &Value) -> anyhow::Result<String> {
    object["id"]
        .as_str()
        .map(str::to_owned)
        .context("an id in the answer")
}

/// Runs the benchmark and prints its report.
pub async fn run(args: RenewalArgs) -> anyhow::Result<()> {
    let api = std::sync::Arc::new(Api {
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(args.clients)
            .build()?,
        url: args.url.clone(),
    });
    let post = reqwest::Method::POST;
    let key = args.key.as_str();
    let product = api
        .call(
            key,
            post.clone(),
            "/v1/products",
            Some(json!({"name": "Bench"})),
        )
        .await?;
    let package = api
        .call(
            key,
            post.clone(),
            "/v1/packages",
            Some(json!({"product_id": id(&product)?, "name": "Bench", "features": {}})),
        )
        .await?;
    let price = api
        .call(
            key,
            post.clone(),
            "/v1/prices",
            Some(json!({"package_id": id(&package)?, "currency": "EUR",
            "unit_amount": 1000, "type": "recurring", "interval": "month"})),
        )
        .await?;
    let customer = api
        .call(
            key,
            post.clone(),
            "/v1/customers",
            Some(json!({"email": "bench@example.com"})),
        )
        .await?;
    let setup = api
        .call(
            key,
            post.clone(),
            "/v1/orders",
            Some(json!({"amount": 0, "currency": "EUR",
            "setup_mandate": true, "customer_id": id(&customer)?})),
        )
        .await?;
    let card = json!({"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2045, "cvc": "123"}});
    let paid = api
        .call(
            key,
            post.clone(),
            &format!("/v1/orders/{}/confirm", id(&setup)?),
            Some(json!({"payment_method": card})),
        )
        .await?;
    let mandate = paid["mandate_id"].as_str().context("a mandate")?.to_owned();
    let body =
        json!({"customer_id": id(&customer)?, "price_id": id(&price)?, "mandate_id": mandate});

    let started = Instant::now();
    let per_client = args.subscriptions.div_ceil(args.clients.max(1));
    let mut tasks = Vec::new();
    for client in 0..args.clients.max(1) {
        let count = per_client.min(args.subscriptions.saturating_sub(client * per_client));
        let (api, key, body) = (api.clone(), args.key.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut ends = Vec::with_capacity(count);
            for _ in 0..count {
                let sub = api
                    .call(
                        &key,
                        reqwest::Method::POST,
                        "/v1/subscriptions",
                        Some(body.clone()),
                    )
                    .await?;
                anyhow::ensure!(
                    sub["status"] == "active",
                    "a subscription did not start: {sub}"
                );
                ends.push(
                    sub["current_period_end"]
                        .as_str()
                        .context("a period end")?
                        .to_owned(),
                );
            }
            Ok::<_, anyhow::Error>(ends)
        }));
    }
    let mut ends = Vec::new();
    for task in tasks {
        ends.extend(task.await??);
    }
    ends.sort();
    let created_s = started.elapsed().as_secs_f64();
    let clock = api
        .call(
            &args.admin_key,
            post.clone(),
            "/v1/test_clock/advance",
            Some(json!({"seconds": 1})),
        )
        .await?;
    let seconds_until = |at: &str, now: &str| -> anyhow::Result<i64> {
        let parse = |text: &str| {
            obol_core::Timestamp::parse_rfc3339(text).with_context(|| format!("a time: {text}"))
        };
        Ok((parse(at)?.as_ms() - parse(now)?.as_ms()) / 1000)
    };
    let now = clock["now"].as_str().context("the clock")?.to_owned();
    let first = ends.first().context("no subscriptions")?;
    let last = ends.last().context("no subscriptions")?;
    // The month's other work first (clearing, deliveries), a day at a
    // time, outside the measured advance.
    let mut before = seconds_until(first, &now)? - 5;
    while before > 0 {
        let step = before.min(86_400);
        api.call(
            &args.admin_key,
            post.clone(),
            "/v1/test_clock/advance",
            Some(json!({"seconds": step})),
        )
        .await?;
        before -= step;
    }
    let window = seconds_until(last, first)? + 10;
    let timed = Instant::now();
    api.call(
        &args.admin_key,
        post.clone(),
        "/v1/test_clock/advance",
        Some(json!({"seconds": window})),
    )
    .await?;
    let renew_s = timed.elapsed().as_secs_f64();
    let invoices = api
        .call(
            key,
            reqwest::Method::GET,
            &format!(
                "/v1/invoices?customer_id={}&status=paid&limit=1",
                id(&customer)?
            ),
            None,
        )
        .await?;
    anyhow::ensure!(
        invoices["data"].as_array().is_some_and(|d| !d.is_empty()),
        "no paid invoices"
    );
    let n = args.subscriptions as f64;
    println!("subscriptions:  {}", args.subscriptions);
    println!("started in:     {created_s:.1} s ({:.0}/s)", n / created_s);
    println!("renewed in:     {renew_s:.2} s (one test-clock advance)");
    println!("renewals/s:     {:.0}", n / renew_s);
    println!("per renewal:    {:.2} ms", renew_s * 1000.0 / n);
    Ok(())
}
