//! The HTTP client of every outbound request (webhooks, order callbacks,
//! connector `api_base`, OpenID issuers). It never reaches loopback, private,
//! link-local or multicast addresses unless the server allows private
//! networks (`OBOL_ALLOW_PRIVATE_NETWORK`), and it follows no redirect.
//!
//! A host name is checked on the addresses it resolves to when the
//! connection is made, by the client's own resolver, so a name that resolves
//! to a public address when saved and to 127.0.0.1 when called (DNS
//! rebinding) is still refused. An IP-literal host skips every resolver, so
//! `send` checks the URL itself before each request.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use url::{Host, Url};

/// The default timeout of one outbound request (api.md: a webhook delivery
/// times out after 10 s); a request may set its own.
pub const TIMEOUT_MS: u64 = 10_000;

/// The longest wait for a TCP (and TLS) connection, within the timeout.
pub const CONNECT_TIMEOUT_MS: u64 = 5_000;

/// The longest wait for a host name's addresses in `check_url_resolved`.
pub const RESOLVE_TIMEOUT_MS: u64 = 5_000;

/// The outbound HTTP client and its address policy. Cheap to clone.
#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
    allow_private: bool,
}

/// Why an outbound URL or request is refused, in words an API error can show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the URL is not valid: {0}")]
    Url(#[from] url::ParseError),
    #[error("the URL's scheme is {0}; outbound requests use http or https")]
    Scheme(String),
    #[error("the URL has no host")]
    NoHost,
    #[error("the address {address} is {kind}; outbound requests may not reach private networks")]
    Address { address: IpAddr, kind: &'static str },
    #[error(
        "the host {host} resolves to {address}, {kind}; outbound requests may not reach private networks"
    )]
    Resolved {
        host: String,
        address: IpAddr,
        kind: &'static str,
    },
    #[error("the host {host} could not be resolved")]
    Unresolved { host: String },
}

/// Why the client could not be built or a request brought no response.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error(transparent)]
    Refused(#[from] Refused),
    /// Connecting, TLS, a timeout, or a request that could not be built.
    /// Kept without its URL, which may carry credentials.
    #[error("{}", error_chain(.0))]
    Http(reqwest::Error),
}

impl From<reqwest::Error> for OutboundError {
    /// A refusal by the resolver comes back inside reqwest's connect error;
    /// it is surfaced as the refusal it is.
    fn from(error: reqwest::Error) -> Self {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
        while let Some(cause) = source {
            if let Some(refused) = cause.downcast_ref::<Refused>() {
                return OutboundError::Refused(refused.clone());
            }
            source = cause.source();
        }
        OutboundError::Http(error.without_url())
    }
}

/// An error and its causes, joined: reqwest's own message alone ("error
/// sending request") does not say what went wrong.
fn error_chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Installs ring as the process's rustls crypto provider, which every
/// reqwest client needs before it is built (reqwest is built without a
/// provider of its own, to avoid aws-lc's C build). Calling it again is
/// harmless.
pub fn install_tls_provider() {
    // An error only says that a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Outbound {
    /// Builds the client: no redirects, no proxy (it would resolve names
    /// itself), the guarding resolver, `timeout` per request. It fails only
    /// when TLS cannot be set up (no CA certificates on the system).
    pub fn new(allow_private: bool, timeout: Duration) -> Result<Outbound, OutboundError> {
        install_tls_provider();
        let client = reqwest::Client::builder()
            .dns_resolver(GuardedResolver { allow_private })
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_millis(CONNECT_TIMEOUT_MS)))
            .user_agent(concat!("Obol/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Outbound {
            client,
            allow_private,
        })
    }

    /// The client, to build requests with; send them with `send`.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Whether private networks may be reached (`OBOL_ALLOW_PRIVATE_NETWORK`).
    pub fn allow_private(&self) -> bool {
        self.allow_private
    }

    /// Parses `url` and checks what can be checked without a lookup: http or
    /// https, a host, and an IP-literal host's address.
    pub fn check_url(&self, url: &str) -> Result<Url, Refused> {
        let url = Url::parse(url)?;
        self.check(&url)?;
        Ok(url)
    }

    /// `check_url`, and a host name must resolve to an address that may be
    /// reached: for an answer at save time (`http://localhost/…` is a 400).
    /// The check at connect time still runs on every request.
    pub async fn check_url_resolved(&self, url: &str) -> Result<Url, Refused> {
        let url = self.check_url(url)?;
        if let Some(Host::Domain(host)) = url.host() {
            let unresolved = || Refused::Unresolved {
                host: host.to_owned(),
            };
            let lookup = tokio::net::lookup_host((host, 0));
            let addresses = tokio::time::timeout(Duration::from_millis(RESOLVE_TIMEOUT_MS), lookup)
                .await
                .map_err(|_| unresolved())?
                .map_err(|_| unresolved())?;
            allowed_addresses(host, addresses, self.allow_private)?;
        }
        Ok(url)
    }

    /// Builds `request`, checks its URL and sends it on this client (whatever
    /// client built it). A redirect comes back as the 3xx response it is.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, OutboundError> {
        let request = request.build()?;
        self.check(request.url())?;
        Ok(self.client.execute(request).await?)
    }

    fn check(&self, url: &Url) -> Result<(), Refused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused::Scheme(url.scheme().to_owned()));
        }
        let address = match url.host() {
            None => return Err(Refused::NoHost),
            Some(Host::Domain(_)) => return Ok(()),
            Some(Host::Ipv4(address)) => IpAddr::V4(address),
            Some(Host::Ipv6(address)) => IpAddr::V6(address),
        };
        match refusal(address) {
            Some(kind) if !self.allow_private => Err(Refused::Address { address, kind }),
            _ => Ok(()),
        }
    }
}

