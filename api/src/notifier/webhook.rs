//! The webhook channel: POSTs the event envelope to an endpoint, signed by the Standard Webhooks
//! convention, and only to addresses the egress rules let the desk reach.
//!
//! Egress: the endpoint's host is resolved before each attempt, and addresses on private,
//! loopback, link-local, unspecified, multicast, broadcast, CGNAT and IPv6 unique-local networks
//! (IPv4-mapped forms included) are refused unless `SUPPORTD_WEBHOOK_ALLOW` names them; the request
//! then goes to the address that was checked (no second lookup a rebinding DNS could answer
//! differently), and redirects are not followed.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use hmac::{Hmac, Mac};
use ipnet::IpNet;
use reqwest::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use sha2::Sha256;
use sqlx::PgPool;
use support_domain::notification::NotificationChannel;
use support_domain::webhook::{SigningSecret, WebhookEndpoint, WebhookEndpointEvent};
use support_projections::event_log::aggregate_history;
use support_projections::personal_data::DataKeys;
use support_projections::Redacted;
use uuid::Uuid;

use super::channel::{Channel, Notification, Outcome};

/// How the desk reaches webhook endpoints (`SUPPORTD_WEBHOOK_ALLOW`, `SUPPORTD_WEBHOOK_TIMEOUT_MS`).
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookSettings {
    pub egress: Egress,
    /// How long one request may take, connection included.
    pub timeout: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            egress: Egress::default(),
            timeout: Duration::from_secs(10),
        }
    }
}

impl WebhookSettings {
    pub fn from_env() -> anyhow::Result<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let egress = match var("SUPPORTD_WEBHOOK_ALLOW") {
            Some(list) => {
                Egress::parse(&list).map_err(|e| anyhow::anyhow!("SUPPORTD_WEBHOOK_ALLOW: {e}"))?
            }
            None => Egress::default(),
        };
        let timeout = match var("SUPPORTD_WEBHOOK_TIMEOUT_MS") {
            Some(ms) => ms
                .parse::<u64>()
                .ok()
                .filter(|ms| (1..=300_000).contains(ms))
                .map(Duration::from_millis)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "SUPPORTD_WEBHOOK_TIMEOUT_MS must be a number of milliseconds, 1 to 300000"
                    )
                })?,
            None => Self::default().timeout,
        };
        Ok(Self { egress, timeout })
    }
}

/// Which addresses webhooks may go to: any public address, and the restricted ones the allow-list
/// names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Egress {
    allowed: Vec<IpNet>,
}

impl Egress {
    /// Comma-separated CIDRs (`127.0.0.1/32,10.0.0.0/8`); a bare address is a network of one.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut allowed = Vec::new();
        for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let net = IpNet::from_str(item)
                .or_else(|_| IpAddr::from_str(item).map(IpNet::from))
                .map_err(|_| format!("{item:?} is neither a CIDR nor an IP address"))?;
            allowed.push(net);
        }
        Ok(Self { allowed })
    }

    /// Whether a webhook may go to `address`.
    pub fn permits(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        !restricted(address) || self.allowed.iter().any(|net| net.contains(&address))
    }

    /// Why a URL cannot be registered, if it cannot: only https, or http to an address literal the
    /// allow-list names (plain http to a name would trust whatever the name resolves to); no
    /// credentials in it; and an address literal must be one the rules permit.
    pub fn check_url(&self, text: &str) -> Result<Url, String> {
        let url = Url::parse(text).map_err(|e| format!("must be an absolute URL ({e})"))?;
        let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
            return Err("must name a host".to_owned());
        };
        let address = unbracketed(host).parse::<IpAddr>().ok();
        match url.scheme() {
            "https" => {}
            "http" if address.is_some_and(|a| self.names(a)) => {}
            "http" => {
                return Err(
                    "must use https; http only to an IP address that SUPPORTD_WEBHOOK_ALLOW names"
                        .to_owned(),
                )
            }
            _ => return Err("must be an https URL".to_owned()),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry a user name or password".to_owned());
        }
        if let Some(address) = address.filter(|a| !self.permits(*a)) {
            return Err(refused(address));
        }
        Ok(url)
    }

    fn names(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.allowed.iter().any(|net| net.contains(&address))
    }
}

