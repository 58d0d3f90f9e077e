//! Net Promoter Score: how likely a customer account is to recommend the product, 0 to 10, with a
//! comment. One `NpsSurvey` per customer account (its id derived from the account's), which
//! counts at most one response per `COUNTED_EVERY`: a response sooner is refused, saying when
//! the next one counts. The comment is the respondent's own words: personal data, sealed, filed
//! under the account.

use chrono::{DateTime, TimeDelta, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ticket::values::bounded_text_type;
use crate::ticket::ErasureReason;
use crate::{ActorRole, Caller, DomainError, PersonalData, Refusal};

/// The namespace of survey ids: an account's survey is the UUID v5 of its customer id in it.
pub const SURVEY_NAMESPACE: Uuid = Uuid::from_u128(0x3f6a_91c2_5d7e_4b08_a1c4_6e2f_8b90_d417);

/// How often an account's response counts: once in this long.
pub const COUNTED_EVERY: TimeDelta = TimeDelta::days(90);

/// The survey of `customer_id`'s account.
pub fn survey_id(customer_id: &str) -> Uuid {
    Uuid::new_v5(&SURVEY_NAMESPACE, customer_id.as_bytes())
}

/// How likely the customer is to recommend the product: 0 (not at all) to 10 (extremely).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NpsScore(u8);

impl NpsScore {
    pub const MAX: u8 = 10;

    /// A whole number from 0 to 10 (JSON numbers arrive as `f64`: `9.0` is 9, `8.5` is refused).
    pub fn parse(value: f64) -> Result<Self, String> {
        if value.fract() == 0.0 && (0.0..=f64::from(Self::MAX)).contains(&value) {
            Ok(Self(value as u8))
        } else {
            Err(format!("must be a whole number from 0 to {}", Self::MAX))
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

bounded_text_type!(
    /// What a respondent wrote with their score.
    NpsComment,
    2_000
);

#[derive(Debug, Clone, PartialEq)]
pub enum NpsSurveyCommand {
    Respond {
        caller: Caller,
        at: DateTime<Utc>,
        score: NpsScore,
        comment: Option<NpsComment>,
    },
    /// Destroys the survey's data key: its comments can no longer be read anywhere.
    Erase {
        caller: Caller,
        reason: ErasureReason,
        receipt_id: Uuid,
    },
}

/// Everything that can happen to an account's survey. The catalogue is docs/events.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all_fields = "camelCase")]
pub enum NpsSurveyEvent {
    NpsResponded {
        customer_id: String,
        /// The respondent's `sub`.
        respondent: String,
        score: NpsScore,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<NpsComment>,
        responded_at: DateTime<Utc>,
    },
    /// The data key was destroyed: the comment of every earlier event reads as erased.
    NpsResponsesErased {
        reason: ErasureReason,
        receipt_id: Uuid,
    },
}

impl NpsSurveyEvent {
    pub const VERSION: &'static str = "1";

    pub fn name(&self) -> &'static str {
        match self {
            Self::NpsResponded { .. } => "NpsResponded",
            Self::NpsResponsesErased { .. } => "NpsResponsesErased",
        }
    }

    pub fn from_parts(event_type: &str, payload: &serde_json::Value) -> serde_json::Result<Self> {
        crate::recorded::decode_event(event_type, payload)
    }
}

/// The comment is the respondent's own words; the score is not personal data.
impl PersonalData for NpsSurveyEvent {
    fn personal_fields(&self) -> &'static [&'static str] {
        match self {
            Self::NpsResponded { .. } => &["/comment"],
            Self::NpsResponsesErased { .. } => &[],
        }
    }

    fn data_subject(&self) -> Option<&str> {
        match self {
            Self::NpsResponded { customer_id, .. } => Some(customer_id),
            Self::NpsResponsesErased { .. } => None,
        }
    }

    fn erases_personal_data(&self) -> bool {
        matches!(self, Self::NpsResponsesErased { .. })
    }
}

crate::recorded::domain_event!(NpsSurveyEvent);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NpsSurveyError {
    #[error("customers answer the NPS survey, for their own account")]
    Forbidden,
    #[error(
        "the account's last response counts until {next_at}: one response counts every 90 days"
    )]
    TooSoon { next_at: DateTime<Utc> },
    #[error("only admins and the retention worker erase personal data")]
    ErasureForbidden,
    #[error("the survey's personal data was erased; it accepts no further responses")]
    Erased,
}

impl DomainError for NpsSurveyError {
    fn refusal(&self) -> Refusal {
        match self {
            Self::Forbidden | Self::ErasureForbidden => Refusal::Forbidden,
            Self::TooSoon { .. } | Self::Erased => Refusal::Conflict {
                allowed_statuses: None,
            },
        }
    }
}

/// An account's survey as its events leave it.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct NpsSurvey {
    last_response_at: Option<DateTime<Utc>>,
    erased: bool,
}

impl Aggregate for NpsSurvey {
    const TYPE: &'static str = "nps_survey";
    type Command = NpsSurveyCommand;
    type Event = NpsSurveyEvent;
    type Error = NpsSurveyError;
    type Services = ();

