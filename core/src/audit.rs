//! The hash-chained audit log (DESIGN §4, last paragraph): every admin action
//! that changes state is appended as an [`AuditEntry`] that carries the
//! SHA-256 of the entry before it, so editing, removing or reordering any
//! entry breaks the chain at that entry, and [`verify_chain`] names it.
//!
//! # The entry hash (format `updraft.audit.v1`)
//!
//! An entry's `hash` is SHA-256 over these bytes, in this order:
//!
//! ```text
//! "updraft.audit.v1\n"            17 ASCII bytes, a domain tag
//! u64be(seq)                       8 bytes
//! u64be(at)                        8 bytes, unix seconds
//! str(actor)                       the admin token's id (`tok-…`, or `bootstrap`)
//! str(actor_name)                  the token's name when it acted
//! str(role)                        the token's role when it acted
//! str(action)                      e.g. `release.approve`
//! str(subject)                     what the action was about (an id, a digest)
//! str(canonical_json(details))
//! prev                             32 raw bytes: the previous entry's hash, all zero for seq 1
//!
//! str(s) = u32be(byte length of s as UTF-8) ‖ the UTF-8 bytes of s
//! ```
//!
//! Every variable-length field is length-prefixed, so no two different
//! entries encode to the same bytes (moving a character from `action` to
//! `subject` changes a length). On the wire (the admin API, the NDJSON export)
//! `prev` and `hash` are 64 lowercase hex characters.
//!
//! `canonical_json(details)` is the JSON text of `details` with no whitespace,
//! object members sorted by key (bytewise; keys are restricted to `[a-z0-9_]`,
//! so every sort order agrees), integers in plain decimal, and strings escaped
//! minimally: `"` → `\"`, `\` → `\\`, U+0008/9/A/C/D → `\b \t \n \f \r`,
//! other U+0000–U+001F → `\u00xx` (lowercase hex), everything else as UTF-8.
//! That is RFC 8785 (JCS) for the values allowed here, and what Python's
//! `json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`
//! prints. Details never hold floats: [`AuditEvent::new`] refuses them.
//!
//! A third party can check a log with nothing but SHA-256 and a JSON parser;
//! `docs/architecture.md` has a twenty-line Python verifier.
//!
//! # What verification proves
//!
//! [`verify_chain`] (or [`ChainVerifier`], which takes one entry at a time so
//! an export of any length is checked in constant memory) recomputes each
//! hash and checks each link. It reports the first bad entry as:
//! - [`ChainError::Edited`]: an entry's fields no longer hash to its `hash`;
//! - [`ChainError::Rewritten`]: an entry was edited *and* its hash recomputed,
//!   so the next entry's `prev` no longer matches it;
//! - [`ChainError::Removed`]: sequence numbers jump (entries deleted);
//! - [`ChainError::Reordered`]: an entry sits at another entry's place;
//! - [`ChainError::Truncated`] / [`ChainError::HeadMismatch`]: the log ends
//!   before, or differs at, a head the caller recorded earlier.
//!
//! A chain alone cannot show that entries were cut from its *end*, or that
//! someone with write access recomputed every hash after an edit: pin the
//! head (`seq` and `hash`, printed by `updraft audit verify`) somewhere the
//! attacker cannot write, and pass it as the known head next time.

use crate::{Error, Sha256, UnixTime};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// Domain tag that starts every hashed entry; bumped if the encoding changes.
pub const HASH_DOMAIN: &[u8] = b"updraft.audit.v1\n";
/// Longest `actor`, `actor_name` and `role`, in bytes.
pub const MAX_NAME_BYTES: usize = 128;
/// Longest `action`, in bytes.
pub const MAX_ACTION_BYTES: usize = 64;
/// Longest `subject`, in bytes.
pub const MAX_SUBJECT_BYTES: usize = 256;
/// Largest canonical `details`, in bytes.
pub const MAX_DETAILS_BYTES: usize = 4096;
/// Deepest nesting of `details` (the top-level object is depth 1).
pub const MAX_DETAILS_DEPTH: usize = 4;
/// Integers in `details` stay exact in every JSON implementation (IEEE doubles).
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;
/// The `prev` of the first entry.
pub const GENESIS_PREV: Sha256 = Sha256::ZERO;

