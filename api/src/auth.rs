//! Bearer tokens: JWTs carrying who the caller is and in which role. supportd's own are HS256
//! (`supportd token`); an identity provider's are RS256, ES256 or EdDSA, checked against its JWKS.

use std::sync::Arc;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use chrono::{Duration, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{
    decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use support_domain::sla::CustomerTier;
use support_domain::ticket::Labels;
use support_domain::{Actor, ActorRole, Caller};
use support_projections::tickets::TicketScope;

use crate::jwks::Jwks;
use crate::problem::ApiError;
use crate::settings::{IdentityProvider, Settings};
use crate::startup::ApiContext;

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Claims {
    sub: String,
    role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_id: Option<String>,
    /// The customer's plan, which can pick a stricter SLA policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tier: Option<String>,
    /// The teams a staff member belongs to, which escalation levels name recipients by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    teams: Option<Value>,
    iat: i64,
    exp: i64,
}

/// Signs and checks tokens with the one configured secret.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl TokenKeys {
    pub fn new(secret: &str) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
        }
    }

    pub fn issue(
        &self,
        role: ActorRole,
        sub: &str,
        customer_id: Option<&str>,
        ttl: Duration,
    ) -> String {
        self.issue_with_tier(role, sub, customer_id, None, ttl)
    }

    /// A token whose `tier` claim names the customer's plan.
    pub fn issue_with_tier(
        &self,
        role: ActorRole,
        sub: &str,
        customer_id: Option<&str>,
        tier: Option<CustomerTier>,
        ttl: Duration,
    ) -> String {
        self.sign(role, sub, customer_id, tier, &[], ttl)
    }

    /// Every claim a supportd token can carry; `teams` is left out when there are none.
    pub fn sign(
        &self,
        role: ActorRole,
        sub: &str,
        customer_id: Option<&str>,
        tier: Option<CustomerTier>,
        teams: &[&str],
        ttl: Duration,
    ) -> String {
        let now = Utc::now();
        let claims = Claims {
            sub: sub.to_owned(),
            role: role.as_str().to_owned(),
            customer_id: customer_id.map(str::to_owned),
            tier: tier.map(|t| t.as_str().to_owned()),
            teams: (!teams.is_empty()).then(|| Value::from(teams.to_vec())),
            iat: now.timestamp(),
            exp: (now + ttl).timestamp(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing cannot fail")
    }

    fn verify(&self, token: &str) -> Result<Principal, ApiError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        let claims = decode::<Claims>(token, &self.decoding, &validation)
            .map_err(refusal)?
            .claims;
        let role = claims.role.parse::<ActorRole>().map_err(|_| {
            unauthorized(format!(
                "the bearer token's role is none of {}",
                role_names(ActorRole::ALL)
            ))
        })?;
        let tier = tier_from_claim(claims.tier.map(Value::String).as_ref(), "tier")?;
        let teams = teams_from_claim(claims.teams.as_ref(), "teams")?;
        Principal::new(claims.sub, role, claims.customer_id, tier, teams)
    }
}

fn unauthorized(detail: impl Into<String>) -> ApiError {
    ApiError::Unauthorized(detail.into())
}

/// Why a token was refused, in words that never repeat the token or its claims.
fn refusal(error: jsonwebtoken::errors::Error) -> ApiError {
    unauthorized(match error.kind() {
        ErrorKind::ExpiredSignature => "the bearer token has expired".to_owned(),
        ErrorKind::ImmatureSignature => "the bearer token is not valid yet".to_owned(),
        ErrorKind::InvalidIssuer => "the bearer token is from another issuer".to_owned(),
        ErrorKind::InvalidAudience => "the bearer token is meant for another audience".to_owned(),
        ErrorKind::MissingRequiredClaim(claim) => format!("the bearer token has no {claim} claim"),
        ErrorKind::InvalidSignature => "the bearer token's signature is not valid".to_owned(),
        ErrorKind::InvalidAlgorithm => {
            "the bearer token's algorithm does not match its key".to_owned()
        }
        _ => "the bearer token is not a valid JWT".to_owned(),
    })
}

