//! The what-if: how the tickets opened in a period, within a policy's scope, would have fared
//! under the policy's terms, beside how they did. Each ticket's life is read from the event store
//! (its opening, status changes and first response: fields that are never sealed) and replayed
//! through the domain's own clock rule (`SlaClocks::replayed`) under the terms, from its opening
//! to `now`; its actual verdicts are its clocks as its last SLA event left them, with what fell
//! due by `now` recorded. docs/sla.md defines the figures.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::PgPool;
use support_domain::sla::{
    ClockKind, ClockMoment, ClockState, CustomerTier, OpeningSla, SlaClocks, SlaTerms,
};
use support_domain::ticket::{TicketPriority, TicketStatus};
use support_domain::FieldErrors;
use support_projections::schema;
use support_projections::sla::report::Compliance;
use support_projections::tickets::AGGREGATE_TYPE;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::problem::ApiError;
use crate::sla_report::period;
use crate::startup::ApiContext;

/// The most tickets one what-if replays: some seconds of work, and memory for their histories.
pub const MAX_TICKETS: usize = 20_000;
/// The most changed verdicts an answer lists; `changedVerdicts` counts them all.
pub const LISTED_CHANGES: usize = 100;

/// The body of `POST /sla-policies/{id}/what-if`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WhatIfRequest {
    /// The first day (`YYYY-MM-DD`, from its start in UTC) or instant (RFC 3339) of the period
    /// whose tickets are replayed, by when they were opened.
    #[schema(required = true, pattern = r"^[^\u0000]*$")]
    pub start_date: Option<String>,
    /// The period's last day, included whole, or the instant it ends before; at most 366 days
    /// after `startDate`.
    #[schema(required = true, pattern = r"^[^\u0000]*$")]
    pub end_date: Option<String>,
}

impl WhatIfRequest {
    /// The period `[from, to)` of the openings to replay, as the SLA report reads its dates.
    pub fn parse(&self) -> Result<(DateTime<Utc>, DateTime<Utc>), FieldErrors> {
        let mut errors = FieldErrors::default();
        let period = period(
            &mut errors,
            self.start_date.as_deref(),
            self.end_date.as_deref(),
        );
        errors.into_result()?;
        Ok(period.expect("checked"))
    }
}

/// One clock kind's verdicts over the tickets considered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClockOutcome {
    pub met: u64,
    pub breached: u64,
    /// met / (met + breached); null when no clock has a verdict.
    #[schema(minimum = 0, maximum = 1)]
    pub compliance_rate: Option<f64>,
    /// Clocks without a verdict: still counting before their deadline, stopped before it by a
    /// cancellation, or (actual only) of a ticket that ran under no policy.
    pub without_verdict: u64,
}

/// The verdicts of both clocks of the tickets considered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// Both clocks together.
    pub overall: Compliance,
    pub response: ClockOutcome,
    pub resolution: ClockOutcome,
}

impl Outcome {
    fn count(&mut self, kind: ClockKind, verdict: Option<ClockState>) {
        let clock = match kind {
            ClockKind::Response => &mut self.response,
            ClockKind::Resolution => &mut self.resolution,
        };
        match verdict {
            Some(ClockState::Met) => clock.met += 1,
            Some(_) => clock.breached += 1,
            None => clock.without_verdict += 1,
        }
        clock.compliance_rate = rate(clock.met, clock.breached);
        self.overall.met = self.response.met + self.resolution.met;
        self.overall.breached = self.response.breached + self.resolution.breached;
        self.overall.compliance_rate = rate(self.overall.met, self.overall.breached);
    }
}

fn rate(met: u64, breached: u64) -> Option<f64> {
    let rated = met + breached;
    (rated > 0).then(|| met as f64 / rated as f64)
}

/// A clock whose verdict the policy would change.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerdictChange {
    pub ticket_id: Uuid,
    #[schema(example = "TKT-20261126-0001")]
    pub ticket_number: String,
    #[schema(schema_with = schema::clock_kind)]
    pub clock: String,
    /// `MET`, `BREACHED`, or null for no verdict.
    #[schema(schema_with = verdict)]
    pub actual: Option<String>,
    #[schema(schema_with = verdict)]
    pub under_policy: Option<String>,
}

fn verdict() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some([
            serde_json::json!(ClockState::Met.as_str()),
            serde_json::json!(ClockState::Breached.as_str()),
            serde_json::Value::Null,
        ]))
        .build()
}

