//! Configuration from the environment, with defaults that work where PostgreSQL and NATS run
//! locally.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use support_projections::personal_data::MasterKey;
use support_workers::Bus;

use crate::clock::{Clock, SystemClock};
use crate::jwks::JwksSource;
use crate::kb_articles::settings::KbSettings;
use crate::notifier::email::EmailSettings;
use crate::notifier::sms::SmsSettings;
use crate::notifier::webhook::WebhookSettings;
use crate::rate_limit::RateLimits;

pub const DEVELOPMENT_JWT_SECRET: &str = "supportd-development-secret-do-not-use-in-production";

#[derive(Clone)]
pub struct Settings {
    pub database_url: String,
    pub nats_url: String,
    pub bind: SocketAddr,
    /// Where a workers-only process serves health, readiness and metrics.
    pub worker_bind: SocketAddr,
    pub jwt_secret: String,
    /// Seals every data key (`SUPPORTD_MASTER_KEY`).
    pub master_key: MasterKey,
    /// Personal data of tickets closed longer ago than this is erased (`SUPPORTD_RETENTION_DAYS`);
    /// kept forever when `None`.
    pub retention: Option<chrono::Duration>,
    /// Where tokens from an identity provider are checked against; `None` takes only HS256.
    pub identity_provider: Option<IdentityProvider>,
    pub bus: Bus,
    /// How long a command's response waits for the read model to show it.
    pub read_timeout: Duration,
    pub clock: Arc<dyn Clock>,
    /// Requests a minute each caller of the support API may make, by role.
    pub rate_limits: RateLimits,
    /// Where webhooks may go, and how long each may take.
    pub webhooks: WebhookSettings,
    /// The email channel's SMTP server and sender (`SUPPORTD_SMTP_URL`); none: no email.
    pub email: Option<EmailSettings>,
    /// The SMS channel's provider (`SUPPORTD_SMS_*`); none: no SMS.
    pub sms: Option<SmsSettings>,
    /// The article cache and the view fold (`SUPPORTD_KB_*`).
    pub kb: KbSettings,
}

/// Tokens signed by an identity provider (Keycloak, Auth0, Azure AD, ...) with RS256, ES256 or
/// EdDSA, checked against its published keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityProvider {
    pub jwks: JwksSource,
    /// The `iss` every token must carry.
    pub issuer: String,
    /// A token's `aud` must name one of these.
    pub audience: Vec<String>,
    /// JSON pointer (RFC 6901) to the role: a string, or a list in which exactly one entry is a
    /// supportd role.
    pub role_claim: String,
    /// JSON pointer to the customer account a customer acts for (default: their `sub`).
    pub customer_claim: String,
    /// JSON pointer to the customer's tier (`ENTERPRISE`, `PROFESSIONAL`, `STANDARD`, `FREE`).
    pub tier_claim: String,
    /// JSON pointer to the list of the caller's team names.
    pub teams_claim: String,
    /// How far apart our clock and the provider's may be, for `exp` and `nbf`.
    pub leeway: Duration,
}

pub const MAX_LEEWAY_SECONDS: u64 = 300;

