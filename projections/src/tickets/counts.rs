//! `ticket_counts`, part of the tickets read model: how many tickets it holds, in all and for each
//! value of each filter a list can take alone. The events carry what they change from and to, so
//! a batch moves the counters without reading the rows, in one statement of its transaction.

use std::collections::HashMap;

use sqlx::PgConnection;
use support_domain::sla::ClockKind;
use support_domain::ticket::{TicketEvent, TicketStatus};

/// How a batch moves the counters.
#[derive(Default)]
pub(super) struct CountChanges(HashMap<(&'static str, String), i64>);

impl CountChanges {
    fn moves(&mut self, dimension: &'static str, value: impl Into<String>, by: i64) {
        *self.0.entry((dimension, value.into())).or_default() += by;
    }

    fn assignee(&mut self, assignee: Option<&str>, by: i64) {
        match assignee {
            Some(agent) => self.moves("assigned_to", agent, by),
            None => self.moves("unassigned", "", by),
        }
    }

    pub(super) fn add(&mut self, event: &TicketEvent) {
        match event {
            TicketEvent::TicketOpened { content, .. } => {
                self.moves("all", "", 1);
                self.moves("status", TicketStatus::Open.as_str(), 1);
                self.moves("priority", content.priority.as_str(), 1);
                self.moves("category", content.category.as_str(), 1);
                self.moves("channel", content.channel.as_str(), 1);
                self.assignee(None, 1);
                self.moves("sla_breached", "false", 1);
                if let Some(customer) = &content.customer {
                    self.moves("customer_id", customer.id.as_str(), 1);
                }
            }
            TicketEvent::TicketStatusChanged { from, to, .. } => {
                self.moves("status", from.as_str(), -1);
                self.moves("status", to.as_str(), 1);
            }
            TicketEvent::TicketReprioritized { from, to } => {
                self.moves("priority", from.as_str(), -1);
                self.moves("priority", to.as_str(), 1);
            }
            TicketEvent::TicketRecategorized { from, to } => {
                self.moves("category", from.as_str(), -1);
                self.moves("category", to.as_str(), 1);
            }
            TicketEvent::TicketAssigned {
                assignee,
                previous_assignee,
            } => {
                self.assignee(previous_assignee.as_ref().map(|a| a.as_str()), -1);
                self.assignee(Some(assignee.as_str()), 1);
            }
            TicketEvent::TicketUnassigned { previous_assignee } => {
                self.assignee(Some(previous_assignee.as_str()), -1);
                self.assignee(None, 1);
            }
            // The ticket's first breach: the other clock had not breached before this one did.
            TicketEvent::SlaBreached { clock, clocks, .. } => {
                let other = match clock {
                    ClockKind::Response => &clocks.resolution,
                    ClockKind::Resolution => &clocks.response,
                };
                if other.breached_at.is_none() {
                    self.moves("sla_breached", "false", -1);
                    self.moves("sla_breached", "true", 1);
                }
            }
            // Its search text changed: a list by search text may now match fewer tickets.
            TicketEvent::TicketRetitled { .. } => self.moves("rewritten", "", 1),
            _ => {}
        }
    }

    pub(super) async fn save(self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        let (mut dimensions, mut values, mut changes) = (Vec::new(), Vec::new(), Vec::new());
        for ((dimension, value), change) in self.0 {
            if change != 0 {
                dimensions.push(dimension);
                values.push(value);
                changes.push(change);
            }
        }
        if changes.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO ticket_counts (dimension, value, tickets) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) \
             ON CONFLICT (dimension, value) DO UPDATE \
             SET tickets = ticket_counts.tickets + EXCLUDED.tickets",
        )
        .bind(&dimensions)
        .bind(&values)
        .bind(&changes)
        .execute(conn)
        .await?;
        Ok(())
    }
}
