//! Parse-don't-validate helpers for input that crosses the API edge.

use serde_json::Value;
use std::collections::BTreeMap;

/// A rejected input value: which parameter and why, in the API's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidParam {
    pub param: String,
    pub code: &'static str,
    pub message: String,
}

impl InvalidParam {
    pub fn new(param: impl Into<String>, message: impl Into<String>) -> Self {
        InvalidParam {
            param: param.into(),
            code: "parameter_invalid",
            message: message.into(),
        }
    }
}

pub const METADATA_MAX_KEYS: usize = 50;
pub const METADATA_KEY_MAX_CHARS: usize = 40;
pub const METADATA_VALUE_MAX_CHARS: usize = 500;

/// Metadata: up to 50 string keys of ≤ 40 characters to string values of
/// ≤ 500 characters.
pub type Metadata = BTreeMap<String, String>;

/// Checks a `metadata` JSON value against the limits and returns it as a map.
pub fn metadata(value: &Value) -> Result<Metadata, InvalidParam> {
    let object = value
        .as_object()
        .ok_or_else(|| InvalidParam::new("metadata", "metadata must be an object"))?;
    if object.len() > METADATA_MAX_KEYS {
        return Err(InvalidParam::new(
            "metadata",
            format!("metadata can have at most {METADATA_MAX_KEYS} keys"),
        ));
    }
    let mut out = Metadata::new();
    for (key, value) in object {
        let param = format!("metadata[{key}]");
        if key.is_empty() || key.chars().count() > METADATA_KEY_MAX_CHARS {
            return Err(InvalidParam::new(
                param,
                format!("metadata keys must be 1 to {METADATA_KEY_MAX_CHARS} characters"),
            ));
        }
        let text = value
            .as_str()
            .ok_or_else(|| InvalidParam::new(&param, "metadata values must be strings"))?;
        if text.chars().count() > METADATA_VALUE_MAX_CHARS {
            return Err(InvalidParam::new(
                param,
                format!("metadata values must be at most {METADATA_VALUE_MAX_CHARS} characters"),
            ));
        }
        out.insert(key.clone(), text.to_owned());
    }
    Ok(out)
}

/// Applies a metadata patch (Stripe's rule): keys merge, a key set to `""`
/// is removed; the result must still fit the key limit.
pub fn merge_metadata(stored: &mut Metadata, patch: Metadata) -> Result<(), InvalidParam> {
    for (key, value) in patch {
        if value.is_empty() {
            stored.remove(&key);
        } else {
            stored.insert(key, value);
        }
    }
    if stored.len() > METADATA_MAX_KEYS {
        return Err(InvalidParam::new(
            "metadata",
            format!("metadata can have at most {METADATA_MAX_KEYS} keys"),
        ));
    }
    Ok(())
}

/// Checks an email address: one `@`, a non-empty local part, and a dotted
/// domain; no whitespace; at most 254 characters. Returns it trimmed, with
/// the domain lower-cased.
pub fn email(param: &str, value: &str) -> Result<String, InvalidParam> {
    let invalid = || InvalidParam::new(param, format!("{param} must be a valid email address"));
    let value = value.trim();
    if value.len() > 254 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    let (local, domain) = value.split_once('@').ok_or_else(invalid)?;
    let labels_ok = domain
        .split('.')
        .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'));
    if local.is_empty()
        || local.len() > 64
        || domain.contains('@')
        || !domain.contains('.')
        || !labels_ok
        || !domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-')
    {
        return Err(invalid());
    }
    Ok(format!("{local}@{}", domain.to_lowercase()))
}

/// Checks a currency: an upper-case ISO 4217 code Obol knows, else
/// `currency_unsupported`.
pub fn currency(param: &str, value: &str) -> Result<crate::Currency, InvalidParam> {
    crate::Currency::parse(value).ok_or_else(|| InvalidParam {
        param: param.to_owned(),
        code: "currency_unsupported",
        message: format!(
            "unsupported currency '{value}': use an upper-case ISO 4217 code such as EUR"
        ),
    })
}

