//! `obol drill`: the kill drill. It runs `obol serve` on a fresh database,
//! SIGKILLs and restarts it at random while N clients create, confirm and
//! refund orders with `Idempotency-Key`s, each retrying with the same key
//! until it has an answer; then it checks, in the database, that every key
//! had exactly one effect, that no order was charged twice, and that the
//! ledger balances.

use anyhow::Context;
use rand::Rng;
use serde_json::{Value, json};
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What to run.
pub struct DrillArgs {
    /// The database of the drilled server; must be empty.
    pub database_url: String,
    pub port: u16,
    pub clients: usize,
    /// Checkouts in all (each: create, confirm, refund).
    pub checkouts: usize,
    pub kills: usize,
}

/// How long one request keeps being retried before the drill fails.
const REQUEST_PATIENCE: Duration = Duration::from_secs(120);
const START_TIMEOUT: Duration = Duration::from_secs(60);
const CARD: &str = "4242424242424242";

/// What the clients saw.
#[derive(Default)]
struct Tally {
    /// Checkouts finished (refund answered).
    checkouts: AtomicU64,
    requests: AtomicU64,
    /// Retries after a refused connection, a 500 or a cut answer.
    retries: AtomicU64,
    /// 409 `idempotency_in_progress`: the first attempt's record is still
    /// held (by a request of a killed process, until it goes stale).
    in_progress: AtomicU64,
    /// Answers that are wrong for a retry (a 409 `invalid_state` for a
    /// payment the first attempt made, or any other refusal).
    wrong: AtomicU64,
}

/// Runs the drill and prints its report; fails if any check fails.
pub async fn run(args: DrillArgs) -> anyhow::Result<()> {
    let master_key = std::env::var("OBOL_MASTER_KEY")
        .ok()
        .filter(|key| !key.is_empty())
        .unwrap_or_else(|| hex::encode(rand::rng().random::<[u8; 32]>()));
    let base = format!("http://127.0.0.1:{}", args.port);
    let mut server = Server::start(&args, &master_key)?;
    let key = server
        .secret_key
        .clone()
        .context("the first start printed no secret key")?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .context("HTTP client")?;
    let tally = Arc::new(Tally::default());
    let done = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(args.clients);
    for client_index in 0..args.clients {
        let count = args.checkouts / args.clients
            + usize::from(client_index < args.checkouts % args.clients);
        let (client, base, key, tally) = (client.clone(), base.clone(), key.clone(), tally.clone());
        tasks.push(tokio::spawn(async move {
            for index in 0..count {
                let name = format!("drill-{client_index}-{index}");
                checkout(&client, &base, &key, &name, index % 2 == 0, &tally).await?;
            }
            anyhow::Ok(())
        }));
    }
    // Kills fall at random points of the run, by checkouts done, so all of
    // them land while clients are busy however fast the server is.
    let mut kill_points: Vec<u64> = (0..args.kills)
        .map(|_| rand::rng().random_range(0..args.checkouts.max(1) as u64))
        .collect();
    kill_points.sort_unstable();
    let killer = {
        let (done, tally) = (done.clone(), tally.clone());
        tokio::task::spawn_blocking(move || -> anyhow::Result<(Server, usize)> {
            let mut killed = 0;
            for point in kill_points {
                while tally.checkouts.load(Ordering::SeqCst) < point && !done.load(Ordering::SeqCst)
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                if done.load(Ordering::SeqCst) {
                    break;
                }
                // Somewhere inside a request, not always at its edge.
                std::thread::sleep(Duration::from_millis(rand::rng().random_range(0..20)));
                server.kill();
                killed += 1;
                server = server.restart()?;
            }
            Ok((server, killed))
        })
    };
    let mut failure = None;
    for task in tasks {
        if let Err(error) = task.await.context("client task")? {
            failure.get_or_insert(error);
        }
    }
    let elapsed = started.elapsed();
    done.store(true, Ordering::SeqCst);
    let (mut server, killed) = killer.await.context("killer task")??;
    let report = check(&args).await;
    server.kill();
    println!("clients:             {}", args.clients);
    println!(
        "checkouts:           {} (create, confirm, refund; half confirm: true at create)",
        args.checkouts
    );
    println!("SIGKILLs:            {killed}");
    println!("duration:            {:.1} s", elapsed.as_secs_f64());
    println!(
        "requests:            {}",
        tally.requests.load(Ordering::Relaxed)
    );
    println!(
        "retries:             {}",
        tally.retries.load(Ordering::Relaxed)
    );
    println!(
        "in-progress answers: {}",
        tally.in_progress.load(Ordering::Relaxed)
    );
    println!(
        "wrong answers:       {}",
        tally.wrong.load(Ordering::Relaxed)
    );
    let report = report?;
    print!("{report}");
    if let Some(error) = failure {
        return Err(error.context("a client failed"));
    }
    anyhow::ensure!(
        tally.wrong.load(Ordering::Relaxed) == 0,
        "some retries were answered wrongly"
    );
    anyhow::ensure!(report.problems.is_empty(), "the drill found problems");
    println!("drill passed");
    Ok(())
}