/// A URL's host as an address parser reads it: an IPv6 literal without its brackets.
fn unbracketed(host: &str) -> &str {
    host.trim_start_matches('[').trim_end_matches(']')
}

fn refused(address: IpAddr) -> String {
    format!(
        "{address} is a private, loopback, link-local or otherwise internal address, which \
         webhooks may not reach unless SUPPORTD_WEBHOOK_ALLOW names it"
    )
}

/// Addresses inside the desk's own networks, or no one's.
fn restricted(address: IpAddr) -> bool {
    const CGNAT: (u8, u8) = (100, 64);
    match address {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                // 0.0.0.0/8: "this network".
                || a == 0
                || (a == CGNAT.0 && (b & 0b1100_0000) == CGNAT.1)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // fc00::/7, unique local; fe80::/10, link-local.
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

/// The Standard Webhooks signature of one attempt: `v1,` and the base64 HMAC-SHA256 of
/// `{id}.{timestamp}.{body}`, keyed with the secret's bytes (the base64 after `whsec_`).
pub fn signature(secret: &SigningSecret, id: Uuid, timestamp: i64, body: &[u8]) -> String {
    let encoded = secret
        .expose()
        .strip_prefix(SigningSecret::PREFIX)
        .unwrap_or(secret.expose());
    // The desk made every secret; one that is not base64 signs with its text, and fails to
    // verify at the receiver rather than here.
    let key = BASE64
        .decode(encoded)
        .unwrap_or_else(|_| encoded.as_bytes().to_vec());
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes a key of any length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

/// A new endpoint's secret: `whsec_` and 32 random bytes in base64.
pub fn generate_secret() -> SigningSecret {
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .expect("the operating system's random source answers");
    SigningSecret::new(format!("{}{}", SigningSecret::PREFIX, BASE64.encode(bytes)))
}

pub struct WebhookChannel {
    pool: PgPool,
    keys: DataKeys,
    settings: WebhookSettings,
}

impl WebhookChannel {
    pub fn new(pool: PgPool, keys: DataKeys, settings: WebhookSettings) -> Self {
        Self {
            pool,
            keys,
            settings,
        }
    }

    /// The endpoint as its events leave it, secret open: from the store, not the read model,
    /// which may lag behind a deactivation and holds no secret.
    async fn endpoint(&self, id: &str) -> anyhow::Result<WebhookEndpoint> {
        let mut conn = self.pool.acquire().await?;
        let history = aggregate_history(&mut *conn, WebhookEndpoint::TYPE, id).await?;
        let history = self.keys.open_with_secrets(&mut conn, history).await?;
        let mut endpoint = WebhookEndpoint::default();
        for event in history {
            let event = WebhookEndpointEvent::from_parts(&event.event_type, &event.payload)
                .map_err(|e| anyhow::anyhow!("{}", Redacted(&e)))?;
            endpoint.apply(event);
        }
        Ok(endpoint)
    }

    /// The first address of the URL's host that egress permits.
    async fn address(&self, url: &Url) -> Result<SocketAddr, Outcome> {
        let host = unbracketed(url.host_str().unwrap_or_default());
        let port = url.port_or_known_default().unwrap_or(443);
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| Outcome::Retry {
                status: None,
                error: format!("the endpoint's host does not resolve: {e}"),
                retry_after: None,
            })?
            .collect();
        addresses
            .iter()
            .find(|a| self.settings.egress.permits(a.ip()))
            .copied()
            .ok_or_else(|| Outcome::Failed {
                status: None,
                error: match addresses.first() {
                    Some(address) => refused(address.ip()),
                    None => "the endpoint's host resolves to no address".to_owned(),
                },
            })
    }

    async fn post(&self, notification: &Notification) -> Result<Outcome, Outcome> {
        let failed = |error: String| Outcome::Failed {
            status: None,
            error,
        };
        let endpoint =
            self.endpoint(&notification.recipient)
                .await
                .map_err(|e| Outcome::Retry {
                    status: None,
                    error: format!("the endpoint cannot be read: {e}"),
                    retry_after: None,
                })?;
        let (Some(definition), Some(secret)) = (endpoint.definition(), endpoint.secret()) else {
            return Err(failed("no such webhook endpoint".to_owned()));
        };
        if !endpoint.is_active() {
            return Err(failed("the endpoint is inactive".to_owned()));
        }
        let url = Url::parse(definition.url.as_str())
            .map_err(|e| failed(format!("the endpoint's URL is invalid: {e}")))?;
        let address = self.address(&url).await?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.settings.timeout)
            .resolve(url.host_str().unwrap_or_default(), address)
            .build()
            .map_err(|e| failed(format!("no HTTP client: {e}")))?;
        let body = serde_json::to_vec(&notification.event)
            .map_err(|e| failed(format!("the event cannot be written: {}", Redacted(&e))))?;
        let timestamp = notification.attempted_at.timestamp();
        let id = notification.delivery_id;
        let response = client
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header("webhook-id", id.to_string())
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature(secret, id, timestamp, &body))
            .body(body)
            .send()
            .await
            .map_err(|e| {
                let error = if e.is_timeout() {
                    format!("no answer within {} ms", self.settings.timeout.as_millis())
                } else {
                    // Without the URL, which can carry a token of its own.
                    e.without_url().to_string()
                };
                Outcome::Retry {
                    status: None,
                    error,
                    retry_after: None,
                }
            })?;
        Ok(classify(
            response.status(),
            response.headers(),
            notification.attempted_at,
        ))
    }
}