/// One appended entry, as stored and as served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    /// 1, 2, 3, … without gaps.
    pub seq: u64,
    pub at: UnixTime,
    /// The admin token's id (`tok-…`), or `bootstrap`.
    pub actor: String,
    /// The token's name at the time (tokens are never renamed, but revoked).
    pub actor_name: String,
    /// The token's role at the time.
    pub role: String,
    /// A dotted slug: `token.create`, `release.approve`, `device.revoke`, …
    pub action: String,
    /// What the action was about: a token, release or device id, a digest, a root version.
    pub subject: String,
    /// A small JSON object with the action's parameters (never a secret).
    pub details: Value,
    /// The previous entry's `hash`; [`GENESIS_PREV`] for seq 1.
    pub prev: Sha256,
    /// SHA-256 of this entry's encoding (module docs).
    pub hash: Sha256,
}

/// A validated action about to be appended: everything but seq, time and links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    actor: String,
    actor_name: String,
    role: String,
    action: String,
    subject: String,
    details: Value,
}

/// Where a chain (or a segment of one) stands: the last entry's seq and hash.
/// The start of a whole log is [`ChainHead::GENESIS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    pub seq: u64,
    pub hash: Sha256,
}

impl ChainHead {
    /// Before the first entry: seq 0, all-zero hash.
    pub const GENESIS: ChainHead = ChainHead { seq: 0, hash: GENESIS_PREV };

    /// The entry that follows this head.
    pub fn next(&self, event: AuditEvent, at: UnixTime) -> AuditEntry {
        let AuditEvent { actor, actor_name, role, action, subject, details } = event;
        let mut entry = AuditEntry {
            seq: self.seq.saturating_add(1),
            at,
            actor,
            actor_name,
            role,
            action,
            subject,
            details,
            prev: self.hash,
            hash: GENESIS_PREV,
        };
        entry.hash = entry.computed_hash();
        entry
    }
}

impl fmt::Display for ChainHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

impl std::str::FromStr for ChainHead {
    type Err = Error;

    /// `SEQ:HASH`, as [`fmt::Display`] writes it.
    fn from_str(s: &str) -> Result<Self, Error> {
        let (seq, hash) = s.split_once(':').ok_or_else(|| Error::field("head", "must be SEQ:SHA256"))?;
        let seq = seq.parse::<u64>().map_err(|_| Error::field("head", "SEQ must be a whole number"))?;
        Ok(ChainHead { seq, hash: Sha256::parse_hex(hash)? })
    }
}

/// The entry after `prev` (`None`: the first entry of the log).
pub fn next_entry(prev: Option<&AuditEntry>, event: AuditEvent, at: UnixTime) -> AuditEntry {
    prev.map_or(ChainHead::GENESIS, AuditEntry::head).next(event, at)
}

