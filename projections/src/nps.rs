//! `nps_responses`: every NPS response, for the figures of analytics and the account's export.
//! Responses are few (one an account per 90 days), so a period's figures read its rows.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgExecutor};
use support_domain::nps::NpsSurveyEvent;
use support_domain::{RecordedEvent, ERASED};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{Projection, ProjectionError, Redacted};

pub const AGGREGATE_TYPE: &str = "nps_survey";
pub const READ_MODEL: &str = "nps_responses";

/// A response as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NpsResponseView {
    pub customer_id: String,
    /// Who answered: the `sub` of the account's user.
    pub respondent: String,
    #[schema(minimum = 0, maximum = 10)]
    pub score: i16,
    /// `[erased]` once the account was erased.
    pub comment: Option<String>,
    pub responded_at: DateTime<Utc>,
}

const VIEW_COLUMNS: &str = "customer_id, respondent, score, comment, responded_at";

/// The survey's latest response.
pub async fn latest_response<'e>(
    executor: impl PgExecutor<'e>,
    survey_id: Uuid,
) -> Result<Option<NpsResponseView>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {VIEW_COLUMNS} FROM nps_responses WHERE survey_id = $1 \
         ORDER BY sequence DESC LIMIT 1"
    ))
    .bind(survey_id)
    .fetch_optional(executor)
    .await
}

/// An account's responses whose comments are not erased, oldest first: what its export lists.
pub async fn responses_of_customer<'e>(
    executor: impl PgExecutor<'e>,
    customer_id: &str,
) -> Result<Vec<NpsResponseView>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {VIEW_COLUMNS} FROM nps_responses WHERE customer_id = $1 AND erased_at IS NULL \
         ORDER BY responded_at, sequence"
    ))
    .bind(customer_id)
    .fetch_all(executor)
    .await
}

/// The instant and score of each response in `[from, to)`.
pub async fn scores_between<'e>(
    executor: impl PgExecutor<'e>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, i16)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT responded_at, score FROM nps_responses \
         WHERE responded_at >= $1 AND responded_at < $2",
    )
    .bind(from)
    .bind(to)
    .fetch_all(executor)
    .await
}

pub struct NpsResponsesProjection;

#[async_trait]
impl Projection for NpsResponsesProjection {
    fn name(&self) -> &'static str {
        READ_MODEL
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &[AGGREGATE_TYPE]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["nps_responses"]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        for event in events {
            let decoded = NpsSurveyEvent::from_parts(&event.event_type, &event.payload)
                .map_err(|e| ProjectionError::undecodable_event(event, Redacted(&e)))?;
            let survey_id = Uuid::parse_str(&event.aggregate_id)
                .map_err(|e| ProjectionError::undecodable_event(event, e))?;
            match decoded {
                NpsSurveyEvent::NpsResponded {
                    customer_id,
                    respondent,
                    score,
                    comment,
                    responded_at,
                } => {
                    sqlx::query(
                        "INSERT INTO nps_responses (survey_id, sequence, customer_id, \
                             respondent, score, comment, responded_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(survey_id)
                    .bind(event.sequence)
                    .bind(customer_id)
                    .bind(respondent)
                    .bind(i16::from(score.get()))
                    .bind(comment.as_ref().map(|c| c.as_str()))
                    .bind(responded_at)
                    .execute(&mut *conn)
                    .await?;
                }
                NpsSurveyEvent::NpsResponsesErased { .. } => {
                    sqlx::query(
                        "UPDATE nps_responses \
                         SET comment = CASE WHEN comment IS NULL THEN NULL ELSE $2 END, \
                             erased_at = $3 \
                         WHERE survey_id = $1",
                    )
                    .bind(survey_id)
                    .bind(ERASED)
                    .bind(event.occurred_at)
                    .execute(&mut *conn)
                    .await?;
                }
            }
        }
        Ok(())
    }
}
