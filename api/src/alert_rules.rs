//! The alert rule endpoints: admins keep the rules; staff and auditors read them and their
//! firings. `alert_watch` evaluates the active ones.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use support_domain::alert::{
    AlertKind, AlertRule, AlertRuleChanges, AlertRuleCommand, AlertRuleFields, CooldownMinutes,
};
use support_domain::sla::PolicyName;
use support_domain::{ActorRole, FieldErrors};
use support_projections::alerts::{self, AlertFiringView, AlertRuleView, READ_MODEL};
use support_projections::escalation::RecipientsFields;
use support_projections::schema;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Principal;
use crate::commands::{CommandAccepted, Committed, RequestIds};
use crate::escalation_policies::parse_recipients;
use crate::extract::{parsed, required, ApiJson, ApiPath};
use crate::problem::{ApiError, Problem};
use crate::startup::ApiContext;

const READERS: &[ActorRole] = &[ActorRole::Agent, ActorRole::Admin, ActorRole::Auditor];
const ID: &str = "The alert rule's id (a UUID)";
const NOT_FOUND: &str = "No alert rule has this id";
const ACCEPTED: &str =
    "Recorded; the read model did not show it within the wait bound. Poll Location.";
/// How many firings `GET /alert-rules/{id}/firings` lists.
const FIRINGS: i64 = 100;

pub fn routes() -> Router<ApiContext> {
    Router::new()
        .route(
            "/alert-rules",
            get(list_alert_rules).post(create_alert_rule),
        )
        .route(
            "/alert-rules/{alert_rule_id}",
            get(get_alert_rule).put(update_alert_rule),
        )
        .route("/alert-rules/{alert_rule_id}/firings", get(alert_firings))
}

/// A new rule. The threshold means, by kind: `SLA_BREACH` breaches since the rule last fired (at
/// least, default 1); `HIGH_VOLUME` the multiple of the usual hour's volume (more than, default
/// 2); `CRITICAL_INCIDENT` critical incidents since it last fired (at least, default 1);
/// `AGENT_OVERLOAD` an agent's open tickets allowed (more than, default 20); `LOW_KB_RATING` the
/// mean rating of an article with at least 5 ratings (below, default 2.5).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateAlertRuleRequest {
    #[schema(required = true, schema_with = rule_name)]
    pub name: Option<String>,
    #[schema(required = true, schema_with = schema::alert_kind)]
    pub kind: Option<String>,
    #[schema(minimum = 1, maximum = 10000)]
    pub threshold: Option<f64>,
    /// Who is told: agents, roles, teams; at least one.
    #[schema(required = true, schema_with = recipients_schema)]
    pub recipients: Option<RecipientsFields>,
    /// How long a subject stays silent after it fired: 0 to 10080 minutes, default 60.
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 10080)]
    pub cooldown_minutes: Option<f64>,
    /// Default true.
    pub active: Option<bool>,
}

/// Any subset of a rule's fields.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateAlertRuleRequest {
    #[schema(schema_with = rule_name)]
    pub name: Option<String>,
    #[schema(schema_with = schema::alert_kind)]
    pub kind: Option<String>,
    #[schema(minimum = 1, maximum = 10000)]
    pub threshold: Option<f64>,
    #[schema(schema_with = recipients_schema)]
    pub recipients: Option<RecipientsFields>,
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 10080)]
    pub cooldown_minutes: Option<f64>,
    pub active: Option<bool>,
}

/// Who a rule tells, as an object of its own in the request (not a reference).
fn recipients_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder};
    ObjectBuilder::new()
        .property("agents", schema::agent_ids())
        .property("roles", schema::staff_roles())
        .property("teams", schema::team_names())
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .build()
}

fn rule_name() -> utoipa::openapi::schema::Object {
    schema::text(PolicyName::MAX_CHARS).build()
}

