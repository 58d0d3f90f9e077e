//! Support analytics: the figures of a period of whole UTC days, from the `analytics` read model's
//! rollups. docs/analytics.md defines every figure.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{Days, NaiveDate};
use serde::Deserialize;
use support_domain::sla::CustomerTier;
use support_domain::ticket::{AgentId, TicketCategory, TicketChannel, TicketPriority};
use support_domain::{ActorRole, FieldErrors};
use support_projections::analytics::tickets::{Dimension, Slice};
use support_projections::analytics::{analytics, Analytics, AnalyticsFilter, Interval};
use support_projections::schema;
use utoipa::IntoParams;

use crate::auth::Principal;
use crate::extract::{ApiQuery, UnknownParameters};
use crate::problem::{ApiError, Problem};
use crate::sla_report::MAX_PERIOD_DAYS;
use crate::startup::ApiContext;

/// Who reads the figures: the desk's staff and auditors.
const READERS: &[ActorRole] = &[ActorRole::Agent, ActorRole::Admin, ActorRole::Auditor];
/// The longest period an hourly series covers: 744 points.
const MAX_HOURLY_DAYS: i64 = 31;

pub fn routes() -> Router<ApiContext> {
    Router::new().route("/analytics", get(get_analytics))
}

/// The query of `GET /analytics`. A parameter it does not know is refused.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AnalyticsQuery {
    /// The period's first day (`YYYY-MM-DD`, from its start in UTC).
    #[param(required = true, value_type = String, format = Date)]
    pub start_date: Option<String>,
    /// The period's last day, included whole; at most 366 days after `startDate`.
    #[param(required = true, value_type = String, format = Date)]
    pub end_date: Option<String>,
    /// Only tickets of this priority at each measure. One filter at a time.
    #[param(schema_with = schema::ticket_priority)]
    pub priority: Option<String>,
    /// Only tickets of this category at each measure.
    #[param(schema_with = schema::ticket_category)]
    pub category: Option<String>,
    /// Only tickets that came in through this channel.
    #[param(schema_with = schema::ticket_channel)]
    pub channel: Option<String>,
    /// Only tickets of customers of this tier at each measure.
    #[param(schema_with = schema::customer_tier)]
    pub customer_tier: Option<String>,
    /// Only tickets assigned to this agent at each measure.
    #[param(schema_with = schema::agent_id)]
    pub agent: Option<String>,
    /// The series' step: `hour` (for periods of at most 31 days), `day` (the default) or `week`.
    #[param(value_type = Option<String>, pattern = "^(hour|day|week)$")]
    pub interval: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub unknown: UnknownParameters,
}

impl AnalyticsQuery {
    pub fn parse(&self) -> Result<AnalyticsFilter, FieldErrors> {
        let mut errors = FieldErrors::default();
        self.unknown.refuse(&mut errors);
        let mut day = |field: &str, value: Option<&str>| match value {
            None => {
                errors.push(field, "is required");
                None
            }
            Some(value) => errors.take(
                field,
                NaiveDate::parse_from_str(value, "%Y-%m-%d")
                    .map_err(|_| "must be a date (YYYY-MM-DD)".to_owned()),
            ),
        };
        let from = day("startDate", self.start_date.as_deref());
        let last = day("endDate", self.end_date.as_deref());
        let to = last.and_then(|last| last.checked_add_days(Days::new(1)));
        let mut slices: Vec<Slice> = Vec::new();
        let mut filter = |field: &str, dimension, value: Option<Result<String, String>>| {
            if let Some(value) = value.and_then(|v| errors.take(field, v)) {
                slices.push(Slice::of(dimension, &value));
            }
        };
        filter(
            "priority",
            Dimension::Priority,
            (self.priority.as_deref())
                .map(|p| TicketPriority::parse(p).map(|p| p.as_str().to_owned())),
        );
        filter(
            "category",
            Dimension::Category,
            (self.category.as_deref())
                .map(|c| TicketCategory::parse(c).map(|c| c.as_str().to_owned())),
        );
        filter(
            "channel",
            Dimension::Channel,
            (self.channel.as_deref())
                .map(|c| TicketChannel::parse(c).map(|c| c.as_str().to_owned())),
        );
        filter(
            "customerTier",
            Dimension::CustomerTier,
            (self.customer_tier.as_deref())
                .map(|t| CustomerTier::parse(t).map(|t| t.as_str().to_owned())),
        );
        filter(
            "agent",
            Dimension::Agent,
            (self.agent.as_deref()).map(|a| AgentId::parse(a).map(|a| a.as_str().to_owned())),
        );
        let interval = match self.interval.as_deref() {
            None => Some(Interval::Day),
            Some(text) => errors.take("interval", Interval::parse(text)),
        };
        if slices.len() > 1 {
            errors.push(
                "priority",
                "one filter at a time: priority, category, channel, customerTier or agent",
            );
        }
        if let (Some(from), Some(to)) = (from, to) {
            let days = (to - from).num_days();
            if days <= 0 {
                errors.push("endDate", "must not come before startDate");
            } else if days > MAX_PERIOD_DAYS {
                errors.push(
                    "endDate",
                    format!("must be at most {MAX_PERIOD_DAYS} days after startDate"),
                );
            } else if interval == Some(Interval::Hour) && days > MAX_HOURLY_DAYS {
                errors.push(
                    "interval",
                    format!("hour covers periods of at most {MAX_HOURLY_DAYS} days"),
                );
            }
        }
        errors.into_result()?;
        Ok(AnalyticsFilter {
            from: from.expect("checked"),
            to: to.expect("checked"),
            slice: slices.pop().unwrap_or_else(Slice::all),
            interval: interval.expect("checked"),
        })
    }
}

