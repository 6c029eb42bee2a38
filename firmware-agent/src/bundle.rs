//! `firmware-agent install-bundle FILE`: the offline path (USB stick, serial
//! line). A bundle (`updraft bundle create`, format in `updraft_core::bundle`)
//! carries the root chain, a revocation list, the signed release and the
//! artifact; it is judged by exactly the rules of an online update
//! (`BundleHeader::verify_for_device` → device rules 1–4, then rule 5 on the
//! bytes in the slot before the switch) and goes through the same job,
//! journal and boot steps, so a power cut during a bundle install is as
//! harmless as during a download.

use crate::agent::{now, Agent, Next};
use crate::error::AgentError;
use crate::update::Source;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use updraft_core::bundle::{self, BundleHeader, PREAMBLE_LEN};
use updraft_core::device_rules::DeviceFloor;
use updraft_core::release::ReleaseManifest;
use updraft_core::report::Event;
use updraft_core::root::Root;
use updraft_core::Sha256;

impl Agent {
    /// Applies an offline bundle. A refused bundle is journaled as
    /// `failed {code}`, like a refused online offer.
    pub fn install_bundle(&mut self, path: &Path) -> Result<Next, AgentError> {
        let read_err = |e| AgentError::io("cannot read bundle", path, e);
        let mut file = File::open(path).map_err(read_err)?;
        let (header, header_len) = match read_header(path, &mut file) {
            Ok(read) => read,
            Err(e) => return Err(self.bundle_refused(e, None)),
        };
        let floor = DeviceFloor { hardware_id: &self.config.hardware_id, security_floor: self.env.security_floor };
        let verified = match header.verify_for_device(self.trust.root(), &floor, self.trust.revocations(), now()) {
            Ok(verified) => verified,
            Err(e) => {
                let sha = header.release.unverified_parse::<ReleaseManifest>("release").ok().map(|m| m.artifact.sha256);
                return Err(self.bundle_refused(AgentError::verification("bundle", e), sha));
            }
        };
        // Trust moves forward only now that everything verified.
        for envelope in &header.roots {
            let version = envelope.unverified_parse::<Root>("root").map(|r| r.version).unwrap_or(0);
            if version > self.trust.root().version() {
                self.trust.accept_root(envelope)?;
            }
        }
        if let (Some(envelope), Some(_)) = (&header.revocations, &verified.revocations) {
            self.trust.accept_revocations(envelope, now())?;
        }

        (self.log)(&format!("bundle {} holds {} ({} bytes); installing", path.display(), verified.release.version, header.artifact_length));
        self.update(&header.release, None, None, None)?;
        if self.journal.state.job.as_ref().is_none_or(|j| j.sha256 != verified.release.artifact.sha256) {
            // Already running it (or refused and reported): nothing to install.
            return Ok(Next::Poll(std::time::Duration::ZERO));
        }
        let offset = PREAMBLE_LEN as u64 + u64::from(header_len);
        match self.fetch(Source::Bundle { file: &mut file, offset }) {
            Ok(()) => {}
            Err(e) if e.is_transient() => {
                // A short read from a file is not a network hiccup: give up on this bundle.
                self.close_job(Event::Failed { code: "bundle-invalid".into() }, Some(e.to_string()))?;
                return Err(AgentError::Bundle(e.to_string()));
            }
            Err(e) => return Err(e),
        }
        self.install()
    }

    /// A bundle refused before a byte of it was written: the edge learns
    /// why at the next report delivery, as for a refused online offer.
    fn bundle_refused(&mut self, e: AgentError, sha256: Option<Sha256>) -> AgentError {
        let running = self.running();
        self.journal.queue(now(), Event::Failed { code: e.code() }, sha256, &running, None, Some(e.to_string()));
        match self.store_journal() {
            Ok(()) => e,
            Err(store) => store,
        }
    }
}

/// Reads the preamble and header, and checks that the file is exactly
/// 16 + H + N bytes: a truncated or padded bundle is refused before a byte
/// is written.
fn read_header(path: &Path, file: &mut File) -> Result<(BundleHeader, u32), AgentError> {
    let mut preamble = [0u8; PREAMBLE_LEN];
    file.read_exact(&mut preamble).map_err(|_| AgentError::Bundle(format!("{} is too short to be a bundle", path.display())))?;
    let header_len = bundle::parse_preamble(&preamble).map_err(|e| AgentError::verification("bundle", e))?;
    let mut header_bytes = vec![0u8; header_len as usize];
    file.read_exact(&mut header_bytes).map_err(|_| AgentError::Bundle(format!("{} ends inside its header", path.display())))?;
    let header = bundle::parse_header(&header_bytes).map_err(|e| AgentError::verification("bundle", e))?;
    let expected = bundle::bundle_length(header_len, header.artifact_length);
    let actual = file.metadata().map_err(|e| AgentError::io("cannot read bundle", path, e))?.len();
    if expected != Some(actual) {
        return Err(AgentError::Bundle(format!(
            "{} is {actual} bytes; its header promises {}",
            path.display(),
            expected.map_or_else(|| "an impossible length".into(), |e| e.to_string())
        )));
    }
    Ok((header, header_len))
}
