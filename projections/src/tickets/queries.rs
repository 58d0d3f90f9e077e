//! How the API reads the tickets read model: one ticket, or a filtered page of them.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgPool, Postgres, QueryBuilder};
use support_domain::sla::{ClockState, CustomerTier};
use support_domain::ticket::{TicketCategory, TicketChannel, TicketPriority, TicketStatus};
use uuid::Uuid;

use super::{TicketDetail, TicketView};
use crate::page::{planned_rows, Cursor, Page, PageRequest, Total};

const VIEW_COLUMNS: &str = "id, ticket_number, title, description, priority, status, category, \
    channel, customer_id, customer_name, customer_email, assigned_to, customer_tier, sla_id, \
    sla_state, sla, response_deadline, \
    resolution_deadline, response_at, resolved_at, resolution_note, sla_breached, \
    escalation_level, related_tickets, related_incidents, tags, affected_systems, \
    suggested_articles_seen, created_by, created_at, updated_at, version";

/// Which tickets a reader may see: customers their own, agents theirs and the unassigned queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketScope {
    Everything,
    Customer(String),
    Agent(String),
}

impl TicketScope {
    fn restrict(&self, query: &mut QueryBuilder<'_, Postgres>) {
        match self {
            TicketScope::Everything => {}
            TicketScope::Customer(customer) => {
                query
                    .push(" AND customer_id = ")
                    .push_bind(customer.clone());
            }
            TicketScope::Agent(agent) => {
                query
                    .push(" AND (assigned_to = ")
                    .push_bind(agent.clone())
                    .push(" OR assigned_to IS NULL)");
            }
        }
    }
}

/// How a ticket is named in a URL: its id or its number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketKey {
    Id(Uuid),
    Number(String),
}

impl TicketKey {
    fn restrict(&self, query: &mut QueryBuilder<'_, Postgres>) {
        match self {
            TicketKey::Id(id) => query.push("id = ").push_bind(*id),
            TicketKey::Number(number) => query.push("ticket_number = ").push_bind(number.clone()),
        };
    }

    pub fn parse(value: &str) -> Option<Self> {
        if let Ok(id) = Uuid::parse_str(value) {
            return Some(TicketKey::Id(id));
        }
        support_domain::ticket::TicketNumber::parse(value)
            .ok()
            .map(|n| TicketKey::Number(n.as_str().to_owned()))
    }
}

pub async fn find(
    pool: &PgPool,
    key: &TicketKey,
    scope: &TicketScope,
) -> Result<Option<TicketView>, sqlx::Error> {
    let mut query = QueryBuilder::new(format!("SELECT {VIEW_COLUMNS} FROM tickets WHERE "));
    key.restrict(&mut query);
    scope.restrict(&mut query);
    query.build_query_as().fetch_optional(pool).await
}

