//! A reader's rating of a knowledge base article: one aggregate per reader and article (its id is
//! derived from both), so rating again revises the one rating rather than adding another. The
//! comment is the reader's own words: personal data, sealed, and filed under the reader's
//! customer account when the reader is a customer.

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ticket::values::bounded_text_type;
use crate::ticket::ErasureReason;
use crate::{ActorRole, Caller, DomainError, PersonalData, Refusal};

/// The namespace of rating ids: a reader's rating of an article is the UUID v5 of the article's
/// id and the reader's `sub` in it, so that every process finds the one rating without a lookup.
pub const RATING_NAMESPACE: Uuid = Uuid::from_u128(0x7b2e_4c19_a3d5_4f60_8e1b_5a9c_0d3f_62e8);

/// The id of `reader`'s rating of `article_id`.
pub fn rating_id(article_id: Uuid, reader: &str) -> Uuid {
    Uuid::new_v5(
        &RATING_NAMESPACE,
        format!("{article_id}\n{reader}").as_bytes(),
    )
}

/// One to five stars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Stars(u8);

impl Stars {
    pub const MIN: u8 = 1;
    pub const MAX: u8 = 5;

    /// A whole number from 1 to 5 (JSON numbers arrive as `f64`: `3.0` is 3, `2.5` is refused).
    pub fn parse(value: f64) -> Result<Self, String> {
        if value.fract() == 0.0 && (f64::from(Self::MIN)..=f64::from(Self::MAX)).contains(&value) {
            Ok(Self(value as u8))
        } else {
            Err(format!(
                "must be a whole number from {} to {}",
                Self::MIN,
                Self::MAX
            ))
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

bounded_text_type!(
    /// What a reader wrote with their rating.
    RatingComment,
    2_000
);

/// What a reader says of an article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub rating: Stars,
    pub helpful: bool,
    pub comment: Option<RatingComment>,
}

/// An article's ratings as a sum: enough to tell the mean, the helpful share and whether readers
/// rate it low, and to take one rating out when its reader revises it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RatingSummary {
    pub count: u32,
    pub sum: u32,
    pub helpful: u32,
}

impl RatingSummary {
    /// An article is rated low with at least this many ratings ...
    pub const LOW_AFTER: u32 = 5;
    /// ... whose mean is below this.
    pub const LOW_MEAN: f64 = 2.5;

    pub fn add(&mut self, rating: Stars, helpful: bool) {
        self.count += 1;
        self.sum += u32::from(rating.get());
        self.helpful += u32::from(helpful);
    }

    /// One reader's rating replaced by their revision: the count stays.
    pub fn replace(&mut self, before: (Stars, bool), after: (Stars, bool)) {
        self.sum = self.sum - u32::from(before.0.get()) + u32::from(after.0.get());
        self.helpful = self.helpful - u32::from(before.1) + u32::from(after.1);
    }

    /// The mean rating; 0 when unrated.
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            f64::from(self.sum) / f64::from(self.count)
        }
    }

    pub fn is_low(&self) -> bool {
        self.count >= Self::LOW_AFTER && self.mean() < Self::LOW_MEAN
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum KbRatingCommand {
    /// Rates the article, or revises the reader's earlier rating of it.
    Rate {
        caller: Caller,
        article_id: Uuid,
        verdict: Verdict,
    },
    /// Destroys the rating's data key: its comment can no longer be read anywhere.
    Erase {
        caller: Caller,
        reason: ErasureReason,
        /// The erasure receipt that covers the rating.
        receipt_id: Uuid,
    },
}

/// Everything that can happen to a rating. The catalogue is docs/events.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all_fields = "camelCase")]
pub enum KbRatingEvent {
    /// A reader's first rating of an article.
    KbArticleRated {
        article_id: Uuid,
        /// The reader's `sub`.
        reader: String,
        /// The customer account a customer reader acts for; their data key is filed under it.
        customer_id: Option<String>,
        #[serde(flatten)]
        verdict: Verdict,
    },
    /// The reader rated again: their rating is now this one.
    KbArticleRatingRevised {
        #[serde(flatten)]
        verdict: Verdict,
    },
    /// The data key was destroyed: the comment of every earlier event reads as erased.
    KbRatingErased {
        reason: ErasureReason,
        receipt_id: Uuid,
    },
}

impl KbRatingEvent {
    pub const VERSION: &'static str = "1";

    pub fn name(&self) -> &'static str {
        match self {
            Self::KbArticleRated { .. } => "KbArticleRated",
            Self::KbArticleRatingRevised { .. } => "KbArticleRatingRevised",
            Self::KbRatingErased { .. } => "KbRatingErased",
        }
    }

    /// Reads an event back from its type and payload as the store and the bus hold them.
    pub fn from_parts(event_type: &str, payload: &serde_json::Value) -> serde_json::Result<Self> {
        crate::recorded::decode_event(event_type, payload)
    }
}

