//! The query string of the inbox, every parameter read on its own so that every problem is
//! reported by name at once.

use serde::Deserialize;
use support_domain::FieldErrors;
use support_projections::notifications::inbox::{InboxCursor, InboxRequest};
use utoipa::IntoParams;

use crate::extract::{boolean, parsed};
use crate::webhooks::requests::CursorPageQuery;

/// The query of `GET /notifications`: a filter, and a page (`CursorPageQuery`, with the inbox's
/// own cursor) unread first, then newest first. An unknown parameter is refused, not ignored.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct InboxQuery {
    /// `true`: only the unread ones. `false` or not sent: all.
    #[param(value_type = Option<bool>)]
    pub unread: Option<String>,
    /// Documented as its own parameters, next to these.
    #[serde(flatten)]
    #[param(ignore)]
    pub page: CursorPageQuery,
}

impl InboxQuery {
    pub fn parse(&self) -> Result<InboxRequest, FieldErrors> {
        let mut errors = FieldErrors::default();
        let unread_only = parsed(&mut errors, "unread", self.unread.as_deref(), boolean);
        let (after, limit) = self.page.read(&mut errors, InboxCursor::decode);
        errors.into_result()?;
        Ok(InboxRequest {
            unread_only: unread_only.unwrap_or(false),
            after,
            limit,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use support_projections::page::PageRequest;

    use super::*;

    fn query(value: serde_json::Value) -> InboxQuery {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn every_bad_parameter_is_reported_at_once() {
        let errors = query(json!({
            "unread": "yes", "cursor": "nope", "limit": "0", "page": "2",
        }))
        .parse()
        .unwrap_err();
        let mut fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        fields.sort_unstable();
        assert_eq!(fields, ["cursor", "limit", "page", "unread"]);
        assert!(query(json!({"limit": "101"})).parse().is_err());
        assert!(query(json!({"limit": "x"})).parse().is_err());
    }

    #[test]
    fn nothing_sent_reads_twenty_of_all_from_the_top() {
        let request = InboxQuery::default().parse().unwrap();
        assert_eq!(
            request,
            InboxRequest {
                unread_only: false,
                after: None,
                limit: PageRequest::DEFAULT_LIMIT,
            }
        );
        assert!(
            query(json!({"unread": "true", "limit": "100"}))
                .parse()
                .unwrap()
                .unread_only
        );
    }
}
