//! Short-lived download tokens for artifact URLs.
//!
//! A directive's `download_url` is `/v1/artifacts/{sha256}?exp={unix}&tok={hex}`
//! with `tok = HMAC-SHA256(secret, "updraft-download-v1\n{sha256}\n{exp}")`.
//! The edge checks the token, then serves from the cache entry of the canonical
//! URL without the query, so every device shares one cache entry per artifact.

use crate::{Error, Sha256, UnixTime};
use hmac::{Hmac, Mac};

type HmacSha256 = Hmac<sha2::Sha256>;

fn mac(secret: &[u8], artifact: &Sha256, expires: UnixTime) -> HmacSha256 {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut m = <HmacSha256 as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    m.update(format!("updraft-download-v1\n{artifact}\n{}", expires.0).as_bytes());
    m
}

/// The token for downloading `artifact` until `expires`.
pub fn download_token(secret: &[u8], artifact: &Sha256, expires: UnixTime) -> String {
    hex::encode(mac(secret, artifact, expires).finalize().into_bytes())
}

/// The path and query of a tokenised artifact URL.
pub fn download_path(secret: &[u8], artifact: &Sha256, expires: UnixTime) -> String {
    format!("/v1/artifacts/{artifact}?exp={}&tok={}", expires.0, download_token(secret, artifact, expires))
}

/// Checks a token in constant time, and that it has not expired.
pub fn verify_download_token(secret: &[u8], artifact: &Sha256, expires: UnixTime, token: &str, now: UnixTime) -> Result<(), Error> {
    if expires <= now {
        return Err(Error::Unauthorized { reason: "download-token-expired", detail: format!("download link expired at {expires}") });
    }
    let tag = hex::decode(token).map_err(|_| Error::Unauthorized { reason: "bad-download-token", detail: "token is not hex".into() })?;
    mac(secret, artifact, expires)
        .verify_slice(&tag)
        .map_err(|_| Error::Unauthorized { reason: "bad-download-token", detail: "download token does not match this artifact".into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_bound_to_artifact_and_expiry() {
        let a = Sha256::digest(b"a");
        let b = Sha256::digest(b"b");
        let t = download_token(b"k", &a, UnixTime(100));
        assert!(verify_download_token(b"k", &a, UnixTime(100), &t, UnixTime(50)).is_ok());
        assert!(verify_download_token(b"k", &b, UnixTime(100), &t, UnixTime(50)).is_err());
        assert!(verify_download_token(b"k", &a, UnixTime(101), &t, UnixTime(50)).is_err());
        assert!(verify_download_token(b"other", &a, UnixTime(100), &t, UnixTime(50)).is_err());
        assert!(verify_download_token(b"k", &a, UnixTime(100), &t, UnixTime(100)).is_err());
        assert!(verify_download_token(b"k", &a, UnixTime(100), "zz", UnixTime(50)).is_err());
    }
}