/// One checkout: create (with `confirm: true`, or then confirm), then
/// refund a third, each under its own key and retried until answered.
async fn checkout(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    name: &str,
    confirm_at_create: bool,
    tally: &Tally,
) -> anyhow::Result<()> {
    let amount: i64 = rand::rng().random_range(1000..10_000);
    let card = json!({"type": "card", "card": {"number": CARD, "exp_month": 12, "exp_year": 2099, "cvc": "123"}});
    let mut create = json!({"amount": amount, "currency": "EUR"});
    if confirm_at_create {
        create["confirm"] = json!(true);
        create["payment_method"] = card.clone();
    }
    let mut order = answered(
        client,
        base,
        key,
        "/v1/orders",
        &format!("{name}-order"),
        &create,
        tally,
    )
    .await?;
    let id = order["id"].as_str().context("order without id")?.to_owned();
    if !confirm_at_create {
        let path = format!("/v1/orders/{id}/confirm");
        let body = json!({"payment_method": card});
        order = answered(
            client,
            base,
            key,
            &path,
            &format!("{name}-confirm"),
            &body,
            tally,
        )
        .await?;
    }
    if order["status"] != "paid" {
        tally.wrong.fetch_add(1, Ordering::Relaxed);
        anyhow::bail!("order {id} is {} after its payment", order["status"]);
    }
    let refund = json!({"order_id": id, "amount": amount / 3});
    let refund = answered(
        client,
        base,
        key,
        "/v1/refunds",
        &format!("{name}-refund"),
        &refund,
        tally,
    )
    .await?;
    if refund["status"] != "succeeded" {
        tally.wrong.fetch_add(1, Ordering::Relaxed);
        anyhow::bail!("refund of {id} is {}", refund["status"]);
    }
    tally.checkouts.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

/// POSTs with the idempotency key until the server gives an answer to keep:
/// a refused connection, a cut answer or a 500 is retried as is, and a 409
/// `idempotency_in_progress` after a pause.
async fn answered(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    path: &str,
    idempotency_key: &str,
    body: &Value,
    tally: &Tally,
) -> anyhow::Result<Value> {
    let deadline = Instant::now() + REQUEST_PATIENCE;
    loop {
        anyhow::ensure!(
            Instant::now() < deadline,
            "POST {path} ({idempotency_key}) got no answer in time"
        );
        tally.requests.fetch_add(1, Ordering::Relaxed);
        let sent = client
            .post(format!("{base}{path}"))
            .bearer_auth(key)
            .header("Idempotency-Key", idempotency_key)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await;
        let (status, text) = match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.text().await {
                    Ok(text) => (status, text),
                    Err(_) => (0, String::new()),
                }
            }
            Err(_) => (0, String::new()),
        };
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        match status {
            200 => return Ok(answer),
            409 if answer["error"]["code"] == "idempotency_in_progress" => {
                tally.in_progress.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            0 | 500 => {
                tally.retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            _ => {
                tally.wrong.fetch_add(1, Ordering::Relaxed);
                anyhow::bail!("POST {path} ({idempotency_key}) answered {status}: {answer}");
            }
        }
    }
}

/// What the database says after the drill.
struct Report {
    orders: i64,
    charges: i64,
    refunds: i64,
    open_transactions: i64,
    problems: Vec<String>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "orders:              {}", self.orders)?;
        writeln!(f, "charges at sandbox:  {}", self.charges)?;
        writeln!(f, "refunds at sandbox:  {}", self.refunds)?;
        writeln!(f, "open transactions:   {}", self.open_transactions)?;
        for problem in &self.problems {
            writeln!(f, "PROBLEM: {problem}")?;
        }
        Ok(())
    }
}

