//! The Standard Webhooks signature of a delivery, made by the scheme's own
//! library.

use standardwebhooks::Webhook;

/// The `webhook-signature` header: one `v1,<base64>` per secret, separated
/// by spaces (during a rotation both the new and the old secret sign), over
/// `id.timestamp.body`.
pub fn signature(
    secrets: &[String],
    message_id: &str,
    timestamp_secs: i64,
    body: &[u8],
) -> Result<String, String> {
    let mut signatures = Vec::with_capacity(secrets.len());
    for secret in secrets {
        let webhook = Webhook::new(secret).map_err(|error| format!("webhook secret: {error}"))?;
        signatures.push(
            webhook
                .sign(message_id, timestamp_secs, body)
                .map_err(|error| format!("signing: {error}"))?,
        );
    }
    Ok(signatures.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_secret_signs_and_the_library_verifies_each() {
        let old = obol_kernel::crypto::new_webhook_secret();
        let new = obol_kernel::crypto::new_webhook_secret();
        let body = br#"{"id":"evt_1","object":"event"}"#;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let header = signature(&[new.clone(), old.clone()], "evt_1", now, body).unwrap();
        assert_eq!(header.split(' ').count(), 2);
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("webhook-id", "evt_1".parse().unwrap());
        headers.insert("webhook-timestamp", now.to_string().parse().unwrap());
        headers.insert("webhook-signature", header.parse().unwrap());
        for secret in [&new, &old] {
            Webhook::new(secret)
                .unwrap()
                .verify(body, &headers)
                .unwrap();
        }
        let stranger = obol_kernel::crypto::new_webhook_secret();
        assert!(
            Webhook::new(&stranger)
                .unwrap()
                .verify(body, &headers)
                .is_err()
        );
    }
}