impl AuditEvent {
    /// Checks an action before it enters the log: bounded printable strings,
    /// a dotted lowercase `action`, and `details` a small JSON object of
    /// `[a-z0-9_]` keys, integers (no floats), strings, booleans, nulls and
    /// arrays. Errors name the field.
    pub fn new(
        actor: impl Into<String>,
        actor_name: impl Into<String>,
        role: impl Into<String>,
        action: impl Into<String>,
        subject: impl Into<String>,
        details: Value,
    ) -> Result<Self, Error> {
        let event = AuditEvent {
            actor: actor.into(),
            actor_name: actor_name.into(),
            role: role.into(),
            action: action.into(),
            subject: subject.into(),
            details,
        };
        check_text("actor", &event.actor, MAX_NAME_BYTES, false)?;
        check_text("actor_name", &event.actor_name, MAX_NAME_BYTES, true)?;
        check_text("role", &event.role, MAX_NAME_BYTES, false)?;
        check_text("subject", &event.subject, MAX_SUBJECT_BYTES, true)?;
        let a = &event.action;
        let action_ok = !a.is_empty()
            && a.len() <= MAX_ACTION_BYTES
            && a.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'_')
            && !a.starts_with('.')
            && !a.ends_with('.');
        if !action_ok {
            return Err(Error::field("action", format!("must be 1 to {MAX_ACTION_BYTES} characters of a-z, 0-9, `.`, `-`, `_`")));
        }
        if !event.details.is_object() {
            return Err(Error::field("details", "must be a JSON object"));
        }
        check_details(&event.details, 1)?;
        let size = canonical_json(&event.details).len();
        if size > MAX_DETAILS_BYTES {
            return Err(Error::field("details", format!("is {size} bytes; at most {MAX_DETAILS_BYTES}")));
        }
        Ok(event)
    }

    pub fn action(&self) -> &str {
        &self.action
    }
}

fn check_text(field: &'static str, s: &str, max: usize, empty_ok: bool) -> Result<(), Error> {
    if (!empty_ok && s.is_empty()) || s.len() > max || s.chars().any(char::is_control) {
        let min = if empty_ok { 0 } else { 1 };
        return Err(Error::field(field, format!("must be {min} to {max} bytes of printable text")));
    }
    Ok(())
}

fn check_details(value: &Value, depth: usize) -> Result<(), Error> {
    if depth > MAX_DETAILS_DEPTH {
        return Err(Error::field("details", format!("nests deeper than {MAX_DETAILS_DEPTH} levels")));
    }
    match value {
        Value::Null | Value::Bool(_) | Value::String(_) => Ok(()),
        Value::Number(n) => match n.as_i64() {
            Some(i) if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&i) => Ok(()),
            _ => Err(Error::field("details", format!("{n} is not an integer within ±(2^53-1)"))),
        },
        Value::Array(items) => items.iter().try_for_each(|v| check_details(v, depth + 1)),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            let key_ok = !k.is_empty() && k.len() <= 64 && k.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !key_ok {
                let shown: String = k.chars().take(40).collect();
                return Err(Error::field("details", format!("key `{shown}` must be 1 to 64 characters of a-z, 0-9, `_`")));
            }
            check_details(v, depth + 1)
        }),
    }
}

impl AuditEntry {
    /// Where the chain stands after this entry.
    pub fn head(&self) -> ChainHead {
        ChainHead { seq: self.seq, hash: self.hash }
    }

    /// The bytes the hash covers (module docs).
    pub fn encoding(&self) -> Vec<u8> {
        let details = canonical_json(&self.details);
        let mut out = Vec::with_capacity(HASH_DOMAIN.len() + 16 + 32 + 6 * 4 + details.len() + 128);
        out.extend_from_slice(HASH_DOMAIN);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.at.0.to_be_bytes());
        for field in [&self.actor, &self.actor_name, &self.role, &self.action, &self.subject, &details] {
            push_str(&mut out, field);
        }
        out.extend_from_slice(self.prev.as_bytes());
        out
    }

    /// SHA-256 of [`Self::encoding`]: what `hash` must be.
    pub fn computed_hash(&self) -> Sha256 {
        Sha256::digest(&self.encoding())
    }

    /// The canonical text of `details`, as stored and hashed.
    pub fn details_json(&self) -> String {
        canonical_json(&self.details)
    }

    /// The hash this entry would have under another seq: how a moved entry is recognised.
    fn hash_at(&self, seq: u64) -> Sha256 {
        AuditEntry { seq, ..self.clone() }.computed_hash()
    }
}

