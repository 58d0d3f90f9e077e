//! The SLA report: compliance, response and resolution times and the longest breaches of a
//! period, from the `sla_report` read model. docs/sla.md defines every figure.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use support_domain::sla::CustomerTier;
use support_domain::ticket::{TicketCategory, TicketPriority};
use support_domain::{ActorRole, FieldErrors};
use support_projections::schema;
use support_projections::sla::report::{report, ReportFilter, SlaReport};
use utoipa::IntoParams;

use crate::auth::Principal;
use crate::extract::{ApiQuery, UnknownParameters};
use crate::problem::{ApiError, Problem};
use crate::startup::ApiContext;
use crate::tickets::requests::instant;

/// Who may read the report: the desk's staff and auditors, not customers.
const READERS: &[ActorRole] = &[ActorRole::Agent, ActorRole::Admin, ActorRole::Auditor];
/// The longest period a report, or a what-if, covers: a year, a leap day included.
pub const MAX_PERIOD_DAYS: i64 = 366;

pub fn routes() -> Router<ApiContext> {
    Router::new().route("/sla-reports", get(get_sla_report))
}

/// Reads `startDate` and `endDate` as a period `[from, to)`: each a date (`YYYY-MM-DD`, a whole
/// UTC day; the end day is included) or an RFC 3339 instant (the end one is not). Both are
/// required; the end must come after the start, at most `MAX_PERIOD_DAYS` later. Every problem is
/// added to `errors`.
pub fn period(
    errors: &mut FieldErrors,
    start_date: Option<&str>,
    end_date: Option<&str>,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let mut read = |field: &str, value: Option<&str>, end_of_day: bool| match value {
        None => {
            errors.push(field, "is required");
            None
        }
        Some(value) => errors.take(field, instant(value, end_of_day)),
    };
    let from = read("startDate", start_date, false);
    let to = read("endDate", end_date, true);
    let (from, to) = (from?, to?);
    if to <= from {
        errors.push("endDate", "must come after startDate");
        return None;
    }
    if to - from > TimeDelta::days(MAX_PERIOD_DAYS) {
        errors.push(
            "endDate",
            format!("must be at most {MAX_PERIOD_DAYS} days after startDate"),
        );
        return None;
    }
    Some((from, to))
}

/// The query of `GET /sla-reports`. A parameter it does not know is refused: a misspelt filter
/// would otherwise answer for every ticket.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct SlaReportQuery {
    /// The period's first day (`YYYY-MM-DD`, from its start in UTC) or instant (RFC 3339).
    #[param(required = true, value_type = String, pattern = r"^[^\u0000]*$")]
    pub start_date: Option<String>,
    /// The period's last day, included whole, or the instant it ends before; at most 366 days
    /// after `startDate`.
    #[param(required = true, value_type = String, pattern = r"^[^\u0000]*$")]
    pub end_date: Option<String>,
    /// Only tickets of this priority at their verdicts.
    #[param(schema_with = schema::ticket_priority)]
    pub priority: Option<String>,
    /// Only tickets of this category at their verdicts.
    #[param(schema_with = schema::ticket_category)]
    pub category: Option<String>,
    /// Only tickets of customers of this tier at their verdicts.
    #[param(schema_with = schema::customer_tier)]
    pub customer_tier: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub unknown: UnknownParameters,
}

impl SlaReportQuery {
    pub fn parse(&self) -> Result<ReportFilter, FieldErrors> {
        let mut errors = FieldErrors::default();
        self.unknown.refuse(&mut errors);
        let period = period(
            &mut errors,
            self.start_date.as_deref(),
            self.end_date.as_deref(),
        );
        let priority = (self.priority.as_deref())
            .and_then(|p| errors.take("priority", TicketPriority::parse(p)));
        let category = (self.category.as_deref())
            .and_then(|c| errors.take("category", TicketCategory::parse(c)));
        let customer_tier = (self.customer_tier.as_deref())
            .and_then(|t| errors.take("customerTier", CustomerTier::parse(t)));
        errors.into_result()?;
        let (from, to) = period.expect("checked");
        Ok(ReportFilter {
            from,
            to,
            priority,
            category,
            customer_tier,
        })
    }
}

