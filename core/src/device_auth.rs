//! Stateless device request authentication (DESIGN §3).
//!
//! Every device request after enrollment carries
//! `Authorization: Updraft-Ed25519 cert=<b64 certificate envelope>, ts=<unix s>, sig=<b64>`
//! where `sig` is the device key's Ed25519 signature over
//! `method \n path \n ts \n hex(sha256(body))`. The edge checks the certificate
//! (signed by the edge key under the current root) and the request signature
//! without reading storage. Timestamps outside ±[`MAX_CLOCK_SKEW_S`] are refused.

use crate::device_cert::DeviceCertificate;
use crate::dsse::Envelope;
use crate::keys::SigningKey;
use crate::root::TrustedRoot;
use crate::{Error, Sha256, UnixTime};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

pub const SCHEME: &str = "Updraft-Ed25519";
/// Largest accepted difference between the device's clock and the edge's.
pub const MAX_CLOCK_SKEW_S: u64 = 300;
/// Longest Authorization header accepted (a certificate is ~700 bytes).
pub const MAX_HEADER_BYTES: usize = 8 * 1024;

/// The parameters of an `Authorization: Updraft-Ed25519 …` header, with the
/// certificate still in its base64 text. The edge keys its cache of verified
/// certificates on that exact text, so a warm request neither decodes nor
/// parses nor hashes the certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawAuthHeader<'a> {
    pub cert_b64: &'a str,
    pub ts: UnixTime,
    pub sig: [u8; 64],
}

impl<'a> RawAuthHeader<'a> {
    pub fn parse(value: &'a str) -> Result<Self, Error> {
        if value.len() > MAX_HEADER_BYTES {
            return Err(bad("Authorization header too long"));
        }
        let params = value
            .strip_prefix(SCHEME)
            .and_then(|rest| rest.strip_prefix(' '))
            .ok_or_else(|| bad(format!("expected the `{SCHEME}` scheme")))?;
        let (mut cert, mut ts, mut sig) = (None, None, None);
        for part in params.split(',') {
            let (name, val) = part.trim().split_once('=').ok_or_else(|| bad("parameters must be name=value"))?;
            let slot = match name {
                "cert" => &mut cert,
                "ts" => &mut ts,
                "sig" => &mut sig,
                _ => return Err(bad(format!("unknown parameter `{name}`"))),
            };
            if slot.replace(val).is_some() {
                return Err(bad(format!("parameter `{name}` repeated")));
            }
        }
        let (Some(cert_b64), Some(ts), Some(sig)) = (cert, ts, sig) else {
            return Err(bad("cert, ts and sig are all required"));
        };
        let ts = ts.parse::<u64>().map_err(|_| bad("ts must be unix seconds"))?;
        let sig: [u8; 64] =
            B64.decode(sig).ok().and_then(|v| v.try_into().ok()).ok_or_else(|| bad("sig must be a base64 64-byte Ed25519 signature"))?;
        Ok(RawAuthHeader { cert_b64, ts: UnixTime(ts), sig })
    }

    /// Decodes the certificate envelope (not yet verified).
    pub fn certificate(&self) -> Result<Envelope, Error> {
        let cert_json = B64.decode(self.cert_b64).map_err(|_| bad("cert is not base64"))?;
        Envelope::from_slice(&cert_json).map_err(|e| bad(format!("cert: {e}")))
    }

    /// Refuses a timestamp more than [`MAX_CLOCK_SKEW_S`] away from `now`.
    pub fn check_fresh(&self, now: UnixTime) -> Result<(), Error> {
        check_fresh(self.ts, now)
    }
}

fn check_fresh(ts: UnixTime, now: UnixTime) -> Result<(), Error> {
    if ts.0.abs_diff(now.0) > MAX_CLOCK_SKEW_S {
        return Err(Error::Unauthorized {
            reason: "stale-request",
            detail: format!("request time {ts} is more than {MAX_CLOCK_SKEW_S} s from the edge's clock {now}"),
        });
    }
    Ok(())
}

/// A parsed `Authorization: Updraft-Ed25519 …` header with its certificate decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthHeader {
    pub cert: Envelope,
    pub ts: UnixTime,
    pub sig: [u8; 64],
}

fn bad(detail: impl Into<String>) -> Error {
    Error::Unauthorized { reason: "bad-authorization-header", detail: detail.into() }
}

impl AuthHeader {
    pub fn parse(value: &str) -> Result<AuthHeader, Error> {
        let raw = RawAuthHeader::parse(value)?;
        Ok(AuthHeader { cert: raw.certificate()?, ts: raw.ts, sig: raw.sig })
    }

    /// Refuses a timestamp more than [`MAX_CLOCK_SKEW_S`] away from `now`.
    pub fn check_fresh(&self, now: UnixTime) -> Result<(), Error> {
        check_fresh(self.ts, now)
    }

    /// Checks the request signature with the (already verified) certificate's key.
    pub fn check_signature(&self, cert: &DeviceCertificate, method: &str, path: &str, body: &[u8]) -> Result<(), Error> {
        let key = cert.public_key()?;
        if !key.verify(&string_to_sign(method, path, self.ts, body), &self.sig) {
            return Err(Error::Unauthorized {
                reason: "bad-request-signature",
                detail: "request signature does not verify with the certificate's device key".into(),
            });
        }
        Ok(())
    }
}

/// `method \n path \n ts \n hex(sha256(body))`
pub fn string_to_sign(method: &str, path: &str, ts: UnixTime, body: &[u8]) -> Vec<u8> {
    format!("{method}\n{path}\n{}\n{}", ts.0, Sha256::digest(body)).into_bytes()
}

/// Builds the Authorization header value for a request (the agent's side).
pub fn sign_request(key: &SigningKey, cert: &Envelope, method: &str, path: &str, ts: UnixTime, body: &[u8]) -> String {
    let sig = key.sign(&string_to_sign(method, path, ts, body));
    format!("{SCHEME} cert={}, ts={}, sig={}", B64.encode(cert.to_json()), ts.0, B64.encode(sig))
}

/// Full check without a certificate cache: header → freshness → certificate
/// under the root's edge role → request signature.
pub fn verify_request(
    header: &str,
    method: &str,
    path: &str,
    body: &[u8],
    root: &TrustedRoot,
    now: UnixTime,
) -> Result<DeviceCertificate, Error> {
    let auth = AuthHeader::parse(header)?;
    auth.check_fresh(now)?;
    let cert: DeviceCertificate = root
        .verify(&auth.cert, now)
        .map_err(|e| Error::Unauthorized { reason: "bad-certificate", detail: format!("device certificate: {e}") })?;
    auth.check_signature(&cert, method, path, body)?;
    Ok(cert)
}
