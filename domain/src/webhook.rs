//! The webhook endpoint aggregate: a URL that admins register to receive, signed, the events of
//! the types it subscribes to. Admins register, change, deactivate and reactivate endpoints; the
//! delivery worker disables one that answered 410 Gone. Each change is an event, so the audit
//! log shows who pointed the desk's events where, and why an endpoint stopped receiving them.

#[cfg(test)]
mod tests;

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ticket::values::bounded_text_type;
use crate::ticket::Reason;
use crate::{ActorRole, Caller, DomainError, PersonalData, Refusal};

/// The event types an endpoint can subscribe to, by the aggregate type that records them: those
/// of docs/events.md, in alphabetical order.
pub const SUBSCRIBABLE: &[(&str, &[&str])] = &[
    (
        "ticket",
        &[
            "PersonalDataErased",
            "SlaBreached",
            "SlaClockCompleted",
            "SlaClockRestarted",
            "SlaClocksPaused",
            "SlaClocksResumed",
            "SlaClocksStopped",
            "SlaPolicyApplied",
            "SlaWarningReached",
            "TicketAffectedSystemsChanged",
            "TicketAssigned",
            "TicketCommentAdded",
            "TicketCustomerTierChanged",
            "TicketDescriptionChanged",
            "TicketEscalated",
            "TicketFirstResponseRecorded",
            "TicketHeldByIncident",
            "TicketIncidentLinked",
            "TicketIncidentUnlinked",
            "TicketOpened",
            "TicketRecategorized",
            "TicketRelatedTicketLinked",
            "TicketRelatedTicketUnlinked",
            "TicketReleasedByIncident",
            "TicketReprioritized",
            "TicketRetitled",
            "TicketStatusChanged",
            "TicketTagsChanged",
            "TicketUnassigned",
        ],
    ),
    (
        "sla_policy",
        &[
            "SlaPolicyCreated",
            "SlaPolicyDeactivated",
            "SlaPolicyReactivated",
            "SlaPolicyRevised",
        ],
    ),
    (
        "incident",
        &[
            "ActionItemAdded",
            "ActionItemRevised",
            "IncidentAcknowledged",
            "IncidentAffectedServicesChanged",
            "IncidentAffectedSystemsChanged",
            "IncidentCommanderChanged",
            "IncidentDetected",
            "IncidentImpactChanged",
            "IncidentMitigationRecorded",
            "IncidentResolutionRecorded",
            "IncidentRootCauseRecorded",
            "IncidentSeverityChanged",
            "IncidentStatusChanged",
            "IncidentTargetMissed",
            "IncidentTeamChanged",
            "IncidentUpdatePosted",
            "PostMortemCompleted",
            "PostMortemRevised",
        ],
    ),
];

/// Whether an endpoint can subscribe to events of `event_type` recorded by `aggregate_type`.
pub fn subscribable(aggregate_type: &str, event_type: &str) -> bool {
    SUBSCRIBABLE
        .iter()
        .any(|(aggregate, types)| *aggregate == aggregate_type && types.contains(&event_type))
}

bounded_text_type!(
    /// Where an endpoint receives its events: an absolute http(s) URL, which the API checks
    /// against the egress rules before it gets here.
    WebhookUrl,
    2_048
);

bounded_text_type!(
    /// What admins note about an endpoint (who runs it, what it feeds).
    WebhookDescription,
    500
);

/// The event types an endpoint receives: at least one, each from `SUBSCRIBABLE`, each once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventTypes(Vec<String>);

impl EventTypes {
    /// Every subscribable type, so a list that names them all is never refused as too long.
    pub fn max_items() -> usize {
        SUBSCRIBABLE.iter().map(|(_, types)| types.len()).sum()
    }

    /// On failure: the index of the bad item (if one) and why. An empty list is refused: an
    /// endpoint names what it wants, so that a new event type never reaches it unasked.
    pub fn parse(values: &[String]) -> Result<Self, (Option<usize>, String)> {
        if values.is_empty() {
            return Err((None, "must name at least one event type".to_owned()));
        }
        if values.len() > Self::max_items() {
            return Err((
                None,
                format!("must have at most {} items", Self::max_items()),
            ));
        }
        let mut types: Vec<String> = Vec::with_capacity(values.len());
        for (index, value) in values.iter().enumerate() {
            if !SUBSCRIBABLE
                .iter()
                .any(|(_, known)| known.contains(&value.as_str()))
            {
                return Err((
                    Some(index),
                    "is not an event type of docs/events.md that a webhook can receive".to_owned(),
                ));
            }
            if !types.contains(value) {
                types.push(value.clone());
            }
        }
        Ok(Self(types))
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    pub fn contains(&self, event_type: &str) -> bool {
        self.0.iter().any(|t| t == event_type)
    }
}

/// The key an endpoint's deliveries are signed with: `whsec_` and the base64 of 32 random bytes
/// (the Standard Webhooks form). Never printed: its `Debug` hides it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SigningSecret(String);

impl SigningSecret {
    pub const PREFIX: &'static str = "whsec_";