/// What the tickets of a period did under their own policies, and would have done under a
/// policy's terms.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WhatIf {
    /// The first instant of the period of openings.
    pub from: DateTime<Utc>,
    /// The instant after it.
    pub to: DateTime<Utc>,
    /// The instant the clocks were read at: a clock still counting has breached if its deadline
    /// came before it.
    pub at: DateTime<Utc>,
    /// Tickets opened in the period with the policy's priority (and its tier, if it names one)
    /// at their opening.
    pub tickets_considered: u64,
    /// Of those, tickets that ran under no policy.
    pub tickets_without_policy: u64,
    /// As the tickets' own SLA events recorded them.
    pub actual: Outcome,
    /// Had the policy's terms applied to each ticket from its opening.
    pub under_policy: Outcome,
    /// Clocks whose verdict differs between the two.
    pub changed_verdicts: u64,
    /// The first of them, by ticket id, at most 100.
    #[schema(max_items = 100)]
    pub changes: Vec<VerdictChange>,
}

/// A ticket's life as the what-if reads it from the store.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketLife {
    pub id: Uuid,
    pub number: String,
    pub opened_at: DateTime<Utc>,
    /// What moved its clocks, in order.
    pub moments: Vec<(DateTime<Utc>, ClockMoment)>,
    /// Its clocks as its last SLA event left them; `None` if no policy applied to it.
    pub clocks: Option<SlaClocks>,
}

/// The what-if of `terms` for the tickets opened in `range` with `priority` (and `tier`, when the
/// policy names one) at their opening, their clocks read at `now`. More than `MAX_TICKETS` tickets
/// is a 422 on `endDate`: a shorter period is the answer.
pub async fn what_if(
    ctx: &ApiContext,
    terms: &SlaTerms,
    priority: TicketPriority,
    tier: Option<CustomerTier>,
    range: (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
) -> Result<WhatIf, ApiError> {
    let lives = ticket_lives(&ctx.pool, priority, tier, range).await?;
    Ok(compare(terms, &lives, range, now))
}

/// The lives of the tickets in scope, in ticket id order, read in one snapshot of the store.
pub async fn ticket_lives(
    pool: &PgPool,
    priority: TicketPriority,
    tier: Option<CustomerTier>,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
) -> Result<Vec<TicketLife>, ApiError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let opened: Vec<(String, String, DateTime<Utc>)> = sqlx::query_as(OPENINGS)
        .bind(from)
        .bind(to)
        .bind(priority.as_str())
        .bind(tier.map(CustomerTier::as_str))
        .bind(MAX_TICKETS as i64 + 1)
        .fetch_all(&mut *tx)
        .await?;
    if opened.len() > MAX_TICKETS {
        return Err(ApiError::field(
            "endDate",
            format!(
                "the period holds more than {MAX_TICKETS} tickets in the policy's scope: \
                 choose a shorter one"
            ),
        ));
    }
    let ids: Vec<&str> = opened.iter().map(|(id, _, _)| id.as_str()).collect();

    // What moves the clocks: status changes (`from` and `to` are never sealed; the note is), the
    // first response, and the holds of incidents.
    let moved: Vec<Moved> = sqlx::query_as(
        "SELECT aggregate_id, event_occurred_at(metadata), event_type, \
             payload -> 'TicketStatusChanged' ->> 'from', payload -> 'TicketStatusChanged' ->> 'to' \
         FROM events \
         WHERE aggregate_type = $1 AND aggregate_id = ANY($2) \
           AND event_type IN ('TicketStatusChanged', 'TicketFirstResponseRecorded', \
               'TicketHeldByIncident', 'TicketReleasedByIncident') \
         ORDER BY aggregate_id, sequence",
    )
    .bind(AGGREGATE_TYPE)
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    let mut moments: HashMap<String, Vec<(DateTime<Utc>, ClockMoment)>> = HashMap::new();
    for (id, at, event_type, from, to) in moved {
        let moment = match (from, to) {
            _ if event_type == "TicketHeldByIncident" => ClockMoment::IncidentHold { held: true },
            _ if event_type == "TicketReleasedByIncident" => {
                ClockMoment::IncidentHold { held: false }
            }
            (Some(from), Some(to)) => {
                let status = |s: &str| {
                    TicketStatus::parse(s).map_err(|e| {
                        ApiError::Internal(anyhow::anyhow!("ticket {id}: a status change {e}"))
                    })
                };
                ClockMoment::StatusChanged {
                    from: status(&from)?,
                    to: status(&to)?,
                }
            }
            _ => ClockMoment::FirstResponse,
        };
        moments.entry(id).or_default().push((at, moment));
    }

    // Each ticket's clocks as its last SLA event left them: every SLA event carries both, and an
    // opening under a policy what they started from.
    type Last = (String, Option<Json<SlaClocks>>, Option<Json<OpeningSla>>);
    let last: Vec<Last> = sqlx::query_as(
        "SELECT t.id, last.clocks, last.opening FROM unnest($2::text[]) AS t(id) \
         LEFT JOIN LATERAL ( \
             SELECT payload -> event_type -> 'clocks' AS clocks, \
                    payload -> event_type -> 'sla' AS opening FROM events \
             WHERE aggregate_type = $1 AND aggregate_id = t.id AND event_type = ANY($3) \
             ORDER BY sequence DESC LIMIT 1) AS last ON true",
    )
    .bind(AGGREGATE_TYPE)
    .bind(&ids)
    .bind(SLA_EVENTS)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut clocks: HashMap<String, SlaClocks> = last
        .into_iter()
        .filter_map(|(id, clocks, opening)| {
            let clocks = clocks.map(|Json(c)| c);
            clocks
                .or_else(|| opening.map(|Json(o)| o.clocks()))
                .map(|c| (id, c))
        })
        .collect();

    opened
        .into_iter()
        .map(|(id, number, opened_at)| {
            Ok(TicketLife {
                id: Uuid::parse_str(&id).map_err(|e| ApiError::Internal(e.into()))?,
                number,
                opened_at,
                moments: moments.remove(&id).unwrap_or_default(),
                clocks: clocks.remove(&id),
            })
        })
        .collect()
}

