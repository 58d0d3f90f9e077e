//! Events in, rows out: tickets whose clocks meet every verdict the read model keeps, made by the
//! domain's own clock rule, applied one by one, in batches, again, and by a replay.

use std::collections::HashMap;

use chrono::Duration;
use serde_json::Value;
use sqlx::PgPool;
use support_domain::sla::{
    BusinessCalendar, CalendarFields, ClockChange, OpeningSla, PolicyName, SlaMatch, SlaTerms,
    TargetMinutes, WarningPercent,
};
use support_domain::ticket::{
    Labels, TicketCategory, TicketChannel, TicketContent, TicketDescription, TicketNumber,
    TicketPriority, TicketStatus, TicketTitle,
};
use support_domain::{ActorRole, EventMetadata};

use super::*;
use crate::grain::Days;
use crate::personal_data::{DataKeys, MasterKey};
use crate::read_model::apply_batches;

const P1_POLICY: Uuid = Uuid::from_u128(11);
const P0_POLICY: Uuid = Uuid::from_u128(10);

fn t0() -> DateTime<Utc> {
    "2026-11-23T09:00:00Z".parse().unwrap()
}

fn at(minutes: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(minutes)
}

fn terms(policy_id: Uuid, response: i64, resolution: i64) -> SlaTerms {
    let calendar = BusinessCalendar::parse(&CalendarFields {
        apply_business_hours_only: false,
        business_hours_start: None,
        business_hours_end: None,
        business_days: None,
        timezone: "UTC".into(),
        holidays: Vec::new(),
    })
    .unwrap();
    SlaTerms {
        policy_id,
        policy_name: PolicyName::parse("Policy").unwrap(),
        response_time_target: TargetMinutes::parse(response).unwrap(),
        resolution_time_target: TargetMinutes::parse(resolution).unwrap(),
        response_time_warning_threshold: WarningPercent::parse(80).unwrap(),
        resolution_time_warning_threshold: WarningPercent::parse(80).unwrap(),
        calendar,
        auto_escalate_on_breach: false,
        notify_on_warning: true,
        notify_on_breach: true,
    }
}

fn p1() -> SlaTerms {
    terms(P1_POLICY, 60, 480)
}

/// Tickets' events as the ticket records them, its SLA events made by the domain's clock rule, in
/// one interleaved store order.
#[derive(Default)]
struct Desk {
    events: Vec<RecordedEvent>,
    sla: HashMap<Uuid, (SlaTerms, SlaClocks)>,
    opened: u64,
}

impl Desk {
    fn record(&mut self, id: Uuid, when: DateTime<Utc>, event: TicketEvent) {
        let aggregate_id = id.to_string();
        let sequence = self
            .events
            .iter()
            .filter(|e| e.aggregate_id == aggregate_id)
            .count() as i64
            + 1;
        let position = self.events.len() as i64 + 1;
        let name = event.name();
        self.events.push(RecordedEvent {
            event_id: RecordedEvent::derive_event_id(AGGREGATE_TYPE, &aggregate_id, sequence),
            aggregate_type: AGGREGATE_TYPE.to_owned(),
            aggregate_id,
            sequence,
            global_position: position,
            event_type: name.to_owned(),
            event_version: TicketEvent::VERSION.to_owned(),
            occurred_at: when,
            metadata: EventMetadata {
                actor_sub: "agent-1".to_owned(),
                actor_role: ActorRole::Agent,
                request_id: format!("r-{position}"),
                correlation_id: format!("r-{position}"),
                causation_id: None,
                occurred_at: when,
                source: "api".to_owned(),
            },
            payload: serde_json::to_value(&event).unwrap()[name].clone(),
        });
    }

    /// Opens a ticket at `when`, under `terms` if a policy applies.
    fn open(
        &mut self,
        when: DateTime<Utc>,
        priority: TicketPriority,
        category: TicketCategory,
        terms: Option<SlaTerms>,
    ) -> Uuid {
        self.opened += 1;
        let id = Uuid::from_u128(1000 + u128::from(self.opened));
        self.record(
            id,
            when,
            TicketEvent::TicketOpened {
                ticket_id: id,
                ticket_number: TicketNumber::new(t0().date_naive(), self.opened),
                content: TicketContent {
                    title: TicketTitle::parse("Dashboard down").unwrap(),
                    description: TicketDescription::parse("500 on load").unwrap(),
                    priority,
                    category,
                    channel: TicketChannel::Email,
                    customer: None,
                    customer_tier: None,
                    affected_systems: Labels::default(),
                    tags: Labels::default(),
                },
                suggested_articles_seen: Default::default(),
                created_by: "agent-1".to_owned(),
                sla: terms.as_ref().map(|terms| {
                    Box::new(OpeningSla {
                        terms: terms.clone(),
                        matched: SlaMatch {
                            priority,
                            customer_tier: None,
                            policy_tier: None,
                        },
                        started_at: when,
                    })
                }),
            },
        );
        if let Some(terms) = terms {
            let clocks = SlaClocks::start(&terms, when);
            self.sla.insert(id, (terms, clocks));
        }
        id
    }