    /// A secret as the API generated it.
    pub fn new(secret: String) -> Self {
        Self(secret)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(..)")
    }
}

/// What an endpoint is, as requests, events and the read model spell it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDefinition {
    pub url: WebhookUrl,
    pub event_types: EventTypes,
    pub description: Option<WebhookDescription>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WebhookEndpointCommand {
    Register(RegisterWebhookEndpoint),
    Update(UpdateWebhookEndpoint),
    Disable(DisableWebhookEndpoint),
}

#[derive(Debug, Clone, PartialEq)]
pub struct RegisterWebhookEndpoint {
    pub caller: Caller,
    pub endpoint_id: Uuid,
    pub definition: WebhookDefinition,
    pub active: bool,
    pub secret: SigningSecret,
}

/// A partial update: `None` leaves a field as it is. `active: true` reactivates an endpoint the
/// service disabled, too.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateWebhookEndpoint {
    pub caller: Caller,
    pub url: Option<WebhookUrl>,
    pub event_types: Option<EventTypes>,
    /// `Some(None)` removes it.
    pub description: Option<Option<WebhookDescription>>,
    pub active: Option<bool>,
}

/// The service stops delivering to an endpoint that said it is gone for good.
#[derive(Debug, Clone, PartialEq)]
pub struct DisableWebhookEndpoint {
    pub caller: Caller,
    pub reason: Reason,
}

/// Everything that can happen to an endpoint. The catalogue with payloads is docs/events.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all_fields = "camelCase")]
pub enum WebhookEndpointEvent {
    WebhookEndpointRegistered {
        endpoint_id: Uuid,
        #[serde(flatten)]
        definition: WebhookDefinition,
        secret: SigningSecret,
    },
    /// The whole definition after a change.
    WebhookEndpointChanged {
        #[serde(flatten)]
        definition: WebhookDefinition,
    },
    /// Nothing more is delivered to it. `reason` when the service disabled it; none when an
    /// admin deactivated it.
    WebhookEndpointDeactivated {
        reason: Option<Reason>,
    },
    WebhookEndpointReactivated {},
}

impl WebhookEndpointEvent {
    pub const VERSION: &'static str = "1";

    pub fn name(&self) -> &'static str {
        match self {
            WebhookEndpointEvent::WebhookEndpointRegistered { .. } => "WebhookEndpointRegistered",
            WebhookEndpointEvent::WebhookEndpointChanged { .. } => "WebhookEndpointChanged",
            WebhookEndpointEvent::WebhookEndpointDeactivated { .. } => "WebhookEndpointDeactivated",
            WebhookEndpointEvent::WebhookEndpointReactivated {} => "WebhookEndpointReactivated",
        }
    }

    /// Reads an event back from its type and payload as the store and the bus hold them.
    pub fn from_parts(event_type: &str, payload: &serde_json::Value) -> serde_json::Result<Self> {
        crate::recorded::decode_event(event_type, payload)
    }
}

/// Sealed as personal data is, though nobody's: the signing secret must never travel in clear on
/// the bus, a URL can carry a token of its own (`/hooks/T0/B0/XXXX`), and the description is
/// free text. The endpoint names no customer, so no export or erasure reaches its key.
impl PersonalData for WebhookEndpointEvent {
    fn personal_fields(&self) -> &'static [&'static str] {
        match self {
            WebhookEndpointEvent::WebhookEndpointRegistered { .. } => {
                &["/url", "/description", "/secret"]
            }
            WebhookEndpointEvent::WebhookEndpointChanged { .. } => &["/url", "/description"],
            WebhookEndpointEvent::WebhookEndpointDeactivated { .. }
            | WebhookEndpointEvent::WebhookEndpointReactivated {} => &[],
        }
    }

    fn data_subject(&self) -> Option<&str> {
        None
    }

    fn erases_personal_data(&self) -> bool {
        false
    }
}

crate::recorded::domain_event!(WebhookEndpointEvent);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WebhookEndpointError {
    #[error("the webhook endpoint does not exist")]
    NotFound,
    #[error("the webhook endpoint exists already")]
    AlreadyExists,
    #[error("only admins change webhook endpoints")]
    Forbidden,
    #[error("only the service disables a webhook endpoint; admins deactivate it")]
    NotTheService,
    #[error("the auditor role reads webhook endpoints and changes none")]
    ReadOnlyCaller,
}

impl DomainError for WebhookEndpointError {
    fn refusal(&self) -> Refusal {
        match self {
            WebhookEndpointError::NotFound => Refusal::NotFound {
                resource: "webhook endpoint",
            },
            WebhookEndpointError::AlreadyExists => Refusal::Conflict {
                allowed_statuses: None,
            },
            WebhookEndpointError::Forbidden
            | WebhookEndpointError::NotTheService
            | WebhookEndpointError::ReadOnlyCaller => Refusal::Forbidden,
        }
    }
}