/// The ticket and its comments, oldest first, in one query; internal notes only when asked for.
pub async fn find_detail(
    pool: &PgPool,
    key: &TicketKey,
    scope: &TicketScope,
    include_internal: bool,
) -> Result<Option<TicketDetail>, sqlx::Error> {
    let mut query = QueryBuilder::new(format!(
        "SELECT {VIEW_COLUMNS}, COALESCE((\
             SELECT json_agg(json_build_object('id', c.id, 'authorSub', c.author_sub, \
                 'authorRole', c.author_role, 'body', c.body, 'visibility', c.visibility, \
                 'createdAt', c.created_at) ORDER BY c.created_at, c.id) \
             FROM ticket_comments c WHERE c.ticket_id = tickets.id AND ("
    ));
    query
        .push_bind(include_internal)
        .push(" OR c.visibility = 'PUBLIC')), '[]') AS comments FROM tickets WHERE ");
    key.restrict(&mut query);
    scope.restrict(&mut query);
    query.build_query_as().fetch_optional(pool).await
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TicketFilter {
    pub status: Option<TicketStatus>,
    pub priority: Option<TicketPriority>,
    pub category: Option<TicketCategory>,
    pub channel: Option<TicketChannel>,
    pub assigned_to: Option<String>,
    pub customer_id: Option<String>,
    pub sla_breached: Option<bool>,
    pub customer_tier: Option<CustomerTier>,
    /// The most pressing state of the ticket's clocks.
    pub sla_state: Option<ClockState>,
    /// Tickets whose response clock runs toward a deadline before this instant.
    pub response_due_before: Option<DateTime<Utc>>,
    /// Tickets whose resolution clock runs toward a deadline before this instant.
    pub resolution_due_before: Option<DateTime<Utc>>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    /// Matches anywhere in the ticket number or title, ignoring case.
    pub text: Option<String>,
}

impl TicketFilter {
    /// Whether one plan serves every value of these filters, so that statements can be prepared
    /// once and their plan cached. Not with a search term: a term in half the tickets is best
    /// found by reading newest first, a rare one through the trigram index, and a cached plan
    /// would serve every term the one way.
    fn plans_alike(&self) -> bool {
        self.text.is_none()
    }

    fn restrict(&self, query: &mut QueryBuilder<'_, Postgres>) {
        let text_filters = [
            ("status", self.status.map(|v| v.as_str().to_owned())),
            ("priority", self.priority.map(|v| v.as_str().to_owned())),
            ("category", self.category.map(|v| v.as_str().to_owned())),
            ("channel", self.channel.map(|v| v.as_str().to_owned())),
            ("assigned_to", self.assigned_to.clone()),
            ("customer_id", self.customer_id.clone()),
            (
                "customer_tier",
                self.customer_tier.map(|v| v.as_str().to_owned()),
            ),
            ("sla_state", self.sla_state.map(|v| v.as_str().to_owned())),
        ];
        for (column, value) in text_filters {
            if let Some(value) = value {
                query.push(format!(" AND {column} = ")).push_bind(value);
            }
        }
        if let Some(breached) = self.sla_breached {
            query.push(" AND sla_breached = ").push_bind(breached);
        }
        if let Some(before) = self.response_due_before {
            query.push(" AND response_due_at < ").push_bind(before);
        }
        if let Some(before) = self.resolution_due_before {
            query.push(" AND resolution_due_at < ").push_bind(before);
        }
        if let Some(from) = self.created_from {
            query.push(" AND created_at >= ").push_bind(from);
        }
        if let Some(before) = self.created_before {
            query.push(" AND created_at < ").push_bind(before);
        }
        if let Some(text) = &self.text {
            let escaped = text
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            query
                .push(" AND search_text LIKE lower(")
                .push_bind(format!("%{escaped}%"))
                .push(")");
        }
    }
}

/// A part of what a reader may see that one ordered index scan can serve. The agent's queue
/// (`assigned_to = me OR assigned_to IS NULL`) has two: no single index yields an OR in order, so
/// each part is read newest first on its own, as far as the page reaches, and the parts are merged.
enum Part<'a> {
    Everything,
    Customer(&'a str),
    AssignedTo(&'a str),
    Unassigned,
}

impl TicketScope {
    fn parts(&self) -> Vec<Part<'_>> {
        match self {
            TicketScope::Everything => vec![Part::Everything],
            TicketScope::Customer(customer) => vec![Part::Customer(customer)],
            TicketScope::Agent(agent) => vec![Part::AssignedTo(agent), Part::Unassigned],
        }
    }
}

impl Part<'_> {
    /// `SELECT <columns> FROM tickets` restricted to this part, the filters, and what comes after
    /// `after` in the list's order.
    fn push(
        &self,
        query: &mut QueryBuilder<'_, Postgres>,
        columns: &str,
        filter: &TicketFilter,
        after: Option<Cursor>,
    ) {
        query.push(format!("SELECT {columns} FROM tickets WHERE true"));
        filter.restrict(query);
        match self {
            Part::Everything => {}
            Part::Customer(customer) => {
                query
                    .push(" AND customer_id = ")
                    .push_bind(customer.to_string());
            }
            Part::AssignedTo(agent) => {
                query
                    .push(" AND assigned_to = ")
                    .push_bind(agent.to_string());
            }
            Part::Unassigned => {
                query.push(" AND assigned_to IS NULL");
            }
        }
        if let Some(after) = after {
            query
                .push(" AND (created_at, id) < (")
                .push_bind(after.created_at)
                .push(", ")
                .push_bind(after.id)
                .push(")");
        }
    }
}

const NEWEST_FIRST: &str = " ORDER BY created_at DESC, id DESC";

