//! Knowledge base search on PostgreSQL's full-text search: one weighted document per article
//! (title A, keywords and tags B, summary C, content D), queries in `websearch_to_tsquery` syntax,
//! ranked by relevance (RUM's rank: the words' weights and how close they stand) times the
//! article's boost, pinned articles first and exact title matches ahead of stemmed ones. The RUM
//! index hands the matches over best first, so a search reads the rows of its best matches only. A search that finds little is retried with its misspelt words
//! replaced by the nearest words of the articles (pg_trgm). Only the page's hits pay for a
//! snippet, cut from the head of their content.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{PgExecutor, PgPool, Postgres, QueryBuilder};
use support_domain::kb::{KbCategory, KbStatus};
use utoipa::ToSchema;
use uuid::Uuid;

use super::ratings::{RATING_COLUMNS, SUMMARY_JOIN};
use super::views::{ReaderFigures, VIEWS};
use crate::page::planned_rows;
use crate::schema;

/// Who is searching: customers and anonymous readers see published public articles only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KbAudience {
    Public,
    Staff,
}

/// A search's filters and page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct KbSearch {
    /// `websearch_to_tsquery` text: words, "quoted phrases", `-excluded`, `or`.
    pub text: Option<String>,
    pub category: Option<KbCategory>,
    pub status: Option<KbStatus>,
    /// Articles carrying every one of these tags.
    pub tags: Vec<String>,
    /// Only the articles rated low (`true`), or only the others (`false`).
    pub low_rated: Option<bool>,
    pub page: u32,
    pub limit: u32,
}

/// A search result: the article without its content, and where the query matched it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArticleHit {
    pub id: Uuid,
    #[schema(example = "KB-000001")]
    pub article_number: String,
    pub title: String,
    pub summary: String,
    #[schema(schema_with = schema::kb_category)]
    pub category: String,
    #[schema(schema_with = schema::kb_status)]
    pub status: String,
    pub tags: Vec<String>,
    pub keywords: Vec<String>,
    /// Views and ratings: what readers change without a new version of the article.
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub readers: ReaderFigures,
    pub author: String,
    pub is_internal: bool,
    pub is_pinned: bool,
    pub search_boost: f64,
    pub updated_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    /// Relevance (RUM's rank times the boost); null when browsing without a search.
    pub score: Option<f64>,
    /// Where the content matched, HTML-escaped with the matched words in `<mark>`; null when
    /// browsing without a search.
    pub snippet: Option<String>,
}

/// How many of the results lie in each category (all categories, whichever one is filtered).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CategoryCount {
    #[schema(schema_with = schema::kb_category)]
    pub category: String,
    pub count: i64,
}

/// A page of search results.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KbSearchPage {
    pub items: Vec<ArticleHit>,
    pub page: u32,
    pub limit: u32,
    /// How many articles match, over all pages: counted while at most 1,000 match (before the
    /// category filter), the database's estimate beyond.
    pub total: i64,
    /// Whether `total` and the category counts are estimates (more than 1,000 match).
    pub total_is_estimate: bool,
    /// The results per category, before the category filter.
    pub categories: Vec<CategoryCount>,
    /// The query with its misspellings corrected, when the results are for it rather than for
    /// the query as sent (which found little).
    pub corrected_query: Option<String>,
}

/// The matches ordered in full (pins, exact titles, boost) are the best this many by text relevance.
const RANKING_WINDOW: i64 = 200;
/// Matches are counted up to this many; beyond, counting would read every one of them (a common
/// word matches a fifth of a large knowledge base), so the planner's estimates stand in.
const COUNTED_UP_TO: i64 = 1_000;
/// A search that finds fewer articles than this is retried with its typos corrected.
const FEW_RESULTS: i64 = 3;
/// How much of an article's content a snippet is cut from: `ts_headline` reads all it is given.
const SNIPPET_SOURCE_CHARS: i32 = 4_000;
/// How alike a word must be to a misspelling to replace it (pg_trgm similarity, 0 to 1).
const CORRECTION_SIMILARITY: f64 = 0.4;

