//! The master key: encrypts connector credentials at rest (AES-256-GCM) and
//! keys the HMACs of card fingerprints, client secrets and signed links.

/// A webhook secret: `whsec_` and the base64 of 32 random bytes, as the
/// Standard Webhooks libraries read it.
pub fn new_webhook_secret() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// 32 secret bytes from `OBOL_MASTER_KEY` or the SQLite key file.
pub struct MasterKey {
    bytes: [u8; 32],
}

/// Where the SQLite key file lives: beside the database file.
pub fn key_file_path(database_url: &str) -> Option<std::path::PathBuf> {
    let path = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(std::path::PathBuf::from(format!("{path}.key")))
}

/// Loads the master key: from `configured` (base64 or hex of 32 bytes), or
/// on SQLite from the 0600 key file beside the database, made on first use.
pub fn load(
    configured: Option<&str>,
    database_url: &str,
    backend: obol_store::Backend,
) -> Result<MasterKey, String> {
    if let Some(text) = configured {
        return parse(text.trim())
            .ok_or_else(|| "OBOL_MASTER_KEY must be 32 bytes in base64 or hex".to_owned());
    }
    if backend == obol_store::Backend::Postgres {
        return Err("OBOL_MASTER_KEY is required with PostgreSQL: every process must share it (32 bytes, base64 or hex)".into());
    }
    let path = key_file_path(database_url)
        .ok_or_else(|| "set OBOL_MASTER_KEY: no key file place for this DATABASE_URL".to_owned())?;
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            parse(text.trim()).ok_or_else(|| format!("the key file {} is corrupt", path.display()))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => create_key_file(&path),
        Err(error) => Err(format!(
            "cannot read the key file {}: {error}",
            path.display()
        )),
    }
}

fn parse(text: &str) -> Option<MasterKey> {
    use base64::Engine;
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).ok()?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?
    };
    Some(MasterKey::from_bytes(bytes.try_into().ok()?))
}

fn create_key_file(path: &std::path::Path) -> Result<MasterKey, String> {
    use base64::Engine;
    use rand::RngCore;
    use std::io::Write;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(
                base64::engine::general_purpose::STANDARD
                    .encode(bytes)
                    .as_bytes(),
            )
            .and_then(|()| file.sync_all())
            .map_err(|error| format!("cannot write the key file {}: {error}", path.display()))?;
            Ok(MasterKey::from_bytes(bytes))
        }
        // Another process made it first: use theirs.
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(path)
                .map_err(|error| format!("cannot read the key file {}: {error}", path.display()))?;
            parse(text.trim()).ok_or_else(|| format!("the key file {} is corrupt", path.display()))
        }
        Err(error) => Err(format!(
            "cannot create the key file {}: {error}",
            path.display()
        )),
    }
}

impl MasterKey {
    pub fn from_bytes(bytes: [u8; 32]) -> MasterKey {
        MasterKey { bytes }
    }

    /// Raw key bytes, for the HMAC and cipher constructions in this module.
    fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// A 32-byte key derived for `purpose` (HMAC-SHA256 of the purpose under
    /// the master key), so that no two uses ever share a key.
    fn subkey(&self, purpose: &str) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        let mut derive = <Hmac<sha2::Sha256> as Mac>::new_from_slice(self.bytes())
            .expect("HMAC takes any key length");
        derive.update(purpose.as_bytes());
        derive.finalize().into_bytes().into()
    }

    /// HMAC-SHA256 of `data` under a key derived for `purpose`, hex-encoded.
    pub fn hmac_hex(&self, purpose: &str, data: &[u8]) -> String {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.subkey(purpose))
            .expect("HMAC takes any key length");
        mac.update(data);
        hex::encode(mac.finalize().into_bytes())
    }

    /// The cipher for secrets at rest, under the key derived for `credentials`.
    fn cipher(&self) -> aes_gcm::Aes256Gcm {
        use aes_gcm::KeyInit;
        aes_gcm::Aes256Gcm::new(&self.subkey(CIPHER_PURPOSE).into())
    }

    /// Encrypts `plaintext` with AES-256-GCM under a fresh random 96-bit
    /// nonce; the answer is base64 of nonce || ciphertext-and-tag.
    pub fn encrypt(&self, plaintext: &[u8]) -> String {
        use aes_gcm::aead::Aead;
        use base64::Engine;
        use rand::RngCore;
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher()
            .encrypt(&nonce.into(), plaintext)
            .expect("AES-GCM encrypts any input below 64 GiB");
        let mut out = Vec::with_capacity(NONCE_BYTES + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        base64::engine::general_purpose::STANDARD.encode(out)
    }

    /// Decrypts the output of `encrypt`; fails on a wrong key, a changed byte
    /// or text that is not ours. The error never carries key or plaintext.
    pub fn decrypt(&self, text: &str) -> Result<Vec<u8>, String> {
        use aes_gcm::aead::Aead;
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| "the ciphertext is not base64".to_owned())?;
        if bytes.len() < NONCE_BYTES + TAG_BYTES {
            return Err("the ciphertext is too short".into());
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().expect("split_at gave NONCE_BYTES bytes");
        self.cipher()
            .decrypt(&nonce.into(), ciphertext)
            .map_err(|_| {
                "the ciphertext does not decrypt under this master key (changed, or another key)"
                    .to_owned()
            })
    }
}

/// Key-derivation purpose of the at-rest cipher.
const CIPHER_PURPOSE: &str = "credentials";
/// AES-GCM's standard 96-bit nonce.
const NONCE_BYTES: usize = 12;
/// AES-GCM's 128-bit authentication tag, appended to the ciphertext.
const TAG_BYTES: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> MasterKey {
        MasterKey::from_bytes([byte; 32])
    }

    #[test]
    fn round_trip() {
        let key = key(7);
        let secret = br#"{"api_key":"sk_live_123"}"#;
        let text = key.encrypt(secret);
        assert!(!text.contains("sk_live_123"));
        assert_eq!(key.decrypt(&text).as_deref(), Ok(&secret[..]));
        assert_eq!(key.decrypt(&key.encrypt(b"")).as_deref(), Ok(&b""[..]));
    }

    #[test]
    fn tampering_or_another_key_fails() {
        use base64::Engine;
        let engine = base64::engine::general_purpose::STANDARD;
        let text = key(7).encrypt(b"secret credentials");
        let mut bytes = engine.decode(&text).expect("base64");
        for index in [0, NONCE_BYTES, bytes.len() - 1] {
            bytes[index] ^= 1;
            assert!(
                key(7).decrypt(&engine.encode(&bytes)).is_err(),
                "byte {index} changed"
            );
            bytes[index] ^= 1;
        }
        assert!(key(7).decrypt(&engine.encode(&bytes)).is_ok());
        assert!(key(8).decrypt(&text).is_err());
        assert!(key(7).decrypt("not base64!").is_err());
        assert!(key(7).decrypt(&engine.encode([0u8; 20])).is_err());
    }

    #[test]
    fn each_encryption_has_its_own_nonce() {
        let key = key(7);
        let texts: std::collections::HashSet<String> =
            (0..100).map(|_| key.encrypt(b"same")).collect();
        assert_eq!(texts.len(), 100);
    }

    #[test]
    fn purposes_do_not_share_keys() {
        let key = key(7);
        assert_ne!(key.hmac_hex("a", b"x"), key.hmac_hex("b", b"x"));
        assert_ne!(key.subkey(CIPHER_PURPOSE), *key.bytes());
    }
}
