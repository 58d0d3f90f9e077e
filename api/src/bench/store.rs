//! A year of a support desk's tickets, written straight into the event store in the format
//! postgres-es records (externally tagged payloads, the metadata map), so that a replay reads
//! them exactly as it reads real ones. Generated inside PostgreSQL: a million tickets take about
//! two minutes rather than hours of HTTP.

use std::time::Instant;

use anyhow::Context;
use sqlx::{Connection, PgConnection};

/// Every ticket's attributes and, for its fate, when each step of its life happens. Draws come
/// from `setseed`, so a store of a given size is the same every time but for the times, which
/// end now. Titles: about 56% contain "error"; "GDPR" is in about 0.05%.
const TICKETS: &str = "
CREATE TEMP TABLE scale_tickets AS
WITH drawn AS (
  SELECT n, random() AS r_time, random() AS r_priority, random() AS r_category,
         random() AS r_channel, random() AS r_customer, random() AS r_title, random() AS r_system,
         random() AS r_fate, random() AS r_agent, random() AS r_assign, random() AS r_progress,
         random() AS r_wait, random() AS r_resolve, random() AS r_close, random() AS r_cancel,
         random() AS r_tags
  FROM generate_series(1, {tickets}) AS n
), shaped AS (
  SELECT n, r_title, r_system, r_tags,
    now() - interval '365 days' + (n - 1 + r_time) * (interval '365 days' / {tickets}) AS created_at,
    CASE WHEN r_priority < 0.03 THEN 'P0_CRITICAL' WHEN r_priority < 0.20 THEN 'P1_HIGH'
         WHEN r_priority < 0.70 THEN 'P2_MEDIUM' ELSE 'P3_LOW' END AS priority,
    (ARRAY['TECHNICAL', 'TECHNICAL', 'TECHNICAL', 'BILLING', 'BILLING', 'ACCOUNT', 'ACCOUNT',
           'DATA', 'INTEGRATION', 'PERFORMANCE', 'SECURITY', 'FEATURE_REQUEST', 'BUG_REPORT',
           'BUG_REPORT', 'GENERAL', 'GENERAL'])[1 + floor(r_category * 16)::int] AS category,
    (ARRAY['EMAIL', 'EMAIL', 'EMAIL', 'PHONE', 'CHAT', 'CHAT', 'WEB_FORM', 'WEB_FORM', 'WEB_FORM',
           'API', 'INTERNAL'])[1 + floor(r_channel * 11)::int] AS channel,
    -- 3% internal tickets; the rest spread over 1,000 customers, the low numbers busier.
    CASE WHEN r_customer >= 0.03
         THEN 'customer-' || lpad((1 + floor(power((r_customer - 0.03) / 0.97, 1.5) * 1000))::int::text, 4, '0')
    END AS customer_id,
    'agent-' || lpad((1 + floor(r_agent * 50))::int::text, 2, '0') AS agent,
    CASE WHEN r_fate < 0.05 THEN 'OPEN' WHEN r_fate < 0.10 THEN 'CANCELLED'
         WHEN r_fate < 0.13 THEN 'ASSIGNED' WHEN r_fate < 0.17 THEN 'IN_PROGRESS'
         WHEN r_fate < 0.20 THEN 'WAITING_CUSTOMER' WHEN r_fate < 0.22 THEN 'WAITING_INTERNAL'
         WHEN r_fate < 0.28 THEN 'RESOLVED' ELSE 'CLOSED' END AS fate,
    interval '2 minutes' + r_assign * interval '8 hours' AS to_assign,
    interval '1 minute' + r_progress * interval '2 hours' AS to_progress,
    interval '10 minutes' + r_wait * interval '1 day' AS to_wait,
    interval '30 minutes' + r_resolve * interval '3 days' AS to_resolve,
    interval '1 day' + r_close * interval '6 days' AS to_close,
    interval '1 hour' + r_cancel * interval '2 days' AS to_cancel
  FROM drawn
)
SELECT n, md5('scale-ticket-' || n)::uuid AS id, created_at,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYYMMDD') AS day,
  row_number() OVER (PARTITION BY (created_at AT TIME ZONE 'UTC')::date ORDER BY n) AS counter,
  CASE WHEN r_title < 0.0005 THEN 'GDPR erasure request for'
  ELSE (ARRAY['Error loading', 'Error saving changes in', 'Error exporting from', 'Sync error in',
              'Login error in', 'Timeout error in', '500 error in', 'Unexpected error in',
              'Error message in', 'Slow response in', 'Cannot access', 'Wrong totals in',
              'Question about', 'Feature request for', 'Missing data in',
              'Permission denied in'])[1 + floor(r_title * 16)::int]
  END || ' ' ||
  (ARRAY['lead dashboard', 'billing portal', 'public API', 'mobile app', 'reports', 'CRM sync',
         'SSO login', 'webhooks', 'data export', 'email campaigns', 'user management', 'search',
         'notifications', 'integrations hub', 'analytics'])[1 + floor(r_system * 15)::int] AS title,
  (ARRAY['lead-dashboard', 'billing-portal', 'public-api', 'mobile-app', 'reports', 'crm-sync',
         'sso', 'webhooks', 'data-export', 'email-campaigns', 'user-management', 'search',
         'notifications', 'integrations-hub', 'analytics'])[1 + floor(r_system * 15)::int] AS system,
  CASE WHEN r_tags >= 0.7
       THEN (ARRAY['vip', 'regression', 'onboarding', 'enterprise', 'trial', 'renewal'])[1 + floor((r_tags - 0.7) / 0.3 * 6)::int]
  END AS tag,
  priority, category, channel, customer_id, agent, fate,
  created_at + to_assign AS assigned_at,
  created_at + to_assign + to_progress AS progress_at,
  created_at + to_assign + to_progress + to_wait AS waiting_at,
  created_at + to_assign + to_progress + to_resolve AS resolved_at,
  created_at + to_assign + to_progress + to_resolve + to_close AS closed_at,
  created_at + to_cancel AS cancelled_at
