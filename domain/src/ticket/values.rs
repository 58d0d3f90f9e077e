//! Ticket values that can only exist valid: each `parse` is the one place its rule lives.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! screaming_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(value: &str) -> Result<Self, String> {
                match value {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        "unknown value {other:?}: expected one of {}",
                        Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use screaming_enum;

screaming_enum!(
    /// How urgent a ticket is; it picks the SLA targets.
    TicketPriority {
        Critical => "P0_CRITICAL",
        High => "P1_HIGH",
        Medium => "P2_MEDIUM",
        Low => "P3_LOW",
    }
);

screaming_enum!(
    TicketCategory {
        Technical => "TECHNICAL",
        Billing => "BILLING",
        Account => "ACCOUNT",
        Data => "DATA",
        Integration => "INTEGRATION",
        Performance => "PERFORMANCE",
        Security => "SECURITY",
        FeatureRequest => "FEATURE_REQUEST",
        BugReport => "BUG_REPORT",
        General => "GENERAL",
    }
);

screaming_enum!(
    /// Where the ticket came in.
    TicketChannel {
        Email => "EMAIL",
        Phone => "PHONE",
        Chat => "CHAT",
        WebForm => "WEB_FORM",
        Api => "API",
        Internal => "INTERNAL",
    }
);

screaming_enum!(
    /// Why a ticket's personal data was erased.
    ErasureReason {
        CustomerRequest => "CUSTOMER_REQUEST",
        Retention => "RETENTION",
    }
);

screaming_enum!(
    CommentVisibility {
        Public => "PUBLIC",
        Internal => "INTERNAL",
    }
);

/// Text of at most `max` characters as sent (as a JSON Schema `maxLength` counts them), trimmed,
/// and then at least `min` characters. Without NUL, which PostgreSQL cannot store.
pub(crate) fn bounded_text(value: &str, min: usize, max: usize) -> Result<String, String> {
    if value.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if value.contains('\0') {
        return Err(crate::NUL_REFUSED.to_owned());
    }
    let trimmed = value.trim();
    if trimmed.chars().count() < min {
        return Err(if min == 1 {
            "must not be empty".to_owned()
        } else {
            format!("must be at least {min} characters")
        });
    }
    Ok(trimmed.to_owned())
}

macro_rules! bounded_text_type {
    ($(#[$meta:meta])* $name:ident, $max:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const MAX_CHARS: usize = $max;

            pub fn parse(value: &str) -> Result<Self, String> {
                crate::ticket::values::bounded_text(value, 1, Self::MAX_CHARS).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

pub(crate) use bounded_text_type;

bounded_text_type!(TicketTitle, 200);
bounded_text_type!(TicketDescription, 20_000);
bounded_text_type!(CommentBody, 20_000);
bounded_text_type!(
    /// Why a ticket was escalated, resolved or cancelled.
    Reason,
    2_000
);
bounded_text_type!(
    /// An agent's id as the identity provider knows it (the JWT `sub`).
    AgentId,
    200
);
bounded_text_type!(
    /// What a customer adds to their satisfaction score.
    SatisfactionComment,
    2_000
);

/// At most `max` items, each parsed, duplicates dropped, order kept. On failure: the index of the
/// bad item (if one) and why.
fn distinct_items<T: PartialEq>(
    values: &[String],
    max: usize,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, (Option<usize>, String)> {
    if values.len() > max {
        return Err((None, format!("must have at most {max} items")));
    }
    let mut items: Vec<T> = Vec::with_capacity(values.len());
    for (index, value) in values.iter().enumerate() {
        let item = parse(value).map_err(|m| (Some(index), m))?;
        if !items.contains(&item) {
            items.push(item);
        }
    }
    Ok(items)
}

/// A list of short labels (tags, affected systems): trimmed, de-duplicated, order kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Labels(Vec<String>);

impl Labels {
    pub const MAX_ITEMS: usize = 50;
    pub const MAX_CHARS: usize = 100;

    /// On failure: the index of the bad item (if one) and why.
    pub fn parse(values: &[String]) -> Result<Self, (Option<usize>, String)> {
        distinct_items(values, Self::MAX_ITEMS, |value| {
            bounded_text(value, 1, Self::MAX_CHARS)
        })
        .map(Self)
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

/// The complete set of tickets, or of incidents, that a request links a ticket to.
pub struct RelatedIds;

impl RelatedIds {
    pub const MAX_ITEMS: usize = 50;

    pub fn parse(ids: &[Uuid]) -> Result<Vec<Uuid>, String> {
        if ids.len() > Self::MAX_ITEMS {
            return Err(format!("must have at most {} items", Self::MAX_ITEMS));
        }
        Ok(ids.to_vec())
    }
}

/// The knowledge-base articles the customer was shown or opened before opening a ticket, which
/// the deflection figures of analytics count: de-duplicated, order kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SeenArticles(Vec<Uuid>);

impl SeenArticles {
    pub const MAX_ITEMS: usize = 20;

    /// On failure: the index of the bad item (if one) and why.
    pub fn parse(values: &[String]) -> Result<Self, (Option<usize>, String)> {
        distinct_items(values, Self::MAX_ITEMS, |value| {
            Uuid::parse_str(value).map_err(|_| "must be a UUID".to_owned())
        })
        .map(Self)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[Uuid] {
        &self.0
    }
}

/// The customer a ticket is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
}

impl Customer {
    /// Of the id and of the name.
    pub const MAX_CHARS: usize = 200;
    pub const EMAIL_MAX_CHARS: usize = 254;

    pub fn parse(
        id: &str,
        name: Option<&str>,
        email: Option<&str>,
    ) -> Result<Self, (&'static str, String)> {
        let id = bounded_text(id, 1, Self::MAX_CHARS).map_err(|m| ("customerId", m))?;
        let name = name
            .map(|n| bounded_text(n, 1, Self::MAX_CHARS).map_err(|m| ("customerName", m)))
            .transpose()?;
        let email = email
            .map(|e| parse_email(e).map_err(|m| ("customerEmail", m)))
            .transpose()?;
        Ok(Self { id, name, email })
    }
}

pub(crate) fn parse_email(value: &str) -> Result<String, String> {
    let email = bounded_text(value, 3, Customer::EMAIL_MAX_CHARS)?;
    let (local, domain) = email
        .split_once('@')
        .ok_or_else(|| "must be an email address".to_owned())?;
    if local.is_empty()
        || domain.is_empty()
        || !domain.contains('.')
        || email.contains(char::is_whitespace)
    {
        return Err("must be an email address".to_owned());
    }
    Ok(email)
}

macro_rules! day_number_type {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;
            const SHAPE: &'static str = concat!("must look like ", $prefix, "-YYYYMMDD-XXXX");

            pub fn new(day: chrono::NaiveDate, counter: u64) -> Self {
                Self(format!("{}-{}-{counter:04}", Self::PREFIX, day.format("%Y%m%d")))
            }

            /// The day and that day's counter the number was made of.
            pub fn day_and_counter(&self) -> (chrono::NaiveDate, u64) {
                let (day, counter) = self.0[Self::PREFIX.len() + 1..]
                    .split_once('-')
                    .expect("parsed numbers have two parts");
                (
                    chrono::NaiveDate::parse_from_str(day, "%Y%m%d")
                        .expect("parsed numbers have a valid day"),
                    counter
                        .parse()
                        .expect("parsed numbers have a numeric counter"),
                )
            }

            pub fn parse(value: &str) -> Result<Self, String> {
                let (day, counter) = value
                    .strip_prefix(Self::PREFIX)
                    .and_then(|rest| rest.strip_prefix('-'))
                    .and_then(|rest| rest.split_once('-'))
                    .ok_or_else(|| Self::SHAPE.to_owned())?;
                let valid = chrono::NaiveDate::parse_from_str(day, "%Y%m%d").is_ok()
                    && day.len() == 8
                    && (4..=18).contains(&counter.len())
                    && counter.bytes().all(|b| b.is_ascii_digit());
                if valid {
                    Ok(Self(value.to_owned()))
                } else {
                    Err(Self::SHAPE.to_owned())
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}
pub(crate) use day_number_type;

day_number_type!(
    /// `TKT-YYYYMMDD-XXXX`: the UTC day the ticket was opened and that day's counter, four digits
    /// at least and wider past 9999.
    TicketNumber,
    "TKT"
);

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    #[test]
    fn ticket_numbers_have_four_digits_and_widen_past_9999() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        assert_eq!(TicketNumber::new(day, 7).as_str(), "TKT-20261126-0007");
        assert_eq!(TicketNumber::new(day, 12345).as_str(), "TKT-20261126-12345");
        assert_eq!(
            TicketNumber::parse("TKT-20261126-12345")
                .unwrap()
                .day_and_counter(),
            (day, 12345)
        );
        assert!(TicketNumber::parse("TKT-20261126-12345").is_ok());
        assert!(TicketNumber::parse("TKT-20261326-0001").is_err());
        assert!(TicketNumber::parse("TKT-20261126-01").is_err());
        assert!(TicketNumber::parse("INC-20261126-0001").is_err());
    }

    #[test]
    fn titles_are_trimmed_and_bounded() {
        assert_eq!(
            TicketTitle::parse("  Login fails ").unwrap().as_str(),
            "Login fails"
        );
        assert!(TicketTitle::parse("   ").is_err());
        assert!(TicketTitle::parse("Login\0fails").is_err());
        assert!(TicketTitle::parse(&"x".repeat(201)).is_err());
        assert!(
            TicketTitle::parse(&format!(" {}", "x".repeat(200))).is_err(),
            "the limit counts the title as sent"
        );
        assert!(TicketTitle::parse(&"é".repeat(200)).is_ok());
    }

    #[test]
    fn labels_are_deduplicated_and_bad_items_named() {
        let labels = Labels::parse(&["api".into(), " api ".into(), "db".into()]).unwrap();
        assert_eq!(labels.as_slice(), ["api", "db"]);
        assert_eq!(
            Labels::parse(&["ok".into(), "".into()]).unwrap_err().0,
            Some(1)
        );
    }

    #[test]
    fn related_ids_are_bounded() {
        let ids = vec![Uuid::nil(); RelatedIds::MAX_ITEMS];
        assert_eq!(RelatedIds::parse(&ids), Ok(ids.clone()));
        let too_many = vec![Uuid::nil(); RelatedIds::MAX_ITEMS + 1];
        assert_eq!(
            RelatedIds::parse(&too_many),
            Err("must have at most 50 items".to_owned())
        );
    }

    #[test]
    fn seen_articles_are_ids_bounded_and_de_duplicated_in_order() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let sent = [b, a, b].map(|id| id.to_string());
        assert_eq!(SeenArticles::parse(&sent).unwrap().as_slice(), [b, a]);
        let bad = [a.to_string(), "kb-42".to_owned()];
        assert_eq!(
            SeenArticles::parse(&bad),
            Err((Some(1), "must be a UUID".to_owned()))
        );
        let too_many = vec![a.to_string(); SeenArticles::MAX_ITEMS + 1];
        assert_eq!(
            SeenArticles::parse(&too_many),
            Err((None, "must have at most 20 items".to_owned()))
        );
    }

    #[test]
    fn enums_parse_their_spec_spelling_only() {
        assert_eq!(TicketPriority::parse("P1_HIGH"), Ok(TicketPriority::High));
        let error = TicketPriority::parse("HIGH").unwrap_err();
        assert!(
            error.contains("P0_CRITICAL, P1_HIGH, P2_MEDIUM, P3_LOW"),
            "{error}"
        );
    }

    #[test]
    fn customer_emails_must_look_like_addresses() {
        assert!(Customer::parse("c-1", Some("Jo"), Some("jo@example.com")).is_ok());
        assert_eq!(
            Customer::parse("c-1", None, Some("jo")).unwrap_err().0,
            "customerEmail"
        );
        assert_eq!(
            Customer::parse(" ", None, None).unwrap_err().0,
            "customerId"
        );
    }
}
