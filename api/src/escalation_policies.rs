//! The escalation policy endpoints: admins keep the desk's ladders; staff and auditors read them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use support_domain::escalation::{
    CreateEscalationPolicy, DelayMinutes, EscalationLevel, EscalationPolicy,
    EscalationPolicyCommand, EscalationPolicyDefinition, EscalationRule, EscalationTrigger,
    Recipients, TeamName, UpdateEscalationPolicy,
};
use support_domain::sla::PolicyName;
use support_domain::ticket::{AgentId, TicketCategory, TicketPriority};
use support_domain::{ActorRole, FieldErrors};
use support_projections::escalation::{
    self, EscalationLevelFields, EscalationPolicyPage, EscalationPolicyView, EscalationRuleFields,
    RecipientsFields, READ_MODEL,
};
use support_projections::page::PageRequest;
use support_projections::schema;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Principal;
use crate::commands::{CommandAccepted, Committed, RequestIds};
use crate::extract::{
    boolean, numbered_page, parsed, required, ApiJson, ApiPath, ApiQuery, UnknownParameters,
};
use crate::problem::{ApiError, Problem};
use crate::startup::ApiContext;

const READERS: &[ActorRole] = &[
    ActorRole::Agent,
    ActorRole::Admin,
    ActorRole::Service,
    ActorRole::Auditor,
];
const WRITERS: &[ActorRole] = &[ActorRole::Admin, ActorRole::Service];

const ID: &str = "The policy's id (a UUID)";
const NOT_FOUND: &str = "No escalation policy has this id";
const ACCEPTED: &str =
    "Recorded; the read model did not show it within the wait bound. Poll Location.";

pub fn routes() -> Router<ApiContext> {
    Router::new()
        .route(
            "/escalation-policies",
            post(create_escalation_policy).get(list_escalation_policies),
        )
        .route(
            "/escalation-policies/{escalation_policy_id}",
            get(get_escalation_policy).put(update_escalation_policy),
        )
}

/// A new escalation policy.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateEscalationPolicyRequest {
    #[schema(schema_with = policy_name)]
    pub name: Option<String>,
    /// First match wins, in this order: 1 to 50 rules.
    #[schema(min_items = 1, max_items = 50)]
    pub rules: Option<Vec<EscalationRuleFields>>,
}

/// Any subset of a policy's fields; `rules` replaces them all, `active: false` deactivates it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateEscalationPolicyRequest {
    #[schema(schema_with = policy_name)]
    pub name: Option<String>,
    /// All of the policy's rules, replacing those it has: 1 to 50.
    #[schema(min_items = 1, max_items = 50)]
    pub rules: Option<Vec<EscalationRuleFields>>,
    pub active: Option<bool>,
}

fn policy_name() -> utoipa::openapi::schema::Object {
    schema::text(PolicyName::MAX_CHARS).build()
}

/// Each value of a list parsed, or an error naming its item (`rules[0].priorities[1]`).
fn each<T>(
    errors: &mut FieldErrors,
    field: &str,
    values: &[String],
    parse: impl Fn(&str) -> Result<T, String>,
) -> Vec<T> {
    values
        .iter()
        .enumerate()
        .filter_map(|(index, value)| errors.take(&format!("{field}[{index}]"), parse(value)))
        .collect()
}

/// Recipients of one kind, each parsed: at most `Recipients::MAX_EACH`, or an error naming the
/// list.
fn recipients<T>(
    errors: &mut FieldErrors,
    field: &str,
    values: &[String],
    parse: impl Fn(&str) -> Result<T, String>,
) -> Vec<T> {
    if values.len() > Recipients::MAX_EACH {
        errors.push(
            field,
            format!("must have at most {} items", Recipients::MAX_EACH),
        );
        return Vec::new();
    }
    each(errors, field, values, parse)
}

/// The rules as the domain takes them, every bad field named at once. The rules' own checks
/// (levels present, recipients named) are the aggregate's.
fn parse_rules(errors: &mut FieldErrors, rules: &[EscalationRuleFields]) -> Vec<EscalationRule> {
    if rules.len() > EscalationPolicyDefinition::MAX_RULES {
        errors.push(
            "rules",
            format!(
                "must have 1 to {} rules",
                EscalationPolicyDefinition::MAX_RULES
            ),
        );
        return Vec::new();
    }
    rules
        .iter()
        .enumerate()
        .map(|(index, rule)| parse_rule(errors, &format!("rules[{index}]"), rule))
        .collect()
}