/// The query a search runs: what a person typed, or every word of a ticket's text (any of them
/// matches) for suggestions.
#[derive(Debug, Clone, Copy)]
enum Matching<'a> {
    Websearch(&'a str),
    AnyWord(&'a str),
}

/// Searches, or browses when there is no text, the articles `audience` may see.
pub async fn search(
    pool: &PgPool,
    audience: KbAudience,
    search: &KbSearch,
) -> Result<KbSearchPage, sqlx::Error> {
    let Some(text) = search.text.as_deref() else {
        return browse(pool, audience, search).await;
    };
    let found = matching_page(pool, audience, search, text).await?;
    if found.total >= FEW_RESULTS {
        return Ok(found);
    }
    let Some(corrected) = corrected(pool, text).await? else {
        return Ok(found);
    };
    let retried = matching_page(pool, audience, search, &corrected).await?;
    Ok(if retried.total > found.total {
        KbSearchPage {
            corrected_query: Some(corrected),
            ..retried
        }
    } else {
        found
    })
}

/// The published articles `audience` may see that best match a ticket's text, ranked as a search
/// ranks them; any of the text's words matches.
pub async fn suggest(
    pool: &PgPool,
    audience: KbAudience,
    text: &str,
    limit: u32,
) -> Result<Vec<ArticleHit>, sqlx::Error> {
    let search = KbSearch {
        status: Some(KbStatus::Published),
        page: 1,
        limit,
        ..KbSearch::default()
    };
    let mut query = ranked_hits("", audience, &search, Matching::AnyWord(text));
    query.build_query_as().fetch_all(pool).await
}

/// The columns of `ArticleHit`, from `kb_articles a` with `SUMMARY_JOIN`.
fn hit_columns() -> String {
    format!(
        "a.id, a.article_number, a.title, a.summary, a.category, a.status, a.tags, a.keywords, \
         {VIEWS} AS views, {RATING_COLUMNS}, a.author, a.is_internal, a.is_pinned, \
         a.search_boost, a.updated_at, a.published_at"
    )
}

/// `q`: the query (`query`, against the stemmed document) and its words as written (`exact`,
/// against the title's words; null for suggestions).
fn push_query(builder: &mut QueryBuilder<'_, Postgres>, matching: Matching<'_>) {
    match matching {
        Matching::Websearch(text) => {
            builder
                .push("q AS (SELECT websearch_to_tsquery('english', ")
                .push_bind(text.to_owned())
                .push(") AS query, websearch_to_tsquery('simple', ")
                .push_bind(text.to_owned())
                .push(") AS exact)");
        }
        // The text's own stems, any of them: `simple` keeps them as they are. The first 64
        // distinct ones bound the query's cost for a long ticket.
        Matching::AnyWord(text) => {
            builder
                .push(
                    "q AS (SELECT coalesce((SELECT string_agg(quote_literal(word), ' | ') \
                     FROM (SELECT unnest(tsvector_to_array(to_tsvector('english', ",
                )
                .push_bind(text.to_owned())
                .push(
                    "))) AS word LIMIT 64) AS words), '')::text AS words), \
                     any_word AS (SELECT to_tsquery('simple', words) AS query, \
                     NULL::tsquery AS exact FROM q)",
                );
        }
    }
}

/// The name of the CTE holding `query` and `exact`.
fn query_cte(matching: Matching<'_>) -> &'static str {
    match matching {
        Matching::Websearch(_) => "q",
        Matching::AnyWord(_) => "any_word",
    }
}

/// The filters of a search and who may see what; `with_category` false for the category counts.
fn push_filters(
    builder: &mut QueryBuilder<'_, Postgres>,
    audience: KbAudience,
    search: &KbSearch,
    with_category: bool,
) {
    if audience == KbAudience::Public {
        builder.push(" AND a.status = 'PUBLISHED' AND NOT a.is_internal");
    }
    if let Some(status) = search.status {
        builder.push(" AND a.status = ").push_bind(status.as_str());
    }
    if let (true, Some(category)) = (with_category, search.category) {
        builder
            .push(" AND a.category = ")
            .push_bind(category.as_str());
    }
    if !search.tags.is_empty() {
        builder
            .push(" AND a.tags @> ")
            .push_bind(search.tags.clone());
    }
    // Through the partial index of the low-rated articles, which are few.
    match search.low_rated {
        Some(true) => builder.push(" AND").push(LOW_RATED),
        Some(false) => builder.push(" AND NOT").push(LOW_RATED),
        None => builder,
    };
}

const LOW_RATED: &str = " EXISTS (SELECT 1 FROM kb_rating_summaries l \
    WHERE l.article_id = a.id AND l.low_rated)";

/// The page's hits, best first, each with its snippet. The index hands the matches over by text
/// relevance; the best `RANKING_WINDOW` of them (more for a page past them) and every pinned match
/// are then ordered in full: pinned, exact title, relevance times boost. A match outside that
/// window ranks below it, however boosted; reading every match to rank it is what this avoids.
fn ranked_hits<'a>(
    prefix: &str,
    audience: KbAudience,
    search: &KbSearch,
    matching: Matching<'_>,
) -> QueryBuilder<'a, Postgres> {
    let q = query_cte(matching);
    let query = format!("(SELECT query FROM {q})");
    let offset = i64::from(search.page.saturating_sub(1)) * i64::from(search.limit);
    let end = offset + i64::from(search.limit);
    // Whole windows, so that the pages within one are cut from one ordering.
    let window = RANKING_WINDOW * ((end + RANKING_WINDOW - 1) / RANKING_WINDOW);
    let mut builder = QueryBuilder::new(format!("{prefix}WITH "));
    push_query(&mut builder, matching);
    builder.push(
        ", pinned AS MATERIALIZED (SELECT a.id, a.document FROM kb_articles a WHERE a.is_pinned",
    );
    push_filters(&mut builder, audience, search, true);
    builder.push(format!(
        "), best AS ((SELECT a.id FROM kb_articles a WHERE a.document @@ {query}"
    ));
    push_filters(&mut builder, audience, search, true);
    builder
        .push(format!(" ORDER BY a.document <=> {query} LIMIT "))
        .push_bind(window)
        // The pinned articles are few: each is checked against the query, rather than the query's
        // every match against the pins (which the planner, blind to the query's words, may pick).
        .push(format!(
            ") UNION (SELECT p.id FROM pinned p WHERE p.document @@ {query}))"
        ));
    builder.push(format!(
        ", ranked AS (SELECT a.id, a.is_pinned, coalesce(a.title_words @@ {q}.exact, false) \
             AS exact_title, rum_ts_score(a.document, {q}.query) * a.search_boost AS score \
         FROM best JOIN kb_articles a ON a.id = best.id, {q} \
         ORDER BY a.is_pinned DESC, exact_title DESC, score DESC, a.id LIMIT "
    ));
    builder
        .push_bind(i64::from(search.limit))
        .push(" OFFSET ")
        .push_bind(offset);
    builder.push(format!(
        ") SELECT {}, r.score, ts_headline('english', \
             translate(left(a.content, {SNIPPET_SOURCE_CHARS}), chr(2) || chr(3), ''), \
             {q}.query, 'StartSel=' || chr(2) || ', StopSel=' || chr(3) || \
             ', MaxFragments=2, MaxWords=24, MinWords=8, FragmentDelimiter=\" … \"') AS snippet \
         FROM ranked r JOIN kb_articles a ON a.id = r.id {SUMMARY_JOIN}, {q} \
         ORDER BY r.is_pinned DESC, r.exact_title DESC, r.score DESC, r.id",
        hit_columns()
    ));
    builder
}

