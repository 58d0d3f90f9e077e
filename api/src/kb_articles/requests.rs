//! Request bodies and query strings of the knowledge base endpoints, and how each parses. Fields
//! arrive as plain JSON values so that every problem is reported by field name at once.

use serde::Deserialize;
use serde_json::json;
use support_domain::kb::{
    ArticleContent, ArticleSummary, ArticleTitle, KbArticleChanges, KbArticleFields, KbCategory,
    KbStatus, RatingComment, SearchBoost, Stars, Verdict,
};
use support_domain::ticket::{AgentId, Labels, TicketDescription, TicketTitle};
use support_domain::FieldErrors;
use support_projections::kb::KbSearch;
use support_projections::page::PageRequest;
use support_projections::schema;
use utoipa::openapi::schema::Object;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::extract::{
    boolean, numbered_page, parsed, required, required_parsed, UnknownParameters,
};
use crate::tickets::requests::{labels, labels_schema, related_ids, related_ids_schema};

/// A new article, a draft until it is published.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateKbArticleRequest {
    #[schema(required = true, schema_with = title)]
    pub title: Option<String>,
    #[schema(required = true, schema_with = summary)]
    pub summary: Option<String>,
    /// Markdown.
    #[schema(required = true, schema_with = content)]
    pub content: Option<String>,
    #[schema(required = true, schema_with = schema::kb_category)]
    pub category: Option<String>,
    #[schema(schema_with = labels_schema)]
    pub tags: Option<Vec<String>>,
    /// Words readers search for that the text may not use; weighted as tags are.
    #[schema(schema_with = labels_schema)]
    pub keywords: Option<Vec<String>>,
    /// Who wrote it (an agent's id); the caller when absent.
    #[schema(schema_with = schema::agent_id)]
    pub author: Option<String>,
    /// Staff only: customers and anonymous readers never see it. Default false.
    pub is_internal: Option<bool>,
    /// Shown first among the matches of every search. Default false.
    pub is_pinned: Option<bool>,
    /// Multiplies its relevance: 0.1 to 10, default 1.
    #[schema(minimum = 0.1, maximum = 10.0)]
    pub search_boost: Option<f64>,
    #[schema(schema_with = related_ids_schema)]
    pub related_articles: Option<Vec<Uuid>>,
    #[schema(schema_with = related_ids_schema)]
    pub related_tickets: Option<Vec<Uuid>>,
    #[schema(schema_with = related_ids_schema)]
    pub related_incidents: Option<Vec<Uuid>>,
}

/// Any subset of an article's fields (a new revision if one changes) and its status: `PUBLISHED`
/// publishes, `ARCHIVED` archives, `DRAFT` restores to draft.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateKbArticleRequest {
    #[schema(schema_with = title)]
    pub title: Option<String>,
    #[schema(schema_with = summary)]
    pub summary: Option<String>,
    #[schema(schema_with = content)]
    pub content: Option<String>,
    #[schema(schema_with = schema::kb_category)]
    pub category: Option<String>,
    #[schema(schema_with = labels_schema)]
    pub tags: Option<Vec<String>>,
    #[schema(schema_with = labels_schema)]
    pub keywords: Option<Vec<String>>,
    #[schema(schema_with = schema::agent_id)]
    pub author: Option<String>,
    pub is_internal: Option<bool>,
    pub is_pinned: Option<bool>,
    #[schema(minimum = 0.1, maximum = 10.0)]
    pub search_boost: Option<f64>,
    #[schema(schema_with = related_ids_schema)]
    pub related_articles: Option<Vec<Uuid>>,
    #[schema(schema_with = related_ids_schema)]
    pub related_tickets: Option<Vec<Uuid>>,
    #[schema(schema_with = related_ids_schema)]
    pub related_incidents: Option<Vec<Uuid>>,
    #[schema(schema_with = schema::kb_status)]
    pub status: Option<String>,
    /// Accepted for compatibility; the actor is always the authenticated caller.
    #[schema(schema_with = schema::agent_id)]
    pub updated_by: Option<String>,
}