/// Resolves names for the client and keeps only the addresses that may be
/// reached, so that the address connected to is the one checked.
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: the URL's port (or the scheme's) replaces it.
            let addresses = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let allowed = allowed_addresses(&host, addresses, allow_private)?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The addresses of `host` that may be reached; refused when none is left.
fn allowed_addresses(
    host: &str,
    addresses: impl Iterator<Item = SocketAddr>,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, Refused> {
    let mut allowed = Vec::new();
    let mut first_refused = None;
    for address in addresses {
        match refusal(address.ip()) {
            Some(kind) if !allow_private => {
                first_refused.get_or_insert((address.ip(), kind));
            }
            _ => allowed.push(address),
        }
    }
    match (allowed.is_empty(), first_refused) {
        (false, _) => Ok(allowed),
        (true, Some((address, kind))) => Err(Refused::Resolved {
            host: host.to_owned(),
            address,
            kind,
        }),
        (true, None) => Err(Refused::Unresolved {
            host: host.to_owned(),
        }),
    }
}

/// Whether an outbound request may reach `address` when private networks
/// are not allowed.
pub fn is_allowed(address: IpAddr) -> bool {
    refusal(address).is_none()
}

/// What kind of address that may not be reached `address` is, in words.
fn refusal(address: IpAddr) -> Option<&'static str> {
    match address {
        IpAddr::V4(address) => refusal_v4(address),
        IpAddr::V6(address) => refusal_v6(address),
    }
}

fn refusal_v4(address: Ipv4Addr) -> Option<&'static str> {
    let [first, second, ..] = address.octets();
    if address.is_unspecified() {
        Some("the unspecified address")
    } else if first == 0 {
        Some("a \"this network\" address (0.0.0.0/8)")
    } else if address.is_loopback() {
        Some("a loopback address")
    } else if address.is_private() {
        Some("a private address")
    } else if address.is_link_local() {
        Some("a link-local address")
    } else if first == 100 && (second & 0xc0) == 64 {
        Some("a shared (carrier-grade NAT) address")
    } else if address.is_multicast() {
        Some("a multicast address")
    } else if address.is_broadcast() {
        Some("the broadcast address")
    } else {
        None
    }
}

fn refusal_v6(address: Ipv6Addr) -> Option<&'static str> {
    if address.is_unspecified() {
        Some("the unspecified address")
    } else if address.is_loopback() {
        Some("a loopback address")
    } else if address.is_multicast() {
        Some("a multicast address")
    } else if address.is_unique_local() {
        Some("a unique local (private) address")
    } else if address.is_unicast_link_local() {
        Some("a link-local address")
    } else if let Some(embedded) = embedded_ipv4(address) {
        refusal_v4(embedded)
    } else {
        None
    }
}