/// The support analytics of a period: tickets, times (mean, median and p90, on the wall clock
/// and in business minutes), first contact resolution, the backlog and its age, breakdowns by
/// priority, category and channel, agents, and a series. Agents, admins and auditors.
///
/// A figure counts on the day it was measured (a resolution on the day of the resolution);
/// `?startDate=2024-01-01&endDate=2024-01-31` is January, both days included.
#[utoipa::path(get, path = "/api/v1/support/analytics", tag = "analytics", params(AnalyticsQuery),
    responses((status = 200, description = "The figures", body = Analytics),
        (status = 403, description = "Customers and services do not read analytics", body = Problem),
        (status = 422, description = "A date is missing or invalid, the period is empty or longer than 366 days (31 for an hourly series), more than one filter is given, or a parameter is invalid or unknown (all are listed)", body = Problem)),
    security(("bearer" = [])))]
pub async fn get_analytics(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ApiQuery(query): ApiQuery<AnalyticsQuery>,
) -> Result<Json<Analytics>, ApiError> {
    principal.require(READERS, "read analytics")?;
    let filter = query.parse().map_err(ApiError::Validation)?;
    Ok(Json(analytics(&ctx.pool, &filter).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(query: AnalyticsQuery) -> Vec<String> {
        let errors = query.parse().unwrap_err();
        errors.fields().into_iter().map(str::to_owned).collect()
    }

    fn period(start: &str, end: &str) -> AnalyticsQuery {
        AnalyticsQuery {
            start_date: Some(start.into()),
            end_date: Some(end.into()),
            ..Default::default()
        }
    }

    #[test]
    fn the_spec_example_is_january_by_day_for_the_whole_desk() {
        let filter = period("2024-01-01", "2024-01-31").parse().unwrap();
        assert_eq!(filter.from, NaiveDate::from_ymd_opt(2024, 1, 1).unwrap());
        assert_eq!(filter.to, NaiveDate::from_ymd_opt(2024, 2, 1).unwrap());
        assert_eq!(filter.slice, Slice::all());
        assert_eq!(filter.interval, Interval::Day);
    }

    #[test]
    fn a_filter_picks_its_slice() {
        let query = AnalyticsQuery {
            agent: Some("agent-7".into()),
            interval: Some("week".into()),
            ..period("2024-01-01", "2024-03-31")
        };
        let filter = query.parse().unwrap();
        assert_eq!(filter.slice, Slice::of(Dimension::Agent, "agent-7"));
        assert_eq!(filter.interval, Interval::Week);
    }

    #[test]
    fn every_bad_parameter_is_reported_at_once() {
        let unknown: UnknownParameters =
            serde_json::from_value(serde_json::json!({"prority": "P1_HIGH"})).unwrap();
        let query = AnalyticsQuery {
            start_date: Some("2024-01-01T00:00:00Z".into()),
            end_date: None,
            priority: Some("URGENT".into()),
            channel: Some("FAX".into()),
            customer_tier: Some("GOLD".into()),
            interval: Some("minute".into()),
            unknown,
            ..Default::default()
        };
        assert_eq!(
            fields(query),
            [
                "prority",
                "startDate",
                "endDate",
                "priority",
                "channel",
                "customerTier",
                "interval"
            ]
        );
    }

    #[test]
    fn periods_are_whole_days_in_order_with_hours_for_a_month_at_most() {
        assert_eq!(fields(period("2024-02-01", "2024-01-31")), ["endDate"]);
        assert!(period("2024-01-31", "2024-01-31").parse().is_ok());
        assert_eq!(fields(period("2024-01-01", "2025-01-01")), ["endDate"]);
        assert!(period("2024-01-01", "2024-12-31").parse().is_ok());
        let hourly = |end: &str| AnalyticsQuery {
            interval: Some("hour".into()),
            ..period("2024-01-01", end)
        };
        assert!(hourly("2024-01-31").parse().is_ok());
        assert_eq!(fields(hourly("2024-02-01")), ["interval"]);
        let two = AnalyticsQuery {
            priority: Some("P1_HIGH".into()),
            category: Some("BILLING".into()),
            ..period("2024-01-01", "2024-01-31")
        };
        assert_eq!(fields(two), ["priority"]);
    }
}
