//! Paging through ticket lists over HTTP: cursors, how deep page numbers reach, exact and
//! estimated totals.

mod common;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use common::{spawn_app, ticket_body, TestApp};
use serde_json::{json, Value};
use sqlx::PgPool;
use support_domain::ActorRole;
use supportd::clock::Clock;

const TICKETS: &str = "/api/v1/support/tickets";

/// A clock that moves on one second every third reading, so that some tickets share their
/// creation time and only their ids can order them.
struct CoarseClock {
    start: DateTime<Utc>,
    readings: AtomicI64,
}

impl Clock for CoarseClock {
    fn now(&self) -> DateTime<Utc> {
        let reading = self.readings.fetch_add(1, Ordering::SeqCst);
        self.start + Duration::seconds(reading / 3)
    }
}

/// 24 tickets of three customers, every third one P1_HIGH; agent-1 has four, agent-2 three.
async fn desk(pool: PgPool) -> TestApp {
    // Without the SLA timer, whose readings would spread the tickets' times.
    let app = common::spawn_app_without_sla_timer(pool, |settings| {
        settings.clock = Arc::new(CoarseClock {
            start: "2026-11-26T08:00:00Z".parse().unwrap(),
            readings: AtomicI64::new(0),
        });
    })
    .await;
    let admin = app.admin();
    for n in 0..24 {
        let mut body = ticket_body(&format!("Ticket {n}"), &format!("customer-{}", n % 3));
        body["priority"] = json!(if n % 3 == 0 { "P1_HIGH" } else { "P3_LOW" });
        let ticket = app.open_ticket(&admin, body).await;
        let assignee = match n % 8 {
            1 | 4 => Some("agent-1"),
            6 => Some("agent-2"),
            _ => None,
        };
        if let Some(agent) = assignee {
            let path = format!("{TICKETS}/{}", ticket["id"].as_str().unwrap());
            let response = app.put(&path, &admin, json!({"assignedTo": agent})).await;
            assert_eq!(response.status(), 200);
        }
    }
    let tied: bool =
        sqlx::query_scalar("SELECT count(DISTINCT created_at) < count(*) FROM tickets")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(tied, "some tickets share their creation time");
    app
}