/// One page of the rows, newest first (ties on `created_at` broken by id, so pages are stable),
/// plus the first row of the next page if there is one.
fn page_query<'a>(
    prefix: &str,
    filter: &TicketFilter,
    scope: &TicketScope,
    page: PageRequest,
) -> QueryBuilder<'a, Postgres> {
    let offset = page.offset() as i64;
    let rows = i64::from(page.limit) + 1;
    let mut query = QueryBuilder::new(format!("{prefix}SELECT {VIEW_COLUMNS} FROM ("));
    for (i, part) in scope.parts().iter().enumerate() {
        if i > 0 {
            query.push(" UNION ALL ");
        }
        query.push("(");
        part.push(&mut query, VIEW_COLUMNS, filter, page.cursor());
        query
            .push(NEWEST_FIRST)
            .push(" LIMIT ")
            .push_bind(offset + rows)
            .push(")");
    }
    query
        .push(") AS visible")
        .push(NEWEST_FIRST)
        .push(" LIMIT ")
        .push_bind(rows)
        .push(" OFFSET ")
        .push_bind(offset);
    query
}

/// Counts the matching rows, but stops one past `Total::EXACT_UP_TO`. Each part is counted in
/// the list's order, so that the count walks the index the page reads (an index-only scan, for a
/// common search word too) instead of a plan merely priced lower for an unordered count: a
/// sequential scan testing each row's search text was seven times slower.
fn count_query<'a>(
    prefix: &str,
    filter: &TicketFilter,
    scope: &TicketScope,
) -> QueryBuilder<'a, Postgres> {
    let bound = Total::EXACT_UP_TO + 1;
    let mut query = QueryBuilder::new(format!("{prefix}SELECT count(*) FROM ("));
    match scope.parts().as_slice() {
        [part] => {
            part.push(&mut query, "1", filter, None);
            query.push(NEWEST_FIRST).push(" LIMIT ").push_bind(bound);
        }
        parts => {
            query.push("SELECT 1 FROM (");
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    query.push(" UNION ALL ");
                }
                query.push("(");
                part.push(&mut query, "1", filter, None);
                query
                    .push(NEWEST_FIRST)
                    .push(" LIMIT ")
                    .push_bind(bound)
                    .push(")");
            }
            // Once the first part has counted past the bound, the others are not read at all.
            query.push(") AS parts LIMIT ").push_bind(bound);
        }
    }
    query.push(") AS matching");
    query
}

/// The page of a list read in one part from its start or at an offset, and the list's count, from
/// one walk of its matches: the count reads them newest first up to one past
/// `Total::EXACT_UP_TO`, and the page is a stretch of that walk. The count of rewrites comes in
/// the same snapshot, for the long lists.
fn counted_page_query<'a>(
    prefix: &str,
    filter: &TicketFilter,
    part: &Part<'_>,
    page: PageRequest,
) -> QueryBuilder<'a, Postgres> {
    let mut query = QueryBuilder::new(format!(
        "{prefix}WITH matching (match_id, match_at) AS MATERIALIZED ("
    ));
    part.push(&mut query, "id, created_at", filter, None);
    query
        .push(NEWEST_FIRST)
        .push(" LIMIT ")
        .push_bind(Total::EXACT_UP_TO + 1)
        .push(format!(
            ") SELECT (SELECT count(*) FROM matching) AS matching, {REWRITES_COLUMNS}, \
             {VIEW_COLUMNS} FROM (SELECT match_id, match_at FROM matching \
             ORDER BY match_at DESC, match_id DESC LIMIT "
        ))
        .push_bind(i64::from(page.limit) + 1)
        .push(" OFFSET ")
        .push_bind(page.offset() as i64)
        .push(") AS page JOIN tickets ON id = match_id ORDER BY match_at DESC, match_id DESC");
    query
}

/// A row of `counted_page_query`.
#[derive(sqlx::FromRow)]
struct CountedRow {
    matching: i64,
    rebuilds: i64,
    rewritten: i64,
    #[sqlx(flatten)]
    ticket: TicketView,
}

/// The planner's estimate of the matching rows, from statistics alone: nothing is read.
fn estimate_query<'a>(filter: &TicketFilter, scope: &TicketScope) -> QueryBuilder<'a, Postgres> {
    let mut query = QueryBuilder::new("EXPLAIN (FORMAT JSON) ");
    for (i, part) in scope.parts().iter().enumerate() {
        if i > 0 {
            query.push(" UNION ALL ");
        }
        part.push(&mut query, "1", filter, None);
    }
    query
}