fn parse_rule(errors: &mut FieldErrors, path: &str, rule: &EscalationRuleFields) -> EscalationRule {
    let levels = if rule.levels.len() > EscalationRule::MAX_LEVELS {
        errors.push(
            format!("{path}.levels"),
            format!("must have 1 to {} levels", EscalationRule::MAX_LEVELS),
        );
        Vec::new()
    } else {
        rule.levels
            .iter()
            .enumerate()
            .filter_map(|(number, level)| {
                parse_level(errors, &format!("{path}.levels[{number}]"), level)
            })
            .collect()
    };
    let repeat = match u8::try_from(rule.repeat) {
        Ok(repeat) if repeat <= EscalationRule::MAX_REPEAT => repeat,
        _ => {
            errors.push(
                format!("{path}.repeat"),
                format!("must be from 0 to {}", EscalationRule::MAX_REPEAT),
            );
            0
        }
    };
    EscalationRule {
        priorities: each(
            errors,
            &format!("{path}.priorities"),
            &rule.priorities,
            TicketPriority::parse,
        ),
        categories: each(
            errors,
            &format!("{path}.categories"),
            &rule.categories,
            TicketCategory::parse,
        ),
        triggers: each(
            errors,
            &format!("{path}.triggers"),
            &rule.triggers,
            EscalationTrigger::parse,
        ),
        levels,
        repeat,
    }
}

fn parse_level(
    errors: &mut FieldErrors,
    path: &str,
    level: &EscalationLevelFields,
) -> Option<EscalationLevel> {
    let recipients = parse_recipients(errors, &format!("{path}.recipients"), &level.recipients);
    let delay_minutes = errors.take(
        &format!("{path}.delayMinutes"),
        DelayMinutes::parse(level.delay_minutes),
    )?;
    Some(EscalationLevel {
        recipients,
        delay_minutes,
    })
}

/// Recipients as requests name them (`path` the field they are in), every bad one reported.
pub(crate) fn parse_recipients(
    errors: &mut FieldErrors,
    path: &str,
    named: &RecipientsFields,
) -> Recipients {
    Recipients {
        agents: recipients(errors, &format!("{path}.agents"), &named.agents, |a| {
            AgentId::parse(a).map(|a| a.as_str().to_owned())
        }),
        roles: recipients(errors, &format!("{path}.roles"), &named.roles, |r| {
            r.parse::<ActorRole>()
        }),
        teams: recipients(
            errors,
            &format!("{path}.teams"),
            &named.teams,
            TeamName::parse,
        ),
    }
}

impl CreateEscalationPolicyRequest {
    fn parse(&self) -> Result<EscalationPolicyDefinition, FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = match &self.name {
            Some(name) => errors.take("name", PolicyName::parse(name)),
            None => required(&mut errors, "name", None),
        };
        let rules = required(&mut errors, "rules", self.rules.as_ref())
            .map(|rules| parse_rules(&mut errors, rules));
        errors.into_result()?;
        let definition = EscalationPolicyDefinition {
            name: name.expect("no errors means every field parsed"),
            rules: rules.expect("no errors means every field parsed"),
        };
        // What holds across a rule's fields, once each field reads.
        definition.check()?;
        Ok(definition)
    }
}

impl UpdateEscalationPolicyRequest {
    fn parse(&self, caller: support_domain::Caller) -> Result<UpdateEscalationPolicy, FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = parsed(&mut errors, "name", self.name.as_deref(), PolicyName::parse);
        let rules = self
            .rules
            .as_ref()
            .map(|rules| parse_rules(&mut errors, rules));
        errors.into_result()?;
        Ok(UpdateEscalationPolicy {
            caller,
            name,
            rules,
            active: self.active,
        })
    }
}

/// The page of `GET /escalation-policies`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct EscalationPolicyListQuery {
    /// `true` or `false`.
    #[param(value_type = Option<bool>)]
    pub active: Option<String>,
    /// 1-based page number (default 1).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 2147483647)]
    pub page: Option<String>,
    /// Policies per page (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub unknown: UnknownParameters,
}

impl EscalationPolicyListQuery {
    fn parse(&self) -> Result<(Option<bool>, PageRequest), FieldErrors> {
        let mut errors = FieldErrors::default();
        self.unknown.refuse(&mut errors);
        let active = parsed(&mut errors, "active", self.active.as_deref(), boolean);
        let page = numbered_page(&mut errors, self.page.as_deref(), self.limit.as_deref());
        errors.into_result()?;
        Ok((active, page))
    }
}

fn policy_id(value: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(value).map_err(|_| ApiError::NotFound("escalation policy"))
}

async fn answer_with_policy(
    ctx: &ApiContext,
    status: StatusCode,
    committed: Committed,
) -> Response {
    let id = committed.id;
    let location = format!("/api/v1/support/escalation-policies/{id}");
    ctx.answer(status, location, committed, READ_MODEL, || async {
        Ok(escalation::find(&ctx.pool, id).await?)
    })
    .await
}

