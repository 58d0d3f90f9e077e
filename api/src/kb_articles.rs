//! The knowledge base endpoints. Agents and admins write articles; anyone, without a token too,
//! searches and reads the published public ones (a help centre for self-service), and staff see
//! every article. An article a caller may not see answers 404, as if absent.

pub mod cache;
pub mod ratings;
pub mod requests;
pub mod settings;
pub mod view_fold;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Serialize;
use support_domain::kb::{
    ArticleNumber, CreateKbArticle, KbArticle, KbArticleCommand, KbStatus, UpdateKbArticle,
};
use support_domain::{ActorRole, FieldErrors};
use support_projections::kb::{
    self, ArticleHit, KbArticleView, KbAudience, KbSearchPage, SearchInsights, READ_MODEL,
};
use support_projections::tickets::{self, TicketKey};
use utoipa::ToSchema;
use uuid::Uuid;

use self::requests::{
    CreateKbArticleRequest, KbSearchQuery, SearchInsightsQuery, SuggestKbArticlesRequest,
    SuggestionsQuery, UpdateKbArticleRequest,
};
use crate::auth::Principal;
use crate::commands::{CommandAccepted, Committed, RequestIds};
use crate::extract::{parsed, ApiJson, ApiPath, ApiQuery};
use crate::numbering;
use crate::problem::{ApiError, Problem};
use crate::sla_report::period;
use crate::startup::ApiContext;

const WRITERS: &[ActorRole] = &[ActorRole::Agent, ActorRole::Admin];
const STAFF_READERS: &[ActorRole] = &[
    ActorRole::Agent,
    ActorRole::Admin,
    ActorRole::Service,
    ActorRole::Auditor,
];

const KEY: &str = "The article's id (a UUID) or number (KB-000123)";
const NOT_FOUND: &str = "No article has this id or number, or the caller may not see it";
const ACCEPTED: &str =
    "Recorded; the read model did not show it within the wait bound. Poll Location.";
const RESOURCE: &str = "knowledge base article";

pub fn routes() -> Router<ApiContext> {
    Router::new()
        .route(
            "/kb-articles",
            post(create_kb_article).get(search_kb_articles),
        )
        .route("/kb-articles/search-insights", get(kb_search_insights))
        .route("/kb-articles/suggest", post(suggest_kb_articles))
        .route(
            "/kb-articles/{article_key}",
            get(get_kb_article).put(update_kb_article),
        )
        .route(
            "/kb-articles/{article_key}/revisions",
            get(kb_article_revisions),
        )
        .route(
            "/kb-articles/{article_key}/ratings",
            post(ratings::rate_kb_article),
        )
        .route(
            "/tickets/{key}/suggested-articles",
            get(ticket_suggested_articles),
        )
}

/// What a caller may see: staff everything, customers and anonymous readers the published public
/// articles.
fn audience(principal: Option<&Principal>) -> KbAudience {
    match principal.map(|p| p.role) {
        Some(ActorRole::Agent | ActorRole::Admin | ActorRole::Service | ActorRole::Auditor) => {
            KbAudience::Staff
        }
        Some(ActorRole::Customer) | None => KbAudience::Public,
    }
}

fn visible(article: &KbArticleView, audience: KbAudience) -> bool {
    audience == KbAudience::Staff
        || (article.status == KbStatus::Published.as_str() && !article.is_internal)
}

/// The article a URL names, on the write side (a command can work an article whose creation the
/// read model does not show yet).
async fn article_id(ctx: &ApiContext, key: &str) -> Result<Uuid, ApiError> {
    if let Ok(id) = Uuid::parse_str(key) {
        return Ok(id);
    }
    let number = ArticleNumber::parse(key).map_err(|_| ApiError::NotFound(RESOURCE))?;
    numbering::holder(&ctx.pool, ArticleNumber::PREFIX, None, number.counter())
        .await?
        .ok_or(ApiError::NotFound(RESOURCE))
}

