//! How ticket events land in the tickets read model.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres};
use support_domain::sla::{AppliedSla, SlaClocks, SlaTerms};
use support_domain::ticket::{CommentVisibility, TicketContent, TicketEvent, TicketStatus};
use support_domain::{RecordedEvent, ERASED};
use uuid::Uuid;

use super::counts::CountChanges;
use super::{CommentView, TicketDetail, TicketView, AGGREGATE_TYPE, READ_MODEL};
use crate::copy_rows::copy_rows;
use crate::{Projection, ProjectionError, Redacted};

/// The `tickets` read model.
pub struct TicketsProjection;

#[async_trait]
impl Projection for TicketsProjection {
    fn name(&self) -> &'static str {
        READ_MODEL
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &[AGGREGATE_TYPE]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["tickets", "ticket_comments", "ticket_counts"]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        apply_all(conn, events).await
    }
}

/// Where one event lands: the ticket, the event's sequence and when it happened.
struct Target {
    id: Uuid,
    sequence: i64,
    at: DateTime<Utc>,
}

/// An UPDATE of the event's ticket that records the event's sequence and time.
macro_rules! advance {
    ($($set:literal)?) => {
        concat!(
            "UPDATE tickets SET version = $2, updated_at = $3", $(", ", $set,)?
            " WHERE id = $1"
        )
    };
}

fn guarded(sql: &'static str, target: &Target) -> Query<'static, Postgres, PgArguments> {
    sqlx::query(sql)
        .bind(target.id)
        .bind(target.sequence)
        .bind(target.at)
}

/// Applies a batch in a few statements whatever its size. The framework hands over each ticket's
/// events in order, once each, from the one after the row's version: so each ticket's events after
/// its opening fold into one change of its row, into the new row itself when the batch opens the
/// ticket, otherwise into one UPDATE that changes every ticket of the batch at once. Tickets are
/// independent rows, so only each ticket's own order matters. Events that do not fold (link lists,
/// which only the row's current value can apply to) are applied one by one after the rest.
async fn apply_all(
    conn: &mut PgConnection,
    events: &[&RecordedEvent],
) -> Result<(), ProjectionError> {
    let mut rows: Vec<NewRow> = Vec::new();
    let mut row_of: HashMap<Uuid, usize> = HashMap::new();
    let mut by_ticket: Vec<Vec<(TicketEvent, Target)>> = Vec::new();
    let mut events_of: HashMap<Uuid, usize> = HashMap::new();
    let mut count_changes = CountChanges::default();
    for event in events {
        let (ticket_event, target) = decode(event)?;
        count_changes.add(&ticket_event);
        if let Some(row) = NewRow::opening(&ticket_event, &target) {
            row_of.insert(target.id, rows.len());
            rows.push(row);
        } else {
            let index = *events_of.entry(target.id).or_insert_with(|| {
                by_ticket.push(Vec::new());
                by_ticket.len() - 1
            });
            by_ticket[index].push((ticket_event, target));
        }
    }

    let mut updates = Vec::new();
    let mut comments = Vec::new();
    let mut one_by_one = Vec::new();
    for events in by_ticket {
        if !events.iter().all(|(event, _)| Fold::folds(event)) {
            one_by_one.extend(events);
            continue;
        }
        let fold = Fold::of(events);
        match row_of.get(&fold.change.id) {
            Some(&index) => rows[index].absorb(&fold.change),
            None => updates.push(fold.change),
        }
        comments.extend(fold.comments);
    }
    copy_rows(conn, "tickets", &rows).await?;
    update_rows(conn, &updates).await?;
    copy_rows(conn, "ticket_comments", &comments).await?;
    for (event, target) in one_by_one {
        apply(conn, event, target).await?;
    }
    count_changes.save(conn).await?;
    Ok(())
}

fn decode(event: &RecordedEvent) -> Result<(TicketEvent, Target), ProjectionError> {
    let ticket_event = TicketEvent::from_parts(&event.event_type, &event.payload)
        .map_err(|e| ProjectionError::undecodable_event(event, Redacted(&e)))?;
    let target = Target {
        id: Uuid::parse_str(&event.aggregate_id)
            .map_err(|e| ProjectionError::undecodable_event(event, e))?,
        sequence: event.sequence,
        at: event.occurred_at,
    };
    Ok((ticket_event, target))
}

/// What a resolution becomes: resolving stamps it, closing keeps it, any other status clears it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Resolution {
    Keep,
    Set,
    Clear,
}

