//! Given/when/then for a reader's rating, and the low-rating rule.

use cqrs_es::test::TestFramework;
use uuid::Uuid;

use super::*;
use crate::actor::test_caller_as as caller;
use crate::ticket::ErasureReason;
use crate::{ActorRole, PersonalData};

type RatingTest = TestFramework<KbRating>;

const ARTICLE: Uuid = Uuid::from_u128(9);

fn verdict(stars: u8, helpful: bool, comment: Option<&str>) -> Verdict {
    Verdict {
        rating: Stars::parse(f64::from(stars)).unwrap(),
        helpful,
        comment: comment.map(|c| RatingComment::parse(c).unwrap()),
    }
}

fn rate(role: ActorRole, sub: &str, verdict: Verdict) -> KbRatingCommand {
    KbRatingCommand::Rate {
        caller: caller(role, sub),
        article_id: ARTICLE,
        verdict,
    }
}

fn rated_by_customer() -> KbRatingEvent {
    KbRatingEvent::KbArticleRated {
        article_id: ARTICLE,
        reader: "reader-1".to_owned(),
        customer_id: Some("customer-1".to_owned()),
        verdict: verdict(2, false, Some("Step 3 is missing")),
    }
}

fn erase(role: ActorRole) -> KbRatingCommand {
    KbRatingCommand::Erase {
        caller: caller(role, "admin-1"),
        reason: ErasureReason::CustomerRequest,
        receipt_id: Uuid::from_u128(7),
    }
}

#[test]
fn stars_are_whole_numbers_from_one_to_five() {
    assert_eq!(Stars::parse(1.0).unwrap().get(), 1);
    assert_eq!(Stars::parse(5.0).unwrap().get(), 5);
    for bad in [0.0, 6.0, 2.5, -1.0, f64::NAN, f64::INFINITY] {
        assert!(Stars::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_reader_has_one_rating_id_per_article() {
    let other = Uuid::from_u128(10);
    assert_eq!(
        rating_id(ARTICLE, "reader-1"),
        rating_id(ARTICLE, "reader-1")
    );
    assert_ne!(
        rating_id(ARTICLE, "reader-1"),
        rating_id(ARTICLE, "reader-2")
    );
    assert_ne!(rating_id(ARTICLE, "reader-1"), rating_id(other, "reader-1"));
}

#[test]
fn an_article_is_rated_low_from_five_ratings_with_a_mean_under_two_and_a_half() {
    let one = Stars::parse(1.0).unwrap();
    let mut summary = RatingSummary::default();
    assert_eq!(summary.mean(), 0.0);
    for _ in 0..4 {
        summary.add(one, false);
    }
    assert!(!summary.is_low(), "four ratings are too few");
    summary.add(one, true);
    assert!(summary.is_low());
    assert_eq!(summary.helpful, 1);
    // 1, 1, 1, 5, 5: a mean of 2.6 is not low.
    let five = Stars::parse(5.0).unwrap();
    summary.replace((one, false), (five, true));
    summary.replace((one, false), (five, true));
    assert_eq!(summary.mean(), 2.6);
    assert!(!summary.is_low());
    assert_eq!((summary.count, summary.helpful), (5, 3));
    // 2.4 is low, 2.5 exactly is not.
    let mut summary = RatingSummary::default();
    for stars in [1.0, 2.0, 3.0, 3.0, 3.0] {
        summary.add(Stars::parse(stars).unwrap(), false);
    }
    assert_eq!(summary.mean(), 2.4);
    assert!(summary.is_low());
    summary.add(Stars::parse(3.0).unwrap(), false);
    assert_eq!(summary.mean(), 2.5);
    assert!(!summary.is_low());
}

#[tokio::test]
async fn a_first_rating_names_its_reader_and_a_customer_s_account() {
    RatingTest::with(())
        .given_no_previous_events()
        .when_async(rate(
            ActorRole::Customer,
            "reader-1",
            verdict(2, false, Some("Step 3 is missing")),
        ))
        .await
        .then_expect_events(vec![rated_by_customer()]);
    RatingTest::with(())
        .given_no_previous_events()
        .when_async(rate(ActorRole::Agent, "agent-1", verdict(4, true, None)))
        .await
        .then_expect_events(vec![KbRatingEvent::KbArticleRated {
            article_id: ARTICLE,
            reader: "agent-1".to_owned(),
            customer_id: None,
            verdict: verdict(4, true, None),
        }]);
}

#[tokio::test]
async fn rating_again_revises_and_the_same_rating_records_nothing() {
    RatingTest::with(())
        .given(vec![rated_by_customer()])
        .when_async(rate(
            ActorRole::Customer,
            "reader-1",
            verdict(4, true, None),
        ))
        .await
        .then_expect_events(vec![KbRatingEvent::KbArticleRatingRevised {
            verdict: verdict(4, true, None),
        }]);
    RatingTest::with(())
        .given(vec![rated_by_customer()])
        .when_async(rate(
            ActorRole::Customer,
            "reader-1",
            verdict(2, false, Some("Step 3 is missing")),
        ))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn only_readers_rate_and_only_their_own_rating() {
    for role in [ActorRole::Service, ActorRole::Auditor] {
        RatingTest::with(())
            .given_no_previous_events()
            .when_async(rate(role, "reader-1", verdict(3, true, None)))
            .await
            .then_expect_error(KbRatingError::Forbidden);
    }
    RatingTest::with(())
        .given(vec![rated_by_customer()])
        .when_async(rate(
            ActorRole::Customer,
            "reader-2",
            verdict(3, true, None),
        ))
        .await
        .then_expect_error(KbRatingError::NotOwner);
}

#[tokio::test]
async fn an_erased_rating_is_erased_once_and_accepts_no_revision() {
    let erased = KbRatingEvent::KbRatingErased {
        reason: ErasureReason::CustomerRequest,
        receipt_id: Uuid::from_u128(7),
    };
    RatingTest::with(())
        .given(vec![rated_by_customer()])
        .when_async(erase(ActorRole::Admin))
        .await
        .then_expect_events(vec![erased.clone()]);
    RatingTest::with(())
        .given(vec![rated_by_customer(), erased.clone()])
        .when_async(erase(ActorRole::Service))
        .await
        .then_expect_events(vec![]);
    RatingTest::with(())
        .given_no_previous_events()
        .when_async(erase(ActorRole::Admin))
        .await
        .then_expect_events(vec![]);
    RatingTest::with(())
        .given(vec![rated_by_customer()])
        .when_async(erase(ActorRole::Agent))
        .await
        .then_expect_error(KbRatingError::ErasureForbidden);
    RatingTest::with(())
        .given(vec![rated_by_customer(), erased])
        .when_async(rate(
            ActorRole::Customer,
            "reader-1",
            verdict(5, true, None),
        ))
        .await
        .then_expect_error(KbRatingError::Erased);
}

#[test]
fn the_comment_is_sealed_and_filed_under_the_customer() {
    let rated = rated_by_customer();
    assert_eq!(rated.personal_fields(), ["/comment"]);
    assert_eq!(rated.data_subject(), Some("customer-1"));
    let payload = serde_json::to_value(&rated).unwrap();
    assert_eq!(
        payload["KbArticleRated"]["comment"], "Step 3 is missing",
        "the pointer finds the comment in the payload"
    );
    let erased = KbRatingEvent::KbRatingErased {
        reason: ErasureReason::Retention,
        receipt_id: Uuid::nil(),
    };
    assert!(erased.erases_personal_data() && !rated.erases_personal_data());
}
