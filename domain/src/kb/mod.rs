//! The knowledge base: articles that agents write and publish for customers to help themselves,
//! searched, read and rated.

mod article;
mod values;

#[cfg(test)]
mod tests;

pub use article::{
    CreateKbArticle, KbArticle, KbArticleCommand, KbArticleError, KbArticleEvent, UpdateKbArticle,
};
pub use values::{
    ArticleContent, ArticleNumber, ArticleSummary, ArticleTitle, KbArticleChanges, KbArticleFields,
    KbCategory, KbStatus, SearchBoost,
};