/// Consecutive events of one ticket as one change of its row, as `jsonb_to_recordset` reads it.
/// `None` leaves a column as it is.
#[derive(Serialize)]
struct FoldedChange {
    id: Uuid,
    /// The version the row is at: the sequence just before the first folded event.
    follows: i64,
    version: i64,
    updated_at: DateTime<Utc>,
    title: Option<String>,
    description: Option<String>,
    priority: Option<&'static str>,
    category: Option<&'static str>,
    tags: Option<Vec<String>>,
    affected_systems: Option<Vec<String>>,
    /// Whether `assigned_to` changes, to an agent or to nobody.
    reassigned: bool,
    assigned_to: Option<String>,
    status: Option<&'static str>,
    resolution: Resolution,
    resolved_at: Option<DateTime<Utc>>,
    resolution_note: Option<String>,
    response_at: Option<DateTime<Utc>>,
    escalation_level: Option<i32>,
    closed_at: Option<DateTime<Utc>>,
    /// Whether `customer_tier` changes, to a tier or to none.
    retiered: bool,
    customer_tier: Option<&'static str>,
    /// The terms of a policy applied in the fold, if one was.
    sla_terms: Option<SlaTerms>,
    #[serde(flatten)]
    clocks: Option<SlaColumns>,
}

/// The columns the SLA clocks set, from the clocks as an SLA event leaves them.
#[derive(Debug, Clone, Serialize)]
struct SlaColumns {
    sla_clocks: SlaClocks,
    sla_state: &'static str,
    response_deadline: Option<DateTime<Utc>>,
    resolution_deadline: Option<DateTime<Utc>>,
    response_due_at: Option<DateTime<Utc>>,
    resolution_due_at: Option<DateTime<Utc>>,
    sla_breached: bool,
}

impl SlaColumns {
    fn of(clocks: SlaClocks) -> Self {
        // A deadline is due only while its clock runs toward it.
        let due = |clock: &support_domain::sla::SlaClock| {
            clock
                .deadline
                .filter(|_| clock.state == support_domain::sla::ClockState::Running)
        };
        Self {
            sla_state: clocks.summary().as_str(),
            response_deadline: clocks.response.deadline,
            resolution_deadline: clocks.resolution.deadline,
            response_due_at: due(&clocks.response),
            resolution_due_at: due(&clocks.resolution),
            sla_breached: clocks.breached(),
            sla_clocks: clocks,
        }
    }
}

/// A comment row, its fields named as the table's columns.
#[derive(Serialize)]
struct CommentRow {
    id: Uuid,
    ticket_id: Uuid,
    author_sub: String,
    author_role: &'static str,
    body: String,
    visibility: &'static str,
    created_at: DateTime<Utc>,
}

impl CommentRow {
    fn into_view(self) -> CommentView {
        CommentView {
            id: self.id,
            author_sub: self.author_sub,
            author_role: self.author_role.to_owned(),
            body: self.body,
            visibility: self.visibility.to_owned(),
            created_at: self.created_at,
        }
    }
}

struct Fold {
    change: FoldedChange,
    comments: Vec<CommentRow>,
}

impl Fold {
    /// Whether the event folds into a change of the row: not an opening, not an edit of a list
    /// of links, which only the row's current value can apply to, and not an erasure, which
    /// reaches rows of other tables made before the batch.
    fn folds(event: &TicketEvent) -> bool {
        !matches!(
            event,
            TicketEvent::TicketOpened { .. }
                | TicketEvent::TicketRelatedTicketLinked { .. }
                | TicketEvent::TicketRelatedTicketUnlinked { .. }
                | TicketEvent::TicketIncidentLinked { .. }
                | TicketEvent::TicketIncidentUnlinked { .. }
                | TicketEvent::PersonalDataErased { .. }
        )
    }

    /// One ticket's consecutive events, at least one, each of which `folds`, as one change.
    fn of(events: Vec<(TicketEvent, Target)>) -> Self {
        let mut events = events.into_iter();
        let (first, target) = events.next().expect("a ticket's events are never none");
        let mut fold = Fold::starting_at(&target);
        fold.add(first, &target);
        for (event, target) in events {
            fold.add(event, &target);
        }
        fold
    }

    fn starting_at(first: &Target) -> Self {
        Fold {
            change: FoldedChange {
                id: first.id,
                follows: first.sequence - 1,
                version: first.sequence,
                updated_at: first.at,
                title: None,
                description: None,
                priority: None,
                category: None,
                tags: None,
                affected_systems: None,
                reassigned: false,
                assigned_to: None,
                status: None,
                resolution: Resolution::Keep,
                resolved_at: None,
                resolution_note: None,
                response_at: None,
                escalation_level: None,
                closed_at: None,
                retiered: false,
                customer_tier: None,
                sla_terms: None,
                clocks: None,
            },
            comments: Vec::new(),
        }
    }

