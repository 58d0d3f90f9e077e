//! The identity provider's public keys (a JWKS), read from a file or fetched over HTTP, cached, and
//! refreshed every ten minutes and when a token names a key id the cache does not know.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use reqwest::Url;
use serde::Deserialize;

/// How often the key set is fetched again, so that a key the provider withdrew stops working.
const REFRESH_EVERY: Duration = Duration::from_secs(600);
/// How soon a failed periodic fetch is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(30);
/// Tokens with unknown key ids fetch the set at most this often, so that nobody can make us
/// hammer the provider by sending made-up key ids.
const ON_DEMAND_AT_MOST_EVERY: Duration = Duration::from_secs(30);

/// Where the key set is: `file:///etc/supportd/jwks.json` or `https://idp.example.com/certs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    File(PathBuf),
    Http(Url),
}

impl std::str::FromStr for JwksSource {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        let url = Url::parse(value).map_err(|e| format!("{value:?} is not a URL: {e}"))?;
        match url.scheme() {
            "http" | "https" => Ok(JwksSource::Http(url)),
            "file" => url
                .to_file_path()
                .map(JwksSource::File)
                .map_err(|()| format!("{value:?} is not an absolute file:// path")),
            other => Err(format!(
                "{value:?} has the scheme {other:?}: use file://, http:// or https://"
            )),
        }
    }
}

impl std::fmt::Display for JwksSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwksSource::File(path) => write!(f, "file://{}", path.display()),
            JwksSource::Http(url) => write!(f, "{url}"),
        }
    }
}

/// One signing key and the algorithms it may verify. The algorithms come from the key (its `alg`,
/// else its type and curve), never from a token, so a token cannot pick how it is checked.
#[derive(Clone)]
struct Key {
    kid: Option<String>,
    algorithms: Vec<Algorithm>,
    decoding: DecodingKey,
}

impl Key {
    /// `Ok(None)` for keys that are not for signatures (an encryption key beside the signing key,
    /// as Keycloak publishes); an error for signing keys supportd cannot use.
    fn from_jwk(raw: serde_json::Value) -> Result<Option<Self>, String> {
        let jwk: Jwk = serde_json::from_value(raw).map_err(|e| format!("unreadable key: {e}"))?;
        let kid = jwk.common.key_id.clone();
        let named = |why: &str| format!("key {:?}: {why}", kid.as_deref().unwrap_or("(no kid)"));
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            return Ok(None);
        }
        let algorithms = match (jwk.common.key_algorithm, &jwk.algorithm) {
            (
                Some(KeyAlgorithm::RSA1_5 | KeyAlgorithm::RSA_OAEP | KeyAlgorithm::RSA_OAEP_256),
                _,
            ) => return Ok(None),
            (_, AlgorithmParameters::OctetKey(_)) => {
                return Err(named(
                    "a symmetric (oct) key has no place in a public key set",
                ))
            }
            (Some(alg), params) => {
                let alg = signing_algorithm(alg).ok_or_else(|| named("unsupported alg"))?;
                if !family_algorithms(params).contains(&alg) {
                    return Err(named("its alg does not fit its key type"));
                }
                vec![alg]
            }
            (None, params) => family_algorithms(params),
        };
        if algorithms.is_empty() {
            return Err(named("unsupported key type or curve"));
        }
        let decoding = DecodingKey::from_jwk(&jwk).map_err(|e| named(&e.to_string()))?;
        Ok(Some(Key {
            kid,
            algorithms,
            decoding,
        }))
    }
}

