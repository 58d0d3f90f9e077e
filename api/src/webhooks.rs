//! The webhook endpoints: admins register URLs that receive the desk's events, signed; admins,
//! the service and auditors read them and their delivery logs; admins resend a delivery.

pub mod requests;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use support_domain::notification::NotificationChannel;
use support_domain::webhook::{RegisterWebhookEndpoint, WebhookEndpoint, WebhookEndpointCommand};
use support_domain::ActorRole;
use support_projections::notifications::deliveries::{self, DeliveryView};
use support_projections::notifications::endpoints::{self, WebhookEndpointView, READ_MODEL};
use support_projections::page::Page;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Principal;
use crate::commands::{CommandAccepted, Committed, RequestIds};
use crate::extract::{path_id, ApiJson, ApiPath, ApiQuery};
use crate::notifier::webhook::generate_secret;
use crate::notifier::{resend, Resent};
use crate::problem::{ApiError, Problem};
use crate::startup::ApiContext;
use requests::{CreateWebhookRequest, CursorPageQuery, UpdateWebhookRequest};

/// Who reads endpoints and their delivery logs.
const READERS: &[ActorRole] = &[ActorRole::Admin, ActorRole::Service, ActorRole::Auditor];
/// Who changes them, as the aggregate decides; the service role for integrations that manage a
/// desk's configuration.
const WRITERS: &[ActorRole] = &[ActorRole::Admin, ActorRole::Service];

const ID: &str = "The endpoint's id (a UUID)";
const NOT_FOUND: &str = "No endpoint has this id";
const ACCEPTED: &str =
    "Recorded; the read model did not show it within the wait bound. Poll Location.";
const NOT_READERS: &str = "Agents and customers do not read webhook endpoints";

pub fn routes() -> Router<ApiContext> {
    Router::new()
        .route("/webhooks", post(create_webhook).get(list_webhooks))
        .route(
            "/webhooks/{webhook_id}",
            get(get_webhook).put(update_webhook),
        )
        .route(
            "/webhooks/{webhook_id}/deliveries",
            get(list_webhook_deliveries),
        )
        .route(
            "/webhooks/{webhook_id}/deliveries/{delivery_id}/resend",
            post(resend_webhook_delivery),
        )
}

/// A new endpoint, with its signing secret: shown this once, never again.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub endpoint: WebhookEndpointView,
    /// `whsec_` and 32 random bytes in base64: the HMAC key (after `whsec_`, base64-decoded)
    /// of every delivery's `webhook-signature`. Keep it: it is not shown again.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

/// A new endpoint that the read model did not show within the wait bound, with its secret.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcceptedWebhook {
    #[serde(flatten)]
    pub accepted: CommandAccepted,
    /// As in `CreatedWebhook`: keep it, it is not shown again.
    pub secret: String,
}

/// Register a webhook endpoint. Admins and the service.
///
/// The answer carries the endpoint's signing secret, this once. Each event of the types it names
/// that is recorded from now on is POSTed to it as docs/events.md's envelope, with the headers
/// `webhook-id`, `webhook-timestamp` and `webhook-signature` (Standard Webhooks). Nothing
/// recorded before it was registered is sent to it.
#[utoipa::path(post, path = "/api/v1/support/webhooks", tag = "webhooks", request_body = CreateWebhookRequest,
    responses(
        (status = 201, description = "Endpoint registered", body = CreatedWebhook, headers(("Location" = String, description = "The endpoint's URL"))),
        (status = 202, description = ACCEPTED, body = AcceptedWebhook, headers(("Location" = String, description = "The endpoint's URL"))),
        (status = 403, description = "Agents, customers and auditors cannot register endpoints", body = Problem)),
    security(("bearer" = [])))]