fn push_str(out: &mut Vec<u8>, s: &str) {
    // Every field is bounded far below 4 GiB by AuditEvent::new; a longer
    // one (only possible in a forged entry) saturates, which still hashes
    // deterministically and so still fails verification.
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// The canonical JSON text of a value (module docs). Total: values the rules
/// forbid (floats, odd keys) still get one deterministic spelling, so a forged
/// entry hashes to something and fails verification rather than crashing it.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // serde_json's map order depends on a cargo feature (preserve_order)
            // that any crate in a build can switch on: sort explicitly.
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{0c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// What a verified chain (or segment) covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ChainSummary {
    /// Entries checked.
    pub entries: u64,
    /// The first entry's seq (`None` for an empty chain).
    pub first_seq: Option<u64>,
    /// Where the chain ends: its last entry, or the start when empty.
    pub head: ChainHead,
}

/// The first thing wrong with a chain, naming the entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    #[error("entry {seq} was edited: its fields hash to {computed}, but it says {stored}")]
    Edited { seq: u64, stored: Sha256, computed: Sha256 },
    #[error("entry {seq} was rewritten (edited and its hash recomputed): entry {next} names {expected} as its predecessor, but entry {seq} now hashes to {found}")]
    Rewritten { seq: u64, next: u64, expected: Sha256, found: Sha256 },
    #[error("{} removed: entry {first_missing} should follow entry {after}, but the next entry is {next_present}", missing_range(*.first_missing, *.next_present))]
    Removed { first_missing: u64, after: u64, next_present: u64 },
    #[error("entries were reordered: entry {seq} is at the place of entry {found_at}")]
    Reordered { seq: u64, found_at: u64 },
    #[error("entries were reordered: entry {seq} comes after entry {after}")]
    OutOfOrder { seq: u64, after: u64 },
    #[error("entry {seq} appears twice")]
    Duplicate { seq: u64 },
    #[error("entry {seq} does not follow the chain's start: its prev is {found}, expected {expected}")]
    BadStart { seq: u64, expected: Sha256, found: Sha256 },
    #[error("the log was truncated: it ends at entry {end}, but entry {known_seq} was seen before")]
    Truncated { end: u64, known_seq: u64 },
    #[error("entry {seq} differs from the head recorded earlier: it hashes to {found}, the record says {known}")]
    HeadMismatch { seq: u64, known: Sha256, found: Sha256 },
}

fn missing_range(first: u64, next_present: u64) -> String {
    let last = next_present.saturating_sub(1);
    if last <= first {
        format!("entry {first} was")
    } else {
        format!("entries {first} to {last} were")
    }
}

impl ChainError {
    /// The first seq the error is about: the entry to look at.
    pub fn seq(&self) -> u64 {
        match *self {
            ChainError::Edited { seq, .. }
            | ChainError::Rewritten { seq, .. }
            | ChainError::Reordered { found_at: seq, .. }
            | ChainError::OutOfOrder { seq, .. }
            | ChainError::Duplicate { seq }
            | ChainError::BadStart { seq, .. }
            | ChainError::HeadMismatch { seq, .. } => seq,
            ChainError::Removed { first_missing, .. } => first_missing,
            ChainError::Truncated { end, .. } => end.saturating_add(1),
        }
    }

    /// Stable machine-readable kind (CLI `--json`): `audit-entry-edited`, …
    pub fn slug(&self) -> &'static str {
        match self {
            ChainError::Edited { .. } => "audit-entry-edited",
            ChainError::Rewritten { .. } => "audit-entry-rewritten",
            ChainError::Removed { .. } => "audit-entry-removed",
            ChainError::Reordered { .. } | ChainError::OutOfOrder { .. } => "audit-entries-reordered",
            ChainError::Duplicate { .. } => "audit-entry-duplicated",
            ChainError::BadStart { .. } => "audit-bad-start",
            ChainError::Truncated { .. } => "audit-log-truncated",
            ChainError::HeadMismatch { .. } => "audit-head-mismatch",
        }
    }
}

/// How far from its place a moved entry is looked for (only on the failure path).
const REORDER_SEARCH: u64 = 64;