/// The id of the article a URL names, as the read model knows it.
async fn read_model_id(ctx: &ApiContext, key: &str) -> Result<Option<Uuid>, ApiError> {
    if let Ok(id) = Uuid::parse_str(key) {
        return Ok(Some(id));
    }
    match ArticleNumber::parse(key) {
        Ok(number) => Ok(ctx.kb_cache.id_of_number(&ctx.pool, number).await?),
        Err(_) => Ok(None),
    }
}

/// The article a URL names, as the read model shows it to `audience`.
async fn visible_article(
    ctx: &ApiContext,
    key: &str,
    audience: KbAudience,
) -> Result<KbArticleView, ApiError> {
    let id = read_model_id(ctx, key)
        .await?
        .ok_or(ApiError::NotFound(RESOURCE))?;
    visible_by_id(ctx, id, audience).await
}

/// Article `id` as the read model shows it to `audience`.
async fn visible_by_id(
    ctx: &ApiContext,
    id: Uuid,
    audience: KbAudience,
) -> Result<KbArticleView, ApiError> {
    kb::find(&ctx.pool, id)
        .await?
        .filter(|article| visible(article, audience))
        .ok_or(ApiError::NotFound(RESOURCE))
}

async fn answer_with_article(
    ctx: &ApiContext,
    status: StatusCode,
    committed: Committed,
) -> Response {
    let id = committed.id;
    let location = format!("/api/v1/support/kb-articles/{id}");
    ctx.answer(status, location, committed, READ_MODEL, || async {
        Ok(kb::find(&ctx.pool, id).await?)
    })
    .await
}

/// Create a knowledge base article, as a draft. Agents and admins.
///
/// It gets the next number (`KB-000123`) and revision 1; `PUT` with `status: PUBLISHED`
/// publishes it.
#[utoipa::path(post, path = "/api/v1/support/kb-articles", tag = "knowledge base", request_body = CreateKbArticleRequest,
    responses(
        (status = 201, description = "Article created, as a draft", body = KbArticleView, headers(("Location" = String, description = "The article's URL"))),
        (status = 202, description = ACCEPTED, body = CommandAccepted, headers(("Location" = String, description = "The article's URL"))),
        (status = 401, description = "No valid bearer token", body = Problem),
        (status = 403, description = "Customers, services and auditors do not write articles", body = Problem),
        (status = 422, description = "A field is missing or invalid (all are listed)", body = Problem)),
    security(("bearer" = [])))]
pub async fn create_kb_article(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ids: RequestIds,
    ApiJson(body): ApiJson<CreateKbArticleRequest>,
) -> Result<Response, ApiError> {
    principal.require(WRITERS, "write knowledge base articles")?;
    let fields = body.parse(&principal.sub).map_err(ApiError::Validation)?;
    let metadata = ctx.metadata(&principal, &ids)?;
    let id = Uuid::new_v4();
    let counter = numbering::take(&ctx.pool, ArticleNumber::PREFIX, None, id).await?;
    let command = KbArticleCommand::Create(CreateKbArticle {
        caller: principal.caller(),
        article_id: id,
        number: ArticleNumber::new(counter),
        fields,
    });
    let committed = ctx.create::<KbArticle>(id, command, &metadata).await?;
    Ok(answer_with_article(&ctx, StatusCode::CREATED, committed).await)
}

/// Search knowledge base articles, or browse them without `search`. No token needed.
///
/// Ranking: pinned articles first, then articles whose title has the query's words as written,
/// then relevance (title counts most, then keywords and tags, summary, content) times the
/// article's `searchBoost`, applied in full to the 200 most relevant matches (and every pinned
/// one); deeper pages widen that window 200 at a time. `total` and the category counts are exact
/// up to 1,000 matches and estimates beyond (`totalIsEstimate`). When the words as sent find
/// fewer than 3 articles, misspelt words are
/// replaced by the nearest words the articles use, and `correctedQuery` says so. Customers and
/// anonymous readers see published public articles only. A search (page 1) is recorded, without
/// who searched, for the search insights.
#[utoipa::path(get, path = "/api/v1/support/kb-articles", tag = "knowledge base", params(KbSearchQuery),
    responses((status = 200, description = "A page of matching articles, with counts per category", body = KbSearchPage),
        (status = 401, description = "A bearer token was sent and is not valid", body = Problem),
        (status = 422, description = "A parameter is invalid or unknown (all are listed)", body = Problem)),
    security((), ("bearer" = [])))]