pub async fn create_webhook(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ids: RequestIds,
    ApiJson(body): ApiJson<CreateWebhookRequest>,
) -> Result<Response, ApiError> {
    principal.require(WRITERS, "register webhook endpoints")?;
    let (definition, active) = body
        .parse(&ctx.webhooks.egress)
        .map_err(ApiError::Validation)?;
    let metadata = ctx.metadata(&principal, &ids)?;
    let id = Uuid::new_v4();
    let secret = generate_secret();
    let command = WebhookEndpointCommand::Register(RegisterWebhookEndpoint {
        caller: principal.caller(),
        endpoint_id: id,
        definition,
        active,
        secret: secret.clone(),
    });
    let committed = ctx
        .create::<WebhookEndpoint>(id, command, &metadata)
        .await?;
    let location = location(id);
    // Not `ApiContext::answer`: its 202 would lose the secret, which exists nowhere else in clear.
    let shown = match committed.head {
        Some(head) => ctx
            .checkpoints
            .wait_until(
                READ_MODEL,
                committed.aggregate_type,
                &id.to_string(),
                head,
                || async { Ok(endpoints::find(&ctx.pool, id).await?) },
            )
            .await
            .unwrap_or(None),
        None => None,
    };
    let secret = secret.expose().to_owned();
    let headers = [(header::LOCATION, location)];
    Ok(match shown {
        Some(endpoint) => (
            StatusCode::CREATED,
            headers,
            Json(CreatedWebhook { endpoint, secret }),
        )
            .into_response(),
        None => {
            let accepted = CommandAccepted {
                id,
                version: committed.head.map(|h| h.sequence),
            };
            (
                StatusCode::ACCEPTED,
                headers,
                Json(AcceptedWebhook { accepted, secret }),
            )
                .into_response()
        }
    })
}

fn location(id: Uuid) -> String {
    format!("/api/v1/support/webhooks/{id}")
}

/// List webhook endpoints, newest first. Admins, the service and auditors.
#[utoipa::path(get, path = "/api/v1/support/webhooks", tag = "webhooks", params(CursorPageQuery),
    responses((status = 200, description = "A page of endpoints", body = Page<WebhookEndpointView>),
        (status = 403, description = NOT_READERS, body = Problem),
        (status = 422, description = "A parameter is invalid or unknown (all are listed)", body = Problem)),
    security(("bearer" = [])))]
pub async fn list_webhooks(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ApiQuery(query): ApiQuery<CursorPageQuery>,
) -> Result<Json<Page<WebhookEndpointView>>, ApiError> {
    principal.require(READERS, "read webhook endpoints")?;
    let page = query.parse().map_err(ApiError::Validation)?;
    Ok(Json(endpoints::list(&ctx.pool, page).await?))
}

/// One webhook endpoint, without its secret. Admins, the service and auditors.
#[utoipa::path(get, path = "/api/v1/support/webhooks/{webhook_id}", tag = "webhooks",
    params(("webhook_id" = String, Path, description = ID)),
    responses((status = 200, description = "The endpoint", body = WebhookEndpointView),
        (status = 403, description = NOT_READERS, body = Problem),
        (status = 404, description = NOT_FOUND, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_webhook(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ApiPath(webhook_id): ApiPath<String>,
) -> Result<Json<WebhookEndpointView>, ApiError> {
    principal.require(READERS, "read webhook endpoints")?;
    find(&ctx, &webhook_id).await.map(Json)
}

async fn find(ctx: &ApiContext, webhook_id: &str) -> Result<WebhookEndpointView, ApiError> {
    let id = path_id(webhook_id, "webhook endpoint")?;
    endpoints::find(&ctx.pool, id)
        .await?
        .ok_or(ApiError::NotFound("webhook endpoint"))
}

/// Change any subset of an endpoint's fields; `active: false` deactivates it and `true`
/// reactivates it, also after the service disabled it for answering 410. Admins and the service.
///
/// A change of the definition is one `WebhookEndpointChanged` event; a change of `active` one
/// `WebhookEndpointDeactivated` or `WebhookEndpointReactivated`; a request that changes nothing
/// records nothing. The secret stays.
#[utoipa::path(put, path = "/api/v1/support/webhooks/{webhook_id}", tag = "webhooks", request_body = UpdateWebhookRequest,
    params(("webhook_id" = String, Path, description = ID)),
    responses(
        (status = 200, description = "The endpoint after the change", body = WebhookEndpointView, headers(("Location" = String, description = "The endpoint's URL"))),
        (status = 202, description = ACCEPTED, body = CommandAccepted, headers(("Location" = String, description = "The endpoint's URL"))),
        (status = 403, description = "Agents, customers and auditors cannot change endpoints", body = Problem),
        (status = 404, description = NOT_FOUND, body = Problem),
        (status = 409, description = "A concurrent change of the endpoint", body = Problem)),
    security(("bearer" = [])))]
