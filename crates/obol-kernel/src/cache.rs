//! In-process caches of what a request would otherwise read on every call:
//! API keys (briefly, since another process may revoke one) and ledger
//! account ids (forever: an account's id never changes once it exists).

use crate::auth::Principal;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a resolved key is trusted before it is read again. A key
/// revoked through this process stops at once; through another process of
/// the same database, within this.
pub const KEY_TTL: Duration = Duration::from_secs(5);
/// Bounds on each cache; a full cache starts over rather than grow.
const MAX_KEYS: usize = 10_000;
const MAX_ACCOUNTS: usize = 100_000;

/// The account a ledger key names: brand, type, currency and owner.
pub type AccountName = (
    obol_core::BrandId,
    &'static str,
    &'static str,
    Option<String>,
);

#[derive(Default)]
pub struct Caches {
    keys: Mutex<HashMap<String, (Principal, Instant)>>,
    accounts: Mutex<HashMap<AccountName, obol_core::LedgerAccountId>>,
}

impl Caches {
    /// The principal of a key's hash, if resolved within `KEY_TTL`.
    pub fn key(&self, hash: &str) -> Option<Principal> {
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.get(hash)
            .filter(|(_, at)| at.elapsed() < KEY_TTL)
            .map(|(principal, _)| principal.clone())
    }

    pub fn remember_key(&self, hash: String, principal: Principal) {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if keys.len() >= MAX_KEYS {
            keys.clear();
        }
        keys.insert(hash, (principal, Instant::now()));
    }

    /// Forgets the key `key_id` (revoked).
    pub fn forget_key(&self, key_id: &obol_core::ApiKeyId) {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.retain(|_, (principal, _)| principal.key_id() != Some(key_id));
    }

    pub fn account(&self, name: &AccountName) -> Option<obol_core::LedgerAccountId> {
        let accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        accounts.get(name).cloned()
    }

    pub fn remember_account(&self, name: AccountName, id: obol_core::LedgerAccountId) {
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        if accounts.len() >= MAX_ACCOUNTS {
            accounts.clear();
        }
        accounts.insert(name, id);
    }
}