fn signing_algorithm(alg: KeyAlgorithm) -> Option<Algorithm> {
    Some(match alg {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

/// What a key without `alg` (as Azure AD publishes them) may verify, by its type and curve.
fn family_algorithms(params: &AlgorithmParameters) -> Vec<Algorithm> {
    use Algorithm::*;
    match params {
        AlgorithmParameters::RSA(_) => vec![RS256, RS384, RS512, PS256, PS384, PS512],
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => vec![ES256],
            EllipticCurve::P384 => vec![ES384],
            _ => vec![],
        },
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            vec![EdDSA]
        }
        _ => vec![],
    }
}

/// Parses a JWKS document, keeping the keys supportd can verify signatures with.
fn parse(body: &[u8]) -> anyhow::Result<Vec<Key>> {
    #[derive(Deserialize)]
    struct RawSet {
        keys: Vec<serde_json::Value>,
    }
    let set: RawSet =
        serde_json::from_slice(body).context("the key set is not a JWKS ({\"keys\": [...]})")?;
    let keys: Vec<Key> = set
        .keys
        .into_iter()
        .filter_map(|raw| match Key::from_jwk(raw) {
            Ok(key) => key,
            Err(why) => {
                tracing::warn!(%why, "skipping a key of the JWKS");
                None
            }
        })
        .collect();
    anyhow::ensure!(
        !keys.is_empty(),
        "the JWKS has no signing key supportd can use (RSA, EC P-256 or P-384, Ed25519)"
    );
    Ok(keys)
}

/// The cached key set; clones share it.
#[derive(Clone)]
pub struct Jwks(Arc<Inner>);

struct Inner {
    source: JwksSource,
    http: reqwest::Client,
    keys: RwLock<Arc<Vec<Key>>>,
    /// When a token's unknown key id last made us fetch; held during that fetch, so concurrent
    /// requests with the same new key id wait for it instead of fetching again.
    last_on_demand: tokio::sync::Mutex<Option<Instant>>,
}

impl Jwks {
    /// An empty cache: `refresh` fills it.
    pub fn new(source: JwksSource) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("the HTTP client's TLS backend is built in");
        Self(Arc::new(Inner {
            source,
            http,
            keys: RwLock::new(Arc::new(Vec::new())),
            last_on_demand: tokio::sync::Mutex::new(None),
        }))
    }

    /// Fetches the key set and replaces the cache with it; on failure the cache is kept.
    pub async fn refresh(&self) -> anyhow::Result<()> {
        let source = &self.0.source;
        let keys = self
            .fetch()
            .await
            .with_context(|| format!("reading the JWKS at {source}"))?;
        tracing::info!(keys = keys.len(), %source, "identity provider keys loaded");
        *self
            .0
            .keys
            .write()
            .expect("the key cache is never poisoned") = Arc::new(keys);
        Ok(())
    }

    async fn fetch(&self) -> anyhow::Result<Vec<Key>> {
        let body = match &self.0.source {
            JwksSource::File(path) => tokio::fs::read(path).await?,
            JwksSource::Http(url) => self
                .0
                .http
                .get(url.clone())
                .send()
                .await?
                .error_for_status()?
                .bytes()
                .await?
                .to_vec(),
        };
        parse(&body)
    }

    /// Refreshes the cache for as long as the process runs.
    pub async fn refresh_periodically(self) {
        let mut wait = REFRESH_EVERY;
        loop {
            tokio::time::sleep(wait).await;
            wait = match self.refresh().await {
                Ok(()) => REFRESH_EVERY,
                Err(error) => {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "refreshing the JWKS failed; the keys in hand stay"
                    );
                    RETRY_AFTER
                }
            };
        }
    }

    /// The keys that may have signed a token with this key id and algorithm. A key id the cache
    /// does not know fetches the set once first (at most once per 30 s, whatever the key id).
    pub async fn keys_for(&self, kid: Option<&str>, alg: Algorithm) -> Vec<DecodingKey> {
        let found = self.matching(kid, alg);
        if !found.is_empty() || kid.is_none() {
            return found;
        }
        let mut last = self.0.last_on_demand.lock().await;
        if last.is_some_and(|at| at.elapsed() < ON_DEMAND_AT_MOST_EVERY) {
            // Another request may have fetched the set while this one waited for the lock.
            return self.matching(kid, alg);
        }
        *last = Some(Instant::now());
        if let Err(error) = self.refresh().await {
            tracing::warn!(
                error = format!("{error:#}"),
                "fetching the JWKS for an unknown key id failed"
            );
        }
        self.matching(kid, alg)
    }

    fn matching(&self, kid: Option<&str>, alg: Algorithm) -> Vec<DecodingKey> {
        let keys = self
            .0
            .keys
            .read()
            .expect("the key cache is never poisoned")
            .clone();
        keys.iter()
            .filter(|key| key.algorithms.contains(&alg))
            .filter(|key| kid.is_none_or(|kid| key.kid.as_deref() == Some(kid)))
            .map(|key| key.decoding.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rsa(extra: serde_json::Value) -> serde_json::Value {
        let mut key = json!({"kty": "RSA", "kid": "r", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB"});
        key.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        key
    }

    fn algorithms(raw: serde_json::Value) -> Result<Option<Vec<Algorithm>>, String> {
        Key::from_jwk(raw).map(|key| key.map(|key| key.algorithms))
    }

    #[test]
    fn a_key_verifies_only_what_its_alg_or_type_allows() {
        assert_eq!(
            algorithms(rsa(json!({"alg": "RS256"}))),
            Ok(Some(vec![Algorithm::RS256]))
        );
        assert_eq!(
            algorithms(rsa(json!({}))).unwrap().unwrap().len(),
            6,
            "an RSA key without alg verifies the RSA signatures"
        );
        assert!(algorithms(rsa(json!({"alg": "ES256"}))).is_err());
        assert!(algorithms(rsa(json!({"alg": "HS256"}))).is_err());
        assert!(algorithms(json!({"kty": "oct", "kid": "s", "k": "c2VjcmV0"})).is_err());
    }

    #[test]
    fn encryption_keys_are_left_aside() {
        assert_eq!(algorithms(rsa(json!({"use": "enc"}))), Ok(None));
        assert_eq!(algorithms(rsa(json!({"alg": "RSA-OAEP"}))), Ok(None));
        assert!(parse(
            json!({"keys": [rsa(json!({"use": "enc"}))]})
                .to_string()
                .as_bytes()
        )
        .is_err());
    }

    #[test]
    fn sources_are_files_or_http() {
        assert_eq!(
            "file:///etc/supportd/jwks.json".parse(),
            Ok(JwksSource::File("/etc/supportd/jwks.json".into()))
        );
        assert!(matches!(
            "https://idp.example.com/certs".parse(),
            Ok(JwksSource::Http(_))
        ));
        assert!("ftp://idp.example.com/certs"
            .parse::<JwksSource>()
            .unwrap_err()
            .contains("file://, http:// or https://"));
        assert!("/etc/supportd/jwks.json".parse::<JwksSource>().is_err());
    }
}
