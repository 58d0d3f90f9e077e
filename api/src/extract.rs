//! Extractors whose rejections are problem documents. A JSON body says only what the endpoint
//! understands: a field it does not declare is refused, not silently dropped, so a misspelt
//! `isInternl` cannot turn an internal note into a public one.

use std::collections::BTreeMap;

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path as UrlPath, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use http_body_util::LengthLimitError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_ignored::Path;
use serde_json::error::Category;
use support_domain::{FieldErrors, NUL_REFUSED};
use support_projections::page::{PageRequest, PageStart};
use uuid::Uuid;

use crate::problem::ApiError;
use crate::startup::MAX_BODY_BYTES;

/// A JSON body as `T`. Refuses a wrong content type (415), a body past `MAX_BODY_BYTES` (413),
/// malformed JSON (400), and values of the wrong type or fields `T` does not declare (422).
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &S) -> Result<Self, ApiError> {
        if !is_json(request.headers()) {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as JSON with Content-Type: application/json".to_owned(),
            ));
        }
        let bytes = read_body(request.into_body()).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// `application/json` or any `application/*+json`, parameters (a charset) allowed.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default();
    let essence = essence.trim().to_ascii_lowercase();
    essence.split_once('/').is_some_and(|(kind, subtype)| {
        kind == "application" && (subtype == "json" || subtype.ends_with("+json"))
    })
}

/// The whole body, refused past `MAX_BODY_BYTES`.
pub async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    to_bytes(body, MAX_BODY_BYTES).await.map_err(|error| {
        let error = error.into_inner();
        if error.is::<LengthLimitError>() {
            ApiError::PayloadTooLarge(MAX_BODY_BYTES)
        } else {
            ApiError::BadRequest(format!("the request body could not be read: {error}"))
        }
    })
}

/// Deserializes in one pass, noting every field `T` ignores so all of them are named at once.
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let malformed = |error: &dyn std::fmt::Display| {
        ApiError::BadRequest(format!("Failed to parse the request body as JSON: {error}"))
    };
    let mut unknown = FieldErrors::default();
    let mut note = |path: Path<'_>| {
        let field = field_name(&path);
        let field = if field.is_empty() {
            "body".to_owned()
        } else {
            field
        };
        unknown.push(field, "is not a field of this request");
    };
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(serde_ignored::Deserializer::new(
        &mut deserializer,
        &mut note,
    ))
    .map_err(|error| match error.inner().classify() {
        Category::Data => ApiError::field(
            "body",
            format!("Failed to deserialize the JSON body into the target type: {error}"),
        ),
        Category::Syntax | Category::Eof | Category::Io => malformed(&error),
    })?;
    deserializer.end().map_err(|error| malformed(&error))?;
    unknown.into_result().map_err(ApiError::Validation)?;
    Ok(value)
}

/// For a field where `null` means something (`"assignedTo": null` unassigns): tells an explicit
/// `null` (`Some(None)`) from an absent field (`None`). Use with `#[serde(default)]`.
pub fn explicit_null<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// An id from a path; anything else (NUL, any length) names no `resource`: 404.
pub fn path_id(value: &str, resource: &'static str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(value).map_err(|_| ApiError::NotFound(resource))
}

/// The value of a required field, or an error saying it is required.
pub fn required<T>(errors: &mut FieldErrors, field: &str, value: Option<T>) -> Option<T> {
    if value.is_none() {
        errors.push(field, "is required");
    }
    value
}

/// A text field parsed when it was sent, or an error naming it.
pub fn parsed<T>(
    errors: &mut FieldErrors,
    field: &str,
    value: Option<&str>,
    parse: fn(&str) -> Result<T, String>,
) -> Option<T> {
    errors.take(field, parse(value?))
}

/// A required field parsed, or an error saying it is missing or why it is wrong.
pub fn required_parsed<T>(
    errors: &mut FieldErrors,
    field: &str,
    value: &Option<String>,
    parse: fn(&str) -> Result<T, String>,
) -> Option<T> {
    match value {
        Some(value) => errors.take(field, parse(value)),
        None => required(errors, field, None),
    }
}

/// Where a list's page starts, from `page` (a number), `cursor` and `limit` as sent; an error of
/// any is recorded in `errors`.
pub fn page_or_cursor(
    errors: &mut FieldErrors,
    page: Option<&str>,
    cursor: Option<&str>,
    limit: Option<&str>,
) -> Option<PageRequest> {
    let number = |value: &str| {
        value
            .parse::<u32>()
            .map_err(|_| "must be a whole number".to_owned())
    };
    let page = parsed(errors, "page", page, number);
    let limit = parsed(errors, "limit", limit, number);
    match PageRequest::parse(page, cursor, limit) {
        Ok(page) => Some(page),
        Err((field, message)) => {
            errors.push(field, message);
            None
        }
    }
}

/// A query string's boolean: `true` or `false`.
pub fn boolean(value: &str) -> Result<bool, String> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("must be true or false".to_owned()),
    }
}

/// A numbered page of a short list (a desk's policies): `page` from 1 to what a 32-bit integer
/// holds, as the OpenAPI document's `int32` says, and `limit` up to `PageRequest::MAX_LIMIT`;
/// either one's error is recorded in `errors` (the defaults stand in for it).
pub fn numbered_page(
    errors: &mut FieldErrors,
    page: Option<&str>,
    limit: Option<&str>,
) -> PageRequest {
    let page = parsed(errors, "page", page, |v| {
        v.parse::<i32>()
            .ok()
            .filter(|page| *page >= 1)
            .map(|page| page as u32)
            .ok_or_else(|| format!("must be a whole number from 1 to {}", i32::MAX))
    });
    let limit = parsed(errors, "limit", limit, |v| {
        v.parse::<u32>()
            .ok()
            .filter(|limit| (1..=PageRequest::MAX_LIMIT).contains(limit))
            .ok_or_else(|| {
                format!(
                    "must be a whole number from 1 to {}",
                    PageRequest::MAX_LIMIT
                )
            })
    });
    PageRequest {
        start: PageStart::Number(page.unwrap_or(1)),
        limit: limit.unwrap_or(PageRequest::DEFAULT_LIMIT),
    }
}

