//! Folding queued PostgreSQL writes into fewer statements.
//!
//! A transaction's queued writes go out together anyway; sent as one
//! statement (`WITH w0 AS (…), w1 AS (…) <first write>`), PostgreSQL binds,
//! starts, runs and answers one statement instead of several. Siblings in a
//! `WITH` share one snapshot and do not see each other's changes, so a run
//! only takes writes to distinct tables that read no other table (no
//! `SELECT` in them): a second write to a table starts the next statement,
//! and statements keep their order. Foreign keys are checked at the end of
//! the whole statement, when every sibling's rows are there.

use super::Arg;
use std::borrow::Cow;

pub(super) type Statement = (Cow<'static, str>, Vec<Arg>);

/// The table an `INSERT INTO`, `UPDATE` or `DELETE FROM` writes; `None` for
/// anything else, and for a write that reads (`SELECT`) or answers
/// (`RETURNING`), which are never folded.
fn written_table(sql: &str) -> Option<&str> {
    let rest = sql
        .strip_prefix("INSERT INTO ")
        .or_else(|| sql.strip_prefix("UPDATE "))
        .or_else(|| sql.strip_prefix("DELETE FROM "))?;
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    (end > 0 && !sql.contains("RETURNING") && !sql.contains("SELECT")).then(|| &rest[..end])
}

/// Appends `sql` with each `$n` outside string literals raised by `by`.
fn push_shifted(out: &mut String, sql: &str, by: usize) {
    let mut in_literal = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        match c {
            '\'' => in_literal = !in_literal,
            '$' if !in_literal => {
                let mut number = 0usize;
                let mut digits = 0;
                while let Some(digit) = chars.peek().and_then(|d| d.to_digit(10)) {
                    number = number * 10 + digit as usize;
                    digits += 1;
                    chars.next();
                }
                if digits > 0 {
                    out.push_str(&(number + by).to_string());
                }
            }
            _ => {}
        }
    }
}

/// One statement for a run of writes to distinct tables. PostgreSQL runs
/// the main statement first and then the `WITH` ones from last to first, so
/// the first write is the main one and the rest are listed in reverse: they
/// run in queued order (not a promise, only a matter of when row locks are
/// taken, which is why the shared balance rows are written last).
fn fold(mut run: Vec<Statement>) -> Statement {
    if run.len() == 1 {
        return run.pop().expect("one statement");
    }
    let (main, main_args) = run.remove(0);
    let mut sql = String::from("WITH ");
    let mut args = Vec::new();
    for (index, (statement, statement_args)) in run.into_iter().rev().enumerate() {
        if index > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("w{index} AS ("));
        push_shifted(&mut sql, &statement, args.len());
        sql.push(')');
        args.extend(statement_args);
    }
    sql.push(' ');
    push_shifted(&mut sql, &main, args.len());
    args.extend(main_args);
    (Cow::Owned(sql), args)
}

/// The statements to send for `queued`, in order, with runs of writes to
/// distinct tables folded into one statement each.
pub(super) fn fold_writes(queued: Vec<Statement>) -> Vec<Statement> {
    let mut out = Vec::with_capacity(queued.len());
    let mut run: Vec<Statement> = Vec::new();
    let mut tables: Vec<String> = Vec::new();
    for statement in queued {
        let table = written_table(&statement.0).map(str::to_owned);
        let joins = table.as_ref().is_some_and(|t| !tables.contains(t));
        if !joins && !run.is_empty() {
            out.push(fold(std::mem::take(&mut run)));
            tables.clear();
        }
        match table {
            Some(table) => {
                tables.push(table);
                run.push(statement);
            }
            None => out.push(statement),
        }
    }
    if !run.is_empty() {
        out.push(fold(run));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(sql: &'static str, args: &[i64]) -> Statement {
        (
            Cow::Borrowed(sql),
            args.iter().map(|n| Arg::Int(Some(*n))).collect(),
        )
    }

    fn sql_of(statements: &[Statement]) -> Vec<&str> {
        statements.iter().map(|(sql, _)| sql.as_ref()).collect()
    }

    #[test]
    fn writes_to_distinct_tables_fold_into_one_statement() {
        let folded = fold_writes(vec![
            statement("BEGIN", &[]),
            statement("INSERT INTO a (x, y) VALUES ($1, $2)", &[1, 2]),
            statement("UPDATE b SET x = $1 WHERE id = $2 AND t = '$1'", &[3, 4]),
            statement("INSERT INTO c (x) VALUES ($1)", &[5]),
        ]);
        assert_eq!(
            sql_of(&folded),
            [
                "BEGIN",
                "WITH w0 AS (INSERT INTO c (x) VALUES ($1)), \
                 w1 AS (UPDATE b SET x = $2 WHERE id = $3 AND t = '$1') \
                 INSERT INTO a (x, y) VALUES ($4, $5)"
            ]
        );
        let args: Vec<_> = folded[1]
            .1
            .iter()
            .map(|arg| match arg {
                Arg::Int(n) => n.unwrap_or_default(),
                Arg::Text(_) => -1,
            })
            .collect();
        assert_eq!(args, [5, 3, 4, 1, 2]);
    }

    #[test]
    fn a_second_write_to_a_table_starts_the_next_statement() {
        let folded = fold_writes(vec![
            statement("INSERT INTO orders (x) VALUES ($1)", &[1]),
            statement("INSERT INTO events (x) VALUES ($1)", &[2]),
            statement("UPDATE orders SET x = $1", &[3]),
            statement("INSERT INTO ledger_entries (x) VALUES ($1)", &[4]),
        ]);
        assert_eq!(
            sql_of(&folded),
            [
                "WITH w0 AS (INSERT INTO events (x) VALUES ($1)) INSERT INTO orders (x) VALUES ($2)",
                "WITH w0 AS (INSERT INTO ledger_entries (x) VALUES ($1)) UPDATE orders SET x = $2"
            ]
        );
    }

    #[test]
    fn other_statements_are_sent_as_they_are_and_in_order() {
        let folded = fold_writes(vec![
            statement("INSERT INTO a (x) VALUES ($1)", &[1]),
            statement("SELECT 1", &[]),
            statement("INSERT INTO b (x) VALUES ($12) RETURNING x", &[2]),
            statement("INSERT INTO c (x) SELECT x FROM a", &[]),
            statement("UPDATE d SET x = (SELECT MAX(x) FROM c)", &[]),
        ]);
        assert_eq!(
            sql_of(&folded),
            [
                "INSERT INTO a (x) VALUES ($1)",
                "SELECT 1",
                "INSERT INTO b (x) VALUES ($12) RETURNING x",
                "INSERT INTO c (x) SELECT x FROM a",
                "UPDATE d SET x = (SELECT MAX(x) FROM c)"
            ]
        );
    }
}
