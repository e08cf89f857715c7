//! Acceptance "a new scheduled job kind is one file and one registration
//! line": `Reminder` is a whole job kind (payload, kind, what it does), and
//! `registry.add::<Reminder>()` is all it takes for the worker and the test
//! clock to run it at its time.

use crate::harness::{self, ADMIN_KEY, Backend, Options};
use crate::on_both;
use obol_core::Timestamp;
use obol_core::time::SECOND_MS;
use obol_server::AppState;
use obol_server::jobs::{Job, JobError, enqueue};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Mutex;

/// Notes of the reminders that ran, with the clock's time when they did.
static RAN: Mutex<Vec<(String, Timestamp)>> = Mutex::new(Vec::new());

/// A job kind as a domain writes one: its payload is the value itself.
#[derive(Serialize, Deserialize)]
struct Reminder {
    note: String,
}

impl Job for Reminder {
    const KIND: &'static str = "test.reminder";

    async fn run(self, state: AppState) -> Result<(), JobError> {
        if self.note.is_empty() {
            return Err(JobError::new("a reminder needs a note"));
        }
        RAN.lock().unwrap().push((self.note, state.now()));
        Ok(())
    }
}

fn ran(note: &str) -> Vec<Timestamp> {
    let ran = RAN.lock().unwrap();
    ran.iter()
        .filter(|(seen, _)| seen == note)
        .map(|(_, at)| *at)
        .collect()
}

on_both!(a_new_job_kind_runs_at_its_time);

async fn a_new_job_kind_runs_at_its_time(backend: Backend) {
    let mut registry = obol_server::job_registry();
    registry.add::<Reminder>();
    let app = harness::spawn_with(
        backend,
        Options {
            test_clock: true,
            jobs: Some(registry),
            ..Options::default()
        },
    )
    .await;
    let note = format!("{backend:?}-{}", obol_core::new_id("note"));
    let start = app.state.now();
    let due = start.plus_ms(30 * SECOND_MS);
    let mut conn = app.state.db.pool.acquire().await.expect("connection");
    let job = Reminder { note: note.clone() }.at(due);
    assert!(enqueue(&mut conn, &job, start).await.expect("enqueue"));
    drop(conn);

    app.send(
        "POST",
        "/v1/test_clock/advance",
        Some(ADMIN_KEY),
        Some(json!({"seconds": 10})),
        &[],
    )
    .await
    .expect(200);
    assert!(ran(&note).is_empty(), "the reminder ran before its time");

    app.send(
        "POST",
        "/v1/test_clock/advance",
        Some(ADMIN_KEY),
        Some(json!({"seconds": 60})),
        &[],
    )
    .await
    .expect(200);
    assert_eq!(
        ran(&note),
        vec![due],
        "the reminder did not run once, at its time"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM jobs WHERE kind = 'test.reminder' AND status = 'done'")
            .await,
        1
    );
}