    /// Folds in the next event, one that `folds`.
    fn add(&mut self, event: TicketEvent, target: &Target) {
        let change = &mut self.change;
        change.version = target.sequence;
        change.updated_at = target.at;
        match event {
            TicketEvent::TicketRetitled { title } => change.title = Some(title.as_str().to_owned()),
            TicketEvent::TicketDescriptionChanged { description } => {
                change.description = Some(description.as_str().to_owned())
            }
            TicketEvent::TicketReprioritized { to, .. } => change.priority = Some(to.as_str()),
            TicketEvent::TicketRecategorized { to, .. } => change.category = Some(to.as_str()),
            TicketEvent::TicketTagsChanged { tags } => change.tags = Some(tags.as_slice().to_vec()),
            TicketEvent::TicketAffectedSystemsChanged { affected_systems } => {
                change.affected_systems = Some(affected_systems.as_slice().to_vec())
            }
            TicketEvent::TicketAssigned { assignee, .. } => {
                change.reassigned = true;
                change.assigned_to = Some(assignee.as_str().to_owned());
            }
            TicketEvent::TicketUnassigned { .. } => {
                change.reassigned = true;
                change.assigned_to = None;
            }
            TicketEvent::TicketStatusChanged { to, note, .. } => {
                change.status = Some(to.as_str());
                if to.is_final() {
                    change.closed_at = Some(target.at);
                }
                match to {
                    TicketStatus::Resolved => {
                        change.resolution = Resolution::Set;
                        change.resolved_at = Some(target.at);
                        change.resolution_note = note.map(|n| n.as_str().to_owned());
                    }
                    TicketStatus::Closed => {}
                    _ => {
                        change.resolution = Resolution::Clear;
                        change.resolved_at = None;
                        change.resolution_note = None;
                    }
                }
            }
            TicketEvent::TicketCommentAdded {
                comment_id,
                author,
                body,
                visibility,
            } => self.comments.push(CommentRow {
                id: comment_id,
                ticket_id: target.id,
                author_sub: author.sub,
                author_role: author.role.as_str(),
                body: body.as_str().to_owned(),
                visibility: visibility.as_str(),
                created_at: target.at,
            }),
            TicketEvent::TicketFirstResponseRecorded { .. } => change.response_at = Some(target.at),
            TicketEvent::TicketEscalated { level, .. } => {
                change.escalation_level = Some(level as i32)
            }
            TicketEvent::TicketCustomerTierChanged { to, .. } => {
                change.retiered = true;
                change.customer_tier = to.map(|t| t.as_str());
            }
            TicketEvent::SlaPolicyApplied { terms, clocks, .. } => {
                change.sla_terms = Some(terms);
                change.clocks = Some(SlaColumns::of(clocks));
            }
            // The hold shows in the clocks, which the SLA events that follow it carry; the rating
            // in the `ticket_satisfaction` read model.
            TicketEvent::TicketHeldByIncident { .. }
            | TicketEvent::TicketReleasedByIncident {}
            | TicketEvent::TicketSatisfactionRated { .. } => {}
            TicketEvent::SlaClocksPaused { clocks, .. }
            | TicketEvent::SlaClocksResumed { clocks, .. }
            | TicketEvent::SlaClockCompleted { clocks, .. }
            | TicketEvent::SlaClockRestarted { clocks, .. }
            | TicketEvent::SlaClocksStopped { clocks }
            | TicketEvent::SlaWarningReached { clocks, .. }
            | TicketEvent::SlaBreached { clocks, .. } => {
                change.clocks = Some(SlaColumns::of(clocks))
            }
            TicketEvent::TicketOpened { .. }
            | TicketEvent::TicketRelatedTicketLinked { .. }
            | TicketEvent::TicketRelatedTicketUnlinked { .. }
            | TicketEvent::TicketIncidentLinked { .. }
            | TicketEvent::TicketIncidentUnlinked { .. }
            | TicketEvent::PersonalDataErased { .. } => {
                unreachable!("{} does not fold", event.name())
            }
        }
    }
}