/// The counters of `ticket_counts` whose sum is the number of tickets a list matches, when it
/// has one: a list with one filter or none, and a customer's list or an agent's queue unfiltered.
fn counters(filter: &TicketFilter, scope: &TicketScope) -> Option<Vec<(&'static str, String)>> {
    let TicketFilter {
        status,
        priority,
        category,
        channel,
        assigned_to,
        customer_id,
        sla_breached,
        customer_tier: None,
        sla_state: None,
        response_due_before: None,
        resolution_due_before: None,
        created_from: None,
        created_before: None,
        text: None,
    } = filter
    else {
        return None;
    };
    let single = [
        status.map(|v| ("status", v.as_str().to_owned())),
        priority.map(|v| ("priority", v.as_str().to_owned())),
        category.map(|v| ("category", v.as_str().to_owned())),
        channel.map(|v| ("channel", v.as_str().to_owned())),
        assigned_to.clone().map(|v| ("assigned_to", v)),
        customer_id.clone().map(|v| ("customer_id", v)),
        sla_breached.map(|v| ("sla_breached", v.to_string())),
    ];
    let mut filters = single.into_iter().flatten();
    match (filters.next(), filters.next(), scope) {
        (None, _, TicketScope::Everything) => Some(vec![("all", String::new())]),
        (Some(one), None, TicketScope::Everything) => Some(vec![one]),
        (None, _, TicketScope::Customer(customer)) => Some(vec![("customer_id", customer.clone())]),
        (None, _, TicketScope::Agent(agent)) => Some(vec![
            ("assigned_to", agent.clone()),
            ("unassigned", String::new()),
        ]),
        _ => None,
    }
}

/// Searches known to match more than `Total::EXACT_UP_TO` tickets, so that their matches need not
/// be counted again on every page: counting them is the cost of a common search term (some
/// 18,000 rows tested for "error" at a million tickets).
///
/// Only lists whose matches can only grow are kept: a search term, perhaps with a created range,
/// a customer or a channel, over everything or a customer's own tickets. Tickets are never
/// deleted, and those fields never change but through a title edit (counted in `ticket_counts`)
/// or a replay, which rewrites every row (counted as the read model's `rebuilds`); when either
/// moves, every list is forgotten. So a kept list still has more than 10,000 matches, and its
/// total stays an honest estimate, never one in place of an exact count.
#[derive(Clone, Default)]
pub struct LongLists(Arc<Mutex<KnownLong>>);

#[derive(Default)]
struct KnownLong {
    rewrites: Rewrites,
    lists: HashSet<String>,
}

/// The read model's rebuilds, then its title edits (counted afresh by each rebuild): compared in
/// that order, they only grow.
type Rewrites = (i64, i64);

impl LongLists {
    /// Bounds the memory one service gives to them.
    const KEPT: usize = 10_000;

    /// The key of a list that only grows; `None` for one whose matches may shrink.
    fn key(filter: &TicketFilter, scope: &TicketScope) -> Option<String> {
        let grows = filter.text.is_some()
            && filter.status.is_none()
            && filter.priority.is_none()
            && filter.category.is_none()
            && filter.assigned_to.is_none()
            && filter.sla_breached.is_none()
            && filter.customer_tier.is_none()
            && filter.sla_state.is_none()
            && filter.response_due_before.is_none()
            && filter.resolution_due_before.is_none()
            && !matches!(scope, TicketScope::Agent(_));
        grows.then(|| format!("{filter:?} {scope:?}"))
    }

    /// The count of rewrites `key` was remembered at, if it was.
    fn knows(&self, key: &str) -> Option<Rewrites> {
        let known = self
            .0
            .lock()
            .expect("no thread panics holding the long lists");
        known.lists.contains(key).then_some(known.rewrites)
    }

    /// `rewrites` as counted with the list's matches, in the same snapshot. The count of
    /// rewrites only grows: a higher one forgets every list remembered before it.
    fn remember(&self, rewrites: Rewrites, key: String) {
        let mut known = self
            .0
            .lock()
            .expect("no thread panics holding the long lists");
        if rewrites > known.rewrites {
            known.lists.clear();
            known.rewrites = rewrites;
        }
        if rewrites == known.rewrites && known.lists.len() < Self::KEPT {
            known.lists.insert(key);
        }
    }
}

const REWRITES_COLUMNS: &str = "\
     COALESCE((SELECT rebuilds FROM projection_checkpoints WHERE projection = 'tickets'), 0) \
         AS rebuilds, \
     COALESCE((SELECT tickets FROM ticket_counts WHERE dimension = 'rewritten'), 0) AS rewritten";