pub async fn update_webhook(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ids: RequestIds,
    ApiPath(webhook_id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateWebhookRequest>,
) -> Result<Response, ApiError> {
    principal.require(WRITERS, "change webhook endpoints")?;
    let update = body
        .parse(principal.caller(), &ctx.webhooks.egress)
        .map_err(ApiError::Validation)?;
    let id = path_id(&webhook_id, "webhook endpoint")?;
    let metadata = ctx.metadata(&principal, &ids)?;
    let committed: Committed = ctx
        .execute::<WebhookEndpoint>(id, WebhookEndpointCommand::Update(update), &metadata)
        .await?;
    Ok(ctx
        .answer(
            StatusCode::OK,
            location(id),
            committed,
            READ_MODEL,
            || async { Ok(endpoints::find(&ctx.pool, id).await?) },
        )
        .await)
}

/// An endpoint's deliveries, newest first, each with its attempts (time, HTTP status, latency,
/// error, next try). Admins, the service and auditors.
#[utoipa::path(get, path = "/api/v1/support/webhooks/{webhook_id}/deliveries", tag = "webhooks",
    params(("webhook_id" = String, Path, description = ID), CursorPageQuery),
    responses((status = 200, description = "A page of deliveries", body = Page<DeliveryView>),
        (status = 403, description = NOT_READERS, body = Problem),
        (status = 404, description = NOT_FOUND, body = Problem),
        (status = 422, description = "A parameter is invalid or unknown (all are listed)", body = Problem)),
    security(("bearer" = [])))]
pub async fn list_webhook_deliveries(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ApiPath(webhook_id): ApiPath<String>,
    ApiQuery(query): ApiQuery<CursorPageQuery>,
) -> Result<Json<Page<DeliveryView>>, ApiError> {
    principal.require(READERS, "read webhook deliveries")?;
    let page = query.parse().map_err(ApiError::Validation)?;
    let endpoint = find(&ctx, &webhook_id).await?;
    let recipient = endpoint.id.to_string();
    Ok(Json(
        deliveries::log(&ctx.pool, &recipient, NotificationChannel::Webhook, page).await?,
    ))
}

/// Send a delivery again, with the same `webhook-id`: it is due at once, with a fresh series of
/// retries, and its attempts so far are kept. Admins and the service.
///
/// An inactive endpoint receives nothing: the attempt fails with that reason.
#[utoipa::path(post, path = "/api/v1/support/webhooks/{webhook_id}/deliveries/{delivery_id}/resend", tag = "webhooks",
    params(("webhook_id" = String, Path, description = ID),
        ("delivery_id" = String, Path, description = "The delivery's id (its webhook-id)")),
    responses((status = 200, description = "The delivery, due again", body = DeliveryView),
        (status = 403, description = "Agents, customers and auditors cannot resend", body = Problem),
        (status = 404, description = "No such endpoint, or no such delivery of it", body = Problem),
        (status = 409, description = "The delivery is being sent right now", body = Problem)),
    security(("bearer" = [])))]
pub async fn resend_webhook_delivery(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ApiPath((webhook_id, delivery_id)): ApiPath<(String, String)>,
) -> Result<Json<DeliveryView>, ApiError> {
    principal.require(WRITERS, "resend webhook deliveries")?;
    let endpoint = find(&ctx, &webhook_id).await?;
    let delivery = path_id(&delivery_id, "webhook delivery")?;
    let recipient = endpoint.id.to_string();
    let channel = NotificationChannel::Webhook;
    match resend(&ctx, &recipient, channel, delivery, ctx.clock.now()).await? {
        Resent::Due => {}
        Resent::NotFound => return Err(ApiError::NotFound("webhook delivery")),
        Resent::InFlight => {
            return Err(ApiError::Conflict {
                detail: "the delivery is being sent right now; resend it once this attempt is \
                         recorded"
                    .to_owned(),
                allowed_statuses: None,
            })
        }
    }
    deliveries::find(&ctx.pool, &recipient, channel, delivery)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("webhook delivery"))
}
