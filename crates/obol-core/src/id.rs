//! Prefixed, time-sortable identifiers (`cus_01J…`).

use rand::Rng;
use std::sync::Mutex;

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The random part of an id: 80 bits.
const RANDOM_LIMIT: u128 = 1 << 80;

/// Last issued (millisecond, random) pair, so that ids made in the same
/// millisecond by this process still sort in creation order.
static LAST: Mutex<(u64, u128)> = Mutex::new((0, 0));

/// A new id such as `cus_01JD3K…`: 48 bits of wall-clock milliseconds then 80
/// random bits, in Crockford base32, so that ids sort by creation time.
///
/// An id made in the same millisecond as the last (or after the wall clock
/// stepped back) takes the last one's random part plus a fresh random step
/// of 1 to 2^64: it still sorts after it, yet one id tells nothing of its
/// neighbours, where counting up by one would give the next id away. A new
/// millisecond starts below 2^79, leaving room for 2^15 steps or more; past
/// the top, the id borrows the next millisecond.
pub fn new_id(prefix: &str) -> String {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut rng = rand::rng();
    let step = 1 + u128::from(rng.random::<u64>());
    let start = rng.random::<u128>() & ((RANDOM_LIMIT >> 1) - 1);
    let (ms, random) = {
        let mut last = LAST.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *last = match last.1.checked_add(step) {
            _ if now_ms > last.0 => (now_ms, start),
            Some(random) if random < RANDOM_LIMIT => (last.0, random),
            _ => (last.0 + 1, start),
        };
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

    /// The 128-bit value an id encodes: 48 bits of milliseconds, 80 random.
    fn value_of(id: &str) -> u128 {
        let (_, encoded) = id.split_once('_').expect("a prefixed id");
        encoded.bytes().fold(0u128, |value, byte| {
            let digit = CROCKFORD.iter().position(|&c| c == byte).expect("base32");
            (value << 5) | digit as u128
        })
    }

    #[test]
    fn ids_of_one_millisecond_still_sort_but_tell_nothing_of_each_other() {
        let mut steps = Vec::new();
        let mut previous = new_id("ord");
        for _ in 0..1_000_000 {
            let id = new_id("ord");
            assert!(id > previous, "{id} does not sort after {previous}");
            let (before, after) = (value_of(&previous), value_of(&id));
            if before >> 80 == after >> 80 {
                steps.push(after - before);
            }
            previous = id;
            if steps.len() == 200 {
                break;
            }
        }
        assert_eq!(steps.len(), 200, "too few ids made in one millisecond");
        // A neighbour is no small step away, and the steps differ: one id
        // does not give away the next.
        assert!(
            steps.iter().all(|&step| step > 1 << 32),
            "ids of one millisecond {} apart",
            steps.iter().min().copied().unwrap_or_default()
        );
        steps.sort_unstable();
        steps.dedup();
        assert!(steps.len() > 190, "the steps between ids repeat");
    }
}
