use chrono::Duration;
use sqlx::PgPool;
use support_domain::sla::{
    default_policy, BusinessCalendar, PolicyName, TargetMinutes, WarningPercent,
};
use support_domain::{ActorRole, EventMetadata};

use super::*;

#[sqlx::test(migrations = "../migrations")]
async fn every_list_filter_and_the_active_policies_are_served_by_an_index(pool: PgPool) {
    let mut conn = crate::explain::pricing_out_seq_scans(&pool).await;
    let filters = [
        PolicyFilter::default(),
        PolicyFilter {
            priority: Some(TicketPriority::High),
            ..Default::default()
        },
        PolicyFilter {
            customer_tier: Some(CustomerTier::Enterprise),
            ..Default::default()
        },
        PolicyFilter {
            priority: Some(TicketPriority::High),
            customer_tier: Some(CustomerTier::Enterprise),
            ..Default::default()
        },
        PolicyFilter {
            active: Some(false),
            ..Default::default()
        },
        PolicyFilter {
            priority: Some(TicketPriority::Low),
            customer_tier: Some(CustomerTier::Free),
            active: Some(true),
        },
    ];
    let page = PageRequest::parse(Some(2), None, Some(10)).unwrap();
    for filter in &filters {
        for mut query in [
            count_query("EXPLAIN ", filter),
            page_query("EXPLAIN ", filter, page),
        ] {
            crate::explain::assert_indexed(&mut conn, &mut query, &format!("{filter:?}")).await;
        }
    }
    let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {ACTIVE}"))
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    let plan = plan.join("\n");
    assert!(plan.contains("sla_policies_active"), "{plan}");
}

// The tests below build policies, which need a `BusinessCalendar` (domain/src/sla/calendar.rs).

/// Policy events as the store records them, each at an instant and with an id the test chooses.
struct Store {
    events: Vec<RecordedEvent>,
    start: DateTime<Utc>,
}

impl Store {
    fn new() -> Self {
        Self {
            events: Vec::new(),
            start: "2026-11-26T08:00:00Z".parse().unwrap(),
        }
    }

    /// Records `event` of policy `id`, `minute` minutes after the start.
    fn record(&mut self, id: Uuid, minute: i64, event: SlaPolicyEvent) {
        let sequence = self
            .events
            .iter()
            .filter(|e| e.aggregate_id == id.to_string())
            .count() as i64
            + 1;
        let position = self.events.len() as i64 + 1;
        let occurred_at = self.start + Duration::minutes(minute);
        let name = event.name();
        self.events.push(RecordedEvent {
            event_id: Uuid::new_v4(),
            aggregate_type: AGGREGATE_TYPE.to_owned(),
            aggregate_id: id.to_string(),
            sequence,
            global_position: position,
            event_type: name.to_owned(),
            event_version: SlaPolicyEvent::VERSION.to_owned(),
            occurred_at,
            metadata: EventMetadata {
                actor_sub: "admin-1".to_owned(),
                actor_role: ActorRole::Admin,
                request_id: format!("r-{position}"),
                correlation_id: format!("r-{position}"),
                causation_id: None,
                occurred_at,
                source: "api".to_owned(),
            },
            payload: serde_json::to_value(&event).unwrap()[name].clone(),
        });
    }

    fn create(&mut self, id: u128, minute: i64, definition: SlaPolicyDefinition) -> Uuid {
        let id = Uuid::from_u128(id);
        let created = SlaPolicyEvent::SlaPolicyCreated {
            policy_id: id,
            definition,
        };
        self.record(id, minute, created);
        id
    }

    async fn project(&mut self, pool: &PgPool) {
        let events: Vec<&RecordedEvent> = self.events.iter().collect();
        let mut conn = pool.acquire().await.unwrap();
        SlaPoliciesProjection
            .apply(&mut conn, &events)
            .await
            .unwrap();
        self.events.clear();
    }
}

fn policy(
    name: &str,
    priority: TicketPriority,
    tier: Option<CustomerTier>,
    response: i64,
) -> SlaPolicyDefinition {
    SlaPolicyDefinition {
        name: PolicyName::parse(name).unwrap(),
        priority,
        customer_tier: tier,
        response_time_target: TargetMinutes::parse(response).unwrap(),
        resolution_time_target: TargetMinutes::parse(response * 4).unwrap(),
        response_time_warning_threshold: WarningPercent::parse(80).unwrap(),
        resolution_time_warning_threshold: WarningPercent::parse(80).unwrap(),
        calendar: BusinessCalendar::around_the_clock(chrono_tz::UTC),
        auto_escalate_on_breach: false,
        notify_on_warning: true,
        notify_on_breach: true,
    }
}

/// The terms a ticket of `priority` and `tier` gets among the active policies.
async fn matching_terms(
    pool: &PgPool,
    priority: TicketPriority,
    tier: Option<CustomerTier>,
) -> Option<support_domain::sla::SlaTerms> {
    let policies = active_policies(pool).await.unwrap();
    policies
        .matching(priority, tier)
        .map(|(terms, _)| terms.clone())
}

async fn matched(pool: &PgPool, priority: TicketPriority, tier: Option<CustomerTier>) -> String {
    matching_terms(pool, priority, tier)
        .await
        .map_or_else(|| "none".to_owned(), |t| t.policy_name.as_str().to_owned())
}