/// Create an escalation policy. Admins only.
///
/// Its rules apply at once: to breaches and warnings recorded from now (on tickets whose SLA
/// terms escalate on breach, for breaches), and to manual escalations.
#[utoipa::path(post, path = "/api/v1/support/escalation-policies", tag = "escalation", request_body = CreateEscalationPolicyRequest,
    responses(
        (status = 201, description = "Policy created", body = EscalationPolicyView, headers(("Location" = String, description = "The policy's URL"))),
        (status = 202, description = ACCEPTED, body = CommandAccepted, headers(("Location" = String, description = "The policy's URL"))),
        (status = 403, description = "Agents, customers and auditors cannot create policies", body = Problem),
        (status = 422, description = "A field is invalid, or a rule has no trigger, no levels, or a level without recipients (all are listed)", body = Problem)),
    security(("bearer" = [])))]
pub async fn create_escalation_policy(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ids: RequestIds,
    ApiJson(body): ApiJson<CreateEscalationPolicyRequest>,
) -> Result<Response, ApiError> {
    principal.require(WRITERS, "create escalation policies")?;
    let definition = body.parse().map_err(ApiError::Validation)?;
    let metadata = ctx.metadata(&principal, &ids)?;
    let id = Uuid::new_v4();
    let command = EscalationPolicyCommand::Create(CreateEscalationPolicy {
        caller: principal.caller(),
        policy_id: id,
        definition,
    });
    let committed = ctx
        .create::<EscalationPolicy>(id, command, &metadata)
        .await?;
    Ok(answer_with_policy(&ctx, StatusCode::CREATED, committed).await)
}

/// List escalation policies in the order they are matched: oldest first. Staff and auditors.
///
/// A climb takes the ladder of the first rule that applies (priority, category and trigger), in
/// the first active policy that has one.
#[utoipa::path(get, path = "/api/v1/support/escalation-policies", tag = "escalation", params(EscalationPolicyListQuery),
    responses((status = 200, description = "A page of policies", body = EscalationPolicyPage),
        (status = 403, description = "Customers do not read policies", body = Problem),
        (status = 422, description = "A parameter is invalid or unknown (all are listed)", body = Problem)),
    security(("bearer" = [])))]
pub async fn list_escalation_policies(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ApiQuery(query): ApiQuery<EscalationPolicyListQuery>,
) -> Result<Json<EscalationPolicyPage>, ApiError> {
    principal.require(READERS, "read escalation policies")?;
    let (active, page) = query.parse().map_err(ApiError::Validation)?;
    Ok(Json(escalation::list(&ctx.pool, active, page).await?))
}

/// One escalation policy. Staff and auditors.
#[utoipa::path(get, path = "/api/v1/support/escalation-policies/{escalation_policy_id}", tag = "escalation",
    params(("escalation_policy_id" = String, Path, description = ID)),
    responses((status = 200, description = "The policy", body = EscalationPolicyView),
        (status = 403, description = "Customers do not read policies", body = Problem),
        (status = 404, description = NOT_FOUND, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_escalation_policy(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<EscalationPolicyView>, ApiError> {
    principal.require(READERS, "read escalation policies")?;
    let id = policy_id(&id)?;
    escalation::find(&ctx.pool, id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("escalation policy"))
}

/// Change a policy's name or rules, or deactivate (`active: false`) or reactivate it. Admins only.
///
/// Climbs under way keep the ladder they copied.
#[utoipa::path(put, path = "/api/v1/support/escalation-policies/{escalation_policy_id}", tag = "escalation", request_body = UpdateEscalationPolicyRequest,
    params(("escalation_policy_id" = String, Path, description = ID)),
    responses(
        (status = 200, description = "The policy after the change", body = EscalationPolicyView, headers(("Location" = String, description = "The policy's URL"))),
        (status = 202, description = ACCEPTED, body = CommandAccepted, headers(("Location" = String, description = "The policy's URL"))),
        (status = 403, description = "Agents, customers and auditors cannot change policies", body = Problem),
        (status = 404, description = NOT_FOUND, body = Problem),
        (status = 409, description = "A concurrent change of the policy", body = Problem),
        (status = 422, description = "A field is invalid, or a rule has no trigger, no levels, or a level without recipients", body = Problem)),
    security(("bearer" = [])))]
pub async fn update_escalation_policy(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ids: RequestIds,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateEscalationPolicyRequest>,
) -> Result<Response, ApiError> {
    principal.require(WRITERS, "change escalation policies")?;
    let update = body
        .parse(principal.caller())
        .map_err(ApiError::Validation)?;
    let id = policy_id(&id)?;
    let metadata = ctx.metadata(&principal, &ids)?;
    let committed = ctx
        .execute::<EscalationPolicy>(id, EscalationPolicyCommand::Update(update), &metadata)
        .await?;
    Ok(answer_with_policy(&ctx, StatusCode::OK, committed).await)
}
