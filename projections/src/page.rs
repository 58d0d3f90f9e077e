//! Paging through lists that run newest first (`created_at DESC, id DESC`): by page number near the
//! top, by cursor at any depth.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A position in a newest-first list: the last row of a page, after which the next page starts.
/// Clients see it only as an opaque string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

impl Cursor {
    const BYTES: usize = 24;

    /// URL-safe base64 of the creation time (microseconds, as PostgreSQL keeps it) and the id.
    pub fn encode(&self) -> String {
        let mut bytes = [0u8; Self::BYTES];
        bytes[..8].copy_from_slice(&self.created_at.timestamp_micros().to_be_bytes());
        bytes[8..].copy_from_slice(self.id.as_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub fn decode(text: &str) -> Option<Self> {
        let bytes: [u8; Self::BYTES] = URL_SAFE_NO_PAD.decode(text).ok()?.try_into().ok()?;
        let (micros, id) = bytes.split_at(8);
        let created_at =
            DateTime::from_timestamp_micros(i64::from_be_bytes(micros.try_into().ok()?))?;
        // Outside PostgreSQL's range the query itself would fail: a made-up cursor, not ours.
        if !(1..=9999).contains(&created_at.year()) {
            return None;
        }
        Some(Self {
            created_at,
            id: Uuid::from_slice(id).ok()?,
        })
    }
}

/// Why a `cursor` parameter is refused.
pub const NOT_A_CURSOR: &str =
    "is not a cursor this list gave out: pass a nextCursor back unchanged";

/// Where a page starts: a page number (counted from the top, so bounded in depth) or a cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageStart {
    Number(u32),
    After(Cursor),
}

/// Which page of a list to read: at most `MAX_LIMIT` items from `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub start: PageStart,
    pub limit: u32,
}

impl PageRequest {
    pub const MAX_LIMIT: u32 = 100;
    pub const DEFAULT_LIMIT: u32 = 20;
    /// How deep page numbers reach: an offset makes the database walk every row before the page.
    pub const MAX_NUMBERED_DEPTH: u64 = 10_000;

    /// On failure: the parameter at fault and why.
    pub fn parse(
        page: Option<u32>,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Self, (&'static str, String)> {
        let limit = Self::limit(limit)?;
        let start = match (page, cursor) {
            (Some(_), Some(_)) => {
                return Err((
                    "cursor",
                    "cannot be combined with page: send one or the other".to_owned(),
                ))
            }
            (_, Some(cursor)) => {
                PageStart::After(Cursor::decode(cursor).ok_or(("cursor", NOT_A_CURSOR.to_owned()))?)
            }
            (Some(0), None) => return Err(("page", "must be 1 or more".to_owned())),
            (page, None) => PageStart::Number(page.unwrap_or(1)),
        };
        let request = Self { start, limit };
        if request.offset() + u64::from(limit) > Self::MAX_NUMBERED_DEPTH {
            return Err((
                "page",
                format!(
                    "page numbers reach the first {} items only: to read further, pass each \
                     page's nextCursor as cursor",
                    Self::MAX_NUMBERED_DEPTH
                ),
            ));
        }
        Ok(request)
    }

    /// A page size asked for, or the default; on failure, the parameter at fault and why.
    pub fn limit(limit: Option<u32>) -> Result<u32, (&'static str, String)> {
        let limit = limit.unwrap_or(Self::DEFAULT_LIMIT);
        if limit == 0 || limit > Self::MAX_LIMIT {
            return Err((
                "limit",
                format!("must be between 1 and {}", Self::MAX_LIMIT),
            ));
        }
        Ok(limit)
    }

    /// How many rows come before the page (none when it starts at a cursor).
    pub fn offset(self) -> u64 {
        match self.start {
            PageStart::Number(page) => u64::from(page - 1) * u64::from(self.limit),
            PageStart::After(_) => 0,
        }
    }

    pub fn cursor(self) -> Option<Cursor> {
        match self.start {
            PageStart::Number(_) => None,
            PageStart::After(cursor) => Some(cursor),
        }
    }

    pub fn number(self) -> Option<u32> {
        match self.start {
            PageStart::Number(page) => Some(page),
            PageStart::After(_) => None,
        }
    }
}

/// How many items match a list's filters, over all pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Total {
    pub count: i64,
    pub is_estimate: bool,
}

