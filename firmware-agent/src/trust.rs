//! What the device trusts: the root chain from its anchor, and the newest
//! revocation list it has seen.
//!
//! Nothing is trusted because it is on disk. At every start the chain is
//! walked again from the anchor shipped with the image (`trust_anchor`),
//! through the successor roots saved in `trust/root-N.json`, each step
//! verified (DESIGN §2). A missing or invalid anchor stops the agent: it never
//! falls back to trusting whatever the network says.
//!
//! The revocation list only moves forward: its `seq` is remembered (in
//! `trust/revocation-seq`, written before the list itself) and a list with a
//! lower seq is refused, so an attacker replaying an old list cannot
//! un-revoke an image. A list is accepted only signed by the edge role and
//! unexpired; once held, it keeps refusing what it revokes after it expires
//! (that can only refuse more, the safe side) until a fresh one replaces it,
//! which the agent asks for as soon as it notices ([`Trust::needs_list`]).

use crate::durable;
use crate::error::AgentError;
use std::path::{Path, PathBuf};
use updraft_core::dsse::Envelope;
use updraft_core::revocation::RevocationList;
use updraft_core::root::TrustedRoot;
use updraft_core::{UnixTime, MAX_DOCUMENT_BYTES, MAX_ROOT_STEPS};

pub struct Trust {
    dir: PathBuf,
    root: TrustedRoot,
    /// Highest revocation seq accepted so far.
    revocation_seq: u64,
    revocations: Option<(Envelope, RevocationList)>,
}

impl Trust {
    /// Loads the anchor, walks the saved successors and loads the saved
    /// revocation list (expired or not; see the module docs).
    pub fn open(anchor: &Path, dir: &Path) -> Result<Trust, AgentError> {
        let anchor_err = |detail: String| AgentError::TrustAnchor { path: anchor.to_owned(), detail };
        let bytes = durable::read_bounded(anchor, MAX_DOCUMENT_BYTES as u64).map_err(|e| anchor_err(e.to_string()))?;
        let envelope = Envelope::from_slice(&bytes).map_err(|e| anchor_err(e.to_string()))?;
        let mut root = TrustedRoot::from_anchor(&envelope).map_err(|e| anchor_err(e.to_string()))?;
        std::fs::create_dir_all(dir).map_err(|e| AgentError::io("cannot create", dir, e))?;
        for _ in 0..MAX_ROOT_STEPS {
            let next = dir.join(format!("root-{}.json", root.version() + 1));
            let Ok(bytes) = durable::read_bounded(&next, MAX_DOCUMENT_BYTES as u64) else { break };
            let Ok(env) = Envelope::from_slice(&bytes) else { break };
            match root.update(&env) {
                Ok(r) => root = r,
                // A saved successor that no longer verifies is ignored, not trusted.
                Err(_) => break,
            }
        }
        let mut trust = Trust { dir: dir.to_owned(), root, revocation_seq: 0, revocations: None };
        trust.revocation_seq = durable::read_json::<u64>(&trust.seq_path())?.unwrap_or(0);
        if let Some(env) = durable::read_json::<Envelope>(&trust.list_path())? {
            // Kept only if its signature still verifies under the current
            // root. Expired or not: an expired list still refuses what it
            // revokes (and holds the seq floor) until a fresh one arrives.
            if let Ok(list) = verify_signature_only(&trust.root, &env) {
                trust.revocations = Some((env, list));
            }
        }
        Ok(trust)
    }

    /// Whether the list should be fetched, given the seq a directive
    /// announced: a newer seq, or the same seq while the list held is
    /// missing or expired (the edge signs its list on demand, so a fresh
    /// copy of the same seq renews it).
    pub fn needs_list(&self, announced: u64, now: UnixTime) -> bool {
        announced > self.revocation_seq
            || (announced == self.revocation_seq && announced > 0 && self.revocations().is_none_or(|l| l.expires <= now))
    }

    pub fn root(&self) -> &TrustedRoot {
        &self.root
    }

    pub fn revocation_seq(&self) -> u64 {
        self.revocation_seq
    }

    pub fn revocations(&self) -> Option<&RevocationList> {
        self.revocations.as_ref().map(|(_, l)| l)
    }

    pub fn revocations_envelope(&self) -> Option<&Envelope> {
        self.revocations.as_ref().map(|(e, _)| e)
    }

    /// Accepts root n+1 (verified against root n and itself) and saves it.
    pub fn accept_root(&mut self, envelope: &Envelope) -> Result<(), AgentError> {
        let next = self.root.update(envelope).map_err(|e| AgentError::verification(format!("root v{}", self.root.version() + 1), e))?;
        let path = self.dir.join(format!("root-{}.json", next.version()));
        durable::write_atomic(&path, envelope.to_json().as_bytes()).map_err(|e| AgentError::io("cannot write", &path, e))?;
        self.root = next;
        Ok(())
    }

    /// Accepts a revocation list signed by the edge role, unexpired, with a
    /// seq at least the one already seen. Returns whether its seq was new. A
    /// copy of the held seq replaces the held list only once that one has
    /// expired (the edge signs on demand: every copy expires a little later,
    /// and rewriting state at every fetch would be wear for nothing).
    pub fn accept_revocations(&mut self, envelope: &Envelope, now: UnixTime) -> Result<bool, AgentError> {
        let list: RevocationList = self.root.verify(envelope, now).map_err(|e| AgentError::verification("revocation list", e))?;
        list.check_not_older_than(self.revocation_seq).map_err(|e| AgentError::verification("revocation list", e))?;
        let held = self.revocations.as_ref().map(|(_, l)| (l.seq, l.expires));
        if held.is_some_and(|(seq, expires)| seq == list.seq && expires > now) {
            return Ok(false);
        }
        let new_seq = list.seq > self.revocation_seq || held.is_none();
        // Seq first: a crash between the two writes leaves a floor that
        // refuses older lists, never a list without its floor.
        if list.seq != self.revocation_seq {
            durable::write_json(&self.seq_path(), &list.seq).map_err(|e| AgentError::io("cannot write", self.seq_path(), e))?;
        }
        durable::write_json(&self.list_path(), envelope).map_err(|e| AgentError::io("cannot write", self.list_path(), e))?;
        self.revocation_seq = list.seq;
        self.revocations = Some((envelope.clone(), list));
        Ok(new_seq)
    }

    fn seq_path(&self) -> PathBuf {
        self.dir.join("revocation-seq")
    }

    fn list_path(&self) -> PathBuf {
        self.dir.join("revocations.json")
    }
}

/// A held list's signature and role, whatever its expiry: the list's only
/// time check is its expiry, judged when it is accepted, so verifying "at
/// the epoch" checks everything else.
fn verify_signature_only(root: &TrustedRoot, envelope: &Envelope) -> Result<RevocationList, updraft_core::Error> {
    root.verify(envelope, UnixTime(0))
}