fn role_names(roles: &[ActorRole]) -> String {
    roles
        .iter()
        .map(|role| role.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The role a claim gives: a string, or a list (Keycloak's `realm_access.roles`) in which
/// exactly one entry is a supportd role. Other entries (`offline_access`, ...) are ignored; two
/// supportd roles are refused rather than guessed between, since the role decides what the
/// caller sees.
fn role_from_claim(value: Option<&Value>, pointer: &str) -> Result<ActorRole, ApiError> {
    let names: Vec<&str> = match value {
        Some(Value::String(name)) => vec![name],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let roles: Vec<ActorRole> = ActorRole::ALL
        .iter()
        .copied()
        .filter(|role| names.contains(&role.as_str()))
        .collect();
    match roles.as_slice() {
        [role] => Ok(*role),
        [] => Err(unauthorized(format!(
            "the bearer token's {pointer} claim names none of the roles {}",
            role_names(ActorRole::ALL)
        ))),
        several => Err(unauthorized(format!(
            "the bearer token's {pointer} claim names several roles ({}); a caller has exactly one",
            role_names(several)
        ))),
    }
}

/// Checks tokens from an identity provider: signature by a key of its JWKS, issuer, audience,
/// expiry within the leeway; then reads the role and customer where the settings point.
struct ProviderTokens {
    jwks: Jwks,
    settings: IdentityProvider,
}

impl ProviderTokens {
    async fn verify(
        &self,
        token: &str,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Principal, ApiError> {
        // Only keys whose own alg (or type) allows `alg` come back, so an HS256 header never
        // meets an RSA key: the alg confusion attack has nothing to work with.
        let keys = self.jwks.keys_for(kid, alg).await;
        if keys.is_empty() {
            return Err(unauthorized(
                "the bearer token is not signed by a key of the identity provider",
            ));
        }
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&self.settings.audience);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = self.settings.leeway.as_secs();
        // Without a kid, each key fit for the algorithm is tried until one signed the token.
        let claims = keys
            .iter()
            .map(|key| decode::<Value>(token, key, &validation))
            .find(|outcome| !matches!(outcome, Err(e) if *e.kind() == ErrorKind::InvalidSignature))
            .unwrap_or_else(|| Err(ErrorKind::InvalidSignature.into()))
            .map_err(refusal)?
            .claims;
        self.principal(claims)
    }

    fn principal(&self, claims: Value) -> Result<Principal, ApiError> {
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let role = role_from_claim(
            claims.pointer(&self.settings.role_claim),
            &self.settings.role_claim,
        )?;
        let customer_id = match claims.pointer(&self.settings.customer_claim) {
            None | Some(Value::Null) => None,
            Some(Value::String(id)) if !id.trim().is_empty() => Some(id.clone()),
            Some(_) => {
                return Err(unauthorized(format!(
                    "the bearer token's {} claim is not a customer id",
                    self.settings.customer_claim
                )))
            }
        };
        let tier = tier_from_claim(
            claims.pointer(&self.settings.tier_claim),
            &self.settings.tier_claim,
        )?;
        let teams = teams_from_claim(
            claims.pointer(&self.settings.teams_claim),
            &self.settings.teams_claim,
        )?;
        Principal::new(sub, role, customer_id, tier, teams)
    }
}

/// A customer tier claim: absent, null, or one of the tiers' names.
fn tier_from_claim(claim: Option<&Value>, name: &str) -> Result<Option<CustomerTier>, ApiError> {
    match claim {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(tier)) => CustomerTier::parse(tier).map(Some).map_err(|_| {
            unauthorized(format!(
                "the bearer token's {name} claim is none of {}",
                CustomerTier::ALL
                    .iter()
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }),
        Some(_) => Err(unauthorized(format!(
            "the bearer token's {name} claim is not a customer tier"
        ))),
    }
}

/// A teams claim: absent, null, or a list of team names (as labels are: trimmed, 1 to 100
/// characters, at most 50, repeats dropped).
fn teams_from_claim(claim: Option<&Value>, name: &str) -> Result<Labels, ApiError> {
    let not_teams = || {
        unauthorized(format!(
            "the bearer token's {name} claim is not a list of team names"
        ))
    };
    let names: Vec<String> = match claim {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(not_teams)?,
        Some(_) => return Err(not_teams()),
    };
    Labels::parse(&names).map_err(|_| not_teams())
}

/// How a request's bearer token is checked: HS256 with the configured secret, and, with an
/// identity provider, the algorithms of its keys.
#[derive(Clone)]
pub struct TokenVerifier {
    hs256: Option<TokenKeys>,
    provider: Option<Arc<ProviderTokens>>,
}

impl TokenVerifier {
    /// The verifier the settings describe. The provider's keys are not fetched yet: see `jwks`.
    pub fn new(settings: &Settings) -> Self {
        Self {
            hs256: settings.hs256_secret().map(TokenKeys::new),
            provider: settings.identity_provider.clone().map(|settings| {
                Arc::new(ProviderTokens {
                    jwks: Jwks::new(settings.jwks.clone()),
                    settings,
                })
            }),
        }
    }

    /// The identity provider's key set, to load before serving and to keep fresh.
    pub fn jwks(&self) -> Option<&Jwks> {
        self.provider.as_ref().map(|provider| &provider.jwks)
    }

    pub async fn verify(&self, token: &str) -> Result<Principal, ApiError> {
        let header = decode_header(token).map_err(|_| {
            unauthorized("the bearer token is not a JWT with a supported algorithm")
        })?;
        match (header.alg, &self.hs256, &self.provider) {
            (Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512, Some(keys), _) => {
                keys.verify(token)
            }
            (Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512, None, _) => Err(unauthorized(
                "HS256 tokens are not accepted: use a token from the identity provider",
            )),
            (alg, _, Some(provider)) => provider.verify(token, header.kid.as_deref(), alg).await,
            (alg, _, None) => Err(unauthorized(format!(
                "{alg:?} tokens are not accepted: without an identity provider only HS256 is"
            ))),
        }
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub sub: String,
    pub role: ActorRole,
    pub customer_id: Option<String>,
    /// The plan of the customer account, as the token says; it picks the SLA policy of the
    /// tickets a customer opens.
    pub tier: Option<CustomerTier>,
    /// The teams the token names; escalation levels name recipients by team.
    pub teams: Labels,
}

impl Principal {
    /// A customer acts for its own account unless the token names the account it belongs to.
    fn new(
        sub: String,
        role: ActorRole,
        customer_id: Option<String>,
        tier: Option<CustomerTier>,
        teams: Labels,
    ) -> Result<Self, ApiError> {
        if sub.trim().is_empty() {
            return Err(unauthorized("the bearer token has no subject"));
        }
        let customer_id = match role {
            ActorRole::Customer => Some(customer_id.unwrap_or_else(|| sub.clone())),
            _ => customer_id,
        };
        Ok(Principal {
            sub,
            role,
            customer_id,
            tier,
            teams,
        })
    }

    pub fn actor(&self) -> Actor {
        Actor {
            sub: self.sub.clone(),
            role: self.role,
        }
    }

    /// The caller as a command carries it to the aggregate, which decides access.
    pub fn caller(&self) -> Caller {
        Caller {
            actor: self.actor(),
            customer_id: self.customer_id.clone(),
        }
    }

    pub fn require(&self, allowed: &[ActorRole], action: &str) -> Result<(), ApiError> {
        if allowed.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "the {} role cannot {action}",
                self.role.as_str()
            )))
        }
    }

    /// Which tickets this caller may see at all; others answer 404, as if they did not exist.
    pub fn ticket_scope(&self) -> TicketScope {
        match self.role {
            ActorRole::Admin | ActorRole::Service | ActorRole::Auditor => TicketScope::Everything,
            ActorRole::Agent => TicketScope::Agent(self.sub.clone()),
            ActorRole::Customer => {
                TicketScope::Customer(self.customer_id.clone().unwrap_or_default())
            }
        }
    }

    /// Staff work with internal notes; auditors read them to check that work.
    pub fn sees_internal_notes(&self) -> bool {
        self.role.is_staff() || self.role == ActorRole::Auditor
    }
}

impl FromRequestParts<ApiContext> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, ctx: &ApiContext) -> Result<Self, ApiError> {
        // The rate limiter, the Idempotency-Key layer and the handler each ask who the caller is:
        // the token is verified once a request, by the first.
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(principal.clone());
        }
        let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            ApiError::Unauthorized("send Authorization: Bearer <token>".to_owned())
        })?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::Unauthorized("the Authorization header must be Bearer <token>".to_owned())
            })?;
        let principal = ctx.tokens.verify(token).await?;
        parts.extensions.insert(principal.clone());
        Ok(principal)
    }
}

