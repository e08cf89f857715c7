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

/// Declares a typed id: a newtype over its text with its prefix, so that
/// two kinds of id cannot be swapped in a signature (`get(brand_id, id)`).
/// It derefs to `&str` for SQL binds and comparisons.
#[macro_export]
macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The prefix of every id of this kind, without the `_`.
            pub const PREFIX: &'static str = $prefix;

            /// A new id of this kind.
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                $name($crate::id::new_id($prefix))
            }

            /// The id a request or a row names; it may name nothing, which
            /// the lookup tells.
            pub fn from_text(text: impl Into<String>) -> Self {
                $name(text.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(text: String) -> Self {
                $name(text)
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                $name(text.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&$name> for $name {
            fn eq(&self, other: &&$name) -> bool {
                self == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

id_type!(
    /// A brand (tenant), `brd_…`.
    BrandId,
    "brd"
);
id_type!(
    /// An API key, `key_…`.
    ApiKeyId,
    "key"
);
id_type!(
    /// A customer of a brand, `cus_…`.
    CustomerId,
    "cus"
);
id_type!(
    /// A connector account of a brand, `cna_…`.
    ConnectorAccountId,
    "cna"
);
id_type!(
    /// An order, `ord_…`.
    OrderId,
    "ord"
);
id_type!(
    /// A payment transaction (one connector operation), `txn_…`.
    TransactionId,
    "txn"
);
id_type!(
    /// A refund, `ref_…`.
    RefundId,
    "ref"
);
id_type!(
    /// A customer's mandate for payments without them present, `mdt_…`.
    MandateId,
    "mdt"
);
id_type!(
    /// A connector's dispute (chargeback) of a payment, `dsp_…`.
    DisputeId,
    "dsp"
);
id_type!(
    /// An event of the outbox, `evt_…`.
    EventId,
    "evt"
);
id_type!(
    /// A ledger account, `lac_…`.
    LedgerAccountId,
    "lac"
);
id_type!(
    /// A ledger entry, `lje_…`.
    LedgerEntryId,
    "lje"
);
id_type!(
    /// A scheduled job, `job_…`.
    JobId,
    "job"
);
id_type!(
    /// A webhook endpoint of a brand, `whe_…`.
    WebhookEndpointId,
    "whe"
);
id_type!(
    /// One attempt to deliver an event to a webhook endpoint or a callback
    /// URL, `whd_…`.
    WebhookDeliveryId,
    "whd"
);
id_type!(
    /// An email sent or to be sent, `eml_…`.
    EmailId,
    "eml"
);
id_type!(
    /// A brand's exchange rate between two currencies from a time on, `fxr_…`.
    ExchangeRateId,
    "fxr"
);

id_type!(
    /// A product of a brand's catalog, `prd_…`.
    ProductId,
    "prd"
);
id_type!(
    /// A feature a package can grant, `fea_…`.
    FeatureId,
    "fea"
);
id_type!(
    /// A package: what a product sells (features, a license), `pkg_…`.
    PackageId,
    "pkg"
);
id_type!(
    /// A price of a package, `prc_…`.
    PriceId,
    "prc"
);

id_type!(
    /// A coupon of a brand, `cpn_…`.
    CouponId,
    "cpn"
);
id_type!(
    /// A subscription of a customer to a recurring price, `sub_…`.
    SubscriptionId,
    "sub"
);
id_type!(
    /// An invoice, `inv_…`.
    InvoiceId,
    "inv"
);
id_type!(
    /// A credit note reducing what a paid invoice is worth, `cn_…`.
    CreditNoteId,
    "cn"
);
id_type!(
    /// A brand's tax rate for customers of one country, `txr_…`.
    TaxRateId,
    "txr"
);

#[cfg(test)]
mod typed_id_tests {
    use super::*;

    #[test]
    fn typed_ids_carry_their_prefix_and_read_as_text() {
        let order = OrderId::new();
        assert!(has_prefix(&order, OrderId::PREFIX));
        let brand = BrandId::from_text("brd_x");
        assert_eq!(brand, "brd_x");
        assert_eq!(serde_json::to_string(&brand).unwrap(), "\"brd_x\"");
        let back: BrandId = serde_json::from_str("\"brd_x\"").unwrap();
        assert_eq!(back, brand);
    }
}
