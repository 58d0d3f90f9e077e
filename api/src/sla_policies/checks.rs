//! Checking a policy before relying on it: `POST /sla-policies/{id}/preview` (when its clocks would
//! warn and run out for a ticket opened at a given instant, paused over given spans) and
//! `POST /sla-policies/{id}/what-if` (how the tickets of a period would have fared under it).

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use support_domain::sla::{Pause, SlaPolicyDefinition, SlaPreview};
use support_domain::FieldErrors;
use support_projections::sla::policies;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{policy_id, ID, NOT_FOUND, READERS};
use crate::auth::Principal;
use crate::extract::{required, ApiJson, ApiPath};
use crate::problem::{ApiError, Problem};
use crate::sla_what_if::{what_if, WhatIf, WhatIfRequest};
use crate::startup::ApiContext;

/// Pauses a preview takes at most.
pub const MAX_PAUSES: usize = 100;

/// The body of `POST /sla-policies/{id}/preview`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreviewRequest {
    /// When the ticket would be opened (RFC 3339).
    #[schema(value_type = String, required = true, format = DateTime)]
    pub start: Option<String>,
    /// Spans the ticket would wait for its customer, in order, not overlapping, none before
    /// `start`.
    #[schema(max_items = 100)]
    pub pauses: Option<Vec<PauseRequest>>,
}

/// A span a ticket waits for its customer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PauseRequest {
    #[schema(value_type = String, required = true, format = DateTime)]
    pub from: Option<String>,
    #[schema(value_type = String, required = true, format = DateTime)]
    pub to: Option<String>,
}

fn rfc3339(value: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(value)
        .map(|instant| instant.with_timezone(&Utc))
        .map_err(|_| "must be an RFC 3339 instant, such as 2026-11-27T17:30:00Z".to_owned())
}

impl PreviewRequest {
    /// The start and the pauses, once every field is valid: each pause ends after it begins,
    /// after the start and after the pause before.
    pub fn parse(&self) -> Result<(DateTime<Utc>, Vec<Pause>), FieldErrors> {
        let mut errors = FieldErrors::default();
        let start = required(&mut errors, "start", self.start.as_deref())
            .and_then(|s| errors.take("start", rfc3339(s)));
        let requested = self.pauses.as_deref().unwrap_or_default();
        if requested.len() > MAX_PAUSES {
            errors.push("pauses", format!("must have at most {MAX_PAUSES} items"));
        }
        let mut pauses = Vec::with_capacity(requested.len());
        let mut previous_end = start;
        for (index, pause) in requested.iter().enumerate().take(MAX_PAUSES) {
            let field = |name: &str| format!("pauses[{index}].{name}");
            let from = required(&mut errors, &field("from"), pause.from.as_deref())
                .and_then(|f| errors.take(&field("from"), rfc3339(f)));
            let to = required(&mut errors, &field("to"), pause.to.as_deref())
                .and_then(|t| errors.take(&field("to"), rfc3339(t)));
            if let (Some(from), Some(earliest)) = (from, previous_end) {
                if from < earliest {
                    errors.push(
                        field("from"),
                        "must not come before the start or the end of the pause before",
                    );
                }
            }
            if let (Some(from), Some(to)) = (from, to) {
                if to <= from {
                    errors.push(field("to"), "must come after from");
                }
                pauses.push(Pause { from, to });
            }
            previous_end = to.or(previous_end);
        }
        errors.into_result()?;
        Ok((start.expect("checked"), pauses))
    }
}

/// When the clocks of a ticket opened at `start` would warn and run out, if nobody answered or
/// resolved it; also in the policy's time zone, as its calendar reads them.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreviewView {
    pub response_warning_at: DateTime<Utc>,
    pub response_deadline: DateTime<Utc>,
    pub resolution_warning_at: DateTime<Utc>,
    pub resolution_deadline: DateTime<Utc>,
    /// The same instants in the policy's time zone, with its offset.
    pub local: LocalPreview,
    pub business_hours_only: bool,
    pub timezone: String,
}