/// The category counts of the articles a query matches, before the category filter: every match
/// counted while there are at most `COUNTED_UP_TO`, and the first `COUNTED_UP_TO + 1` (the
/// query's parameter hides its words from the planner, which so reads the matches from the index
/// rather than trying rows in turn).
fn category_counts<'a>(
    prefix: &str,
    audience: KbAudience,
    search: &KbSearch,
    matching: Option<Matching<'_>>,
) -> QueryBuilder<'a, Postgres> {
    let mut builder = QueryBuilder::new(prefix);
    let Some(matching) = matching else {
        builder.push("SELECT a.category, count(*) AS count FROM kb_articles a WHERE true");
        push_filters(&mut builder, audience, search, false);
        builder.push(" GROUP BY a.category ORDER BY count DESC, a.category");
        return builder;
    };
    builder.push("WITH ");
    push_query(&mut builder, matching);
    let q = query_cte(matching);
    builder.push(format!(
        " SELECT a.category, count(*) AS count FROM (SELECT a.category FROM kb_articles a \
         WHERE a.document @@ (SELECT query FROM {q})"
    ));
    push_filters(&mut builder, audience, search, false);
    builder
        .push(" LIMIT ")
        .push_bind(COUNTED_UP_TO + 1)
        .push(") a GROUP BY a.category ORDER BY count DESC, a.category");
    builder
}