/// 2xx delivered; 410 gone; 429, 5xx (and 408) tried again, `Retry-After` heeded; any other
/// answer, a redirect included, a lasting refusal.
fn classify(status: StatusCode, headers: &HeaderMap, now: DateTime<Utc>) -> Outcome {
    let code = Some(status.as_u16());
    if status.is_success() {
        return Outcome::Delivered { status: code };
    }
    if status == StatusCode::GONE {
        return Outcome::Gone {
            status: status.as_u16(),
        };
    }
    let passing = status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT;
    if passing {
        return Outcome::Retry {
            status: code,
            error: format!("the endpoint answered {status}"),
            retry_after: headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| retry_after(v, now)),
        };
    }
    let error = if status.is_redirection() {
        format!("the endpoint answered {status}; redirects are not followed")
    } else {
        format!("the endpoint answered {status}")
    };
    Outcome::Failed {
        status: code,
        error,
    }
}

/// `Retry-After` as seconds or as an HTTP date, from `now`; a date already past is now.
pub fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at: DateTime<Utc> = httpdate::parse_http_date(value).ok()?.into();
    Some((at - now).to_std().unwrap_or_default())
}

#[async_trait]
impl Channel for WebhookChannel {
    fn channel(&self) -> NotificationChannel {
        NotificationChannel::Webhook
    }

    async fn send(&self, notification: &Notification) -> Outcome {
        match self.post(notification).await {
            Ok(outcome) | Err(outcome) => outcome,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_refused_unless_the_allow_list_names_them() {
        let none = Egress::default();
        for internal in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "100.64.0.1",
            "100.127.255.254",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!none.permits(internal.parse().unwrap()), "{internal}");
        }
        for public in [
            "93.184.216.34",
            "100.128.0.1",
            "2606:2800:220:1::1",
            "8.8.8.8",
        ] {
            assert!(none.permits(public.parse().unwrap()), "{public}");
        }
        let loopback = Egress::parse("127.0.0.1/32, 10.0.0.0/8,::1").unwrap();
        assert!(loopback.permits("127.0.0.1".parse().unwrap()));
        assert!(loopback.permits("::ffff:127.0.0.1".parse().unwrap()));
        assert!(loopback.permits("10.200.0.1".parse().unwrap()));
        assert!(loopback.permits("::1".parse().unwrap()));
        assert!(!loopback.permits("127.0.0.2".parse().unwrap()));
        assert!(Egress::parse("127.0.0.1/33").is_err());
        assert!(Egress::parse("localhost").is_err());
    }