impl IdentityProvider {
    /// Read from SUPPORTD_JWKS_URL and the variables that go with it, looked up with `var`;
    /// `None` when SUPPORTD_JWKS_URL is unset.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<Option<Self>> {
        let var = |name: &str| var(name).filter(|value| !value.is_empty());
        let Some(jwks) = var("SUPPORTD_JWKS_URL") else {
            let stray: Vec<&str> = [
                "SUPPORTD_JWT_ISSUER",
                "SUPPORTD_JWT_AUDIENCE",
                "SUPPORTD_JWT_ROLE_CLAIM",
                "SUPPORTD_JWT_CUSTOMER_CLAIM",
                "SUPPORTD_JWT_TEAMS_CLAIM",
                "SUPPORTD_JWT_LEEWAY_SECONDS",
            ]
            .into_iter()
            .filter(|name| var(name).is_some())
            .collect();
            if !stray.is_empty() {
                let verb = if stray.len() == 1 { "has" } else { "have" };
                bail!(
                    "{} {verb} no effect without an identity provider: set SUPPORTD_JWKS_URL too",
                    stray.join(", ")
                );
            }
            return Ok(None);
        };
        let jwks: JwksSource = jwks
            .parse()
            .map_err(|e| anyhow::anyhow!("SUPPORTD_JWKS_URL: {e}"))?;
        // An unchecked issuer or audience would let in tokens the provider made for other apps.
        let issuer = var("SUPPORTD_JWT_ISSUER")
            .context("SUPPORTD_JWKS_URL needs SUPPORTD_JWT_ISSUER, the iss of the tokens")?;
        let audience: Vec<String> = var("SUPPORTD_JWT_AUDIENCE")
            .context("SUPPORTD_JWKS_URL needs SUPPORTD_JWT_AUDIENCE, the aud of the tokens")?
            .split(',')
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect();
        if audience.is_empty() {
            bail!("SUPPORTD_JWT_AUDIENCE names no audience");
        }
        let pointer = |name: &str, default: &str| -> anyhow::Result<String> {
            let value = var(name).unwrap_or_else(|| default.to_owned());
            json_pointer(&value).with_context(|| format!("{name}={value:?}"))?;
            Ok(value)
        };
        let leeway: u64 = var("SUPPORTD_JWT_LEEWAY_SECONDS")
            .unwrap_or_else(|| "60".to_owned())
            .parse()
            .ok()
            .filter(|s| *s <= MAX_LEEWAY_SECONDS)
            .with_context(|| {
                format!("SUPPORTD_JWT_LEEWAY_SECONDS must be a number of seconds, at most {MAX_LEEWAY_SECONDS}")
            })?;
        if let JwksSource::Http(url) = &jwks {
            if url.scheme() == "http"
                && !matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"))
            {
                tracing::warn!(%url, "the JWKS is fetched over plain http: whoever sits on the path can replace the keys");
            }
        }
        Ok(Some(Self {
            jwks,
            issuer,
            audience,
            role_claim: pointer("SUPPORTD_JWT_ROLE_CLAIM", "/role")?,
            customer_claim: pointer("SUPPORTD_JWT_CUSTOMER_CLAIM", "/customerId")?,
            tier_claim: pointer("SUPPORTD_JWT_TIER_CLAIM", "/tier")?,
            teams_claim: pointer("SUPPORTD_JWT_TEAMS_CLAIM", "/teams")?,
            leeway: Duration::from_secs(leeway),
        }))
    }
}

/// An RFC 6901 pointer into the claims: `/a/b`, with `~1` for a `/` in a name and `~0` for `~`.
fn json_pointer(value: &str) -> anyhow::Result<()> {
    if !value.starts_with('/') {
        bail!("a JSON pointer starts with / (e.g. /realm_access/roles)");
    }
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            bail!("in a JSON pointer ~ is followed by 0 (for ~) or 1 (for /)");
        }
    }
    Ok(())
}

/// Refuses to serve the API beyond this host while it takes tokens signed with the development
/// secret, which anyone can read in the source and mint tokens with.
pub fn check_exposure(bind: SocketAddr, hs256_secret: Option<&str>) -> anyhow::Result<()> {
    if hs256_secret == Some(DEVELOPMENT_JWT_SECRET) && !bind.ip().to_canonical().is_loopback() {
        bail!(
            "refusing to serve the API on {bind} with the development JWT secret, with which \
             anyone can mint tokens: set SUPPORTD_JWT_SECRET, or SUPPORTD_JWKS_URL for tokens from \
             an identity provider, or bind a loopback address (SUPPORTD_BIND=127.0.0.1:3000)"
        );
    }
    Ok(())
}

