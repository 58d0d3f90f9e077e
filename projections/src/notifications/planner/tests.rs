//! The webhook rule against the real database: who gets which event, once.

use chrono::Duration;
use sqlx::PgPool;
use support_domain::ticket::{AgentId, TicketEvent};
use support_domain::webhook::{
    EventTypes, SigningSecret, WebhookDefinition, WebhookEndpointEvent, WebhookUrl,
};

use super::*;

/// Events as the store records them, in the order the test records them.
#[derive(Default)]
struct Stream(Vec<RecordedEvent>);

impl Stream {
    fn record(&mut self, aggregate_type: &str, id: Uuid, name: &str, payload: serde_json::Value) {
        let sequence = self
            .0
            .iter()
            .filter(|e| e.aggregate_id == id.to_string())
            .count() as i64
            + 1;
        let position = self.0.len() as i64 + 1;
        let occurred_at =
            "2026-11-26T08:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::minutes(position);
        // As the bus carries it (docs/events.md).
        let envelope = serde_json::json!({
            "eventId": Uuid::new_v4(), "aggregateType": aggregate_type, "aggregateId": id,
            "sequence": sequence, "globalPosition": position, "eventType": name,
            "eventVersion": "1", "occurredAt": occurred_at,
            "metadata": {"actorSub": "admin-1", "actorRole": "admin", "requestId": "r",
                         "correlationId": "r", "occurredAt": occurred_at, "source": "api"},
            "payload": payload,
        });
        self.0.push(serde_json::from_value(envelope).unwrap());
    }

    fn endpoint(&mut self, id: Uuid, event: WebhookEndpointEvent) {
        let name = event.name();
        let payload = serde_json::to_value(&event).unwrap()[name].clone();
        self.record("webhook_endpoint", id, name, payload);
    }

    fn register(&mut self, id: Uuid, types: &[&str]) {
        let types: Vec<String> = types.iter().map(|t| (*t).to_owned()).collect();
        self.endpoint(
            id,
            WebhookEndpointEvent::WebhookEndpointRegistered {
                endpoint_id: id,
                definition: WebhookDefinition {
                    url: WebhookUrl::parse("https://hooks.example.com/a").unwrap(),
                    event_types: EventTypes::parse(&types).unwrap(),
                    description: None,
                },
                secret: SigningSecret::new("whsec_x".to_owned()),
            },
        );
    }

    fn assign(&mut self, ticket: Uuid) {
        let event = TicketEvent::TicketAssigned {
            assignee: AgentId::parse("agent-7").unwrap(),
            previous_assignee: None,
        };
        let payload = serde_json::to_value(&event).unwrap()["TicketAssigned"].clone();
        self.record("ticket", ticket, "TicketAssigned", payload);
    }

    async fn plan(&self, pool: &PgPool) {
        self.plan_from(pool, 0).await
    }

    /// Plans the events from the `from`th on, as a batch of their own.
    async fn plan_from(&self, pool: &PgPool, from: usize) {
        let events: Vec<&RecordedEvent> = self.0[from..].iter().collect();
        let mut tx = pool.begin().await.unwrap();
        // The webhook rule alone: the rule for people plans for these tickets too.
        let planner = NotificationPlanner {
            rules: vec![Box::new(WebhookRule)],
        };
        planner.apply(&mut tx, &events).await.unwrap();
        tx.commit().await.unwrap();
    }
}

async fn deliveries(pool: &PgPool) -> Vec<(String, String, String, DateTime<Utc>)> {
    sqlx::query_as(
        "SELECT message_id, recipient, state, next_attempt_at FROM notification_deliveries \
         ORDER BY global_position, recipient",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn an_event_goes_once_to_each_active_endpoint_subscribed_to_it_since_before_it(pool: PgPool) {
    let (early, late, other, quiet) = (
        Uuid::from_u128(1),
        Uuid::from_u128(2),
        Uuid::from_u128(3),
        Uuid::from_u128(4),
    );
    let (before, after) = (Uuid::from_u128(10), Uuid::from_u128(11));
    let mut stream = Stream::default();
    stream.register(early, &["TicketAssigned"]);
    stream.register(other, &["TicketOpened"]);
    stream.register(quiet, &["TicketAssigned"]);
    stream.endpoint(
        quiet,
        WebhookEndpointEvent::WebhookEndpointDeactivated { reason: None },
    );
    stream.assign(before);
    stream.register(late, &["TicketAssigned", "TicketOpened"]);
    stream.assign(after);
    stream.plan(&pool).await;

    let planned = deliveries(&pool).await;
    let at = |position: i64| {
        "2026-11-26T08:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::minutes(position)
    };
    assert_eq!(
        planned,
        [
            (
                format!("ticket:{before}:1"),
                early.to_string(),
                "PENDING".to_owned(),
                at(5)
            ),
            (
                format!("ticket:{after}:1"),
                early.to_string(),
                "PENDING".to_owned(),
                at(7)
            ),
            (
                format!("ticket:{after}:1"),
                late.to_string(),
                "PENDING".to_owned(),
                at(7)
            ),
        ],
        "the endpoint registered after the first assignment gets only the second"
    );

    // The same events planned again (a replay, positions lost): nothing new.
    sqlx::query("DELETE FROM webhook_subscriptions")
        .execute(&pool)
        .await
        .unwrap();
    stream.plan(&pool).await;
    assert_eq!(deliveries(&pool).await, planned);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_changed_filter_and_a_reactivation_count_from_their_event_on(pool: PgPool) {
    let endpoint = Uuid::from_u128(1);
    let ticket = Uuid::from_u128(10);
    let mut stream = Stream::default();
    stream.register(endpoint, &["TicketOpened"]);
    stream.assign(ticket);
    stream.endpoint(
        endpoint,
        WebhookEndpointEvent::WebhookEndpointChanged {
            definition: WebhookDefinition {
                url: WebhookUrl::parse("https://hooks.example.com/b").unwrap(),
                event_types: EventTypes::parse(&["TicketAssigned".to_owned()]).unwrap(),
                description: None,
            },
        },
    );
    stream.endpoint(
        endpoint,
        WebhookEndpointEvent::WebhookEndpointDeactivated {
            reason: Some(support_domain::ticket::Reason::parse("410").unwrap()),
        },
    );
    stream.assign(ticket);
    stream.plan(&pool).await;
    assert!(deliveries(&pool).await.is_empty());

    // In a batch of its own: what the rule keeps between batches is its table.
    let planned_before = stream.0.len();
    stream.endpoint(
        endpoint,
        WebhookEndpointEvent::WebhookEndpointReactivated {},
    );
    stream.assign(ticket);
    stream.plan_from(&pool, planned_before).await;
    let planned = deliveries(&pool).await;
    assert_eq!(planned.len(), 1, "{planned:?}");
    assert_eq!(planned[0].0, format!("ticket:{ticket}:3"));
}
