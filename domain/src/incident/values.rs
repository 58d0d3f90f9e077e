//! Incident values that can only exist valid, the severity targets and the lifecycle table.

use serde::{Deserialize, Serialize};

use crate::ticket::values::{bounded_text_type, day_number_type, screaming_enum};

screaming_enum!(
    /// How bad an incident is; it sets the targets and whether a post-mortem is required.
    IncidentSeverity {
        Critical => "CRITICAL",
        High => "HIGH",
        Medium => "MEDIUM",
        Low => "LOW",
    }
);

/// The minutes an incident of a severity has to be acknowledged and to be resolved, counted in
/// calendar time from its detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IncidentTargets {
    pub response_minutes: u32,
    pub resolution_minutes: u32,
}

impl IncidentSeverity {
    /// The spec's severity targets.
    pub fn targets(self) -> IncidentTargets {
        let (response_minutes, resolution_minutes) = match self {
            Self::Critical => (15, 4 * 60),
            Self::High => (60, 8 * 60),
            Self::Medium => (4 * 60, 24 * 60),
            Self::Low => (24 * 60, 72 * 60),
        };
        IncidentTargets {
            response_minutes,
            resolution_minutes,
        }
    }

    /// Critical and high incidents are not closed before their post-mortem is completed.
    pub fn requires_post_mortem(self) -> bool {
        matches!(self, Self::Critical | Self::High)
    }
}

screaming_enum!(
    /// Where an incident is in its response.
    IncidentStatus {
        Detected => "DETECTED",
        Investigating => "INVESTIGATING",
        Identified => "IDENTIFIED",
        Monitoring => "MONITORING",
        Resolved => "RESOLVED",
        Closed => "CLOSED",
    }
);

impl IncidentStatus {
    /// The statuses an incident in this status may move to next: forward steps may skip,
    /// monitoring may find the fix did not hold, a resolved incident may reopen, and a closed one
    /// is final.
    pub fn allowed_next(self) -> &'static [IncidentStatus] {
        use IncidentStatus::*;
        match self {
            Detected => &[Investigating, Identified, Monitoring, Resolved, Closed],
            Investigating => &[Identified, Monitoring, Resolved, Closed],
            Identified => &[Monitoring, Resolved, Closed],
            Monitoring => &[Investigating, Resolved, Closed],
            Resolved => &[Investigating, Closed],
            Closed => &[],
        }
    }

    pub fn can_become(self, next: IncidentStatus) -> bool {
        self.allowed_next().contains(&next)
    }

    /// Whether the incident is still going on: its clocks run, its components show it, and the
    /// tickets linked to it wait for it.
    pub fn is_active(self) -> bool {
        !matches!(self, Self::Resolved | Self::Closed)
    }
}

screaming_enum!(
    /// How much of the service an incident takes away; the status page's component states
    /// follow it.
    IncidentImpact {
        Widespread => "WIDESPREAD",
        Major => "MAJOR",
        Minor => "MINOR",
        Minimal => "MINIMAL",
    }
);

screaming_enum!(
    IncidentCategory {
        Outage => "OUTAGE",
        Degradation => "DEGRADATION",
        SecurityBreach => "SECURITY_BREACH",
        DataLoss => "DATA_LOSS",
        DataCorruption => "DATA_CORRUPTION",
        Infrastructure => "INFRASTRUCTURE",
        Application => "APPLICATION",
        Network => "NETWORK",
        Database => "DATABASE",
        ThirdParty => "THIRD_PARTY",
    }
);

screaming_enum!(
    /// Who reads a status update: customers and the status page, or the responders only.
    UpdateVisibility {
        Public => "PUBLIC",
        Internal => "INTERNAL",
    }
);

screaming_enum!(
    /// The two clocks an incident runs against its targets.
    IncidentTarget {
        Response => "RESPONSE",
        Resolution => "RESOLUTION",
    }
);

day_number_type!(
    /// `INC-YYYYMMDD-XXXX`: the UTC day the incident was detected and that day's counter, four
    /// digits at least and wider past 9999.
    IncidentNumber,
    "INC"
);

bounded_text_type!(IncidentTitle, 200);
bounded_text_type!(
    /// What is happening, what the root cause is, what was done: the incident's longer texts.
    IncidentText,
    20_000
);
bounded_text_type!(
    /// A status update as the responders or the customers read it.
    UpdateMessage,
    5_000
);

/// How many customers an incident affects, as reported: 0 to a billion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AffectedCustomers(u32);

impl AffectedCustomers {
    pub const MAX: i64 = 1_000_000_000;

    /// JSON numbers arrive as `f64`: `150` and `150.0` are the same whole number.
    pub fn parse(value: f64) -> Result<Self, String> {
        if value.fract() == 0.0 && (0.0..=Self::MAX as f64).contains(&value) {
            Ok(Self(value as u32))
        } else {
            Err(format!("must be a whole number from 0 to {}", Self::MAX))
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    #[test]
    fn incident_numbers_are_day_numbers_of_their_own_prefix() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
        assert_eq!(IncidentNumber::new(day, 3).as_str(), "INC-20261129-0003");
        assert_eq!(
            IncidentNumber::new(day, 10000).as_str(),
            "INC-20261129-10000"
        );
        assert_eq!(
            IncidentNumber::parse("INC-20261129-10000")
                .unwrap()
                .day_and_counter(),
            (day, 10000)
        );
        assert!(IncidentNumber::parse("TKT-20261129-0001").is_err());
        assert!(IncidentNumber::parse("INC-20261329-0001").is_err());
        assert!(IncidentNumber::parse("INC20261129-0001").is_err());
    }

    #[test]
    fn severity_sets_the_spec_targets_and_the_post_mortem_rule() {
        let minutes = |s: IncidentSeverity| {
            let t = s.targets();
            (
                t.response_minutes,
                t.resolution_minutes,
                s.requires_post_mortem(),
            )
        };
        assert_eq!(minutes(IncidentSeverity::Critical), (15, 240, true));
        assert_eq!(minutes(IncidentSeverity::High), (60, 480, true));
        assert_eq!(minutes(IncidentSeverity::Medium), (240, 1440, false));
        assert_eq!(minutes(IncidentSeverity::Low), (1440, 4320, false));
    }

    #[test]
    fn affected_customers_are_a_bounded_count() {
        assert_eq!(AffectedCustomers::parse(150.0).unwrap().get(), 150);
        assert!(AffectedCustomers::parse(-1.0).is_err());
        assert!(AffectedCustomers::parse(1.5).is_err());
        assert!(AffectedCustomers::parse(f64::NAN).is_err());
        assert!(AffectedCustomers::parse((AffectedCustomers::MAX + 1) as f64).is_err());
    }
}
