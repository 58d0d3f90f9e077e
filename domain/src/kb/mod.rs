//! The knowledge base: articles that agents write and publish for customers to help themselves,
//! searched, read and rated.

mod article;
mod rating;
mod values;

#[cfg(test)]
mod rating_tests;
#[cfg(test)]
mod tests;

pub use article::{
    CreateKbArticle, KbArticle, KbArticleCommand, KbArticleError, KbArticleEvent, UpdateKbArticle,
};
pub use rating::{
    rating_id, KbRating, KbRatingCommand, KbRatingError, KbRatingEvent, RatingComment,
    RatingSummary, Stars, Verdict, RATING_NAMESPACE,
};
pub use values::{
    ArticleContent, ArticleNumber, ArticleSummary, ArticleTitle, KbArticleChanges, KbArticleFields,
    KbCategory, KbStatus, SearchBoost,
};