/// Makes every folded change in one statement. Each row is at the version its change follows (the
/// framework guards that); one that is not means the read model lost an event: an error.
async fn update_rows(
    conn: &mut PgConnection,
    changes: &[FoldedChange],
) -> Result<(), ProjectionError> {
    if changes.is_empty() {
        return Ok(());
    }
    let updated: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE tickets AS t SET version = c.version, updated_at = c.updated_at, \
             title = coalesce(c.title, t.title), \
             description = coalesce(c.description, t.description), \
             priority = coalesce(c.priority, t.priority), \
             category = coalesce(c.category, t.category), \
             tags = coalesce(c.tags, t.tags), \
             affected_systems = coalesce(c.affected_systems, t.affected_systems), \
             assigned_to = CASE WHEN c.reassigned THEN c.assigned_to ELSE t.assigned_to END, \
             status = coalesce(c.status, t.status), \
             resolved_at = CASE c.resolution WHEN 'keep' THEN t.resolved_at ELSE c.resolved_at END, \
             resolution_note = CASE c.resolution WHEN 'keep' THEN t.resolution_note \
                 ELSE c.resolution_note END, \
             response_at = coalesce(c.response_at, t.response_at), \
             escalation_level = coalesce(c.escalation_level, t.escalation_level), \
             closed_at = coalesce(c.closed_at, t.closed_at), \
             customer_tier = CASE WHEN c.retiered THEN c.customer_tier ELSE t.customer_tier END, \
             sla_id = coalesce((c.sla_terms ->> 'policyId')::uuid, t.sla_id), \
             sla_state = CASE WHEN c.sla_clocks IS NULL THEN t.sla_state ELSE c.sla_state END, \
             response_deadline = CASE WHEN c.sla_clocks IS NULL THEN t.response_deadline \
                 ELSE c.response_deadline END, \
             resolution_deadline = CASE WHEN c.sla_clocks IS NULL THEN t.resolution_deadline \
                 ELSE c.resolution_deadline END, \
             response_due_at = CASE WHEN c.sla_clocks IS NULL THEN t.response_due_at \
                 ELSE c.response_due_at END, \
             resolution_due_at = CASE WHEN c.sla_clocks IS NULL THEN t.resolution_due_at \
                 ELSE c.resolution_due_at END, \
             sla_breached = coalesce(c.sla_breached, t.sla_breached), \
             sla = CASE WHEN c.sla_clocks IS NULL THEN t.sla ELSE jsonb_build_object( \
                 'terms', coalesce(c.sla_terms, t.sla -> 'terms'), 'clocks', c.sla_clocks) END \
         FROM jsonb_to_recordset($1) AS c(id uuid, follows bigint, version bigint, \
             updated_at timestamptz, title text, description text, priority text, category text, \
             tags text[], affected_systems text[], reassigned boolean, assigned_to text, \
             status text, resolution text, resolved_at timestamptz, resolution_note text, \
             response_at timestamptz, escalation_level integer, closed_at timestamptz, \
             retiered boolean, customer_tier text, sla_terms jsonb, sla_clocks jsonb, \
             sla_state text, response_deadline timestamptz, resolution_deadline timestamptz, \
             response_due_at timestamptz, resolution_due_at timestamptz, sla_breached boolean) \
         WHERE t.id = c.id AND t.version = c.follows \
         RETURNING t.id",
    )
    .bind(Json(changes))
    .fetch_all(&mut *conn)
    .await?;
    if updated.len() == changes.len() {
        return Ok(());
    }
    let lost = changes
        .iter()
        .find(|c| !updated.contains(&c.id))
        .expect("fewer rows updated than changes");
    Err(ProjectionError::OutOfOrder {
        aggregate: AGGREGATE_TYPE.to_owned(),
        id: lost.id.to_string(),
        current: None,
        sequence: lost.follows + 1,
    })
}

/// A new row, its fields named as the table's columns: the ticket as opened, and as the events
/// that follow in the same batch leave it.
#[derive(Serialize)]
struct NewRow {
    id: Uuid,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    ticket_number: String,
    title: String,
    description: String,
    priority: &'static str,
    status: &'static str,
    category: &'static str,
    channel: &'static str,
    customer_id: Option<String>,
    customer_name: Option<String>,
    customer_email: Option<String>,
    assigned_to: Option<String>,
    resolved_at: Option<DateTime<Utc>>,
    resolution_note: Option<String>,
    response_at: Option<DateTime<Utc>>,
    escalation_level: i32,
    affected_systems: Vec<String>,
    tags: Vec<String>,
    suggested_articles_seen: Vec<Uuid>,
    created_by: String,
    closed_at: Option<DateTime<Utc>>,
    customer_tier: Option<&'static str>,
    sla_id: Option<Uuid>,
    sla_state: Option<&'static str>,
    response_deadline: Option<DateTime<Utc>>,
    resolution_deadline: Option<DateTime<Utc>>,
    response_due_at: Option<DateTime<Utc>>,
    resolution_due_at: Option<DateTime<Utc>>,
    sla_breached: bool,
    /// `AppliedSla` as JSON text, which COPY takes for a jsonb column.
    sla: Option<String>,
}

impl NewRow {
    /// The row as the API shows it, with the link lists the row leaves to `apply`.
    fn into_view(self, related_tickets: Vec<Uuid>, related_incidents: Vec<Uuid>) -> TicketView {
        let NewRow {
            id,
            version,
            created_at,
            updated_at,
            ticket_number,
            title,
            description,
            priority,
            status,
            category,
            channel,
            customer_id,
            customer_name,
            customer_email,
            assigned_to,
            resolved_at,
            resolution_note,
            response_at,
            escalation_level,
            affected_systems,
            tags,
            suggested_articles_seen,
            created_by,
            closed_at: _,
            customer_tier,
            sla_id,
            sla_state,
            response_deadline,
            resolution_deadline,
            response_due_at: _,
            resolution_due_at: _,
            sla_breached,
            sla,
        } = self;
        TicketView {
            id,
            ticket_number,
            title,
            description,
            priority: priority.to_owned(),
            status: status.to_owned(),
            category: category.to_owned(),
            channel: channel.to_owned(),
            customer_id,
            customer_name,
            customer_email,
            assigned_to,
            customer_tier: customer_tier.map(str::to_owned),
            sla_id,
            sla_state: sla_state.map(str::to_owned),
            response_deadline,
            resolution_deadline,
            sla_breached,
            sla: sla
                .map(|text| Json(serde_json::from_str(&text).expect("written from AppliedSla"))),
            sla_clocks: None,
            response_at,
            resolved_at,
            resolution_note,
            escalation_level,
            related_tickets,
            related_incidents,
            tags,
            affected_systems,
            suggested_articles_seen,
            created_by,
            created_at,
            updated_at,
            version,
        }
    }

