//! Bearer tokens: HS256 JWTs carrying who the caller is and in which role.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use chrono::{Duration, Utc};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use support_domain::{Actor, ActorRole, Caller};
use support_projections::tickets::TicketScope;

use crate::problem::ApiError;
use crate::startup::ApiContext;

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Claims {
    sub: String,
    role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_id: Option<String>,
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
        let now = Utc::now();
        let claims = Claims {
            sub: sub.to_owned(),
            role: role.as_str().to_owned(),
            customer_id: customer_id.map(str::to_owned),
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
            .map_err(|e| ApiError::Unauthorized(format!("the bearer token is not valid: {e}")))?
            .claims;
        let role: ActorRole = claims.role.parse().map_err(ApiError::Unauthorized)?;
        if claims.sub.trim().is_empty() {
            return Err(ApiError::Unauthorized(
                "the bearer token has no subject".to_owned(),
            ));
        }
        // A customer is its own customer unless the token names the account it belongs to.
        let customer_id = match role {
            ActorRole::Customer => Some(claims.customer_id.unwrap_or_else(|| claims.sub.clone())),
            _ => claims.customer_id,
        };
        Ok(Principal {
            sub: claims.sub,
            role,
            customer_id,
        })
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub sub: String,
    pub role: ActorRole,
    pub customer_id: Option<String>,
}

impl Principal {
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
        ctx.tokens.verify(token)
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