impl Total {
    /// Up to this many matches are counted; beyond, counting would read every match on every
    /// page, so the planner's estimate stands in.
    pub const EXACT_UP_TO: i64 = 10_000;

    pub fn exact(count: i64) -> Self {
        Self {
            count,
            is_estimate: false,
        }
    }
}

/// The rows the planner expects of a statement, from its `EXPLAIN (FORMAT JSON)`: the estimate
/// that stands in for a count too long to make.
pub fn planned_rows(plan: &serde_json::Value) -> i64 {
    plan[0]["Plan"]["Plan Rows"].as_f64().unwrap_or(0.0) as i64
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The page number asked for; `null` when the page was asked for by cursor.
    pub page: Option<u32>,
    pub limit: u32,
    /// How many items match the filters over all pages: exact up to 10,000, estimated beyond,
    /// except where the list keeps counters (one filter or none): exact at any size.
    pub total: i64,
    /// Whether `total` is the database's estimate (more than 10,000 match) rather than exact.
    pub total_is_estimate: bool,
    /// Pass as `cursor` to read the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page read with one item beyond its limit: that item, dropped, says a next page exists,
    /// which starts after the last item kept (`cursor_of`).
    pub fn with_lookahead(
        mut items: Vec<T>,
        page: PageRequest,
        total: Total,
        cursor_of: impl Fn(&T) -> Cursor,
    ) -> Self {
        let next_cursor = next_cursor(&mut items, page.limit, |last| cursor_of(last).encode());
        Self {
            items,
            page: page.number(),
            limit: page.limit,
            total: total.count,
            total_is_estimate: total.is_estimate,
            next_cursor,
        }
    }
}

/// Of `items` read with one beyond `limit`: drops that one, and answers where the next page starts
/// (after the last item kept, as `encode` writes it), or `None` on the last page.
pub fn next_cursor<T>(
    items: &mut Vec<T>,
    limit: u32,
    encode: impl Fn(&T) -> String,
) -> Option<String> {
    if items.len() <= limit as usize {
        return None;
    }
    items.truncate(limit as usize);
    items.last().map(encode)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor() -> Cursor {
        Cursor {
            created_at: DateTime::parse_from_rfc3339("2026-11-26T15:40:12.345678Z")
                .unwrap()
                .with_timezone(&Utc),
            id: Uuid::new_v4(),
        }
    }

    #[test]
    fn a_cursor_reads_back_as_it_was_given_out() {
        let cursor = cursor();
        let text = cursor.encode();
        assert!(text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(Cursor::decode(&text), Some(cursor));
    }

    #[test]
    fn anything_else_is_not_a_cursor() {
        let text = cursor().encode();
        let beyond_postgres = Cursor {
            created_at: "+10000-01-01T00:00:00Z".parse().unwrap(),
            ..cursor()
        };
        for bad in [
            "",
            "not a cursor",
            &text[..text.len() - 1],
            &format!("{text}AA"),
            &beyond_postgres.encode(),
        ] {
            assert_eq!(Cursor::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn page_numbers_reach_ten_thousand_items_and_not_past() {
        let deepest = PageRequest::parse(Some(100), None, Some(100)).unwrap();
        assert_eq!(deepest.offset(), 9_900);
        assert_eq!(
            PageRequest::parse(Some(101), None, Some(100))
                .unwrap_err()
                .0,
            "page"
        );
        assert_eq!(
            PageRequest::parse(Some(501), None, None).unwrap_err().0,
            "page"
        );
        let text = cursor().encode();
        assert_eq!(
            PageRequest::parse(Some(1), Some(&text), None)
                .unwrap_err()
                .0,
            "cursor"
        );
        let after = PageRequest::parse(None, Some(&text), Some(5)).unwrap();
        assert_eq!(after.cursor(), Cursor::decode(&text));
        assert_eq!((after.number(), after.offset()), (None, 0));
    }
}