    /// The row a ticket's opening writes; `None` for any other event.
    fn opening(event: &TicketEvent, target: &Target) -> Option<Self> {
        let TicketEvent::TicketOpened {
            ticket_number,
            content,
            suggested_articles_seen,
            created_by,
            sla,
            ..
        } = event
        else {
            return None;
        };
        let TicketContent {
            title,
            description,
            priority,
            category,
            channel,
            customer,
            customer_tier,
            affected_systems,
            tags,
        } = content;
        let (customer_id, customer_name, customer_email) = customer
            .as_ref()
            .map(|c| (Some(c.id.clone()), c.name.clone(), c.email.clone()))
            .unwrap_or_default();
        let mut row = Self {
            id: target.id,
            version: target.sequence,
            created_at: target.at,
            updated_at: target.at,
            ticket_number: ticket_number.as_str().to_owned(),
            title: title.as_str().to_owned(),
            description: description.as_str().to_owned(),
            priority: priority.as_str(),
            status: TicketStatus::Open.as_str(),
            category: category.as_str(),
            channel: channel.as_str(),
            customer_id,
            customer_name,
            customer_email,
            assigned_to: None,
            resolved_at: None,
            resolution_note: None,
            response_at: None,
            escalation_level: 0,
            affected_systems: affected_systems.as_slice().to_vec(),
            tags: tags.as_slice().to_vec(),
            suggested_articles_seen: suggested_articles_seen.as_slice().to_vec(),
            created_by: created_by.clone(),
            closed_at: None,
            customer_tier: customer_tier.map(|t| t.as_str()),
            sla_id: None,
            sla_state: None,
            response_deadline: None,
            resolution_deadline: None,
            response_due_at: None,
            resolution_due_at: None,
            sla_breached: false,
            sla: None,
        };
        if let Some(sla) = sla {
            let clocks = sla.clocks();
            row.set_sla(sla.terms.clone(), &SlaColumns::of(clocks));
        }
        Some(row)
    }

    /// Replaces its personal fields with the erased marker, as `apply` does in SQL.
    fn erase(&mut self) {
        let erased = || ERASED.to_owned();
        self.title = erased();
        self.description = erased();
        for field in [
            &mut self.customer_name,
            &mut self.customer_email,
            &mut self.resolution_note,
        ] {
            if field.is_some() {
                *field = Some(erased());
            }
        }
    }

    /// Takes in a change that follows this row's version, as `update_rows` would make it.
    fn absorb(&mut self, change: &FoldedChange) {
        fn take<T: Clone>(column: &mut T, value: &Option<T>) {
            if let Some(value) = value {
                *column = value.clone();
            }
        }
        self.version = change.version;
        self.updated_at = change.updated_at;
        take(&mut self.title, &change.title);
        take(&mut self.description, &change.description);
        take(&mut self.priority, &change.priority);
        take(&mut self.category, &change.category);
        take(&mut self.tags, &change.tags);
        take(&mut self.affected_systems, &change.affected_systems);
        if change.reassigned {
            self.assigned_to = change.assigned_to.clone();
        }
        take(&mut self.status, &change.status);
        if change.resolution != Resolution::Keep {
            self.resolved_at = change.resolved_at;
            self.resolution_note = change.resolution_note.clone();
        }
        if change.response_at.is_some() {
            self.response_at = change.response_at;
        }
        take(&mut self.escalation_level, &change.escalation_level);
        if change.closed_at.is_some() {
            self.closed_at = change.closed_at;
        }
        if change.retiered {
            self.customer_tier = change.customer_tier;
        }
        if let Some(columns) = &change.clocks {
            let terms = match &change.sla_terms {
                Some(terms) => terms.clone(),
                None => {
                    let applied: AppliedSla = serde_json::from_str(
                        self.sla.as_deref().expect("clocks follow their policy"),
                    )
                    .expect("written from AppliedSla");
                    applied.terms
                }
            };
            self.set_sla(terms, columns);
        }
    }

    /// Sets the SLA columns to a policy's terms and its clocks' columns.
    fn set_sla(&mut self, terms: SlaTerms, columns: &SlaColumns) {
        self.sla_id = Some(terms.policy_id);
        self.sla_state = Some(columns.sla_state);
        self.response_deadline = columns.response_deadline;
        self.resolution_deadline = columns.resolution_deadline;
        self.response_due_at = columns.response_due_at;
        self.resolution_due_at = columns.resolution_due_at;
        self.sla_breached = columns.sla_breached;
        let applied = AppliedSla {
            terms,
            clocks: columns.sla_clocks.clone(),
        };
        self.sla = Some(serde_json::to_string(&applied).expect("AppliedSla serializes"));
    }
}