async fn count(db: &obol_store::Db, sql: &'static str) -> anyhow::Result<i64> {
    Ok(obol_store::sql::query_scalar(sql)
        .fetch_one(&db.pool)
        .await?)
}

/// Every key had one effect: one order per create key, one charge per
/// order, one refund per refund key; and the ledger balances.
async fn check(args: &DrillArgs) -> anyhow::Result<Report> {
    let db = obol_store::Db::connect(&args.database_url).await?;
    let expected = i64::try_from(args.checkouts)?;
    let mut report = Report {
        orders: count(&db, "SELECT COUNT(*) FROM orders").await?,
        charges: count(
            &db,
            "SELECT COUNT(*) FROM sandbox_payments WHERE status = 'succeeded'",
        )
        .await?,
        refunds: count(
            &db,
            "SELECT COUNT(*) FROM sandbox_operations WHERE kind = 'refund'",
        )
        .await?,
        open_transactions: count(
            &db,
            "SELECT COUNT(*) FROM transactions WHERE status IN ('pending', 'unknown')",
        )
        .await?,
        problems: Vec::new(),
    };
    for (what, got) in [
        ("orders (one per create key)", report.orders),
        ("charges (one per order)", report.charges),
        ("refunds (one per refund key)", report.refunds),
    ] {
        if got != expected {
            report
                .problems
                .push(format!("{what}: {got}, expected {expected}"));
        }
    }
    let charged_twice = count(
        &db,
        "SELECT COUNT(*) FROM (SELECT t.order_id FROM sandbox_payments p \
         JOIN transactions t ON t.id = p.transaction_id WHERE p.status = 'succeeded' \
         GROUP BY t.order_id HAVING COUNT(*) > 1) twice",
    )
    .await?;
    if charged_twice > 0 {
        report
            .problems
            .push(format!("{charged_twice} orders charged twice"));
    }
    let refunded_twice = count(
        &db,
        "SELECT COUNT(*) FROM (SELECT order_id FROM refunds GROUP BY order_id HAVING COUNT(*) > 1) twice",
    )
    .await?;
    if refunded_twice > 0 {
        report
            .problems
            .push(format!("{refunded_twice} orders refunded twice"));
    }
    if let Err(problems) = obol_server::ledger::check_invariants(&db).await {
        report.problems.push(format!("ledger: {problems}"));
    }
    db.close().await;
    Ok(report)
}

/// The drilled `obol serve`.
struct Server {
    child: Child,
    command: Vec<(String, String)>,
    /// The demo brand's secret key, printed by the first start.
    secret_key: Option<String>,
}

impl Server {
    fn start(args: &DrillArgs, master_key: &str) -> anyhow::Result<Server> {
        let env = vec![
            ("DATABASE_URL".to_owned(), args.database_url.clone()),
            ("OBOL_LISTEN".to_owned(), format!("127.0.0.1:{}", args.port)),
            ("OBOL_ADMIN_KEY".to_owned(), "drill-admin-key".to_owned()),
            ("OBOL_MASTER_KEY".to_owned(), master_key.to_owned()),
            ("OBOL_LOG".to_owned(), "warn".to_owned()),
        ];
        Server::spawn(env)
    }

    fn spawn(env: Vec<(String, String)>) -> anyhow::Result<Server> {
        let exe = std::env::current_exe().context("own executable")?;
        let mut child = Command::new(exe)
            .arg("serve")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env_remove("OBOL_FAILPOINT")
            .env_remove("OBOL_TEST_CLOCK")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("obol serve starts")?;
        let stdout = child.stdout.take().context("stdout")?;
        let (send, receive) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut secret_key = None;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(key) = line.trim().strip_prefix("demo secret key:") {
                    secret_key = Some(key.trim().to_owned());
                }
                if line.starts_with("obol listening on") {
                    let _ = send.send(secret_key.take());
                }
            }
        });
        let secret_key = receive
            .recv_timeout(START_TIMEOUT)
            .context("obol serve did not start listening")?;
        Ok(Server {
            child,
            command: env,
            secret_key,
        })
    }

    /// SIGKILL: no shutdown, nothing flushed.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn restart(self) -> anyhow::Result<Server> {
        let mut server = Server::spawn(self.command.clone())?;
        server.secret_key = self.secret_key.clone();
        Ok(server)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
