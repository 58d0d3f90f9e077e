//! Rate limits on the support API (`/api/v1/support`): each caller has an allowance of requests a
//! minute, set by role. A caller with a valid bearer token is counted by its role and subject;
//! one without is counted as anonymous, by its client address. Each API process counts alone.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, FakeRelativeClock};
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use support_domain::ActorRole;

use crate::auth::Principal;
use crate::problem::ApiError;
use crate::startup::ApiContext;

/// `SUPPORTD_RATE_LIMIT_PER_MINUTE_<ROLE>`, `<ROLE>` a role in capitals or `ANONYMOUS`.
pub const ENV_PREFIX: &str = "SUPPORTD_RATE_LIMIT_PER_MINUTE_";

pub const LIMIT_HEADER: HeaderName = HeaderName::from_static("ratelimit-limit");
pub const REMAINING_HEADER: HeaderName = HeaderName::from_static("ratelimit-remaining");
pub const RESET_HEADER: HeaderName = HeaderName::from_static("ratelimit-reset");

/// Whose allowance a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallerKind {
    /// A valid bearer token of this role; each subject has an allowance of its own.
    Role(ActorRole),
    /// No valid bearer token; each client address has an allowance of its own.
    Anonymous,
}

impl CallerKind {
    pub fn all() -> impl Iterator<Item = CallerKind> {
        ActorRole::ALL
            .iter()
            .map(|role| CallerKind::Role(*role))
            .chain([CallerKind::Anonymous])
    }

    fn name(self) -> &'static str {
        match self {
            CallerKind::Role(role) => role.as_str(),
            CallerKind::Anonymous => "anonymous",
        }
    }

    pub fn env_var(self) -> String {
        format!("{ENV_PREFIX}{}", self.name().to_uppercase())
    }

    /// Customers are many and act for themselves, so they get the least; staff and services
    /// work queues all day, and an address without a token only ever learns it needs one.
    fn default_per_minute(self) -> NonZeroU32 {
        let per_minute = match self {
            CallerKind::Anonymous => 60,
            CallerKind::Role(ActorRole::Customer) => 120,
            CallerKind::Role(_) => 1200,
        };
        NonZeroU32::new(per_minute).expect("the defaults are not zero")
    }
}

/// What the limiters measure time with.
#[derive(Debug, Clone)]
pub enum LimiterClock {
    /// The operating system's monotonic clock: wall-clock steps do not refill or drain allowances.
    Monotonic(Instant),
    /// Time that moves only when advanced, so tests step past a refill without waiting for it.
    Manual(FakeRelativeClock),
}

impl Clock for LimiterClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        match self {
            LimiterClock::Monotonic(since) => since.elapsed().into(),
            LimiterClock::Manual(clock) => clock.now(),
        }
    }
}

/// The allowance of each kind of caller, in requests a minute; also the largest burst.
#[derive(Debug, Clone)]
pub struct RateLimits {
    per_minute: HashMap<CallerKind, NonZeroU32>,
    pub clock: LimiterClock,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            per_minute: CallerKind::all()
                .map(|kind| (kind, kind.default_per_minute()))
                .collect(),
            clock: LimiterClock::Monotonic(Instant::now()),
        }
    }
}

impl RateLimits {
    /// Every kind of caller with the same allowance.
    pub fn everyone(per_minute: NonZeroU32) -> Self {
        CallerKind::all().fold(Self::default(), |limits, kind| {
            limits.with(kind, per_minute)
        })
    }

    pub fn with(mut self, kind: CallerKind, per_minute: NonZeroU32) -> Self {
        self.per_minute.insert(kind, per_minute);
        self
    }

