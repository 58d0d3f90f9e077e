//! OpenAPI schemas for the domain's values, built from the values themselves (their enums, their
//! limits, the whitespace `str::trim` removes) so the documented rules cannot drift from the
//! enforced ones.

use std::sync::LazyLock;

use serde_json::Value;
use support_domain::escalation::{EscalationTrigger, Recipients, TeamName};
use support_domain::incident::{
    ActionItemStatus, IncidentCategory, IncidentImpact, IncidentSeverity, IncidentStatus,
    UpdateVisibility,
};
use support_domain::kb::{KbCategory, KbStatus};
use support_domain::notification::{ChannelChoices, NotificationKind};
use support_domain::sla::{ClockKind, ClockState, CustomerTier, PauseReason, TargetMinutes};
use support_domain::status_page::ComponentStatus;
use support_domain::ticket::{
    AgentId, CommentVisibility, TicketCategory, TicketChannel, TicketPriority, TicketStatus,
};
use support_domain::ActorRole;
use utoipa::openapi::schema::{
    AdditionalProperties, Array, ArrayBuilder, Object, ObjectBuilder, SchemaType, Type,
};

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

pub fn kb_category() -> Object {
    string_enum(KbCategory::ALL.iter().map(|v| v.as_str()))
}

pub fn alert_kind() -> Object {
    string_enum(
        support_domain::alert::AlertKind::ALL
            .iter()
            .map(|v| v.as_str()),
    )
}

pub fn incident_severity() -> Object {
    string_enum(IncidentSeverity::ALL.iter().map(|v| v.as_str()))
}

/// A severity, or null: every severity together.
pub fn incident_severity_or_null() -> Object {
    nullable_enum(IncidentSeverity::ALL.iter().map(|v| v.as_str()))
}

pub fn incident_status() -> Object {
    string_enum(IncidentStatus::ALL.iter().map(|v| v.as_str()))
}

pub fn incident_category() -> Object {
    string_enum(IncidentCategory::ALL.iter().map(|v| v.as_str()))
}

pub fn incident_impact() -> Object {
    string_enum(IncidentImpact::ALL.iter().map(|v| v.as_str()))
}

pub fn update_visibility() -> Object {
    string_enum(UpdateVisibility::ALL.iter().map(|v| v.as_str()))
}

pub fn action_item_status() -> Object {
    string_enum(ActionItemStatus::ALL.iter().map(|v| v.as_str()))
}

pub fn component_status() -> Object {
    string_enum(ComponentStatus::ALL.iter().map(|v| v.as_str()))
}

/// A component's state, or null: none known (a day's bar before it was), or none set (an
/// override cleared).
pub fn component_status_or_null() -> Object {
    nullable_enum(ComponentStatus::ALL.iter().map(|v| v.as_str()))
}

pub fn kb_status() -> Object {
    string_enum(KbStatus::ALL.iter().map(|v| v.as_str()))
}

pub fn comment_visibility() -> Object {
    string_enum(CommentVisibility::ALL.iter().map(|v| v.as_str()))
}

pub fn customer_tier() -> Object {
    string_enum(CustomerTier::ALL.iter().map(|v| v.as_str()))
}

pub fn clock_state() -> Object {
    string_enum(ClockState::ALL.iter().map(|v| v.as_str()))
}

/// A ticket's most pressing SLA clock state, or null for a ticket without a policy.
pub fn clock_state_or_null() -> Object {
    nullable_enum(ClockState::ALL.iter().map(|v| v.as_str()))
}

pub fn clock_kind() -> Object {
    string_enum(ClockKind::ALL.iter().map(|v| v.as_str()))
}

/// Why the clocks paused, or null for a step that is no pause.
pub fn pause_reason_or_null() -> Object {
    nullable_enum(PauseReason::ALL.iter().map(|v| v.as_str()))
}

/// A clock, or null for a step that concerns both.
pub fn clock_kind_or_null() -> Object {
    nullable_enum(ClockKind::ALL.iter().map(|v| v.as_str()))
}

fn nullable_enum(values: impl IntoIterator<Item = &'static str>) -> Object {
    let values: Vec<Value> = values
        .into_iter()
        .map(Value::from)
        .chain([Value::Null])
        .collect();
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(values))
        .build()
}

pub fn actor_role() -> Object {
    string_enum(ActorRole::ALL.iter().map(|v| v.as_str()))
}