/// Verifies a chain one entry at a time, in constant memory.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    head: ChainHead,
    entries: u64,
    first_seq: Option<u64>,
    known_head: Option<ChainHead>,
    /// An entry that jumped ahead of the expected seq: a removal, unless the
    /// missing entry comes right after it (then the two were swapped).
    ahead: Option<u64>,
}

impl ChainVerifier {
    /// Starts after `start`: [`ChainHead::GENESIS`] for a whole log, or the
    /// head of the last verified segment.
    pub fn new(start: ChainHead) -> Self {
        ChainVerifier { head: start, entries: 0, first_seq: None, known_head: None, ahead: None }
    }

    /// A head recorded earlier: the chain must reach it and agree with it.
    #[must_use]
    pub fn with_known_head(mut self, known: ChainHead) -> Self {
        self.known_head = Some(known);
        self
    }

    /// Where the verified part ends so far.
    pub fn head(&self) -> ChainHead {
        self.head
    }

    /// Checks the next entry.
    pub fn push(&mut self, entry: &AuditEntry) -> Result<(), ChainError> {
        let expected_seq = self.head.seq.saturating_add(1);
        if let Some(ahead) = self.ahead {
            return Err(if entry.seq == expected_seq {
                ChainError::OutOfOrder { seq: entry.seq, after: ahead }
            } else {
                ChainError::Removed { first_missing: expected_seq, after: self.head.seq, next_present: ahead }
            });
        }
        if entry.seq > expected_seq {
            self.ahead = Some(entry.seq);
            return Ok(());
        }
        if entry.seq < expected_seq {
            return Err(if entry.seq == self.head.seq && self.entries > 0 {
                ChainError::Duplicate { seq: entry.seq }
            } else {
                ChainError::OutOfOrder { seq: entry.seq, after: self.head.seq }
            });
        }
        let computed = entry.computed_hash();
        let intact = computed == entry.hash;
        if entry.prev != self.head.hash {
            if !intact {
                if let Some(original) = self.original_seq(entry) {
                    return Err(ChainError::Reordered { seq: original, found_at: entry.seq });
                }
                return Err(ChainError::Edited { seq: entry.seq, stored: entry.hash, computed });
            }
            if self.entries == 0 {
                return Err(ChainError::BadStart { seq: entry.seq, expected: self.head.hash, found: entry.prev });
            }
            return Err(ChainError::Rewritten { seq: self.head.seq, next: entry.seq, expected: entry.prev, found: self.head.hash });
        }
        if !intact {
            if let Some(original) = self.original_seq(entry) {
                return Err(ChainError::Reordered { seq: original, found_at: entry.seq });
            }
            return Err(ChainError::Edited { seq: entry.seq, stored: entry.hash, computed });
        }
        if let Some(known) = self.known_head {
            if known.seq == entry.seq && known.hash != entry.hash {
                return Err(ChainError::HeadMismatch { seq: entry.seq, known: known.hash, found: entry.hash });
            }
        }
        self.head = entry.head();
        self.entries += 1;
        self.first_seq.get_or_insert(entry.seq);
        Ok(())
    }

    /// An entry whose stored hash is right for another seq nearby was moved
    /// there from that seq.
    fn original_seq(&self, entry: &AuditEntry) -> Option<u64> {
        let low = entry.seq.saturating_sub(REORDER_SEARCH).max(1);
        let high = entry.seq.saturating_add(REORDER_SEARCH);
        (low..=high).filter(|s| *s != entry.seq).find(|s| entry.hash_at(*s) == entry.hash)
    }

    /// Ends the chain: checks nothing is pending and the known head was reached.
    pub fn finish(self) -> Result<ChainSummary, ChainError> {
        if let Some(ahead) = self.ahead {
            return Err(ChainError::Removed { first_missing: self.head.seq + 1, after: self.head.seq, next_present: ahead });
        }
        if let Some(known) = self.known_head {
            if self.head.seq < known.seq {
                return Err(ChainError::Truncated { end: self.head.seq, known_seq: known.seq });
            }
        }
        Ok(ChainSummary { entries: self.entries, first_seq: self.first_seq, head: self.head })
    }
}