    #[test]
    fn urls_are_https_or_http_to_an_allowed_address_and_carry_no_credentials() {
        let none = Egress::default();
        let loopback = Egress::parse("127.0.0.1/32").unwrap();
        assert!(none.check_url("https://hooks.example.com/a").is_ok());
        assert!(none.check_url("https://93.184.216.34/a").is_ok());
        assert!(loopback.check_url("http://127.0.0.1:8080/hook").is_ok());
        for (egress, bad) in [
            (&none, "http://hooks.example.com/a"),
            (&loopback, "http://localhost:8080/hook"),
            (&none, "http://127.0.0.1:8080/hook"),
            (&none, "https://127.0.0.1/hook"),
            (&none, "https://[::ffff:10.0.0.1]/hook"),
            (&none, "https://user:pw@hooks.example.com/a"),
            (&none, "ftp://hooks.example.com/a"),
            (&none, "hooks.example.com/a"),
        ] {
            assert!(egress.check_url(bad).is_err(), "{bad}");
        }
    }

    /// The example of the Standard Webhooks specification.
    #[test]
    fn the_signature_is_the_standard_webhooks_one() {
        let secret = SigningSecret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned());
        let id = Uuid::parse_str("4d8e4f4e-6f2c-4b8f-9d7a-1c2b3a4d5e6f").unwrap();
        let body = br#"{"test": 2432232314}"#;
        let signed = signature(&secret, id, 1_614_265_330, body);
        let key = BASE64.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("{id}.1614265330.{{\"test\": 2432232314}}").as_bytes());
        assert_eq!(
            signed,
            format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
        );
        let generated = generate_secret();
        assert!(generated.expose().starts_with("whsec_"));
        let bytes = BASE64.decode(&generated.expose()[6..]).unwrap();
        assert_eq!(bytes.len(), 32);
    }

    #[test]
    fn answers_are_classified_and_retry_after_is_read_as_seconds_or_a_date() {
        let now: DateTime<Utc> = "2026-11-23T09:00:00Z".parse().unwrap();
        let none = HeaderMap::new();
        assert_eq!(
            classify(StatusCode::NO_CONTENT, &none, now),
            Outcome::Delivered { status: Some(204) }
        );
        assert_eq!(
            classify(StatusCode::GONE, &none, now),
            Outcome::Gone { status: 410 }
        );
        assert!(matches!(
            classify(StatusCode::BAD_GATEWAY, &none, now),
            Outcome::Retry {
                status: Some(502),
                retry_after: None,
                ..
            }
        ));
        assert!(matches!(
            classify(StatusCode::NOT_FOUND, &none, now),
            Outcome::Failed {
                status: Some(404),
                ..
            }
        ));
        assert!(matches!(
            classify(StatusCode::MOVED_PERMANENTLY, &none, now),
            Outcome::Failed {
                status: Some(301),
                ..
            }
        ));
        let mut later = HeaderMap::new();
        later.insert(
            RETRY_AFTER,
            "Mon, 23 Nov 2026 09:02:00 GMT".parse().unwrap(),
        );
        assert!(matches!(
            classify(StatusCode::TOO_MANY_REQUESTS, &later, now),
            Outcome::Retry { retry_after: Some(d), .. } if d == Duration::from_secs(120)
        ));
        assert_eq!(retry_after("30", now), Some(Duration::from_secs(30)));
        assert_eq!(
            retry_after("Mon, 23 Nov 2026 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", now), None);
    }
}
