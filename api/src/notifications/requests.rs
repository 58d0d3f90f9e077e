//! The query string of the inbox, every parameter read on its own so that every problem is
//! reported by name at once.

use serde::Deserialize;
use support_domain::FieldErrors;
use support_projections::notifications::inbox::{InboxCursor, InboxRequest};
use support_projections::page::{PageRequest, NOT_A_CURSOR};
use utoipa::IntoParams;

use crate::extract::{parsed, UnknownParameters};

/// The page of `GET /notifications`: unread first, then newest first, from a cursor. An unknown
/// parameter is refused, not ignored.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct InboxQuery {
    /// `true`: only the unread ones. `false` or not sent: all.
    #[param(value_type = Option<bool>)]
    pub unread: Option<String>,
    /// The `nextCursor` of the previous page, unchanged: the page that follows it.
    pub cursor: Option<String>,
    /// Items per page (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub unknown: UnknownParameters,
}

impl InboxQuery {
    pub fn parse(&self) -> Result<InboxRequest, FieldErrors> {
        let mut errors = FieldErrors::default();
        self.unknown.refuse(&mut errors);
        let unread_only = parsed(&mut errors, "unread", self.unread.as_deref(), |v| match v {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err("must be true or false".to_owned()),
        });
        let limit = parsed(&mut errors, "limit", self.limit.as_deref(), |v| {
            v.parse::<u32>()
                .map_err(|_| "must be a whole number".to_owned())
        });
        // Unreadable, it is reported above, and the default stands in until the errors return.
        let limit = PageRequest::limit(limit)
            .map_err(|(field, message)| errors.push(field, message))
            .ok();
        let after = parsed(&mut errors, "cursor", self.cursor.as_deref(), |v| {
            InboxCursor::decode(v).ok_or_else(|| NOT_A_CURSOR.to_owned())
        });
        errors.into_result()?;
        Ok(InboxRequest {
            unread_only: unread_only.unwrap_or(false),
            after,
            limit: limit.expect("checked"),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

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
