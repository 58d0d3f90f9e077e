//! Request bodies and query strings of the SLA policy endpoints, and how each parses into a
//! command. Every field is read on its own first, so that every problem is reported by field
//! name at once; the calendar is then checked as a whole.

use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{json, Number};
use support_domain::sla::{
    check_target_order, BusinessCalendar, CalendarChanges, CalendarFields, CustomerTier,
    PolicyName, SlaPolicyDefinition, TargetMinutes, UpdateSlaPolicy, WarningPercent,
};
use support_domain::ticket::TicketPriority;
use support_domain::{Caller, FieldErrors};
use support_projections::page::PageRequest;
use support_projections::schema;
use support_projections::sla::policies::PolicyFilter;
use utoipa::openapi::schema::{Array, ArrayBuilder, Object, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::KnownFormat;
use utoipa::{IntoParams, ToSchema};

use crate::extract::{boolean, explicit_null, numbered_page, parsed, required, UnknownParameters};

/// What a new policy warns at unless told otherwise, as most desks do: 80% of a target.
const DEFAULT_WARNING_PERCENT: i64 = 80;
/// The time zone of a new policy unless told otherwise.
const DEFAULT_TIMEZONE: &str = "UTC";
/// Holidays a policy lists at most: decades of a country's public holidays.
pub const MAX_HOLIDAYS: usize = 1_000;
/// A week has seven days.
const MAX_BUSINESS_DAYS: usize = 7;

fn policy_name() -> Object {
    schema::text(PolicyName::MAX_CHARS)
        .examples([json!("Enterprise P1")])
        .build()
}

fn business_days() -> Array {
    schema::business_days().build()
}

/// Days as `YYYY-MM-DD`, which `holiday` reads.
fn holidays() -> Array {
    let day = ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)));
    ArrayBuilder::new()
        .items(day)
        .max_items(Some(MAX_HOLIDAYS))
        .build()
}

fn hours() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .examples([json!("09:00")])
        .build()
}

fn timezone() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .examples([json!("Europe/Berlin")])
        .build()
}

/// A whole number as JSON writes it (`60`, or `60.0`); anything else, a fraction or a number
/// beyond `i64`, is out of every range the domain's values take.
fn whole(number: &Number) -> i64 {
    number
        .as_i64()
        .or_else(|| {
            number
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                .map(|f| f as i64)
        })
        .unwrap_or(i64::MIN)
}

fn target(errors: &mut FieldErrors, field: &str, value: Option<&Number>) -> Option<TargetMinutes> {
    errors.take(field, TargetMinutes::parse(whole(value?)))
}

fn warning(
    errors: &mut FieldErrors,
    field: &str,
    value: Option<&Number>,
) -> Option<WarningPercent> {
    errors.take(field, WarningPercent::parse(whole(value?)))
}

/// `YYYY-MM-DD`, as JSON Schema's `date` format is: a real day, zero-padded.
fn holiday(value: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .filter(|_| value.len() == 10)
        .ok_or_else(|| "must be a date as YYYY-MM-DD".to_owned())
}

/// The holidays, each day read; `None` (after an error per bad item) if any is not a day.
fn parse_holidays(errors: &mut FieldErrors, values: &[String]) -> Option<Vec<NaiveDate>> {
    if values.len() > MAX_HOLIDAYS {
        errors.push(
            "holidays",
            format!("must have at most {MAX_HOLIDAYS} items"),
        );
        return None;
    }
    let mut days = Vec::with_capacity(values.len());
    let mut all_days = true;
    for (index, value) in values.iter().enumerate() {
        match holiday(value) {
            Ok(day) => days.push(day),
            Err(message) => {
                errors.push(format!("holidays[{index}]"), message);
                all_days = false;
            }
        }
    }
    all_days.then_some(days)
}

fn check_business_days(errors: &mut FieldErrors, days: &[u8]) -> bool {
    let fits = days.len() <= MAX_BUSINESS_DAYS;
    if !fits {
        errors.push(
            "businessDays",
            format!("must have at most {MAX_BUSINESS_DAYS} items"),
        );
    }
    fits
}

/// Whether `errors` names `field`, or an item of it (`holidays[2]`).
fn names(errors: &FieldErrors, field: &str) -> bool {
    errors.0.iter().any(|e| {
        e.field
            .strip_prefix(field)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('['))
    })
}