    /// What fell due by `when`, recorded as the timer (or the next command) records it.
    fn due(&mut self, id: Uuid, when: DateTime<Utc>) {
        let Some((_, clocks)) = self.sla.get_mut(&id) else {
            return;
        };
        let recorded = clocks.record_all_due(when);
        for (due, clocks) in recorded {
            let event = match due.kind {
                support_domain::sla::DueKind::Warning => TicketEvent::SlaWarningReached {
                    clock: due.clock,
                    at: due.at,
                    clocks,
                },
                support_domain::sla::DueKind::Breach => TicketEvent::SlaBreached {
                    clock: due.clock,
                    at: due.at,
                    clocks,
                },
            };
            self.record(id, when, event);
        }
    }

    /// A change of the ticket at `when`, with the SLA events it causes, as the ticket decides them.
    fn change(&mut self, id: Uuid, when: DateTime<Utc>, event: TicketEvent) {
        self.due(id, when);
        let moment = event.clock_moment();
        self.record(id, when, event);
        let Some((terms, clocks)) = self.sla.get_mut(&id) else {
            return;
        };
        let moved = moment.map_or_else(Vec::new, |m| clocks.move_by(m, &terms.calendar, when));
        for (change, clocks) in moved {
            let event = match change {
                ClockChange::Paused(reason) => TicketEvent::SlaClocksPaused { clocks, reason },
                ClockChange::Resumed(reason) => TicketEvent::SlaClocksResumed { clocks, reason },
                ClockChange::Completed(clock) => TicketEvent::SlaClockCompleted { clock, clocks },
                ClockChange::Restarted(clock) => TicketEvent::SlaClockRestarted { clock, clocks },
                ClockChange::Stopped => TicketEvent::SlaClocksStopped { clocks },
            };
            self.record(id, when, event);
        }
    }

    /// A change of priority at `when` that matches the ticket with a policy of `terms`.
    fn reprioritize(
        &mut self,
        id: Uuid,
        when: DateTime<Utc>,
        from: TicketPriority,
        to: TicketPriority,
        terms: SlaTerms,
    ) {
        self.due(id, when);
        self.record(id, when, TicketEvent::TicketReprioritized { from, to });
        let (old, clocks) = self.sla.get_mut(&id).unwrap();
        *clocks = clocks.clone().adopted(old, &terms, when);
        *old = terms.clone();
        let clocks = clocks.clone();
        self.record(
            id,
            when,
            TicketEvent::SlaPolicyApplied {
                terms,
                matched: SlaMatch {
                    priority: to,
                    customer_tier: None,
                    policy_tier: None,
                },
                clocks,
            },
        );
        self.due(id, when);
    }

    fn status(&mut self, id: Uuid, when: DateTime<Utc>, from: TicketStatus, to: TicketStatus) {
        self.change(
            id,
            when,
            TicketEvent::TicketStatusChanged {
                from,
                to,
                note: None,
            },
        );
    }

    fn first_response(&mut self, id: Uuid, when: DateTime<Utc>) {
        self.change(
            id,
            when,
            TicketEvent::TicketFirstResponseRecorded {
                comment_id: Uuid::new_v4(),
                responder: "agent-1".to_owned(),
            },
        );
    }
}

/// The tickets the tests follow, and the desk that recorded them.
struct Tickets {
    desk: Desk,
    /// Answered in 30 minutes, resolved in 100.
    kept: Uuid,
    /// Response breached at 60 minutes, moved to P0 (4 hours to resolve) after it, answered at
    /// 90, resolution breached at 240 and still running.
    late: Uuid,
    /// Resolved, recategorized, reopened, resolved again.
    reopened: Uuid,
    /// Response breached, then cancelled.
    cancelled: Uuid,
    /// No policy applies.
    unmeasured: Uuid,
}