pub async fn search_kb_articles(
    State(ctx): State<ApiContext>,
    principal: Option<Principal>,
    ApiQuery(query): ApiQuery<KbSearchQuery>,
) -> Result<Json<KbSearchPage>, ApiError> {
    let search = query.parse().map_err(ApiError::Validation)?;
    let found = ctx
        .kb_cache
        .search(&ctx.pool, audience(principal.as_ref()), &search)
        .await?;
    if let (Some(text), 1) = (search.text.as_deref(), search.page) {
        kb::record_search(&ctx.pool, text, found.total, ctx.clock.now()).await?;
    }
    Ok(Json(found))
}

/// One article, by id or number; counts a view. No token needed for a published public article.
///
/// Published public articles are served from memory while the read model holds the version
/// cached: an update, archive or status change answered by any process is seen at once.
#[utoipa::path(get, path = "/api/v1/support/kb-articles/{article_key}", tag = "knowledge base",
    params(("article_key" = String, Path, description = KEY)),
    responses((status = 200, description = "The article; `views` includes this read", body = KbArticleView),
        (status = 401, description = "A bearer token was sent and is not valid", body = Problem),
        (status = 404, description = NOT_FOUND, body = Problem)),
    security((), ("bearer" = [])))]
pub async fn get_kb_article(
    State(ctx): State<ApiContext>,
    principal: Option<Principal>,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<KbArticleView>, ApiError> {
    let id = read_model_id(&ctx, &key)
        .await?
        .ok_or(ApiError::NotFound(RESOURCE))?;
    let now = ctx.clock.now();
    if let Some(cached) = ctx.kb_cache.read(&ctx.pool, id, now).await? {
        return Ok(Json(cached));
    }
    let mut article = visible_by_id(&ctx, id, audience(principal.as_ref())).await?;
    kb::count_view(&ctx.pool, article.id, now).await?;
    article.readers.views += 1;
    // A cached article is served to every caller: only those anyone may read are kept.
    if visible(&article, KbAudience::Public) {
        ctx.kb_cache.keep(&article).await;
    }
    Ok(Json(article))
}

/// Change an article (a new revision) and its status: `PUBLISHED` publishes, `ARCHIVED`
/// archives, `DRAFT` restores to draft. Agents and admins.
///
/// A draft may be published or archived, a published article archived or taken back to draft,
/// and an archived one restored to draft. Fields sent unchanged make no revision.
#[utoipa::path(put, path = "/api/v1/support/kb-articles/{article_key}", tag = "knowledge base", request_body = UpdateKbArticleRequest,
    params(("article_key" = String, Path, description = KEY)),
    responses(
        (status = 200, description = "The article after the change", body = KbArticleView, headers(("Location" = String, description = "The article's URL"))),
        (status = 202, description = ACCEPTED, body = CommandAccepted, headers(("Location" = String, description = "The article's URL"))),
        (status = 401, description = "No valid bearer token", body = Problem),
        (status = 403, description = "Customers, services and auditors do not write articles", body = Problem),
        (status = 404, description = NOT_FOUND, body = Problem),
        (status = 409, description = "The status cannot follow the current one (`allowedStatuses` lists those that can), or a concurrent change", body = Problem),
        (status = 422, description = "A field is invalid (all are listed)", body = Problem)),
    security(("bearer" = [])))]
pub async fn update_kb_article(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ids: RequestIds,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateKbArticleRequest>,
) -> Result<Response, ApiError> {
    principal.require(WRITERS, "write knowledge base articles")?;
    let (changes, status) = body.parse().map_err(ApiError::Validation)?;
    let id = article_id(&ctx, &key).await?;
    let metadata = ctx.metadata(&principal, &ids)?;
    let command = KbArticleCommand::Update(UpdateKbArticle {
        caller: principal.caller(),
        changes,
        status,
    });
    let committed = ctx.execute::<KbArticle>(id, command, &metadata).await?;
    Ok(answer_with_article(&ctx, StatusCode::OK, committed).await)
}

