//! `obol`: the payments and billing server binary.

mod bench;
mod drill;
mod renewals;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use obol_server::brands::CreateBrand;
use obol_server::error::ApiError;
use obol_server::{Config, Server};

#[derive(Parser)]
#[command(name = "obol", version, about = "Payments and billing server")]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Common {
    /// Database: sqlite://PATH (created if missing) or postgres://…
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://obol.db",
        global = true
    )]
    database_url: String,
    /// Log filter, e.g. `info` or `obol_server=debug`.
    #[arg(long, env = "OBOL_LOG", default_value = "info", global = true)]
    log: String,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate, then serve the API and run the job worker.
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage brands directly in the database.
    #[command(subcommand)]
    Brand(BrandCommand),
    /// Check the books.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Load a running server with concurrent checkouts and report throughput.
    Bench {
        /// Base URL of the server.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// A brand secret key whose brand has a sandbox connector account.
        #[arg(long, env = "OBOL_BENCH_KEY", hide_env_values = true)]
        key: String,
        /// Concurrent clients.
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// How long to run, in seconds.
        #[arg(long, default_value_t = 10)]
        duration_secs: u64,
        #[arg(long, default_value = "EUR")]
        currency: String,
        /// Also measure webhook fan-out: this many endpoints (taking
        /// `order.paid`) on a receiver the bench runs on 127.0.0.1; the
        /// server must allow private networks (OBOL_ALLOW_PRIVATE_NETWORK=1).
        #[arg(long, default_value_t = 0)]
        webhooks: usize,
        /// Order amount in minor units.
        #[arg(long, default_value_t = 1000)]
        amount: i64,
    },
    /// Against a server on the test clock: start N subscriptions, then time
    /// the one clock advance that renews them all.
    BenchRenewals {
        /// Base URL of the server.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// A brand secret key whose brand has a sandbox connector account.
        #[arg(long, env = "OBOL_BENCH_KEY", hide_env_values = true)]
        key: String,
        /// The server's admin key (to move its test clock).
        #[arg(long, env = "OBOL_ADMIN_KEY", hide_env_values = true)]
        admin_key: String,
        /// Subscriptions to renew.
        #[arg(long, default_value_t = 1000)]
        subscriptions: usize,
        /// Concurrent clients starting them.
        #[arg(long, default_value_t = 8)]
        clients: usize,
    },
    /// Kill drill: serve on an empty database (`--database-url`), SIGKILL
    /// and restart the server at random while clients create, confirm and
    /// refund with idempotency keys; then check that every key had one
    /// effect and the ledger balances.
    Drill {
        /// Port the drilled server listens on (127.0.0.1).
        #[arg(long, default_value_t = 18091)]
        port: u16,
        /// Concurrent clients.
        #[arg(long, default_value_t = 8)]
        clients: usize,
        /// Checkouts in all, each a create, a confirm and a refund.
        #[arg(long, default_value_t = 1000)]
        checkouts: usize,
        /// SIGKILLs, at random points of the run.
        #[arg(long, default_value_t = 20)]
        kills: usize,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "OBOL_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Base URL for links (payment links, hosted pages).
    #[arg(long, env = "OBOL_PUBLIC_URL")]
    public_url: Option<String>,
    /// The platform admin key; generated and printed on first start if unset.
    #[arg(long, env = "OBOL_ADMIN_KEY", hide_env_values = true)]
    admin_key: Option<String>,
    /// 32 bytes, base64 or hex: encrypts connector credentials and keys HMACs.
    /// Required with PostgreSQL; on SQLite a 0600 key file beside the
    /// database is made when unset.
    #[arg(long, env = "OBOL_MASTER_KEY", hide_env_values = true)]
    master_key: Option<String>,
    /// Obol's timeout for one connector call, in milliseconds.
    #[arg(long, env = "OBOL_CONNECTOR_TIMEOUT_MS", default_value_t = 30_000)]
    connector_timeout_ms: u64,
    /// Run on the test clock (moves only by POST /v1/test_clock/advance).
    #[arg(long, env = "OBOL_TEST_CLOCK", value_parser = parse_flag, default_value = "0")]
    test_clock: bool,
    /// Let outbound requests (webhooks, callbacks) reach loopback, private,
    /// link-local and multicast addresses: for tests and private deployments.
    #[arg(long, env = "OBOL_ALLOW_PRIVATE_NETWORK", value_parser = parse_flag, default_value = "0")]
    allow_private_network: bool,
    /// Another name for `--allow-private-network`, as api.md allows.
    #[arg(long, env = "OBOL_WEBHOOK_ALLOW_PRIVATE", value_parser = parse_flag, default_value = "0", hide = true)]
    webhook_allow_private: bool,
    /// The SMTP server emails go through: smtp://user:pass@host:587 (STARTTLS
    /// when offered) or smtps://… (implicit TLS). Unset: emails are recorded
    /// but not sent.
    #[arg(long, env = "OBOL_SMTP_URL", hide_env_values = true)]
    smtp_url: Option<String>,
}

#[derive(Subcommand)]
enum BrandCommand {
    /// Create a brand and print its keys as JSON.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        default_currency: Option<String>,
    },
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Verify the whole ledger (entries balanced, balances equal to their
    /// postings, no wallet below zero, every paid top-up credited); exits 1
    /// naming what is wrong.
    Check,
}