/// Verifies entries in order, starting after `expected_first_prev`
/// ([`ChainHead::GENESIS`] for a whole log).
pub fn verify_chain<'a>(
    entries: impl IntoIterator<Item = &'a AuditEntry>,
    expected_first_prev: ChainHead,
) -> Result<ChainSummary, ChainError> {
    let mut verifier = ChainVerifier::new(expected_first_prev);
    for entry in entries {
        verifier.push(entry)?;
    }
    verifier.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(action: &str, details: Value) -> AuditEvent {
        AuditEvent::new("tok-0123456789abcdef", "alice", "admin", action, "subject-1", details).unwrap()
    }

    #[test]
    fn canonical_json_sorts_keys_and_escapes_minimally() {
        let v = json!({"b": [1, -2, true, null], "a": {"z": "x\"\\\n\u{1}é/", "m": 0}});
        assert_eq!(canonical_json(&v), r#"{"a":{"m":0,"z":"x\"\\\n\u0001é/"},"b":[1,-2,true,null]}"#);
    }

    #[test]
    fn refuses_floats_odd_keys_deep_and_large_details() {
        for bad in [
            json!({"x": 1.5}),
            json!({"X": 1}),
            json!({"a b": 1}),
            json!({"x": 9_007_199_254_740_992_u64}),
            json!({"a": {"b": {"c": {"d": 1}}}}),
            json!({"x": "y".repeat(MAX_DETAILS_BYTES)}),
            json!([1]),
        ] {
            let err = AuditEvent::new("a", "", "admin", "x.y", "", bad.clone()).unwrap_err();
            assert!(matches!(err, Error::InvalidField { field: "details", .. }), "{bad}: {err}");
        }
        assert!(AuditEvent::new("a", "", "admin", "x.y", "", json!({"a": {"b": {"c": 1}}})).is_ok());
    }

    #[test]
    fn refuses_bad_actions_and_control_characters() {
        for action in ["", "Token.Create", ".x", "x.", "a b", &"a".repeat(65)] {
            assert!(AuditEvent::new("a", "", "admin", action, "", json!({})).is_err(), "{action:?}");
        }
        assert!(AuditEvent::new("a\n", "", "admin", "x", "", json!({})).is_err());
        assert!(AuditEvent::new("", "", "admin", "x", "", json!({})).is_err());
    }

    #[test]
    fn first_entry_links_to_zero_and_next_links_to_it() {
        let first = next_entry(None, event("token.create", json!({"role": "viewer"})), UnixTime(10));
        assert_eq!((first.seq, first.prev), (1, GENESIS_PREV));
        assert_eq!(first.hash, first.computed_hash());
        let second = next_entry(Some(&first), event("token.revoke", json!({})), UnixTime(11));
        assert_eq!((second.seq, second.prev), (2, first.hash));
        assert_eq!(verify_chain([&first, &second], ChainHead::GENESIS).unwrap().head, second.head());
    }

    #[test]
    fn length_prefixes_keep_fields_apart() {
        let a = AuditEvent::new("ab", "", "admin", "x", "c", json!({})).unwrap();
        let b = AuditEvent::new("a", "", "admin", "x", "bc", json!({})).unwrap();
        assert_ne!(ChainHead::GENESIS.next(a, UnixTime(1)).hash, ChainHead::GENESIS.next(b, UnixTime(1)).hash);
    }

    #[test]
    fn heads_print_and_parse_as_seq_colon_hash() {
        let head = ChainHead { seq: 7, hash: Sha256::digest(b"x") };
        assert_eq!(head.to_string().parse::<ChainHead>().unwrap(), head);
        assert!("7".parse::<ChainHead>().is_err());
        assert!("x:00".parse::<ChainHead>().is_err());
    }
}
