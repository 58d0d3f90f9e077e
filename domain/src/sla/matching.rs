//! Which policy a ticket runs under. Matching is decided on the ticket's own state, inside the
//! command, so a concurrent change of priority or tier can never pair a ticket with the wrong
//! policy.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{CustomerTier, SlaTerms};
use crate::ticket::TicketPriority;

/// An active policy, as matching sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplicablePolicy {
    pub priority: TicketPriority,
    pub customer_tier: Option<CustomerTier>,
    pub created_at: DateTime<Utc>,
    pub terms: SlaTerms,
}

/// The active policies when a command runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlaPolicyBook(Vec<ApplicablePolicy>);

/// Why a policy applies to a ticket: the ticket's priority and tier, and the tier the policy
/// names (`None` for a policy of every tier).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlaMatch {
    pub priority: TicketPriority,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_tier: Option<CustomerTier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_tier: Option<CustomerTier>,
}

impl SlaPolicyBook {
    pub fn new(policies: Vec<ApplicablePolicy>) -> Self {
        Self(policies)
    }

    /// The active policy for `priority` and `tier`: one naming the tier beats one for every
    /// tier; among equals the earliest created wins, then the lowest id.
    pub fn matching(
        &self,
        priority: TicketPriority,
        tier: Option<CustomerTier>,
    ) -> Option<(&SlaTerms, SlaMatch)> {
        self.0
            .iter()
            .filter(|p| p.priority == priority)
            .filter(|p| p.customer_tier.is_none() || p.customer_tier == tier)
            .min_by_key(|p| {
                let policy_id: Uuid = p.terms.policy_id;
                (p.customer_tier.is_none(), p.created_at, policy_id)
            })
            .map(|p| {
                (
                    &p.terms,
                    SlaMatch {
                        priority,
                        customer_tier: tier,
                        policy_tier: p.customer_tier,
                    },
                )
            })
    }
}
