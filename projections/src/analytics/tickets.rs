//! What each ticket event measures. `TicketRecord` is what the read model remembers of a ticket;
//! `TicketRecord::apply` folds one event into it and says what it measured (`Measure`) and how
//! the backlog moved (`BacklogMove`). Pure: the projection reads and writes the rows around it.
//! docs/analytics.md defines each figure by the events that start and stop it.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use support_domain::sla::BusinessCalendar;
use support_domain::ticket::{CommentVisibility, TicketEvent, TicketStatus};
use support_domain::ActorRole;

/// A figure the read model measures. Each is counted per day and hour; those with a duration
/// keep its sum and histogram too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Figure {
    TicketsCreated,
    /// Tickets whose customer was shown knowledge base articles before opening them.
    TicketsCreatedAfterArticles,
    /// Each resolution, with the full resolution time (opening to this resolution).
    TicketsResolved,
    TicketsReopened,
    TicketsCancelled,
    TicketsAssigned,
    FirstReply,
    NextReply,
    RequesterWait,
    AgentWork,
    /// A ticket's first resolution, whatever came after.
    FirstResolutions,
    /// A first resolution after exactly one public staff reply, withdrawn if the ticket reopens.
    OneTouchResolutions,
    /// A resolution of a ticket with a customer, who is invited to rate it.
    CsatSurveys,
    /// A resolution rated with this score (1 to 5), at the rating; a rating replaced is
    /// withdrawn where it was filed.
    CsatScore(u8),
}

/// The names of `Figure::CsatScore(1..=5)`.
const CSAT_SCORES: [&str; 5] = ["CSAT_1", "CSAT_2", "CSAT_3", "CSAT_4", "CSAT_5"];

impl Figure {
    pub const ALL: &'static [Figure] = &[
        Figure::TicketsCreated,
        Figure::TicketsCreatedAfterArticles,
        Figure::TicketsResolved,
        Figure::TicketsReopened,
        Figure::TicketsCancelled,
        Figure::TicketsAssigned,
        Figure::FirstReply,
        Figure::NextReply,
        Figure::RequesterWait,
        Figure::AgentWork,
        Figure::FirstResolutions,
        Figure::OneTouchResolutions,
        Figure::CsatSurveys,
        Figure::CsatScore(1),
        Figure::CsatScore(2),
        Figure::CsatScore(3),
        Figure::CsatScore(4),
        Figure::CsatScore(5),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Figure::TicketsCreated => "TICKETS_CREATED",
            Figure::TicketsCreatedAfterArticles => "TICKETS_CREATED_AFTER_ARTICLES",
            Figure::TicketsResolved => "TICKETS_RESOLVED",
            Figure::TicketsReopened => "TICKETS_REOPENED",
            Figure::TicketsCancelled => "TICKETS_CANCELLED",
            Figure::TicketsAssigned => "TICKETS_ASSIGNED",
            Figure::FirstReply => "FIRST_REPLY",
            Figure::NextReply => "NEXT_REPLY",
            Figure::RequesterWait => "REQUESTER_WAIT",
            Figure::AgentWork => "AGENT_WORK",
            Figure::FirstResolutions => "FIRST_RESOLUTIONS",
            Figure::OneTouchResolutions => "ONE_TOUCH_RESOLUTIONS",
            Figure::CsatSurveys => "CSAT_SURVEYS",
            Figure::CsatScore(score) => CSAT_SCORES[usize::from(score.clamp(1, 5)) - 1],
        }
    }

    pub fn parse(text: &str) -> Option<Figure> {
        Figure::ALL.iter().copied().find(|f| f.as_str() == text)
    }
}

/// Which part of the desk a figure is filed under: the whole desk, or the tickets of one value of
/// one dimension as they stood at the measure.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Slice {
    pub dimension: Dimension,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Dimension {
    All,
    Priority,
    Category,
    Channel,
    CustomerTier,
    Agent,
}

impl Dimension {
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::All => "all",
            Dimension::Priority => "priority",
            Dimension::Category => "category",
            Dimension::Channel => "channel",
            Dimension::CustomerTier => "customerTier",
            Dimension::Agent => "agent",
        }
    }
}

impl Slice {
    pub fn all() -> Self {
        Slice::of(Dimension::All, "")
    }

