//! OpenAPI schemas for the domain's enums, built from the enums themselves so the documented
//! values cannot drift from the accepted ones.

use support_domain::ticket::{
    CommentVisibility, TicketCategory, TicketChannel, TicketPriority, TicketStatus,
};
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