/// One field a revision changed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    /// As the requests name it: `title`, `tags`, `searchBoost`.
    pub field: String,
    /// Its value in the revision before (a string, number, boolean or list, as the field is);
    /// null in the first revision.
    pub before: serde_json::Value,
    /// Its value in this revision.
    pub after: serde_json::Value,
}

/// One revision of an article and what it changed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevisionView {
    pub revision: i32,
    pub revised_by: String,
    pub revised_at: DateTime<Utc>,
    pub changes: Vec<FieldChange>,
}

/// An article's revisions, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevisionPage {
    pub items: Vec<RevisionView>,
    pub page: u32,
    pub limit: u32,
    /// How many revisions the article has.
    pub total: i64,
}

/// An article's revisions, newest first, each with what it changed against the one before.
/// Staff and auditors.
#[utoipa::path(get, path = "/api/v1/support/kb-articles/{article_key}/revisions", tag = "knowledge base",
    params(("article_key" = String, Path, description = KEY), requests::RevisionsQuery),
    responses((status = 200, description = "A page of revisions", body = RevisionPage),
        (status = 401, description = "No valid bearer token", body = Problem),
        (status = 403, description = "Customers do not read revisions", body = Problem),
        (status = 404, description = NOT_FOUND, body = Problem),
        (status = 422, description = "A parameter is invalid or unknown (all are listed)", body = Problem)),
    security(("bearer" = [])))]
pub async fn kb_article_revisions(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ApiPath(key): ApiPath<String>,
    ApiQuery(query): ApiQuery<requests::RevisionsQuery>,
) -> Result<Json<RevisionPage>, ApiError> {
    principal.require(STAFF_READERS, "read revisions")?;
    let page = query.parse().map_err(ApiError::Validation)?;
    let article = visible_article(&ctx, &key, KbAudience::Staff).await?;
    // In i64: a page number may go up to i32::MAX, far past the last revision.
    let limit = i64::from(page.limit);
    let newest = i64::from(article.revision) - (i64::from(page.number().unwrap_or(1)) - 1) * limit;
    let oldest = (newest - limit + 1).max(1);
    let stored = match (i32::try_from(oldest), i32::try_from(newest)) {
        (Ok(oldest), Ok(newest)) if newest >= 1 => {
            kb::revisions(&ctx.pool, article.id, oldest, newest).await?
        }
        _ => Vec::new(),
    };
    let mut items = Vec::new();
    let mut before: Option<serde_json::Value> = None;
    for revision in stored {
        let fields = serde_json::to_value(&revision.fields.0).map_err(anyhow::Error::from)?;
        if i64::from(revision.revision) >= oldest {
            items.push(RevisionView {
                revision: revision.revision,
                revised_by: revision.revised_by,
                revised_at: revision.revised_at,
                changes: changes(before.as_ref(), &fields),
            });
        }
        before = Some(fields);
    }
    items.reverse();
    Ok(Json(RevisionPage {
        items,
        page: page.number().unwrap_or(1),
        limit: page.limit,
        total: i64::from(article.revision),
    }))
}

/// The fields whose values differ between two revisions, in the order the article lists them.
fn changes(before: Option<&serde_json::Value>, after: &serde_json::Value) -> Vec<FieldChange> {
    let Some(after) = after.as_object() else {
        return Vec::new();
    };
    after
        .iter()
        .filter_map(|(field, value)| {
            let old = before
                .and_then(|b| b.get(field))
                .cloned()
                .unwrap_or(serde_json::Value::Null);
            (old != *value).then(|| FieldChange {
                field: field.clone(),
                before: old,
                after: value.clone(),
            })
        })
        .collect()
}

