//! The active SLA policies, as a ticket command matches them.

use sqlx::types::Json;
use sqlx::PgExecutor;
use support_domain::sla::{ApplicablePolicy, CustomerTier, SlaPolicyBook, SlaTerms};
use support_domain::ticket::TicketPriority;

use crate::ProjectionError;

/// Every active policy: there are few, and the ticket picks among them on its own state.
pub async fn active_policies(
    executor: impl PgExecutor<'_>,
) -> Result<SlaPolicyBook, ProjectionError> {
    let rows: Vec<(
        String,
        Option<String>,
        chrono::DateTime<chrono::Utc>,
        Json<SlaTerms>,
    )> = sqlx::query_as(
        "SELECT priority, customer_tier, created_at, terms FROM sla_policies WHERE active",
    )
    .fetch_all(executor)
    .await?;
    let mut policies = Vec::with_capacity(rows.len());
    for (priority, tier, created_at, Json(terms)) in rows {
        let undecodable = |reason: String| ProjectionError::undecodable("sla_policies", reason);
        policies.push(ApplicablePolicy {
            priority: TicketPriority::parse(&priority).map_err(undecodable)?,
            customer_tier: tier
                .as_deref()
                .map(CustomerTier::parse)
                .transpose()
                .map_err(undecodable)?,
            created_at,
            terms,
        });
    }
    Ok(SlaPolicyBook::new(policies))
}
