//! A customer's personal data: everything held about them, as an export, and its erasure. Erasure
//! destroys the data keys of the customer's tickets, of their users' notification preferences,
//! of their users' knowledge base ratings and of the account's NPS survey (crypto-shredding, see
//! `support_projections::personal_data`), which records `PersonalDataErased` on each ticket,
//! `NotificationPreferencesErased` on each preferences, `KbRatingErased` on each rating and
//! `NpsResponsesErased` on the survey; the read models then replace the personal fields with a
//! marker, and a replay gives the same rows.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use support_domain::kb::{KbRating, KbRatingCommand};
use support_domain::notification::{
    EraseNotificationPreferences, NotificationPreferences, NotificationPreferencesCommand,
};
use support_domain::nps::{NpsSurvey, NpsSurveyCommand};
use support_domain::ticket::{Customer, ErasePersonalData, ErasureReason, Ticket, TicketCommand};
use support_domain::{ActorRole, EventMetadata};
use support_projections::event_log::opened_history;
use support_projections::kb::{self, KbRatingView};
use support_projections::notification_preferences::{self, NotificationPreferencesView};
use support_projections::nps::{self, NpsResponseView};
use support_projections::tickets::{self, TicketDetail, TicketKey, TicketScope, READ_MODEL};
use support_projections::Redacted;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Principal;
use crate::commands::{CommandAggregate, Committed, RequestIds};
use crate::extract::ApiPath;
use crate::idempotency;
use crate::problem::{ApiError, Problem};
use crate::startup::ApiContext;
use crate::tickets::{history_entries, HistoryEntry};

const AGGREGATE_TYPE: &str = "ticket";
const CUSTOMER_ID: &str = "The customer account's id, as tickets name it (`customerId`)";

pub fn routes() -> Router<ApiContext> {
    Router::new().route(
        "/customers/{customer_id}/personal-data",
        get(export_personal_data).delete(erase_personal_data),
    )
}

/// Everything held about a customer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PersonalDataExport {
    pub customer_id: String,
    pub exported_at: DateTime<Utc>,
    /// The customer's tickets whose personal data has not been erased, oldest first.
    pub tickets: Vec<ExportedTicket>,
    /// The notification preferences of the account's users (their email addresses and phone
    /// numbers), not erased yet.
    pub notification_preferences: Vec<NotificationPreferencesView>,
    /// The account's readers' ratings of knowledge base articles, with their comments, not
    /// erased yet; oldest first.
    pub kb_ratings: Vec<KbRatingView>,
    /// The account's NPS responses, with their comments, not erased yet; oldest first.
    pub nps_responses: Vec<NpsResponseView>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportedTicket {
    /// The ticket with its comments.
    pub ticket: TicketDetail,
    /// Every event of the ticket, oldest first.
    pub history: Vec<HistoryEntry>,
}

/// What an erasure destroyed, when and at whose request. It holds no personal data.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErasureReceipt {
    pub receipt_id: Uuid,
    /// The customer erased on request; absent for a ticket erased by retention.
    pub customer_id: Option<String>,
    #[schema(schema_with = erasure_reason)]
    pub reason: String,
    /// The tickets whose data keys this erasure destroyed.
    pub tickets: Vec<Uuid>,
    /// The notification preferences (of the customer's users) whose data keys it destroyed.
    pub notification_preferences: Vec<Uuid>,
    /// The knowledge base ratings (by the customer's users) whose data keys it destroyed.
    pub kb_ratings: Vec<Uuid>,
    /// The account's NPS survey, if this erasure destroyed its data key.
    pub nps_surveys: Vec<Uuid>,
    pub erased_at: DateTime<Utc>,
    pub erased_by: String,
}

fn erasure_reason() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(ErasureReason::ALL.iter().map(|r| r.as_str())))
        .build()
}

/// A customer account id as tickets can name one (`Customer::parse`'s rule); any other names no
/// account, so nothing is held about it.
fn account_id(raw: String) -> Result<String, ApiError> {
    match Customer::parse(&raw, None, None) {
        Ok(customer) if customer.id == raw => Ok(raw),
        _ => Err(ApiError::NotFound("customer")),
    }
}

/// The customer's own account, or any for an admin; to anyone else it does not exist.
fn check_reach(principal: &Principal, customer_id: &str) -> Result<(), ApiError> {
    let own = principal.role == ActorRole::Customer
        && principal.customer_id.as_deref() == Some(customer_id);
    if principal.role == ActorRole::Admin || own {
        Ok(())
    } else if principal.role == ActorRole::Customer {
        Err(ApiError::NotFound("customer"))
    } else {
        Err(ApiError::Forbidden(format!(
            "the {} role cannot read customers' personal data",
            principal.role.as_str()
        )))
    }
}

