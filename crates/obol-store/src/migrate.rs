//! Migrations embedded in the binary, one list per backend.

use crate::sql::{Conn, query, query_scalar};
use crate::{Backend, Db, Result};

/// (version, SQL) for each backend; versions must match across the lists.
/// A database records only the version numbers it has applied
/// (`schema_migrations`), never a file name or checksum: files are named
/// `NNNN_<domain>_<what>.sql` and may be renamed as long as NNNN stays, and a
/// database made before a rename still finds every version it applied.
const SQLITE: &[(i64, &str)] = &[
    (
        1,
        include_str!("../migrations/sqlite/0001_platform_foundation.sql"),
    ),
    (
        2,
        include_str!("../migrations/sqlite/0002_payments_connector_accounts.sql"),
    ),
    (
        3,
        include_str!("../migrations/sqlite/0003_connectors_sandbox.sql"),
    ),
    (
        4,
        include_str!("../migrations/sqlite/0004_accounts_ledger.sql"),
    ),
    (
        5,
        include_str!("../migrations/sqlite/0005_payments_orders.sql"),
    ),
    (
        6,
        include_str!("../migrations/sqlite/0006_payments_due_work.sql"),
    ),
    (
        7,
        include_str!("../migrations/sqlite/0007_accounts_hot_rows.sql"),
    ),
    (
        8,
        include_str!("../migrations/sqlite/0008_accounts_balance_slots.sql"),
    ),
    (
        9,
        include_str!("../migrations/sqlite/0009_platform_idempotency.sql"),
    ),
    (
        10,
        include_str!("../migrations/sqlite/0010_notify_webhooks.sql"),
    ),
    (
        11,
        include_str!("../migrations/sqlite/0011_notify_emails.sql"),
    ),
    (
        12,
        include_str!("../migrations/sqlite/0012_accounts_brand_secret_sealed.sql"),
    ),
    (
        13,
        include_str!("../migrations/sqlite/0013_connectors_sandbox_return_url.sql"),
    ),
    (
        14,
        include_str!("../migrations/sqlite/0014_payments_checkout.sql"),
    ),
    (
        15,
        include_str!("../migrations/sqlite/0015_payments_mandates.sql"),
    ),
    (
        16,
        include_str!("../migrations/sqlite/0016_payments_notifications.sql"),
    ),
    (
        17,
        include_str!("../migrations/sqlite/0017_payments_disputes.sql"),
    ),
    (
        18,
        include_str!("../migrations/sqlite/0018_payments_disputes_by_order.sql"),
    ),
    (
        19,
        include_str!("../migrations/sqlite/0019_accounts_wallets.sql"),
    ),
    (
        20,
        include_str!("../migrations/sqlite/0020_accounts_redeem_codes.sql"),
    ),
    (
        21,
        include_str!("../migrations/sqlite/0021_accounts_exchange_rates.sql"),
    ),
    (
        22,
        include_str!("../migrations/sqlite/0022_accounts_attempts_and_credit_bindings.sql"),
    ),
    (
        23,
        include_str!("../migrations/sqlite/0023_payments_purge.sql"),
    ),
    (
        24,
        include_str!("../migrations/sqlite/0024_billing_catalog.sql"),
    ),
    (
        25,
        include_str!("../migrations/sqlite/0025_billing_invoices.sql"),
    ),
    (
        26,
        include_str!("../migrations/sqlite/0026_billing_subscriptions.sql"),
    ),
    (
        27,
        include_str!("../migrations/sqlite/0027_payments_order_coupons.sql"),
    ),
];
const POSTGRES: &[(i64, &str)] = &[
    (
        1,
        include_str!("../migrations/postgres/0001_platform_foundation.sql"),
    ),
    (
        2,
        include_str!("../migrations/postgres/0002_payments_connector_accounts.sql"),
    ),
    (
        3,
        include_str!("../migrations/postgres/0003_connectors_sandbox.sql"),
    ),
    (
        4,
        include_str!("../migrations/postgres/0004_accounts_ledger.sql"),
    ),
    (
        5,
        include_str!("../migrations/postgres/0005_payments_orders.sql"),
    ),
    (
        6,
        include_str!("../migrations/postgres/0006_payments_due_work.sql"),
    ),
    (
        7,
        include_str!("../migrations/postgres/0007_accounts_hot_rows.sql"),
    ),
    (
        8,
        include_str!("../migrations/postgres/0008_accounts_balance_slots.sql"),
    ),
    (
        9,
        include_str!("../migrations/postgres/0009_platform_idempotency.sql"),
    ),
    (
        10,
        include_str!("../migrations/postgres/0010_notify_webhooks.sql"),
    ),
    (
        11,
        include_str!("../migrations/postgres/0011_notify_emails.sql"),
    ),
    (
        12,
        include_str!("../migrations/postgres/0012_accounts_brand_secret_sealed.sql"),
    ),
    (
        13,
        include_str!("../migrations/postgres/0013_connectors_sandbox_return_url.sql"),
    ),
    (
        14,
        include_str!("../migrations/postgres/0014_payments_checkout.sql"),
    ),
    (
        15,
        include_str!("../migrations/postgres/0015_payments_mandates.sql"),
    ),
    (
        16,
        include_str!("../migrations/postgres/0016_payments_notifications.sql"),
    ),
    (
        17,
        include_str!("../migrations/postgres/0017_payments_disputes.sql"),
    ),
    (
        18,
        include_str!("../migrations/postgres/0018_payments_disputes_by_order.sql"),
    ),
    (
        19,
        include_str!("../migrations/postgres/0019_accounts_wallets.sql"),
    ),
    (
        20,
        include_str!("../migrations/postgres/0020_accounts_redeem_codes.sql"),
    ),
    (
        21,
        include_str!("../migrations/postgres/0021_accounts_exchange_rates.sql"),
    ),
    (
        22,
        include_str!("../migrations/postgres/0022_accounts_attempts_and_credit_bindings.sql"),
    ),
    (
        23,
        include_str!("../migrations/postgres/0023_payments_purge.sql"),
    ),
    (
        24,
        include_str!("../migrations/postgres/0024_billing_catalog.sql"),
    ),
    (
        25,
        include_str!("../migrations/postgres/0025_billing_invoices.sql"),
    ),
    (
        26,
        include_str!("../migrations/postgres/0026_billing_subscriptions.sql"),
    ),
    (
        27,
        include_str!("../migrations/postgres/0027_payments_order_coupons.sql"),
    ),
];