async fn total(
    pool: &PgPool,
    filter: &TicketFilter,
    scope: &TicketScope,
    long_lists: &LongLists,
) -> Result<Total, sqlx::Error> {
    if let Some(counters) = counters(filter, scope) {
        let (dimensions, values): (Vec<&str>, Vec<String>) = counters.into_iter().unzip();
        let count: i64 = sqlx::query_scalar(
            "SELECT COALESCE(sum(c.tickets), 0)::bigint \
             FROM unnest($1::text[], $2::text[]) AS k(dimension, value) \
             JOIN ticket_counts c USING (dimension, value)",
        )
        .bind(&dimensions)
        .bind(&values)
        .fetch_one(pool)
        .await?;
        return Ok(Total::exact(count));
    }
    let key = LongLists::key(filter, scope);
    if let Some(remembered) = key.as_deref().and_then(|key| long_lists.knows(key)) {
        let rewrites: Rewrites = sqlx::query_as(&format!("SELECT {REWRITES_COLUMNS}"))
            .fetch_one(pool)
            .await?;
        if rewrites == remembered {
            return estimate(pool, filter, scope).await;
        }
    }
    // The count, and for a list that may be remembered the count of rewrites in the same
    // statement, so in the same snapshot.
    let (rewrites, count): (Rewrites, i64) = match &key {
        Some(_) => {
            let mut query = count_query(&format!("SELECT {REWRITES_COLUMNS}, ("), filter, scope);
            query.push(")");
            let (rebuilds, rewritten, count) = query
                .build_query_as()
                .persistent(filter.plans_alike())
                .fetch_one(pool)
                .await?;
            ((rebuilds, rewritten), count)
        }
        None => (
            Rewrites::default(),
            count_query("", filter, scope)
                .build_query_scalar()
                .persistent(filter.plans_alike())
                .fetch_one(pool)
                .await?,
        ),
    };
    if count <= Total::EXACT_UP_TO {
        return Ok(Total::exact(count));
    }
    if let Some(key) = key {
        long_lists.remember(rewrites, key);
    }
    estimate(pool, filter, scope).await
}

/// The planner's estimate of a list known to have more than `Total::EXACT_UP_TO` matches.
async fn estimate(
    pool: &PgPool,
    filter: &TicketFilter,
    scope: &TicketScope,
) -> Result<Total, sqlx::Error> {
    let plan: Json<serde_json::Value> = estimate_query(filter, scope)
        .build_query_scalar()
        .fetch_one(pool)
        .await?;
    let estimate = planned_rows(&plan.0);
    Ok(Total {
        // More were counted than that: an estimate below the count would be plainly wrong.
        count: estimate.max(Total::EXACT_UP_TO + 1),
        is_estimate: true,
    })
}

/// The page and the total of a search whose total is counted (not remembered long), from one walk
/// of its matches; `None` for other lists. A search term's matches are found in the trigram index
/// and each is checked against its row, so reading them once for the page and again for the count
/// costs twice (at a million tickets, p50 8.2 ms before and 6.1 ms after for a rare term, 156
/// and 87 ms for a ticket number). Other filters' counts walk an index alone, at less cost than
/// keeping the walk for the page: the spec's example, with 8,670 matches, took twice as long.
async fn counted_page(
    pool: &PgPool,
    filter: &TicketFilter,
    scope: &TicketScope,
    page: PageRequest,
    long_lists: &LongLists,
) -> Result<Option<(Vec<TicketView>, Total)>, sqlx::Error> {
    let key = LongLists::key(filter, scope);
    let parts = scope.parts();
    let [part] = parts.as_slice() else {
        return Ok(None);
    };
    if filter.text.is_none()
        || page.cursor().is_some()
        || key
            .as_deref()
            .is_some_and(|key| long_lists.knows(key).is_some())
    {
        return Ok(None);
    }
    let rows: Vec<CountedRow> = counted_page_query("", filter, part, page)
        .build_query_as()
        .persistent(filter.plans_alike())
        .fetch_all(pool)
        .await?;
    let Some(&CountedRow {
        matching,
        rebuilds,
        rewritten,
        ..
    }) = rows.first()
    else {
        // No row carries the count: none matches, or the page lies past the last match.
        return Ok((page.offset() == 0).then_some((Vec::new(), Total::exact(0))));
    };
    let items = rows.into_iter().map(|row| row.ticket).collect();
    if matching <= Total::EXACT_UP_TO {
        return Ok(Some((items, Total::exact(matching))));
    }
    if let Some(key) = key {
        long_lists.remember((rebuilds, rewritten), key);
    }
    Ok(Some((items, estimate(pool, filter, scope).await?)))
}

