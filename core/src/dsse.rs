//! DSSE envelopes ("Dead Simple Signing Envelope", secure-systems-lab/dsse v1).
//!
//! Signatures cover `PAE(payloadType, payload)`:
//! `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, with LEN the ASCII
//! decimal byte length. The payload is carried as base64 of its exact bytes
//! and is only parsed after the signatures verified, so there is no
//! canonical-JSON problem: the verifier checks the bytes the signer signed.

use crate::keys::{KeyId, PublicKey, SigningKey};
use crate::{Error, Role, MAX_DOCUMENT_BYTES};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    pub keyid: KeyId,
    /// Base64 of the 64-byte Ed25519 signature.
    pub sig: String,
}

/// A DSSE envelope as it travels on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// Base64 of the exact payload bytes.
    pub payload: String,
    pub signatures: Vec<Signature>,
}

/// Pre-Authentication Encoding of DSSE v1.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload_type.len() + payload.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

impl Envelope {
    /// Parses an envelope from untrusted bytes, refusing oversized documents
    /// before any JSON parsing happens.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() > MAX_DOCUMENT_BYTES {
            return Err(Error::DocumentTooLarge { size: bytes.len(), max: MAX_DOCUMENT_BYTES });
        }
        serde_json::from_slice(bytes).map_err(|e| Error::Malformed { what: "envelope", detail: e.to_string() })
    }

    pub fn to_json(&self) -> String {
        // Serialising plain strings and vectors cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Wraps `payload` in a new envelope signed by each of `keys`.
    pub fn sign(payload_type: &str, payload: &[u8], keys: &[&SigningKey]) -> Self {
        let mut env = Envelope::unsigned(payload_type, payload);
        for key in keys {
            env.add_signature(key, payload);
        }
        env
    }

    /// An envelope without signatures, for a signer outside core (the worker
    /// signs [`pae`] with WebCrypto, DESIGN §8) to complete with
    /// [`Envelope::push_signature`].
    pub fn unsigned(payload_type: &str, payload: &[u8]) -> Self {
        Envelope { payload_type: payload_type.to_owned(), payload: B64.encode(payload), signatures: vec![] }
    }

    /// Adds (or replaces) a signature made elsewhere over `pae(payload_type, payload)`.
    pub fn push_signature(&mut self, keyid: &KeyId, sig: &[u8; 64]) {
        self.signatures.retain(|s| &s.keyid != keyid);
        self.signatures.push(Signature { keyid: keyid.clone(), sig: B64.encode(sig) });
    }

    /// Adds (or replaces) the signature of `key` over the envelope's payload.
    pub fn add_signature_checked(&mut self, key: &SigningKey) -> Result<(), Error> {
        let payload = self.unverified_payload()?;
        self.add_signature(key, &payload);
        Ok(())
    }

    fn add_signature(&mut self, key: &SigningKey, payload: &[u8]) {
        let sig = key.sign(&pae(&self.payload_type, payload));
        self.push_signature(key.keyid(), &sig);
    }

    /// The payload bytes, NOT verified. For display and for re-signing only.
    pub fn unverified_payload(&self) -> Result<Vec<u8>, Error> {
        B64.decode(&self.payload).map_err(|_| Error::InvalidBase64 { field: "payload" })
    }

    /// Parses the payload WITHOUT verifying it (for inspection and for
    /// bootstrapping a root's self-signature check).
    pub fn unverified_parse<T: DeserializeOwned>(&self, what: &'static str) -> Result<T, Error> {
        parse_payload(&self.unverified_payload()?, what)
    }

    /// The payload bytes and the distinct keyids of `allowed` whose signature
    /// over them verifies. Unknown keys, malformed and repeated signatures are
    /// skipped: each keyid counts once (DESIGN §2).
    pub fn valid_signers(&self, allowed: &BTreeMap<KeyId, PublicKey>) -> Result<(Vec<u8>, BTreeSet<KeyId>), Error> {
        let payload = self.unverified_payload()?;
        let message = pae(&self.payload_type, &payload);
        let mut valid = BTreeSet::new();
        for s in &self.signatures {
            if valid.contains(&s.keyid) {
                continue;
            }
            let Some(key) = allowed.get(&s.keyid) else { continue };
            let Ok(sig) = B64.decode(&s.sig) else { continue };
            if key.verify(&message, &sig) {
                valid.insert(s.keyid.clone());
            }
        }
        Ok((payload, valid))
    }

    /// Checks the payload type and that at least `threshold` distinct keys of
    /// `allowed` produced a valid signature; returns the verified payload bytes.
    pub fn verify_threshold(
        &self,
        expected_type: &'static str,
        role: Role,
        allowed: &BTreeMap<KeyId, PublicKey>,
        threshold: u32,
    ) -> Result<Vec<u8>, Error> {
        if self.payload_type != expected_type {
            return Err(Error::WrongPayloadType { expected: expected_type, found: self.payload_type.clone() });
        }
        let (payload, valid) = self.valid_signers(allowed)?;
        if threshold == 0 || valid.len() < threshold as usize {
            return Err(Error::ThresholdNotMet { role, valid: valid.len(), threshold });
        }
        Ok(payload)
    }
}

/// Parses verified payload bytes into a document type with a typed error.
pub(crate) fn parse_payload<T: DeserializeOwned>(bytes: &[u8], what: &'static str) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::Malformed { what, detail: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_dsse_spec_example() {
        // From the DSSE protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn re_signing_with_the_same_key_replaces_its_signature() {
        let k = SigningKey::from_seed([1; 32]);
        let mut env = Envelope::sign("t", b"p", &[&k]);
        env.add_signature_checked(&k).unwrap();
        assert_eq!(env.signatures.len(), 1);
    }
}