FROM shaped";

/// Each ticket's events up to now, as the API would have recorded them: opened; assigned (which
/// moves it to ASSIGNED, two events of one command); IN_PROGRESS; then waiting, or resolved and
/// later closed; or cancelled straight from OPEN. Steps: 1 opened, 2 assigned, 3-8 status
/// changes along the way, 9 cancelled.
const STEPS: &str = "
CREATE TEMP TABLE scale_steps AS
SELECT t.n, s.sequence, s.step, s.at
FROM scale_tickets t
CROSS JOIN LATERAL (VALUES
  (1, 1, t.created_at, true),
  (2, 9, t.cancelled_at, t.fate = 'CANCELLED'),
  (2, 2, t.assigned_at, t.fate NOT IN ('OPEN', 'CANCELLED')),
  (3, 3, t.assigned_at, t.fate NOT IN ('OPEN', 'CANCELLED')),
  (4, 4, t.progress_at, t.fate NOT IN ('OPEN', 'CANCELLED', 'ASSIGNED')),
  (5, 5, t.waiting_at, t.fate = 'WAITING_CUSTOMER'),
  (5, 6, t.waiting_at, t.fate = 'WAITING_INTERNAL'),
  (5, 7, t.resolved_at, t.fate IN ('RESOLVED', 'CLOSED')),
  (6, 8, t.closed_at, t.fate = 'CLOSED')
) AS s(sequence, step, at, happens)
WHERE s.happens AND s.at <= now()";

/// The events in the order they happened, so global positions follow time as in a real store.
/// `recorded_at` is the time each happened.
const EVENTS: &str = r#"
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload,
                    metadata, recorded_at)