#[sqlx::test(migrations = "../migrations")]
async fn the_tiers_own_active_policy_wins_then_the_earliest_then_the_lowest_id(pool: PgPool) {
    use CustomerTier::*;
    use TicketPriority::*;
    let mut store = Store::new();
    store.create(0x90, 0, policy("P1 everyone", High, None, 60));
    // Two created in the same instant: the lower id wins; a later one loses to both.
    store.create(
        0x20,
        5,
        policy("P1 enterprise B", High, Some(Enterprise), 15),
    );
    store.create(
        0x10,
        5,
        policy("P1 enterprise A", High, Some(Enterprise), 20),
    );
    store.create(
        0x01,
        9,
        policy("P1 enterprise late", High, Some(Enterprise), 10),
    );
    // The tier's only policy is inactive: the policy for every tier applies.
    let professional = store.create(
        0x30,
        1,
        policy("P1 professional", High, Some(Professional), 30),
    );
    store.record(professional, 2, SlaPolicyEvent::SlaPolicyDeactivated {});
    // No policy for every tier: other tiers, and tickets without a tier, get none.
    store.create(0x40, 0, policy("P2 standard", Medium, Some(Standard), 120));
    store.project(&pool).await;

    assert_eq!(
        matched(&pool, High, Some(Enterprise)).await,
        "P1 enterprise A"
    );
    assert_eq!(
        matched(&pool, High, Some(Professional)).await,
        "P1 everyone"
    );
    assert_eq!(matched(&pool, High, Some(Free)).await, "P1 everyone");
    assert_eq!(matched(&pool, High, None).await, "P1 everyone");
    assert_eq!(matched(&pool, Medium, Some(Standard)).await, "P2 standard");
    assert_eq!(matched(&pool, Medium, Some(Free)).await, "none");
    assert_eq!(matched(&pool, Medium, None).await, "none");
    assert_eq!(matched(&pool, Critical, Some(Enterprise)).await, "none");

    // The terms are the policy's, under its id.
    let terms = matching_terms(&pool, High, Some(Enterprise)).await.unwrap();
    assert_eq!(terms.policy_id, Uuid::from_u128(0x10));
    assert_eq!(terms.response_time_target.get(), 20);
    assert_eq!(terms.resolution_time_target.get(), 80);

    // Deactivating the winner hands over to the next in line; reactivating takes it back.
    let winner = Uuid::from_u128(0x10);
    store.record(winner, 10, SlaPolicyEvent::SlaPolicyDeactivated {});
    store.project(&pool).await;
    assert_eq!(
        matched(&pool, High, Some(Enterprise)).await,
        "P1 enterprise B"
    );
    store.record(winner, 11, SlaPolicyEvent::SlaPolicyReactivated {});
    store.project(&pool).await;
    assert_eq!(
        matched(&pool, High, Some(Enterprise)).await,
        "P1 enterprise A"
    );

    // A revision that moves a policy to another tier moves where it matches.
    store.record(professional, 12, SlaPolicyEvent::SlaPolicyReactivated {});
    store.record(
        professional,
        13,
        SlaPolicyEvent::SlaPolicyRevised {
            definition: policy("P1 free", High, Some(Free), 30),
        },
    );
    store.project(&pool).await;
    assert_eq!(matched(&pool, High, Some(Free)).await, "P1 free");
    assert_eq!(
        matched(&pool, High, Some(Professional)).await,
        "P1 everyone"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_list_sorts_by_priority_tier_and_name_and_filters(pool: PgPool) {
    use CustomerTier::*;
    use TicketPriority::*;
    let mut store = Store::new();
    store.create(1, 0, policy("b low free", Low, Some(Free), 60));
    store.create(2, 0, policy("a low enterprise", Low, Some(Enterprise), 60));
    store.create(3, 0, policy("z low everyone", Low, None, 60));
    store.create(4, 0, policy("y critical free", Critical, Some(Free), 5));
    store.create(5, 0, policy("x low everyone", Low, None, 60));
    let revised = store.create(6, 0, default_policy(High));
    store.record(revised, 3, SlaPolicyEvent::SlaPolicyDeactivated {});
    store.project(&pool).await;

    let names = |page: &SlaPolicyPage| -> Vec<String> {
        page.items.iter().map(|p| p.name.clone()).collect()
    };
    let first = PageRequest::parse(None, None, None).unwrap();
    let all = list(&pool, &PolicyFilter::default(), first).await.unwrap();
    assert_eq!(
        names(&all),
        [
            "y critical free",
            "Default P1_HIGH",
            "x low everyone",
            "z low everyone",
            "a low enterprise",
            "b low free",
        ]
    );
    assert_eq!((all.total, all.page, all.limit), (6, 1, 20));

    let second = PageRequest::parse(Some(2), None, Some(4)).unwrap();
    let page = list(&pool, &PolicyFilter::default(), second).await.unwrap();
    assert_eq!(names(&page), ["a low enterprise", "b low free"]);
    assert_eq!((page.total, page.page, page.limit), (6, 2, 4));

    let low_free = PolicyFilter {
        priority: Some(Low),
        customer_tier: Some(Free),
        ..Default::default()
    };
    assert_eq!(
        names(&list(&pool, &low_free, first).await.unwrap()),
        ["b low free"]
    );
    let inactive = PolicyFilter {
        active: Some(false),
        ..Default::default()
    };
    let inactive = list(&pool, &inactive, first).await.unwrap();
    assert_eq!(names(&inactive), ["Default P1_HIGH"]);

    // The view: the definition's fields, its state, when it changed and its version.
    let view = &inactive.items[0];
    assert_eq!(find(&pool, revised).await.unwrap().as_ref(), Some(view));
    assert_eq!(view.priority, "P1_HIGH");
    assert_eq!(view.customer_tier, None);
    assert_eq!(
        (view.response_time_target, view.resolution_time_target),
        (60, 480)
    );
    assert_eq!(view.timezone, "UTC");
    assert!(!view.apply_business_hours_only && !view.active);
    assert_eq!(view.version, 2);
    assert_eq!(view.updated_at - view.created_at, Duration::minutes(3));
    assert_eq!(find(&pool, Uuid::from_u128(99)).await.unwrap(), None);
}
