//! The knowledge base article aggregate: every change of its text is a numbered revision, and its
//! status moves only as `KbStatus::allowed_next` says.

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::values::{ArticleNumber, ArticleTitle, KbArticleChanges, KbArticleFields, KbStatus};
use crate::ticket::AgentId;
use crate::{ActorRole, Caller, DomainError, Refusal};

#[derive(Debug, Clone, PartialEq)]
pub enum KbArticleCommand {
    Create(CreateKbArticle),
    Update(UpdateKbArticle),
    /// Readers' ratings fell low: at least 5 of them with a mean under 2.5. Sent by the service.
    RaiseLowRatingAlert {
        caller: Caller,
        rating: f64,
        rating_count: u32,
    },
    /// The ratings recovered, so that a later fall raises the alert again. Sent by the service.
    ClearLowRatingAlert {
        caller: Caller,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreateKbArticle {
    pub caller: Caller,
    pub article_id: Uuid,
    pub number: ArticleNumber,
    pub fields: KbArticleFields,
}

/// A partial update: the fields to change (a new revision if any differs) and the status to move
/// to, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateKbArticle {
    pub caller: Caller,
    pub changes: KbArticleChanges,
    pub status: Option<KbStatus>,
}

/// Everything that can happen to an article. The catalogue with payloads is docs/events.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all_fields = "camelCase")]
pub enum KbArticleEvent {
    /// A new article, a draft, at revision 1.
    KbArticleCreated {
        article_id: Uuid,
        article_number: ArticleNumber,
        #[serde(flatten)]
        fields: KbArticleFields,
    },
    /// Revision `revision`: the fields it changed, with their new values.
    KbArticleRevised {
        revision: u32,
        changes: KbArticleChanges,
    },
    KbArticleStatusChanged {
        from: KbStatus,
        to: KbStatus,
    },
    /// The spec's low KB rating alert, for the notifier: the article's author and title say whom
    /// to tell and of what.
    KbArticleRatedLow {
        rating: f64,
        rating_count: u32,
        author: AgentId,
        title: ArticleTitle,
    },
    KbArticleRatingRecovered {},
}

impl KbArticleEvent {
    pub const VERSION: &'static str = "1";

    pub fn name(&self) -> &'static str {
        match self {
            Self::KbArticleCreated { .. } => "KbArticleCreated",
            Self::KbArticleRevised { .. } => "KbArticleRevised",
            Self::KbArticleStatusChanged { .. } => "KbArticleStatusChanged",
            Self::KbArticleRatedLow { .. } => "KbArticleRatedLow",
            Self::KbArticleRatingRecovered {} => "KbArticleRatingRecovered",
        }
    }

    /// Reads an event back from its type and payload as the store and the bus hold them.
    pub fn from_parts(event_type: &str, payload: &serde_json::Value) -> serde_json::Result<Self> {
        crate::recorded::decode_event(event_type, payload)
    }
}

// Articles are the desk's own writing, published to everyone; they hold no customer's data.
crate::recorded::without_personal_data!(KbArticleEvent);

crate::recorded::domain_event!(KbArticleEvent);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KbArticleError {
    #[error("the article does not exist")]
    NotFound,
    #[error("the article exists already")]
    AlreadyExists,
    #[error("only agents and admins write articles")]
    Forbidden,
    #[error("an article in {from} cannot become {to}")]
    IllegalTransition {
        from: KbStatus,
        to: KbStatus,
        allowed: &'static [KbStatus],
    },
}