/// Arbitrary constant naming the advisory lock that keeps two processes
/// from migrating one PostgreSQL database at once.
const MIGRATION_LOCK_ID: i64 = 0x0b01_0001;

pub async fn run(db: &Db) -> Result<()> {
    let mut conn = db.writer.acquire().await?;
    if db.backend == Backend::Postgres {
        crate::sql::query("SELECT pg_advisory_lock($1)")
            .bind(MIGRATION_LOCK_ID)
            .execute(&mut *conn)
            .await?;
    }
    let result = apply(db, &mut conn).await;
    if db.backend == Backend::Postgres {
        crate::sql::query("SELECT pg_advisory_unlock($1)")
            .bind(MIGRATION_LOCK_ID)
            .execute(&mut *conn)
            .await?;
    }
    result
}

async fn apply(db: &Db, conn: &mut Conn) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .await?;
    let applied: Vec<i64> = query_scalar("SELECT version FROM schema_migrations")
        .fetch_all(&mut *conn)
        .await?;
    let list = match db.backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    };
    for (version, sql) in list {
        if applied.contains(version) {
            continue;
        }
        tracing::info!(version, "applying migration");
        let begin = match db.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        conn.execute_batch(begin).await?;
        let outcome = async {
            conn.execute_batch(sql).await?;
            query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
                .bind(*version)
                .bind(obol_core::Timestamp::system_now().as_ms())
                .execute(&mut *conn)
                .await?;
            Ok::<_, crate::StoreError>(())
        }
        .await;
        match outcome {
            Ok(()) => conn.execute_batch("COMMIT").await?,
            Err(error) => {
                conn.execute_batch("ROLLBACK").await?;
                return Err(error);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{POSTGRES, SQLITE};

    /// A database moves between backends' binaries by version number alone,
    /// so both lists must number alike, from 1 and without gaps.
    #[test]
    fn both_backends_number_their_migrations_alike() {
        let sqlite: Vec<i64> = SQLITE.iter().map(|(version, _)| *version).collect();
        let postgres: Vec<i64> = POSTGRES.iter().map(|(version, _)| *version).collect();
        let expected: Vec<i64> = (1..=sqlite.len() as i64).collect();
        assert_eq!(sqlite, expected);
        assert_eq!(postgres, expected);
    }
}
