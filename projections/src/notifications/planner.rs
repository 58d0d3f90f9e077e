//! The notification planner: a read model of the event stream whose rows are deliveries. Each
//! planning rule turns the events of a batch into deliveries (to whom, over which channel, of
//! which kind, from when); the planner inserts them keyed by (event, recipient, channel), `ON
//! CONFLICT DO NOTHING`, so an event that comes again (redelivered, re-published, replayed)
//! never yields a second delivery. The delivery worker sends them.
//!
//! A replay (`supportd replay --projection notification_planner`) rebuilds only what the rules
//! keep to plan by (`webhook_subscriptions`); the deliveries are not among its tables, so their
//! state survives, and every event it plans again finds its row taken.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use support_domain::notification::{NotificationChannel, NotificationKind};
use support_domain::webhook::{subscribable, WebhookEndpointEvent};
use support_domain::RecordedEvent;
use uuid::Uuid;

use crate::{Projection, ProjectionError, Redacted};

pub const READ_MODEL: &str = "notification_planner";
/// Notified, with the earliest instant a new delivery is due, when a batch plans some: the
/// delivery worker sleeps until its next due row and wakes early only for an earlier one.
pub const DELIVERIES_CHANNEL: &str = "notification_deliveries";

/// The ids of deliveries are derived from their key, so the same event, recipient and channel
/// always name the same delivery.
const DELIVERY_NAMESPACE: Uuid = Uuid::from_u128(0x2f0d_61a4_77c3_4b5e_9a1e_0c8d_5b6f_4e21);

/// One delivery a rule asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedDelivery {
    pub message_id: String,
    pub event_id: Uuid,
    pub global_position: i64,
    pub event_type: String,
    pub recipient: String,
    pub channel: NotificationChannel,
    pub kind: NotificationKind,
    /// Not sent before this instant: the event's own time for "at once", later to wait for a
    /// recipient's working hours.
    pub not_before: DateTime<Utc>,
}

impl PlannedDelivery {
    /// A delivery of `event` to `recipient`, due from the moment the event happened.
    pub fn of(
        event: &RecordedEvent,
        recipient: String,
        channel: NotificationChannel,
        kind: NotificationKind,
    ) -> Self {
        Self {
            message_id: RecordedEvent::message_id(
                &event.aggregate_type,
                &event.aggregate_id,
                event.sequence,
            ),
            event_id: event.event_id,
            global_position: event.global_position,
            event_type: event.event_type.clone(),
            recipient,
            channel,
            kind,
            not_before: event.occurred_at,
        }
    }

    pub fn id(&self) -> Uuid {
        let key = format!("{}\n{}\n{}", self.message_id, self.recipient, self.channel);
        Uuid::new_v5(&DELIVERY_NAMESPACE, key.as_bytes())
    }
}

/// One reason to notify someone. A rule sees every event the planner reads, in stream order,
/// inside the planner's transaction, and may keep tables of its own to decide by (list them in
/// the planner's `tables`, so a replay rebuilds them).
#[async_trait]
pub trait PlanningRule: Send + Sync + 'static {
    async fn plan(
        &self,
        conn: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<Vec<PlannedDelivery>, ProjectionError>;
}

pub struct NotificationPlanner {
    rules: Vec<Box<dyn PlanningRule>>,
}

impl NotificationPlanner {
    /// The desk's rules: webhooks, and notices to people (`notices`). The incident rule comes
    /// after the ticket rule, which keeps the customers of the batch's new tickets first.
    pub fn standard() -> Self {
        Self {
            rules: vec![
                Box::new(WebhookRule),
                Box::new(super::notices::TicketNoticeRule),
                Box::new(super::notices::KbLowRatingRule),
                Box::new(super::notices::IncidentNoticeRule),
                Box::new(super::notices::AlertNoticeRule),
            ],
        }
    }
}

#[async_trait]
impl Projection for NotificationPlanner {
    fn name(&self) -> &'static str {
        READ_MODEL
    }

    /// Every aggregate whose events a rule plans from, or keeps its tables by. More than one, so
    /// its consumer reads the whole stream (NATS 2.9: one filter subject) and is handed these.
    fn aggregate_types(&self) -> &'static [&'static str] {
        &[
            "ticket",
            "sla_policy",
            "webhook_endpoint",
            "kb_article",
            "incident",
            "alert_rule",
        ]
    }

    /// The rules' own tables; never the deliveries (see the module's comment).
    fn tables(&self) -> &'static [&'static str] {
        &[
            "webhook_subscriptions",
            "notice_tickets",
            "notice_incidents",
            "notice_incident_tickets",
        ]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let mut planned = Vec::new();
        for rule in &self.rules {
            planned.extend(rule.plan(conn, events).await?);
        }
        insert(conn, &planned).await
    }
}

