//! The post-mortem of an incident: what happened and what was learnt, written after it, and the
//! action items that follow from it.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::values::IncidentText;
use crate::ticket::values::{bounded_text_type, screaming_enum};
use crate::ticket::AgentId;
use crate::FieldErrors;

/// The post-mortem's texts; each is empty until written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostMortemFields {
    pub summary: Option<IncidentText>,
    pub root_cause: Option<IncidentText>,
    pub impact: Option<IncidentText>,
    pub what_went_well: Option<IncidentText>,
    pub what_went_wrong: Option<IncidentText>,
    pub lessons_learned: Option<IncidentText>,
}

/// The texts a revision sets; those absent keep their value.
pub type PostMortemChanges = PostMortemFields;

impl PostMortemFields {
    /// The fields as requests name them, with their values.
    fn named(&self) -> [(&'static str, &Option<IncidentText>); 6] {
        [
            ("summary", &self.summary),
            ("rootCause", &self.root_cause),
            ("impact", &self.impact),
            ("whatWentWell", &self.what_went_well),
            ("whatWentWrong", &self.what_went_wrong),
            ("lessonsLearned", &self.lessons_learned),
        ]
    }

    /// Only the changes that differ from `current`.
    pub fn against(self, current: &PostMortemFields) -> PostMortemChanges {
        let keep = |new: Option<IncidentText>, old: &Option<IncidentText>| {
            new.filter(|n| old.as_ref() != Some(n))
        };
        PostMortemChanges {
            summary: keep(self.summary, &current.summary),
            root_cause: keep(self.root_cause, &current.root_cause),
            impact: keep(self.impact, &current.impact),
            what_went_well: keep(self.what_went_well, &current.what_went_well),
            what_went_wrong: keep(self.what_went_wrong, &current.what_went_wrong),
            lessons_learned: keep(self.lessons_learned, &current.lessons_learned),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.named().iter().all(|(_, value)| value.is_none())
    }

    pub fn apply_to(&self, fields: &mut PostMortemFields) {
        let set = |target: &mut Option<IncidentText>, value: &Option<IncidentText>| {
            if value.is_some() {
                target.clone_from(value);
            }
        };
        set(&mut fields.summary, &self.summary);
        set(&mut fields.root_cause, &self.root_cause);
        set(&mut fields.impact, &self.impact);
        set(&mut fields.what_went_well, &self.what_went_well);
        set(&mut fields.what_went_wrong, &self.what_went_wrong);
        set(&mut fields.lessons_learned, &self.lessons_learned);
    }

    /// A post-mortem is complete only with every text written: the fields still empty.
    pub fn missing(&self) -> FieldErrors {
        self.named()
            .iter()
            .filter(|(_, value)| value.is_none())
            .map(|(field, _)| {
                (
                    *field,
                    "must be written before the post-mortem is completed",
                )
            })
            .collect()
    }
}

screaming_enum!(
    ActionItemStatus {
        Open => "OPEN",
        Done => "DONE",
    }
);

bounded_text_type!(ActionItemTitle, 500);

/// Something to do so that the incident does not happen again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionItem {
    pub item_id: Uuid,
    pub title: ActionItemTitle,
    pub owner: Option<AgentId>,
    pub due_date: Option<NaiveDate>,
    pub status: ActionItemStatus,
}

/// What a change of an action item sets; absent fields keep their value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionItemChanges {
    pub title: Option<ActionItemTitle>,
    pub owner: Option<AgentId>,
    pub due_date: Option<NaiveDate>,
    pub status: Option<ActionItemStatus>,
}

impl ActionItemChanges {
    /// Only the changes that differ from `item`.
    pub fn against(self, item: &ActionItem) -> ActionItemChanges {
        ActionItemChanges {
            title: self.title.filter(|t| *t != item.title),
            owner: self.owner.filter(|o| item.owner.as_ref() != Some(o)),
            due_date: self.due_date.filter(|d| item.due_date != Some(*d)),
            status: self.status.filter(|s| *s != item.status),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == ActionItemChanges::default()
    }

    pub fn apply_to(&self, item: &mut ActionItem) {
        if let Some(title) = &self.title {
            item.title = title.clone();
        }
        if let Some(owner) = &self.owner {
            item.owner = Some(owner.clone());
        }
        if let Some(due_date) = self.due_date {
            item.due_date = Some(due_date);
        }
        if let Some(status) = self.status {
            item.status = status;
        }
    }
}