/// A customer tier, or `null` for none (a ticket without one, a policy of every tier).
pub fn customer_tier_or_null() -> Object {
    nullable_enum(CustomerTier::ALL.iter().map(|v| v.as_str()))
}

/// A target in whole minutes, as `TargetMinutes::parse` takes it: 1 to a year.
pub fn target_minutes() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(TargetMinutes::MAX))
        .build()
}

/// A warning threshold, as `WarningPercent::parse` takes it: a whole percentage, 1 to 99.
pub fn warning_percent() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(99))
        .build()
}

/// ISO weekdays, 1 (Monday) to 7 (Sunday): a week has seven.
pub fn business_days() -> ArrayBuilder {
    let day = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(7));
    ArrayBuilder::new().items(day).max_items(Some(7))
}

pub fn business_days_or_null() -> Array {
    business_days()
        .schema_type(SchemaType::Array(vec![Type::Array, Type::Null]))
        .build()
}

/// The channels a user chooses for `kind` (`ChannelChoices::channels_of`), each at most once.
pub fn notification_channels(kind: NotificationKind) -> Array {
    let channels = ChannelChoices::channels_of(kind);
    let channel = string_enum(channels.iter().map(|c| c.as_str()));
    ArrayBuilder::new()
        .items(channel)
        .unique_items(true)
        .max_items(Some(channels.len()))
        .build()
}

/// An object with one list of channels per kind a user chooses for (`ChannelChoices`), and no
/// other property.
pub fn channel_choices() -> ObjectBuilder {
    ChannelChoices::KINDS.iter().fold(
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(AdditionalProperties::FreeForm(false))),
        |object, &kind| object.property(kind.as_str(), notification_channels(kind)),
    )
}

/// Working hours (`WorkingHoursFields`): weekdays, and a local start and end as `HH:MM`.
pub fn working_hours() -> ObjectBuilder {
    let time = |pattern: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(pattern))
            .examples([Value::from("09:00")])
    };
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "days",
            business_days().min_items(Some(1)).unique_items(true),
        )
        .property("start", time("^([01][0-9]|2[0-3]):[0-5][0-9]$"))
        .property("end", time("^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"))
        .required("days")
        .required("start")
        .required("end")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
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

/// A staff member's id (`AgentId`): an assignee, an author.
pub fn agent_id() -> Object {
    text(AgentId::MAX_CHARS).build()
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

fn array_of(item: Object) -> Array {
    ArrayBuilder::new().items(item).build()
}

/// Priorities a rule applies to; none: every priority.
pub fn ticket_priorities() -> Array {
    array_of(ticket_priority())
}

/// Categories a rule applies to; none: every category.
pub fn ticket_categories() -> Array {
    array_of(ticket_category())
}

pub fn escalation_trigger() -> Object {
    string_enum(EscalationTrigger::ALL.iter().map(|v| v.as_str()))
}

/// What starts a climb on a rule's ladder: at least one.
pub fn escalation_triggers() -> Array {
    ArrayBuilder::new()
        .items(escalation_trigger())
        .min_items(Some(1))
        .build()
}

/// Recipients of one kind on an escalation level.
fn recipients(item: Object) -> Array {
    ArrayBuilder::new()
        .items(item)
        .max_items(Some(Recipients::MAX_EACH))
        .build()
}

/// Roles an escalation level calls on.
pub fn staff_roles() -> Array {
    recipients(actor_role())
}

/// Agents an escalation level calls on, by id.
pub fn agent_ids() -> Array {
    recipients(agent_id())
}

/// Teams an escalation level calls on.
pub fn team_names() -> Array {
    recipients(text(TeamName::MAX_CHARS).build())
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
    fn the_number_schemas_admit_what_the_domain_accepts() {
        use support_domain::sla::WarningPercent;

        let within = |schema: &Object, n: i64| {
            let number = |bound: &Option<utoipa::Number>| match bound {
                Some(utoipa::Number::Int(b)) => *b as i64,
                Some(utoipa::Number::UInt(b)) => *b as i64,
                _ => panic!("the bounds are whole numbers"),
            };
            (number(&schema.minimum)..=number(&schema.maximum)).contains(&n)
        };
        for n in [-1, 0, 1, 50, 99, 100] {
            assert_eq!(
                within(&warning_percent(), n),
                WarningPercent::parse(n).is_ok(),
                "{n}"
            );
        }
        for n in [0, 1, 525_600, 525_601] {
            assert_eq!(
                within(&target_minutes(), n),
                TargetMinutes::parse(n).is_ok(),
                "{n}"
            );
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
