//! # firmware-agent
//!
//! The Updraft device client: it never installs what it should not, and it
//! never leaves a device without a bootable, verified slot.
//!
//! * [`config`]: the TOML config, strict, errors naming the key.
//! * [`agent`]: one device's state and the steps that move it (check,
//!   download, install, report); [`boot`] is power-on (trial verdicts, the
//!   watchdog, repair after a power cut); [`update`] takes a release into the
//!   inactive slot.
//! * [`bootenv`], [`journal`], [`durable`]: the state files and how they are
//!   written so that a power cut at any instant is harmless.
//! * [`slots`]: the files, block-device and installer-hook backends.
//! * [`trust`], [`identity`]: the root chain from the anchor, the revocation
//!   list, the device key and certificate.
//! * [`revocation`]: a revoked image refused at every stage, and a device
//!   running one going back to a safe slot (or waiting for a fix).
//! * [`bundle`]: offline bundles (`install-bundle`), judged by the same rules.
//! * [`sim`]: the fleet simulator.
//!
//! Every decision about what may be installed is `updraft_core`'s
//! ([`updraft_core::device_rules`]); this crate only adapts it to a device.

pub mod agent;
pub mod boot;
pub mod bootenv;
pub mod bundle;
pub mod client;
pub mod config;
pub mod durable;
pub mod error;
pub mod health;
pub mod identity;
pub mod journal;
pub mod revocation;
pub mod runner;
pub mod sampling;
pub mod sim;
pub mod slots;
pub mod trust;
pub mod update;

pub use agent::{Agent, Next};
pub use config::Config;
pub use error::AgentError;