/// For what anyone may read (the published knowledge base): no `Authorization` header is an
/// anonymous caller, but a header with a token that is not valid is still refused with 401.
impl OptionalFromRequestParts<ApiContext> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        ctx: &ApiContext,
    ) -> Result<Option<Self>, ApiError> {
        if parts.headers.contains_key(header::AUTHORIZATION) {
            <Principal as FromRequestParts<ApiContext>>::from_request_parts(parts, ctx)
                .await
                .map(Some)
        } else {
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_customers_default_to_themselves() {
        let keys = TokenKeys::new("secret");
        let token = keys.issue(
            ActorRole::Customer,
            "customer-123",
            None,
            Duration::hours(1),
        );
        let principal = keys.verify(&token).unwrap();
        assert_eq!(principal.customer_id.as_deref(), Some("customer-123"));
        assert_eq!(
            principal.ticket_scope(),
            TicketScope::Customer("customer-123".into())
        );
    }

    #[test]
    fn a_role_list_gives_its_one_known_role() {
        let pointer = "/realm_access/roles";
        let roles = |value: Value| role_from_claim(Some(&value), pointer);
        assert_eq!(
            roles(serde_json::json!([
                "offline_access",
                "agent",
                "uma_authorization"
            ]))
            .unwrap(),
            ActorRole::Agent
        );
        assert_eq!(roles(serde_json::json!("admin")).unwrap(), ActorRole::Admin);
        for refused in [
            serde_json::json!(["agent", "admin"]),
            serde_json::json!(["offline_access"]),
            serde_json::json!({"admin": true}),
        ] {
            assert!(matches!(roles(refused), Err(ApiError::Unauthorized(_))));
        }
        assert!(role_from_claim(None, pointer).is_err());
    }

    #[test]
    fn teams_are_a_list_of_names_or_nothing() {
        let keys = TokenKeys::new("secret");
        let token = keys.sign(
            ActorRole::Agent,
            "alice",
            None,
            None,
            &["billing", " tier-2 ", "billing"],
            Duration::hours(1),
        );
        let principal = keys.verify(&token).unwrap();
        assert_eq!(principal.teams.as_slice(), ["billing", "tier-2"]);
        let none = keys.issue(ActorRole::Agent, "bob", None, Duration::hours(1));
        assert!(keys.verify(&none).unwrap().teams.as_slice().is_empty());
        for refused in [
            serde_json::json!("billing"),
            serde_json::json!([1]),
            serde_json::json!([""]),
        ] {
            assert!(matches!(
                teams_from_claim(Some(&refused), "/teams"),
                Err(ApiError::Unauthorized(_))
            ));
        }
    }

    #[test]
    fn forged_and_expired_tokens_are_refused() {
        let forged =
            TokenKeys::new("other").issue(ActorRole::Admin, "mallory", None, Duration::hours(1));
        assert!(matches!(
            TokenKeys::new("secret").verify(&forged),
            Err(ApiError::Unauthorized(_))
        ));
        let keys = TokenKeys::new("secret");
        let expired = keys.issue(ActorRole::Admin, "alice", None, Duration::hours(-2));
        assert!(matches!(
            keys.verify(&expired),
            Err(ApiError::Unauthorized(_))
        ));
    }
}