    pub fn per_minute(&self, kind: CallerKind) -> NonZeroU32 {
        self.per_minute[&kind]
    }

    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_vars(std::env::vars_os().filter_map(|(name, value)| {
            let name = name.into_string().ok()?;
            Some((name, value.to_string_lossy().into_owned()))
        }))
    }

    /// The defaults, changed by the `SUPPORTD_RATE_LIMIT_PER_MINUTE_*` variables among `vars`. A
    /// variable naming no role is refused rather than ignored: it is most likely a typo.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> anyhow::Result<Self> {
        let mut limits = Self::default();
        for (name, value) in vars {
            if !name.starts_with(ENV_PREFIX) {
                continue;
            }
            let kind = CallerKind::all()
                .find(|kind| kind.env_var() == name)
                .with_context(|| {
                    let known: Vec<_> = CallerKind::all().map(CallerKind::env_var).collect();
                    format!("{name} names no role: known are {}", known.join(", "))
                })?;
            let per_minute = value.trim().parse().ok().with_context(|| {
                format!(
                    "{name} must be a whole number of requests a minute, 1 or more, not {value:?}"
                )
            })?;
            limits = limits.with(kind, per_minute);
        }
        Ok(limits)
    }
}

type Limiter<K> = RateLimiter<K, DashMapStateStore<K>, LimiterClock, StateInformationMiddleware>;

fn limiter<K: Hash + Eq + Clone>(per_minute: NonZeroU32, clock: &LimiterClock) -> Limiter<K> {
    RateLimiter::new(
        Quota::per_minute(per_minute),
        DashMapStateStore::default(),
        clock.clone(),
    )
}

/// Every caller's allowance, as it stands in this process.
pub struct RateLimiters {
    by_subject: HashMap<ActorRole, Limiter<String>>,
    by_address: Limiter<IpAddr>,
}

/// How many requests a caller has left, as the `RateLimit-*` headers tell it.
struct Standing {
    limit: u32,
    remaining: u32,
    /// Until the whole allowance is back.
    reset: Duration,
}

/// A request over the allowance.
struct Refusal {
    kind: CallerKind,
    standing: Standing,
    retry_after: Duration,
}

impl RateLimiters {
    pub fn new(limits: &RateLimits) -> Self {
        Self {
            by_subject: ActorRole::ALL
                .iter()
                .map(|role| {
                    let per_minute = limits.per_minute(CallerKind::Role(*role));
                    (*role, limiter(per_minute, &limits.clock))
                })
                .collect(),
            by_address: limiter(limits.per_minute(CallerKind::Anonymous), &limits.clock),
        }
    }

    /// Counts one request of `caller`, or of the anonymous client at `address`.
    fn count(&self, caller: Option<&Principal>, address: IpAddr) -> Result<Standing, Refusal> {
        match caller {
            Some(principal) => {
                let limiter = &self.by_subject[&principal.role];
                count(limiter, &principal.sub, CallerKind::Role(principal.role))
            }
            None => count(
                &self.by_address,
                &client_key(address),
                CallerKind::Anonymous,
            ),
        }
    }

    /// Forgets the callers whose allowance is whole again: they are no different from callers
    /// never seen, and without this every subject and address ever seen would stay in memory.
    fn forget_idle_callers(&self) {
        for limiter in self.by_subject.values() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        self.by_address.retain_recent();
        self.by_address.shrink_to_fit();
    }

    /// Runs for the life of the process. An allowance is whole again at most a minute after a
    /// caller's last request, so memory holds about the last two minutes' callers.
    pub async fn forget_idle_callers_every_minute(self: Arc<Self>) {
        let mut every_minute = tokio::time::interval(Duration::from_secs(60));
        loop {
            every_minute.tick().await;
            self.forget_idle_callers();
        }
    }
}

