//! How the API reads the tickets read model: one ticket, or a filtered page of them.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder};
use support_domain::ticket::{TicketCategory, TicketChannel, TicketPriority, TicketStatus};
use uuid::Uuid;

use super::{TicketDetail, TicketView};
use crate::page::{Page, PageRequest};

const VIEW_COLUMNS: &str = "id, ticket_number, title, description, priority, status, category, \
    channel, customer_id, customer_name, customer_email, assigned_to, sla_id, response_deadline, \
    resolution_deadline, response_at, resolved_at, resolution_note, sla_breached, \
    escalation_level, related_tickets, related_incidents, tags, affected_systems, created_by, \
    created_at, updated_at, version";

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
    pub created_from: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    /// Matches anywhere in the ticket number or title, ignoring case.
    pub text: Option<String>,
}

impl TicketFilter {
    fn restrict(&self, query: &mut QueryBuilder<'_, Postgres>) {
        let text_filters = [
            ("status", self.status.map(|v| v.as_str().to_owned())),
            ("priority", self.priority.map(|v| v.as_str().to_owned())),
            ("category", self.category.map(|v| v.as_str().to_owned())),
            ("channel", self.channel.map(|v| v.as_str().to_owned())),
            ("assigned_to", self.assigned_to.clone()),
            ("customer_id", self.customer_id.clone()),
        ];
        for (column, value) in text_filters {
            if let Some(value) = value {
                query.push(format!(" AND {column} = ")).push_bind(value);
            }
        }
        if let Some(breached) = self.sla_breached {
            query.push(" AND sla_breached = ").push_bind(breached);
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

/// `head` followed by the filters and the reader's scope.
fn filtered<'a>(
    head: &str,
    filter: &TicketFilter,
    scope: &TicketScope,
) -> QueryBuilder<'a, Postgres> {
    let mut query = QueryBuilder::new(head);
    filter.restrict(&mut query);
    scope.restrict(&mut query);
    query
}

/// One page of the filtered rows, newest first; ties on `created_at` are broken by id so pages are
/// stable.
fn page_of<'a>(
    head: &str,
    filter: &TicketFilter,
    scope: &TicketScope,
    page: PageRequest,
) -> QueryBuilder<'a, Postgres> {
    let mut query = filtered(head, filter, scope);
    query
        .push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(i64::from(page.limit))
        .push(" OFFSET ")
        .push_bind(page.offset());
    query
}

const LIST_HEAD: &str = "FROM tickets WHERE true";

pub async fn list(
    pool: &PgPool,
    filter: &TicketFilter,
    scope: &TicketScope,
    page: PageRequest,
) -> Result<Page<TicketView>, sqlx::Error> {
    let mut items = page_of(
        &format!("SELECT {VIEW_COLUMNS} {LIST_HEAD}"),
        filter,
        scope,
        page,
    );
    let mut total = filtered(&format!("SELECT count(*) {LIST_HEAD}"), filter, scope);
    let (items, total) = tokio::join!(
        items.build_query_as().fetch_all(pool),
        total.build_query_scalar().fetch_one(pool),
    );
    Ok(Page {
        items: items?,
        page: page.page,
        limit: page.limit,
        total: total?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With sequential scans priced out, PostgreSQL still picks one where no index can serve a
    /// query: so a plan without one proves that every filter, in every scope, has its index.
    #[sqlx::test(migrations = "../migrations")]
    async fn every_list_filter_is_served_by_an_index(pool: PgPool) {
        let mut conn = pool.acquire().await.unwrap();
        sqlx::query("SET enable_seqscan = off")
            .execute(&mut *conn)
            .await
            .unwrap();
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
        let page = PageRequest::parse(None, None).unwrap();
        for filter in &filters {
            for scope in &scopes {
                let items = page_of(
                    &format!("EXPLAIN SELECT {VIEW_COLUMNS} {LIST_HEAD}"),
                    filter,
                    scope,
                    page,
                );
                let total = filtered(
                    &format!("EXPLAIN SELECT count(*) {LIST_HEAD}"),
                    filter,
                    scope,
                );
                for mut query in [items, total] {
                    let plan: Vec<String> = query
                        .build_query_scalar()
                        .fetch_all(&mut *conn)
                        .await
                        .unwrap();
                    let plan = plan.join("\n");
                    assert!(!plan.contains("Seq Scan"), "{filter:?} {scope:?}:\n{plan}");
                }
            }
        }
    }
}