/// The recipients, which must name someone.
fn someone(
    errors: &mut FieldErrors,
    named: &RecipientsFields,
) -> support_domain::escalation::Recipients {
    let recipients = parse_recipients(errors, "recipients", named);
    if named.agents.is_empty() && named.roles.is_empty() && named.teams.is_empty() {
        errors.push("recipients", "must name at least one agent, role or team");
    }
    recipients
}

impl CreateAlertRuleRequest {
    fn parse(&self) -> Result<AlertRuleFields, FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = required(&mut errors, "name", self.name.as_deref())
            .and_then(|n| errors.take("name", PolicyName::parse(n)));
        let kind = required(&mut errors, "kind", self.kind.as_deref())
            .and_then(|k| errors.take("kind", AlertKind::parse(k)));
        let threshold = kind.and_then(|kind| {
            let threshold = self.threshold.unwrap_or_else(|| kind.default_threshold());
            errors.take("threshold", kind.check_threshold(threshold))
        });
        let recipients = required(&mut errors, "recipients", self.recipients.as_ref())
            .map(|named| someone(&mut errors, named));
        let cooldown = match self.cooldown_minutes {
            None => Some(CooldownMinutes::DEFAULT),
            Some(minutes) => errors.take("cooldownMinutes", CooldownMinutes::parse(minutes)),
        };
        errors.into_result()?;
        let parsed = "no errors means every field parsed";
        Ok(AlertRuleFields {
            name: name.expect(parsed),
            kind: kind.expect(parsed),
            threshold: threshold.expect(parsed),
            recipients: recipients.expect(parsed),
            cooldown_minutes: cooldown.expect(parsed),
            active: self.active.unwrap_or(true),
        })
    }
}

impl UpdateAlertRuleRequest {
    fn parse(&self) -> Result<AlertRuleChanges, FieldErrors> {
        let mut errors = FieldErrors::default();
        let changes = AlertRuleChanges {
            name: parsed(&mut errors, "name", self.name.as_deref(), PolicyName::parse),
            kind: parsed(&mut errors, "kind", self.kind.as_deref(), AlertKind::parse),
            // Checked against the kind the rule will have, by the rule.
            threshold: self.threshold,
            recipients: self
                .recipients
                .as_ref()
                .map(|named| someone(&mut errors, named)),
            cooldown_minutes: self
                .cooldown_minutes
                .and_then(|m| errors.take("cooldownMinutes", CooldownMinutes::parse(m))),
            active: self.active,
        };
        errors.into_result()?;
        Ok(changes)
    }
}

fn rule_id(value: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(value).map_err(|_| ApiError::NotFound("alert rule"))
}

async fn answer_with_rule(ctx: &ApiContext, status: StatusCode, committed: Committed) -> Response {
    let id = committed.id;
    let location = format!("/api/v1/support/alert-rules/{id}");
    ctx.answer(status, location, committed, READ_MODEL, || async {
        Ok(alerts::find(&ctx.pool, id).await?)
    })
    .await
}

/// Create an alert rule. Admins only.
#[utoipa::path(post, path = "/api/v1/support/alert-rules", tag = "analytics", request_body = CreateAlertRuleRequest,
    responses(
        (status = 201, description = "Rule created", body = AlertRuleView, headers(("Location" = String, description = "The rule's URL"))),
        (status = 202, description = ACCEPTED, body = CommandAccepted, headers(("Location" = String, description = "The rule's URL"))),
        (status = 403, description = "Only admins keep alert rules", body = Problem),
        (status = 422, description = "A field is missing or invalid, the threshold means nothing to the kind, or the recipients name nobody (all are listed)", body = Problem)),
    security(("bearer" = [])))]
pub async fn create_alert_rule(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ids: RequestIds,
    ApiJson(body): ApiJson<CreateAlertRuleRequest>,
) -> Result<Response, ApiError> {
    principal.require(&[ActorRole::Admin], "create alert rules")?;
    let fields = body.parse().map_err(ApiError::Validation)?;
    let metadata = ctx.metadata(&principal, &ids)?;
    let id = Uuid::new_v4();
    let command = AlertRuleCommand::Create {
        caller: principal.caller(),
        rule_id: id,
        fields,
    };
    let committed = ctx.create::<AlertRule>(id, command, &metadata).await?;
    Ok(answer_with_rule(&ctx, StatusCode::CREATED, committed).await)
}

