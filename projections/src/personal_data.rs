//! Sealing personal data (crypto-shredding). Each aggregate that holds a person's data has a data
//! key of its own, kept in `data_keys` sealed with the master key and filed under the customer.
//! Personal fields are stored as `{"sealed": "<base64>"}` in the event store and on the bus; the
//! service opens them when it reads events. Destroying a data key erases those fields from every
//! copy of every event at once: they then read as `ERASED`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use support_domain::{RecordedEvent, ERASED, SECRET, SECRET_FIELDS};

use crate::ProjectionError;

/// The key under which a sealed field's ciphertext sits.
const SEALED: &str = "sealed";
/// XChaCha20-Poly1305's nonce: 24 random bytes, safe to draw at random for every seal.
const NONCE_BYTES: usize = 24;

/// The key that seals every data key. Losing it loses every sealed field; see docs/privacy.md.
#[derive(Clone)]
pub struct MasterKey(Key);

impl MasterKey {
    /// From `SUPPORTD_MASTER_KEY`: 32 bytes in standard base64.
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let bytes = BASE64
            .decode(text.trim())
            .map_err(|e| format!("SUPPORTD_MASTER_KEY is not base64: {e}"))?;
        if bytes.len() != 32 {
            return Err(format!(
                "SUPPORTD_MASTER_KEY must be 32 bytes in base64, not {}",
                bytes.len()
            ));
        }
        Ok(Self(*Key::from_slice(&bytes)))
    }

    /// A key anyone can derive: for development and tests only.
    pub fn development() -> Self {
        Self(Key::from(<[u8; 32]>::from(Sha256::digest(
            b"supportd development master key: never use in production",
        ))))
    }

    /// A fresh random key, as `supportd master-key` prints it.
    pub fn generate_base64() -> String {
        BASE64.encode(XChaCha20Poly1305::generate_key(&mut OsRng))
    }
}

/// Why a sealed field or data key could not be opened although its key exists: the wrong master
/// key, or a stored value that was changed. Never read as an erasure.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unopenable(String);

/// One aggregate's data key, open.
#[derive(Clone)]
pub struct DataKey(XChaCha20Poly1305);

/// A new aggregate's data key, and its sealed form for `data_keys`.
pub struct NewDataKey {
    pub key: DataKey,
    pub sealed: Vec<u8>,
}

/// The master key and what it does with data keys. Cheap to clone.
#[derive(Clone)]
pub struct DataKeys {
    master: Arc<XChaCha20Poly1305>,
}

impl DataKeys {
    pub fn new(master: &MasterKey) -> Self {
        Self {
            master: Arc::new(XChaCha20Poly1305::new(&master.0)),
        }
    }

    /// A random key for a new aggregate, sealed to it: a sealed key copied to another aggregate's
    /// row does not open.
    pub fn generate(&self, aggregate_type: &str, aggregate_id: &str) -> NewDataKey {
        let key = XChaCha20Poly1305::generate_key(&mut OsRng);
        let sealed = seal(
            &self.master,
            key.as_slice(),
            key_binding(aggregate_type, aggregate_id).as_bytes(),
        );
        NewDataKey {
            key: DataKey(XChaCha20Poly1305::new(&key)),
            sealed,
        }
    }

    pub fn unseal(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        sealed: &[u8],
    ) -> Result<DataKey, Unopenable> {
        let key = open(
            &self.master,
            sealed,
            key_binding(aggregate_type, aggregate_id).as_bytes(),
        )
        .map_err(|_| {
            Unopenable(format!(
                "the data key of {aggregate_type} {aggregate_id} does not open with this \
                 SUPPORTD_MASTER_KEY"
            ))
        })?;
        Ok(DataKey(XChaCha20Poly1305::new(Key::from_slice(&key))))
    }