/// Export everything held about a customer: their tickets, each with its comments and history,
/// their users' notification preferences and knowledge base ratings.
///
/// Admins export any customer, with internal notes (to review before handing it over); a customer
/// exports their own account, as they see it elsewhere. Erased tickets are not in it.
#[utoipa::path(get, path = "/api/v1/support/customers/{customer_id}/personal-data", tag = "privacy",
    params(("customer_id" = String, Path, description = CUSTOMER_ID)),
    responses((status = 200, description = "Everything held about the customer", body = PersonalDataExport),
        (status = 403, description = "Only admins and the customer themself", body = Problem),
        (status = 404, description = "Another customer's account, or an id no account can have", body = Problem)),
    security(("bearer" = [])))]
pub async fn export_personal_data(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ApiPath(customer_id): ApiPath<String>,
) -> Result<Json<PersonalDataExport>, ApiError> {
    let customer_id = account_id(customer_id)?;
    check_reach(&principal, &customer_id)?;
    let exported_at = ctx.clock.now();
    let include_internal = principal.role == ActorRole::Admin;
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM tickets WHERE customer_id = $1 AND personal_data_erased_at IS NULL \
         ORDER BY created_at, id",
    )
    .bind(&customer_id)
    .fetch_all(&ctx.pool)
    .await?;
    let mut exported = Vec::with_capacity(ids.len());
    for id in ids {
        let detail = tickets::find_detail(
            &ctx.pool,
            &TicketKey::Id(id),
            &TicketScope::Everything,
            include_internal,
        )
        .await?;
        let Some(ticket) = detail else { continue };
        let events =
            opened_history(&ctx.pool, &ctx.data_keys, AGGREGATE_TYPE, &id.to_string()).await?;
        exported.push(ExportedTicket {
            ticket,
            history: history_entries(events, include_internal),
        });
    }
    let notification_preferences =
        notification_preferences::of_customer(&ctx.pool, &customer_id).await?;
    let kb_ratings = kb::ratings_of_customer(&ctx.pool, &customer_id).await?;
    let nps_responses = nps::responses_of_customer(&ctx.pool, &customer_id).await?;
    Ok(Json(PersonalDataExport {
        customer_id,
        exported_at,
        tickets: exported,
        notification_preferences,
        kb_ratings,
        nps_responses,
    }))
}

/// Erase a customer's personal data.
///
/// Destroys the data key of each of the customer's tickets, which erases their name, email,
/// ticket titles, descriptions, comments and notes from every event in the store and on the bus;
/// each ticket records `PersonalDataErased` and accepts no further changes; read models show
/// `[erased]` in place of the personal fields. Tickets stay counted in reports. The same for the
/// users' notification preferences (email, phone) and knowledge base ratings (their comments;
/// the stars still count). Erasing again erases what was written since, if anything. Admins
/// only.
#[utoipa::path(delete, path = "/api/v1/support/customers/{customer_id}/personal-data", tag = "privacy",
    params(("customer_id" = String, Path, description = CUSTOMER_ID)),
    responses((status = 200, description = "The erasure's receipt", body = ErasureReceipt),
        (status = 403, description = "Only admins erase personal data", body = Problem),
        (status = 404, description = "No account can have this id (empty, over 200 characters, padded with spaces or holding NUL)", body = Problem),
        (status = 409, description = "One of the tickets changed while it was being erased: those erased before it have their receipt; send the request again for the rest", body = Problem)),
    security(("bearer" = [])))]
pub async fn erase_personal_data(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ids: RequestIds,
    ApiPath(customer_id): ApiPath<String>,
) -> Result<(StatusCode, Json<ErasureReceipt>), ApiError> {
    principal.require(&[ActorRole::Admin], "erase personal data")?;
    let customer_id = account_id(customer_id)?;
    let held = Held {
        tickets: customer_tickets(&ctx.pool, &customer_id).await?,
        preferences: customer_preferences(&ctx.pool, &customer_id).await?,
        ratings: customer_ratings(&ctx.pool, &customer_id).await?,
        nps_surveys: customer_surveys(&ctx.pool, &customer_id).await?,
    };
    let metadata = ctx.metadata(&principal, &ids)?;
    let receipt = erase(
        &ctx,
        &metadata,
        Some(customer_id),
        ErasureReason::CustomerRequest,
        &held,
    )
    .await?;
    Ok((StatusCode::OK, Json(receipt)))
}

