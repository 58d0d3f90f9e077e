//! The endpoint's rules: who may register, change and disable it; what a change records; and the
//! event types an endpoint may subscribe to.

use cqrs_es::test::TestFramework;
use serde_json::json;

use super::*;
use crate::actor::test_caller as caller;

type EndpointTest = TestFramework<WebhookEndpoint>;

const ENDPOINT: Uuid = Uuid::from_u128(11);

fn types(names: &[&str]) -> EventTypes {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    EventTypes::parse(&names).unwrap()
}

fn definition() -> WebhookDefinition {
    WebhookDefinition {
        url: WebhookUrl::parse("https://hooks.example.com/support").unwrap(),
        event_types: types(&["SlaBreached", "TicketOpened"]),
        description: Some(WebhookDescription::parse("The on-call bridge").unwrap()),
    }
}

fn secret() -> SigningSecret {
    SigningSecret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned())
}

fn registered() -> WebhookEndpointEvent {
    WebhookEndpointEvent::WebhookEndpointRegistered {
        endpoint_id: ENDPOINT,
        definition: definition(),
        secret: secret(),
    }
}

fn register(role: ActorRole, active: bool) -> WebhookEndpointCommand {
    WebhookEndpointCommand::Register(RegisterWebhookEndpoint {
        caller: caller(role),
        endpoint_id: ENDPOINT,
        definition: definition(),
        active,
        secret: secret(),
    })
}

fn update(change: impl FnOnce(&mut UpdateWebhookEndpoint)) -> WebhookEndpointCommand {
    let mut update = UpdateWebhookEndpoint {
        caller: caller(ActorRole::Admin),
        url: None,
        event_types: None,
        description: None,
        active: None,
    };
    change(&mut update);
    WebhookEndpointCommand::Update(update)
}

fn disable(role: ActorRole) -> WebhookEndpointCommand {
    WebhookEndpointCommand::Disable(DisableWebhookEndpoint {
        caller: caller(role),
        reason: gone(),
    })
}

fn gone() -> Reason {
    Reason::parse("the endpoint answered 410 Gone").unwrap()
}

#[tokio::test]
async fn admins_and_the_service_register_endpoints_and_others_are_refused() {
    for role in [ActorRole::Admin, ActorRole::Service] {
        EndpointTest::with(())
            .given_no_previous_events()
            .when_async(register(role, true))
            .await
            .then_expect_events(vec![registered()]);
    }
    for (role, refused) in [
        (ActorRole::Agent, WebhookEndpointError::Forbidden),
        (ActorRole::Customer, WebhookEndpointError::Forbidden),
        (ActorRole::Auditor, WebhookEndpointError::ReadOnlyCaller),
    ] {
        EndpointTest::with(())
            .given_no_previous_events()
            .when_async(register(role, true))
            .await
            .then_expect_error(refused);
    }
}

#[tokio::test]
async fn an_endpoint_registered_inactive_records_its_deactivation_too_and_exists_once() {
    EndpointTest::with(())
        .given_no_previous_events()
        .when_async(register(ActorRole::Admin, false))
        .await
        .then_expect_events(vec![
            registered(),
            WebhookEndpointEvent::WebhookEndpointDeactivated { reason: None },
        ]);
    EndpointTest::with(())
        .given(vec![registered()])
        .when_async(register(ActorRole::Admin, true))
        .await
        .then_expect_error(WebhookEndpointError::AlreadyExists);
}

#[tokio::test]
async fn a_change_records_the_whole_definition_and_a_request_that_changes_nothing_records_nothing()
{
    let next_types = types(&["TicketOpened"]);
    EndpointTest::with(())
        .given(vec![registered()])
        .when_async(update(|u| {
            u.event_types = Some(next_types.clone());
            u.description = Some(None);
        }))
        .await
        .then_expect_events(vec![WebhookEndpointEvent::WebhookEndpointChanged {
            definition: WebhookDefinition {
                event_types: next_types,
                description: None,
                ..definition()
            },
        }]);
    EndpointTest::with(())
        .given(vec![registered()])
        .when_async(update(|u| {
            u.url = Some(definition().url);
            u.active = Some(true);
        }))
        .await
        .then_expect_events(vec![]);
    EndpointTest::with(())
        .given_no_previous_events()
        .when_async(update(|u| u.active = Some(false)))
        .await
        .then_expect_error(WebhookEndpointError::NotFound);
}