fn count<K: Hash + Eq + Clone>(
    limiter: &Limiter<K>,
    key: &K,
    kind: CallerKind,
) -> Result<Standing, Refusal> {
    match limiter.check_key(key) {
        Ok(snapshot) => {
            let quota = snapshot.quota();
            let limit = quota.burst_size().get();
            let remaining = snapshot.remaining_burst_capacity();
            // At most one refill interval more than the exact time: governor shows whole requests.
            let reset = quota.replenish_interval() * limit.saturating_sub(remaining);
            Ok(Standing {
                limit,
                remaining,
                reset,
            })
        }
        Err(not_until) => {
            let quota = not_until.quota();
            let limit = quota.burst_size().get();
            let retry_after = not_until.wait_time_from(limiter.clock().now());
            Err(Refusal {
                kind,
                standing: Standing {
                    limit,
                    remaining: 0,
                    reset: retry_after + quota.replenish_interval() * (limit - 1),
                },
                retry_after,
            })
        }
    }
}

/// An IPv6 client is counted by its /64, which one host or network usually holds whole:
/// counting each address would let it take a fresh allowance with every address it picks.
fn client_key(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & u128::MAX << 64)),
        v4 => v4,
    }
}

fn whole_seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

impl Standing {
    fn write_to(&self, headers: &mut HeaderMap) {
        let seconds = whole_seconds(self.reset);
        headers.insert(LIMIT_HEADER, HeaderValue::from(self.limit));
        headers.insert(REMAINING_HEADER, HeaderValue::from(self.remaining));
        headers.insert(RESET_HEADER, HeaderValue::from(seconds));
    }
}

impl Refusal {
    fn error(&self) -> ApiError {
        let who = match self.kind {
            CallerKind::Role(role) => format!("each {} token's subject", role.as_str()),
            CallerKind::Anonymous => "each client address without a valid token".to_owned(),
        };
        let retry_after_seconds = whole_seconds(self.retry_after);
        ApiError::TooManyRequests {
            detail: format!(
                "the limit of {} requests a minute for {who} is used up; retry in {retry_after_seconds} s",
                self.standing.limit
            ),
            retry_after_seconds,
        }
    }
}

/// What the rate-limiting middleware reads: the limiters, and what a token is checked against.
#[derive(Clone)]
pub struct RateLimitState {
    pub context: ApiContext,
    pub limiters: Arc<RateLimiters>,
}

/// The caller as the handlers will see it, or `None` when the token is missing or not valid: the
/// one place the limiter reads a token, the same way the handlers do.
async fn authenticated(parts: &mut Parts, context: &ApiContext) -> Option<Principal> {
    Principal::from_request_parts(parts, context).await.ok()
}

/// Counts the request against its caller's allowance, refuses it with 429 when the allowance is
/// used up, and tells the caller where it stands on every answer.
pub async fn limit_requests(
    State(state): State<RateLimitState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let caller = authenticated(&mut parts, &state.context).await;
    let (mut response, standing) = match state.limiters.count(caller.as_ref(), client.ip()) {
        Ok(standing) => (next.run(Request::from_parts(parts, body)).await, standing),
        Err(refusal) => (refusal.error().into_response(), refusal.standing),
    };
    standing.write_to(response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_is_counted_by_its_64_and_a_mapped_ipv4_one_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(other));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn idle_callers_are_forgotten_once_their_allowance_is_whole() {
        let clock = FakeRelativeClock::default();
        let mut limits = RateLimits::everyone(NonZeroU32::new(2).unwrap());
        limits.clock = LimiterClock::Manual(clock.clone());
        let limiters = RateLimiters::new(&limits);
        let customers = &limiters.by_subject[&ActorRole::Customer];
        customers.check_key(&"customer-1".to_owned()).unwrap();
        limiters
            .by_address
            .check_key(&client_key([127, 0, 0, 1].into()))
            .unwrap();
        limiters.forget_idle_callers();
        assert_eq!((customers.len(), limiters.by_address.len()), (1, 1));
        clock.advance(Duration::from_secs(60));
        limiters.forget_idle_callers();
        assert_eq!((customers.len(), limiters.by_address.len()), (0, 0));
    }

    #[test]
    fn headers_round_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::from_millis(19_001)), 20);
        assert_eq!(whole_seconds(Duration::from_secs(20)), 20);
        assert_eq!(whole_seconds(Duration::ZERO), 0);
    }
}
