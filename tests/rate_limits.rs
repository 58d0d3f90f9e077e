//! Rate limits: each caller's allowance of requests a minute, by role and subject or, without a
//! valid token, by client address; 429 with Retry-After past it, and the RateLimit-* headers on
//! every answer of the support API. The limiter's clock is a manual one, so time passes only
//! when a test advances it.

mod common;

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use common::{spawn_app_with, TestApp};
use governor::clock::FakeRelativeClock;
use reqwest::{Method, Response};
use serde_json::Value;
use sqlx::PgPool;
use support_domain::ActorRole;
use supportd::rate_limit::{CallerKind, LimiterClock, RateLimits};

const TICKETS: &str = "/api/v1/support/tickets";

fn per_minute(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

/// The app with `limits` counted on a clock that stands still until the test advances it.
async fn limited_app(pool: PgPool, mut limits: RateLimits) -> (TestApp, FakeRelativeClock) {
    let clock = FakeRelativeClock::default();
    limits.clock = LimiterClock::Manual(clock.clone());
    let app = spawn_app_with(pool, |settings| settings.rate_limits = limits).await;
    (app, clock)
}

fn header(response: &Response, name: &str) -> Option<u64> {
    let value = response.headers().get(name)?;
    Some(value.to_str().unwrap().parse().unwrap())
}

/// `RateLimit-Limit`, `-Remaining` and `-Reset`, each of which must be there.
fn standing(response: &Response) -> (u64, u64, u64) {
    let of = |name| header(response, name).unwrap_or_else(|| panic!("{name} is sent"));
    (
        of("RateLimit-Limit"),
        of("RateLimit-Remaining"),
        of("RateLimit-Reset"),
    )
}

async fn assert_refused(response: Response, retry_after: u64) {
    assert_eq!(response.status(), 429);
    assert_eq!(header(&response, "Retry-After"), Some(retry_after));
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/rate-limited");
    assert_eq!(problem["status"], 429);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_burst_past_the_limit_is_refused_until_the_allowance_comes_back(pool: PgPool) {
    // Three a minute: one request comes back every 20 seconds.
    let limits = RateLimits::default().with(CallerKind::Role(ActorRole::Customer), per_minute(3));
    let (app, clock) = limited_app(pool, limits).await;
    let customer = app.token(ActorRole::Customer, "customer-1");

    for (remaining, reset) in [(2, 20), (1, 40), (0, 60)] {
        let response = app.get(TICKETS, &customer).await;
        assert_eq!(response.status(), 200);
        assert_eq!(standing(&response), (3, remaining, reset));
    }
    let refused = app.get(TICKETS, &customer).await;
    assert_eq!(standing(&refused), (3, 0, 60));
    assert_refused(refused, 20).await;

    clock.advance(Duration::from_secs(19));
    assert_refused(app.get(TICKETS, &customer).await, 1).await;
    clock.advance(Duration::from_secs(1));
    let again = app.get(TICKETS, &customer).await;
    assert_eq!(again.status(), 200);
    assert_eq!(standing(&again), (3, 0, 60));

    // A minute without requests gives the whole allowance back.
    clock.advance(Duration::from_secs(60));
    let rested = app.get(TICKETS, &customer).await;
    assert_eq!(standing(&rested), (3, 2, 20));
}

#[sqlx::test(migrations = "../migrations")]
async fn every_answer_of_the_support_api_tells_the_caller_where_it_stands(pool: PgPool) {
    let limits = RateLimits::default().with(CallerKind::Role(ActorRole::Admin), per_minute(10));
    let (app, _clock) = limited_app(pool, limits).await;
    let admin = app.admin();

    let created = app
        .post(
            TICKETS,
            &admin,
            common::ticket_body("Dashboard down", "c-1"),
        )
        .await;
    assert_eq!(created.status(), 201);
    assert_eq!(standing(&created), (10, 9, 6));
    let missing = app
        .get(
            &format!("{TICKETS}/00000000-0000-0000-0000-000000000000"),
            &admin,
        )
        .await;
    assert_eq!(missing.status(), 404);
    assert_eq!(standing(&missing), (10, 8, 12));
    let invalid = app
        .post(TICKETS, &admin, serde_json::json!({"title": ""}))
        .await;
    assert_eq!(invalid.status(), 422);
    assert_eq!(standing(&invalid), (10, 7, 18));
    // Each role by its own limit: the customer's is the default.
    let customer = app
        .get(TICKETS, &app.token(ActorRole::Customer, "c-1"))
        .await;
    assert_eq!(customer.status(), 200);
    assert_eq!(standing(&customer), (120, 119, 1));
}

#[sqlx::test(migrations = "../migrations")]
async fn each_subject_of_each_role_has_an_allowance_of_its_own(pool: PgPool) {
    let limits = RateLimits::default()
        .with(CallerKind::Role(ActorRole::Customer), per_minute(1))
        .with(CallerKind::Role(ActorRole::Agent), per_minute(2));
    let (app, _clock) = limited_app(pool, limits).await;
    let first = app.token(ActorRole::Customer, "customer-1");
    assert_eq!(app.get(TICKETS, &first).await.status(), 200);
    assert_refused(app.get(TICKETS, &first).await, 60).await;

    let second = app.token(ActorRole::Customer, "customer-2");
    assert_eq!(app.get(TICKETS, &second).await.status(), 200);
    // The same subject in another role is another caller, with that role's limit.
    let agent = app.token(ActorRole::Agent, "customer-1");
    let response = app.get(TICKETS, &agent).await;
    assert_eq!(response.status(), 200);
    assert_eq!(standing(&response), (2, 1, 30));
}

#[sqlx::test(migrations = "../migrations")]
async fn requests_without_a_valid_token_are_counted_by_client_address(pool: PgPool) {
    let limits = RateLimits::default().with(CallerKind::Anonymous, per_minute(2));
    let (app, _clock) = limited_app(pool, limits).await;
    let without_token = || app.send(Method::GET, TICKETS, None, None);

    let first = without_token().await;
    assert_eq!(first.status(), 401);
    assert_eq!(standing(&first), (2, 1, 30));
    // A forged token is no token: it counts against the address, not a subject of its choosing.
    let forged = supportd::auth::TokenKeys::new("not-the-secret").issue(
        ActorRole::Admin,
        "mallory",
        None,
        chrono::Duration::hours(1),
    );
    assert_eq!(app.get(TICKETS, &forged).await.status(), 401);
    assert_refused(without_token().await, 30).await;
    assert_refused(app.get(TICKETS, &forged).await, 30).await;

    // Another address (the loopback network is all this host's) has its own allowance.
    let neighbour = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<IpAddr>().unwrap())
        .build()
        .unwrap();
    let response = neighbour
        .get(format!("{}{TICKETS}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(standing(&response), (2, 1, 30));
    // A caller with a valid token is not held back by its address's anonymous allowance.
    assert_eq!(app.get(TICKETS, &app.admin()).await.status(), 200);
}

#[sqlx::test(migrations = "../migrations")]
async fn health_metrics_and_the_api_document_are_never_limited(pool: PgPool) {
    let limits = RateLimits::everyone(per_minute(1));
    let (app, _clock) = limited_app(pool, limits).await;
    assert_eq!(
        app.send(Method::GET, TICKETS, None, None).await.status(),
        401
    );
    assert_eq!(
        app.send(Method::GET, TICKETS, None, None).await.status(),
        429
    );

    for _ in 0..3 {
        for path in ["/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"] {
            let response = app.send(Method::GET, path, None, None).await;
            assert_eq!(response.status(), 200, "{path}");
            assert_eq!(header(&response, "RateLimit-Limit"), None, "{path}");
        }
    }
}

#[test]
fn per_role_limits_are_read_from_the_environment() {
    let read = |vars: &[(&str, &str)]| {
        RateLimits::from_vars(
            vars.iter()
                .map(|(name, value)| (name.to_string(), value.to_string())),
        )
    };
    let defaults = read(&[("SUPPORTD_BIND", "127.0.0.1:3000")]).unwrap();
    let customer = CallerKind::Role(ActorRole::Customer);
    assert_eq!(defaults.per_minute(customer).get(), 120);
    assert_eq!(defaults.per_minute(CallerKind::Anonymous).get(), 60);
    for role in ActorRole::ALL.iter().filter(|r| **r != ActorRole::Customer) {
        assert_eq!(defaults.per_minute(CallerKind::Role(*role)).get(), 1200);
    }

    let set = read(&[
        ("SUPPORTD_RATE_LIMIT_PER_MINUTE_CUSTOMER", "30"),
        ("SUPPORTD_RATE_LIMIT_PER_MINUTE_ANONYMOUS", " 5 "),
    ])
    .unwrap();
    assert_eq!(set.per_minute(customer).get(), 30);
    assert_eq!(set.per_minute(CallerKind::Anonymous).get(), 5);
    assert_eq!(
        set.per_minute(CallerKind::Role(ActorRole::Agent)).get(),
        1200
    );
    // Every role, present and future, is named after itself.
    for kind in CallerKind::all() {
        let limits = read(&[(kind.env_var().as_str(), "7")]).unwrap();
        assert_eq!(limits.per_minute(kind).get(), 7, "{}", kind.env_var());
    }

    for (value, why) in [("0", "zero"), ("many", "not a number"), ("-3", "negative")] {
        let error = read(&[("SUPPORTD_RATE_LIMIT_PER_MINUTE_AGENT", value)])
            .expect_err(why)
            .to_string();
        assert!(
            error.contains("SUPPORTD_RATE_LIMIT_PER_MINUTE_AGENT must be a whole number"),
            "{error}"
        );
    }
    let typo = read(&[("SUPPORTD_RATE_LIMIT_PER_MINUTE_CUSTOMERS", "10")])
        .expect_err("an unknown role")
        .to_string();
    assert!(
        typo.contains("SUPPORTD_RATE_LIMIT_PER_MINUTE_CUSTOMERS names no role"),
        "{typo}"
    );
}
