//! Ed25519 keys and key identifiers.
//!
//! A [`KeyId`] is the lowercase hex SHA-256 of the raw 32-byte public key, so
//! anyone can recompute it and two spellings of one key cannot count twice
//! toward a threshold. Key generation takes a caller-supplied 32-byte seed:
//! core has no entropy source (callers use the OS RNG).

use crate::{Error, Sha256};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// The one signature algorithm Updraft accepts.
pub const ED25519: &str = "ed25519";

/// Lowercase hex SHA-256 of a raw public key.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct KeyId(String);

impl KeyId {
    pub fn of(public: &[u8; 32]) -> Self {
        KeyId(Sha256::digest(public).to_hex())
    }

    pub fn parse(s: &str) -> Result<Self, Error> {
        Sha256::parse_hex(s).map(|d| KeyId(d.to_hex())).map_err(|_| Error::field("keyid", "must be 64 lowercase hex characters"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        KeyId::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A verified-shape Ed25519 public key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    raw: [u8; 32],
    id: KeyId,
}

impl PublicKey {
    pub fn from_bytes(raw: [u8; 32]) -> Self {
        PublicKey { id: KeyId::of(&raw), raw }
    }

    /// Parses a base64 public key as found in roots and certificates.
    pub fn from_base64(b64: &str) -> Result<Self, Error> {
        let bytes = B64.decode(b64).map_err(|_| Error::InvalidBase64 { field: "public" })?;
        let raw: [u8; 32] = bytes
            .try_into()
            .map_err(|v: Vec<u8>| Error::field("public", format!("Ed25519 public key must be 32 bytes, got {}", v.len())))?;
        Ok(PublicKey::from_bytes(raw))
    }

    pub fn keyid(&self) -> &KeyId {
        &self.id
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.raw
    }

    pub fn to_base64(&self) -> String {
        B64.encode(self.raw)
    }

    /// Verifies a detached Ed25519 signature (RFC 8032, strict).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(pk) = ed25519_compact::PublicKey::from_slice(&self.raw) else {
            return false;
        };
        let Ok(sig) = ed25519_compact::Signature::from_slice(signature) else {
            return false;
        };
        pk.verify(message, &sig).is_ok()
    }

    /// The `{"alg","public"}` entry of a root's key table.
    pub fn to_entry(&self) -> KeyEntry {
        KeyEntry { alg: ED25519.to_owned(), public: self.to_base64() }
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.id)
    }
}

/// An entry of a root's key table as written on the wire. The algorithm stays a
/// string here so an unknown one can be reported by name and refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    pub alg: String,
    pub public: String,
}

impl KeyEntry {
    /// Resolves the entry to a usable key, checking that its keyid matches.
    pub fn to_public_key(&self, keyid: &KeyId) -> Result<PublicKey, Error> {
        if self.alg != ED25519 {
            return Err(Error::UnknownAlgorithm { keyid: keyid.to_string(), alg: self.alg.clone() });
        }
        let pk = PublicKey::from_base64(&self.public).map_err(|e| Error::InvalidKey { keyid: keyid.to_string(), detail: e.to_string() })?;
        if pk.keyid() != keyid {
            return Err(Error::InvalidKey {
                keyid: keyid.to_string(),
                detail: format!("keyid does not match the key (its SHA-256 is {})", pk.keyid()),
            });
        }
        Ok(pk)
    }
}

/// An Ed25519 signing key, derived from a 32-byte seed.
pub struct SigningKey {
    keypair: ed25519_compact::KeyPair,
    public: PublicKey,
}

impl SigningKey {
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let keypair = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(seed));
        let public = PublicKey::from_bytes(*keypair.pk);
        SigningKey { keypair, public }
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    pub fn keyid(&self) -> &KeyId {
        self.public.keyid()
    }

    /// Deterministic Ed25519 signature (RFC 8032): no randomness needed.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        *self.keypair.sk.sign(message, None)
    }

    pub fn seed(&self) -> [u8; 32] {
        *self.keypair.sk.seed()
    }
}

impl fmt::Debug for SigningKey {
    // Never print secret material, even in debug output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, secret redacted)", self.public.keyid())
    }
}

/// On-disk form of a private key (written 0600 by the CLI and the agent).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningKeyFile {
    pub alg: String,
    pub keyid: KeyId,
    pub public: String,
    /// Base64 of the 32-byte Ed25519 seed.
    pub seed: String,
}

impl fmt::Debug for SigningKeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKeyFile({}, secret redacted)", self.keyid)
    }
}

impl SigningKeyFile {
    pub fn from_key(key: &SigningKey) -> Self {
        SigningKeyFile {
            alg: ED25519.to_owned(),
            keyid: key.keyid().clone(),
            public: key.public_key().to_base64(),
            seed: B64.encode(key.seed()),
        }
    }

    /// Rebuilds the key and checks that the stored public half and keyid match it.
    pub fn to_key(&self) -> Result<SigningKey, Error> {
        if self.alg != ED25519 {
            return Err(Error::UnknownAlgorithm { keyid: self.keyid.to_string(), alg: self.alg.clone() });
        }
        let seed = B64.decode(&self.seed).map_err(|_| Error::InvalidBase64 { field: "seed" })?;
        let seed: [u8; 32] = seed.try_into().map_err(|_| Error::field("seed", "Ed25519 seed must be 32 bytes"))?;
        let key = SigningKey::from_seed(seed);
        if key.keyid() != &self.keyid || key.public_key().to_base64() != self.public {
            return Err(Error::InvalidKey {
                keyid: self.keyid.to_string(),
                detail: "private key file is inconsistent: its public key or keyid does not match the seed".into(),
            });
        }
        Ok(key)
    }
}

/// On-disk / wire form of a public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicKeyFile {
    pub alg: String,
    pub keyid: KeyId,
    pub public: String,
}

impl PublicKeyFile {
    pub fn from_key(key: &PublicKey) -> Self {
        PublicKeyFile { alg: ED25519.to_owned(), keyid: key.keyid().clone(), public: key.to_base64() }
    }

    pub fn to_key(&self) -> Result<PublicKey, Error> {
        KeyEntry { alg: self.alg.clone(), public: self.public.clone() }.to_public_key(&self.keyid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8032_test_vector_1_signs_and_verifies() {
        // RFC 8032 §7.1, TEST 1 (empty message).
        let seed: [u8; 32] = hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60").unwrap().try_into().unwrap();
        let key = SigningKey::from_seed(seed);
        assert_eq!(hex::encode(key.public_key().as_bytes()), "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
        let sig = key.sign(b"");
        assert_eq!(
            hex::encode(sig),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
        assert!(key.public_key().verify(b"", &sig));
        assert!(!key.public_key().verify(b"x", &sig));
    }

    #[test]
    fn key_file_round_trips_and_detects_mismatched_halves() {
        let key = SigningKey::from_seed([7; 32]);
        let file = SigningKeyFile::from_key(&key);
        assert_eq!(file.to_key().unwrap().keyid(), key.keyid());
        let mut bad = file.clone();
        bad.public = SigningKey::from_seed([8; 32]).public_key().to_base64();
        assert!(matches!(bad.to_key(), Err(Error::InvalidKey { .. })));
        assert!(!format!("{file:?}").contains(&file.seed));
    }
}
