//! Prefixed, time-sortable identifiers (`cus_01J…`).

use rand::Rng;
use std::sync::Mutex;

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Last issued (millisecond, random) pair, so that ids made in the same
/// millisecond by this process still sort in creation order.
static LAST: Mutex<(u64, u128)> = Mutex::new((0, 0));

/// A new id such as `cus_01JD3K…`: 48 bits of wall-clock milliseconds then 80
/// random bits, in Crockford base32, so that ids sort by creation time.
pub fn new_id(prefix: &str) -> String {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let (ms, random) = {
        let mut last = LAST.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if now_ms <= last.0 {
            // Same (or earlier, if the wall clock stepped back) millisecond:
            // keep the last one and count up, so the order stays monotonic.
            last.1 = (last.1 + 1) & ((1u128 << 80) - 1);
        } else {
            *last = (now_ms, rand::rng().random::<u128>() & ((1u128 << 79) - 1));
        }
        *last
    };
    let value: u128 = ((ms as u128) << 80) | random;
    let mut out = String::with_capacity(prefix.len() + 27);
    out.push_str(prefix);
    out.push('_');
    for i in (0..26).rev() {
        let index = ((value >> (i * 5)) & 0x1f) as usize;
        out.push(CROCKFORD[index] as char);
    }
    out
}

/// Whether `id` has the shape of an id with this prefix (it may still not exist).
pub fn has_prefix(id: &str, prefix: &str) -> bool {
    id.len() == prefix.len() + 27
        && id.starts_with(prefix)
        && id.as_bytes()[prefix.len()] == b'_'
        && id[prefix.len() + 1..]
            .bytes()
            .all(|b| CROCKFORD.contains(&b))
}

/// A random token of `len` characters from `[A-Za-z0-9]`, for secrets.
pub fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_and_monotonic() {
        let ids: Vec<String> = (0..1000).map(|_| new_id("cus")).collect();
        assert!(ids.iter().all(|id| has_prefix(id, "cus")));
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert!(!has_prefix("cus_short", "cus"));
        assert!(!has_prefix(&new_id("ord"), "cus"));
    }
}
