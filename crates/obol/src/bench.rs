//! `obol bench`: a load generator against a running server. N clients each
//! create an order and confirm it with the approved sandbox card, for a fixed
//! time; it prints checkouts per second, latency percentiles and errors.

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
    Ok(())
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