#[tokio::test]
async fn the_service_disables_an_endpoint_once_with_its_reason_and_an_admin_reactivates_it() {
    let disabled = WebhookEndpointEvent::WebhookEndpointDeactivated {
        reason: Some(gone()),
    };
    EndpointTest::with(())
        .given(vec![registered()])
        .when_async(disable(ActorRole::Service))
        .await
        .then_expect_events(vec![disabled.clone()]);
    EndpointTest::with(())
        .given(vec![registered(), disabled.clone()])
        .when_async(disable(ActorRole::Service))
        .await
        .then_expect_events(vec![]);
    EndpointTest::with(())
        .given(vec![registered(), disabled])
        .when_async(update(|u| u.active = Some(true)))
        .await
        .then_expect_events(vec![WebhookEndpointEvent::WebhookEndpointReactivated {}]);
    for (role, refused) in [
        (ActorRole::Admin, WebhookEndpointError::NotTheService),
        (ActorRole::Agent, WebhookEndpointError::NotTheService),
        (ActorRole::Auditor, WebhookEndpointError::ReadOnlyCaller),
    ] {
        EndpointTest::with(())
            .given(vec![registered()])
            .when_async(disable(role))
            .await
            .then_expect_error(refused);
    }
}

#[test]
fn the_state_an_endpoint_sends_by_follows_its_events() {
    let mut endpoint = WebhookEndpoint::default();
    assert!(endpoint.definition().is_none());
    endpoint.apply(registered());
    assert!(endpoint.is_active());
    assert_eq!(endpoint.secret(), Some(&secret()));
    endpoint.apply(WebhookEndpointEvent::WebhookEndpointDeactivated {
        reason: Some(gone()),
    });
    assert!(!endpoint.is_active());
    assert_eq!(endpoint.definition(), Some(&definition()));
}

#[test]
fn event_types_are_known_and_named_once_and_an_empty_list_is_refused() {
    assert_eq!(
        types(&["TicketOpened", "SlaBreached", "TicketOpened"]).as_slice(),
        ["TicketOpened", "SlaBreached"]
    );
    let names = |v: &[&str]| v.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
    assert_eq!(EventTypes::parse(&[]).unwrap_err().0, None);
    let unknown = EventTypes::parse(&names(&["TicketOpened", "ticket.opened"])).unwrap_err();
    assert_eq!(unknown.0, Some(1));
    let every: Vec<String> = SUBSCRIBABLE
        .iter()
        .flat_map(|(_, types)| types.iter().map(|t| (*t).to_owned()))
        .collect();
    assert_eq!(
        EventTypes::parse(&every).unwrap().as_slice().len(),
        every.len()
    );
    assert!(subscribable("ticket", "SlaBreached"));
    assert!(!subscribable("sla_policy", "SlaBreached"));
    assert!(!subscribable(
        "webhook_endpoint",
        "WebhookEndpointRegistered"
    ));
}

/// Every name the filter accepts is an event its aggregate records: decoding an empty payload
/// under it fails for a missing field or succeeds, never for an unknown variant.
#[test]
fn every_subscribable_type_is_an_event_of_its_aggregate() {
    for (aggregate, names) in SUBSCRIBABLE {
        for name in *names {
            let error = match *aggregate {
                "ticket" => crate::ticket::TicketEvent::from_parts(name, &json!({})).err(),
                "sla_policy" => crate::sla::SlaPolicyEvent::from_parts(name, &json!({})).err(),
                "incident" => crate::incident::IncidentEvent::from_parts(name, &json!({})).err(),
                other => panic!("no decoder for {other}"),
            };
            if let Some(error) = error {
                assert!(
                    !error.to_string().contains("unknown variant"),
                    "{aggregate} {name}: {error}"
                );
            }
        }
    }
}

#[test]
fn the_secret_and_the_free_text_are_sealed_and_never_printed() {
    assert_eq!(
        registered().personal_fields(),
        ["/url", "/description", "/secret"]
    );
    assert_eq!(format!("{:?}", secret()), "SigningSecret(..)");
    assert!(!format!("{:?}", registered()).contains("whsec_"));
    assert_eq!(registered().data_subject(), None);
    assert_eq!(
        WebhookEndpointError::NotFound.refusal(),
        Refusal::NotFound {
            resource: "webhook endpoint"
        }
    );
}
