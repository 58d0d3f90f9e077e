//! The preferences' rules: who saves and erases them, the checks across fields, what a save
//! records of the saver, and their values.

use cqrs_es::test::TestFramework;

use super::*;
use crate::actor::test_caller_as as caller;

type PreferencesTest = TestFramework<NotificationPreferences>;

const RECEIPT: Uuid = Uuid::from_u128(11);

fn teams(names: &[&str]) -> Labels {
    Labels::parse(&names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap()
}

fn with_email() -> Preferences {
    Preferences {
        channels: ChannelChoices::defaults(true),
        email: Some(EmailAddress::parse("alice@desk.example").unwrap()),
        ..Preferences::defaults()
    }
}

fn set(role: ActorRole, sub: &str, preferences: Preferences) -> NotificationPreferencesCommand {
    NotificationPreferencesCommand::Set(Box::new(SetNotificationPreferences {
        caller: caller(role, sub),
        teams: teams(&["billing"]),
        preferences,
    }))
}

fn saved(role: ActorRole, sub: &str, preferences: Preferences) -> NotificationPreferencesEvent {
    NotificationPreferencesEvent::NotificationPreferencesSet {
        recipient: Recipient {
            sub: sub.to_owned(),
            role,
            teams: teams(&["billing"]),
            customer_id: (role == ActorRole::Customer).then(|| "customer-1".to_owned()),
        },
        preferences: Box::new(preferences),
    }
}

fn erase(role: ActorRole) -> NotificationPreferencesCommand {
    NotificationPreferencesCommand::Erase(EraseNotificationPreferences {
        caller: caller(role, "admin-1"),
        reason: ErasureReason::CustomerRequest,
        receipt_id: RECEIPT,
    })
}

fn erased() -> NotificationPreferencesEvent {
    NotificationPreferencesEvent::NotificationPreferencesErased {
        reason: ErasureReason::CustomerRequest,
        receipt_id: RECEIPT,
    }
}

fn invalid(errors: &[(&str, &str)]) -> NotificationPreferencesError {
    NotificationPreferencesError::Invalid(errors.iter().copied().collect())
}

#[tokio::test]
async fn a_first_save_records_the_preferences_with_the_savers_role_and_teams() {
    PreferencesTest::with(())
        .given_no_previous_events()
        .when_async(set(ActorRole::Agent, "alice", with_email()))
        .await
        .then_expect_events(vec![saved(ActorRole::Agent, "alice", with_email())]);
}

#[tokio::test]
async fn a_customer_s_preferences_are_filed_under_their_account() {
    let event = saved(ActorRole::Customer, "jo", Preferences::defaults());
    assert_eq!(event.data_subject(), Some("customer-1"));
    assert_eq!(event.personal_fields(), ["/email", "/phone"]);
    assert_eq!(
        saved(ActorRole::Agent, "alice", Preferences::defaults()).data_subject(),
        None
    );
    PreferencesTest::with(())
        .given_no_previous_events()
        .when_async(set(ActorRole::Customer, "jo", Preferences::defaults()))
        .await
        .then_expect_events(vec![event]);
}

#[tokio::test]
async fn saving_the_same_again_records_nothing_and_a_change_records_the_whole() {
    PreferencesTest::with(())
        .given(vec![saved(ActorRole::Agent, "alice", with_email())])
        .when_async(set(ActorRole::Agent, "alice", with_email()))
        .await
        .then_expect_events(vec![]);
    let mut changed = with_email();
    changed.channels.sla_warning = vec![NotificationChannel::Email];
    PreferencesTest::with(())
        .given(vec![saved(ActorRole::Agent, "alice", with_email())])
        .when_async(set(ActorRole::Agent, "alice", changed.clone()))
        .await
        .then_expect_events(vec![saved(ActorRole::Agent, "alice", changed)]);
}

#[tokio::test]
async fn a_new_role_or_team_in_the_token_is_recorded_on_the_next_save() {
    PreferencesTest::with(())
        .given(vec![saved(ActorRole::Agent, "alice", with_email())])
        .when_async(set(ActorRole::Admin, "alice", with_email()))
        .await
        .then_expect_events(vec![saved(ActorRole::Admin, "alice", with_email())]);
}

#[tokio::test]
async fn channels_without_an_address_are_refused_naming_the_kinds() {
    let mut preferences = Preferences::defaults();
    preferences.channels.sla_breach = vec![NotificationChannel::Sms, NotificationChannel::Email];
    preferences.channels.escalation = vec![NotificationChannel::Sms];
    PreferencesTest::with(())
        .given_no_previous_events()
        .when_async(set(ActorRole::Agent, "alice", preferences))
        .await
        .then_expect_error(invalid(&[
            (
                "email",
                "is required: EMAIL is chosen for SLA_BREACH and needs an email address",
            ),
            (
                "phone",
                "is required: SMS is chosen for SLA_BREACH, ESCALATION and needs a phone number",
            ),
        ]));
}

#[tokio::test]
async fn webhooks_and_repeated_channels_are_refused_by_item() {
    let mut preferences = with_email();
    preferences.channels.assignment = vec![
        NotificationChannel::InApp,
        NotificationChannel::Webhook,
        NotificationChannel::InApp,
    ];
    PreferencesTest::with(())
        .given_no_previous_events()
        .when_async(set(ActorRole::Agent, "alice", preferences))
        .await
        .then_expect_error(invalid(&[
            ("channels.ASSIGNMENT[1]", "must be EMAIL, SMS or IN_APP"),
            ("channels.ASSIGNMENT[2]", "repeats a channel named before"),
        ]));
}

#[tokio::test]
async fn knowledge_base_alerts_are_carried_in_app_only() {
    let mut preferences = with_email();
    preferences.channels.kb_low_rating =
        vec![NotificationChannel::Email, NotificationChannel::InApp];
    PreferencesTest::with(())
        .given_no_previous_events()
        .when_async(set(ActorRole::Agent, "alice", preferences))
        .await
        .then_expect_error(invalid(&[("channels.KB_LOW_RATING[0]", "must be IN_APP")]));
    let mut off = with_email();
    off.channels.kb_low_rating = vec![];
    off.check().unwrap();
}

#[test]
fn preferences_saved_before_a_kind_existed_read_it_as_in_app() {
    let mut saved = serde_json::to_value(ChannelChoices::defaults(true)).unwrap();
    saved.as_object_mut().unwrap().remove("KB_LOW_RATING");
    let read: ChannelChoices = serde_json::from_value(saved).unwrap();
    assert_eq!(read, ChannelChoices::defaults(true));
}

#[tokio::test]
async fn auditors_save_nothing_and_nobody_saves_anothers_preferences() {
    PreferencesTest::with(())
        .given_no_previous_events()
        .when_async(set(ActorRole::Auditor, "audra", Preferences::defaults()))
        .await
        .then_expect_error(NotificationPreferencesError::ReadOnlyCaller);
    PreferencesTest::with(())
        .given(vec![saved(ActorRole::Agent, "alice", with_email())])
        .when_async(set(ActorRole::Agent, "mallory", Preferences::defaults()))
        .await
        .then_expect_error(NotificationPreferencesError::NotOwner);
}

#[tokio::test]
async fn admins_erase_saved_preferences_once() {
    PreferencesTest::with(())
        .given(vec![saved(ActorRole::Customer, "jo", with_email())])
        .when_async(erase(ActorRole::Admin))
        .await
        .then_expect_events(vec![erased()]);
    PreferencesTest::with(())
        .given(vec![
            saved(ActorRole::Customer, "jo", with_email()),
            erased(),
        ])
        .when_async(erase(ActorRole::Service))
        .await
        .then_expect_events(vec![]);
    PreferencesTest::with(())
        .given_no_previous_events()
        .when_async(erase(ActorRole::Admin))
        .await
        .then_expect_events(vec![]);
    PreferencesTest::with(())
        .given(vec![saved(ActorRole::Customer, "jo", with_email())])
        .when_async(erase(ActorRole::Agent))
        .await
        .then_expect_error(NotificationPreferencesError::ErasureForbidden);
    assert!(erased().erases_personal_data());
}

#[tokio::test]
async fn erased_preferences_accept_no_further_changes() {
    PreferencesTest::with(())
        .given(vec![
            saved(ActorRole::Customer, "jo", with_email()),
            erased(),
        ])
        .when_async(set(ActorRole::Customer, "jo", Preferences::defaults()))
        .await
        .then_expect_error(NotificationPreferencesError::Erased);
}

#[test]
fn defaults_add_email_for_breaches_escalations_incidents_and_alerts_only_with_an_address() {
    let without = ChannelChoices::defaults(false);
    for &kind in ChannelChoices::KINDS {
        assert_eq!(without.for_kind(kind), [NotificationChannel::InApp]);
    }
    let with = ChannelChoices::defaults(true);
    assert_eq!(
        with.kinds_using(NotificationChannel::Email),
        [
            NotificationKind::SlaBreach,
            NotificationKind::Escalation,
            NotificationKind::IncidentAlert,
            NotificationKind::IncidentUpdate,
            NotificationKind::SupportAlert
        ]
    );
    assert!(with.for_kind(NotificationKind::Event).is_empty());
    Preferences::defaults().check().unwrap();
    with_email().check().unwrap();
}

#[test]
fn phone_numbers_are_e164() {
    for valid in ["+4930123456789", "+14155550123", "+12345678"] {
        assert_eq!(PhoneNumber::parse(valid).unwrap().as_str(), valid);
    }
    for invalid in [
        "4930123456789",
        "+0930123456789",
        "+49 30 1234567",
        "+1234567",
        "+1234567890123456",
        "+",
        "",
        "+49301234567８",
    ] {
        assert!(PhoneNumber::parse(invalid).is_err(), "{invalid:?}");
    }
}

#[test]
fn ids_are_the_same_for_the_same_sub_everywhere() {
    assert_eq!(preferences_id("alice"), preferences_id("alice"));
    assert_ne!(preferences_id("alice"), preferences_id("bob"));
    assert_eq!(preferences_id("alice").get_version_num(), 5);
}

#[test]
fn events_round_trip_through_their_stored_form() {
    let mut preferences = with_email();
    preferences.phone = Some(PhoneNumber::parse("+4930123456789").unwrap());
    for event in [saved(ActorRole::Agent, "alice", preferences), erased()] {
        let tagged = serde_json::to_value(&event).unwrap();
        let payload = &tagged[event.name()];
        assert_eq!(
            NotificationPreferencesEvent::from_parts(event.name(), payload).unwrap(),
            event
        );
    }
    let json = serde_json::to_value(saved(ActorRole::Agent, "alice", with_email())).unwrap();
    let payload = &json["NotificationPreferencesSet"];
    assert_eq!(payload["email"], "alice@desk.example");
    assert_eq!(payload["timeZone"], "UTC");
    assert_eq!(payload["channels"]["SLA_BREACH"][1], "EMAIL");
    assert_eq!(payload["teams"][0], "billing");
    assert_eq!(payload["role"], "agent");
}