/// The SLA report of a period: compliance overall, per clock, per priority and per category,
/// response and resolution times, breaches and the longest of them. Agents, admins and auditors.
///
/// A clock counts in the period of its verdict: a met clock when it completed, a breached one at
/// its deadline. `?startDate=2024-01-01&endDate=2024-01-31` is January, both days included.
#[utoipa::path(get, path = "/api/v1/support/sla-reports", tag = "sla", params(SlaReportQuery),
    responses((status = 200, description = "The report", body = SlaReport),
        (status = 403, description = "Customers and services do not read SLA reports", body = Problem),
        (status = 422, description = "A date is missing or invalid, the period is empty or longer than 366 days, or a parameter is invalid or unknown (all are listed)", body = Problem)),
    security(("bearer" = [])))]
pub async fn get_sla_report(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ApiQuery(query): ApiQuery<SlaReportQuery>,
) -> Result<Json<SlaReport>, ApiError> {
    principal.require(READERS, "read SLA reports")?;
    let filter = query.parse().map_err(ApiError::Validation)?;
    Ok(Json(report(&ctx.pool, &filter).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(query: SlaReportQuery) -> Vec<String> {
        let errors = query.parse().unwrap_err();
        errors.fields().into_iter().map(str::to_owned).collect()
    }

    #[test]
    fn the_spec_example_is_january_with_both_days_whole() {
        let query = SlaReportQuery {
            start_date: Some("2024-01-01".into()),
            end_date: Some("2024-01-31".into()),
            ..Default::default()
        };
        let filter = query.parse().unwrap();
        assert_eq!(filter.from.to_rfc3339(), "2024-01-01T00:00:00+00:00");
        assert_eq!(filter.to.to_rfc3339(), "2024-02-01T00:00:00+00:00");
        assert_eq!(filter.priority, None);
    }

    #[test]
    fn instants_bound_the_period_as_given() {
        let query = SlaReportQuery {
            start_date: Some("2024-01-01T12:00:00+01:00".into()),
            end_date: Some("2024-01-02T00:00:00Z".into()),
            priority: Some("P1_HIGH".into()),
            customer_tier: Some("ENTERPRISE".into()),
            ..Default::default()
        };
        let filter = query.parse().unwrap();
        assert_eq!(filter.from.to_rfc3339(), "2024-01-01T11:00:00+00:00");
        assert_eq!(filter.to.to_rfc3339(), "2024-01-02T00:00:00+00:00");
        assert_eq!(filter.priority, Some(TicketPriority::High));
        assert_eq!(filter.customer_tier, Some(CustomerTier::Enterprise));
    }

    #[test]
    fn every_bad_parameter_is_reported_at_once() {
        let unknown: UnknownParameters =
            serde_json::from_value(serde_json::json!({"prority": "P1_HIGH"})).unwrap();
        let query = SlaReportQuery {
            start_date: Some("2024-02-30".into()),
            end_date: None,
            priority: Some("URGENT".into()),
            category: Some("HARDWARE".into()),
            customer_tier: Some("GOLD".into()),
            unknown,
        };
        assert_eq!(
            fields(query),
            [
                "prority",
                "startDate",
                "endDate",
                "priority",
                "category",
                "customerTier"
            ]
        );
    }

    #[test]
    fn a_period_ends_after_it_starts_and_spans_at_most_366_days() {
        let period = |start: &str, end: &str| {
            fields(SlaReportQuery {
                start_date: Some(start.into()),
                end_date: Some(end.into()),
                ..Default::default()
            })
        };
        assert_eq!(period("2024-02-01", "2024-01-31"), ["endDate"]);
        assert_eq!(
            period("2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"),
            ["endDate"]
        );
        assert_eq!(period("2024-01-01", "2025-01-01"), ["endDate"]);
        let leap_year = SlaReportQuery {
            start_date: Some("2024-01-01".into()),
            end_date: Some("2024-12-31".into()),
            ..Default::default()
        };
        assert!(leap_year.parse().is_ok());
    }
}