/// A preview's instants in the policy's time zone (RFC 3339 with the zone's offset then).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalPreview {
    pub response_warning_at: String,
    pub response_deadline: String,
    pub resolution_warning_at: String,
    pub resolution_deadline: String,
}

impl PreviewView {
    fn new(preview: SlaPreview, timezone: Tz, business_hours_only: bool) -> Self {
        let local = |at: DateTime<Utc>| at.with_timezone(&timezone).to_rfc3339();
        Self {
            local: LocalPreview {
                response_warning_at: local(preview.response_warning_at),
                response_deadline: local(preview.response_deadline),
                resolution_warning_at: local(preview.resolution_warning_at),
                resolution_deadline: local(preview.resolution_deadline),
            },
            response_warning_at: preview.response_warning_at,
            response_deadline: preview.response_deadline,
            resolution_warning_at: preview.resolution_warning_at,
            resolution_deadline: preview.resolution_deadline,
            business_hours_only,
            timezone: timezone.name().to_owned(),
        }
    }
}

async fn definition(ctx: &ApiContext, id: Uuid) -> Result<SlaPolicyDefinition, ApiError> {
    policies::find_definition(&ctx.pool, id)
        .await?
        .ok_or(ApiError::NotFound("SLA policy"))
}

/// Preview a policy's deadlines. Staff and auditors.
///
/// For a ticket opened at `start` and waiting for its customer over `pauses`: when each clock
/// would warn and when it would run out, as a ticket's clocks would count them (business hours,
/// holidays and daylight saving time included). Records nothing.
#[utoipa::path(post, path = "/api/v1/support/sla-policies/{policy_id}/preview", tag = "sla",
    request_body = PreviewRequest,
    params(("policy_id" = String, Path, description = ID)),
    responses((status = 200, description = "The instants", body = PreviewView),
        (status = 403, description = "Customers do not read policies", body = Problem),
        (status = 404, description = NOT_FOUND, body = Problem)),
    security(("bearer" = [])))]
pub async fn preview_sla_policy(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PreviewRequest>,
) -> Result<Json<PreviewView>, ApiError> {
    principal.require(READERS, "read SLA policies")?;
    let id = policy_id(&id)?;
    let (start, pauses) = body.parse().map_err(ApiError::Validation)?;
    let definition = definition(&ctx, id).await?;
    let terms = definition.terms(id);
    let calendar = &terms.calendar;
    Ok(Json(PreviewView::new(
        terms.preview(start, &pauses),
        calendar.timezone(),
        calendar.counts_business_hours(),
    )))
}

/// What if a policy had applied? Staff and auditors.
///
/// Replays, from the event store, the tickets opened in the period within the policy's scope
/// (its priority, and its tier if it names one) under this policy's terms, and sets their
/// verdicts beside the ones they had. Records nothing. At most 20,000 tickets.
#[utoipa::path(post, path = "/api/v1/support/sla-policies/{policy_id}/what-if", tag = "sla",
    request_body = WhatIfRequest,
    params(("policy_id" = String, Path, description = ID)),
    responses((status = 200, description = "The verdicts as they were and as they would have been", body = WhatIf),
        (status = 403, description = "Customers do not read policies", body = Problem),
        (status = 404, description = NOT_FOUND, body = Problem)),
    security(("bearer" = [])))]
pub async fn what_if_sla_policy(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<WhatIfRequest>,
) -> Result<Json<WhatIf>, ApiError> {
    principal.require(READERS, "read SLA policies")?;
    let id = policy_id(&id)?;
    let range = body.parse().map_err(ApiError::Validation)?;
    let definition = definition(&ctx, id).await?;
    let outcome = what_if(
        &ctx,
        &definition.terms(id),
        definition.priority,
        definition.customer_tier,
        range,
        ctx.clock.now(),
    )
    .await?;
    Ok(Json(outcome))
}