    /// The open data keys of the given aggregates that still have one, in one statement, by
    /// aggregate type and id.
    pub async fn load(
        &self,
        conn: &mut PgConnection,
        aggregates: &[(&str, &str)],
    ) -> Result<OpenKeys, ProjectionError> {
        let (types, ids): (Vec<&str>, Vec<&str>) = aggregates.iter().copied().unzip();
        let rows: Vec<(String, String, Vec<u8>)> = sqlx::query_as(
            "SELECT k.aggregate_type, k.aggregate_id, k.sealed_key \
             FROM unnest($1::text[], $2::text[]) AS wanted(aggregate_type, aggregate_id) \
             JOIN data_keys k USING (aggregate_type, aggregate_id)",
        )
        .bind(&types)
        .bind(&ids)
        .fetch_all(conn)
        .await?;
        let mut keys = OpenKeys::default();
        for (aggregate_type, aggregate_id, sealed) in rows {
            keys.add(self, aggregate_type, aggregate_id, &sealed)?;
        }
        Ok(keys)
    }

    /// The keys of the aggregates whose events hold sealed fields, in one statement; none if no
    /// event holds a sealed field.
    async fn keys_for<'e>(
        &self,
        conn: &mut PgConnection,
        events: impl Iterator<Item = &'e RecordedEvent>,
    ) -> Result<Option<OpenKeys>, ProjectionError> {
        let mut sealed: Vec<(&str, &str)> = events
            .filter(|e| holds_sealed(&e.payload))
            .map(|e| (e.aggregate_type.as_str(), e.aggregate_id.as_str()))
            .collect();
        if sealed.is_empty() {
            return Ok(None);
        }
        sealed.sort_unstable();
        sealed.dedup();
        // An aggregate without a key (erased) reads as `ERASED` when opened.
        Ok(Some(self.load(conn, &sealed).await?))
    }

    /// `events` with their personal fields open, or `ERASED` where the key is gone, and their
    /// secrets (`SECRET_FIELDS`) as `SECRET`. Events without a sealed field are passed through;
    /// the others are copied once, opened.
    pub async fn open_events<'e>(
        &self,
        conn: &mut PgConnection,
        events: &[&'e RecordedEvent],
    ) -> Result<Vec<Cow<'e, RecordedEvent>>, ProjectionError> {
        let Some(keys) = self.keys_for(conn, events.iter().copied()).await? else {
            return Ok(events.iter().map(|e| Cow::Borrowed(*e)).collect());
        };
        events
            .iter()
            .map(|event| {
                if !holds_sealed(&event.payload) {
                    return Ok(Cow::Borrowed(*event));
                }
                let mut opened = (*event).clone();
                keys.open(&mut opened, Secrets::Hidden)?;
                Ok(Cow::Owned(opened))
            })
            .collect()
    }

    /// As `open_events`, opening owned events where they are.
    pub async fn open_all(
        &self,
        conn: &mut PgConnection,
        events: Vec<RecordedEvent>,
    ) -> Result<Vec<RecordedEvent>, ProjectionError> {
        self.open_owned(conn, events, Secrets::Hidden).await
    }

    /// As `open_all`, and the secrets (`SECRET_FIELDS`) open too: only for the code that uses
    /// them, never for what is shown or projected.
    pub async fn open_with_secrets(
        &self,
        conn: &mut PgConnection,
        events: Vec<RecordedEvent>,
    ) -> Result<Vec<RecordedEvent>, ProjectionError> {
        self.open_owned(conn, events, Secrets::Open).await
    }

    async fn open_owned(
        &self,
        conn: &mut PgConnection,
        mut events: Vec<RecordedEvent>,
        secrets: Secrets,
    ) -> Result<Vec<RecordedEvent>, ProjectionError> {
        if let Some(keys) = self.keys_for(conn, events.iter()).await? {
            for event in &mut events {
                keys.open(event, secrets)?;
            }
        }
        Ok(events)
    }
}

/// Whether opening an event opens its secret fields too, or shows them as `SECRET`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Secrets {
    Open,
    Hidden,
}

/// Data keys, open, by aggregate type and id, of the aggregates that have one.
#[derive(Default)]
pub struct OpenKeys(HashMap<String, HashMap<String, DataKey>>);

impl OpenKeys {
    pub fn get(&self, aggregate_type: &str, aggregate_id: &str) -> Option<&DataKey> {
        self.0.get(aggregate_type)?.get(aggregate_id)
    }

