//! Which fields of an event carry a person's data. The event store is append-only and the bus
//! keeps every message, so those fields are stored sealed under a key of the aggregate's own,
//! and destroying the key erases them everywhere at once (crypto-shredding).

/// What an erased field reads as once its key is gone: in read models, exports and history.
pub const ERASED: &str = "[erased]";

/// What a secret field reads as wherever events are shown or projected.
pub const SECRET: &str = "[secret]";

/// Sealed fields that hold a secret rather than a person's data, as (event type, JSON pointer):
/// opened only where the secret is used (the delivery worker signs with an endpoint's secret),
/// never for a read model, a history or the audit log, which show `SECRET` instead.
pub const SECRET_FIELDS: &[(&str, &str)] = &[("WebhookEndpointRegistered", "/secret")];

/// Implemented by each aggregate's event type.
pub trait PersonalData {
    /// JSON pointers, within the event's payload, of the text fields that carry personal data;
    /// a pointer that finds no text (an absent or null field) seals nothing.
    fn personal_fields(&self) -> &'static [&'static str];

    /// The customer whose data the aggregate holds, named by the event that creates it: the
    /// aggregate's key is filed under them, so that erasing a customer finds every key.
    fn data_subject(&self) -> Option<&str>;

    /// Whether the event records that the aggregate's key was destroyed: it is appended in the
    /// statement that destroys it.
    fn erases_personal_data(&self) -> bool;
}