/// The ticket as its events leave it, with the comments `include_internal` lets through, folded in
/// memory as the projector writes it: the opening's new row, which each later event's change
/// is absorbed into. Given the events up to an instant, the ticket as it stood then; `None`
/// without events.
pub fn fold_detail(
    events: &[RecordedEvent],
    include_internal: bool,
) -> Result<Option<TicketDetail>, ProjectionError> {
    let mut events = events.iter();
    let Some(first) = events.next() else {
        return Ok(None);
    };
    let (opening, target) = decode(first)?;
    let Some(mut row) = NewRow::opening(&opening, &target) else {
        return Err(ProjectionError::undecodable_event(
            first,
            "a ticket's first event is its opening",
        ));
    };
    let (mut related_tickets, mut related_incidents) = (Vec::new(), Vec::new());
    let mut comments = Vec::new();
    for recorded in events {
        let (event, target) = decode(recorded)?;
        if Fold::folds(&event) {
            let fold = Fold::of(vec![(event, target)]);
            row.absorb(&fold.change);
            comments.extend(fold.comments);
            continue;
        }
        row.version = target.sequence;
        row.updated_at = target.at;
        // As `apply` edits the link lists: `array_append`, and `array_remove` of every copy.
        match event {
            TicketEvent::TicketRelatedTicketLinked { related_ticket_id } => {
                related_tickets.push(related_ticket_id)
            }
            TicketEvent::TicketRelatedTicketUnlinked { related_ticket_id } => {
                related_tickets.retain(|id| *id != related_ticket_id)
            }
            TicketEvent::TicketIncidentLinked { incident_id } => {
                related_incidents.push(incident_id)
            }
            TicketEvent::TicketIncidentUnlinked { incident_id } => {
                related_incidents.retain(|id| *id != incident_id)
            }
            // As `apply` scrubs the row and its comments.
            TicketEvent::PersonalDataErased { .. } => {
                row.erase();
                for comment in &mut comments {
                    comment.body = ERASED.to_owned();
                }
            }
            _ => {
                return Err(ProjectionError::undecodable_event(
                    recorded,
                    "a ticket is opened only once",
                ))
            }
        }
    }
    comments.retain(|c| include_internal || c.visibility == CommentVisibility::Public.as_str());
    // In the order `find_detail` reads them.
    comments.sort_by_key(|c| (c.created_at, c.id));
    Ok(Some(TicketDetail {
        ticket: row.into_view(related_tickets, related_incidents),
        comments: Json(comments.into_iter().map(CommentRow::into_view).collect()),
    }))
}

/// Applies one event on its own: to a ticket whose batch edits a list of links or erases. Openings
/// are never among them: they make new rows.
async fn apply(
    conn: &mut PgConnection,
    ticket_event: TicketEvent,
    target: Target,
) -> Result<(), ProjectionError> {
    // An event that folds changes the row as a fold of one: the same statement as in a batch.
    if Fold::folds(&ticket_event) {
        let fold = Fold::of(vec![(ticket_event, target)]);
        update_rows(conn, std::slice::from_ref(&fold.change)).await?;
        return copy_rows(conn, "ticket_comments", &fold.comments).await;
    }
    let update = match ticket_event {
        TicketEvent::TicketRelatedTicketLinked { related_ticket_id } => guarded(
            advance!("related_tickets = array_append(related_tickets, $4)"),
            &target,
        )
        .bind(related_ticket_id),
        TicketEvent::TicketRelatedTicketUnlinked { related_ticket_id } => guarded(
            advance!("related_tickets = array_remove(related_tickets, $4)"),
            &target,
        )
        .bind(related_ticket_id),
        TicketEvent::TicketIncidentLinked { incident_id } => guarded(
            advance!("related_incidents = array_append(related_incidents, $4)"),
            &target,
        )
        .bind(incident_id),
        TicketEvent::TicketIncidentUnlinked { incident_id } => guarded(
            advance!("related_incidents = array_remove(related_incidents, $4)"),
            &target,
        )
        .bind(incident_id),
        // The same marker a replay reads once the key is gone, so both give the same rows.
        TicketEvent::PersonalDataErased { .. } => {
            sqlx::query("UPDATE ticket_comments SET body = $2 WHERE ticket_id = $1")
                .bind(target.id)
                .bind(ERASED)
                .execute(&mut *conn)
                .await?;
            guarded(
                advance!(
                    "title = $4, description = $4, \
                     customer_name = CASE WHEN customer_name IS NOT NULL THEN $4 END, \
                     customer_email = CASE WHEN customer_email IS NOT NULL THEN $4 END, \
                     resolution_note = CASE WHEN resolution_note IS NOT NULL THEN $4 END, \
                     personal_data_erased_at = $3"
                ),
                &target,
            )
            .bind(ERASED)
        }
        folded => unreachable!("{} folds", folded.name()),
    };
    expect_row(update.execute(&mut *conn).await?, &target)
}