fn title() -> Object {
    schema::text(ArticleTitle::MAX_CHARS)
        .examples([json!("How to Reset Your Password")])
        .build()
}

fn summary() -> Object {
    schema::text(ArticleSummary::MAX_CHARS).build()
}

fn content() -> Object {
    schema::text(ArticleContent::MAX_CHARS).build()
}

fn search_boost(errors: &mut FieldErrors, value: Option<f64>) -> Option<SearchBoost> {
    errors.take("searchBoost", SearchBoost::parse(value?))
}

impl CreateKbArticleRequest {
    /// The article's fields; `caller` is the author when none is named.
    pub fn parse(&self, caller: &str) -> Result<KbArticleFields, FieldErrors> {
        let mut errors = FieldErrors::default();
        let title = required_parsed(&mut errors, "title", &self.title, ArticleTitle::parse);
        let summary = required_parsed(&mut errors, "summary", &self.summary, ArticleSummary::parse);
        let content = required_parsed(&mut errors, "content", &self.content, ArticleContent::parse);
        let category = required_parsed(&mut errors, "category", &self.category, KbCategory::parse);
        let author = parsed(
            &mut errors,
            "author",
            Some(self.author.as_deref().unwrap_or(caller)),
            AgentId::parse,
        );
        let tags = labels(&mut errors, "tags", self.tags.as_ref());
        let keywords = labels(&mut errors, "keywords", self.keywords.as_ref());
        let search_boost = search_boost(&mut errors, self.search_boost);
        let related_articles = related_ids(
            &mut errors,
            "relatedArticles",
            self.related_articles.as_ref(),
        );
        let related_tickets =
            related_ids(&mut errors, "relatedTickets", self.related_tickets.as_ref());
        let related_incidents = related_ids(
            &mut errors,
            "relatedIncidents",
            self.related_incidents.as_ref(),
        );
        errors.into_result()?;
        let parsed = "no errors means every field parsed";
        Ok(KbArticleFields {
            title: title.expect(parsed),
            summary: summary.expect(parsed),
            content: content.expect(parsed),
            category: category.expect(parsed),
            tags: tags.unwrap_or_default(),
            keywords: keywords.unwrap_or_default(),
            author: author.expect(parsed),
            is_internal: self.is_internal.unwrap_or(false),
            is_pinned: self.is_pinned.unwrap_or(false),
            search_boost: search_boost.unwrap_or_default(),
            related_articles: related_articles.unwrap_or_default(),
            related_tickets: related_tickets.unwrap_or_default(),
            related_incidents: related_incidents.unwrap_or_default(),
        })
    }
}

impl UpdateKbArticleRequest {
    pub fn parse(&self) -> Result<(KbArticleChanges, Option<KbStatus>), FieldErrors> {
        let mut errors = FieldErrors::default();
        let changes = KbArticleChanges {
            title: parsed(
                &mut errors,
                "title",
                self.title.as_deref(),
                ArticleTitle::parse,
            ),
            summary: parsed(
                &mut errors,
                "summary",
                self.summary.as_deref(),
                ArticleSummary::parse,
            ),
            content: parsed(
                &mut errors,
                "content",
                self.content.as_deref(),
                ArticleContent::parse,
            ),
            category: parsed(
                &mut errors,
                "category",
                self.category.as_deref(),
                KbCategory::parse,
            ),
            tags: labels(&mut errors, "tags", self.tags.as_ref()),
            keywords: labels(&mut errors, "keywords", self.keywords.as_ref()),
            author: parsed(
                &mut errors,
                "author",
                self.author.as_deref(),
                AgentId::parse,
            ),
            is_internal: self.is_internal,
            is_pinned: self.is_pinned,
            search_boost: search_boost(&mut errors, self.search_boost),
            related_articles: related_ids(
                &mut errors,
                "relatedArticles",
                self.related_articles.as_ref(),
            ),
            related_tickets: related_ids(
                &mut errors,
                "relatedTickets",
                self.related_tickets.as_ref(),
            ),
            related_incidents: related_ids(
                &mut errors,
                "relatedIncidents",
                self.related_incidents.as_ref(),
            ),
        };
        let status = parsed(
            &mut errors,
            "status",
            self.status.as_deref(),
            KbStatus::parse,
        );
        parsed(
            &mut errors,
            "updatedBy",
            self.updated_by.as_deref(),
            AgentId::parse,
        );
        errors.into_result()?;
        Ok((changes, status))
    }
}