SELECT 'ticket', t.id::text, s.sequence,
  CASE s.step WHEN 1 THEN 'TicketOpened' WHEN 2 THEN 'TicketAssigned' ELSE 'TicketStatusChanged' END,
  '1',
  CASE s.step
    WHEN 1 THEN json_build_object('TicketOpened', json_build_object(
      'ticketId', t.id,
      'ticketNumber', 'TKT-' || t.day || '-' || CASE WHEN t.counter < 10000 THEN lpad(t.counter::text, 4, '0') ELSE t.counter::text END,
      'title', t.title,
      'description', 'Reported by ' || coalesce(t.customer_id, 'staff') || ' via '
          || lower(t.channel) || ': ' || t.title || '. It started after the latest release and '
          || 'blocks part of the team; steps to reproduce and screenshots are attached.',
      'priority', t.priority, 'category', t.category, 'channel', t.channel,
      'customer', CASE WHEN t.customer_id IS NOT NULL THEN json_build_object(
          'id', t.customer_id, 'name', 'Customer ' || substr(t.customer_id, 10),
          'email', t.customer_id || '@customers.example.com') END,
      'affectedSystems', json_build_array(t.system),
      'tags', CASE WHEN t.tag IS NULL THEN json_build_array() ELSE json_build_array(t.tag) END,
      'createdBy', coalesce(t.customer_id, t.agent)))
    WHEN 2 THEN json_build_object('TicketAssigned',
      json_build_object('assignee', t.agent, 'previousAssignee', NULL))
    ELSE json_build_object('TicketStatusChanged', json_build_object(
      'from', CASE s.step WHEN 3 THEN 'OPEN' WHEN 4 THEN 'ASSIGNED' WHEN 8 THEN 'RESOLVED'
                          WHEN 9 THEN 'OPEN' ELSE 'IN_PROGRESS' END,
      'to', CASE s.step WHEN 3 THEN 'ASSIGNED' WHEN 4 THEN 'IN_PROGRESS'
                        WHEN 5 THEN 'WAITING_CUSTOMER' WHEN 6 THEN 'WAITING_INTERNAL'
                        WHEN 7 THEN 'RESOLVED' WHEN 8 THEN 'CLOSED' ELSE 'CANCELLED' END,
      'note', CASE s.step WHEN 7 THEN 'Fixed and confirmed with the customer' END))
  END,
  json_build_object(
    'actorSub', CASE WHEN s.step IN (1, 9) AND t.customer_id IS NOT NULL THEN t.customer_id ELSE t.agent END,
    'actorRole', CASE WHEN s.step IN (1, 9) AND t.customer_id IS NOT NULL THEN 'customer' ELSE 'agent' END,
    'requestId', 'scale-' || t.n || '-' || s.sequence,
    'correlationId', 'scale-' || t.n || '-' || s.sequence,
    'occurredAt', to_char(s.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
    'source', 'import'),
  s.at
FROM scale_steps s JOIN scale_tickets t ON t.n = s.n
ORDER BY s.at, s.n, s.sequence"#;

/// Each day's counter continues after the numbers the store used, as the API's would, and every
/// number names its ticket, so commands find the store's tickets by number.
const COUNTERS: &str = "
INSERT INTO number_counters (prefix, day, last_value)
SELECT 'TKT', to_date(day, 'YYYYMMDD'), max(counter) FROM scale_tickets GROUP BY day
ON CONFLICT (prefix, day) DO UPDATE
SET last_value = GREATEST(number_counters.last_value, EXCLUDED.last_value);
INSERT INTO numbered_aggregates (prefix, day, counter, aggregate_id)
SELECT 'TKT', to_date(day, 'YYYYMMDD'), counter, id FROM scale_tickets";

/// Writes `tickets` tickets' events into the empty event store at `database_url`; returns how
/// many events it wrote.
pub async fn build(database_url: &str, tickets: u64) -> anyhow::Result<i64> {
    let mut conn = PgConnection::connect(database_url).await?;
    let used: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM events)")
        .fetch_one(&mut conn)
        .await?;
    anyhow::ensure!(
        !used,
        "the event store at DATABASE_URL is not empty: the scale scenario builds its own store \
         in an empty database (or pass --existing-store to measure the one there)"
    );
    // History is not news: its events must not go through the outbox to the bus and the live
    // projection, so this session's triggers are off (which takes a superuser).
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut conn)
        .await
        .context("the scale store is written with triggers off, which needs a superuser")?;
    let steps = [
        ("seed", "SELECT setseed(0.5)".to_owned()),
        (
            "tickets",
            TICKETS.replace("{tickets}", &tickets.to_string()),
        ),
        ("steps", STEPS.to_owned()),
        (
            "steps in time order",
            "CREATE INDEX ON scale_steps (at, n, sequence)".to_owned(),
        ),
        (
            "tickets by number",
            "CREATE UNIQUE INDEX ON scale_tickets (n)".to_owned(),
        ),
        (
            "statistics",
            "ANALYZE scale_tickets, scale_steps".to_owned(),
        ),
        // Read the steps in time order from their index instead of sorting whole events.
        ("no sorting", "SET enable_sort = off".to_owned()),
        ("events", EVENTS.to_owned()),
        ("counters", COUNTERS.to_owned()),
        ("vacuum", "VACUUM (ANALYZE) events".to_owned()),
    ];
    let events = run_steps(&mut conn, "the scale store", steps).await?;
    conn.close().await?;
    Ok(events)
}

/// Runs the named SQL steps of building `what` in order, timing each; returns the rows the step
/// named `events` wrote.
pub(super) async fn run_steps(
    conn: &mut PgConnection,
    what: &str,
    steps: impl IntoIterator<Item = (&str, String)>,
) -> anyhow::Result<i64> {
    let mut events = 0;
    for (name, sql) in steps {
        let started = Instant::now();
        let done = sqlx::raw_sql(&sql)
            .execute(&mut *conn)
            .await
            .with_context(|| format!("building {what}: {name}"))?;
        if name == "events" {
            events = done.rows_affected() as i64;
        }
        println!("  store: {name} ({:.1} s)", started.elapsed().as_secs_f64());
    }
    Ok(events)
}