    pub fn of(dimension: Dimension, value: &str) -> Self {
        Slice {
            dimension,
            value: value.to_owned(),
        }
    }
}

/// A duration measured both ways, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Span {
    /// On the wall clock.
    pub calendar: f64,
    /// In the ticket's business calendar (its SLA policy's; every instant without a policy).
    pub business: f64,
}

impl Span {
    fn add(&mut self, other: Span) {
        self.calendar += other.calendar;
        self.business += other.business;
    }
}

/// A figure measured once (`times` 1) or withdrawn (`times` -1) at `at`, under `slices`.
#[derive(Debug, Clone, PartialEq)]
pub struct Measure {
    pub figure: Figure,
    pub at: DateTime<Utc>,
    pub slices: Vec<Slice>,
    pub times: i32,
    pub span: Option<Span>,
}

/// Tickets of the day `opened_on` entering (`moves` > 0) or leaving the backlog of `slice` on
/// `day`.
#[derive(Debug, Clone, PartialEq)]
pub struct BacklogMove {
    pub slice: Slice,
    pub day: NaiveDate,
    pub opened_on: NaiveDate,
    pub moves: i32,
}

/// What an event measured.
#[derive(Debug, Default, PartialEq)]
pub struct Measured {
    pub measures: Vec<Measure>,
    pub backlog: Vec<BacklogMove>,
}

/// The statuses in which the customer waits for the desk (requester wait time).
const REQUESTER_WAITS: &[TicketStatus] = &[
    TicketStatus::Open,
    TicketStatus::Assigned,
    TicketStatus::InProgress,
    TicketStatus::WaitingInternal,
];
/// The statuses in which the ticket waits for its agent (agent work time): not for the customer,
/// nor another team.
const AGENT_WORKS: &[TicketStatus] = &[
    TicketStatus::Open,
    TicketStatus::Assigned,
    TicketStatus::InProgress,
];

/// What the read model remembers of a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketRecord {
    opened_at: DateTime<Utc>,
    priority: String,
    category: String,
    channel: String,
    customer_tier: Option<String>,
    assignee: Option<String>,
    /// The calendar of the ticket's SLA policy; none without a policy.
    calendar: Option<BusinessCalendar>,
    status: TicketStatus,
    status_since: DateTime<Utc>,
    requester_wait: Span,
    agent_work: Span,
    first_reply_at: Option<DateTime<Utc>>,
    /// Since when a customer's public comment waits for a staff reply.
    awaiting_reply_since: Option<DateTime<Utc>>,
    public_staff_replies: u32,
    reopened: bool,
    /// Where the first resolution was filed as one-touch, to withdraw it if the ticket reopens.
    one_touch: Option<(DateTime<Utc>, Vec<Slice>)>,
    has_customer: bool,
    /// The customer's rating of a resolution and where it was filed, to withdraw it if replaced.
    rating: Option<Rating>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rating {
    resolution: u32,
    score: u8,
    at: DateTime<Utc>,
    slices: Vec<Slice>,
}

impl TicketRecord {
    /// The record of a ticket `TicketOpened` opens at `at`, and what the opening measured.
    pub fn opened(event: &TicketEvent, at: DateTime<Utc>) -> Option<(Self, Measured)> {
        let TicketEvent::TicketOpened {
            content,
            sla,
            suggested_articles_seen,
            ..
        } = event
        else {
            return None;
        };
        let record = TicketRecord {
            opened_at: at,
            priority: content.priority.as_str().to_owned(),
            category: content.category.as_str().to_owned(),
            channel: content.channel.as_str().to_owned(),
            customer_tier: content.customer_tier.map(|t| t.as_str().to_owned()),
            assignee: None,
            calendar: sla.as_ref().map(|sla| sla.terms.calendar.clone()),
            status: TicketStatus::Open,
            status_since: at,
            requester_wait: Span::default(),
            agent_work: Span::default(),
            first_reply_at: None,
            awaiting_reply_since: None,
            public_staff_replies: 0,
            reopened: false,
            one_touch: None,
            has_customer: content.customer.is_some(),
            rating: None,
        };
        let mut measured = Measured::default();
        record.measure(&mut measured, Figure::TicketsCreated, at, None);
        if !suggested_articles_seen.is_empty() {
            record.measure(&mut measured, Figure::TicketsCreatedAfterArticles, at, None);
        }
        record.enter_backlog(&mut measured, at, 1);
        Some((record, measured))
    }