/// The query of `GET /kb-articles`: a search, or browsing when `search` is absent.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct KbSearchQuery {
    /// Words to find, in web search syntax: `"a phrase"`, `-excluded`, `or`. Misspellings are
    /// corrected when the words as sent find little.
    #[param(value_type = Option<String>, max_length = 200)]
    pub search: Option<String>,
    #[param(schema_with = schema::kb_category)]
    pub category: Option<String>,
    /// Customers and anonymous readers see `PUBLISHED` articles only, whatever this says.
    #[param(schema_with = schema::kb_status)]
    pub status: Option<String>,
    /// Comma-separated: articles carrying every one of these tags.
    #[param(value_type = Option<String>)]
    pub tags: Option<String>,
    /// `true`: only the articles rated low (at least 5 ratings, a mean under 2.5); `false`: only
    /// the others.
    #[param(value_type = Option<bool>)]
    pub low_rated: Option<String>,
    /// 1-based page number (default 1).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 2147483647)]
    pub page: Option<String>,
    /// Articles per page (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub unknown: UnknownParameters,
}

/// How long a search's text may be.
const MAX_SEARCH_CHARS: usize = 200;

impl KbSearchQuery {
    pub fn parse(&self) -> Result<KbSearch, FieldErrors> {
        let mut errors = FieldErrors::default();
        self.unknown.refuse(&mut errors);
        let text = self
            .search
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        if text.is_some_and(|t| t.chars().count() > MAX_SEARCH_CHARS) {
            errors.push(
                "search",
                format!("must be at most {MAX_SEARCH_CHARS} characters"),
            );
        }
        let category = parsed(
            &mut errors,
            "category",
            self.category.as_deref(),
            KbCategory::parse,
        );
        let status = parsed(
            &mut errors,
            "status",
            self.status.as_deref(),
            KbStatus::parse,
        );
        let tags: Vec<String> = self
            .tags
            .as_deref()
            .map(|tags| {
                tags.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if let Err((_, message)) = Labels::parse(&tags) {
            errors.push("tags", message);
        }
        let low_rated = parsed(&mut errors, "lowRated", self.low_rated.as_deref(), boolean);
        let page = numbered_page(&mut errors, self.page.as_deref(), self.limit.as_deref());
        errors.into_result()?;
        Ok(KbSearch {
            text: text.map(str::to_owned),
            category,
            status,
            tags,
            low_rated,
            page: page.number().unwrap_or(1),
            limit: page.limit,
        })
    }
}

/// A reader's rating of an article; sent again, it replaces the reader's earlier one. Fields it
/// does not declare are refused by `ApiJson`, every one named (`deny_unknown_fields` would name
/// only the first, as `body`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateKbArticleRequest {
    /// Stars, a whole number from 1 to 5.
    #[schema(required = true, value_type = i32, minimum = 1, maximum = 5)]
    pub rating: Option<f64>,
    /// Whether the article helped.
    #[schema(required = true, value_type = bool)]
    pub helpful: Option<bool>,
    /// What the reader would add; kept as personal data.
    #[schema(schema_with = rating_comment)]
    pub comment: Option<String>,
}

fn rating_comment() -> Object {
    schema::text(RatingComment::MAX_CHARS).build()
}

impl RateKbArticleRequest {
    pub fn parse(&self) -> Result<Verdict, FieldErrors> {
        let mut errors = FieldErrors::default();
        let rating = required(&mut errors, "rating", self.rating)
            .and_then(|rating| errors.take("rating", Stars::parse(rating)));
        let helpful = required(&mut errors, "helpful", self.helpful);
        let comment = parsed(
            &mut errors,
            "comment",
            self.comment.as_deref(),
            RatingComment::parse,
        );
        errors.into_result()?;
        let parsed = "no errors means every field parsed";
        Ok(Verdict {
            rating: rating.expect(parsed),
            helpful: helpful.expect(parsed),
            comment,
        })
    }
}

/// The text of a ticket not opened yet, to find articles that may answer it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SuggestKbArticlesRequest {
    #[schema(required = true, schema_with = ticket_title)]
    pub title: Option<String>,
    #[schema(schema_with = ticket_description)]
    pub description: Option<String>,
    /// How many articles at most: 1 to 20, default 5.
    #[schema(minimum = 1, maximum = 20)]
    pub limit: Option<u32>,
}