/// The planner's estimate of how many articles in `category` a search's text matches (its words
/// in the statement, for their statistics).
fn category_estimate<'a>(
    audience: KbAudience,
    search: &KbSearch,
    text: &str,
    category: KbCategory,
) -> QueryBuilder<'a, Postgres> {
    let mut builder = QueryBuilder::new(
        "EXPLAIN (FORMAT JSON) SELECT 1 FROM kb_articles a \
         WHERE a.document @@ websearch_to_tsquery('english', ",
    );
    builder
        .push_bind(text.to_owned())
        .push(") AND a.category = ")
        .push_bind(category.as_str());
    push_filters(&mut builder, audience, search, false);
    builder
}

/// The category counts of a search that matches more than `COUNTED_UP_TO` articles: each the
/// planner's estimate, or what was counted of it if more. A category none of the counted matches
/// fell in shows only where the planner expects more than one match.
async fn estimated_categories(
    pool: &PgPool,
    audience: KbAudience,
    search: &KbSearch,
    text: &str,
    counted: &[CategoryCount],
) -> Result<Vec<CategoryCount>, sqlx::Error> {
    let mut categories = Vec::new();
    for &category in KbCategory::ALL {
        let plan: Json<serde_json::Value> = category_estimate(audience, search, text, category)
            .build_query_scalar()
            .fetch_one(pool)
            .await?;
        let estimate = planned_rows(&plan.0);
        let seen = counted
            .iter()
            .find(|c| c.category == category.as_str())
            .map_or(0, |c| c.count);
        if seen > 0 || estimate > 1 {
            categories.push(CategoryCount {
                category: category.as_str().to_owned(),
                count: estimate.max(seen),
            });
        }
    }
    categories.sort_by(|a, b| b.count.cmp(&a.count).then(a.category.cmp(&b.category)));
    Ok(categories)
}

/// The total of a search: the counts of the categories it keeps.
fn total(categories: &[CategoryCount], category: Option<KbCategory>) -> i64 {
    categories
        .iter()
        .filter(|c| category.is_none_or(|wanted| c.category == wanted.as_str()))
        .map(|c| c.count)
        .sum()
}

