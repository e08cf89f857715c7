//! The SMTP client, built once at start from `OBOL_SMTP_URL`: `smtp://`
//! uses STARTTLS when the server offers it, `smtps://` implicit TLS. With
//! no URL there is no client: emails are recorded and kept queued.

use lettre::{AsyncSmtpTransport, Tokio1Executor};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// How long one send may take, connection to the server's answer.
pub const SEND_TIMEOUT_MS: u64 = 30_000;
/// Most emails one process sends at once.
const SENDS_IN_FLIGHT_MAX: usize = 8;

/// The SMTP client, when one is configured, and the bound on sends at once.
pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    pub(crate) permits: Arc<Semaphore>,
}

impl Mailer {
    /// The client of `smtp_url` (`smtp://user:pass@host:587`, `smtps://…`),
    /// or none. The error never repeats the URL: it may hold a password.
    pub fn new(smtp_url: Option<&str>) -> Result<Mailer, String> {
        let transport = match smtp_url {
            None => None,
            Some(url) => {
                let url = with_opportunistic_tls(url)?;
                let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
                    .map_err(|error| format!("OBOL_SMTP_URL is not a usable SMTP URL: {error}"))?;
                let timeout = Duration::from_millis(SEND_TIMEOUT_MS);
                Some(builder.timeout(Some(timeout)).build())
            }
        };
        Ok(Mailer {
            transport,
            permits: Arc::new(Semaphore::new(SENDS_IN_FLIGHT_MAX)),
        })
    }

    pub fn transport(&self) -> Option<&AsyncSmtpTransport<Tokio1Executor>> {
        self.transport.as_ref()
    }
}

/// lettre reads a plain `smtp://` URL as "never TLS"; the contract says
/// STARTTLS when the server offers it, which lettre calls `tls=opportunistic`.
/// A URL that names its `tls` mode keeps it.
fn with_opportunistic_tls(url: &str) -> Result<String, String> {
    let (scheme, _) = url
        .split_once("://")
        .ok_or("OBOL_SMTP_URL must start with smtp:// or smtps://")?;
    match scheme {
        "smtps" => Ok(url.to_owned()),
        "smtp" => {
            let query = url.split_once('?').map(|(_, query)| query);
            let names_tls = query.is_some_and(|query| {
                query
                    .split('&')
                    .any(|pair| pair == "tls" || pair.starts_with("tls="))
            });
            Ok(match (names_tls, query) {
                (true, _) => url.to_owned(),
                (false, Some(_)) => format!("{url}&tls=opportunistic"),
                (false, None) => format!("{url}?tls=opportunistic"),
            })
        }
        _ => Err("OBOL_SMTP_URL must start with smtp:// or smtps://".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_smtp_asks_for_starttls_when_offered() {
        let url = |text| with_opportunistic_tls(text).expect("an SMTP URL");
        assert_eq!(
            url("smtp://user:pass@mail.example:587"),
            "smtp://user:pass@mail.example:587?tls=opportunistic"
        );
        assert_eq!(
            url("smtp://mail.example?ehlo=x"),
            "smtp://mail.example?ehlo=x&tls=opportunistic"
        );
        assert_eq!(
            url("smtp://mail.example?tls=required"),
            "smtp://mail.example?tls=required"
        );
        assert_eq!(url("smtps://mail.example"), "smtps://mail.example");
        assert!(with_opportunistic_tls("http://mail.example").is_err());
        assert!(with_opportunistic_tls("mail.example:25").is_err());
        assert!(Mailer::new(Some("smtp://user:pass@mail.example:587")).is_ok());
        assert!(Mailer::new(None).expect("no client").transport().is_none());
    }
}
