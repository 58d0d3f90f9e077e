//! Tokens from an identity provider, end to end: key pairs made here, their public halves served
//! as a JWKS by a real HTTP server on 127.0.0.1 whose key set the test changes, and a `supportd`
//! that checks tokens against it.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{spawn_app_with, ticket_body, TestApp};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
use rsa::pkcs8::EncodePublicKey;
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use sqlx::PgPool;
use support_domain::ActorRole;
use supportd::auth::TokenKeys;
use supportd::settings::{IdentityProvider, DEVELOPMENT_JWT_SECRET};

const TICKETS: &str = "/api/v1/support/tickets";
const DEAD_LETTERS: &str = "/api/v1/support/admin/dead-letters";
const ISSUER: &str = "https://sso.example.com/realms/support";
const AUDIENCE: &str = "supportd";
const CERTS: &str = "/realms/support/protocol/openid-connect/certs";

/// A private key of the test's identity provider, and the JWK of its public half.
struct Signer {
    kid: String,
    alg: Algorithm,
    key: EncodingKey,
    jwk: Value,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Signer {
    /// An RSA key whose JWK has no `alg`, as Azure AD publishes them; and its public key.
    fn rsa(kid: &str) -> (Self, RsaPublicKey) {
        let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
        let public = private.to_public_key();
        let signer = Signer {
            kid: kid.to_owned(),
            alg: Algorithm::RS256,
            key: EncodingKey::from_rsa_der(private.to_pkcs1_der().unwrap().as_bytes()),
            jwk: json!({
                "kty": "RSA", "use": "sig", "kid": kid,
                "n": b64(&public.n().to_bytes_be()), "e": b64(&public.e().to_bytes_be()),
            }),
        };
        (signer, public)
    }

    fn es256(kid: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        // An uncompressed point: 0x04, then x and y.
        let point = pair.public_key().as_ref();
        Signer {
            kid: kid.to_owned(),
            alg: Algorithm::ES256,
            key: EncodingKey::from_ec_der(pkcs8.as_ref()),
            jwk: json!({
                "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
                "x": b64(&point[1..33]), "y": b64(&point[33..]),
            }),
        }
    }

    fn eddsa(kid: &str) -> Self {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        Signer {
            kid: kid.to_owned(),
            alg: Algorithm::EdDSA,
            key: EncodingKey::from_ed_der(pkcs8.as_ref()),
            jwk: json!({
                "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid,
                "x": b64(pair.public_key().as_ref()),
            }),
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        encode(&header, claims, &self.key).unwrap()
    }
}

/// Claims as Keycloak would issue them for supportd, an hour long, with `extra` on top.
fn claims(extra: Value) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "role": "admin",
        "iat": now, "exp": now + 3600,
    });
    claims
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    claims
}

/// The identity provider's JWKS endpoint: a real HTTP server whose key set the test changes, and
/// which counts how often supportd fetched it.
#[derive(Clone)]
struct Provider {
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
    url: String,
}