    fn add(
        &mut self,
        keys: &DataKeys,
        aggregate_type: String,
        aggregate_id: String,
        sealed: &[u8],
    ) -> Result<(), ProjectionError> {
        let key = keys
            .unseal(&aggregate_type, &aggregate_id, sealed)
            .map_err(|e| ProjectionError::undecodable(&aggregate_id, e))?;
        self.0
            .entry(aggregate_type)
            .or_default()
            .insert(aggregate_id, key);
        Ok(())
    }

    /// Opens the event's sealed fields in place, as `ERASED` where its key is gone.
    fn open(&self, event: &mut RecordedEvent, secrets: Secrets) -> Result<(), ProjectionError> {
        if !holds_sealed(&event.payload) {
            return Ok(());
        }
        if secrets == Secrets::Hidden {
            for (event_type, pointer) in SECRET_FIELDS {
                if event.event_type == *event_type {
                    if let Some(field) = event.payload.pointer_mut(pointer) {
                        *field = Value::String(SECRET.to_owned());
                    }
                }
            }
        }
        let key = self.get(&event.aggregate_type, &event.aggregate_id);
        let binding = field_binding(&event.aggregate_type, &event.aggregate_id);
        let mut payload = std::mem::take(&mut event.payload);
        let opened = open_fields(key, &binding, &mut payload);
        event.payload = payload;
        opened.map_err(|e| ProjectionError::undecodable_event(event, e))
    }
}

impl DataKey {
    /// Seals the text at each of `pointers` in `payload` (an event's own fields); absent and null
    /// fields are left alone.
    pub fn seal_fields(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        payload: &mut Value,
        pointers: &[&str],
    ) {
        let binding = field_binding(aggregate_type, aggregate_id);
        for pointer in pointers {
            if let Some(field) = payload.pointer_mut(pointer) {
                if let Value::String(text) = field {
                    let aad = format!("{binding}{pointer}");
                    let sealed = seal(&self.0, text.as_bytes(), aad.as_bytes());
                    *field = serde_json::json!({ SEALED: BASE64.encode(sealed) });
                }
            }
        }
    }
}

/// Opens every sealed field of `payload` in place; with no key, each reads as `ERASED`.
pub fn open_fields(
    key: Option<&DataKey>,
    binding: &str,
    payload: &mut Value,
) -> Result<(), Unopenable> {
    walk(key, binding, &mut String::new(), payload)
}

fn walk(
    key: Option<&DataKey>,
    binding: &str,
    pointer: &mut String,
    value: &mut Value,
) -> Result<(), Unopenable> {
    if let Some(ciphertext) = sealed_text(value) {
        let text = match key {
            None => ERASED.to_owned(),
            Some(key) => {
                let bytes = BASE64
                    .decode(ciphertext)
                    .map_err(|_| Unopenable(format!("the sealed field {pointer} is not base64")))?;
                let aad = format!("{binding}{pointer}");
                let clear = open(&key.0, &bytes, aad.as_bytes())
                    .map_err(|_| Unopenable(format!("the sealed field {pointer} does not open")))?;
                String::from_utf8(clear)
                    .map_err(|_| Unopenable(format!("the sealed field {pointer} is not text")))?
            }
        };
        *value = Value::String(text);
        return Ok(());
    }
    match value {
        Value::Object(fields) => {
            for (name, field) in fields.iter_mut() {
                let length = pointer.len();
                pointer.push('/');
                // JSON pointer escaping (RFC 6901), so that the binding matches `seal_fields`.
                pointer.push_str(&name.replace('~', "~0").replace('/', "~1"));
                walk(key, binding, pointer, field)?;
                pointer.truncate(length);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                let length = pointer.len();
                pointer.push_str(&format!("/{index}"));
                walk(key, binding, pointer, item)?;
                pointer.truncate(length);
            }
        }
        _ => {}
    }
    Ok(())
}

/// The ciphertext of a sealed field: an object with `sealed` and nothing else.
fn sealed_text(value: &Value) -> Option<&str> {
    match value {
        Value::Object(fields) if fields.len() == 1 => fields.get(SEALED)?.as_str(),
        _ => None,
    }
}

/// Whether any field of the payload is sealed: most events carry none and are not copied.
pub fn holds_sealed(value: &Value) -> bool {
    match value {
        Value::Object(fields) => sealed_text(value).is_some() || fields.values().any(holds_sealed),
        Value::Array(items) => items.iter().any(holds_sealed),
        _ => false,
    }
}