/// An endpoint as its events leave it: what the delivery worker sends by.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    /// `None` until it is registered.
    definition: Option<WebhookDefinition>,
    secret: Option<SigningSecret>,
    active: bool,
}

impl WebhookEndpoint {
    pub fn definition(&self) -> Option<&WebhookDefinition> {
        self.definition.as_ref()
    }

    pub fn secret(&self) -> Option<&SigningSecret> {
        self.secret.as_ref()
    }

    pub fn is_active(&self) -> bool {
        self.active
    }
}

impl Aggregate for WebhookEndpoint {
    const TYPE: &'static str = "webhook_endpoint";
    type Command = WebhookEndpointCommand;
    type Event = WebhookEndpointEvent;
    type Error = WebhookEndpointError;
    type Services = ();

    async fn handle(
        &mut self,
        command: WebhookEndpointCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), WebhookEndpointError> {
        let events = match command {
            WebhookEndpointCommand::Register(register) => self.register(register)?,
            WebhookEndpointCommand::Update(update) => self.update(update)?,
            WebhookEndpointCommand::Disable(disable) => self.disable(disable)?,
        };
        for event in events {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: WebhookEndpointEvent) {
        match event {
            WebhookEndpointEvent::WebhookEndpointRegistered {
                definition, secret, ..
            } => {
                self.definition = Some(definition);
                self.secret = Some(secret);
                self.active = true;
            }
            WebhookEndpointEvent::WebhookEndpointChanged { definition } => {
                self.definition = Some(definition)
            }
            WebhookEndpointEvent::WebhookEndpointDeactivated { .. } => self.active = false,
            WebhookEndpointEvent::WebhookEndpointReactivated {} => self.active = true,
        }
    }
}

/// Admins manage endpoints, and the service role for integrations that manage a desk's
/// configuration; auditors only read.
fn check_writer(caller: &Caller) -> Result<(), WebhookEndpointError> {
    match caller.actor.role {
        ActorRole::Admin | ActorRole::Service => Ok(()),
        ActorRole::Auditor => Err(WebhookEndpointError::ReadOnlyCaller),
        ActorRole::Agent | ActorRole::Customer => Err(WebhookEndpointError::Forbidden),
    }
}

impl WebhookEndpoint {
    fn register(
        &self,
        register: RegisterWebhookEndpoint,
    ) -> Result<Vec<WebhookEndpointEvent>, WebhookEndpointError> {
        check_writer(&register.caller)?;
        if self.definition.is_some() {
            return Err(WebhookEndpointError::AlreadyExists);
        }
        let mut events = vec![WebhookEndpointEvent::WebhookEndpointRegistered {
            endpoint_id: register.endpoint_id,
            definition: register.definition,
            secret: register.secret,
        }];
        if !register.active {
            events.push(WebhookEndpointEvent::WebhookEndpointDeactivated { reason: None });
        }
        Ok(events)
    }

    /// The definition's changes first, as one event, then the change of state; a request that
    /// changes nothing records nothing.
    fn update(
        &self,
        update: UpdateWebhookEndpoint,
    ) -> Result<Vec<WebhookEndpointEvent>, WebhookEndpointError> {
        check_writer(&update.caller)?;
        let current = self
            .definition
            .as_ref()
            .ok_or(WebhookEndpointError::NotFound)?;
        let next = WebhookDefinition {
            url: update.url.unwrap_or_else(|| current.url.clone()),
            event_types: update
                .event_types
                .unwrap_or_else(|| current.event_types.clone()),
            description: update
                .description
                .unwrap_or_else(|| current.description.clone()),
        };
        let mut events = Vec::new();
        if next != *current {
            events.push(WebhookEndpointEvent::WebhookEndpointChanged { definition: next });
        }
        match (self.active, update.active) {
            (true, Some(false)) => {
                events.push(WebhookEndpointEvent::WebhookEndpointDeactivated { reason: None })
            }
            (false, Some(true)) => events.push(WebhookEndpointEvent::WebhookEndpointReactivated {}),
            _ => {}
        }
        Ok(events)
    }

    /// Idempotent: an endpoint that is inactive already stays as it is, so a second 410 (from a
    /// delivery already under way) records nothing.
    fn disable(
        &self,
        disable: DisableWebhookEndpoint,
    ) -> Result<Vec<WebhookEndpointEvent>, WebhookEndpointError> {
        match disable.caller.actor.role {
            ActorRole::Service => {}
            ActorRole::Auditor => return Err(WebhookEndpointError::ReadOnlyCaller),
            _ => return Err(WebhookEndpointError::NotTheService),
        }
        if self.definition.is_none() {
            return Err(WebhookEndpointError::NotFound);
        }
        Ok(if self.active {
            vec![WebhookEndpointEvent::WebhookEndpointDeactivated {
                reason: Some(disable.reason),
            }]
        } else {
            Vec::new()
        })
    }
}