/// Checks an http(s) URL of at most 2048 characters with no whitespace.
pub fn url(param: &str, value: &str) -> Result<String, InvalidParam> {
    let ok = (value.starts_with("https://") || value.starts_with("http://"))
        && value.len() <= 2048
        && !value.contains(char::is_whitespace);
    if ok {
        Ok(value.to_owned())
    } else {
        Err(InvalidParam::new(
            param,
            format!("{param} must be an http(s) URL"),
        ))
    }
}

/// The largest inline logo (`data:` URL) a brand may set, in characters.
pub const INLINE_IMAGE_MAX: usize = 100_000;

/// Checks an image URL: an http(s) URL, or an inline `data:image/…;base64,`
/// one (PNG, JPEG, GIF or WebP, at most [`INLINE_IMAGE_MAX`] characters),
/// which pages can show without loading anything from elsewhere.
pub fn image_url(param: &str, value: &str) -> Result<String, InvalidParam> {
    let Some(rest) = value.strip_prefix("data:image/") else {
        return url(param, value);
    };
    let inline = ["png", "jpeg", "gif", "webp"].iter().any(|kind| {
        rest.strip_prefix(kind)
            .and_then(|r| r.strip_prefix(";base64,"))
            .is_some_and(|data| {
                !data.is_empty()
                    && data
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
            })
    });
    if inline && value.len() <= INLINE_IMAGE_MAX {
        Ok(value.to_owned())
    } else {
        Err(InvalidParam::new(
            param,
            format!(
                "{param} must be an http(s) URL or a base64 data:image/png, jpeg, gif or webp URL of at most {INLINE_IMAGE_MAX} characters"
            ),
        ))
    }
}

/// Checks an ISO 3166-1 alpha-2 country code in upper case (`DE`).
pub fn country(param: &str, value: &str) -> Result<String, InvalidParam> {
    if value.len() == 2 && value.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(value.to_owned())
    } else {
        Err(InvalidParam::new(
            param,
            format!("{param} must be an ISO 3166-1 alpha-2 code in upper case, like DE"),
        ))
    }
}

/// Parses an RFC 3339 time after `now` (an expiry).
pub fn future_time(
    param: &str,
    value: &str,
    now: crate::Timestamp,
) -> Result<crate::Timestamp, InvalidParam> {
    crate::Timestamp::parse_rfc3339(value)
        .filter(|at| *at > now)
        .ok_or_else(|| {
            InvalidParam::new(
                param,
                format!("{param} must be an RFC 3339 time in the future"),
            )
        })
}

/// Checks free text: trimmed length between `min` and `max` characters.
pub fn text(param: &str, value: &str, min: usize, max: usize) -> Result<String, InvalidParam> {
    let count = value.trim().chars().count();
    if count < min || count > max || value.chars().any(|c| c.is_control()) {
        return Err(InvalidParam::new(
            param,
            format!("{param} must be {min} to {max} characters"),
        ));
    }
    Ok(value.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn emails() {
        assert_eq!(email("email", "A@Example.COM").unwrap(), "A@example.com");
        for bad in [
            "", "a", "a@", "@b.c", "a@b", "a b@c.d", "a@@b.c", "a@b..c", "a@-b.c",
        ] {
            assert!(email("email", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn metadata_limits() {
        assert!(metadata(&json!({"a": "b"})).is_ok());
        assert!(metadata(&json!({"a": 1})).is_err());
        assert!(metadata(&json!({"k".repeat(41): "v"})).is_err());
        assert!(metadata(&json!({"k": "v".repeat(501)})).is_err());
        let many: serde_json::Map<String, Value> =
            (0..51).map(|i| (format!("k{i}"), json!("v"))).collect();
        assert!(metadata(&Value::Object(many)).is_err());
    }
}