fn tickets() -> Tickets {
    use TicketStatus::*;
    let mut desk = Desk::default();
    let high = TicketPriority::High;
    let kept = desk.open(at(0), high, TicketCategory::Technical, Some(p1()));
    let late = desk.open(at(1), high, TicketCategory::Billing, Some(p1()));
    let reopened = desk.open(at(2), high, TicketCategory::Technical, Some(p1()));
    let cancelled = desk.open(at(3), high, TicketCategory::Account, Some(p1()));
    let unmeasured = desk.open(at(4), TicketPriority::Low, TicketCategory::General, None);
    desk.first_response(kept, at(30));
    desk.status(reopened, at(40), Open, Resolved);
    desk.due(late, at(61));
    desk.reprioritize(
        late,
        at(70),
        high,
        TicketPriority::Critical,
        terms(P0_POLICY, 15, 240),
    );
    desk.first_response(late, at(91));
    desk.status(kept, at(100), InProgress, Resolved);
    desk.change(
        reopened,
        at(110),
        TicketEvent::TicketRecategorized {
            from: TicketCategory::Technical,
            to: TicketCategory::Data,
        },
    );
    desk.status(reopened, at(120), Resolved, Open);
    desk.status(cancelled, at(200), Open, Cancelled);
    desk.status(reopened, at(300), Open, Resolved);
    desk.status(unmeasured, at(301), Open, Resolved);
    desk.due(late, at(250));
    Tickets {
        desk,
        kept,
        late,
        reopened,
        cancelled,
        unmeasured,
    }
}

async fn apply_in(pool: &PgPool, batches: &[&[RecordedEvent]]) -> Result<(), ProjectionError> {
    apply_batches(pool, std::sync::Arc::new(SlaReportProjection), batches).await
}

/// The read model's rows, as comparable data.
#[derive(Debug, PartialEq)]
struct Snapshot {
    tickets: Vec<Value>,
    verdicts: Vec<Value>,
    counts: Vec<Value>,
}

impl Snapshot {
    async fn take(pool: &PgPool) -> Self {
        let rows = |sql| sqlx::query_scalar(sql).fetch_all(pool);
        Self {
            tickets: rows("SELECT to_jsonb(t) FROM sla_report_tickets t ORDER BY ticket_id")
                .await
                .unwrap(),
            verdicts: rows("SELECT to_jsonb(v) FROM sla_report v ORDER BY ticket_id, clock")
                .await
                .unwrap(),
            counts: rows(
                "SELECT to_jsonb(c) FROM sla_verdict_counts c \
                 ORDER BY grain, starts_on, clock, priority, category, customer_tier, verdict, open",
            )
            .await
            .unwrap(),
        }
    }

    /// The verdicts counted afresh, as `sla_verdict_counts` should hold them.
    async fn counted_afresh(pool: &PgPool) -> Vec<Value> {
        sqlx::query_scalar(
            "SELECT to_jsonb(c) FROM ( \
                 SELECT g.grain, date_trunc(g.grain, verdict_at AT TIME ZONE 'UTC')::date \
                         AS starts_on, clock, priority, category, \
                     coalesce(customer_tier, '') AS customer_tier, verdict, \
                     ended_at IS NULL AS open, count(*) AS clocks \
                 FROM sla_report, (VALUES ('day'), ('week'), ('month')) AS g(grain) \
                 GROUP BY 1, 2, 3, 4, 5, 6, 7, 8) c \
             ORDER BY grain, starts_on, clock, priority, category, customer_tier, verdict, open",
        )
        .fetch_all(pool)
        .await
        .unwrap()
    }
}

async fn rebuild(pool: &PgPool, batches: &[&[RecordedEvent]]) -> Snapshot {
    sqlx::raw_sql(
        "DELETE FROM sla_report; DELETE FROM sla_report_tickets; DELETE FROM sla_verdict_counts; \
         DELETE FROM projection_positions",
    )
    .execute(pool)
    .await
    .unwrap();
    apply_in(pool, batches).await.unwrap();
    Snapshot::take(pool).await
}

fn row(snapshot: &Snapshot, ticket: Uuid, clock: ClockKind) -> Option<&Value> {
    snapshot
        .verdicts
        .iter()
        .find(|v| v["ticket_id"] == ticket.to_string() && v["clock"] == clock.as_str())
}