/// The body of `POST /sla-policies`. Fields left out take the defaults their descriptions name.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateSlaPolicyRequest {
    #[schema(required = true, schema_with = policy_name)]
    pub name: Option<String>,
    #[schema(required = true, schema_with = schema::ticket_priority)]
    pub priority: Option<String>,
    /// The tier of the customers the policy is for; every tier when not sent.
    #[schema(schema_with = schema::customer_tier)]
    pub customer_tier: Option<String>,
    /// Minutes until the first response is due.
    #[schema(required = true, schema_with = schema::target_minutes)]
    pub response_time_target: Option<Number>,
    /// Minutes until resolution is due; not below `responseTimeTarget`.
    #[schema(required = true, schema_with = schema::target_minutes)]
    pub resolution_time_target: Option<Number>,
    /// Percent of the response target at which a warning is due; 80 when not sent.
    #[schema(schema_with = schema::warning_percent)]
    pub response_time_warning_threshold: Option<Number>,
    /// Percent of the resolution target at which a warning is due; 80 when not sent.
    #[schema(schema_with = schema::warning_percent)]
    pub resolution_time_warning_threshold: Option<Number>,
    /// Whether targets count business hours only; `false` (every minute counts) when not sent.
    pub apply_business_hours_only: Option<bool>,
    /// Start of business hours, `HH:MM` in `timezone`.
    #[schema(schema_with = hours)]
    pub business_hours_start: Option<String>,
    /// End of business hours, `HH:MM` in `timezone`, after the start (`24:00`: midnight).
    #[schema(schema_with = hours)]
    pub business_hours_end: Option<String>,
    /// Business days, as ISO weekdays: 1 (Monday) to 7 (Sunday).
    #[schema(schema_with = business_days)]
    pub business_days: Option<Vec<u8>>,
    /// An IANA time zone (`Europe/Berlin`); `UTC` when not sent.
    #[schema(schema_with = timezone)]
    pub timezone: Option<String>,
    /// Days (`YYYY-MM-DD`, in `timezone`) that are no business days; none when not sent.
    #[schema(schema_with = holidays)]
    pub holidays: Option<Vec<String>>,
    /// `false` when not sent.
    pub auto_escalate_on_breach: Option<bool>,
    /// `true` when not sent.
    pub notify_on_warning: Option<bool>,
    /// `true` when not sent.
    pub notify_on_breach: Option<bool>,
}

impl CreateSlaPolicyRequest {
    pub fn parse(&self) -> Result<SlaPolicyDefinition, FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = required(&mut errors, "name", self.name.as_deref());
        let name = parsed(&mut errors, "name", name, PolicyName::parse);
        let priority = required(&mut errors, "priority", self.priority.as_deref());
        let priority = parsed(&mut errors, "priority", priority, TicketPriority::parse);
        let customer_tier = parsed(
            &mut errors,
            "customerTier",
            self.customer_tier.as_deref(),
            CustomerTier::parse,
        );
        let response = required(
            &mut errors,
            "responseTimeTarget",
            self.response_time_target.as_ref(),
        );
        let response = target(&mut errors, "responseTimeTarget", response);
        let resolution = required(
            &mut errors,
            "resolutionTimeTarget",
            self.resolution_time_target.as_ref(),
        );
        let resolution = target(&mut errors, "resolutionTimeTarget", resolution);
        if let (Some(response), Some(resolution)) = (response, resolution) {
            errors.take(
                "resolutionTimeTarget",
                check_target_order(response, resolution),
            );
        }
        let default_warning = Number::from(DEFAULT_WARNING_PERCENT);
        let response_warning = warning(
            &mut errors,
            "responseTimeWarningThreshold",
            (self.response_time_warning_threshold.as_ref()).or(Some(&default_warning)),
        );
        let resolution_warning = warning(
            &mut errors,
            "resolutionTimeWarningThreshold",
            (self.resolution_time_warning_threshold.as_ref()).or(Some(&default_warning)),
        );
        let holidays = self
            .holidays
            .as_deref()
            .map(|days| parse_holidays(&mut errors, days));
        let business_days = match &self.business_days {
            Some(days) if !check_business_days(&mut errors, days) => None,
            days => days.clone(),
        };
        let fields = CalendarFields {
            apply_business_hours_only: self.apply_business_hours_only.unwrap_or(false),
            business_hours_start: self.business_hours_start.clone(),
            business_hours_end: self.business_hours_end.clone(),
            business_days,
            timezone: self
                .timezone
                .clone()
                .unwrap_or_else(|| DEFAULT_TIMEZONE.to_owned()),
            holidays: holidays.flatten().unwrap_or_default(),
        };
        let calendar = calendar(&mut errors, &fields);
        errors.into_result()?;
        Ok(SlaPolicyDefinition {
            name: name.expect("checked"),
            priority: priority.expect("checked"),
            customer_tier,
            response_time_target: response.expect("checked"),
            resolution_time_target: resolution.expect("checked"),
            response_time_warning_threshold: response_warning.expect("checked"),
            resolution_time_warning_threshold: resolution_warning.expect("checked"),
            calendar: calendar.expect("checked"),
            auto_escalate_on_breach: self.auto_escalate_on_breach.unwrap_or(false),
            notify_on_warning: self.notify_on_warning.unwrap_or(true),
            notify_on_breach: self.notify_on_breach.unwrap_or(true),
        })
    }
}