async fn insert(
    conn: &mut PgConnection,
    planned: &[PlannedDelivery],
) -> Result<(), ProjectionError> {
    let Some(earliest) = planned.iter().map(|p| p.not_before).min() else {
        return Ok(());
    };
    let mut columns = (
        Vec::with_capacity(planned.len()),
        Vec::with_capacity(planned.len()),
        Vec::with_capacity(planned.len()),
        Vec::with_capacity(planned.len()),
        Vec::with_capacity(planned.len()),
        Vec::with_capacity(planned.len()),
        Vec::with_capacity(planned.len()),
        Vec::with_capacity(planned.len()),
        Vec::with_capacity(planned.len()),
    );
    for delivery in planned {
        columns.0.push(delivery.id());
        columns.1.push(delivery.message_id.as_str());
        columns.2.push(delivery.global_position);
        columns.3.push(delivery.event_type.as_str());
        columns.4.push(delivery.recipient.as_str());
        columns.5.push(delivery.channel.as_str());
        columns.6.push(delivery.kind.as_str());
        columns.7.push(delivery.not_before);
        columns.8.push(delivery.event_id);
    }
    sqlx::query(
        "INSERT INTO notification_deliveries (id, message_id, global_position, event_type, \
             recipient, channel, kind, next_attempt_at, event_id, created_at, state) \
         SELECT d.*, d.next_attempt_at, 'PENDING' FROM unnest($1::uuid[], $2::text[], \
             $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[], \
             $9::uuid[]) \
             AS d(id, message_id, global_position, event_type, recipient, channel, kind, \
                  next_attempt_at, event_id) \
         ON CONFLICT (message_id, recipient, channel) DO NOTHING",
    )
    .bind(&columns.0)
    .bind(&columns.1)
    .bind(&columns.2)
    .bind(&columns.3)
    .bind(&columns.4)
    .bind(&columns.5)
    .bind(&columns.6)
    .bind(&columns.7)
    .bind(&columns.8)
    .execute(&mut *conn)
    .await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(DELIVERIES_CHANNEL)
        .bind(earliest.to_rfc3339())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// What the webhook rule knows of an endpoint.
#[derive(Debug, Clone, PartialEq)]
struct Subscription {
    event_types: Vec<String>,
    active: bool,
    /// The position of the event that registered it: events before it are never delivered to
    /// it, so a new endpoint (or a planner that reads the stream from its start) gets no history.
    registered_position: i64,
}

/// Delivers each subscribable event to every active endpoint subscribed to its type that was
/// registered before it. It follows the endpoints' own events in the same stream, so a batch that
/// registers an endpoint and then records an event plans that event for it.
pub struct WebhookRule;

#[async_trait]
impl PlanningRule for WebhookRule {
    async fn plan(
        &self,
        conn: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<Vec<PlannedDelivery>, ProjectionError> {
        // An endpoint list is short: all of it, once a batch.
        let rows: Vec<(Uuid, Vec<String>, bool, i64)> = sqlx::query_as(
            "SELECT endpoint_id, event_types, active, registered_position FROM webhook_subscriptions",
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut subscriptions: HashMap<Uuid, Subscription> = rows
            .into_iter()
            .map(|(id, event_types, active, registered_position)| {
                let subscription = Subscription {
                    event_types,
                    active,
                    registered_position,
                };
                (id, subscription)
            })
            .collect();
        let mut changed: Vec<Uuid> = Vec::new();
        let mut planned = Vec::new();
        for event in events {
            if event.aggregate_type == crate::notifications::endpoints::AGGREGATE_TYPE {
                let id = follow(&mut subscriptions, event)?;
                if !changed.contains(&id) {
                    changed.push(id);
                }
                continue;
            }
            if !subscribable(&event.aggregate_type, &event.event_type) {
                continue;
            }
            for (id, subscription) in &subscriptions {
                if subscription.active
                    && subscription.registered_position < event.global_position
                    && subscription.event_types.contains(&event.event_type)
                {
                    planned.push(PlannedDelivery::of(
                        event,
                        id.to_string(),
                        NotificationChannel::Webhook,
                        NotificationKind::Event,
                    ));
                }
            }
        }
        for id in changed {
            let subscription = &subscriptions[&id];
            sqlx::query(
                "INSERT INTO webhook_subscriptions \
                     (endpoint_id, event_types, active, registered_position) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (endpoint_id) DO UPDATE SET event_types = EXCLUDED.event_types, \
                     active = EXCLUDED.active",
            )
            .bind(id)
            .bind(&subscription.event_types)
            .bind(subscription.active)
            .bind(subscription.registered_position)
            .execute(&mut *conn)
            .await?;
        }
        Ok(planned)
    }
}

/// Applies an endpoint's event to what the rule knows of it; returns the endpoint's id.
fn follow(
    subscriptions: &mut HashMap<Uuid, Subscription>,
    event: &RecordedEvent,
) -> Result<Uuid, ProjectionError> {
    let endpoint_event = WebhookEndpointEvent::from_parts(&event.event_type, &event.payload)
        .map_err(|e| ProjectionError::undecodable_event(event, Redacted(&e)))?;
    let id = Uuid::parse_str(&event.aggregate_id)
        .map_err(|e| ProjectionError::undecodable_event(event, e))?;
    if let WebhookEndpointEvent::WebhookEndpointRegistered { definition, .. } = &endpoint_event {
        let subscription = Subscription {
            event_types: definition.event_types.as_slice().to_vec(),
            active: true,
            registered_position: event.global_position,
        };
        subscriptions.insert(id, subscription);
        return Ok(id);
    }
    // The framework hands an endpoint's events over in order from its registration.
    let subscription = subscriptions
        .get_mut(&id)
        .ok_or_else(|| ProjectionError::missing_row(event))?;
    match endpoint_event {
        WebhookEndpointEvent::WebhookEndpointRegistered { .. } => {}
        WebhookEndpointEvent::WebhookEndpointChanged { definition } => {
            subscription.event_types = definition.event_types.as_slice().to_vec()
        }
        WebhookEndpointEvent::WebhookEndpointDeactivated { .. } => subscription.active = false,
        WebhookEndpointEvent::WebhookEndpointReactivated {} => subscription.active = true,
    }
    Ok(id)
}

#[cfg(test)]
mod tests;