    /// Folds a later event of the ticket, recorded at `at`.
    pub fn apply(&mut self, event: &TicketEvent, at: DateTime<Utc>) -> Measured {
        let mut measured = Measured::default();
        match event {
            TicketEvent::TicketReprioritized { to, .. } => {
                self.move_slice(&mut measured, at, Dimension::Priority, Some(to.as_str()));
                self.priority = to.as_str().to_owned();
            }
            TicketEvent::TicketRecategorized { to, .. } => {
                self.move_slice(&mut measured, at, Dimension::Category, Some(to.as_str()));
                self.category = to.as_str().to_owned();
            }
            TicketEvent::TicketCustomerTierChanged { to, .. } => {
                let to = to.map(|t| t.as_str());
                self.move_slice(&mut measured, at, Dimension::CustomerTier, to);
                self.customer_tier = to.map(str::to_owned);
            }
            TicketEvent::TicketAssigned { assignee, .. } => {
                self.move_slice(&mut measured, at, Dimension::Agent, Some(assignee.as_str()));
                self.assignee = Some(assignee.as_str().to_owned());
                self.measure(&mut measured, Figure::TicketsAssigned, at, None);
            }
            TicketEvent::TicketUnassigned { .. } => {
                self.move_slice(&mut measured, at, Dimension::Agent, None);
                self.assignee = None;
            }
            TicketEvent::SlaPolicyApplied { terms, .. } => {
                // Time so far counts in the calendar it ran under.
                self.count_status_time(at);
                self.calendar = Some(terms.calendar.clone());
            }
            TicketEvent::TicketCommentAdded {
                author, visibility, ..
            } if *visibility == CommentVisibility::Public => {
                if author.role == ActorRole::Customer {
                    self.awaiting_reply_since.get_or_insert(at);
                } else if author.role.is_staff() {
                    self.public_staff_replies += 1;
                    let awaiting = self.awaiting_reply_since.take();
                    // The first reply is a figure of its own, recorded next.
                    if let (Some(since), Some(_)) = (awaiting, self.first_reply_at) {
                        let span = self.span(since, at);
                        self.measure(&mut measured, Figure::NextReply, at, Some(span));
                    }
                }
            }
            TicketEvent::TicketFirstResponseRecorded { .. } => {
                self.first_reply_at = Some(at);
                let span = self.span(self.opened_at, at);
                self.measure(&mut measured, Figure::FirstReply, at, Some(span));
            }
            TicketEvent::TicketStatusChanged { from, to, .. } => {
                self.count_status_time(at);
                self.status = *to;
                self.status_changed(&mut measured, *from, *to, at);
            }
            TicketEvent::TicketSatisfactionRated {
                resolution, score, ..
            } => {
                if let Some(replaced) = self.rating.take().filter(|r| r.resolution == *resolution) {
                    measured.measures.push(Measure {
                        figure: Figure::CsatScore(replaced.score),
                        at: replaced.at,
                        slices: replaced.slices,
                        times: -1,
                        span: None,
                    });
                }
                self.measure(&mut measured, Figure::CsatScore(score.get()), at, None);
                self.rating = Some(Rating {
                    resolution: *resolution,
                    score: score.get(),
                    at,
                    slices: self.slices(),
                });
            }
            _ => {}
        }
        measured
    }

