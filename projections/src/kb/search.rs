//! Knowledge base search on PostgreSQL's full-text search: one weighted document per article
//! (title A, keywords and tags B, summary C, content D), queries in `websearch_to_tsquery` syntax,
//! ranked by cover density times the article's boost, pinned articles first and exact title
//! matches ahead of stemmed ones. A search that finds little is retried with its misspelt words
//! replaced by the nearest words of the articles (pg_trgm). Only the page's hits pay for a
//! snippet, cut from the head of their content.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgExecutor, PgPool, Postgres, QueryBuilder};
use support_domain::kb::{KbCategory, KbStatus};
use utoipa::ToSchema;
use uuid::Uuid;

use super::ratings::{RATING_COLUMNS, SUMMARY_JOIN};
use super::views::VIEWS;
use crate::schema;

/// Who is searching: customers and anonymous readers see published public articles only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KbAudience {
    Public,
    Staff,
}

/// A search's filters and page.
#[derive(Debug, Clone, Default, PartialEq)]
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
    pub views: i64,
    /// The mean of its readers' ratings (1 to 5); 0 when unrated.
    pub rating: f64,
    pub rating_count: i64,
    /// The share of its ratings that found it helpful (0 to 1); null when unrated.
    pub helpful_ratio: Option<f64>,
    /// At least 5 ratings with a mean under 2.5.
    pub low_rated: bool,
    pub author: String,
    pub is_internal: bool,
    pub is_pinned: bool,
    pub search_boost: f64,
    pub updated_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    /// Relevance (cover density times the boost); null when browsing without a search.
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
    /// How many articles match, over all pages.
    pub total: i64,
    /// The results per category, before the category filter.
    pub categories: Vec<CategoryCount>,
    /// The query with its misspellings corrected, when the results are for it rather than for
    /// the query as sent (which found little).
    pub corrected_query: Option<String>,
}

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
    let found = matching_page(pool, audience, search, Matching::Websearch(text)).await?;
    if found.total >= FEW_RESULTS {
        return Ok(found);
    }
    let Some(corrected) = corrected(pool, text).await? else {
        return Ok(found);
    };
    let retried = matching_page(pool, audience, search, Matching::Websearch(&corrected)).await?;
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

/// The page's hits, best first, each with its snippet.
fn ranked_hits<'a>(
    prefix: &str,
    audience: KbAudience,
    search: &KbSearch,
    matching: Matching<'_>,
) -> QueryBuilder<'a, Postgres> {
    let q = query_cte(matching);
    let mut builder = QueryBuilder::new(format!("{prefix}WITH "));
    push_query(&mut builder, matching);
    builder.push(format!(
        ", ranked AS (SELECT a.id, a.is_pinned, coalesce(a.title_words @@ {q}.exact, false) \
             AS exact_title, ts_rank_cd(a.document, {q}.query) * a.search_boost AS score \
         FROM kb_articles a, {q} WHERE a.document @@ {q}.query"
    ));
    push_filters(&mut builder, audience, search, true);
    builder
        .push(" ORDER BY a.is_pinned DESC, exact_title DESC, score DESC, a.id LIMIT ")
        .push_bind(i64::from(search.limit))
        .push(" OFFSET ")
        .push_bind(i64::from(search.page.saturating_sub(1)) * i64::from(search.limit));
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

/// The category counts of the articles a query matches, before the category filter.
fn category_counts<'a>(
    prefix: &str,
    audience: KbAudience,
    search: &KbSearch,
    matching: Option<Matching<'_>>,
) -> QueryBuilder<'a, Postgres> {
    let mut builder = QueryBuilder::new(prefix);
    let from = match matching {
        Some(matching) => {
            builder.push("WITH ");
            push_query(&mut builder, matching);
            let q = query_cte(matching);
            format!("kb_articles a, {q} WHERE a.document @@ {q}.query")
        }
        None => "kb_articles a WHERE true".to_owned(),
    };
    builder.push(format!(" SELECT a.category, count(*) AS count FROM {from}"));
    push_filters(&mut builder, audience, search, false);
    builder.push(" GROUP BY a.category ORDER BY count DESC, a.category");
    builder
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
    matching: Matching<'_>,
) -> Result<KbSearchPage, sqlx::Error> {
    let categories: Vec<CategoryCount> = category_counts("", audience, search, Some(matching))
        .build_query_as()
        .fetch_all(pool)
        .await?;
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

    /// With sequential scans priced out, PostgreSQL still picks one where no index serves a
    /// query: a plan without one shows that every filter, for either audience, searching or
    /// browsing, for the page and for the category counts alike, has its index.
    #[sqlx::test(migrations = "../migrations")]
    async fn every_search_filter_is_served_by_an_index(pool: PgPool) {
        let mut conn = pool.acquire().await.unwrap();
        sqlx::query("SET enable_seqscan = off")
            .execute(&mut *conn)
            .await
            .unwrap();
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
                    let plan: Vec<String> = query
                        .build_query_scalar()
                        .fetch_all(&mut *conn)
                        .await
                        .unwrap();
                    let plan = plan.join("\n");
                    assert!(
                        !plan.contains("Seq Scan"),
                        "{audience:?} {search:?}:\n{plan}"
                    );
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
