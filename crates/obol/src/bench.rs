//! `obol bench`: a load generator against a running server. N clients each
//! create an order and confirm it with the approved sandbox card, for a fixed
//! time; it prints checkouts per second, latency percentiles and errors.
//! With `--webhooks N` it also runs a receiver on 127.0.0.1 behind N
//! endpoints and reports how fast the `order.paid` deliveries arrive.

use anyhow::Context;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What to run.
pub struct BenchArgs {
    pub url: String,
    pub key: String,
    pub clients: usize,
    pub duration: Duration,
    pub currency: String,
    pub amount: i64,
    /// Webhook endpoints to create on the bench's own receiver (0: none).
    pub webhooks: usize,
}

/// Runs the benchmark and prints its report.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .build()
        .context("HTTP client")?;
    let health = client
        .get(format!("{}/health", args.url))
        .send()
        .await
        .context("the server is not reachable")?;
    anyhow::ensure!(
        health.status().is_success(),
        "the server is not healthy: {}",
        health.status()
    );
    let receiver = match args.webhooks {
        0 => None,
        endpoints => Some(Receiver::start(&client, &args, endpoints).await?),
    };
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + args.duration;
    let args = Arc::new(args);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        let (client, args, errors) = (client.clone(), args.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies_us = Vec::new();
            while Instant::now() < deadline {
                let began = Instant::now();
                match checkout(&client, &args).await {
                    Ok(()) => latencies_us.push(began.elapsed().as_micros() as u64),
                    Err(error) => {
                        if errors.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("checkout failed: {error:#}");
                        }
                    }
                }
            }
            latencies_us
        }));
    }
    let mut latencies_us = Vec::new();
    for task in tasks {
        latencies_us.extend(task.await.context("client task")?);
    }
    let elapsed = started.elapsed();
    latencies_us.sort_unstable();
    let percentile = |p: usize| {
        latencies_us
            .get((latencies_us.len() * p / 100).min(latencies_us.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    let checkouts = latencies_us.len();
    println!("clients:      {}", args.clients);
    println!("duration:     {:.1} s", elapsed.as_secs_f64());
    println!("checkouts:    {checkouts} (create + confirm, auto capture)");
    println!(
        "checkouts/s:  {:.0}",
        checkouts as f64 / elapsed.as_secs_f64()
    );
    println!("p50 latency:  {:.1} ms", percentile(50) as f64 / 1000.0);
    println!("p99 latency:  {:.1} ms", percentile(99) as f64 / 1000.0);
    println!("errors:       {}", errors.load(Ordering::Relaxed));
    if let Some(receiver) = receiver {
        receiver
            .report(started, checkouts * args.webhooks, &client, &args)
            .await?;
    }
    Ok(())
}

/// The bench's webhook receiver: it notes when each `order.paid` arrives
/// and how long after its event was made.
struct Receiver {
    /// (arrival, delay from the event's `created_at` in ms), per delivery.
    arrivals: Arc<std::sync::Mutex<Vec<(Instant, i64)>>>,
    endpoints: Vec<String>,
}

impl Receiver {
    async fn start(
        client: &reqwest::Client,
        args: &BenchArgs,
        endpoints: usize,
    ) -> anyhow::Result<Receiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("bind the webhook receiver")?;
        let address = listener.local_addr()?;
        let arrivals: Arc<std::sync::Mutex<Vec<(Instant, i64)>>> = Arc::default();
        let noted = arrivals.clone();
        let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
            let noted = noted.clone();
            async move {
                let now_ms = obol_core::Timestamp::system_now().as_ms();
                let made_ms = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|event| {
                        obol_core::Timestamp::parse_rfc3339(event["created_at"].as_str()?)
                    })
                    .map(|made| made.as_ms());
                if let Some(made_ms) = made_ms {
                    noted
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((Instant::now(), now_ms - made_ms));
                }
                axum::http::StatusCode::NO_CONTENT
            }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let mut ids = Vec::with_capacity(endpoints);
        for n in 0..endpoints {
            let url = format!("http://{address}/endpoint/{n}");
            let created = post(
                client,
                args,
                "/v1/webhook_endpoints",
                json!({"url": url, "events": ["order.paid"], "description": "obol bench"}),
            )
            .await
            .context("creating a webhook endpoint (is OBOL_ALLOW_PRIVATE_NETWORK=1 set?)")?;
            ids.push(created["id"].as_str().context("endpoint id")?.to_owned());
        }
        Ok(Receiver {
            arrivals,
            endpoints: ids,
        })
    }

    /// Waits for the `expected` deliveries (up to a minute after the load),
    /// prints their rate and delays, and deletes the endpoints.
    async fn report(
        self,
        started: Instant,
        expected: usize,
        client: &reqwest::Client,
        args: &BenchArgs,
    ) -> anyhow::Result<()> {
        let drain_deadline = Instant::now() + Duration::from_secs(60);
        while self
            .arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
            < expected
            && Instant::now() < drain_deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let arrivals = self
            .arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let last = arrivals.iter().map(|(at, _)| *at).max().unwrap_or(started);
        let mut delays: Vec<i64> = arrivals.iter().map(|(_, delay)| *delay).collect();
        delays.sort_unstable();
        let percentile = |p: usize| {
            delays
                .get((delays.len() * p / 100).min(delays.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0)
        };
        let span = last.duration_since(started).as_secs_f64().max(0.001);
        println!("endpoints:    {}", self.endpoints.len());
        println!("deliveries:   {} of {expected}", arrivals.len());
        println!(
            "deliveries/s: {:.0} (first checkout to last delivery)",
            arrivals.len() as f64 / span
        );
        println!("event to delivery p50: {} ms", percentile(50));
        println!("event to delivery p99: {} ms", percentile(99));
        for id in &self.endpoints {
            client
                .delete(format!("{}/v1/webhook_endpoints/{id}", args.url))
                .bearer_auth(&args.key)
                .send()
                .await?;
        }
        anyhow::ensure!(
            arrivals.len() >= expected,
            "{} deliveries missing a minute after the load",
            expected - arrivals.len()
        );
        Ok(())
    }
}

/// One checkout: create an order, confirm it with 4242…, expect `paid`.
async fn checkout(client: &reqwest::Client, args: &BenchArgs) -> anyhow::Result<()> {
    let order = post(
        client,
        args,
        "/v1/orders",
        json!({"amount": args.amount, "currency": args.currency}),
    )
    .await?;
    let id = order["id"].as_str().context("order without id")?;
    let card = json!({"payment_method": {"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}}});
    let paid = post(client, args, &format!("/v1/orders/{id}/confirm"), card).await?;
    anyhow::ensure!(
        paid["status"] == "paid",
        "order {id} is {} after confirm",
        paid["status"]
    );
    Ok(())
}

async fn post(
    client: &reqwest::Client,
    args: &BenchArgs,
    path: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let response = client
        .post(format!("{}{path}", args.url))
        .bearer_auth(&args.key)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await?;
    let status = response.status();
    let body: Value = serde_json::from_str(&response.text().await?)?;
    anyhow::ensure!(status.is_success(), "POST {path}: {status} {body}");
    Ok(body)
}