/// The ids the list should show, in its order, straight from the table.
async fn expected(app: &TestApp, condition: &str) -> Vec<String> {
    sqlx::query_scalar(&format!(
        "SELECT id::text FROM tickets WHERE {condition} ORDER BY created_at DESC, id DESC"
    ))
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

/// A list's `total` and `totalIsEstimate`, as `query` (after `?`, or empty) answers them.
async fn total_of(app: &TestApp, token: &str, query: &str) -> (Value, Value) {
    let page: Value = app.get_json(&format!("{TICKETS}{query}"), token).await;
    (page["total"].clone(), page["totalIsEstimate"].clone())
}

/// Follows `nextCursor` from the first page to the last and returns the ids seen, checking each
/// page's bookkeeping on the way.
async fn walk(app: &TestApp, token: &str, filters: &str, total: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut path = format!("{TICKETS}?limit=4{filters}");
    let mut first = true;
    loop {
        let page: Value = app.get_json(&path, token).await;
        assert_eq!(page["total"], total, "{path}");
        assert_eq!(page["totalIsEstimate"], false, "{path}");
        assert_eq!(page["limit"], 4);
        assert_eq!(page["page"], if first { json!(1) } else { Value::Null });
        let items = page["items"].as_array().unwrap();
        ids.extend(items.iter().map(|t| t["id"].as_str().unwrap().to_owned()));
        match page["nextCursor"].as_str() {
            Some(cursor) => {
                assert_eq!(items.len(), 4, "only the last page may be short");
                path = format!("{TICKETS}?limit=4&cursor={cursor}{filters}");
                first = false;
            }
            None => return ids,
        }
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn cursors_walk_every_ticket_once_in_order(pool: PgPool) {
    let app = desk(pool).await;
    let admin = app.admin();

    // 24 tickets in pages of 4: the sixth page is full and the last, so it has no nextCursor.
    let everything = expected(&app, "true").await;
    assert_eq!(everything.len(), 24);
    assert_eq!(walk(&app, &admin, "", 24).await, everything);

    let high = expected(&app, "priority = 'P1_HIGH'").await;
    assert_eq!(high.len(), 8);
    assert_eq!(walk(&app, &admin, "&priority=P1_HIGH", 8).await, high);

    let filtered = expected(&app, "customer_id = 'customer-1' AND status = 'OPEN'").await;
    assert_eq!(
        walk(
            &app,
            &admin,
            "&customerId=customer-1&status=OPEN",
            filtered.len()
        )
        .await,
        filtered
    );

    // The agent's queue merges two index scans: their own tickets and the unassigned ones.
    let queue = expected(&app, "assigned_to = 'agent-1' OR assigned_to IS NULL").await;
    assert_eq!(queue.len(), 24 - 3);
    let agent = app.token(ActorRole::Agent, "agent-1");
    assert_eq!(walk(&app, &agent, "", queue.len()).await, queue);
    let queue_high = expected(
        &app,
        "(assigned_to = 'agent-1' OR assigned_to IS NULL) AND priority = 'P1_HIGH'",
    )
    .await;
    assert_eq!(
        walk(&app, &agent, "&priority=P1_HIGH", queue_high.len()).await,
        queue_high
    );

    // Page numbers and cursors agree: page 2 is what the first page's cursor leads to.
    let first: Value = app.get_json(&format!("{TICKETS}?limit=4"), &admin).await;
    let by_cursor: Value = app
        .get_json(
            &format!(
                "{TICKETS}?limit=4&cursor={}",
                first["nextCursor"].as_str().unwrap()
            ),
            &admin,
        )
        .await;
    let by_number: Value = app
        .get_json(&format!("{TICKETS}?limit=4&page=2"), &admin)
        .await;
    assert_eq!(by_cursor["items"], by_number["items"]);
    assert_eq!(by_cursor["nextCursor"], by_number["nextCursor"]);
}

/// Lists without counters count their matches: searches in the same walk that yields the page,
/// other lists apart. Either way each numbered page is the stretch of the list it names, with the
/// list's whole count, also past the last match and when nothing matches.
#[sqlx::test(migrations = "../migrations")]
async fn numbered_pages_of_a_counted_list_carry_its_whole_count(pool: PgPool) {
    let app = desk(pool).await;
    let admin = app.admin();
    let customer = app.token(ActorRole::Customer, "customer-1");
    let lists = [
        (
            &admin,
            "&customerId=customer-1&priority=P3_LOW",
            "customer_id = 'customer-1' AND priority = 'P3_LOW'",
        ),
        (&admin, "&q=ticket%201", "title LIKE 'Ticket 1%'"),
        (
            &customer,
            "&q=TICKET",
            "customer_id = 'customer-1' AND title LIKE 'Ticket%'",
        ),
        (
            &customer,
            "&priority=P3_LOW&status=OPEN",
            "customer_id = 'customer-1' AND priority = 'P3_LOW' AND status = 'OPEN'",
        ),
    ];
    for (token, filters, condition) in lists {
        let matching = expected(&app, condition).await;
        assert!(matching.len() > 3, "{filters}: {}", matching.len());
        for number in 1..=matching.len().div_ceil(3) + 1 {
            let path = format!("{TICKETS}?limit=3&page={number}{filters}");
            let page: Value = app.get_json(&path, token).await;
            let ids: Vec<&str> = page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_str().unwrap())
                .collect();
            let stretch: Vec<&str> = matching
                .iter()
                .skip((number - 1) * 3)
                .take(3)
                .map(String::as_str)
                .collect();
            assert_eq!(ids, stretch, "{path}");
            assert_eq!(page["total"], matching.len(), "{path}");
            assert_eq!(page["totalIsEstimate"], false, "{path}");
            assert_eq!(page["nextCursor"].is_string(), number * 3 < matching.len());
        }
    }
    for query in [
        "?q=nothing%20like%20it",
        "?priority=P0_CRITICAL&status=OPEN",
    ] {
        let page: Value = app.get_json(&format!("{TICKETS}{query}"), &admin).await;
        assert_eq!(page["items"], json!([]), "{query}");
        assert_eq!(
            total_of(&app, &admin, query).await,
            (json!(0), json!(false))
        );
    }
}

async fn refused(app: &TestApp, query: &str) -> Value {
    let response = app.get(&format!("{TICKETS}?{query}"), &app.admin()).await;
    assert_eq!(response.status(), 422, "{query}");
    response.json().await.unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_cursors_and_deep_page_numbers_are_422s_that_name_the_parameter(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.admin();
    app.open_ticket(&admin, ticket_body("One", "c-1")).await;
    app.open_ticket(&admin, ticket_body("Two", "c-1")).await;
    let first: Value = app.get_json(&format!("{TICKETS}?limit=1"), &admin).await;
    let cursor = first["nextCursor"].as_str().unwrap().to_owned();

    for query in [
        "cursor=not-a-cursor".to_owned(),
        format!("cursor={}", &cursor[1..]),
        format!("cursor={cursor}&page=2"),
    ] {
        let problem = refused(&app, &query).await;
        assert_eq!(problem["errors"][0]["field"], "cursor", "{query}");
    }

    // Page numbers reach 10,000 tickets deep (page 500 of 20, page 100 of 100), and no further.
    for query in ["page=500", "page=100&limit=100"] {
        let page: Value = app.get_json(&format!("{TICKETS}?{query}"), &admin).await;
        assert_eq!(page["items"], json!([]), "{query}");
        assert_eq!(page["nextCursor"], Value::Null);
    }
    for query in ["page=501", "page=101&limit=100", "page=4000000000"] {
        let problem = refused(&app, query).await;
        assert_eq!(problem["errors"][0]["field"], "page", "{query}");
        assert!(
            problem["detail"].as_str().unwrap().contains("cursor"),
            "{problem}"
        );
    }
}

/// The counters of `ticket_counts`, counted from the rows with SQL of the test's own.
const COUNTED_FROM_ROWS: &str = "\
    SELECT 'all', '', count(*) FROM tickets HAVING count(*) > 0 \
    UNION ALL SELECT 'status', status, count(*) FROM tickets GROUP BY status \
    UNION ALL SELECT 'priority', priority, count(*) FROM tickets GROUP BY priority \
    UNION ALL SELECT 'category', category, count(*) FROM tickets GROUP BY category \
    UNION ALL SELECT 'channel', channel, count(*) FROM tickets GROUP BY channel \
    UNION ALL SELECT 'assigned_to', assigned_to, count(*) FROM tickets \
        WHERE assigned_to IS NOT NULL GROUP BY assigned_to \
    UNION ALL SELECT 'unassigned', '', count(*) FROM tickets WHERE assigned_to IS NULL \
        HAVING count(*) > 0 \
    UNION ALL SELECT 'customer_id', customer_id, count(*) FROM tickets \
        WHERE customer_id IS NOT NULL GROUP BY customer_id \
    UNION ALL SELECT 'sla_breached', sla_breached::text, count(*) FROM tickets \
        GROUP BY sla_breached";

#[sqlx::test(migrations = "../migrations")]
async fn past_ten_thousand_matches_a_counted_total_stays_exact_and_others_are_estimates(
    pool: PgPool,
) {
    // Rows straight into the read model: 10,001 tickets a second apart, three of them P0.
    sqlx::query(
        "INSERT INTO tickets (id, ticket_number, title, description, priority, status, category, \
             channel, created_by, created_at, updated_at, version) \
         SELECT gen_random_uuid(), 'TKT-20260101-' || lpad(n::text, 5, '0'), 'Bulk ' || n, 'Bulk', \
             CASE WHEN n <= 3 THEN 'P0_CRITICAL' ELSE 'P3_LOW' END, 'OPEN', 'GENERAL', 'API', \
             'loader', timestamptz '2026-01-01' + n * interval '1 second', now(), 1 \
         FROM generate_series(1, 10001) AS n",
    )
    .execute(&pool)
    .await
    .unwrap();
    // And their counters, which the projection would have moved.
    sqlx::query(&format!(
        "INSERT INTO ticket_counts (dimension, value, tickets) {COUNTED_FROM_ROWS}"
    ))
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE tickets").execute(&pool).await.unwrap();
    let app = spawn_app(pool.clone()).await;
    let admin = app.admin();

    // One filter or none: the total is read from the counters, exact at any size.
    let exact = |n: i64| (json!(n), json!(false));
    assert_eq!(total_of(&app, &admin, "").await, exact(10_001));
    assert_eq!(total_of(&app, &admin, "?status=OPEN").await, exact(10_001));

    // Two filters: counted up to 10,000, an estimate beyond.
    let (total, is_estimate) = total_of(&app, &admin, "?status=OPEN&channel=API").await;
    assert_eq!(is_estimate, true);
    assert!(total.as_i64().unwrap() > 10_000, "{total}");

    assert_eq!(
        total_of(&app, &admin, "?priority=P0_CRITICAL").await,
        exact(3)
    );

    // The deepest numbered page ends at the 10,000th ticket; its cursor goes on to the 10,001st.
    let deepest: Value = app
        .get_json(&format!("{TICKETS}?page=100&limit=100"), &admin)
        .await;
    assert_eq!(deepest["items"][99]["title"], "Bulk 2");
    let beyond: Value = app
        .get_json(
            &format!(
                "{TICKETS}?limit=100&cursor={}",
                deepest["nextCursor"].as_str().unwrap()
            ),
            &admin,
        )
        .await;
    assert_eq!(beyond["items"].as_array().unwrap().len(), 1);
    assert_eq!(beyond["items"][0]["title"], "Bulk 1");
    assert_eq!(beyond["nextCursor"], Value::Null);
    assert_eq!(beyond["total"], 10_001);

    // A search past the bound is remembered as such, and not counted again on its next pages,
    // until the read model is rebuilt or a title changes: then it is counted again, and exact
    // once at or under the bound.
    let remembered = || async {
        for _ in 0..2 {
            let (total, is_estimate) = total_of(&app, &admin, "?q=bulk").await;
            assert_eq!(is_estimate, true, "{total}");
        }
    };
    remembered().await;
    // Titles edited as the projection edits them: the rows, and the count of rewrites.
    sqlx::query("UPDATE tickets SET title = 'Renamed' WHERE title NOT IN ('Bulk 1', 'Bulk 2')")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO ticket_counts (dimension, value, tickets) VALUES ('rewritten', '', 9999) \
         ON CONFLICT (dimension, value) DO UPDATE SET tickets = ticket_counts.tickets + 9999",
    )
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(total_of(&app, &admin, "?q=bulk").await, exact(2));

    // A replay rebuilds the read model from the events, which hold none of these rows.
    sqlx::query("UPDATE tickets SET title = 'Bulk again' WHERE title = 'Renamed'")
        .execute(&pool)
        .await
        .unwrap();
    remembered().await;
    common::replay_tickets(&pool).await;
    assert_eq!(total_of(&app, &admin, "?q=bulk").await, exact(0));
}

/// `ticket_counts` (its counters of tickets) as counting the rows gives it, written independently
/// of the migration's `ticket_dimensions`: a counter of no tickets is the same as no counter.
async fn recount(pool: &PgPool) -> (Vec<(String, String, i64)>, Vec<(String, String, i64)>) {
    let kept = sqlx::query_as(
        "SELECT dimension, value, tickets FROM ticket_counts \
         WHERE tickets <> 0 AND dimension <> 'rewritten' ORDER BY 1, 2",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let counted = sqlx::query_as(&format!("{COUNTED_FROM_ROWS} ORDER BY 1, 2"))
        .fetch_all(pool)
        .await
        .unwrap();
    (kept, counted)
}

#[sqlx::test(migrations = "../migrations")]
async fn counted_totals_follow_every_change_and_a_replay(pool: PgPool) {
    let app = desk(pool.clone()).await;
    let admin = app.admin();
    let (kept, counted) = recount(&pool).await;
    assert_eq!(kept, counted);

    // Changes that move tickets between counters: statuses, assignees, priorities.
    let ids = expected(&app, "assigned_to = 'agent-1'").await;
    let path = |id: &str| format!("{TICKETS}/{id}");
    let moved = app
        .put(&path(&ids[0]), &admin, json!({"status": "IN_PROGRESS"}))
        .await;
    assert_eq!(moved.status(), 200);
    let handed = app
        .put(
            &path(&ids[1]),
            &admin,
            json!({"assignedTo": "agent-2", "priority": "P0_CRITICAL"}),
        )
        .await;
    assert_eq!(handed.status(), 200);
    let unassigned = app
        .put(&path(&ids[2]), &admin, json!({"assignedTo": null}))
        .await;
    assert_eq!(unassigned.status(), 200);
    let rewrites = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT COALESCE(sum(tickets), 0)::bigint FROM ticket_counts \
             WHERE dimension = 'rewritten'",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    let before = rewrites().await;
    let retitled = app
        .put(
            &path(&ids[3]),
            &admin,
            json!({"title": "Printer still on fire"}),
        )
        .await;
    assert_eq!(retitled.status(), 200);
    assert_eq!(
        rewrites().await,
        before + 1,
        "a title edit counts as a rewrite"
    );
    let (kept, counted) = recount(&pool).await;
    assert_eq!(kept, counted);

    // Each list with one filter or none answers the row count.
    let agent = app.token(ActorRole::Agent, "agent-1");
    let customer = app.token(ActorRole::Customer, "customer-2");
    let lists = [
        (&admin, "", "true"),
        (&admin, "?status=IN_PROGRESS", "status = 'IN_PROGRESS'"),
        (&admin, "?priority=P0_CRITICAL", "priority = 'P0_CRITICAL'"),
        (&admin, "?assignedTo=agent-2", "assigned_to = 'agent-2'"),
        (
            &admin,
            "?customerId=customer-1",
            "customer_id = 'customer-1'",
        ),
        (&admin, "?slaBreached=false", "NOT sla_breached"),
        (&agent, "", "assigned_to = 'agent-1' OR assigned_to IS NULL"),
        (&customer, "", "customer_id = 'customer-2'"),
    ];
    for (token, query, condition) in lists {
        let rows = expected(&app, condition).await.len();
        assert_eq!(
            total_of(&app, token, query).await,
            (json!(rows), json!(false)),
            "{query}"
        );
    }

    // A replay writes every row again into fresh tables: the counters end where they were.
    common::replay_tickets(&pool).await;
    let (kept_after, counted_after) = recount(&pool).await;
    assert_eq!(kept_after, counted_after);
    assert_eq!(kept_after, kept);
    // The title edits are counted again from the events, and the replay as a rebuild.
    assert_eq!(rewrites().await, before + 1);
    let rebuilds: i64 = sqlx::query_scalar(
        "SELECT rebuilds FROM projection_checkpoints WHERE projection = 'tickets'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(rebuilds, 1, "a replay counts as a rebuild");
}

#[sqlx::test(migrations = "../migrations")]
async fn the_openapi_document_describes_paging(pool: PgPool) {
    let app = spawn_app(pool).await;
    let document: Value =
        serde_json::from_str(&app.get_text("/api/v1/openapi.json").await).unwrap();
    let parameters = document["paths"][TICKETS]["get"]["parameters"]
        .as_array()
        .unwrap();
    let schema = |name: &str| {
        parameters
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} is documented"))["schema"]
            .clone()
    };
    assert_eq!(schema("limit")["type"], "integer");
    assert_eq!(
        (&schema("limit")["minimum"], &schema("limit")["maximum"]),
        (&json!(1), &json!(100))
    );
    assert_eq!(schema("page")["type"], "integer");
    assert_eq!(schema("page")["minimum"], 1);
    assert_eq!(schema("cursor")["type"], "string");
    let page = &document["components"]["schemas"]["Page_TicketView"];
    assert_eq!(page["properties"]["totalIsEstimate"]["type"], "boolean");
    assert!(page["properties"]["nextCursor"].is_object());
    assert!(page["required"]
        .as_array()
        .unwrap()
        .contains(&json!("totalIsEstimate")));
}