impl DomainError for KbArticleError {
    fn refusal(&self) -> Refusal {
        match self {
            Self::NotFound => Refusal::NotFound {
                resource: "knowledge base article",
            },
            Self::AlreadyExists => Refusal::Conflict {
                allowed_statuses: None,
            },
            Self::Forbidden => Refusal::Forbidden,
            Self::IllegalTransition { allowed, .. } => Refusal::Conflict {
                allowed_statuses: Some(allowed.iter().map(|s| s.as_str()).collect()),
            },
        }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct KbArticle {
    fields: Option<KbArticleFields>,
    status: Option<KbStatus>,
    revision: u32,
    low_rating_alerted: bool,
}

impl Aggregate for KbArticle {
    const TYPE: &'static str = "kb_article";
    type Command = KbArticleCommand;
    type Event = KbArticleEvent;
    type Error = KbArticleError;
    type Services = ();

    async fn handle(
        &mut self,
        command: KbArticleCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), KbArticleError> {
        let events = match command {
            KbArticleCommand::Create(create) => self.create(create)?,
            KbArticleCommand::Update(update) => self.update(update)?,
            KbArticleCommand::RaiseLowRatingAlert {
                caller,
                rating,
                rating_count,
            } => {
                let fields = self.check_service(&caller)?;
                if self.low_rating_alerted {
                    Vec::new()
                } else {
                    vec![KbArticleEvent::KbArticleRatedLow {
                        rating,
                        rating_count,
                        author: fields.author.clone(),
                        title: fields.title.clone(),
                    }]
                }
            }
            KbArticleCommand::ClearLowRatingAlert { caller } => {
                self.check_service(&caller)?;
                if self.low_rating_alerted {
                    vec![KbArticleEvent::KbArticleRatingRecovered {}]
                } else {
                    Vec::new()
                }
            }
        };
        for event in events {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: KbArticleEvent) {
        match event {
            KbArticleEvent::KbArticleCreated { fields, .. } => {
                self.fields = Some(fields);
                self.status = Some(KbStatus::Draft);
                self.revision = 1;
            }
            KbArticleEvent::KbArticleRevised { revision, changes } => {
                if let Some(fields) = self.fields.as_mut() {
                    changes.apply_to(fields);
                }
                self.revision = revision;
            }
            KbArticleEvent::KbArticleStatusChanged { to, .. } => self.status = Some(to),
            KbArticleEvent::KbArticleRatedLow { .. } => self.low_rating_alerted = true,
            KbArticleEvent::KbArticleRatingRecovered {} => self.low_rating_alerted = false,
        }
    }
}

/// Agents and admins write the knowledge base.
fn check_writer(caller: &Caller) -> Result<(), KbArticleError> {
    if caller.actor.role.is_staff() {
        Ok(())
    } else {
        Err(KbArticleError::Forbidden)
    }
}

impl KbArticle {
    fn create(&self, create: CreateKbArticle) -> Result<Vec<KbArticleEvent>, KbArticleError> {
        check_writer(&create.caller)?;
        if self.fields.is_some() {
            return Err(KbArticleError::AlreadyExists);
        }
        Ok(vec![KbArticleEvent::KbArticleCreated {
            article_id: create.article_id,
            article_number: create.number,
            fields: create.fields,
        }])
    }

    /// The revision first, then the change of status; all or none.
    fn update(&self, update: UpdateKbArticle) -> Result<Vec<KbArticleEvent>, KbArticleError> {
        check_writer(&update.caller)?;
        let (fields, status) = self
            .fields
            .as_ref()
            .zip(self.status)
            .ok_or(KbArticleError::NotFound)?;
        let mut events = Vec::new();
        let changes = update.changes.against(fields);
        if !changes.is_empty() {
            events.push(KbArticleEvent::KbArticleRevised {
                revision: self.revision + 1,
                changes,
            });
        }
        match update.status {
            Some(to) if to != status => {
                if !status.can_become(to) {
                    return Err(KbArticleError::IllegalTransition {
                        from: status,
                        to,
                        allowed: status.allowed_next(),
                    });
                }
                events.push(KbArticleEvent::KbArticleStatusChanged { from: status, to });
            }
            _ => {}
        }
        Ok(events)
    }

    /// The rating alerts are the service's to raise, on an article that exists: its fields.
    fn check_service(&self, caller: &Caller) -> Result<&KbArticleFields, KbArticleError> {
        if caller.actor.role != ActorRole::Service {
            return Err(KbArticleError::Forbidden);
        }
        self.fields.as_ref().ok_or(KbArticleError::NotFound)
    }
}