async fn matching_page(
    pool: &PgPool,
    audience: KbAudience,
    search: &KbSearch,
    text: &str,
) -> Result<KbSearchPage, sqlx::Error> {
    let matching = Matching::Websearch(text);
    let counted: Vec<CategoryCount> = category_counts("", audience, search, Some(matching))
        .build_query_as()
        .fetch_all(pool)
        .await?;
    let (categories, total_is_estimate) = if total(&counted, None) > COUNTED_UP_TO {
        let estimated = estimated_categories(pool, audience, search, text, &counted).await?;
        (estimated, true)
    } else {
        (counted, false)
    };
    let total = total(&categories, search.category);
    let items: Vec<ArticleHit> = if total == 0 {
        Vec::new()
    } else {
        let mut hits = ranked_hits("", audience, search, matching);
        let mut items: Vec<ArticleHit> = hits.build_query_as().fetch_all(pool).await?;
        for item in &mut items {
            item.snippet = item.snippet.as_deref().map(marked);
        }
        items
    };
    Ok(KbSearchPage {
        items,
        page: search.page,
        limit: search.limit,
        total,
        total_is_estimate,
        categories,
        corrected_query: None,
    })
}

/// Browsing: pinned first, then the most recently updated.
async fn browse(
    pool: &PgPool,
    audience: KbAudience,
    search: &KbSearch,
) -> Result<KbSearchPage, sqlx::Error> {
    let categories: Vec<CategoryCount> = category_counts("", audience, search, None)
        .build_query_as()
        .fetch_all(pool)
        .await?;
    let items = browsed("", audience, search)
        .build_query_as()
        .fetch_all(pool)
        .await?;
    Ok(KbSearchPage {
        items,
        page: search.page,
        limit: search.limit,
        total: total(&categories, search.category),
        total_is_estimate: false,
        categories,
        corrected_query: None,
    })
}

fn browsed<'a>(
    prefix: &str,
    audience: KbAudience,
    search: &KbSearch,
) -> QueryBuilder<'a, Postgres> {
    let mut builder = QueryBuilder::new(format!(
        "{prefix}SELECT {}, NULL::float8 AS score, NULL::text AS snippet FROM kb_articles a \
         {SUMMARY_JOIN} WHERE true",
        hit_columns()
    ));
    push_filters(&mut builder, audience, search, true);
    builder
        .push(" ORDER BY a.is_pinned DESC, a.updated_at DESC, a.id LIMIT ")
        .push_bind(i64::from(search.limit))
        .push(" OFFSET ")
        .push_bind(i64::from(search.page.saturating_sub(1)) * i64::from(search.limit));
    builder
}

/// A snippet as HTML: its text escaped, the matches (between the markers `ts_headline` was given)
/// in `<mark>`.
fn marked(snippet: &str) -> String {
    html_escape::encode_text(snippet)
        .replace('\u{2}', "<mark>")
        .replace('\u{3}', "</mark>")
}

/// The query with each word the articles do not have replaced by the most alike word they have;
/// `None` if no word changed. Operators, quotes and `-` stay where they are. One statement looks up
/// every word.
async fn corrected(pool: &PgPool, text: &str) -> Result<Option<String>, sqlx::Error> {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    // Each token's word (lower-cased, without the operators and quotes around it) and where it
    // lies in the token; `None` for what is not a word to correct.
    let words: Vec<Option<(usize, usize, String)>> = tokens
        .iter()
        .map(|token| {
            let start = token.find(|c: char| c.is_alphanumeric())?;
            let end = token.rfind(|c: char| c.is_alphanumeric())?;
            let end = end + token[end..].chars().next().map_or(1, char::len_utf8);
            let word = token[start..end].to_lowercase();
            (word != "or" && word.chars().count() >= 3).then_some((start, end, word))
        })
        .collect();
    let looked_up: Vec<String> = words.iter().flatten().map(|(_, _, w)| w.clone()).collect();
    let nearest = nearest_words(pool, &looked_up).await?;
    let mut nearest = nearest.into_iter();
    let mut changed = false;
    let corrected: Vec<String> = tokens
        .iter()
        .zip(&words)
        .map(|(token, word)| {
            // Only the words looked up have an answer, in their order.
            let Some((start, end, word)) = word else {
                return (*token).to_owned();
            };
            match nearest.next().flatten() {
                Some(found) if found != *word => {
                    changed = true;
                    format!("{}{found}{}", &token[..*start], &token[*end..])
                }
                _ => (*token).to_owned(),
            }
        })
        .collect();
    Ok(changed.then(|| corrected.join(" ")))
}