/// What a data key's seal is bound to: its aggregate.
fn key_binding(aggregate_type: &str, aggregate_id: &str) -> String {
    format!("data-key:{aggregate_type}:{aggregate_id}")
}

/// What a field's seal is bound to: its aggregate, then (appended) its place in the payload, so
/// a sealed value moved to another field or aggregate does not open.
pub fn field_binding(aggregate_type: &str, aggregate_id: &str) -> String {
    format!("field:{aggregate_type}:{aggregate_id}:")
}

/// The nonce, then the ciphertext with its tag.
fn seal(cipher: &XChaCha20Poly1305, clear: &[u8], aad: &[u8]) -> Vec<u8> {
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let ciphertext = cipher
        .encrypt(&nonce, Payload { msg: clear, aad })
        .expect("XChaCha20-Poly1305 seals any message that fits in memory");
    let mut sealed = Vec::with_capacity(NONCE_BYTES + ciphertext.len());
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&ciphertext);
    sealed
}

fn open(cipher: &XChaCha20Poly1305, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, ()> {
    if sealed.len() < NONCE_BYTES {
        return Err(());
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
    cipher
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sealed_fields_open_with_their_key_and_read_as_erased_without_it() {
        let keys = DataKeys::new(&MasterKey::development());
        let new = keys.generate("ticket", "t-1");
        let mut payload = json!({
            "title": "Jo cannot log in",
            "customer": {"id": "c-1", "name": "Jo Doe", "email": null},
            "priority": "P1_HIGH",
        });
        let clear = payload.clone();
        new.key.seal_fields(
            "ticket",
            "t-1",
            &mut payload,
            &["/title", "/customer/name", "/customer/email", "/absent"],
        );
        let stored = payload.to_string();
        // The clear texts, not a fragment: base64 ciphertext may spell "Jo" by chance.
        for clear_text in ["Jo cannot log in", "Jo Doe"] {
            assert!(!stored.contains(clear_text), "{stored}");
        }
        assert_eq!(payload["customer"]["email"], Value::Null);
        assert_eq!(payload["priority"], "P1_HIGH");
        assert!(holds_sealed(&payload));

        let key = keys.unseal("ticket", "t-1", &new.sealed).unwrap();
        let mut opened = payload.clone();
        open_fields(Some(&key), &field_binding("ticket", "t-1"), &mut opened).unwrap();
        assert_eq!(opened, clear);

        let mut erased = payload.clone();
        open_fields(None, &field_binding("ticket", "t-1"), &mut erased).unwrap();
        assert_eq!(erased["title"], ERASED);
        assert_eq!(erased["customer"]["name"], ERASED);
        assert_eq!(erased["customer"]["id"], "c-1");
    }

    #[test]
    fn a_key_or_field_moved_elsewhere_or_a_wrong_master_key_does_not_open() {
        let keys = DataKeys::new(&MasterKey::development());
        let new = keys.generate("ticket", "t-1");
        assert!(keys.unseal("ticket", "t-2", &new.sealed).is_err());
        let other = DataKeys::new(&MasterKey::from_base64(&MasterKey::generate_base64()).unwrap());
        assert!(other.unseal("ticket", "t-1", &new.sealed).is_err());

        let mut payload = json!({"title": "Jo", "description": "Doe"});
        new.key
            .seal_fields("ticket", "t-1", &mut payload, &["/title", "/description"]);
        let swapped = json!({"title": payload["description"], "description": payload["title"]});
        let key = keys.unseal("ticket", "t-1", &new.sealed).unwrap();
        assert!(open_fields(
            Some(&key),
            &field_binding("ticket", "t-1"),
            &mut swapped.clone()
        )
        .is_err());
        assert!(open_fields(Some(&key), &field_binding("ticket", "t-2"), &mut payload).is_err());
    }

    #[test]
    fn master_keys_are_32_bytes_of_base64() {
        assert!(MasterKey::from_base64(&MasterKey::generate_base64()).is_ok());
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
        assert!(MasterKey::from_base64("not base64!").is_err());
    }
}
