//! # updraft-core
//!
//! Everything Updraft decides without I/O: the signed document formats, key
//! handling, signature and root-chain verification, and rollout policy
//! ([`rollout`]: "does this device get this release now?").
//!
//! The crate never reads a clock, a file, the network or an entropy source.
//! Time arrives as a [`UnixTime`] argument and key material as seeds, so the same
//! code runs in the Cloudflare worker (wasm32), on the device and in the CLI,
//! and every decision is testable on the host in milliseconds.
//!
//! ## Trust model in one paragraph
//!
//! Every signed document is a DSSE envelope ([`dsse::Envelope`]): the signature
//! covers `PAE(payloadType, payload)` and the payload is only parsed after the
//! signatures verified. Which keys may sign what is fixed by the current
//! [`root::Root`]: a threshold of `root` keys signs the root itself and its
//! successor, a threshold of `release` keys signs [`release::ReleaseManifest`]s,
//! and the online `edge` key signs [`directive::Directive`]s,
//! [`revocation::RevocationList`]s and [`device_cert::DeviceCertificate`]s.

pub mod admin;
pub mod audit;
pub mod bundle;
pub mod byte_range;
pub mod device_auth;
pub mod device_cert;
pub mod device_rules;
pub mod directive;
pub mod download;
pub mod dsse;
mod error;
pub mod hash;
pub mod keys;
pub mod protocol;
pub mod purge;
pub mod release;
pub mod report;
pub mod revocation;
pub mod rollout;
pub mod root;
mod types;

pub use error::{Error, Role};
pub use hash::{Sha256, Sha256Hasher};
pub use keys::{KeyId, PublicKey, SigningKey};
pub use types::{DeviceId, HardwareId, ProductName, SecurityVersion, UnixTime, Version};

/// Largest signed document (envelope JSON) any Updraft component accepts.
///
/// A release envelope with release notes and a few deltas is a few KiB; the cap
/// keeps a hostile server or upload from making a verifier buffer megabytes.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// A root chain walk stops after this many steps (DESIGN §2).
pub const MAX_ROOT_STEPS: u32 = 64;