/// For each word, in order: itself if the articles have it, else the most alike word they have if
/// any is alike enough, else `None`.
async fn nearest_words<'e>(
    executor: impl PgExecutor<'e>,
    words: &[String],
) -> Result<Vec<Option<String>>, sqlx::Error> {
    if words.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_scalar(
        "SELECT (SELECT k.word FROM kb_words k \
                 WHERE k.word = w OR (k.word % w AND similarity(k.word, w) >= $2) \
                 ORDER BY k.word = w DESC, similarity(k.word, w) DESC, k.word LIMIT 1) \
         FROM unnest($1::text[]) WITH ORDINALITY AS t(w, n) ORDER BY n",
    )
    .bind(words)
    .bind(CORRECTION_SIMILARITY)
    .fetch_all(executor)
    .await
}

/// A search's text as it is recorded: lower case, one space between words, at most 200
/// characters, and no personal data a reader may have typed: a word with `@` reads `[email]`, one
/// with four digits or more `[number]`.
pub fn normalise_query(text: &str) -> String {
    let words: Vec<String> = text
        .split_whitespace()
        .map(|word| {
            if word.contains('@') {
                "[email]".to_owned()
            } else if word.chars().filter(char::is_ascii_digit).count() >= 4 {
                "[number]".to_owned()
            } else {
                word.to_lowercase()
            }
        })
        .collect();
    words.join(" ").chars().take(200).collect()
}

/// Records that `query` (normalised) was searched at `at` and found `results` articles.
pub async fn record_search<'e>(
    executor: impl PgExecutor<'e>,
    query: &str,
    results: i64,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO kb_searches (searched_at, query, results) VALUES ($1, $2, $3)")
        .bind(at)
        .bind(normalise_query(query))
        .bind(i32::try_from(results).unwrap_or(i32::MAX))
        .execute(executor)
        .await?;
    Ok(())
}

/// A query and how often it was searched in the range.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchedQuery {
    pub query: String,
    pub searches: i64,
    /// Of those, how many found nothing.
    pub without_results: i64,
}

/// What readers searched for in a range.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchInsights {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub searches: i64,
    pub searches_without_results: i64,
    /// The most frequent searches that found nothing: articles to write.
    pub top_without_results: Vec<SearchedQuery>,
    /// The most frequent searches.
    pub top_searches: Vec<SearchedQuery>,
}

/// The searches from `from` (inclusive) to `to` (exclusive): totals and the `top` most frequent
/// queries, overall and among those that found nothing.
pub async fn search_insights(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    top: i64,
) -> Result<SearchInsights, sqlx::Error> {
    let (searches, searches_without_results): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE results = 0) FROM kb_searches \
         WHERE searched_at >= $1 AND searched_at < $2",
    )
    .bind(from)
    .bind(to)
    .fetch_one(pool)
    .await?;
    let queries = |without_results_only: bool| {
        sqlx::query_as::<_, SearchedQuery>(
            "SELECT query, count(*) AS searches, count(*) FILTER (WHERE results = 0) \
                 AS without_results \
             FROM kb_searches WHERE searched_at >= $1 AND searched_at < $2 \
             GROUP BY query HAVING NOT $3 OR count(*) FILTER (WHERE results = 0) > 0 \
             ORDER BY CASE WHEN $3 THEN count(*) FILTER (WHERE results = 0) ELSE count(*) END \
                 DESC, query LIMIT $4",
        )
        .bind(from)
        .bind(to)
        .bind(without_results_only)
        .bind(top)
        .fetch_all(pool)
    };
    Ok(SearchInsights {
        from,
        to,
        searches,
        searches_without_results,
        top_without_results: queries(true).await?,
        top_searches: queries(false).await?,
    })
}