/// A page of the tickets the reader may see that match the filters, newest first.
pub async fn list(
    pool: &PgPool,
    filter: &TicketFilter,
    scope: &TicketScope,
    page: PageRequest,
    long_lists: &LongLists,
) -> Result<Page<TicketView>, sqlx::Error> {
    let (items, total) = match counted_page(pool, filter, scope, page, long_lists).await? {
        Some(counted) => counted,
        None => {
            let mut items = page_query("", filter, scope, page);
            let (items, total) = tokio::join!(
                items
                    .build_query_as::<TicketView>()
                    .persistent(filter.plans_alike())
                    .fetch_all(pool),
                total(pool, filter, scope, long_lists),
            );
            (items?, total?)
        }
    };
    Ok(Page::with_lookahead(items, page, total, |last| Cursor {
        created_at: last.created_at,
        id: last.id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With sequential scans priced out, PostgreSQL still picks one where no index can serve a
    /// query: so a plan without one proves that every filter, in every scope, from the top and
    /// from a cursor, has its index, for the page and for the count alike. The estimate is only
    /// planned, never run: it must merely answer for every shape.
    #[sqlx::test(migrations = "../migrations")]
    async fn every_list_filter_is_served_by_an_index(pool: PgPool) {
        let mut conn = crate::explain::pricing_out_seq_scans(&pool).await;
        let now = Utc::now();
        let filters = [
            TicketFilter::default(),
            TicketFilter {
                status: Some(TicketStatus::Open),
                ..Default::default()
            },
            TicketFilter {
                priority: Some(TicketPriority::High),
                ..Default::default()
            },
            TicketFilter {
                status: Some(TicketStatus::Open),
                priority: Some(TicketPriority::High),
                ..Default::default()
            },
            TicketFilter {
                category: Some(TicketCategory::Billing),
                ..Default::default()
            },
            TicketFilter {
                channel: Some(TicketChannel::Email),
                ..Default::default()
            },
            TicketFilter {
                assigned_to: Some("agent-7".into()),
                ..Default::default()
            },
            TicketFilter {
                customer_id: Some("customer-123".into()),
                ..Default::default()
            },
            TicketFilter {
                sla_breached: Some(false),
                ..Default::default()
            },
            TicketFilter {
                sla_breached: Some(true),
                ..Default::default()
            },
            TicketFilter {
                sla_state: Some(ClockState::Running),
                ..Default::default()
            },
            TicketFilter {
                customer_tier: Some(CustomerTier::Enterprise),
                ..Default::default()
            },
            TicketFilter {
                response_due_before: Some(now),
                ..Default::default()
            },
            TicketFilter {
                resolution_due_before: Some(now),
                ..Default::default()
            },
            TicketFilter {
                created_from: Some(now),
                created_before: Some(now),
                ..Default::default()
            },
            TicketFilter {
                text: Some("dashboard".into()),
                ..Default::default()
            },
        ];
        let scopes = [
            TicketScope::Everything,
            TicketScope::Customer("customer-123".into()),
            TicketScope::Agent("agent-7".into()),
        ];
        let cursor = Cursor {
            created_at: now,
            id: Uuid::new_v4(),
        }
        .encode();
        let starts = [
            PageRequest::parse(None, None, None).unwrap(),
            PageRequest::parse(Some(3), None, Some(50)).unwrap(),
            PageRequest::parse(None, Some(&cursor), None).unwrap(),
        ];
        for filter in &filters {
            for scope in &scopes {
                let mut queries: Vec<_> = starts
                    .iter()
                    .map(|start| page_query("EXPLAIN ", filter, scope, *start))
                    .collect();
                queries.push(count_query("EXPLAIN ", filter, scope));
                if let ([part], Some(_)) = (scope.parts().as_slice(), &filter.text) {
                    for start in starts.iter().filter(|start| start.cursor().is_none()) {
                        queries.push(counted_page_query("EXPLAIN ", filter, part, *start));
                    }
                }
                for mut query in queries {
                    crate::explain::assert_indexed(
                        &mut conn,
                        &mut query,
                        &format!("{filter:?} {scope:?}"),
                    )
                    .await;
                }
                let plan: Json<serde_json::Value> = estimate_query(filter, scope)
                    .build_query_scalar()
                    .fetch_one(&mut *conn)
                    .await
                    .unwrap();
                assert!(plan.0[0]["Plan"]["Plan Rows"].is_number(), "{plan:?}");
            }
        }
    }
}