fn parse_flag(value: &str) -> Result<bool, String> {
    match value {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        other => Err(format!("expected 1 or 0, got {other}")),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Before any HTTP client is built (the server's, bench's, drill's).
    obol_server::outbound::install_tls_provider();
    let mut filter = tracing_subscriber::EnvFilter::try_new(&cli.common.log)
        .context("invalid OBOL_LOG filter")?;
    // PostgreSQL's driver logs every statement's parameters (customers'
    // emails, metadata) at debug: a verbose OBOL_LOG leaves it at info
    // unless it names the driver itself.
    if !cli.common.log.contains("tokio_postgres") {
        filter = filter.add_directive("tokio_postgres=info".parse().context("driver filter")?);
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match cli.command {
        Command::Serve(args) => serve(cli.common, args).await,
        Command::Bench {
            url,
            key,
            clients,
            duration_secs,
            currency,
            amount,
            webhooks,
        } => {
            let args = bench::BenchArgs {
                url: url.trim_end_matches('/').to_owned(),
                key,
                clients,
                duration: std::time::Duration::from_secs(duration_secs),
                currency,
                amount,
                webhooks,
            };
            bench::run(args).await
        }
        Command::BenchRenewals {
            url,
            key,
            admin_key,
            subscriptions,
            clients,
        } => {
            let args = renewals::RenewalArgs {
                url: url.trim_end_matches('/').to_owned(),
                key,
                admin_key,
                subscriptions,
                clients,
            };
            renewals::run(args).await
        }
        Command::Drill {
            port,
            clients,
            checkouts,
            kills,
        } => {
            let args = drill::DrillArgs {
                database_url: cli.common.database_url,
                port,
                clients: clients.max(1),
                checkouts,
                kills,
            };
            drill::run(args).await
        }
        Command::Migrate => {
            let db = obol_store::Db::connect(&cli.common.database_url).await?;
            db.migrate().await?;
            db.close().await;
            println!("migrations applied");
            Ok(())
        }
        Command::Ledger(LedgerCommand::Check) => ledger_check(&cli.common).await,
        Command::Brand(BrandCommand::Create {
            name,
            default_currency,
        }) => {
            let db = obol_store::Db::connect(&cli.common.database_url).await?;
            db.migrate().await?;
            let input = CreateBrand {
                name,
                parent_brand_id: None,
                commission_rate_bps: None,
                default_currency,
                clearing_days: None,
                support_email: None,
            };
            // The brand's webhook secret is sealed under the server's key.
            let master_key = obol_server::crypto::load(
                std::env::var("OBOL_MASTER_KEY").ok().as_deref(),
                &cli.common.database_url,
                db.backend,
            )
            .map_err(|error| anyhow::anyhow!(error))?;
            let now = obol_core::Timestamp::system_now();
            let created = obol_server::brands::create(&db, &master_key, now, input)
                .await
                .map_err(|error| anyhow::anyhow!(ApiError::from(error).message))?;
            db.close().await;
            println!("{}", serde_json::to_string_pretty(&created)?);
            Ok(())
        }
    }
}

/// `obol ledger check`: progress on stderr, the summary on stdout.
async fn ledger_check(common: &Common) -> anyhow::Result<()> {
    use obol_server::ledger::Progress;
    use std::io::Write;
    let db = obol_store::Db::connect(&common.database_url).await?;
    let mut stderr = std::io::stderr();
    let mut report = |progress: Progress<'_>| {
        // Progress lines are best effort: a closed stderr stops nothing.
        let _ = match progress {
            Progress::Step(what) => writeln!(stderr, "checking: {what}"),
            Progress::Entries { done, total } if total > 0 => {
                writeln!(stderr, "  entries {done}/{total} ({}%)", done * 100 / total)
            }
            Progress::Entries { .. } => Ok(()),
        };
    };
    let checked = obol_server::ledger::check(&db, &mut report)
        .await
        .map_err(|error| anyhow::anyhow!("cannot check the ledger: {error}"))?;
    db.close().await;
    let size = format!(
        "{} entries, {} postings, {} accounts",
        checked.entries, checked.postings, checked.accounts
    );
    if checked.problems.is_empty() {
        println!("ledger ok: {size}");
        return Ok(());
    }
    println!("ledger check failed ({size}):");
    for problem in &checked.problems {
        println!("  {problem}");
    }
    std::process::exit(1);
}

async fn serve(common: Common, args: ServeArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    let config = Config {
        database_url: common.database_url,
        listen: local.to_string(),
        public_url: args.public_url,
        admin_key: args.admin_key.filter(|key| !key.is_empty()),
        test_clock: args.test_clock,
        job_poll_interval_ms: 250,
        master_key: args.master_key.filter(|key| !key.is_empty()),
        connector_timeout_ms: args.connector_timeout_ms,
        failpoint: std::env::var("OBOL_FAILPOINT")
            .ok()
            .filter(|value| !value.is_empty()),
        allow_private_network: args.allow_private_network || args.webhook_allow_private,
        smtp_url: args.smtp_url.filter(|url| !url.is_empty()),
    };
    let server = Server::new(&config, obol_server::job_registry()).await?;
    if let Some(first) =
        obol_server::bootstrap::first_start(&server.state, config.admin_key.is_some())
            .await
            .map_err(|error| anyhow::anyhow!(error.message))?
    {
        println!(
            "First start: created the database and a demo brand. These secrets are shown only now."
        );
        if let Some(admin_key) = &first.admin_key {
            println!("  admin key:              {admin_key}");
        }
        println!("  demo brand:             {}", first.demo.brand.id);
        println!("  demo secret key:        {}", first.demo.secret_key);
        println!("  demo publishable key:   {}", first.demo.publishable_key);
    }
    // The signal handlers exist before "listening" is printed: a SIGTERM
    // sent as soon as the line appears is a graceful stop, not a kill.
    let shutdown = shutdown_signal()?;
    println!("obol listening on http://{local}");
    tracing::info!(%local, test_clock = config.test_clock, "listening");
    server.serve(listener, shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}

fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let (mut interrupt, mut terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        )
    };
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing in-flight requests");
    })
}