/// Articles that may answer a ticket not opened yet, best first. No token needed: a portal
/// offers them before the ticket is opened.
///
/// Ranked as a search is, with any of the text's words matching. Customers and anonymous readers
/// get published public articles only; staff published ones, internal ones too.
#[utoipa::path(post, path = "/api/v1/support/kb-articles/suggest", tag = "knowledge base", request_body = SuggestKbArticlesRequest,
    responses((status = 200, description = "The suggested articles, best first", body = [ArticleHit]),
        (status = 401, description = "A bearer token was sent and is not valid", body = Problem),
        (status = 422, description = "A field is invalid, or the title is missing (all are listed)", body = Problem)),
    security((), ("bearer" = [])))]
pub async fn suggest_kb_articles(
    State(ctx): State<ApiContext>,
    principal: Option<Principal>,
    ApiJson(body): ApiJson<SuggestKbArticlesRequest>,
) -> Result<Json<Vec<ArticleHit>>, ApiError> {
    let (text, limit) = body.parse().map_err(ApiError::Validation)?;
    let hits = kb::suggest(&ctx.pool, audience(principal.as_ref()), &text, limit).await?;
    Ok(Json(hits))
}

/// Published articles that may answer a ticket, best first, matched on its title and description.
///
/// Whoever sees the ticket sees its suggestions; a customer only public ones.
#[utoipa::path(get, path = "/api/v1/support/tickets/{key}/suggested-articles", tag = "knowledge base",
    params(("key" = String, Path, description = "The ticket's id (a UUID) or number"), SuggestionsQuery),
    responses((status = 200, description = "The suggested articles, best first", body = [ArticleHit]),
        (status = 401, description = "No valid bearer token", body = Problem),
        (status = 404, description = "No ticket has this id or number, or the caller may not see it", body = Problem),
        (status = 422, description = "A parameter is invalid or unknown", body = Problem)),
    security(("bearer" = [])))]
pub async fn ticket_suggested_articles(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ApiPath(key): ApiPath<String>,
    ApiQuery(query): ApiQuery<SuggestionsQuery>,
) -> Result<Json<Vec<ArticleHit>>, ApiError> {
    let limit = query.parse().map_err(ApiError::Validation)?;
    let key = TicketKey::parse(&key).ok_or(ApiError::NotFound("ticket"))?;
    let ticket = tickets::find(&ctx.pool, &key, &principal.ticket_scope())
        .await?
        .ok_or(ApiError::NotFound("ticket"))?;
    let text = format!("{}\n{}", ticket.title, ticket.description);
    let hits = kb::suggest(&ctx.pool, audience(Some(&principal)), &text, limit).await?;
    Ok(Json(hits))
}

/// What readers searched for in a range: the most frequent searches that found nothing (articles
/// to write) and the most frequent overall. Staff and auditors.
///
/// Searches are recorded without who searched, their text in lower case with email addresses
/// and long numbers masked.
#[utoipa::path(get, path = "/api/v1/support/kb-articles/search-insights", tag = "knowledge base", params(SearchInsightsQuery),
    responses((status = 200, description = "The searches of the range", body = SearchInsights),
        (status = 401, description = "No valid bearer token", body = Problem),
        (status = 403, description = "Customers do not read search insights", body = Problem),
        (status = 422, description = "A parameter is invalid, missing or unknown (all are listed)", body = Problem)),
    security(("bearer" = [])))]
pub async fn kb_search_insights(
    State(ctx): State<ApiContext>,
    principal: Principal,
    ApiQuery(query): ApiQuery<SearchInsightsQuery>,
) -> Result<Json<SearchInsights>, ApiError> {
    principal.require(STAFF_READERS, "read search insights")?;
    let mut errors = FieldErrors::default();
    query.unknown.refuse(&mut errors);
    let range = period(
        &mut errors,
        query.start_date.as_deref(),
        query.end_date.as_deref(),
    );
    let top = parsed(&mut errors, "top", query.top.as_deref(), |v| {
        v.parse::<i64>()
            .ok()
            .filter(|top| (1..=100).contains(top))
            .ok_or_else(|| "must be a whole number from 1 to 100".to_owned())
    });
    errors.into_result().map_err(ApiError::Validation)?;
    let (from, to) = range.expect("no errors means the range parsed");
    let insights = kb::search_insights(&ctx.pool, from, to, top.unwrap_or(20)).await?;
    Ok(Json(insights))
}
