//! Ed25519 through the runtime's WebCrypto, for the hot path.
//!
//! DESIGN §8 measured Ed25519 in wasm (ed25519-compact) at ≈ 330 µs per verify
//! and ≈ 96 µs per sign, against ≈ 61 µs and ≈ 20 µs through workerd's
//! WebCrypto; BENCHMARKS.md re-measures it on the check path. core's
//! ed25519-compact stays the reference: every directive signed here is verified
//! by the agent and the CLI with it, and every device signature verified here
//! was made with it, so the two implementations are cross-checked end to end.

use crate::reply::Problem;
use updraft_core::dsse::{pae, Envelope};
use updraft_core::root::SignedDocument;
use updraft_core::{PublicKey, SigningKey};
use web_sys::{CryptoKey, SubtleCrypto};
use worker::js_sys::{Array, Object, Reflect, Uint8Array};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;

fn crypto_error(what: &str, e: &JsValue) -> Problem {
    Problem::internal(format!("WebCrypto {what} failed: {}", e.as_string().unwrap_or_else(|| format!("{e:?}"))))
}

fn subtle() -> Result<SubtleCrypto, Problem> {
    let crypto = Reflect::get(&worker::js_sys::global(), &"crypto".into()).map_err(|e| crypto_error("lookup", &e))?;
    Ok(crypto.unchecked_into::<web_sys::Crypto>().subtle())
}

fn ed25519() -> Object {
    let algorithm = Object::new();
    // Setting a property on a fresh plain object cannot fail.
    let _ = Reflect::set(&algorithm, &"name".into(), &"Ed25519".into());
    algorithm
}

fn usages(usage: &str) -> JsValue {
    Array::of1(&usage.into()).into()
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn import(format: &str, data: &Object, usage: &str) -> Result<CryptoKey, Problem> {
    let promise =
        subtle()?.import_key_with_object(format, data, &ed25519(), false, &usages(usage)).map_err(|e| crypto_error("importKey", &e))?;
    let key = JsFuture::from(promise).await.map_err(|e| crypto_error("importKey", &e))?;
    Ok(key.unchecked_into())
}

/// A device (or any) public key, ready to verify.
pub async fn import_public(key: &PublicKey) -> Result<CryptoKey, Problem> {
    let raw: Object = Uint8Array::from(&key.as_bytes()[..]).into();
    import("raw", &raw, "verify").await
}

/// The edge signing key, ready to sign (imported as a JWK from its seed).
pub async fn import_signing(key: &SigningKey) -> Result<CryptoKey, Problem> {
    let jwk = Object::new();
    for (name, value) in
        [("kty", "OKP".to_string()), ("crv", "Ed25519".to_string()), ("d", b64url(&key.seed())), ("x", b64url(key.public_key().as_bytes()))]
    {
        let _ = Reflect::set(&jwk, &name.into(), &value.into());
    }
    import("jwk", &jwk, "sign").await
}

pub async fn verify(key: &CryptoKey, message: &[u8], signature: &[u8; 64]) -> Result<bool, Problem> {
    let promise = subtle()?
        .verify_with_object_and_u8_array_and_u8_array(&ed25519(), key, signature, message)
        .map_err(|e| crypto_error("verify", &e))?;
    Ok(JsFuture::from(promise).await.map_err(|e| crypto_error("verify", &e))?.as_bool().unwrap_or(false))
}

pub async fn sign(key: &CryptoKey, message: &[u8]) -> Result<[u8; 64], Problem> {
    let promise = subtle()?.sign_with_object_and_u8_array(&ed25519(), key, message).map_err(|e| crypto_error("sign", &e))?;
    let buffer = JsFuture::from(promise).await.map_err(|e| crypto_error("sign", &e))?;
    let bytes = Uint8Array::new(&buffer).to_vec();
    bytes.try_into().map_err(|_| Problem::internal("WebCrypto returned an Ed25519 signature that is not 64 bytes"))
}

/// The online edge key in both forms: core's (keyid, reference) and WebCrypto's.
pub struct EdgeSigner {
    pub key: std::rc::Rc<SigningKey>,
    pub crypto_key: CryptoKey,
}

impl EdgeSigner {
    /// Signs a document with WebCrypto into a DSSE envelope.
    pub async fn sign<T: SignedDocument>(&self, doc: &T) -> Result<Envelope, Problem> {
        let payload = doc.payload_bytes();
        let mut envelope = Envelope::unsigned(T::PAYLOAD_TYPE, &payload);
        let sig = sign(&self.crypto_key, &pae(T::PAYLOAD_TYPE, &payload)).await?;
        envelope.push_signature(self.key.keyid(), &sig);
        Ok(envelope)
    }
}