    fn status_changed(
        &mut self,
        measured: &mut Measured,
        from: TicketStatus,
        to: TicketStatus,
        at: DateTime<Utc>,
    ) {
        match to {
            TicketStatus::Resolved => {
                if self.has_customer {
                    self.measure(measured, Figure::CsatSurveys, at, None);
                }
                self.enter_backlog(measured, at, -1);
                let resolution = self.span(self.opened_at, at);
                self.measure(measured, Figure::TicketsResolved, at, Some(resolution));
                let (wait, work) = (self.requester_wait, self.agent_work);
                self.measure(measured, Figure::RequesterWait, at, Some(wait));
                self.measure(measured, Figure::AgentWork, at, Some(work));
                if !self.reopened {
                    self.measure(measured, Figure::FirstResolutions, at, None);
                    if self.public_staff_replies == 1 {
                        self.measure(measured, Figure::OneTouchResolutions, at, None);
                        self.one_touch = Some((at, self.slices()));
                    }
                }
            }
            TicketStatus::Cancelled => {
                self.enter_backlog(measured, at, -1);
                self.measure(measured, Figure::TicketsCancelled, at, None);
            }
            _ if from == TicketStatus::Resolved && to != TicketStatus::Closed => {
                self.reopened = true;
                self.enter_backlog(measured, at, 1);
                self.measure(measured, Figure::TicketsReopened, at, None);
                if let Some((resolved_at, slices)) = self.one_touch.take() {
                    measured.measures.push(Measure {
                        figure: Figure::OneTouchResolutions,
                        at: resolved_at,
                        slices,
                        times: -1,
                        span: None,
                    });
                }
            }
            _ => {}
        }
    }

    /// Adds the time since the last change of status to the figures its status counts for.
    fn count_status_time(&mut self, at: DateTime<Utc>) {
        let span = self.span(self.status_since, at);
        if REQUESTER_WAITS.contains(&self.status) {
            self.requester_wait.add(span);
        }
        if AGENT_WORKS.contains(&self.status) {
            self.agent_work.add(span);
        }
        self.status_since = at;
    }

    fn span(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Span {
        let calendar = seconds((to - from).max(chrono::TimeDelta::zero()));
        let business = match &self.calendar {
            Some(hours) => seconds(hours.counted_between(from, to)),
            None => calendar,
        };
        Span { calendar, business }
    }

    fn is_open(&self) -> bool {
        !matches!(
            self.status,
            TicketStatus::Resolved | TicketStatus::Closed | TicketStatus::Cancelled
        )
    }

    /// The slices the ticket is filed under now.
    fn slices(&self) -> Vec<Slice> {
        let mut slices = vec![
            Slice::all(),
            Slice::of(Dimension::Priority, &self.priority),
            Slice::of(Dimension::Category, &self.category),
            Slice::of(Dimension::Channel, &self.channel),
        ];
        if let Some(tier) = &self.customer_tier {
            slices.push(Slice::of(Dimension::CustomerTier, tier));
        }
        if let Some(agent) = &self.assignee {
            slices.push(Slice::of(Dimension::Agent, agent));
        }
        slices
    }

    fn value(&self, dimension: Dimension) -> Option<&str> {
        match dimension {
            Dimension::All => Some(""),
            Dimension::Priority => Some(&self.priority),
            Dimension::Category => Some(&self.category),
            Dimension::Channel => Some(&self.channel),
            Dimension::CustomerTier => self.customer_tier.as_deref(),
            Dimension::Agent => self.assignee.as_deref(),
        }
    }

    fn measure(
        &self,
        measured: &mut Measured,
        figure: Figure,
        at: DateTime<Utc>,
        span: Option<Span>,
    ) {
        measured.measures.push(Measure {
            figure,
            at,
            slices: self.slices(),
            times: 1,
            span,
        });
    }

    /// The ticket enters (1) or leaves (-1) the backlog of every slice it is filed under.
    fn enter_backlog(&self, measured: &mut Measured, at: DateTime<Utc>, moves: i32) {
        for slice in self.slices() {
            self.backlog_move(measured, at, slice, moves);
        }
    }

    /// An open ticket whose `dimension` changes to `to` leaves the old value's backlog for the
    /// new one's.
    fn move_slice(
        &self,
        measured: &mut Measured,
        at: DateTime<Utc>,
        dimension: Dimension,
        to: Option<&str>,
    ) {
        let from = self.value(dimension);
        if !self.is_open() || from == to {
            return;
        }
        if let Some(from) = from {
            self.backlog_move(measured, at, Slice::of(dimension, from), -1);
        }
        if let Some(to) = to {
            self.backlog_move(measured, at, Slice::of(dimension, to), 1);
        }
    }

    fn backlog_move(&self, measured: &mut Measured, at: DateTime<Utc>, slice: Slice, moves: i32) {
        measured.backlog.push(BacklogMove {
            slice,
            day: at.date_naive(),
            opened_on: self.opened_at.date_naive(),
            moves,
        });
    }
}

fn seconds(time: chrono::TimeDelta) -> f64 {
    time.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6
}
