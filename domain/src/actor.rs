use serde::{Deserialize, Serialize};

/// Who is acting, as the API authenticated them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    pub sub: String,
    pub role: ActorRole,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActorRole {
    Customer,
    Agent,
    Admin,
    Service,
    /// Reads everything, the audit log included, and changes nothing.
    Auditor,
}

impl ActorRole {
    pub const ALL: &'static [ActorRole] = &[
        ActorRole::Customer,
        ActorRole::Agent,
        ActorRole::Admin,
        ActorRole::Service,
        ActorRole::Auditor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActorRole::Customer => "customer",
            ActorRole::Agent => "agent",
            ActorRole::Admin => "admin",
            ActorRole::Service => "service",
            ActorRole::Auditor => "auditor",
        }
    }

    /// Agents and admins work tickets; their public replies count as responses to the customer.
    pub fn is_staff(self) -> bool {
        matches!(self, ActorRole::Agent | ActorRole::Admin)
    }

    /// Whether the role may cause events at all: auditors only read.
    pub fn may_write(self) -> bool {
        self != ActorRole::Auditor
    }
}

impl std::str::FromStr for ActorRole {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "customer" => Ok(ActorRole::Customer),
            "agent" => Ok(ActorRole::Agent),
            "admin" => Ok(ActorRole::Admin),
            "service" => Ok(ActorRole::Service),
            "auditor" => Ok(ActorRole::Auditor),
            other => Err(format!(
                "unknown role {other:?}: expected customer, agent, admin, service or auditor"
            )),
        }
    }
}

/// Who asks for a command and which customer account they act for: the aggregate decides access
/// on its own state, never on a read model that may lag behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub actor: Actor,
    /// The customer account a customer acts for; `None` for staff and services.
    pub customer_id: Option<String>,
}

/// A caller in `role` for the aggregates' tests: `<role>-1`, acting for `customer-1` when a
/// customer.
#[cfg(test)]
pub(crate) fn test_caller(role: ActorRole) -> Caller {
    test_caller_as(role, &format!("{}-1", role.as_str()))
}

/// As `test_caller`, as the user `sub`.
#[cfg(test)]
pub(crate) fn test_caller_as(role: ActorRole, sub: &str) -> Caller {
    Caller {
        actor: Actor {
            sub: sub.to_owned(),
            role,
        },
        customer_id: (role == ActorRole::Customer).then(|| "customer-1".to_owned()),
    }
}