fn instant(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn each_clock_with_a_verdict_has_its_row(pool: PgPool) {
    let t = tickets();
    let snapshot = rebuild(&pool, &[&t.desk.events]).await;
    assert_eq!(snapshot.tickets.len(), 5, "every ticket's dimensions");

    let kept = row(&snapshot, t.kept, ClockKind::Response).unwrap();
    assert_eq!(kept["verdict"], "MET");
    assert_eq!(instant(&kept["verdict_at"]), at(30));
    assert_eq!(instant(&kept["completed_at"]), at(30));
    assert_eq!(kept["counted_seconds"], 1800.0);
    assert_eq!(kept["calendar_seconds"], 1800.0);
    assert_eq!(kept["breach_seconds"], Value::Null);
    assert_eq!(kept["policy_id"], P1_POLICY.to_string());
    let resolved = row(&snapshot, t.kept, ClockKind::Resolution).unwrap();
    assert_eq!(
        (
            resolved["verdict"].as_str(),
            resolved["counted_seconds"].as_f64()
        ),
        (Some("MET"), Some(6000.0))
    );

    // Breached at its deadline, answered half an hour late: under the priority it had then.
    let late = row(&snapshot, t.late, ClockKind::Response).unwrap();
    assert_eq!(late["verdict"], "BREACHED");
    assert_eq!(instant(&late["verdict_at"]), at(61));
    assert_eq!(late["priority"], "P1_HIGH");
    assert_eq!(instant(&late["completed_at"]), at(91));
    assert_eq!(late["counted_seconds"], 5400.0);
    assert_eq!(late["breach_seconds"], 1800.0);
    assert_eq!(late["policy_id"], P1_POLICY.to_string());
    let running = row(&snapshot, t.late, ClockKind::Resolution).unwrap();
    assert_eq!(running["verdict"], "BREACHED");
    assert_eq!(instant(&running["verdict_at"]), at(241));
    assert_eq!(
        (running["priority"].as_str(), running["policy_id"].as_str()),
        (Some("P0_CRITICAL"), Some(P0_POLICY.to_string().as_str())),
        "breached under the policy it was matched with again"
    );
    assert_eq!(running["ended_at"], Value::Null);
    assert_eq!(running["counted_seconds"], Value::Null);
    assert_eq!(running["breach_seconds"], Value::Null);

    // Met at 40 minutes, withdrawn by the reopening, met again at 300 under its new category.
    let again = row(&snapshot, t.reopened, ClockKind::Resolution).unwrap();
    assert_eq!(again["verdict"], "MET");
    assert_eq!(instant(&again["verdict_at"]), at(300));
    assert_eq!(again["category"], "DATA");
    assert_eq!(again["counted_seconds"], (38.0 + 180.0) * 60.0);
    assert_eq!(again["calendar_seconds"], 298.0 * 60.0);
    let answered = row(&snapshot, t.reopened, ClockKind::Response).unwrap();
    assert_eq!(
        (answered["verdict"].as_str(), answered["category"].as_str()),
        (Some("MET"), Some("TECHNICAL")),
        "the response was met before the recategorization"
    );

    // Breached at 63 minutes, recorded when the ticket was cancelled: ended, never completed.
    let stopped = row(&snapshot, t.cancelled, ClockKind::Response).unwrap();
    assert_eq!(stopped["verdict"], "BREACHED");
    assert_eq!(instant(&stopped["verdict_at"]), at(63));
    assert_eq!(instant(&stopped["ended_at"]), at(200));
    assert_eq!(stopped["completed_at"], Value::Null);
    assert_eq!(stopped["calendar_seconds"], Value::Null);
    assert_eq!(stopped["breach_seconds"], (197.0 - 60.0) * 60.0);
    assert!(row(&snapshot, t.cancelled, ClockKind::Resolution).is_none());
    assert!(row(&snapshot, t.unmeasured, ClockKind::Response).is_none());
    assert_eq!(snapshot.verdicts.len(), 7);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_reopening_withdraws_a_met_resolution_until_its_next_verdict(pool: PgPool) {
    let t = tickets();
    let events = &t.desk.events;
    let reopening = events
        .iter()
        .position(|e| e.event_type == "SlaClockRestarted")
        .unwrap();
    let before = rebuild(&pool, &[&events[..reopening]]).await;
    assert_eq!(
        row(&before, t.reopened, ClockKind::Resolution).unwrap()["verdict"],
        "MET"
    );
    let after = rebuild(&pool, &[&events[..=reopening]]).await;
    assert!(row(&after, t.reopened, ClockKind::Resolution).is_none());
    assert!(row(&after, t.reopened, ClockKind::Response).is_some());
}

/// However the stream is cut into batches, delivered again, or replayed from the event store,
/// the rows come out as when every event is applied alone.
#[sqlx::test(migrations = "../migrations")]
async fn batches_redeliveries_and_a_replay_leave_the_rows_of_events_applied_one_by_one(
    pool: PgPool,
) {
    let events = tickets().desk.events;
    let alone: Vec<&[RecordedEvent]> = events.chunks(1).collect();
    let expected = rebuild(&pool, &alone).await;
    assert!(!expected.counts.is_empty());
    assert_eq!(expected.counts, Snapshot::counted_afresh(&pool).await);
    assert_eq!(rebuild(&pool, &[&events]).await, expected, "one batch");
    for size in [2, 3, 5, 8] {
        let batches: Vec<&[RecordedEvent]> = events.chunks(size).collect();
        assert_eq!(
            rebuild(&pool, &batches).await,
            expected,
            "batches of {size}"
        );
    }
    let redelivered = rebuild(&pool, &[&events[..14], &events[6..], &events]).await;
    assert_eq!(redelivered, expected, "overlapping redeliveries");

    for event in &events {
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
                 event_version, payload, metadata) VALUES ($1, $2, $3, $4, $5, $6::json, $7::json)",
        )
        .bind(&event.aggregate_type)
        .bind(&event.aggregate_id)
        .bind(event.sequence)
        .bind(&event.event_type)
        .bind(&event.event_version)
        .bind(serde_json::json!({ event.event_type.clone(): event.payload }).to_string())
        .bind(serde_json::to_value(&event.metadata).unwrap().to_string())
        .execute(&pool)
        .await
        .unwrap();
    }
    sqlx::raw_sql(
        "DELETE FROM sla_report; DELETE FROM sla_report_tickets; DELETE FROM sla_verdict_counts",
    )
    .execute(&pool)
    .await
    .unwrap();
    let keys = DataKeys::new(&MasterKey::development());
    crate::replay(&pool, &keys, &SlaReportProjection)
        .await
        .unwrap();
    assert_eq!(Snapshot::take(&pool).await, expected, "a replay");
}

