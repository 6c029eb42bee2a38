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
use updraft_core::bundle::{self, PREAMBLE_LEN};
use updraft_core::device_rules::DeviceFloor;
use updraft_core::report::Event;
use updraft_core::root::Root;

impl Agent {
    pub fn install_bundle(&mut self, path: &Path) -> Result<Next, AgentError> {
        let read_err = |e| AgentError::io("cannot read bundle", path, e);
        let mut file = File::open(path).map_err(read_err)?;
        let mut preamble = [0u8; PREAMBLE_LEN];
        file.read_exact(&mut preamble).map_err(|_| AgentError::Bundle(format!("{} is too short to be a bundle", path.display())))?;
        let header_len = bundle::parse_preamble(&preamble).map_err(|e| AgentError::verification("bundle", e))?;
        let mut header_bytes = vec![0u8; header_len as usize];
        file.read_exact(&mut header_bytes).map_err(|_| AgentError::Bundle(format!("{} ends inside its header", path.display())))?;
        let header = bundle::parse_header(&header_bytes).map_err(|e| AgentError::verification("bundle", e))?;

        // Exactly 16 + H + N bytes: a truncated or padded bundle is refused before a byte is written.
        let expected = bundle::bundle_length(header_len, header.artifact_length);
        let actual = file.metadata().map_err(read_err)?.len();
        if expected != Some(actual) {
            return Err(AgentError::Bundle(format!(
                "{} is {actual} bytes; its header promises {}",
                path.display(),
                expected.map_or_else(|| "an impossible length".into(), |e| e.to_string())
            )));
        }

        let floor = DeviceFloor { hardware_id: &self.config.hardware_id, security_floor: self.env.security_floor };
        let verified = header
            .verify_for_device(self.trust.root(), &floor, self.trust.revocations(), now())
            .map_err(|e| AgentError::verification("bundle", e))?;
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
}
