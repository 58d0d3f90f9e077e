//! Published public articles kept in memory, so that reading one costs one round trip and no
//! text: the statement that counts the view also checks that the read model still holds the
//! cached version (`kb::count_view_at_version`), and reads what readers change without a new
//! version (views, ratings). An entry the read model has moved past (the
//! article updated, archived, made internal, by any process) is dropped and the article read
//! again, so that once the command that changed it has answered no process serves the old one,
//! with no notification to miss. moka keeps the articles read most (TinyLFU) within a bound
//! in bytes.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use moka::future::Cache;
use sqlx::PgPool;
use support_domain::kb::ArticleNumber;
use support_projections::kb::{self, KbArticleView};
use uuid::Uuid;

/// What an entry costs beyond its text, estimated: the view's other fields and moka's
/// bookkeeping. It bounds the entries too: a cache of `bytes` holds at most `bytes / 512`.
const ENTRY_OVERHEAD: usize = 512;
/// Article numbers remembered with their ids (a number never names another article, so these
/// never go stale): under a megabyte.
const NUMBERS: u64 = 10_000;

/// The cache, or nothing when it is turned off; clones share it.
#[derive(Clone)]
pub struct ArticleCache(Option<Caches>);

#[derive(Clone)]
struct Caches {
    articles: Cache<Uuid, Arc<KbArticleView>>,
    numbers: Cache<ArticleNumber, Uuid>,
}

impl ArticleCache {
    /// A cache of up to `bytes`; none at 0.
    pub fn new(bytes: u64) -> Self {
        Self((bytes > 0).then(|| {
            Caches {
                articles: Cache::builder()
                    .max_capacity(bytes)
                    .weigher(|_, article: &Arc<KbArticleView>| weight(article))
                    .build(),
                numbers: Cache::new(NUMBERS),
            }
        }))
    }

    /// The id of the article numbered `number`, remembered or read.
    pub async fn id_of_number(
        &self,
        pool: &PgPool,
        number: ArticleNumber,
    ) -> Result<Option<Uuid>, sqlx::Error> {
        let Some(caches) = &self.0 else {
            return kb::id_of_number(pool, number.as_str()).await;
        };
        if let Some(id) = caches.numbers.get(&number).await {
            return Ok(Some(id));
        }
        let id = kb::id_of_number(pool, number.as_str()).await?;
        if let Some(id) = id {
            caches.numbers.insert(number, id).await;
        }
        Ok(id)
    }

    /// Article `id` as cached, with its readers' figures as they stand (its views counting this
    /// read), if the read model still holds that version; `None`, having counted nothing,
    /// otherwise.
    pub async fn read(
        &self,
        pool: &PgPool,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<Option<KbArticleView>, sqlx::Error> {
        let Some(caches) = &self.0 else {
            return Ok(None);
        };
        let Some(cached) = caches.articles.get(&id).await else {
            metrics::counter!("supportd_kb_cache_misses_total").increment(1);
            return Ok(None);
        };
        match kb::count_view_at_version(pool, id, cached.version, at).await? {
            Some(figures) => {
                metrics::counter!("supportd_kb_cache_hits_total").increment(1);
                let mut article = KbArticleView::clone(&cached);
                figures.apply_to(&mut article);
                Ok(Some(article))
            }
            None => {
                metrics::counter!("supportd_kb_cache_misses_total").increment(1);
                caches.articles.invalidate(&id).await;
                Ok(None)
            }
        }
    }

    /// Keeps `article`, which every caller must be allowed to read: a hit is served to anyone.
    pub async fn keep(&self, article: &KbArticleView) {
        if let Some(caches) = &self.0 {
            caches
                .articles
                .insert(article.id, Arc::new(article.clone()))
                .await;
        }
    }
}

/// An entry's share of the bound: its text and the estimated rest.
fn weight(article: &KbArticleView) -> u32 {
    let labels = |labels: &[String]| labels.iter().map(String::len).sum::<usize>();
    let text = article.title.len()
        + article.summary.len()
        + article.content.len()
        + labels(&article.tags)
        + labels(&article.keywords)
        + 16 * (article.related_articles.len()
            + article.related_tickets.len()
            + article.related_incidents.len());
    u32::try_from(text + ENTRY_OVERHEAD).unwrap_or(u32::MAX)
}
