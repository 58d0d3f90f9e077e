//! Knowledge base values that can only exist valid, and the article's lifecycle table.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ticket::values::{bounded_text_type, screaming_enum};
use crate::ticket::{AgentId, Labels};

screaming_enum!(
    /// What kind of help an article gives; customers browse by it.
    KbCategory {
        Troubleshooting => "TROUBLESHOOTING",
        HowTo => "HOW_TO",
        Faq => "FAQ",
        KnownIssue => "KNOWN_ISSUE",
        ProductGuide => "PRODUCT_GUIDE",
        ApiDocumentation => "API_DOCUMENTATION",
        BestPractices => "BEST_PRACTICES",
    }
);

screaming_enum!(
    /// Where an article is in its life: only published ones reach customers.
    KbStatus {
        Draft => "DRAFT",
        Published => "PUBLISHED",
        Archived => "ARCHIVED",
    }
);

impl KbStatus {
    /// The statuses an article in this status may move to next. An archived article goes back
    /// to draft before it is published again, so that someone reviews it first.
    pub fn allowed_next(self) -> &'static [KbStatus] {
        use KbStatus::*;
        match self {
            Draft => &[Published, Archived],
            Published => &[Draft, Archived],
            Archived => &[Draft],
        }
    }

    pub fn can_become(self, next: KbStatus) -> bool {
        self.allowed_next().contains(&next)
    }
}

bounded_text_type!(ArticleTitle, 200);
bounded_text_type!(
    /// The one or two sentences a search hit shows before the snippet.
    ArticleSummary,
    1_000
);
bounded_text_type!(
    /// The article's body, in Markdown.
    ArticleContent,
    100_000
);

/// `KB-` and a running counter of six digits at least, wider past 999999.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ArticleNumber(String);

impl ArticleNumber {
    pub const PREFIX: &'static str = "KB";

    pub fn new(counter: u64) -> Self {
        Self(format!("{}-{counter:06}", Self::PREFIX))
    }

    pub fn parse(value: &str) -> Result<Self, String> {
        let valid = value.strip_prefix("KB-").is_some_and(|digits| {
            (6..=18).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
        });
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err("must look like KB-000123".to_owned())
        }
    }

    pub fn counter(&self) -> u64 {
        self.0[3..]
            .parse()
            .expect("parsed numbers have a numeric counter")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How much an article's relevance is multiplied by in search: 0.1 to 10, 1 by default.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SearchBoost(f64);

impl SearchBoost {
    pub const MIN: f64 = 0.1;
    pub const MAX: f64 = 10.0;

    pub fn parse(value: f64) -> Result<Self, String> {
        if value.is_finite() && (Self::MIN..=Self::MAX).contains(&value) {
            Ok(Self(value))
        } else {
            Err(format!("must be from {} to {}", Self::MIN, Self::MAX))
        }
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

impl Default for SearchBoost {
    fn default() -> Self {
        Self(1.0)
    }
}

/// Everything an article says, as one revision holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KbArticleFields {
    pub title: ArticleTitle,
    pub summary: ArticleSummary,
    pub content: ArticleContent,
    pub category: KbCategory,
    pub tags: Labels,
    pub keywords: Labels,
    /// Who wrote it, as the spec's requests name them; the caller when not given.
    pub author: AgentId,
    /// Staff only: customers and anonymous readers never see it.
    pub is_internal: bool,
    /// Shown before every other match of a search.
    pub is_pinned: bool,
    pub search_boost: SearchBoost,
    pub related_articles: Vec<Uuid>,
    pub related_tickets: Vec<Uuid>,
    pub related_incidents: Vec<Uuid>,
}

/// The fields one revision changed, each with its new value; absent ones stayed as they were.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KbArticleChanges {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<ArticleTitle>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<ArticleSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<ArticleContent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<KbCategory>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Labels>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keywords: Option<Labels>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<AgentId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_internal: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_pinned: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_boost: Option<SearchBoost>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related_articles: Option<Vec<Uuid>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related_tickets: Option<Vec<Uuid>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related_incidents: Option<Vec<Uuid>>,
}

impl KbArticleChanges {
    /// Only what differs from `current`: a request that sends a field unchanged changes nothing.
    pub fn against(self, current: &KbArticleFields) -> Self {
        fn changed<T: PartialEq>(new: Option<T>, old: &T) -> Option<T> {
            new.filter(|value| value != old)
        }
        Self {
            title: changed(self.title, &current.title),
            summary: changed(self.summary, &current.summary),
            content: changed(self.content, &current.content),
            category: changed(self.category, &current.category),
            tags: changed(self.tags, &current.tags),
            keywords: changed(self.keywords, &current.keywords),
            author: changed(self.author, &current.author),
            is_internal: changed(self.is_internal, &current.is_internal),
            is_pinned: changed(self.is_pinned, &current.is_pinned),
            search_boost: changed(self.search_boost, &current.search_boost),
            related_articles: changed(self.related_articles, &current.related_articles),
            related_tickets: changed(self.related_tickets, &current.related_tickets),
            related_incidents: changed(self.related_incidents, &current.related_incidents),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// `fields` after this revision.
    pub fn apply_to(self, fields: &mut KbArticleFields) {
        fn set<T>(field: &mut T, new: Option<T>) {
            if let Some(value) = new {
                *field = value;
            }
        }
        set(&mut fields.title, self.title);
        set(&mut fields.summary, self.summary);
        set(&mut fields.content, self.content);
        set(&mut fields.category, self.category);
        set(&mut fields.tags, self.tags);
        set(&mut fields.keywords, self.keywords);
        set(&mut fields.author, self.author);
        set(&mut fields.is_internal, self.is_internal);
        set(&mut fields.is_pinned, self.is_pinned);
        set(&mut fields.search_boost, self.search_boost);
        set(&mut fields.related_articles, self.related_articles);
        set(&mut fields.related_tickets, self.related_tickets);
        set(&mut fields.related_incidents, self.related_incidents);
    }
}
