//! OpenAPI schemas for the domain's values, built from the values themselves (their enums, their
//! limits, the whitespace `str::trim` removes) so the documented rules cannot drift from the
//! enforced ones.

use std::sync::LazyLock;

use support_domain::sla::{ClockKind, ClockState, CustomerTier};
use support_domain::ticket::{
    CommentVisibility, TicketCategory, TicketChannel, TicketPriority, TicketStatus,
};
use support_domain::ActorRole;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};

fn string_enum(values: impl IntoIterator<Item = &'static str>) -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .enum_values(Some(values))
        .build()
}

pub fn ticket_priority() -> Object {
    string_enum(TicketPriority::ALL.iter().map(|v| v.as_str()))
}

pub fn ticket_status() -> Object {
    string_enum(TicketStatus::ALL.iter().map(|v| v.as_str()))
}

pub fn ticket_category() -> Object {
    string_enum(TicketCategory::ALL.iter().map(|v| v.as_str()))
}

pub fn ticket_channel() -> Object {
    string_enum(TicketChannel::ALL.iter().map(|v| v.as_str()))
}

pub fn comment_visibility() -> Object {
    string_enum(CommentVisibility::ALL.iter().map(|v| v.as_str()))
}

pub fn customer_tier() -> Object {
    string_enum(CustomerTier::ALL.iter().map(|v| v.as_str()))
}

/// A customer tier, or null for none.
pub fn optional_customer_tier() -> Object {
    nullable_enum(CustomerTier::ALL.iter().map(|v| v.as_str()))
}

pub fn clock_state() -> Object {
    string_enum(ClockState::ALL.iter().map(|v| v.as_str()))
}

/// A ticket's most pressing SLA clock state, or null for a ticket without a policy.
pub fn optional_clock_state() -> Object {
    nullable_enum(ClockState::ALL.iter().map(|v| v.as_str()))
}

pub fn clock_kind() -> Object {
    string_enum(ClockKind::ALL.iter().map(|v| v.as_str()))
}

fn nullable_enum(values: impl IntoIterator<Item = &'static str>) -> Object {
    let values: Vec<serde_json::Value> = values
        .into_iter()
        .map(serde_json::Value::from)
        .chain([serde_json::Value::Null])
        .collect();
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(values))
        .build()
}

pub fn actor_role() -> Object {
    string_enum(ActorRole::ALL.iter().map(|v| v.as_str()))
}

/// The characters `str::trim` removes (`char::is_whitespace`), as the inside of a regex character
/// class: `\u0009-\u000d\u0020...`.
pub static WHITESPACE: LazyLock<String> = LazyLock::new(|| {
    let mut class = String::new();
    let mut chars = (char::MIN..=char::MAX)
        .filter(|c| c.is_whitespace())
        .peekable();
    while let Some(first) = chars.next() {
        let mut last = first;
        while let Some(next) = chars.next_if(|next| *next as u32 == last as u32 + 1) {
            last = next;
        }
        class.push_str(&format!("\\u{:04x}", first as u32));
        if last != first {
            class.push_str(&format!("-\\u{:04x}", last as u32));
        }
    }
    class
});

/// NUL, which the domain refuses in text (`NUL_REFUSED`), in a regex.
const NUL: &str = "\\u0000";

/// Any text without NUL (a query parameter, say).
pub fn without_nul() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!("^[^{NUL}]*$")))
        .build()
}

/// Text the domain trims and refuses blank: 1 to `max` characters as sent, one of them not
/// whitespace, none of them NUL. (Whitespace, then the first other character: a pattern a regex
/// engine matches without backtracking, even 20,000 characters long.)
pub fn text(max: usize) -> ObjectBuilder {
    let space = &*WHITESPACE;
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(format!("^[{space}]*[^{space}{NUL}][^{NUL}]*$")))
}

/// An email address as `Customer::parse` takes it: `local@domain` once trimmed, the local part
/// without `@`, a `.` in the domain and neither whitespace nor NUL inside; 3 to `max` characters.
pub fn email(max: usize) -> ObjectBuilder {
    let space = &*WHITESPACE;
    let visible = format!("[^{space}{NUL}]");
    let local = format!("[^{space}{NUL}@]");
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(3))
        .max_length(Some(max))
        .pattern(Some(format!(
            "^[{space}]*{local}+@{visible}*\\.{visible}*[{space}]*$"
        )))
}

#[cfg(test)]
mod tests {
    use support_domain::ticket::{Customer, TicketTitle};

    use super::*;

    /// Whether a string schema's lengths and pattern admit `value`, as a JSON Schema validator
    /// reads them (characters are code points; `pattern` matches anywhere).
    fn admits(schema: &Object, value: &str) -> bool {
        let length = value.chars().count();
        let pattern = regex::Regex::new(schema.pattern.as_deref().unwrap()).unwrap();
        schema.min_length.is_none_or(|min| length >= min)
            && schema.max_length.is_none_or(|max| length <= max)
            && pattern.is_match(value)
    }

    #[test]
    fn whitespace_is_what_trim_removes() {
        assert_eq!(
            *WHITESPACE,
            "\\u0009-\\u000d\\u0020\\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028-\\u2029\\u202f\\u205f\\u3000"
        );
    }

    #[test]
    fn the_text_schema_admits_what_the_domain_accepts() {
        let schema = text(TicketTitle::MAX_CHARS).build();
        let long = "x".repeat(TicketTitle::MAX_CHARS);
        let samples = [
            "",
            " ",
            "\t\n",
            "\u{3000}",
            "\u{85}",
            "a",
            " a ",
            "\u{3000}x",
            "\u{1c}",
            "\u{200b}",
            "x\0",
            "\0",
            " \0 ",
            "é",
            &long,
            &format!(" {long}"),
            &format!("{long}x"),
        ];
        for sample in samples {
            let accepted = TicketTitle::parse(sample).is_ok();
            assert_eq!(admits(&schema, sample), accepted, "{sample:?}");
        }
    }

    #[test]
    fn the_email_schema_admits_what_the_domain_accepts() {
        let schema = email(Customer::EMAIL_MAX_CHARS).build();
        let long = format!("{}@example.com", "a".repeat(Customer::EMAIL_MAX_CHARS));
        let samples = [
            "a@b.c",
            " a@b.c\n",
            "a@.",
            "@b.c",
            "a@b",
            "a@bc",
            "ab.c",
            "a b@c.d",
            "a@b c.d",
            "a@b@c.d",
            "a@b.c\0",
            "\0a@b.c",
            "a\u{3000}@b.c",
            "é@ü.de",
            "a@b.",
            &long,
        ];
        for sample in samples {
            let accepted = Customer::parse("c-1", None, Some(sample)).is_ok();
            assert_eq!(admits(&schema, sample), accepted, "{sample:?}");
        }
    }

    #[test]
    fn text_without_nul_admits_anything_else() {
        let schema = without_nul();
        for (sample, admitted) in [("", true), ("open", true), (" ", true), ("a\0b", false)] {
            assert_eq!(admits(&schema, sample), admitted, "{sample:?}");
        }
    }
}