#[cfg(test)]
mod tests {
    use sqlx::PgPool;

    use super::*;

    #[test]
    fn recorded_queries_keep_no_address_or_long_number() {
        assert_eq!(
            normalise_query("  Refund   for JANE@example.com order 123456 "),
            "refund for [email] order [number]"
        );
        assert_eq!(normalise_query("error 404"), "error 404");
        assert_eq!(normalise_query(&"a".repeat(300)).chars().count(), 200);
    }

    #[test]
    fn snippets_are_escaped_around_their_marks() {
        assert_eq!(
            marked("<b>\u{2}reset\u{3}</b> & more"),
            "&lt;b&gt;<mark>reset</mark>&lt;/b&gt; &amp; more"
        );
    }

    /// `n` published public articles whose content says `word` twice, except the `n`th: pinned,
    /// it says it once, and so is the least relevant. Their categories in turn; the planner's
    /// statistics taken.
    async fn articles_saying(pool: &PgPool, word: &str, n: i64) {
        sqlx::query(
            "INSERT INTO kb_articles (id, article_number, version, revision, status, created_by, \
                 created_at, updated_at, title, summary, content, category, tags, keywords, \
                 author, is_internal, is_pinned, search_boost, related_articles, related_tickets, \
                 related_incidents, document, title_words) \
             SELECT gen_random_uuid(), 'KB-' || $1 || i, 1, 1, 'PUBLISHED', 'a', \
                 now(), now(), 'Article ' || i, '', t.content, \
                 (ARRAY['HOW_TO', 'FAQ', 'TROUBLESHOOTING'])[1 + i % 3], '{}', '{}', 'a', \
                 false, i = $2, 1, '{}', '{}', '{}', \
                 setweight(to_tsvector('english', 'Article ' || i), 'A') \
                     || setweight(to_tsvector('english', t.content), 'D'), \
                 to_tsvector('simple', 'Article ' || i) \
             FROM generate_series(1, $2::int) AS i, LATERAL (SELECT repeat('other ', i % 7) || $1 \
                 || CASE WHEN i = $2 THEN '' ELSE ' ' || $1 END AS content) AS t",
        )
        .bind(word)
        .bind(n)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query("ANALYZE kb_articles")
            .execute(pool)
            .await
            .unwrap();
    }