/// The IPv4 address an IPv6 one stands for and reaches: v4-mapped
/// (`::ffff:127.0.0.1`), v4-compatible (`::127.0.0.1`), or NAT64's
/// well-known prefix (`64:ff9b::/96`).
fn embedded_ipv4(address: Ipv6Addr) -> Option<Ipv4Addr> {
    let segments = address.segments();
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., a, b, c, d] = address.octets();
        return Some(Ipv4Addr::new(a, b, c, d));
    }
    address.to_ipv4()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::http::{StatusCode, header};
    use axum::routing::get;

    fn outbound(allow_private: bool) -> Outbound {
        Outbound::new(allow_private, Duration::from_secs(5)).expect("client builds")
    }

    fn allowed(text: &str) -> bool {
        is_allowed(text.parse().expect("an IP address"))
    }

    #[test]
    fn refuses_every_private_ipv4_range() {
        for address in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.255.254",
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "239.255.255.255",
            "255.255.255.255",
        ] {
            assert!(!allowed(address), "{address} is allowed");
        }
    }

    #[test]
    fn refuses_every_private_ipv6_range_and_embedded_ipv4() {
        for address in [
            "::",
            "::1",
            "ff02::1",
            "ff0e::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(!allowed(address), "{address} is allowed");
        }
    }

    #[test]
    fn allows_public_addresses_next_to_the_refused_ranges() {
        for address in [
            "93.184.216.34",
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "169.255.0.1",
            "223.255.255.255",
            "2606:4700::1",
            "2a00:1450:4001::200e",
            "::ffff:93.184.216.34",
            "64:ff9b::5db8:d822",
        ] {
            assert!(allowed(address), "{address} is refused");
        }
    }

    #[test]
    fn the_refusal_says_why_in_words() {
        let refused = outbound(false)
            .check_url("http://127.0.0.1/hook")
            .expect_err("loopback is refused");
        assert_eq!(
            refused.to_string(),
            "the address 127.0.0.1 is a loopback address; outbound requests may not reach private networks"
        );
    }

    #[tokio::test]
    async fn check_url_takes_http_and_https_with_a_host() {
        let guarded = outbound(false);
        for url in [
            "https://shop.example/hook",
            "http://93.184.216.34:8080/a?b=c",
        ] {
            assert!(guarded.check_url(url).is_ok(), "{url} is refused");
        }
        assert_eq!(
            guarded.check_url("ftp://shop.example/hook"),
            Err(Refused::Scheme("ftp".into()))
        );
        assert!(matches!(
            guarded.check_url("file:///etc/passwd"),
            Err(Refused::Scheme(_))
        ));
        assert!(matches!(
            guarded.check_url("not a url"),
            Err(Refused::Url(_))
        ));
    }

    #[tokio::test]
    async fn check_url_refuses_private_ip_literals_unless_allowed() {
        let guarded = outbound(false);
        let open = outbound(true);
        for (url, address) in [
            ("http://[::1]/", "::1"),
            ("http://169.254.169.254/latest", "169.254.169.254"),
            ("http://10.1.2.3/", "10.1.2.3"),
            ("https://[::ffff:127.0.0.1]:8443/", "::ffff:127.0.0.1"),
            // The URL parser reads these as 127.0.0.1, as the connector does.
            ("http://2130706433/", "127.0.0.1"),
            ("http://0x7f.1/", "127.0.0.1"),
        ] {
            let address: IpAddr = address.parse().expect("an IP address");
            assert!(
                matches!(
                    guarded.check_url(url),
                    Err(Refused::Address { address: refused, .. }) if refused == address
                ),
                "{url} is not refused as {address}"
            );
            assert!(open.check_url(url).is_ok(), "{url} is refused when allowed");
        }
    }

    #[tokio::test]
    async fn check_url_resolved_refuses_a_name_of_a_private_address() {
        let refused = outbound(false)
            .check_url_resolved("http://localhost:9/")
            .await
            .expect_err("localhost is refused");
        assert!(
            matches!(&refused, Refused::Resolved { host, .. } if host == "localhost"),
            "{refused:?}"
        );
        assert!(
            outbound(true)
                .check_url_resolved("http://localhost:9/")
                .await
                .is_ok()
        );
        assert!(matches!(
            outbound(true)
                .check_url_resolved("http://no-such-host.invalid/")
                .await,
            Err(Refused::Unresolved { .. })
        ));
    }

    /// A responder on 127.0.0.1: `/` answers 200, `/moved` a 302 to `/`.
    async fn responder() -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        let router = Router::new().route("/", get(|| async { "reached" })).route(
            "/moved",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/")]) }),
        );
        tokio::spawn(async move { axum::serve(listener, router).await });
        port
    }

    #[tokio::test]
    async fn send_refuses_a_name_of_a_private_address_at_connect_time() {
        let port = responder().await;
        let url = format!("http://localhost:{port}/");
        let guarded = outbound(false);
        // check_url cannot tell: only the resolver, when connecting, can.
        assert!(guarded.check_url(&url).is_ok());
        let error = guarded
            .send(guarded.client().get(&url))
            .await
            .expect_err("localhost is refused");
        assert!(
            matches!(&error, OutboundError::Refused(Refused::Resolved { host, .. }) if host == "localhost"),
            "{error:?}"
        );

        let open = outbound(true);
        let response = open.send(open.client().get(&url)).await.expect("reached");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.text().await.expect("body"), "reached");
    }

    #[tokio::test]
    async fn send_checks_an_ip_literal_whatever_client_built_the_request() {
        let port = responder().await;
        let guarded = outbound(false);
        let request = reqwest::Client::new().get(format!("http://127.0.0.1:{port}/"));
        let error = guarded.send(request).await.expect_err("refused");
        assert!(
            matches!(error, OutboundError::Refused(Refused::Address { .. })),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn send_does_not_follow_a_redirect() {
        let port = responder().await;
        let open = outbound(true);
        let response = open
            .send(open.client().get(format!("http://127.0.0.1:{port}/moved")))
            .await
            .expect("an answer");
        assert_eq!(response.status(), StatusCode::FOUND);
        assert_eq!(
            response
                .headers()
                .get(header::LOCATION)
                .map(|v| v.as_bytes()),
            Some(&b"/"[..])
        );
    }
}
