//! `Idempotency-Key` on every POST, as Stripe has it: the first answer to a caller's key is kept
//! for 24 hours and replayed, byte for byte, to every retry of the same request, so a client that
//! lost an answer can retry without opening a second ticket or posting a comment twice.

use axum::body::{to_bytes, Body};
use axum::extract::{FromRequestParts, OriginalUri, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use support_projections::Redacted;
use tracing::Instrument;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use uuid::Uuid;

use crate::auth::Principal;
use crate::extract::read_body;
use crate::problem::ApiError;
use crate::startup::ApiContext;

/// As problem documents name it; header lookups ignore case.
pub const HEADER: &str = "Idempotency-Key";

/// The header's description in the OpenAPI document.
pub const DESCRIPTION: &str = "1 to 255 printable ASCII characters, new for each request you mean \
    to make once. A retry with the same key and the same request gets the first answer again \
    (with `Idempotent-Replayed: true`) and changes nothing; keys are kept 24 hours per caller.";

const MAX_KEY_CHARS: usize = 255;

const KEPT_FOR: TimeDelta = TimeDelta::hours(24);

/// Expired rows are deleted opportunistically, at most this many each time a new key is taken:
/// more than keys arrive, so the table holds about a day of keys with no sweeper to run.
const EXPIRED_DELETED_PER_KEY: i64 = 100;

/// Answers a keyed POST from its first answer, or runs it and keeps the answer. Requests without
/// the header, or without a valid bearer token (the handler answers 401), pass through untouched.
pub async fn replay_or_run(
    State(ctx): State<ApiContext>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if request.method() != Method::POST || !request.headers().contains_key(HEADER) {
        return Ok(next.run(request).await);
    }
    let (mut parts, body) = request.into_parts();
    let Ok(principal) = Principal::from_request_parts(&mut parts, &ctx).await else {
        return Ok(next.run(Request::from_parts(parts, body)).await);
    };
    let key = parse_key(&parts.headers).map_err(|message| ApiError::field(HEADER, message))?;
    let body = read_body(body).await?;
    let path = match parts.extensions.get::<OriginalUri>() {
        Some(OriginalUri(uri)) => uri.path(),
        None => parts.uri.path(),
    };
    let claim = Claim {
        subject: principal.sub,
        key,
        request_hash: request_hash(&parts.method, path, &body),
        claimed_at: ctx.clock.now(),
    };
    match claim.take(&ctx.pool).await? {
        Taken::Claimed => {}
        Taken::Answered(answer) => return Ok(answer.replay()),
        Taken::InProgress => {
            return Err(ApiError::Conflict {
                detail: "a request with this Idempotency-Key is in progress; retry".to_owned(),
                allowed_statuses: None,
            })
        }
        Taken::OtherRequest => {
            return Err(ApiError::field(
                HEADER,
                "was already used for another request (a different path or body); \
                 send a new key for a new request",
            ))
        }
    }
    let request = Request::from_parts(parts, Body::from(body));
    // On a task of its own, so that a client hanging up mid-command does not stop it before its
    // answer is kept: the retry then gets that answer instead of a key stuck in progress.
    let pool = ctx.pool.clone();
    let kept = claim.clone();
    let run = tokio::spawn(
        async move {
            let response = next.run(request).await;
            kept.keep(&pool, response).await
        }
        .in_current_span(),
    );
    match run.await {
        Ok(response) => Ok(response),
        Err(_) => {
            // The handler panicked: a 500, so the key is let go as for any 5xx. The panic's
            // message is left out of the logged error: it can hold any value of the request.
            claim.release(&ctx.pool).await;
            Err(ApiError::Internal(anyhow::anyhow!(
                "the request's handler panicked"
            )))
        }
    }
}

/// Deletes kept answers that show any of the given aggregates (their id in the body or the
/// Location): an erasure leaves no copy of the personal data they carried. A scan of a day of
/// keys, for a rare request.
pub async fn forget_answers_about(pool: &PgPool, ids: &[Uuid]) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    sqlx::query(
        "DELETE FROM idempotency_keys k WHERE EXISTS (SELECT 1 FROM unnest($1::text[]) AS t(id) \
             WHERE position(convert_to(t.id, 'UTF8') IN k.body) > 0 OR strpos(k.location, t.id) > 0)",
    )
    .bind(&ids)
    .execute(pool)
    .await?;
    Ok(())
}

