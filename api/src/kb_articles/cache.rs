//! Published public articles kept in memory, so that reading one costs one round trip and no
//! text: the statement that counts the view also checks that the read model still holds the
//! cached version (`kb::count_view_at_version`), and reads what readers change without a new
//! version (views, ratings). An entry the read model has moved past (the
//! article updated, archived, made internal, by any process) is dropped and the article read
//! again, so that once the command that changed it has answered no process serves the old one,
//! with no notification to miss. moka keeps the articles read most (TinyLFU) within a bound
//! in bytes.
//!
//! Search pages are kept too, keyed by who searched and what: a search a help centre's readers
//! make again and again (its top searches) costs one round trip, which checks that the articles
//! have not changed since the page was cut (`kb::figures_of_hits`) and reads the hits' views and
//! ratings as they stand. Any change to any article, by any process, retires every page.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use moka::future::Cache;
use sqlx::PgPool;
use support_domain::kb::ArticleNumber;
use support_projections::kb::{self, KbArticleView, KbAudience, KbSearch, KbSearchPage};
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
    searches: Cache<(KbAudience, KbSearch), Arc<KeptPage>>,
}

/// A search page and the transaction that last changed the articles before it was cut.
struct KeptPage {
    changed_in: i64,
    page: KbSearchPage,
}

impl ArticleCache {
    /// A cache of up to `bytes`, half for articles and half for search pages; none at 0.
    pub fn new(bytes: u64) -> Self {
        Self((bytes > 0).then(|| {
            Caches {
                articles: Cache::builder()
                    .max_capacity(bytes / 2)
                    .weigher(|_, article: &Arc<KbArticleView>| weight(article))
                    .build(),
                numbers: Cache::new(NUMBERS),
                searches: Cache::builder()
                    .max_capacity(bytes / 2)
                    .weigher(
                        |(_, search): &(KbAudience, KbSearch), kept: &Arc<KeptPage>| {
                            page_weight(search, &kept.page)
                        },
                    )
                    .build(),
            }
        }))
    }

    /// What `audience` finds with `search`: the page kept for it if no article changed since it
    /// was cut (its hits' views and ratings as they stand), else searched and kept. Searches for
    /// low-rated articles are not kept: ratings move them without changing an article.
    pub async fn search(
        &self,
        pool: &PgPool,
        audience: KbAudience,
        search: &KbSearch,
    ) -> Result<KbSearchPage, sqlx::Error> {
        let Some(caches) = self.0.as_ref().filter(|_| search.low_rated.is_none()) else {
            return kb::search(pool, audience, search).await;
        };
        let key = (audience, search.clone());
        let kept = caches.searches.get(&key).await;
        let hits: Vec<Uuid> = kept
            .iter()
            .flat_map(|k| &k.page.items)
            .map(|h| h.id)
            .collect();
        // Read before searching: a change committed meanwhile leaves the new page out of date.
        let fresh = kb::figures_of_hits(pool, &hits).await?;
        if let Some(kept) = kept.filter(|kept| kept.changed_in == fresh.changed_in) {
            metrics::counter!("supportd_kb_search_cache_hits_total").increment(1);
            let mut page = kept.page.clone();
            for (id, figures) in fresh.figures {
                if let Some(hit) = page.items.iter_mut().find(|hit| hit.id == id) {
                    hit.readers = figures;
                }
            }
            return Ok(page);
        }
        metrics::counter!("supportd_kb_search_cache_misses_total").increment(1);
        let page = kb::search(pool, audience, search).await?;
        let kept = KeptPage {
            changed_in: fresh.changed_in,
            page: page.clone(),
        };
        caches.searches.insert(key, Arc::new(kept)).await;
        Ok(page)
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
                article.readers = figures;
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

/// A kept page's share of the bound: its text and the estimated rest.
fn page_weight(search: &KbSearch, page: &KbSearchPage) -> u32 {
    let text: usize = page
        .items
        .iter()
        .map(|hit| {
            hit.title.len()
                + hit.summary.len()
                + hit.snippet.as_ref().map_or(0, String::len)
                + hit
                    .tags
                    .iter()
                    .chain(&hit.keywords)
                    .map(String::len)
                    .sum::<usize>()
                + ENTRY_OVERHEAD
        })
        .sum();
    let key = search.text.as_ref().map_or(0, String::len);
    u32::try_from(text + key + ENTRY_OVERHEAD).unwrap_or(u32::MAX)
}