/// A JSON path named as the other field errors are: `title`, `tags[1]`, `customer.name`.
fn field_name(path: &Path<'_>) -> String {
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", field_name(parent)),
        Path::Map { parent, key } => match field_name(parent) {
            parent if parent.is_empty() => key.clone(),
            parent => format!("{parent}.{key}"),
        },
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => field_name(parent),
    }
}

/// `axum::extract::Query` whose rejections are problem documents. A parameter holding NUL is
/// refused, whatever `T` makes of it, since every parameter ends up in a query to PostgreSQL.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)?;
        let mut errors = FieldErrors::default();
        for (name, value) in pairs {
            if value.contains('\0') {
                errors.push(name, NUL_REFUSED);
            }
        }
        errors.into_result().map_err(ApiError::Validation)?;
        let Query(value) = Query::<T>::from_request_parts(parts, state).await?;
        Ok(ApiQuery(value))
    }
}

/// `axum::extract::Path` whose rejections are problem documents: a segment that is not UTF-8
/// once percent-decoded (`%FF`) cannot be read, 400. What it names is the handler's to judge.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let UrlPath(value) = UrlPath::<T>::from_request_parts(parts, state).await?;
        Ok(ApiPath(value))
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        match rejection {
            PathRejection::FailedToDeserializePathParams(_) => {
                ApiError::BadRequest(rejection.body_text())
            }
            // A route without the parameter its handler reads: the service's fault.
            other => ApiError::Internal(anyhow::anyhow!(other.body_text())),
        }
    }
}

/// The query parameters a query does not declare, gathered into it by `#[serde(flatten)]`, for
/// queries that refuse them by name rather than ignore them: where a misspelt parameter would
/// silently change the answer (`actr=agent-7` answering with everyone's actions).
#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct UnknownParameters(BTreeMap<String, String>);

impl UnknownParameters {
    pub fn refuse(&self, errors: &mut FieldErrors) {
        for name in self.0.keys() {
            errors.push(name.clone(), "is not a parameter of this request");
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)] // only the shape matters
    struct Body {
        title: Option<String>,
        items: Option<Vec<Item>>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Item {
        name: String,
    }

    fn refused_fields(json: &str) -> Vec<String> {
        match parse_json::<Body>(json.as_bytes()) {
            Err(ApiError::Validation(errors)) => errors.0.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn every_unknown_field_is_named_by_its_path() {
        assert_eq!(
            refused_fields(r#"{"title": "t", "isInternl": true, "colour": "red"}"#),
            ["isInternl", "colour"]
        );
        assert_eq!(
            refused_fields(r#"{"items": [{"name": "a"}, {"name": "b", "size": {"w": 1}}]}"#),
            ["items[1].size"]
        );
    }

    #[test]
    fn known_fields_pass_and_bad_json_keeps_its_own_answer() {
        let body: Body = parse_json(br#"{"title": "t", "items": []}"#).unwrap();
        assert_eq!(body.title.as_deref(), Some("t"));
        assert!(matches!(
            parse_json::<Body>(br#"{"title": "#),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            parse_json::<Body>(br#"{"title": "t"} trailing"#),
            Err(ApiError::BadRequest(_))
        ));
        assert_eq!(refused_fields(r#"{"title": 5}"#), ["body"]);
    }

    async fn query(uri: &str) -> Result<std::collections::HashMap<String, String>, ApiError> {
        let (mut parts, _) = Request::builder().uri(uri).body(()).unwrap().into_parts();
        let ApiQuery(query) = ApiQuery::from_request_parts(&mut parts, &()).await?;
        Ok(query)
    }

    #[tokio::test]
    async fn a_query_parameter_holding_nul_is_refused_by_name() {
        assert_eq!(query("/x?state=open").await.unwrap()["state"], "open");
        match query("/x?state=open&projection=a%00b").await {
            Err(ApiError::Validation(errors)) => assert_eq!(errors.0[0].field, "projection"),
            other => panic!("expected a validation error, got {:?}", other.map(|_| ())),
        }
    }

    #[derive(Debug, Deserialize)]
    struct Strict {
        known: Option<String>,
        #[serde(flatten)]
        unknown: UnknownParameters,
    }

    #[tokio::test]
    async fn undeclared_parameters_are_gathered_and_a_repeated_one_is_malformed() {
        let read = |uri: &'static str| async move {
            let (mut parts, _) = Request::builder().uri(uri).body(()).unwrap().into_parts();
            ApiQuery::<Strict>::from_request_parts(&mut parts, &())
                .await
                .map(|ApiQuery(query)| query)
        };
        let query = read("/x?known=a&zeta=1&alpha=2").await.unwrap();
        assert_eq!(query.known.as_deref(), Some("a"));
        let mut errors = FieldErrors::default();
        query.unknown.refuse(&mut errors);
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["alpha", "zeta"]);
        assert!(matches!(
            read("/x?known=a&known=b").await,
            Err(ApiError::BadRequest(_))
        ));
    }

    #[test]
    fn json_content_types_are_recognised() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            is_json(&headers)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(with("application/merge-patch+json"));
        assert!(!with("text/json"));
        assert!(!with("text/plain"));
        assert!(!is_json(&HeaderMap::new()));
    }
}