/// The comment is the reader's own words; the stars and the helpful vote are not personal data.
impl PersonalData for KbRatingEvent {
    fn personal_fields(&self) -> &'static [&'static str] {
        match self {
            Self::KbArticleRated { .. } | Self::KbArticleRatingRevised { .. } => &["/comment"],
            Self::KbRatingErased { .. } => &[],
        }
    }

    fn data_subject(&self) -> Option<&str> {
        match self {
            Self::KbArticleRated { customer_id, .. } => customer_id.as_deref(),
            _ => None,
        }
    }

    fn erases_personal_data(&self) -> bool {
        matches!(self, Self::KbRatingErased { .. })
    }
}

crate::recorded::domain_event!(KbRatingEvent);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KbRatingError {
    #[error("customers, agents and admins rate articles")]
    Forbidden,
    #[error("this rating is another reader's")]
    NotOwner,
    #[error("only admins and the retention worker erase personal data")]
    ErasureForbidden,
    #[error("the rating's personal data was erased; it accepts no further changes")]
    Erased,
}

impl DomainError for KbRatingError {
    fn refusal(&self) -> Refusal {
        match self {
            Self::Forbidden | Self::NotOwner | Self::ErasureForbidden => Refusal::Forbidden,
            Self::Erased => Refusal::Conflict {
                allowed_statuses: None,
            },
        }
    }
}

/// A rating as its events leave it.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct KbRating {
    /// The reader and what they say; `None` until they rate.
    rated: Option<(String, Verdict)>,
    erased: bool,
}

impl Aggregate for KbRating {
    const TYPE: &'static str = "kb_rating";
    type Command = KbRatingCommand;
    type Event = KbRatingEvent;
    type Error = KbRatingError;
    type Services = ();

    async fn handle(
        &mut self,
        command: KbRatingCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), KbRatingError> {
        let events = match command {
            KbRatingCommand::Rate {
                caller,
                article_id,
                verdict,
            } => self.rate(caller, article_id, verdict)?,
            KbRatingCommand::Erase {
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

    fn apply(&mut self, event: KbRatingEvent) {
        match event {
            KbRatingEvent::KbArticleRated {
                reader, verdict, ..
            } => self.rated = Some((reader, verdict)),
            KbRatingEvent::KbArticleRatingRevised { verdict } => {
                if let Some((_, current)) = self.rated.as_mut() {
                    *current = verdict;
                }
            }
            KbRatingEvent::KbRatingErased { .. } => self.erased = true,
        }
    }
}

impl KbRating {
    /// The first rating, or a revision when it differs from the current one (the same rating sent
    /// again records nothing).
    fn rate(
        &self,
        caller: Caller,
        article_id: Uuid,
        verdict: Verdict,
    ) -> Result<Vec<KbRatingEvent>, KbRatingError> {
        let role = caller.actor.role;
        if !matches!(
            role,
            ActorRole::Customer | ActorRole::Agent | ActorRole::Admin
        ) {
            return Err(KbRatingError::Forbidden);
        }
        let Some((reader, current)) = &self.rated else {
            return Ok(vec![KbRatingEvent::KbArticleRated {
                article_id,
                reader: caller.actor.sub,
                customer_id: (role == ActorRole::Customer)
                    .then_some(caller.customer_id)
                    .flatten(),
                verdict,
            }]);
        };
        if *reader != caller.actor.sub {
            return Err(KbRatingError::NotOwner);
        }
        if self.erased {
            return Err(KbRatingError::Erased);
        }
        if *current == verdict {
            return Ok(Vec::new());
        }
        Ok(vec![KbRatingEvent::KbArticleRatingRevised { verdict }])
    }

    /// A rating never made, or erased already, has nothing to erase.
    fn erase(
        &self,
        caller: &Caller,
        reason: ErasureReason,
        receipt_id: Uuid,
    ) -> Result<Vec<KbRatingEvent>, KbRatingError> {
        if !matches!(caller.actor.role, ActorRole::Admin | ActorRole::Service) {
            return Err(KbRatingError::ErasureForbidden);
        }
        if self.rated.is_none() || self.erased {
            return Ok(Vec::new());
        }
        Ok(vec![KbRatingEvent::KbRatingErased { reason, receipt_id }])
    }
}
