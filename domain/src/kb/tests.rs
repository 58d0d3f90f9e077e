//! Given/when/then for the knowledge base article aggregate, and its lifecycle table against an
//! independent copy.

use cqrs_es::test::TestFramework;
use uuid::Uuid;

use super::*;
use crate::ticket::{AgentId, Labels};
use crate::{Actor, ActorRole, Caller};

type ArticleTest = TestFramework<KbArticle>;

const ID: Uuid = Uuid::from_u128(9);

fn caller(role: ActorRole) -> Caller {
    Caller {
        actor: Actor {
            sub: format!("{}-1", role.as_str()),
            role,
        },
        customer_id: (role == ActorRole::Customer).then(|| "customer-1".to_owned()),
    }
}

fn fields() -> KbArticleFields {
    KbArticleFields {
        title: ArticleTitle::parse("How to Reset Your Password").unwrap(),
        summary: ArticleSummary::parse("Step-by-step guide").unwrap(),
        content: ArticleContent::parse("# Password Reset\n\n1. Click Forgot Password").unwrap(),
        category: KbCategory::HowTo,
        tags: Labels::parse(&["password".to_owned()]).unwrap(),
        keywords: Labels::parse(&["reset".to_owned()]).unwrap(),
        author: AgentId::parse("support-admin").unwrap(),
        is_internal: false,
        is_pinned: false,
        search_boost: SearchBoost::default(),
        related_articles: Vec::new(),
        related_tickets: Vec::new(),
        related_incidents: Vec::new(),
    }
}

fn created() -> KbArticleEvent {
    KbArticleEvent::KbArticleCreated {
        article_id: ID,
        article_number: ArticleNumber::new(1),
        fields: fields(),
    }
}

fn update(role: ActorRole) -> UpdateKbArticle {
    UpdateKbArticle {
        caller: caller(role),
        changes: KbArticleChanges::default(),
        status: None,
    }
}

fn status_changed(from: KbStatus, to: KbStatus) -> KbArticleEvent {
    KbArticleEvent::KbArticleStatusChanged { from, to }
}

#[test]
fn the_lifecycle_table_matches_an_independent_copy() {
    use KbStatus::*;
    // Written out by hand from the issue: publish, archive, restore to draft.
    let expected = [
        (Draft, Published, true),
        (Draft, Archived, true),
        (Published, Draft, true),
        (Published, Archived, true),
        (Archived, Draft, true),
        (Archived, Published, false),
    ];
    for (from, to, allowed) in expected {
        assert_eq!(from.can_become(to), allowed, "{from} -> {to}");
    }
    let pairs: usize = KbStatus::ALL.iter().map(|s| s.allowed_next().len()).sum();
    assert_eq!(pairs, 5, "no transition beyond the table");
}

