//! firmware-agent: the Updraft device client (verified A/B install, rollback,
//! resumable downloads). Not built yet: this crate holds its place in the
//! workspace layout (DESIGN §1). Until it lands, `updraft device enroll | check
//! | download` act as a device for tests and demos.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("firmware-agent {}: not implemented yet; use `updraft device` to act as a device", env!("CARGO_PKG_VERSION"));
    ExitCode::from(2)
}