    fn searching(text: &str, category: Option<KbCategory>) -> KbSearch {
        KbSearch {
            text: Some(text.to_owned()),
            category,
            page: 1,
            limit: 20,
            ..KbSearch::default()
        }
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn up_to_a_thousand_matches_are_counted_and_more_are_estimated(pool: PgPool) {
        articles_saying(&pool, "invoice", COUNTED_UP_TO).await;
        let counted = search(&pool, KbAudience::Public, &searching("invoice", None))
            .await
            .unwrap();
        assert_eq!(
            (counted.total, counted.total_is_estimate),
            (COUNTED_UP_TO, false)
        );
        assert_eq!(counted.categories.len(), 3);
        let how_to = search(
            &pool,
            KbAudience::Public,
            &searching("invoice", Some(KbCategory::HowTo)),
        )
        .await
        .unwrap();
        assert_eq!(how_to.total, 333, "{:?}", how_to.categories);

        articles_saying(&pool, "refund", 3 * COUNTED_UP_TO).await;
        let estimated = search(&pool, KbAudience::Public, &searching("refund", None))
            .await
            .unwrap();
        assert!(estimated.total_is_estimate);
        // The statistics are a sample: an estimate near the truth, never below what was counted.
        let truth = 3 * COUNTED_UP_TO;
        assert!(
            estimated.total > COUNTED_UP_TO && (estimated.total - truth).abs() < truth / 5,
            "{:?}",
            estimated.categories
        );
        let names: Vec<&str> = estimated
            .categories
            .iter()
            .map(|c| c.category.as_str())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
        for name in ["HOW_TO", "FAQ", "TROUBLESHOOTING"] {
            assert!(names.contains(&name), "{names:?}");
        }
        assert_eq!(estimated.items.len(), 20);
    }

    /// The full ordering covers the best matches by relevance and every pinned match, wherever its
    /// relevance puts it: the pinned article is the least relevant of 1,000 and still first.
    #[sqlx::test(migrations = "../migrations")]
    async fn a_pinned_match_comes_first_from_outside_the_ranking_window(pool: PgPool) {
        articles_saying(&pool, "webhook", COUNTED_UP_TO).await;
        let found = search(&pool, KbAudience::Staff, &searching("webhook", None))
            .await
            .unwrap();
        assert!(found.items[0].is_pinned, "{:?}", found.items[0]);
        assert!(found.items[1..].iter().all(|hit| !hit.is_pinned));
        // Best first after it.
        let scores: Vec<f64> = found.items[1..].iter().map(|h| h.score.unwrap()).collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
        // Pages past the window are cut from a wider one, and do not repeat the first page.
        let deep = search(
            &pool,
            KbAudience::Staff,
            &KbSearch {
                page: 12,
                ..searching("webhook", None)
            },
        )
        .await
        .unwrap();
        assert_eq!(deep.items.len(), 20);
        assert!(deep.items.iter().all(|hit| !hit.is_pinned));
    }

    /// With sequential scans priced out, PostgreSQL still picks one where no index serves a
    /// query: a plan without one shows that every filter, for either audience, searching or
    /// browsing, for the page and for the category counts alike, has its index.
    #[sqlx::test(migrations = "../migrations")]
    async fn every_search_filter_is_served_by_an_index(pool: PgPool) {
        let mut conn = crate::explain::pricing_out_seq_scans(&pool).await;
        let filters = [
            KbSearch::default(),
            KbSearch {
                status: Some(KbStatus::Draft),
                ..KbSearch::default()
            },
            KbSearch {
                category: Some(KbCategory::HowTo),
                ..KbSearch::default()
            },
            KbSearch {
                category: Some(KbCategory::HowTo),
                status: Some(KbStatus::Published),
                ..KbSearch::default()
            },
            KbSearch {
                tags: vec!["password".into()],
                ..KbSearch::default()
            },
            KbSearch {
                low_rated: Some(true),
                ..KbSearch::default()
            },
            KbSearch {
                low_rated: Some(false),
                ..KbSearch::default()
            },
        ];
        for audience in [KbAudience::Public, KbAudience::Staff] {
            for filter in &filters {
                let search = KbSearch {
                    page: 2,
                    limit: 20,
                    ..filter.clone()
                };
                let matching = Matching::Websearch("reset password");
                let suggestion = Matching::AnyWord("I forgot my password");
                let queries = [
                    ranked_hits("EXPLAIN ", audience, &search, matching),
                    ranked_hits("EXPLAIN ", audience, &search, suggestion),
                    category_counts("EXPLAIN ", audience, &search, Some(matching)),
                    category_counts("EXPLAIN ", audience, &search, None),
                    browsed("EXPLAIN ", audience, &search),
                ];
                for mut query in queries {
                    let plan = crate::explain::assert_indexed(
                        &mut conn,
                        &mut query,
                        &format!("{audience:?} {search:?}"),
                    )
                    .await;
                    // The low-rated articles are few: their partial index, either way.
                    assert!(
                        search.low_rated.is_none()
                            || plan.contains("kb_rating_summaries_low_rated"),
                        "{audience:?} {search:?}:\n{plan}"
                    );
                }
            }
        }
    }
}