/// `base`, and `base` under each single filter.
fn one_filter_each(base: ReportFilter) -> [ReportFilter; 4] {
    [
        base.clone(),
        ReportFilter {
            priority: Some(TicketPriority::High),
            ..base.clone()
        },
        ReportFilter {
            category: Some(TicketCategory::Billing),
            ..base.clone()
        },
        ReportFilter {
            customer_tier: Some(support_domain::sla::CustomerTier::Enterprise),
            ..base
        },
    ]
}

fn filter(from: DateTime<Utc>, to: DateTime<Utc>) -> ReportFilter {
    ReportFilter {
        from,
        to,
        priority: None,
        category: None,
        customer_tier: None,
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn the_report_rates_the_verdicts_of_its_period(pool: PgPool) {
    let t = tickets();
    rebuild(&pool, &[&t.desk.events]).await;
    let whole = report(&pool, &filter(at(0), at(1000))).await.unwrap();
    // Met: kept × 2, reopened × 2; breached: late × 2 and cancelled's response.
    assert_eq!(
        whole.overall,
        Compliance {
            met: 4,
            breached: 3,
            compliance_rate: Some(4.0 / 7.0)
        }
    );
    assert_eq!(
        (
            whole.response.met,
            whole.response.breached,
            whole.response.open_breaches
        ),
        (2, 2, 0)
    );
    assert_eq!(
        (
            whole.resolution.compliance_rate,
            whole.resolution.open_breaches
        ),
        (Some(2.0 / 3.0), 1)
    );
    // Completed responses: 30 and 90 minutes (the cancelled one never completed).
    assert_eq!(whole.response.completed, 3);
    assert_eq!(
        whole.response.business_minutes,
        Durations {
            average: Some(52.67),
            median: Some(38.0)
        }
    );
    assert_eq!(whole.resolution.calendar_minutes.median, Some(199.0));
    assert_eq!(
        whole.breaches,
        BreachCounts {
            total: 3,
            response: 2,
            resolution: 1,
            open: 1
        }
    );
    let longest: Vec<_> = whole
        .top_breaches
        .iter()
        .map(|b| (b.ticket_id, b.breach_minutes))
        .collect();
    assert_eq!(longest, [(t.cancelled, 137.0), (t.late, 30.0)]);
    let high = &whole.by_priority[1];
    assert_eq!(
        (
            high.priority.as_str(),
            high.overall.met,
            high.overall.breached
        ),
        ("P1_HIGH", 4, 2)
    );
    let critical = &whole.by_priority[0];
    assert_eq!(
        (
            critical.resolution.breached,
            critical.overall.compliance_rate
        ),
        (1, Some(0.0))
    );
    assert_eq!(whole.by_priority[2].overall.compliance_rate, None);
    let data = whole
        .by_category
        .iter()
        .find(|c| c.category == "DATA")
        .unwrap();
    assert_eq!((data.resolution.met, data.response.met), (1, 0));

    // The period holds the verdicts at or after its start and before its end.
    let early = report(&pool, &filter(at(30), at(61))).await.unwrap();
    assert_eq!((early.overall.met, early.overall.breached), (2, 0));
    let billing = ReportFilter {
        category: Some(TicketCategory::Billing),
        ..filter(at(0), at(1000))
    };
    let billing = report(&pool, &billing).await.unwrap();
    assert_eq!((billing.overall.met, billing.overall.breached), (0, 2));
    let nothing = report(&pool, &filter(at(2000), at(3000))).await.unwrap();
    assert_eq!(nothing.overall.compliance_rate, None);
    assert_eq!(nothing.response.calendar_minutes, Durations::default());
}

/// The counts of a period of whole days, read from `sla_verdict_counts` (by the day, week or month,
/// or all three), are the counts of the verdicts themselves.
#[sqlx::test(migrations = "../migrations")]
async fn whole_days_are_counted_from_the_counts_as_from_the_verdicts(pool: PgPool) {
    rebuild(&pool, &[&tickets().desk.events]).await;
    let midnight = |day: &str| format!("{day}T00:00:00Z").parse::<DateTime<Utc>>().unwrap();
    type Line = (String, String, String, String, bool, i64);
    let periods = [
        ("2026-11-23", "2026-11-24"),
        ("2026-11-24", "2026-11-25"),
        ("2026-11-01", "2026-12-01"),
        ("2026-10-30", "2026-12-02"),
        ("2026-11-24", "2026-12-31"),
        // Weeks from Monday the 16th and the 23rd; days around them.
        ("2026-11-16", "2026-11-30"),
        ("2026-11-19", "2026-12-02"),
    ];
    let mut seen = 0;
    for (from, to) in periods {
        let base = filter(midnight(from), midnight(to));
        let filters = one_filter_each(base);
        for filter in filters {
            let days = filter.whole_days().unwrap();
            let mut rolled: Vec<Line> = query::counts_of_days("", &filter, days)
                .build_query_as()
                .fetch_all(&pool)
                .await
                .unwrap();
            let [mut counts, ..] = query::statements("", &filter);
            let mut verdicts: Vec<Line> = counts.build_query_as().fetch_all(&pool).await.unwrap();
            rolled.sort();
            verdicts.sort();
            assert_eq!(rolled, verdicts, "{filter:?}");
            seen += verdicts.len();
        }
    }
    assert!(seen > 10, "the periods hold verdicts");
    let not_whole = filter(at(0), midnight("2026-11-24"));
    assert_eq!(not_whole.whole_days(), None);
}

/// With sequential scans priced out, PostgreSQL still picks one where no index serves a query: a
/// plan without one proves that each of the report's statements, unfiltered and under each
/// filter, reads its period through an index.
#[sqlx::test(migrations = "../migrations")]
async fn every_report_filter_is_served_by_an_index(pool: PgPool) {
    let mut conn = crate::explain::pricing_out_seq_scans(&pool).await;
    let base = filter(at(0), at(1000));
    let mut filters = one_filter_each(base.clone()).to_vec();
    filters.push(ReportFilter {
        priority: Some(TicketPriority::High),
        category: Some(TicketCategory::Billing),
        customer_tier: Some(support_domain::sla::CustomerTier::Free),
        ..base
    });
    let days = Days {
        from: "2026-10-30".parse().unwrap(),
        to: "2026-12-02".parse().unwrap(),
    };
    for filter in &filters {
        let counts = query::counts_of_days("EXPLAIN ", filter, days);
        for mut statement in query::statements("EXPLAIN ", filter)
            .into_iter()
            .chain([counts])
        {
            crate::explain::assert_indexed(&mut conn, &mut statement, &format!("{filter:?}")).await;
        }
    }
}
