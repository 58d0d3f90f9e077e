//! Every error the API answers with, as RFC 9457 `application/problem+json`.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cqrs_es::AggregateError;
use serde::Serialize;
use support_domain::{DomainError, FieldError, FieldErrors, Refusal};
use support_projections::{database_unavailable, Redacted};
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{detail}")]
    Conflict {
        detail: String,
        allowed_statuses: Option<Vec<&'static str>>,
    },
    #[error("the request body is larger than the limit of {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("the request is invalid")]
    Validation(FieldErrors),
    /// The caller's rate limit is used up; `Retry-After` says when the next request will pass.
    #[error("{detail}")]
    TooManyRequests {
        detail: String,
        retry_after_seconds: u64,
    },
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The problem document. `errors` names each refused field; `allowedStatuses` lists the statuses
/// a ticket may move to when a status change was refused.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    #[serde(rename = "type")]
    #[schema(example = "/problems/validation")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub errors: Vec<ProblemField>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub allowed_statuses: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemField {
    pub field: String,
    pub message: String,
}

impl From<FieldError> for ProblemField {
    fn from(error: FieldError) -> Self {
        Self {
            field: error.field,
            message: error.message,
        }
    }
}

impl ApiError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::default();
        errors.push(field, message);
        ApiError::Validation(errors)
    }

    fn kind(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::BadRequest(_) => (
                StatusCode::BAD_REQUEST,
                "malformed-request",
                "Malformed request",
            ),
            ApiError::Unauthorized(_) => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Authentication required",
            ),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Not allowed"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            ApiError::MethodNotAllowed(_) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            ApiError::Conflict { .. } => (
                StatusCode::CONFLICT,
                "conflict",
                "Conflict with the current state",
            ),
            ApiError::PayloadTooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
            ),
            ApiError::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            ApiError::Validation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Validation failed",
            ),
            ApiError::TooManyRequests { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
            ),
            ApiError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, slug, title) = self.kind();
        let detail = match &self {
            ApiError::Internal(error) => {
                // Its chain can hold a serde or PostgreSQL message quoting a value of the request
                // or of an event, so only what `Redacted` keeps of it is logged.
                tracing::error!(error = %Redacted(error.as_ref()), "request failed");
                "the request could not be completed; it has been logged".to_owned()
            }
            ApiError::Validation(errors) if errors.0.len() == 1 => {
                format!("{}: {}", errors.0[0].field, errors.0[0].message)
            }
            other => other.to_string(),
        };
        let retry_after = match &self {
            ApiError::TooManyRequests {
                retry_after_seconds,
                ..
            } => Some(*retry_after_seconds),
            _ => None,
        };
        let (errors, allowed_statuses) = match self {
            ApiError::Validation(errors) => (errors.0.into_iter().map(Into::into).collect(), None),
            ApiError::Conflict {
                allowed_statuses, ..
            } => (
                Vec::new(),
                allowed_statuses.map(|s| s.into_iter().map(str::to_owned).collect()),
            ),
            _ => (Vec::new(), None),
        };
        let problem = Problem {
            problem_type: format!("/problems/{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            errors,
            allowed_statuses,
        };
        let mut response = (status, Json(problem)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(PROBLEM_JSON),
        );
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        if database_unavailable(&error) {
            tracing::warn!(error = %Redacted(&error), "database unavailable");
            return ApiError::Unavailable("the database is unavailable; retry shortly".to_owned());
        }
        ApiError::Internal(error.into())
    }
}

impl From<support_projections::ProjectionError> for ApiError {
    fn from(error: support_projections::ProjectionError) -> Self {
        match error {
            support_projections::ProjectionError::Database(error) => ApiError::from(error),
            other => ApiError::Internal(other.into()),
        }
    }
}

/// The event store's error as the source of a 500. Boxed by anyhow itself, its type would be
/// hidden from `Redacted`, which could then not tell a serde error that quotes a value.
#[derive(Debug, thiserror::Error)]
#[error("the event store failed")]
struct EventStoreError(#[source] Box<dyn std::error::Error + Send + Sync>);

/// Every aggregate's errors, by the kind each says it is.
impl<E: DomainError> From<AggregateError<E>> for ApiError {
    fn from(error: AggregateError<E>) -> Self {
        match error {
            AggregateError::UserError(error) => {
                let detail = error.to_string();
                match error.refusal() {
                    Refusal::NotFound { resource } => ApiError::NotFound(resource),
                    Refusal::Forbidden => ApiError::Forbidden(detail),
                    Refusal::InvalidField { field } => ApiError::field(field, detail),
                    Refusal::InvalidFields(errors) => ApiError::Validation(errors),
                    Refusal::Conflict { allowed_statuses } => ApiError::Conflict {
                        detail,
                        allowed_statuses,
                    },
                }
            }
            AggregateError::AggregateConflict => ApiError::Conflict {
                detail: "it was changed by another request at the same time; reload it and retry"
                    .to_owned(),
                allowed_statuses: None,
            },
            AggregateError::DatabaseConnectionError(error) => {
                tracing::warn!(error = %Redacted(error.as_ref()), "event store unavailable");
                ApiError::Unavailable("the event store is unavailable; retry shortly".to_owned())
            }
            AggregateError::UnexpectedError(error) => match error.downcast::<sqlx::Error>() {
                Ok(sqlx_error) => ApiError::from(*sqlx_error),
                Err(other) => ApiError::Internal(EventStoreError(other).into()),
            },
            AggregateError::DeserializationError(error) => {
                ApiError::Internal(EventStoreError(error).into())
            }
        }
    }
}
