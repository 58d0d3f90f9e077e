//! What a read model is to the framework that feeds it, and the registry of them all.

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::PgConnection;
use support_domain::RecordedEvent;

use crate::ProjectionError;

/// One read model. The framework hands it only events of the aggregates it reads, in order, each
/// exactly once per aggregate sequence (see `read_model::apply_batch`): it needs no guard of its own.
#[async_trait]
pub trait Projection: Send + Sync + 'static {
    /// Names its consumer, its lock, its checkpoint and its dead letters.
    fn name(&self) -> &'static str;

    /// The aggregate types whose events build it; a view may read several.
    fn aggregate_types(&self) -> &'static [&'static str];

    /// Applies events inside the caller's transaction, in the order given.
    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError>;

    /// The tables it owns, which a replay builds afresh and swaps in (see `rebuild.rs`).
    fn tables(&self) -> &'static [&'static str];

    fn reads(&self, aggregate_type: &str) -> bool {
        self.aggregate_types().contains(&aggregate_type)
    }
}

/// Every read model the service runs: the runner, replay, dead letters and read-your-writes all
/// find them here, so adding one is one `with`.
#[derive(Clone, Default)]
pub struct Projections(Vec<Arc<dyn Projection>>);

impl Projections {
    pub fn with(mut self, projection: impl Projection) -> Self {
        self.0.push(Arc::new(projection));
        self
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn Projection>> {
        self.0.iter()
    }

    /// The read models as their consumers feed them: those of the same aggregate types together,
    /// in the order they were added.
    pub fn groups(&self) -> Vec<ReadModelGroup> {
        let mut groups: Vec<ReadModelGroup> = Vec::new();
        for projection in &self.0 {
            match groups
                .iter_mut()
                .find(|g| g.aggregate_types() == projection.aggregate_types())
            {
                Some(group) => group.0.push(projection.clone()),
                None => groups.push(ReadModelGroup(vec![projection.clone()])),
            }
        }
        groups
    }

    pub fn find(&self, name: &str) -> Result<Arc<dyn Projection>, String> {
        self.0
            .iter()
            .find(|p| p.name() == name)
            .cloned()
            .ok_or_else(|| {
                let known: Vec<_> = self.0.iter().map(|p| p.name()).collect();
                format!(
                    "unknown read model {name:?}: known are {}",
                    known.join(", ")
                )
            })
    }
}

/// Read models of the same aggregate types, fed by one consumer: each batch is delivered, decoded
/// and opened once and applied to all of them in one transaction. Every read model of a ticket
/// event would otherwise pay for its own delivery, acknowledgement, opening of sealed fields and
/// commit. Each keeps its own lock, positions, checkpoint, dead letters and replay.
#[derive(Clone)]
pub struct ReadModelGroup(Vec<Arc<dyn Projection>>);

impl ReadModelGroup {
    /// A group of one read model, or of several that read the same aggregate types.
    pub fn of(members: Vec<Arc<dyn Projection>>) -> Self {
        assert!(
            members
                .iter()
                .all(|m| m.aggregate_types() == members[0].aggregate_types()),
            "a group's read models read the same aggregate types"
        );
        Self(members)
    }

    /// Its first read model's name, which names its worker (`projection-<name>`).
    pub fn name(&self) -> &'static str {
        self.0[0].name()
    }

    /// The durable consumer's name: every member's, so that a read model joining the group starts
    /// a consumer from the stream's beginning, which it reads in full while the others skip what
    /// they applied.
    pub fn consumer(&self) -> String {
        let names: Vec<&str> = self.0.iter().map(|m| m.name()).collect();
        names.join("+")
    }

    pub fn members(&self) -> &[Arc<dyn Projection>] {
        &self.0
    }

    pub fn aggregate_types(&self) -> &'static [&'static str] {
        self.0[0].aggregate_types()
    }
}

/// The read models of the support desk.
pub fn standard() -> Projections {
    Projections::default()
        .with(crate::tickets::TicketsProjection)
        .with(crate::sla::timers::SlaTimersProjection)
        .with(crate::sla::policies::SlaPoliciesProjection)
        .with(crate::sla::report::SlaReportProjection)
        .with(crate::analytics::AnalyticsProjection)
        .with(crate::nps::NpsResponsesProjection)
        .with(crate::alerts::AlertRulesProjection)
        .with(crate::escalation::EscalationPoliciesProjection)
        .with(crate::kb::KbArticlesProjection)
        .with(crate::kb::KbRatingsProjection)
        .with(crate::incidents::IncidentsProjection)
        .with(crate::incidents::holds::IncidentHoldsProjection)
        .with(crate::status_page::StatusPageProjection)
        .with(crate::notifications::endpoints::WebhookEndpointsProjection)
        .with(crate::notifications::planner::NotificationPlanner::standard())
        .with(crate::notification_preferences::NotificationPreferencesProjection)
}
