//! `--scenario kb-search`: knowledge base search over `--articles` published articles. It writes
//! the articles' events into an event store without articles in the format the API records
//! (`KbArticleCreated` and `KbArticleStatusChanged` to `PUBLISHED`), replays the `kb_articles`
//! read model from them, as the service builds it, and then times searches over HTTP against the
//! running service, as anonymous readers (a public help centre) and as staff.
//!
//! The text: titles of support words ("password", "invoice", "export"...), content of 150 words of
//! which 3% are support words and the rest invented words of Zipf-like frequency, so that a single
//! support word matches about 5 to 10% of the articles, as common words of a real help centre do.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::{Connection, PgConnection};
use support_domain::ActorRole;
use support_projections::kb::KbArticlesProjection;
use support_projections::personal_data::DataKeys;
use support_projections::replay;

use super::scale::{print_latencies, Measure, Request};
use super::store::run_steps;
use super::token;
use crate::database;
use crate::settings::Settings;

/// The support words articles are about, and searches look for.
const WORDS: [&str; 60] = [
    "password",
    "reset",
    "login",
    "account",
    "invoice",
    "billing",
    "refund",
    "payment",
    "export",
    "import",
    "report",
    "dashboard",
    "lead",
    "campaign",
    "email",
    "notification",
    "webhook",
    "integration",
    "api",
    "token",
    "key",
    "permission",
    "role",
    "user",
    "team",
    "sync",
    "calendar",
    "timezone",
    "mobile",
    "browser",
    "cache",
    "error",
    "timeout",
    "upload",
    "download",
    "csv",
    "filter",
    "search",
    "settings",
    "profile",
    "security",
    "sso",
    "saml",
    "domain",
    "subscription",
    "plan",
    "upgrade",
    "cancel",
    "trial",
    "limit",
    "quota",
    "storage",
    "backup",
    "restore",
    "delete",
    "archive",
    "share",
    "attachment",
    "chart",
    "schedule",
];

/// A word of the articles: a support word with probability `$1`, else an invented one of three
/// syllables, the frequent ones far more frequent.
const FUNCTIONS: &str = "
CREATE FUNCTION pg_temp.kb_word(support float8) RETURNS text LANGUAGE sql VOLATILE AS $$
  SELECT CASE WHEN random() < support THEN (string_to_array('{words}', ' '))[1 + floor(random() * 60)::int]
  ELSE s[1 + k % 24] || s[1 + (k / 24) % 24] || s[1 + (k / 576) % 24] END
  FROM (SELECT floor(13824 * power(random(), 3))::int AS k,
    ARRAY['ba', 'ke', 'li', 'mo', 'nu', 'ra', 'se', 'ti', 'vo', 'za', 'pe', 'du', 'go', 'fi',
          'ha', 'jo', 'lu', 'me', 'no', 'pi', 'ru', 'sa', 'te', 'wi'] AS s) AS z $$;
CREATE FUNCTION pg_temp.kb_text(words int, support float8) RETURNS text LANGUAGE sql VOLATILE AS $$
  SELECT string_agg(pg_temp.kb_word(support), ' ') FROM generate_series(1, words) $$;";

const ARTICLES: &str = "
CREATE TEMP TABLE kb_bench AS
SELECT n, md5('kb-article-' || n)::uuid AS id,
  now() - interval '3 years' + n * (interval '3 years' / {articles}) AS created_at,
  initcap(pg_temp.kb_text(3 + n % 4, 0.7)) AS title,
  pg_temp.kb_text(15, 0.1) AS summary,
  pg_temp.kb_text(150, 0.03) AS content,
  (ARRAY['TROUBLESHOOTING', 'HOW_TO', 'FAQ', 'KNOWN_ISSUE', 'PRODUCT_GUIDE', 'API_DOCUMENTATION',
         'BEST_PRACTICES'])[1 + n % 7] AS category,
  string_to_array(pg_temp.kb_text(2, 1), ' ') AS tags,
  string_to_array(pg_temp.kb_text(3, 1), ' ') AS keywords,
  n % 20 = 0 AS is_internal,
  n % 2000 = 0 AS is_pinned,
  CASE WHEN n % 50 = 0 THEN 2.0 ELSE 1.0 END AS search_boost
FROM generate_series(1, {articles}) AS n";

const EVENTS: &str = r#"
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload,
                    metadata, recorded_at)