#[test]
fn article_numbers_have_six_digits_and_widen() {
    assert_eq!(ArticleNumber::new(42).as_str(), "KB-000042");
    assert_eq!(ArticleNumber::new(1_234_567).as_str(), "KB-1234567");
    assert_eq!(ArticleNumber::parse("KB-000042").unwrap().counter(), 42);
    for bad in ["KB-42", "KB-00004a", "TKT-000042", "kb-000042"] {
        assert!(ArticleNumber::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn search_boost_is_bounded() {
    assert!(SearchBoost::parse(0.1).is_ok());
    assert!(SearchBoost::parse(10.0).is_ok());
    for bad in [0.0, -1.0, 10.5, f64::NAN, f64::INFINITY] {
        assert!(SearchBoost::parse(bad).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn staff_create_drafts_and_customers_cannot() {
    let create = |role| {
        KbArticleCommand::Create(CreateKbArticle {
            caller: caller(role),
            article_id: ID,
            number: ArticleNumber::new(1),
            fields: fields(),
        })
    };
    ArticleTest::with(())
        .given_no_previous_events()
        .when_async(create(ActorRole::Agent))
        .await
        .then_expect_events(vec![created()]);
    for role in [ActorRole::Customer, ActorRole::Service, ActorRole::Auditor] {
        ArticleTest::with(())
            .given_no_previous_events()
            .when_async(create(role))
            .await
            .then_expect_error(KbArticleError::Forbidden);
    }
    ArticleTest::with(())
        .given(vec![created()])
        .when_async(create(ActorRole::Admin))
        .await
        .then_expect_error(KbArticleError::AlreadyExists);
}

#[tokio::test]
async fn an_update_is_a_revision_of_what_changed_only() {
    let mut change = update(ActorRole::Agent);
    change.changes.title = Some(ArticleTitle::parse("Reset a forgotten password").unwrap());
    // Sent unchanged: not part of the revision.
    change.changes.category = Some(KbCategory::HowTo);
    ArticleTest::with(())
        .given(vec![created()])
        .when_async(KbArticleCommand::Update(change))
        .await
        .then_expect_events(vec![KbArticleEvent::KbArticleRevised {
            revision: 2,
            changes: KbArticleChanges {
                title: Some(ArticleTitle::parse("Reset a forgotten password").unwrap()),
                ..KbArticleChanges::default()
            },
        }]);
    let mut same = update(ActorRole::Agent);
    same.changes.title = Some(fields().title);
    ArticleTest::with(())
        .given(vec![created()])
        .when_async(KbArticleCommand::Update(same))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn revisions_count_on_and_come_before_the_status_change() {
    let revised = KbArticleEvent::KbArticleRevised {
        revision: 2,
        changes: KbArticleChanges {
            is_pinned: Some(true),
            ..KbArticleChanges::default()
        },
    };
    let mut change = update(ActorRole::Admin);
    change.changes.search_boost = Some(SearchBoost::parse(2.0).unwrap());
    change.status = Some(KbStatus::Published);
    ArticleTest::with(())
        .given(vec![created(), revised])
        .when_async(KbArticleCommand::Update(change))
        .await
        .then_expect_events(vec![
            KbArticleEvent::KbArticleRevised {
                revision: 3,
                changes: KbArticleChanges {
                    search_boost: Some(SearchBoost::parse(2.0).unwrap()),
                    ..KbArticleChanges::default()
                },
            },
            status_changed(KbStatus::Draft, KbStatus::Published),
        ]);
}

#[tokio::test]
async fn an_illegal_status_change_names_the_allowed_ones_and_changes_nothing() {
    let mut change = update(ActorRole::Agent);
    change.changes.is_pinned = Some(true);
    change.status = Some(KbStatus::Published);
    ArticleTest::with(())
        .given(vec![
            created(),
            status_changed(KbStatus::Draft, KbStatus::Archived),
        ])
        .when_async(KbArticleCommand::Update(change))
        .await
        .then_expect_error(KbArticleError::IllegalTransition {
            from: KbStatus::Archived,
            to: KbStatus::Published,
            allowed: &[KbStatus::Draft],
        });
}

#[tokio::test]
async fn customers_cannot_update_and_missing_articles_are_not_found() {
    ArticleTest::with(())
        .given(vec![created()])
        .when_async(KbArticleCommand::Update(update(ActorRole::Customer)))
        .await
        .then_expect_error(KbArticleError::Forbidden);
    ArticleTest::with(())
        .given_no_previous_events()
        .when_async(KbArticleCommand::Update(update(ActorRole::Agent)))
        .await
        .then_expect_error(KbArticleError::NotFound);
}

#[tokio::test]
async fn the_low_rating_alert_is_raised_once_until_the_ratings_recover() {
    let raise = || KbArticleCommand::RaiseLowRatingAlert {
        caller: caller(ActorRole::Service),
        rating: 1.8,
        rating_count: 5,
    };
    let low = KbArticleEvent::KbArticleRatedLow {
        rating: 1.8,
        rating_count: 5,
        author: fields().author,
        title: fields().title,
    };
    ArticleTest::with(())
        .given(vec![created()])
        .when_async(raise())
        .await
        .then_expect_events(vec![low.clone()]);
    ArticleTest::with(())
        .given(vec![created(), low.clone()])
        .when_async(raise())
        .await
        .then_expect_events(vec![]);
    ArticleTest::with(())
        .given(vec![
            created(),
            low.clone(),
            KbArticleEvent::KbArticleRatingRecovered {},
        ])
        .when_async(raise())
        .await
        .then_expect_events(vec![low]);
    ArticleTest::with(())
        .given(vec![created()])
        .when_async(KbArticleCommand::RaiseLowRatingAlert {
            caller: caller(ActorRole::Agent),
            rating: 1.0,
            rating_count: 9,
        })
        .await
        .then_expect_error(KbArticleError::Forbidden);
}