/// The header's schema: what `parse_key` accepts.
pub fn key_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_KEY_CHARS))
        .pattern(Some("^[ -~]+$"))
}

/// The key, if it is 1 to 255 printable ASCII characters and sent once.
fn parse_key(headers: &HeaderMap) -> Result<String, &'static str> {
    let mut values = headers.get_all(HEADER).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err("must be sent once");
    };
    let printable = |key: &&str| key.bytes().all(|b| (b' '..=b'~').contains(&b));
    value
        .to_str()
        .ok()
        .filter(|key| (1..=MAX_KEY_CHARS).contains(&key.len()) && printable(key))
        .map(str::to_owned)
        .ok_or("must be 1 to 255 printable ASCII characters")
}

/// What a retry must repeat exactly, written like a request line (method, space, path, newline)
/// followed by the body, so no two different requests run together into the same bytes.
fn request_hash(method: &Method, path: &str, body: &[u8]) -> Vec<u8> {
    let mut hash = Sha256::new();
    hash.update(method.as_str());
    hash.update(b" ");
    hash.update(path);
    hash.update(b"\n");
    hash.update(body);
    hash.finalize().to_vec()
}

/// One caller's key on one request.
#[derive(Clone)]
struct Claim {
    subject: String,
    key: String,
    request_hash: Vec<u8>,
    claimed_at: DateTime<Utc>,
}

enum Taken {
    /// The key is new (or its row expired): this request runs.
    Claimed,
    Answered(Answer),
    InProgress,
    OtherRequest,
}

/// A live row of `idempotency_keys`.
#[derive(sqlx::FromRow)]
struct HeldKey {
    request_hash: Vec<u8>,
    status: Option<i16>,
    location: Option<String>,
    content_type: Option<String>,
    body: Option<Vec<u8>>,
}

/// A kept answer.
struct Answer {
    status: i16,
    location: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl Answer {
    fn replay(self) -> Response {
        let mut response = Response::new(Body::from(self.body));
        *response.status_mut() =
            StatusCode::from_u16(self.status as u16).expect("the table keeps valid statuses only");
        let headers = response.headers_mut();
        for (name, value) in [
            (header::LOCATION, self.location),
            (header::CONTENT_TYPE, self.content_type),
        ] {
            if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
                headers.insert(name, value);
            }
        }
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
        response
    }
}

impl Claim {
    /// Records the key as in progress, unless a live row holds it: then that row decides.
    async fn take(&self, pool: &PgPool) -> Result<Taken, ApiError> {
        let expired = self.claimed_at - KEPT_FOR;
        let claimed = sqlx::query(
            "INSERT INTO idempotency_keys (subject, idempotency_key, request_hash, created_at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (subject, idempotency_key) DO UPDATE \
             SET request_hash = EXCLUDED.request_hash, created_at = EXCLUDED.created_at, \
                 status = NULL, location = NULL, content_type = NULL, body = NULL \
             WHERE idempotency_keys.created_at <= $5",
        )
        .bind(&self.subject)
        .bind(&self.key)
        .bind(&self.request_hash)
        .bind(self.claimed_at)
        .bind(expired)
        .execute(pool)
        .await?
        .rows_affected()
            == 1;
        if claimed {
            delete_expired(pool, expired).await;
            return Ok(Taken::Claimed);
        }
        let held: Option<HeldKey> = sqlx::query_as(
            "SELECT request_hash, status, location, content_type, body \
             FROM idempotency_keys WHERE subject = $1 AND idempotency_key = $2",
        )
        .bind(&self.subject)
        .bind(&self.key)
        .fetch_optional(pool)
        .await?;
        Ok(match held {
            Some(held) if held.request_hash != self.request_hash => Taken::OtherRequest,
            Some(HeldKey {
                status: Some(status),
                location,
                content_type,
                body: Some(body),
                ..
            }) => Taken::Answered(Answer {
                status,
                location,
                content_type,
                body,
            }),
            Some(_) => Taken::InProgress,
            // The first attempt failed and let go of the key a moment ago: it was in progress.
            None => Taken::InProgress,
        })
    }