SELECT 'kb_article', a.id::text, s.sequence, s.event_type, '1',
  CASE s.sequence
    WHEN 1 THEN json_build_object('KbArticleCreated', json_build_object(
      'articleId', a.id, 'articleNumber', 'KB-' || lpad(a.n::text, 6, '0'),
      'title', a.title, 'summary', a.summary, 'content', a.content, 'category', a.category,
      'tags', to_json(ARRAY(SELECT DISTINCT unnest(a.tags))),
      'keywords', to_json(ARRAY(SELECT DISTINCT unnest(a.keywords))),
      'author', 'agent-' || lpad((1 + a.n % 40)::text, 2, '0'),
      'isInternal', a.is_internal, 'isPinned', a.is_pinned, 'searchBoost', a.search_boost,
      'relatedArticles', json_build_array(), 'relatedTickets', json_build_array(),
      'relatedIncidents', json_build_array()))
    ELSE json_build_object('KbArticleStatusChanged',
      json_build_object('from', 'DRAFT', 'to', 'PUBLISHED'))
  END,
  json_build_object(
    'actorSub', 'agent-' || lpad((1 + a.n % 40)::text, 2, '0'), 'actorRole', 'agent',
    'requestId', 'kb-bench-' || a.n || '-' || s.sequence,
    'correlationId', 'kb-bench-' || a.n || '-' || s.sequence,
    'occurredAt', to_char(s.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
    'source', 'import'),
  s.at
FROM kb_bench a,
  LATERAL (VALUES (1, 'KbArticleCreated', a.created_at),
                  (2, 'KbArticleStatusChanged', a.created_at + interval '1 hour')) AS s(sequence, event_type, at)
ORDER BY a.n, s.sequence"#;

/// The running counter continues after the store's numbers, and every number names its article.
const COUNTERS: &str = "
INSERT INTO number_counters (prefix, day, last_value)
SELECT 'KB', '-infinity', count(*) FROM kb_bench;
INSERT INTO numbered_aggregates (prefix, day, counter, aggregate_id)
SELECT 'KB', '-infinity', n, id FROM kb_bench";

/// Writes `articles` published articles' events into the event store at `database_url`, which
/// holds none yet; returns how many events it wrote.
async fn build(database_url: &str, articles: u64) -> anyhow::Result<i64> {
    let mut conn = PgConnection::connect(database_url).await?;
    let used: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM events WHERE aggregate_type = 'kb_article')",
    )
    .fetch_one(&mut conn)
    .await?;
    anyhow::ensure!(
        !used,
        "the event store at DATABASE_URL has articles already: the kb-search scenario builds its \
         own knowledge base (or pass --existing-store to measure the one there)"
    );
    // History is not news: these events do not go through the outbox to the bus.
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut conn)
        .await
        .context("the store is written with triggers off, which needs a superuser")?;
    let steps = [
        ("seed", "SELECT setseed(0.5)".to_owned()),
        ("functions", FUNCTIONS.replace("{words}", &WORDS.join(" "))),
        (
            "articles",
            ARTICLES.replace("{articles}", &articles.to_string()),
        ),
        ("events", EVENTS.to_owned()),
        ("counters", COUNTERS.to_owned()),
        ("vacuum", "VACUUM (ANALYZE) events".to_owned()),
    ];
    let events = run_steps(&mut conn, "the knowledge base", steps).await?;
    conn.close().await?;
    Ok(events)
}

pub async fn run(
    url: &str,
    clients: usize,
    duration: Duration,
    articles: Option<u64>,
    settings: &Settings,
) -> anyhow::Result<()> {
    let pool = database::connect(&settings.database_url).await?;
    if let Some(articles) = articles {
        println!("building a knowledge base of {articles} published articles");
        let started = Instant::now();
        let events = build(&settings.database_url, articles).await?;
        println!(
            "store: {events} events in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let started = Instant::now();
        let keys = DataKeys::new(&settings.master_key);
        let report = replay(&pool, &keys, &KbArticlesProjection).await?;
        println!(
            "replay of the kb_articles read model: {} events in {:.1} s",
            report.events,
            started.elapsed().as_secs_f64()
        );
        sqlx::raw_sql("VACUUM (ANALYZE) kb_articles, kb_words")
            .execute(&pool)
            .await?;
    }
    let anonymous: Arc<str> = "".into();
    let agent: Arc<str> = token(settings, ActorRole::Agent, "bench-agent").into();
    let searches = |name: &'static str, token: &Arc<str>, queries: &[&str]| Measure {
        name,
        requests: queries
            .iter()
            .map(|query| Request {
                path: format!("/api/v1/support/kb-articles?{query}"),
                token: token.clone(),
            })
            .collect(),
    };
    let one_word: Vec<String> = WORDS.iter().map(|w| format!("search={w}")).collect();
    let one_word: Vec<&str> = one_word.iter().map(String::as_str).collect();
    let two_words: Vec<String> = WORDS
        .chunks(2)
        .map(|pair| format!("search={}%20{}", pair[0], pair[1]))
        .collect();
    let two_words: Vec<&str> = two_words.iter().map(String::as_str).collect();
    let measures = vec![
        searches("one support word", &anonymous, &one_word),
        searches("two support words", &anonymous, &two_words),
        searches(
            "a quoted phrase",
            &anonymous,
            &[
                "search=%22reset%20password%22",
                "search=%22export%20csv%22",
                "search=%22api%20token%22",
                "search=%22billing%20invoice%22",
            ],
        ),
        searches(
            "a word and an excluded word",
            &anonymous,
            &[
                "search=export%20-csv",
                "search=password%20-reset",
                "search=invoice%20-refund",
                "search=login%20-sso",
            ],
        ),
        searches(
            "a misspelt word (corrected)",
            &anonymous,
            &[
                "search=pasword",
                "search=invoce",
                "search=dashbord",
                "search=notifcation",
                "search=subscripton",
                "search=integraton",
            ],
        ),
        searches(
            "a word in a category",
            &anonymous,
            &[
                "search=password&category=HOW_TO",
                "search=export&category=TROUBLESHOOTING",
                "search=webhook&category=API_DOCUMENTATION",
                "search=invoice&category=FAQ",
            ],
        ),
        searches(
            "browsing a category",
            &anonymous,
            &["category=HOW_TO", "category=FAQ", "category=KNOWN_ISSUE"],
        ),
        searches("one support word, as staff", &agent, &one_word),
    ];
    print_latencies(url, clients, duration, "search", measures).await
}