impl Provider {
    async fn serve(signers: &[&Signer]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let provider = Provider {
            keys: Arc::new(Mutex::new(signers.iter().map(|s| s.jwk.clone()).collect())),
            fetches: Arc::new(AtomicUsize::new(0)),
            url: format!("http://{}{CERTS}", listener.local_addr().unwrap()),
        };
        let router = Router::new()
            .route(CERTS, get(jwks))
            .with_state(provider.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        provider
    }

    fn add(&self, signer: &Signer) {
        self.keys.lock().unwrap().push(signer.jwk.clone());
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

async fn jwks(State(provider): State<Provider>) -> Json<Value> {
    provider.fetches.fetch_add(1, Ordering::SeqCst);
    Json(json!({ "keys": *provider.keys.lock().unwrap() }))
}

/// supportd as production runs it with an identity provider: no SUPPORTD_JWT_SECRET, so the
/// development secret is in the settings but HS256 tokens are refused.
async fn spawn(pool: PgPool, jwks: &str, configure: impl FnOnce(&mut IdentityProvider)) -> TestApp {
    let mut provider = IdentityProvider {
        jwks: jwks.parse().unwrap(),
        issuer: ISSUER.to_owned(),
        audience: vec!["another-app".to_owned(), AUDIENCE.to_owned()],
        role_claim: "/role".to_owned(),
        customer_claim: "/customerId".to_owned(),
        tier_claim: "/tier".to_owned(),
        teams_claim: "/teams".to_owned(),
        leeway: Duration::from_secs(60),
    };
    configure(&mut provider);
    spawn_app_with(pool, |settings| {
        settings.jwt_secret = DEVELOPMENT_JWT_SECRET.to_owned();
        settings.identity_provider = Some(provider);
    })
    .await
}

async fn status(app: &TestApp, path: &str, token: &str) -> u16 {
    app.get(path, token).await.status().as_u16()
}

/// Asserts a 401 problem document and returns its detail.
async fn unauthorized(app: &TestApp, token: &str) -> String {
    let response = app.get(TICKETS, token).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/unauthorized");
    problem["detail"].as_str().unwrap().to_owned()
}

#[sqlx::test(migrations = "../migrations")]
async fn rs256_es256_and_eddsa_tokens_signed_by_keys_of_the_jwks_are_accepted(pool: PgPool) {
    let (rsa, _) = Signer::rsa("rsa-1");
    let (ec, ed) = (Signer::es256("ec-1"), Signer::eddsa("ed-1"));
    let provider = Provider::serve(&[&rsa, &ec, &ed]).await;
    let app = spawn(pool, &provider.url, |_| {}).await;
    for signer in [&rsa, &ec, &ed] {
        let response = app.get(TICKETS, &signer.sign(&claims(json!({})))).await;
        assert_eq!(response.status(), 200, "{:?}", signer.alg);
    }

    // The development secret is public: with an identity provider and no SUPPORTD_JWT_SECRET,
    // tokens signed with it are refused.
    let development = TokenKeys::new(DEVELOPMENT_JWT_SECRET).issue(
        ActorRole::Admin,
        "mallory",
        None,
        chrono::Duration::hours(1),
    );
    assert!(unauthorized(&app, &development).await.contains("HS256"));
}

#[sqlx::test(migrations = "../migrations")]
async fn wrong_issuer_wrong_audience_and_expired_tokens_are_401(pool: PgPool) {
    let ed = Signer::eddsa("ed-1");
    let provider = Provider::serve(&[&ed]).await;
    let app = spawn(pool, &provider.url, |_| {}).await;
    let now = chrono::Utc::now().timestamp();
    let refused = [
        (json!({"iss": "https://evil.example.com"}), "another issuer"),
        (json!({"aud": "billing"}), "another audience"),
        (json!({"exp": now - 3600}), "expired"),
        (json!({"nbf": now + 3600}), "not valid yet"),
    ];
    for (claims_, why) in refused {
        let detail = unauthorized(&app, &ed.sign(&claims(claims_))).await;
        assert!(detail.contains(why), "{detail}");
    }
    let mut no_audience = claims(json!({}));
    no_audience.as_object_mut().unwrap().remove("aud");
    assert!(unauthorized(&app, &ed.sign(&no_audience))
        .await
        .contains("no aud claim"));

    // Clocks may disagree by the leeway (60 s here), no more.
    let just_expired = ed.sign(&claims(json!({"exp": now - 30})));
    assert_eq!(status(&app, TICKETS, &just_expired).await, 200);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_kid_missing_from_the_jwks_after_one_refresh_is_401(pool: PgPool) {
    let known = Signer::es256("known");
    let provider = Provider::serve(&[&known]).await;
    let app = spawn(pool, &provider.url, |_| {}).await;
    assert_eq!(provider.fetches(), 1, "the keys are loaded at start");

    let stranger = Signer::es256("stranger");
    let detail = unauthorized(&app, &stranger.sign(&claims(json!({})))).await;
    assert!(
        detail.contains("not signed by a key of the identity provider"),
        "{detail}"
    );
    assert_eq!(provider.fetches(), 2, "an unknown kid fetches the set once");

    // Made-up kids do not make supportd hammer the provider.
    let another = Signer::es256("another");
    unauthorized(&app, &another.sign(&claims(json!({})))).await;
    assert_eq!(provider.fetches(), 2);

    // A known kid does not vouch for a signature made with another key.
    let impostor = Signer {
        kid: "known".to_owned(),
        ..Signer::es256("unused")
    };
    let detail = unauthorized(&app, &impostor.sign(&claims(json!({})))).await;
    assert!(detail.contains("signature"), "{detail}");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_key_rotated_into_the_jwks_after_startup_is_picked_up(pool: PgPool) {
    let (old, _) = Signer::rsa("2024");
    let provider = Provider::serve(&[&old]).await;
    let app = spawn(pool, &provider.url, |_| {}).await;

    let (new, _) = Signer::rsa("2025");
    provider.add(&new);
    assert_eq!(
        status(&app, TICKETS, &new.sign(&claims(json!({})))).await,
        200
    );
    assert_eq!(provider.fetches(), 2);
    assert_eq!(
        status(&app, TICKETS, &old.sign(&claims(json!({})))).await,
        200
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn hs256_tokens_signed_with_the_public_key_are_refused(pool: PgPool) {
    let (rsa, public) = Signer::rsa("rsa-1");
    let provider = Provider::serve(&[&rsa]).await;
    let app = spawn(pool, &provider.url, |_| {}).await;
    // The alg confusion attack: the public key, which anyone can fetch, as an HMAC secret.
    let secrets = [
        public
            .to_public_key_pem(Default::default())
            .unwrap()
            .into_bytes(),
        public
            .to_pkcs1_pem(Default::default())
            .unwrap()
            .into_bytes(),
        public.to_public_key_der().unwrap().as_bytes().to_vec(),
        public.to_pkcs1_der().unwrap().as_bytes().to_vec(),
    ];
    for secret in secrets {
        for alg in [Algorithm::HS256, Algorithm::HS512] {
            let mut header = Header::new(alg);
            header.kid = Some(rsa.kid.clone());
            let forged = encode(
                &header,
                &claims(json!({})),
                &EncodingKey::from_secret(&secret),
            )
            .unwrap();
            unauthorized(&app, &forged).await;
        }
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn unsigned_tokens_are_refused(pool: PgPool) {
    let ed = Signer::eddsa("ed-1");
    let provider = Provider::serve(&[&ed]).await;
    let app = spawn(pool, &provider.url, |_| {}).await;
    for alg in ["none", "None", "NONE"] {
        let header = json!({"alg": alg, "typ": "JWT", "kid": "ed-1"});
        let unsigned = format!(
            "{}.{}.",
            b64(header.to_string().as_bytes()),
            b64(claims(json!({})).to_string().as_bytes())
        );
        unauthorized(&app, &unsigned).await;
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn keycloak_realm_roles_give_the_one_supportd_role_listed(pool: PgPool) {
    let (rsa, _) = Signer::rsa("keycloak");
    let provider = Provider::serve(&[&rsa]).await;
    let app = spawn(pool, &provider.url, |p| {
        p.role_claim = "/realm_access/roles".to_owned();
    })
    .await;
    let with_roles = |roles: Value| {
        let mut claims = claims(json!({"realm_access": {"roles": roles}}));
        claims.as_object_mut().unwrap().remove("role");
        rsa.sign(&claims)
    };

    let admin = with_roles(json!(["offline_access", "admin", "default-roles-support"]));
    assert_eq!(status(&app, DEAD_LETTERS, &admin).await, 200);
    let agent = with_roles(json!(["uma_authorization", "agent"]));
    assert_eq!(status(&app, TICKETS, &agent).await, 200);
    assert_eq!(status(&app, DEAD_LETTERS, &agent).await, 403);

    // Two supportd roles are refused, not guessed between.
    let detail = unauthorized(&app, &with_roles(json!(["agent", "admin"]))).await;
    assert!(detail.contains("several roles (agent, admin)"), "{detail}");
    let detail = unauthorized(&app, &with_roles(json!(["offline_access"]))).await;
    assert!(detail.contains("/realm_access/roles"), "{detail}");
}

#[sqlx::test(migrations = "../migrations")]
async fn an_auth0_namespaced_claim_names_the_customer_account(pool: PgPool) {
    let (rsa, _) = Signer::rsa("auth0");
    let provider = Provider::serve(&[&rsa]).await;
    let app = spawn(pool, &provider.url, |p| {
        p.role_claim = "/https:~1~1example.com~1roles".to_owned();
        p.customer_claim = "/https:~1~1example.com~1customer_id".to_owned();
    })
    .await;
    let customer = rsa.sign(&claims(json!({
        "sub": "auth0|64f0c0ffee",
        "https://example.com/roles": ["customer"],
        "https://example.com/customer_id": "acme-corp",
    })));

    let opened = app
        .post(TICKETS, &customer, ticket_body("Login fails", "acme-corp"))
        .await;
    assert_eq!(opened.status(), 201, "{}", opened.text().await.unwrap());
    let as_sub = app
        .post(
            TICKETS,
            &customer,
            ticket_body("Login fails", "auth0|64f0c0ffee"),
        )
        .await;
    assert_eq!(as_sub.status(), 403);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_jwks_file_and_an_explicit_secret_take_both_kinds_of_token(pool: PgPool) {
    let ed = Signer::eddsa("ed-1");
    let path = std::env::temp_dir().join(format!("supportd-jwks-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&path, json!({ "keys": [ed.jwk] }).to_string()).unwrap();
    // SUPPORTD_JWT_SECRET set: supportd's own HS256 tokens stay valid beside the provider's.
    let app = spawn_app_with(pool, |settings| {
        settings.identity_provider = Some(IdentityProvider {
            jwks: format!("file://{}", path.display()).parse().unwrap(),
            issuer: ISSUER.to_owned(),
            audience: vec![AUDIENCE.to_owned()],
            role_claim: "/role".to_owned(),
            customer_claim: "/customerId".to_owned(),
            tier_claim: "/tier".to_owned(),
            teams_claim: "/teams".to_owned(),
            leeway: Duration::from_secs(60),
        });
    })
    .await;
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        status(&app, TICKETS, &ed.sign(&claims(json!({})))).await,
        200
    );
    assert_eq!(status(&app, TICKETS, &app.admin()).await, 200);
}