fn var(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

impl Settings {
    /// The secret HS256 tokens are checked with, if they are accepted at all. With an identity
    /// provider they are only when SUPPORTD_JWT_SECRET is set: never with the public development
    /// secret.
    pub fn hs256_secret(&self) -> Option<&str> {
        let development = self.jwt_secret == DEVELOPMENT_JWT_SECRET;
        (!(development && self.identity_provider.is_some())).then_some(self.jwt_secret.as_str())
    }

    pub fn from_env() -> anyhow::Result<Self> {
        let identity_provider = IdentityProvider::from_vars(|name| std::env::var(name).ok())?;
        let jwt_secret = match std::env::var("SUPPORTD_JWT_SECRET") {
            Ok(secret) if !secret.is_empty() => secret,
            _ if identity_provider.is_some() => {
                tracing::info!(
                    "SUPPORTD_JWT_SECRET is not set: HS256 tokens are refused, tokens come from \
                     the identity provider"
                );
                DEVELOPMENT_JWT_SECRET.to_owned()
            }
            _ => {
                tracing::warn!(
                    "SUPPORTD_JWT_SECRET is not set: using the DEVELOPMENT secret. Anyone can mint \
                     tokens for this service, so the API only listens on a loopback address. Set \
                     SUPPORTD_JWT_SECRET or SUPPORTD_JWKS_URL before exposing it."
                );
                DEVELOPMENT_JWT_SECRET.to_owned()
            }
        };
        let master_key = match std::env::var("SUPPORTD_MASTER_KEY") {
            Ok(key) if !key.is_empty() => {
                MasterKey::from_base64(&key).map_err(anyhow::Error::msg)?
            }
            _ => {
                tracing::warn!(
                    "SUPPORTD_MASTER_KEY is not set: personal data is sealed with the DEVELOPMENT \
                     master key, which anyone can derive. Set SUPPORTD_MASTER_KEY (32 random bytes \
                     in base64: `supportd master-key` prints one) before storing real customers' \
                     data, and never change it afterwards without re-sealing the data keys."
                );
                MasterKey::development()
            }
        };
        let retention = match std::env::var("SUPPORTD_RETENTION_DAYS") {
            Ok(days) if !days.is_empty() => Some(
                days.parse::<i64>()
                    .ok()
                    .filter(|d| (1..=36_500).contains(d))
                    .map(chrono::Duration::days)
                    .context(
                        "SUPPORTD_RETENTION_DAYS must be a whole number of days, 1 to 36500",
                    )?,
            ),
            _ => None,
        };
        let read_timeout_ms: u64 = var("SUPPORTD_READ_TIMEOUT_MS", "5000")
            .parse()
            .context("SUPPORTD_READ_TIMEOUT_MS must be a number of milliseconds")?;
        let ack_wait_ms: u64 = var("SUPPORTD_ACK_WAIT_MS", "30000")
            .parse()
            .context("SUPPORTD_ACK_WAIT_MS must be a number of milliseconds")?;
        let max_deliveries: i64 = var("SUPPORTD_MAX_DELIVERIES", "5")
            .parse()
            .ok()
            .filter(|n| *n >= 1)
            .context("SUPPORTD_MAX_DELIVERIES must be a whole number, 1 or more")?;
        Ok(Self {
            database_url: var("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/support"),
            nats_url: var("NATS_URL", "nats://127.0.0.1:4222"),
            bind: var("SUPPORTD_BIND", "127.0.0.1:3000")
                .parse()
                .context("SUPPORTD_BIND must be host:port")?,
            worker_bind: var("SUPPORTD_WORKER_BIND", "127.0.0.1:3001")
                .parse()
                .context("SUPPORTD_WORKER_BIND must be host:port")?,
            jwt_secret,
            master_key,
            retention,
            identity_provider,
            bus: Bus {
                stream: var("SUPPORTD_STREAM", "SUPPORT_EVENTS"),
                subject_prefix: var("SUPPORTD_SUBJECT_PREFIX", "support.events"),
                max_age: None,
                ack_wait: Duration::from_millis(ack_wait_ms),
                max_deliveries,
            },
            read_timeout: Duration::from_millis(read_timeout_ms),
            clock: Arc::new(SystemClock),
            rate_limits: RateLimits::from_env()?,
            webhooks: WebhookSettings::from_env()?,
            email: EmailSettings::from_vars(|name| std::env::var(name).ok())?,
            sms: SmsSettings::from_vars(|name| std::env::var(name).ok())?,
            kb: KbSettings::from_env()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_development_secret_stays_on_loopback() {
        let development = Some(DEVELOPMENT_JWT_SECRET);
        for refused in ["0.0.0.0:3000", "10.0.0.5:3000", "[::]:3000"] {
            let error = check_exposure(refused.parse().unwrap(), development).unwrap_err();
            assert!(error.to_string().contains("SUPPORTD_JWT_SECRET"));
            assert!(error.to_string().contains("SUPPORTD_JWKS_URL"));
        }
        for allowed in ["127.0.0.1:3000", "[::1]:3000", "[::ffff:127.0.0.1]:3000"] {
            check_exposure(allowed.parse().unwrap(), development).unwrap();
        }
        check_exposure("0.0.0.0:3000".parse().unwrap(), Some("a real secret")).unwrap();
        check_exposure("0.0.0.0:3000".parse().unwrap(), None).unwrap();
    }

    fn provider(vars: &[(&str, &str)]) -> anyhow::Result<Option<IdentityProvider>> {
        IdentityProvider::from_vars(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    const KEYCLOAK: &[(&str, &str)] = &[
        (
            "SUPPORTD_JWKS_URL",
            "https://sso.example.com/realms/support/protocol/openid-connect/certs",
        ),
        (
            "SUPPORTD_JWT_ISSUER",
            "https://sso.example.com/realms/support",
        ),
        ("SUPPORTD_JWT_AUDIENCE", "supportd, account"),
        ("SUPPORTD_JWT_ROLE_CLAIM", "/realm_access/roles"),
    ];

    #[test]
    fn an_identity_provider_is_read_with_defaults() {
        let keycloak = provider(KEYCLOAK).unwrap().unwrap();
        assert_eq!(keycloak.audience, ["supportd", "account"]);
        assert_eq!(keycloak.role_claim, "/realm_access/roles");
        assert_eq!(keycloak.customer_claim, "/customerId");
        assert_eq!(keycloak.teams_claim, "/teams");
        assert_eq!(keycloak.leeway, Duration::from_secs(60));
        assert_eq!(provider(&[]).unwrap(), None);
    }

    #[test]
    fn bad_identity_provider_settings_are_refused_by_name() {
        let with = |name: &str, value: &str| {
            let mut vars = KEYCLOAK.to_vec();
            vars.retain(|(n, _)| *n != name);
            vars.push((name, value));
            format!("{:#}", provider(&vars).unwrap_err())
        };
        assert!(with("SUPPORTD_JWT_ROLE_CLAIM", "realm_access.roles").contains("starts with /"));
        assert!(with("SUPPORTD_JWT_CUSTOMER_CLAIM", "/a~2b").contains("~ is followed by"));
        assert!(with("SUPPORTD_JWT_TEAMS_CLAIM", "groups").contains("starts with /"));
        assert!(with("SUPPORTD_JWKS_URL", "ldap://idp").contains("file://, http:// or https://"));
        assert!(with("SUPPORTD_JWT_LEEWAY_SECONDS", "301").contains("at most 300"));
        assert!(with("SUPPORTD_JWT_AUDIENCE", " , ").contains("no audience"));
        let no_issuer: Vec<_> = KEYCLOAK[..1].iter().copied().chain([KEYCLOAK[2]]).collect();
        assert!(provider(&no_issuer)
            .unwrap_err()
            .to_string()
            .contains("SUPPORTD_JWT_ISSUER"));
        let without_jwks = provider(&KEYCLOAK[1..]).unwrap_err().to_string();
        assert!(
            without_jwks.contains("set SUPPORTD_JWKS_URL too"),
            "{without_jwks}"
        );
    }
}