fn ticket_title() -> Object {
    schema::text(TicketTitle::MAX_CHARS).build()
}

fn ticket_description() -> Object {
    schema::text(TicketDescription::MAX_CHARS).build()
}

/// How many suggestions by default, and at most.
pub const SUGGESTIONS: u32 = 5;
pub const MAX_SUGGESTIONS: u32 = 20;

impl SuggestKbArticlesRequest {
    /// The text to match (title and description) and how many articles to suggest.
    pub fn parse(&self) -> Result<(String, u32), FieldErrors> {
        let mut errors = FieldErrors::default();
        let title = required_parsed(&mut errors, "title", &self.title, TicketTitle::parse);
        let description = parsed(
            &mut errors,
            "description",
            self.description.as_deref(),
            TicketDescription::parse,
        );
        let limit = self.limit.unwrap_or(SUGGESTIONS);
        if !(1..=MAX_SUGGESTIONS).contains(&limit) {
            errors.push("limit", format!("must be from 1 to {MAX_SUGGESTIONS}"));
        }
        errors.into_result()?;
        let text = [
            title.as_ref().map(TicketTitle::as_str),
            description.as_ref().map(TicketDescription::as_str),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("\n");
        Ok((text, limit))
    }
}

/// `limit` of the suggestions for a ticket.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct SuggestionsQuery {
    /// How many articles at most: 1 to 20, default 5.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 20)]
    pub limit: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub unknown: UnknownParameters,
}

impl SuggestionsQuery {
    pub fn parse(&self) -> Result<u32, FieldErrors> {
        let mut errors = FieldErrors::default();
        self.unknown.refuse(&mut errors);
        let limit = parsed(&mut errors, "limit", self.limit.as_deref(), |v| {
            v.parse::<u32>()
                .ok()
                .filter(|limit| (1..=MAX_SUGGESTIONS).contains(limit))
                .ok_or_else(|| format!("must be a whole number from 1 to {MAX_SUGGESTIONS}"))
        });
        errors.into_result()?;
        Ok(limit.unwrap_or(SUGGESTIONS))
    }
}

/// The range of `GET /kb-articles/search-insights` and how many queries to list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct SearchInsightsQuery {
    /// The range's first day (`YYYY-MM-DD`, from its start in UTC) or instant (RFC 3339).
    #[param(required = true, value_type = String, pattern = r"^[^\u0000]*$")]
    pub start_date: Option<String>,
    /// The range's last day (`YYYY-MM-DD`, included whole) or the instant it ends (excluded); at
    /// most 366 days after `startDate`.
    #[param(required = true, value_type = String, pattern = r"^[^\u0000]*$")]
    pub end_date: Option<String>,
    /// How many queries each list shows: 1 to 100, default 20.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub top: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub unknown: UnknownParameters,
}

/// The page of `GET /kb-articles/{article_key}/revisions`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct RevisionsQuery {
    /// 1-based page number (default 1).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 2147483647)]
    pub page: Option<String>,
    /// Revisions per page (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub unknown: UnknownParameters,
}

impl RevisionsQuery {
    pub fn parse(&self) -> Result<PageRequest, FieldErrors> {
        let mut errors = FieldErrors::default();
        self.unknown.refuse(&mut errors);
        let page = numbered_page(&mut errors, self.page.as_deref(), self.limit.as_deref());
        errors.into_result()?;
        Ok(page)
    }
}