/// The customer's tickets whose personal data is still held: those with a data key, and those
/// written before keys existed (whose read model rows can still be scrubbed).
async fn customer_tickets(pool: &PgPool, customer_id: &str) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT aggregate_id::uuid FROM data_keys \
         WHERE customer_id = $1 AND aggregate_type = 'ticket' \
         UNION \
         SELECT id FROM tickets WHERE customer_id = $1 AND personal_data_erased_at IS NULL",
    )
    .bind(customer_id)
    .fetch_all(pool)
    .await
}

/// The notification preferences of the customer's users that still hold personal data: those
/// with a data key filed under the customer, and those the read model files under them.
async fn customer_preferences(pool: &PgPool, customer_id: &str) -> Result<Vec<Uuid>, sqlx::Error> {
    still_held(
        pool,
        customer_id,
        notification_preferences::AGGREGATE_TYPE,
        "SELECT id FROM notification_preferences WHERE customer_id = $1 AND erased_at IS NULL",
    )
    .await
}

/// The knowledge base ratings of the customer's users that still hold personal data, found as
/// their notification preferences are.
async fn customer_ratings(pool: &PgPool, customer_id: &str) -> Result<Vec<Uuid>, sqlx::Error> {
    still_held(
        pool,
        customer_id,
        kb::RATING_AGGREGATE_TYPE,
        "SELECT rating_id FROM kb_ratings WHERE customer_id = $1 AND erased_at IS NULL",
    )
    .await
}

/// The account's NPS survey, if it still holds personal data.
async fn customer_surveys(pool: &PgPool, customer_id: &str) -> Result<Vec<Uuid>, sqlx::Error> {
    still_held(
        pool,
        customer_id,
        nps::AGGREGATE_TYPE,
        "SELECT DISTINCT survey_id FROM nps_responses WHERE customer_id = $1 AND erased_at IS NULL",
    )
    .await
}

/// The aggregates of `aggregate_type` with a data key filed under the customer, and those that
/// `unerased` (ids, of the customer `$1`) finds in their read model not erased yet.
async fn still_held(
    pool: &PgPool,
    customer_id: &str,
    aggregate_type: &str,
    unerased: &str,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT aggregate_id::uuid FROM data_keys \
         WHERE customer_id = $1 AND aggregate_type = $2 \
         UNION {unerased}"
    ))
    .bind(customer_id)
    .bind(aggregate_type)
    .fetch_all(pool)
    .await
}

/// The aggregates that hold a customer's personal data, which an erasure reaches.
#[derive(Debug, Default)]
pub struct Held {
    pub tickets: Vec<Uuid>,
    /// Notification preferences.
    pub preferences: Vec<Uuid>,
    /// Knowledge base ratings.
    pub ratings: Vec<Uuid>,
    pub nps_surveys: Vec<Uuid>,
}