/// The openings of a period with a priority and, if `$4` names one, a tier, in ticket id order: the
/// openings alone, through their own index (`events_ticket_openings`), whose condition the
/// statement names as it is, so that even a generic plan proves it.
const OPENINGS: &str = "SELECT aggregate_id, payload -> 'TicketOpened' ->> 'ticketNumber', \
         event_occurred_at(metadata) \
     FROM events \
     WHERE aggregate_type = 'ticket' AND event_type = 'TicketOpened' \
       AND event_occurred_at(metadata) >= $1 AND event_occurred_at(metadata) < $2 \
       AND payload -> 'TicketOpened' ->> 'priority' = $3 \
       AND ($4::text IS NULL OR payload -> 'TicketOpened' ->> 'customerTier' = $4) \
     ORDER BY aggregate_id LIMIT $5";

/// A ticket, when something moved its clocks, the event's type, and a status change's `from` and
/// `to` (none for the others).
type Moved = (
    String,
    DateTime<Utc>,
    String,
    Option<String>,
    Option<String>,
);

/// The ticket events that carry both clocks.
const SLA_EVENTS: &[&str] = &[
    "TicketOpened",
    "SlaPolicyApplied",
    "SlaClocksPaused",
    "SlaClocksResumed",
    "SlaClockCompleted",
    "SlaClockRestarted",
    "SlaClocksStopped",
    "SlaWarningReached",
    "SlaBreached",
];