    /// Keeps the handler's answer for retries, unless it is a 5xx: that command did not commit,
    /// so the key is let go and a retry runs it again.
    async fn keep(self, pool: &PgPool, response: Response) -> Response {
        if response.status().is_server_error() {
            self.release(pool).await;
            return response;
        }
        let (parts, body) = response.into_parts();
        let body = match to_bytes(body, usize::MAX).await {
            Ok(body) => body,
            Err(error) => {
                self.release(pool).await;
                return ApiError::Internal(error.into()).into_response();
            }
        };
        let header = |name| {
            parts
                .headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
        };
        let kept = sqlx::query(
            "UPDATE idempotency_keys SET status = $4, location = $5, content_type = $6, body = $7 \
             WHERE subject = $1 AND idempotency_key = $2 AND created_at = $3",
        )
        .bind(&self.subject)
        .bind(&self.key)
        .bind(self.claimed_at)
        .bind(parts.status.as_u16() as i16)
        .bind(header(header::LOCATION))
        .bind(header(header::CONTENT_TYPE))
        .bind(body.as_ref())
        .execute(pool)
        .await;
        if let Err(error) = kept {
            // The command ran; its answer still goes out. Retries of this key answer 409 until it
            // expires, which is safer than running the command twice.
            tracing::warn!(error = %Redacted(&error), "cannot keep the answer to an Idempotency-Key");
        }
        Response::from_parts(parts, Body::from(body))
    }

    async fn release(&self, pool: &PgPool) {
        let released = sqlx::query(
            "DELETE FROM idempotency_keys \
             WHERE subject = $1 AND idempotency_key = $2 AND created_at = $3 AND status IS NULL",
        )
        .bind(&self.subject)
        .bind(&self.key)
        .bind(self.claimed_at)
        .execute(pool)
        .await;
        if let Err(error) = released {
            tracing::warn!(error = %Redacted(&error), "cannot let go of an Idempotency-Key; it answers 409 until it expires");
        }
    }
}

/// Deletes expired rows, a bounded number at a time and skipping rows another request holds.
/// Failing here changes nothing for this request, so it is only logged.
async fn delete_expired(pool: &PgPool, expired: DateTime<Utc>) {
    let deleted = sqlx::query(
        "DELETE FROM idempotency_keys WHERE (subject, idempotency_key) IN ( \
             SELECT subject, idempotency_key FROM idempotency_keys WHERE created_at <= $1 \
             LIMIT $2 FOR UPDATE SKIP LOCKED)",
    )
    .bind(expired)
    .bind(EXPIRED_DELETED_PER_KEY)
    .execute(pool)
    .await;
    if let Err(error) = deleted {
        tracing::warn!(error = %Redacted(&error), "cannot delete expired Idempotency-Keys");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(values: &[&str]) -> Result<String, &'static str> {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("idempotency-key", value.parse().unwrap());
        }
        parse_key(&headers)
    }

    #[test]
    fn keys_are_1_to_255_printable_ascii_characters_sent_once() {
        assert_eq!(key(&["retry-7c9e 6679"]), Ok("retry-7c9e 6679".to_owned()));
        assert_eq!(key(&[&"k".repeat(255)]), Ok("k".repeat(255)));
        assert!(key(&[""]).is_err());
        assert!(key(&[&"k".repeat(256)]).is_err());
        assert!(key(&["tab\there"]).is_err());
        assert!(key(&["a", "b"]).is_err());
    }

    #[test]
    fn the_hash_tells_requests_apart_by_method_path_and_body() {
        let post = Method::POST;
        let hash = request_hash(&post, "/api/v1/support/tickets", b"{}");
        assert_eq!(hash.len(), 32);
        assert_eq!(hash, request_hash(&post, "/api/v1/support/tickets", b"{}"));
        assert_ne!(hash, request_hash(&post, "/api/v1/support/tickets", b"{ }"));
        assert_ne!(hash, request_hash(&post, "/api/v1/support/ticket", b"{}"));
        assert_ne!(
            hash,
            request_hash(&Method::PUT, "/api/v1/support/tickets", b"{}")
        );
        assert_ne!(
            request_hash(&post, "/a", b"b"),
            request_hash(&post, "/ab", b""),
            "the path and the body do not run together"
        );
    }
}