/// Erases what is `held` under one receipt, each through the command path, forgets kept answers
/// that showed the tickets, records the receipt and waits (within the read bound) for the read
/// models to show the erasures. Aggregates already erased are left out of the receipt.
pub async fn erase(
    ctx: &ApiContext,
    metadata: &EventMetadata,
    customer_id: Option<String>,
    reason: ErasureReason,
    held: &Held,
) -> Result<ErasureReceipt, ApiError> {
    let receipt_id = Uuid::new_v4();
    let caller = support_domain::Caller {
        actor: metadata.actor(),
        customer_id: None,
    };
    // A failure part way (the database gone, a concurrent change) stops the erasure there; what
    // was erased before it still gets its receipt, then the failure is answered: a retry erases
    // the rest under a receipt of its own.
    let stopped = |done: &[&Erasures]| done.iter().any(|e| e.failure.is_some());
    let erased_tickets = erase_each::<Ticket>(ctx, metadata, &held.tickets, || {
        TicketCommand::ErasePersonalData(ErasePersonalData {
            caller: caller.clone(),
            reason,
            receipt_id,
        })
    })
    .await;
    let erased_preferences = if stopped(&[&erased_tickets]) {
        Erasures::default()
    } else {
        erase_each::<NotificationPreferences>(ctx, metadata, &held.preferences, || {
            NotificationPreferencesCommand::Erase(EraseNotificationPreferences {
                caller: caller.clone(),
                reason,
                receipt_id,
            })
        })
        .await
    };
    let erased_ratings = if stopped(&[&erased_tickets, &erased_preferences]) {
        Erasures::default()
    } else {
        erase_each::<KbRating>(ctx, metadata, &held.ratings, || KbRatingCommand::Erase {
            caller: caller.clone(),
            reason,
            receipt_id,
        })
        .await
    };
    let erased_surveys = if stopped(&[&erased_tickets, &erased_preferences, &erased_ratings]) {
        Erasures::default()
    } else {
        erase_each::<NpsSurvey>(ctx, metadata, &held.nps_surveys, || {
            NpsSurveyCommand::Erase {
                caller: caller.clone(),
                reason,
                receipt_id,
            }
        })
        .await
    };
    idempotency::forget_answers_about(&ctx.pool, &erased_tickets.erased).await?;
    let receipt = ErasureReceipt {
        receipt_id,
        customer_id,
        reason: reason.as_str().to_owned(),
        tickets: erased_tickets.erased,
        notification_preferences: erased_preferences.erased,
        kb_ratings: erased_ratings.erased,
        nps_surveys: erased_surveys.erased,
        erased_at: metadata.occurred_at,
        erased_by: metadata.actor_sub.clone(),
    };
    let failure = erased_tickets
        .failure
        .or(erased_preferences.failure)
        .or(erased_ratings.failure)
        .or(erased_surveys.failure);
    // Retention finds nothing to keep a receipt of when another process erased the ticket first.
    let nothing = receipt.tickets.is_empty()
        && receipt.notification_preferences.is_empty()
        && receipt.kb_ratings.is_empty()
        && receipt.nps_surveys.is_empty();
    if nothing && (receipt.customer_id.is_none() || failure.is_some()) {
        return failure.map_or(Ok(receipt), Err);
    }
    sqlx::query(
        "INSERT INTO personal_data_erasures \
             (receipt_id, customer_id, reason, erased_by, erased_at, tickets, \
              notification_preferences, kb_ratings, nps_surveys) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(receipt.receipt_id)
    .bind(&receipt.customer_id)
    .bind(&receipt.reason)
    .bind(&receipt.erased_by)
    .bind(receipt.erased_at)
    .bind(&receipt.tickets)
    .bind(&receipt.notification_preferences)
    .bind(&receipt.kb_ratings)
    .bind(&receipt.nps_surveys)
    .execute(&ctx.pool)
    .await?;
    if let Some(failure) = failure {
        return Err(failure);
    }
    for (read_model, last) in [
        (READ_MODEL, erased_tickets.last),
        (
            notification_preferences::READ_MODEL,
            erased_preferences.last,
        ),
        (kb::RATINGS_READ_MODEL, erased_ratings.last),
        (nps::READ_MODEL, erased_surveys.last),
    ] {
        wait_for_erasure(ctx, read_model, last).await;
    }
    Ok(receipt)
}

/// What erasing aggregates of one type came to.
#[derive(Default)]
struct Erasures {
    /// Those whose key this erasure destroyed.
    erased: Vec<Uuid>,
    /// The last of them.
    last: Option<Committed>,
    /// Why it stopped before the end.
    failure: Option<ApiError>,
}

/// Sends `command()` to each of `ids` in turn, stopping at the first failure.
async fn erase_each<A: CommandAggregate>(
    ctx: &ApiContext,
    metadata: &EventMetadata,
    ids: &[Uuid],
    command: impl Fn() -> A::Command,
) -> Erasures {
    let mut erasures = Erasures::default();
    for &id in ids {
        match ctx.execute::<A>(id, command(), metadata).await {
            // The erasure's event was appended: this receipt destroyed the key.
            Ok(committed) if committed.appended => {
                erasures.erased.push(id);
                erasures.last = Some(committed);
            }
            Ok(_) => {}
            Err(error) => {
                erasures.failure = Some(error);
                break;
            }
        }
    }
    erasures
}

/// Aggregates are erased one after another: once the last shows in `read_model`, it shows them
/// all but for ones another batch carried, which follow within moments.
async fn wait_for_erasure(ctx: &ApiContext, read_model: &'static str, last: Option<Committed>) {
    let Some((committed, head)) = last.and_then(|c| c.head.map(|head| (c, head))) else {
        return;
    };
    let shown = ctx
        .checkpoints
        .wait_until(
            read_model,
            committed.aggregate_type,
            &committed.id.to_string(),
            head,
            || async { Ok(Some(())) },
        )
        .await;
    if let Err(error) = shown {
        tracing::warn!(error = %Redacted(error.as_ref()), "cannot wait for an erasure to reach the read model");
    }
}