/// The calendar the fields make, its errors added to those of the fields on their own; a field
/// refused already is not refused twice.
fn calendar(errors: &mut FieldErrors, fields: &CalendarFields) -> Option<BusinessCalendar> {
    match BusinessCalendar::parse(fields) {
        Ok(calendar) => Some(calendar),
        Err(calendar_errors) => {
            let fresh: Vec<_> = calendar_errors
                .0
                .into_iter()
                .filter(|e| !names(errors, e.field.split('[').next().unwrap_or_default()))
                .collect();
            errors.0.extend(fresh);
            None
        }
    }
}

/// The body of `PUT /sla-policies/{policyId}`: any subset of the policy's fields, and `active`.
/// Where `null` has a meaning of its own, it removes the value (`customerTier`: every tier).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateSlaPolicyRequest {
    #[schema(schema_with = policy_name)]
    pub name: Option<String>,
    #[schema(schema_with = schema::ticket_priority)]
    pub priority: Option<String>,
    /// `null` makes the policy one for every tier.
    #[serde(default, deserialize_with = "explicit_null")]
    #[schema(schema_with = schema::customer_tier)]
    pub customer_tier: Option<Option<String>>,
    #[schema(schema_with = schema::target_minutes)]
    pub response_time_target: Option<Number>,
    /// Not below `responseTimeTarget`, as sent or as the policy has it.
    #[schema(schema_with = schema::target_minutes)]
    pub resolution_time_target: Option<Number>,
    #[schema(schema_with = schema::warning_percent)]
    pub response_time_warning_threshold: Option<Number>,
    #[schema(schema_with = schema::warning_percent)]
    pub resolution_time_warning_threshold: Option<Number>,
    pub apply_business_hours_only: Option<bool>,
    /// `HH:MM` in `timezone`; `null` removes it.
    #[serde(default, deserialize_with = "explicit_null")]
    #[schema(schema_with = hours)]
    pub business_hours_start: Option<Option<String>>,
    /// `HH:MM` in `timezone`, after the start; `null` removes it.
    #[serde(default, deserialize_with = "explicit_null")]
    #[schema(schema_with = hours)]
    pub business_hours_end: Option<Option<String>>,
    /// ISO weekdays; `null` removes them.
    #[serde(default, deserialize_with = "explicit_null")]
    #[schema(schema_with = business_days)]
    pub business_days: Option<Option<Vec<u8>>>,
    #[schema(schema_with = timezone)]
    pub timezone: Option<String>,
    /// The complete list: it replaces the policy's (`[]` removes them all).
    #[schema(schema_with = holidays)]
    pub holidays: Option<Vec<String>>,
    pub auto_escalate_on_breach: Option<bool>,
    pub notify_on_warning: Option<bool>,
    pub notify_on_breach: Option<bool>,
    /// `false` deactivates the policy (new tickets no longer get it), `true` reactivates it.
    pub active: Option<bool>,
}

