//! The one source of time: the system clock, or the test clock that moves
//! only when told and whose time is kept in the database.

use obol_core::Timestamp;
use obol_store::Db;
use std::sync::atomic::{AtomicI64, Ordering};

pub use obol_core::clock::Clock;

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::system_now()
    }
}

/// A clock that moves only by `set`, persisted so it survives a restart.
pub struct TestClock {
    now_ms: AtomicI64,
    /// One advance at a time: an advance steps through due jobs in order.
    pub advance_lock: tokio::sync::Mutex<()>,
}

impl TestClock {
    /// Loads the stored time, or starts at the wall-clock time and stores it.
    pub async fn load(db: &Db) -> obol_store::Result<TestClock> {
        let mut conn = db.write_conn().await?;
        let now_ms = match obol_store::clock::get(&mut conn).await? {
            Some(stored) => stored,
            None => {
                let now_ms = Timestamp::system_now().as_ms();
                obol_store::clock::set(&mut conn, now_ms).await?;
                now_ms
            }
        };
        Ok(TestClock {
            now_ms: AtomicI64::new(now_ms),
            advance_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// Moves the clock forward to `to` (never backward) and stores it.
    pub async fn set(&self, db: &Db, to: Timestamp) -> obol_store::Result<()> {
        let previous = self.now_ms.fetch_max(to.as_ms(), Ordering::SeqCst);
        if to.as_ms() > previous {
            let mut conn = db.write_conn().await?;
            obol_store::clock::set(&mut conn, to.as_ms()).await?;
        }
        Ok(())
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_ms(self.now_ms.load(Ordering::SeqCst))
    }
}