/// Every alert rule, oldest first. Staff and auditors.
#[utoipa::path(get, path = "/api/v1/support/alert-rules", tag = "analytics",
    responses((status = 200, description = "The rules", body = [AlertRuleView]),
        (status = 403, description = "Customers and services do not read alert rules", body = Problem)),
    security(("bearer" = [])))]
pub async fn list_alert_rules(
    State(ctx): State<ApiContext>,
    principal: Principal,
) -> Result<Json<Vec<AlertRuleView>>, ApiError> {
    principal.require(READERS, "read alert rules")?;
    Ok(Json(alerts::list(&ctx.pool).await?))
}

/// One alert rule. Staff and auditors.
#[utoipa::path(get, path = "/api/v1/support/alert-rules/{alert_rule_id}", tag = "analytics",
    params(("alert_rule_id" = String, Path, description = ID)),
    responses((status = 200, description = "The rule", body = AlertRuleView),
        (status = 403, description = "Customers and services do not read alert rules", body = Problem),
        (status = 404, description = NOT_FOUND, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_alert_rule(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AlertRuleView>, ApiError> {
    principal.require(READERS, "read alert rules")?;
    alerts::find(&ctx.pool, rule_id(&id)?)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("alert rule"))
}

/// Change any of a rule's fields, or deactivate it (`active: false`). Admins only.
#[utoipa::path(put, path = "/api/v1/support/alert-rules/{alert_rule_id}", tag = "analytics", request_body = UpdateAlertRuleRequest,
    params(("alert_rule_id" = String, Path, description = ID)),
    responses(
        (status = 200, description = "The rule after the change", body = AlertRuleView, headers(("Location" = String, description = "The rule's URL"))),
        (status = 202, description = ACCEPTED, body = CommandAccepted, headers(("Location" = String, description = "The rule's URL"))),
        (status = 403, description = "Only admins keep alert rules", body = Problem),
        (status = 404, description = NOT_FOUND, body = Problem),
        (status = 409, description = "A concurrent change of the rule", body = Problem),
        (status = 422, description = "A field is invalid, or the threshold means nothing to the rule's kind", body = Problem)),
    security(("bearer" = [])))]
pub async fn update_alert_rule(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ids: RequestIds,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateAlertRuleRequest>,
) -> Result<Response, ApiError> {
    principal.require(&[ActorRole::Admin], "change alert rules")?;
    let changes = body.parse().map_err(ApiError::Validation)?;
    let id = rule_id(&id)?;
    let metadata = ctx.metadata(&principal, &ids)?;
    let command = AlertRuleCommand::Update {
        caller: principal.caller(),
        changes,
    };
    let committed = ctx.execute::<AlertRule>(id, command, &metadata).await?;
    Ok(answer_with_rule(&ctx, StatusCode::OK, committed).await)
}

/// A rule's latest firings, newest first (at most 100). Staff and auditors.
#[utoipa::path(get, path = "/api/v1/support/alert-rules/{alert_rule_id}/firings", tag = "analytics",
    params(("alert_rule_id" = String, Path, description = ID)),
    responses((status = 200, description = "The firings", body = [AlertFiringView]),
        (status = 403, description = "Customers and services do not read alert rules", body = Problem),
        (status = 404, description = NOT_FOUND, body = Problem)),
    security(("bearer" = [])))]
pub async fn alert_firings(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<AlertFiringView>>, ApiError> {
    principal.require(READERS, "read alert rules")?;
    let id = rule_id(&id)?;
    if alerts::find(&ctx.pool, id).await?.is_none() {
        return Err(ApiError::NotFound("alert rule"));
    }
    Ok(Json(alerts::firings(&ctx.pool, id, FIRINGS).await?))
}