/// The what-if of `terms` over `lives`, their clocks read at `now`.
pub fn compare(
    terms: &SlaTerms,
    lives: &[TicketLife],
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
) -> WhatIf {
    let mut answer = WhatIf {
        from,
        to,
        at: now,
        tickets_considered: lives.len() as u64,
        tickets_without_policy: 0,
        actual: Outcome::default(),
        under_policy: Outcome::default(),
        changed_verdicts: 0,
        changes: Vec::new(),
    };
    for life in lives {
        let actual = life.clocks.clone().map(|mut clocks| {
            clocks.record_all_due(now);
            clocks
        });
        if actual.is_none() {
            answer.tickets_without_policy += 1;
        }
        let replayed =
            SlaClocks::replayed(terms, life.opened_at, life.moments.iter().copied(), now);
        for kind in ClockKind::ALL {
            let was = actual
                .as_ref()
                .and_then(|c| c.clock(*kind).verdict())
                .map(|(v, _)| v);
            let would_be = replayed.clock(*kind).verdict().map(|(v, _)| v);
            answer.actual.count(*kind, was);
            answer.under_policy.count(*kind, would_be);
            if was != would_be {
                answer.changed_verdicts += 1;
                if answer.changes.len() < LISTED_CHANGES {
                    answer.changes.push(VerdictChange {
                        ticket_id: life.id,
                        ticket_number: life.number.clone(),
                        clock: kind.as_str().to_owned(),
                        actual: was.map(|v| v.as_str().to_owned()),
                        under_policy: would_be.map(|v| v.as_str().to_owned()),
                    });
                }
            }
        }
    }
    answer
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use support_domain::sla::WarningPercent;
    use support_domain::sla::{BusinessCalendar, CalendarFields, PolicyName, TargetMinutes};

    use super::*;

    fn t0() -> DateTime<Utc> {
        "2026-11-23T09:00:00Z".parse().unwrap()
    }

    fn at(minutes: i64) -> DateTime<Utc> {
        t0() + TimeDelta::minutes(minutes)
    }

    fn terms(response: i64, resolution: i64) -> SlaTerms {
        SlaTerms {
            policy_id: Uuid::from_u128(response as u128),
            policy_name: PolicyName::parse("Policy").unwrap(),
            response_time_target: TargetMinutes::parse(response).unwrap(),
            resolution_time_target: TargetMinutes::parse(resolution).unwrap(),
            response_time_warning_threshold: WarningPercent::parse(80).unwrap(),
            resolution_time_warning_threshold: WarningPercent::parse(80).unwrap(),
            calendar: BusinessCalendar::parse(&CalendarFields {
                apply_business_hours_only: false,
                business_hours_start: None,
                business_hours_end: None,
                business_days: None,
                timezone: "UTC".into(),
                holidays: Vec::new(),
            })
            .unwrap(),
            auto_escalate_on_breach: false,
            notify_on_warning: true,
            notify_on_breach: true,
        }
    }

    fn resolved(minutes: i64) -> (DateTime<Utc>, ClockMoment) {
        (
            at(minutes),
            ClockMoment::StatusChanged {
                from: TicketStatus::InProgress,
                to: TicketStatus::Resolved,
            },
        )
    }

    /// A ticket that lived `moments` under `actual` terms (none: no policy applied), with its
    /// clocks as they were when it was last seen, at `seen`.
    fn life(
        n: u128,
        moments: Vec<(DateTime<Utc>, ClockMoment)>,
        actual: Option<&SlaTerms>,
        seen: DateTime<Utc>,
    ) -> TicketLife {
        TicketLife {
            id: Uuid::from_u128(n),
            number: format!("TKT-20261123-000{n}"),
            opened_at: t0(),
            clocks: actual.map(|t| SlaClocks::replayed(t, t0(), moments.iter().copied(), seen)),
            moments,
        }
    }

    #[test]
    fn a_stricter_policy_turns_kept_promises_into_breaches() {
        let p1 = terms(60, 480);
        let lives = [
            // Answered in 30 minutes, resolved in 100: kept under P1, both breached under 15/60.
            life(
                1,
                vec![(at(30), ClockMoment::FirstResponse), resolved(100)],
                Some(&p1),
                at(100),
            ),
            // Answered in 10, resolved in 50: kept under both.
            life(
                2,
                vec![(at(10), ClockMoment::FirstResponse), resolved(50)],
                Some(&p1),
                at(50),
            ),
            // Never answered, last seen before its deadline: breached by now under both.
            life(3, vec![], Some(&p1), at(10)),
            // No policy matched it: no actual verdicts; the policy would have measured it.
            life(4, vec![resolved(10)], None, at(10)),
        ];
        let now = at(2000);
        let what_if = compare(&terms(15, 60), &lives, (t0(), at(1440)), now);
        assert_eq!(what_if.tickets_considered, 4);
        assert_eq!(what_if.tickets_without_policy, 1);
        assert_eq!(
            what_if.actual.response,
            ClockOutcome {
                met: 2,
                breached: 1,
                compliance_rate: Some(2.0 / 3.0),
                without_verdict: 1
            }
        );
        assert_eq!(
            what_if.actual.overall,
            Compliance {
                met: 4,
                breached: 2,
                compliance_rate: Some(4.0 / 6.0)
            },
            "the unanswered ticket's resolution breached by now too"
        );
        assert_eq!(
            what_if.under_policy.response,
            ClockOutcome {
                met: 2,
                breached: 2,
                compliance_rate: Some(0.5),
                without_verdict: 0
            }
        );
        assert_eq!(
            (
                what_if.under_policy.resolution.met,
                what_if.under_policy.resolution.breached
            ),
            (2, 2)
        );
        let changed: Vec<_> = what_if
            .changes
            .iter()
            .map(|c| {
                (
                    c.ticket_id,
                    c.clock.as_str(),
                    c.actual.as_deref(),
                    c.under_policy.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            changed,
            [
                (
                    Uuid::from_u128(1),
                    "RESPONSE",
                    Some("MET"),
                    Some("BREACHED")
                ),
                (
                    Uuid::from_u128(1),
                    "RESOLUTION",
                    Some("MET"),
                    Some("BREACHED")
                ),
                (Uuid::from_u128(4), "RESPONSE", None, Some("MET")),
                (Uuid::from_u128(4), "RESOLUTION", None, Some("MET")),
            ]
        );
        assert_eq!(what_if.changed_verdicts, 4);
    }

    #[test]
    fn the_same_terms_change_no_verdict() {
        let p1 = terms(60, 480);
        let lives = [
            life(
                1,
                vec![(at(70), ClockMoment::FirstResponse), resolved(600)],
                Some(&p1),
                at(600),
            ),
            // Waiting for the customer since 30 minutes: paused, no verdict.
            life(
                2,
                vec![(
                    at(30),
                    ClockMoment::StatusChanged {
                        from: TicketStatus::Open,
                        to: TicketStatus::WaitingCustomer,
                    },
                )],
                Some(&p1),
                at(30),
            ),
        ];
        let what_if = compare(&p1, &lives, (t0(), at(1440)), at(700));
        assert_eq!(what_if.actual, what_if.under_policy);
        assert_eq!(what_if.changed_verdicts, 0);
        assert_eq!(
            (
                what_if.actual.response.breached,
                what_if.actual.resolution.without_verdict
            ),
            (1, 1)
        );
    }

    #[test]
    fn nothing_to_replay_rates_nothing() {
        let what_if = compare(&terms(60, 480), &[], (t0(), at(1440)), at(10));
        assert_eq!(what_if.under_policy.overall.compliance_rate, None);
        assert_eq!(what_if.tickets_considered, 0);
    }

    /// Even planned once for every value (as a prepared statement comes to be), the openings are
    /// found through their index, not by reading the period's every event.
    #[sqlx::test(migrations = "../migrations")]
    async fn the_openings_of_a_period_are_read_through_their_index(pool: PgPool) {
        let mut conn = pool.acquire().await.unwrap();
        sqlx::raw_sql("SET enable_seqscan = off; SET plan_cache_mode = force_generic_plan")
            .execute(&mut *conn)
            .await
            .unwrap();
        let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {OPENINGS}"))
            .bind(t0())
            .bind(at(1440))
            .bind("P1_HIGH")
            .bind(None::<&str>)
            .bind(10_i64)
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        let plan = plan.join("\n");
        assert!(plan.contains("events_ticket_openings"), "{plan}");
    }

    #[test]
    fn a_request_reports_every_bad_date_and_bounds_the_period() {
        let fields = |json: serde_json::Value| -> Vec<String> {
            let request: WhatIfRequest = serde_json::from_value(json).unwrap();
            match request.parse() {
                Ok(_) => Vec::new(),
                Err(errors) => errors.0.into_iter().map(|e| e.field).collect(),
            }
        };
        assert_eq!(fields(serde_json::json!({})), ["startDate", "endDate"]);
        assert_eq!(
            fields(serde_json::json!({"startDate": "yesterday", "endDate": "2024-02-30"})),
            ["startDate", "endDate"]
        );
        assert_eq!(
            fields(serde_json::json!({"startDate": "2024-01-01", "endDate": "2025-12-31"})),
            ["endDate"],
            "at most 366 days"
        );
        let request: WhatIfRequest = serde_json::from_value(
            serde_json::json!({"startDate": "2024-01-01", "endDate": "2024-01-31"}),
        )
        .unwrap();
        let (from, to) = request.parse().unwrap();
        assert_eq!(
            (from.to_rfc3339(), to.to_rfc3339()),
            (
                "2024-01-01T00:00:00+00:00".to_owned(),
                "2024-02-01T00:00:00+00:00".to_owned()
            )
        );
    }
}