/// The framework hands over each ticket's events in order from its opening, so a change that finds
/// no row means the read model lost it: an error, never a silent skip.
fn expect_row(done: sqlx::postgres::PgQueryResult, target: &Target) -> Result<(), ProjectionError> {
    if done.rows_affected() == 1 {
        return Ok(());
    }
    Err(ProjectionError::OutOfOrder {
        aggregate: AGGREGATE_TYPE.to_owned(),
        id: target.id.to_string(),
        current: None,
        sequence: target.sequence,
    })
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use sqlx::PgPool;
    use support_domain::ticket::{
        AgentId, CommentBody, CommentVisibility, Customer, Labels, Reason, TicketCategory,
        TicketChannel, TicketContent, TicketDescription, TicketNumber, TicketPriority, TicketTitle,
    };
    use support_domain::{Actor, ActorRole, EventMetadata};

    use super::*;
    use crate::read_model::apply_batches;
    use crate::tickets::{find_detail, Snapshot, TicketKey, TicketScope};

    /// Builds each ticket's events as the store records them, in an interleaved global order.
    struct Stream {
        events: Vec<RecordedEvent>,
        start: DateTime<Utc>,
    }

    impl Stream {
        fn record(&mut self, id: Uuid, event: TicketEvent) {
            let sequence = self
                .events
                .iter()
                .filter(|e| e.aggregate_id == id.to_string())
                .count() as i64
                + 1;
            let position = self.events.len() as i64 + 1;
            let occurred_at = self.start + Duration::minutes(position);
            let name = event.name();
            self.events.push(RecordedEvent {
                event_id: Uuid::new_v4(),
                aggregate_type: AGGREGATE_TYPE.to_owned(),
                aggregate_id: id.to_string(),
                sequence,
                global_position: position,
                event_type: name.to_owned(),
                event_version: TicketEvent::VERSION.to_owned(),
                occurred_at,
                metadata: EventMetadata {
                    actor_sub: "agent-1".to_owned(),
                    actor_role: ActorRole::Agent,
                    request_id: format!("r-{position}"),
                    correlation_id: format!("r-{position}"),
                    causation_id: None,
                    occurred_at,
                    source: "api".to_owned(),
                },
                payload: serde_json::to_value(&event).unwrap()[name].clone(),
            });
        }

        fn open(&mut self, n: u64) -> Uuid {
            let id = Uuid::new_v4();
            self.record(
                id,
                TicketEvent::TicketOpened {
                    ticket_id: id,
                    ticket_number: TicketNumber::new(self.start.date_naive(), n),
                    content: TicketContent {
                        title: TicketTitle::parse(&format!("Ticket {n}")).unwrap(),
                        description: TicketDescription::parse("It broke").unwrap(),
                        priority: TicketPriority::Medium,
                        category: TicketCategory::Technical,
                        channel: TicketChannel::Email,
                        customer: Some(Customer::parse("c-1", Some("Ann"), None).unwrap()),
                        customer_tier: None,
                        affected_systems: Labels::default(),
                        tags: Labels::default(),
                    },
                    suggested_articles_seen: Default::default(),
                    created_by: "c-1".to_owned(),
                    sla: None,
                },
            );
            id
        }
    }

    fn status(from: TicketStatus, to: TicketStatus, note: Option<&str>) -> TicketEvent {
        TicketEvent::TicketStatusChanged {
            from,
            to,
            note: note.map(|n| Reason::parse(n).unwrap()),
        }
    }

    fn assign(agent: &str) -> TicketEvent {
        TicketEvent::TicketAssigned {
            assignee: AgentId::parse(agent).unwrap(),
            previous_assignee: None,
        }
    }

    /// Tickets that together meet every kind of event, interleaved, some opened before the
    /// batches that change them.
    fn stream() -> Stream {
        use TicketStatus::*;
        let mut s = Stream {
            events: Vec::new(),
            start: "2026-11-26T08:00:00Z".parse().unwrap(),
        };
        let (a, b, c) = (s.open(1), s.open(2), s.open(3));
        s.record(a, assign("agent-1"));
        s.record(
            b,
            TicketEvent::TicketRetitled {
                title: TicketTitle::parse("Retitled").unwrap(),
            },
        );
        s.record(a, status(Open, Assigned, None));
        s.record(
            c,
            TicketEvent::TicketRelatedTicketLinked {
                related_ticket_id: a,
            },
        );
        s.record(a, status(Assigned, InProgress, None));
        s.record(
            b,
            TicketEvent::TicketCommentAdded {
                comment_id: Uuid::new_v4(),
                author: Actor {
                    sub: "agent-1".into(),
                    role: ActorRole::Agent,
                },
                body: CommentBody::parse("Looking").unwrap(),
                visibility: CommentVisibility::Public,
            },
        );
        s.record(
            b,
            TicketEvent::TicketFirstResponseRecorded {
                comment_id: Uuid::new_v4(),
                responder: "agent-1".into(),
            },
        );
        s.record(a, status(InProgress, Resolved, Some("Fixed")));
        s.record(c, TicketEvent::TicketIncidentLinked { incident_id: b });
        s.record(
            c,
            TicketEvent::TicketCommentAdded {
                comment_id: Uuid::new_v4(),
                author: Actor {
                    sub: "agent-1".into(),
                    role: ActorRole::Agent,
                },
                body: CommentBody::parse("Same cause as the outage").unwrap(),
                visibility: CommentVisibility::Internal,
            },
        );
        let d = s.open(4);
        s.record(
            d,
            TicketEvent::TicketTagsChanged {
                tags: Labels::parse(&["vip".into()]).unwrap(),
            },
        );
        s.record(a, status(Resolved, Closed, None));
        s.record(
            b,
            TicketEvent::TicketEscalated {
                level: 1,
                reason: Reason::parse("Angry").unwrap(),
                trigger: support_domain::escalation::EscalationTrigger::Manual,
                recipients: Default::default(),
                ladder: None,
                round: 1,
                next_level_at: None,
            },
        );
        s.record(d, assign("agent-2"));
        s.record(d, status(Open, Assigned, None));
        s.record(
            d,
            TicketEvent::TicketUnassigned {
                previous_assignee: AgentId::parse("agent-2").unwrap(),
            },
        );
        s.record(d, status(Assigned, Open, None));
        s.record(
            b,
            TicketEvent::TicketReprioritized {
                from: TicketPriority::Medium,
                to: TicketPriority::Critical,
            },
        );
        s.record(
            c,
            TicketEvent::TicketRelatedTicketUnlinked {
                related_ticket_id: a,
            },
        );
        let e = s.open(5);
        s.record(e, assign("agent-3"));
        s.record(e, status(Open, Resolved, Some("Duplicate")));
        s.record(e, status(Resolved, Open, None));
        s
    }

    async fn apply_in(pool: &PgPool, batches: &[&[RecordedEvent]]) -> Result<(), ProjectionError> {
        apply_batches(pool, std::sync::Arc::new(TicketsProjection), batches).await
    }

    async fn rebuild(pool: &PgPool, batches: &[&[RecordedEvent]]) -> Snapshot {
        sqlx::raw_sql(
            "DELETE FROM tickets; DELETE FROM ticket_comments; DELETE FROM ticket_counts; \
             DELETE FROM projection_positions",
        )
        .execute(pool)
        .await
        .unwrap();
        apply_in(pool, batches).await.unwrap();
        Snapshot::take(pool).await.unwrap()
    }

    /// Folding is only a way of making many changes at once: the rows must come out exactly as
    /// when every event is applied alone, however the stream is cut into batches and even when
    /// batches are delivered again (the framework's guard drops what was applied).
    #[sqlx::test(migrations = "../migrations")]
    async fn a_batch_leaves_the_rows_as_its_events_applied_one_by_one(pool: PgPool) {
        let events = stream().events;
        let alone: Vec<&[RecordedEvent]> = events.chunks(1).collect();
        let expected = rebuild(&pool, &alone).await;
        assert_eq!(expected.tickets.len(), 5);
        assert_eq!(
            expected.tickets[0]["version"].as_i64().map(|v| v > 1),
            Some(true)
        );

        let whole = rebuild(&pool, &[&events]).await;
        assert_eq!(whole, expected, "one batch");
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
    }

    /// Folded in memory, a ticket's events give the ticket the read model shows after them, at
    /// every point of the stream: a ticket as of an instant is the projection's, not a copy of it.
    #[sqlx::test(migrations = "../migrations")]
    async fn a_tickets_events_fold_into_the_ticket_the_read_model_shows(pool: PgPool) {
        let events = stream().events;
        for end in 1..=events.len() {
            rebuild(&pool, &[&events[..end]]).await;
            let ids: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM tickets")
                .fetch_all(&pool)
                .await
                .unwrap();
            for id in ids {
                let own: Vec<RecordedEvent> = events[..end]
                    .iter()
                    .filter(|e| e.aggregate_id == id.to_string())
                    .cloned()
                    .collect();
                for include_internal in [true, false] {
                    let projected = find_detail(
                        &pool,
                        &TicketKey::Id(id),
                        &TicketScope::Everything,
                        include_internal,
                    )
                    .await
                    .unwrap();
                    assert_eq!(
                        fold_detail(&own, include_internal).unwrap(),
                        projected,
                        "{id} after {end} events, internal notes: {include_internal}"
                    );
                }
            }
        }
        assert_eq!(fold_detail(&[], true).unwrap(), None);
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn a_batch_with_a_missing_event_fails(pool: PgPool) {
        let events = stream().events;
        let first_a = &events[0];
        let later_a: Vec<RecordedEvent> = events
            .iter()
            .filter(|e| e.aggregate_id == first_a.aggregate_id && e.sequence >= 3)
            .cloned()
            .collect();
        let error = apply_in(&pool, &[&events[..1], &later_a])
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                ProjectionError::OutOfOrder {
                    current: Some(1),
                    sequence: 3,
                    ..
                }
            ),
            "{error:?}"
        );
    }
}