impl UpdateSlaPolicyRequest {
    /// The update, its fields each valid; the calendar and the targets are checked against the
    /// policy as it stands, by the aggregate.
    pub fn parse(&self, caller: Caller) -> Result<UpdateSlaPolicy, FieldErrors> {
        let mut errors = FieldErrors::default();
        let mut update = UpdateSlaPolicy::by(caller);
        update.name = parsed(&mut errors, "name", self.name.as_deref(), PolicyName::parse);
        update.priority = parsed(
            &mut errors,
            "priority",
            self.priority.as_deref(),
            TicketPriority::parse,
        );
        update.customer_tier = match &self.customer_tier {
            None => None,
            Some(None) => Some(None),
            Some(Some(tier)) => errors
                .take("customerTier", CustomerTier::parse(tier))
                .map(Some),
        };
        update.response_time_target = target(
            &mut errors,
            "responseTimeTarget",
            self.response_time_target.as_ref(),
        );
        update.resolution_time_target = target(
            &mut errors,
            "resolutionTimeTarget",
            self.resolution_time_target.as_ref(),
        );
        if let (Some(response), Some(resolution)) =
            (update.response_time_target, update.resolution_time_target)
        {
            errors.take(
                "resolutionTimeTarget",
                check_target_order(response, resolution),
            );
        }
        update.response_time_warning_threshold = warning(
            &mut errors,
            "responseTimeWarningThreshold",
            self.response_time_warning_threshold.as_ref(),
        );
        update.resolution_time_warning_threshold = warning(
            &mut errors,
            "resolutionTimeWarningThreshold",
            self.resolution_time_warning_threshold.as_ref(),
        );
        if let Some(Some(days)) = &self.business_days {
            check_business_days(&mut errors, days);
        }
        update.calendar = CalendarChanges {
            apply_business_hours_only: self.apply_business_hours_only,
            business_hours_start: self.business_hours_start.clone(),
            business_hours_end: self.business_hours_end.clone(),
            business_days: self.business_days.clone(),
            timezone: self.timezone.clone(),
            holidays: self
                .holidays
                .as_deref()
                .and_then(|days| parse_holidays(&mut errors, days)),
        };
        update.auto_escalate_on_breach = self.auto_escalate_on_breach;
        update.notify_on_warning = self.notify_on_warning;
        update.notify_on_breach = self.notify_on_breach;
        update.active = self.active;
        errors.into_result()?;
        Ok(update)
    }
}

/// The filters and page of `GET /sla-policies`. A parameter the list does not know is refused,
/// not ignored: a misspelt filter would answer with every policy.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct SlaPolicyListQuery {
    #[param(schema_with = schema::ticket_priority)]
    pub priority: Option<String>,
    /// Only the policies for this tier (not those for every tier).
    #[param(schema_with = schema::customer_tier)]
    pub customer_tier: Option<String>,
    /// `true` or `false`.
    #[param(value_type = Option<bool>)]
    pub active: Option<String>,
    /// 1-based page number (default 1).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 2147483647)]
    pub page: Option<String>,
    /// Policies per page (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub unknown: UnknownParameters,
}

impl SlaPolicyListQuery {
    pub fn parse(&self) -> Result<(PolicyFilter, PageRequest), FieldErrors> {
        let mut errors = FieldErrors::default();
        self.unknown.refuse(&mut errors);
        let filter = PolicyFilter {
            priority: parsed(
                &mut errors,
                "priority",
                self.priority.as_deref(),
                TicketPriority::parse,
            ),
            customer_tier: parsed(
                &mut errors,
                "customerTier",
                self.customer_tier.as_deref(),
                CustomerTier::parse,
            ),
            active: parsed(&mut errors, "active", self.active.as_deref(), boolean),
        };
        let page = numbered_page(&mut errors, self.page.as_deref(), self.limit.as_deref());
        errors.into_result()?;
        Ok((filter, page))
    }
}

#[cfg(test)]
mod tests {
    use support_domain::{Actor, ActorRole};

    use super::*;

    fn fields(errors: &FieldErrors) -> Vec<&str> {
        errors.0.iter().map(|e| e.field.as_str()).collect()
    }

    fn admin() -> Caller {
        Caller {
            actor: Actor {
                sub: "admin-1".into(),
                role: ActorRole::Admin,
            },
            customer_id: None,
        }
    }

    #[test]
    fn a_create_request_reports_every_bad_field_at_once() {
        let request: CreateSlaPolicyRequest = serde_json::from_value(json!({
            "name": " ",
            "priority": "URGENT",
            "customerTier": "GOLD",
            "responseTimeTarget": 0,
            "responseTimeWarningThreshold": 100,
            "resolutionTimeWarningThreshold": 50.5,
            "businessDays": [1, 2, 3, 4, 5, 6, 7, 1],
            "holidays": ["2026-12-25", "Christmas", "2026-2-3"],
        }))
        .unwrap();
        let errors = request.parse().unwrap_err();
        assert_eq!(
            fields(&errors)[..10],
            [
                "name",
                "priority",
                "customerTier",
                "responseTimeTarget",
                "resolutionTimeTarget",
                "responseTimeWarningThreshold",
                "resolutionTimeWarningThreshold",
                "holidays[1]",
                "holidays[2]",
                "businessDays",
            ]
        );
        assert_eq!(errors.0[4].message, "is required");
    }