    async fn handle(
        &mut self,
        command: NpsSurveyCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), NpsSurveyError> {
        let events = match command {
            NpsSurveyCommand::Respond {
                caller,
                at,
                score,
                comment,
            } => self.respond(caller, at, score, comment)?,
            NpsSurveyCommand::Erase {
                caller,
                reason,
                receipt_id,
            } => self.erase(&caller, reason, receipt_id)?,
        };
        for event in events {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: NpsSurveyEvent) {
        match event {
            NpsSurveyEvent::NpsResponded { responded_at, .. } => {
                self.last_response_at = Some(responded_at)
            }
            NpsSurveyEvent::NpsResponsesErased { .. } => self.erased = true,
        }
    }
}

impl NpsSurvey {
    fn respond(
        &self,
        caller: Caller,
        at: DateTime<Utc>,
        score: NpsScore,
        comment: Option<NpsComment>,
    ) -> Result<Vec<NpsSurveyEvent>, NpsSurveyError> {
        let customer_id = match (caller.actor.role, caller.customer_id) {
            (ActorRole::Customer, Some(customer_id)) => customer_id,
            _ => return Err(NpsSurveyError::Forbidden),
        };
        if self.erased {
            return Err(NpsSurveyError::Erased);
        }
        if let Some(last) = self.last_response_at {
            let next_at = last + COUNTED_EVERY;
            if at < next_at {
                return Err(NpsSurveyError::TooSoon { next_at });
            }
        }
        Ok(vec![NpsSurveyEvent::NpsResponded {
            customer_id,
            respondent: caller.actor.sub,
            score,
            comment,
            responded_at: at,
        }])
    }

    /// A survey never answered, or erased already, has nothing to erase.
    fn erase(
        &self,
        caller: &Caller,
        reason: ErasureReason,
        receipt_id: Uuid,
    ) -> Result<Vec<NpsSurveyEvent>, NpsSurveyError> {
        if !matches!(caller.actor.role, ActorRole::Admin | ActorRole::Service) {
            return Err(NpsSurveyError::ErasureForbidden);
        }
        if self.last_response_at.is_none() || self.erased {
            return Ok(Vec::new());
        }
        Ok(vec![NpsSurveyEvent::NpsResponsesErased {
            reason,
            receipt_id,
        }])
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::actor::test_caller_as as caller;

    type SurveyTest = TestFramework<NpsSurvey>;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn customer() -> Caller {
        let mut caller = caller(ActorRole::Customer, "user-1");
        caller.customer_id = Some("customer-1".to_owned());
        caller
    }

    fn respond(when: &str, score: u8) -> NpsSurveyCommand {
        NpsSurveyCommand::Respond {
            caller: customer(),
            at: at(when),
            score: NpsScore::parse(f64::from(score)).unwrap(),
            comment: None,
        }
    }

    fn responded(when: &str, score: u8) -> NpsSurveyEvent {
        NpsSurveyEvent::NpsResponded {
            customer_id: "customer-1".to_owned(),
            respondent: "user-1".to_owned(),
            score: NpsScore::parse(f64::from(score)).unwrap(),
            comment: None,
            responded_at: at(when),
        }
    }

    #[test]
    fn scores_are_whole_numbers_from_zero_to_ten() {
        assert_eq!(NpsScore::parse(0.0).unwrap().get(), 0);
        assert_eq!(NpsScore::parse(10.0).unwrap().get(), 10);
        for bad in [-1.0, 11.0, 8.5, f64::NAN] {
            assert!(NpsScore::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn one_response_counts_every_90_days() {
        SurveyTest::with(())
            .given_no_previous_events()
            .when(respond("2026-01-01T10:00:00Z", 9))
            .then_expect_events(vec![responded("2026-01-01T10:00:00Z", 9)]);
        SurveyTest::with(())
            .given(vec![responded("2026-01-01T10:00:00Z", 9)])
            .when(respond("2026-04-01T09:59:59Z", 3))
            .then_expect_error(NpsSurveyError::TooSoon {
                next_at: at("2026-04-01T10:00:00Z"),
            });
        SurveyTest::with(())
            .given(vec![responded("2026-01-01T10:00:00Z", 9)])
            .when(respond("2026-04-01T10:00:00Z", 3))
            .then_expect_events(vec![responded("2026-04-01T10:00:00Z", 3)]);
    }

    #[test]
    fn only_customers_answer_for_their_account() {
        for role in [ActorRole::Agent, ActorRole::Admin, ActorRole::Service] {
            SurveyTest::with(())
                .given_no_previous_events()
                .when(NpsSurveyCommand::Respond {
                    caller: caller(role, "someone"),
                    at: at("2026-01-01T10:00:00Z"),
                    score: NpsScore::parse(5.0).unwrap(),
                    comment: None,
                })
                .then_expect_error(NpsSurveyError::Forbidden);
        }
    }

    #[test]
    fn an_erased_survey_takes_no_response_and_is_erased_once() {
        let erase = NpsSurveyCommand::Erase {
            caller: caller(ActorRole::Admin, "admin-1"),
            reason: ErasureReason::CustomerRequest,
            receipt_id: Uuid::from_u128(7),
        };
        let erased = NpsSurveyEvent::NpsResponsesErased {
            reason: ErasureReason::CustomerRequest,
            receipt_id: Uuid::from_u128(7),
        };
        SurveyTest::with(())
            .given(vec![responded("2026-01-01T10:00:00Z", 9)])
            .when(erase.clone())
            .then_expect_events(vec![erased.clone()]);
        SurveyTest::with(())
            .given(vec![responded("2026-01-01T10:00:00Z", 9), erased.clone()])
            .when(erase)
            .then_expect_events(vec![]);
        SurveyTest::with(())
            .given(vec![responded("2026-01-01T10:00:00Z", 9), erased])
            .when(respond("2026-06-01T10:00:00Z", 9))
            .then_expect_error(NpsSurveyError::Erased);
        assert_eq!(
            responded("2026-01-01T10:00:00Z", 9).data_subject(),
            Some("customer-1")
        );
    }
}