    #[test]
    fn a_resolution_target_below_the_response_target_is_refused_on_create_and_update() {
        let request: CreateSlaPolicyRequest = serde_json::from_value(json!({
            "name": "Backwards", "priority": "P1_HIGH",
            "responseTimeTarget": 60, "resolutionTimeTarget": 30.0,
        }))
        .unwrap();
        let errors = request.parse().unwrap_err();
        assert_eq!(fields(&errors), ["resolutionTimeTarget"]);
        let update: UpdateSlaPolicyRequest = serde_json::from_value(json!({
            "responseTimeTarget": 60, "resolutionTimeTarget": 30,
        }))
        .unwrap();
        assert_eq!(
            fields(&update.parse(admin()).unwrap_err()),
            ["resolutionTimeTarget"]
        );
    }

    #[test]
    fn null_removes_a_tier_or_business_hours_and_absent_leaves_them() {
        let update: UpdateSlaPolicyRequest = serde_json::from_value(json!({
            "customerTier": null, "businessHoursStart": null, "businessDays": null,
            "holidays": [], "active": false,
        }))
        .unwrap();
        let update = update.parse(admin()).unwrap();
        assert_eq!(update.customer_tier, Some(None));
        assert_eq!(update.calendar.business_hours_start, Some(None));
        assert_eq!(update.calendar.business_hours_end, None);
        assert_eq!(update.calendar.business_days, Some(None));
        assert_eq!(update.calendar.holidays, Some(vec![]));
        assert_eq!(update.active, Some(false));
        let untouched: UpdateSlaPolicyRequest = serde_json::from_value(json!({})).unwrap();
        assert_eq!(
            untouched.parse(admin()).unwrap(),
            UpdateSlaPolicy::by(admin())
        );
        let tier: UpdateSlaPolicyRequest =
            serde_json::from_value(json!({"customerTier": "FREE"})).unwrap();
        assert_eq!(
            tier.parse(admin()).unwrap().customer_tier,
            Some(Some(CustomerTier::Free))
        );
    }

    #[test]
    fn whole_numbers_are_whole_however_json_writes_them() {
        for (number, whole_number) in [
            (json!(60), 60),
            (json!(60.0), 60),
            (json!(-3), -3),
            (json!(60.5), i64::MIN),
            (json!(1e300), i64::MIN),
            (json!(u64::MAX), i64::MIN),
        ] {
            let number: Number = serde_json::from_value(number).unwrap();
            assert_eq!(whole(&number), whole_number, "{number}");
        }
    }

    #[test]
    fn holidays_are_zero_padded_days() {
        assert!(holiday("2026-12-25").is_ok());
        for bad in ["2026-2-3", "2026-02-30", "25.12.2026", "+2026-12-25", ""] {
            assert!(holiday(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn list_queries_refuse_unknown_parameters_and_bad_values_each_by_name() {
        let query: SlaPolicyListQuery = serde_json::from_value(json!({
            "priority": "HIGH", "customerTier": "GOLD", "active": "yes", "page": "0",
            "limit": "101", "tier": "FREE",
        }))
        .unwrap();
        assert_eq!(
            fields(&query.parse().unwrap_err()),
            [
                "tier",
                "priority",
                "customerTier",
                "active",
                "page",
                "limit"
            ]
        );
        let query = SlaPolicyListQuery {
            priority: Some("P0_CRITICAL".into()),
            active: Some("true".into()),
            page: Some("500".into()),
            ..Default::default()
        };
        let (filter, page) = query.parse().unwrap();
        let too_far = SlaPolicyListQuery {
            page: Some("2147483648".into()),
            ..Default::default()
        };
        assert_eq!(fields(&too_far.parse().unwrap_err()), ["page"]);
        assert_eq!(filter.priority, Some(TicketPriority::Critical));
        assert_eq!(filter.active, Some(true));
        assert_eq!((page.number(), page.limit), (Some(500), 20));
    }
}
