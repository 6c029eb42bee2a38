//! Attacks on the audit log (DESIGN §4): whoever can write the audit table
//! edits, removes, reorders or truncates entries; `verify_chain` must name
//! the first entry touched. Each test is named for the attack it models.

use proptest::prelude::*;
use serde_json::json;
use updraft_core::audit::{verify_chain, AuditEntry, AuditEvent, ChainError, ChainHead, ChainVerifier, GENESIS_PREV};
use updraft_core::{Sha256, UnixTime};

const ACTIONS: [&str; 6] = ["token.create", "artifact.upload", "release.create", "release.approve", "device.revoke", "root.publish"];

fn log(n: u64) -> Vec<AuditEntry> {
    let mut entries: Vec<AuditEntry> = Vec::new();
    for i in 0..n {
        let action = ACTIONS[(i % ACTIONS.len() as u64) as usize];
        let event =
            AuditEvent::new(format!("tok-{i:04}"), format!("person {i}"), "admin", action, format!("subject-{i}"), json!({ "n": i }))
                .unwrap();
        let head = entries.last().map_or(ChainHead::GENESIS, AuditEntry::head);
        entries.push(head.next(event, UnixTime(1_800_000_000 + i)));
    }
    entries
}

fn verify(entries: &[AuditEntry]) -> Result<u64, ChainError> {
    verify_chain(entries, ChainHead::GENESIS).map(|s| s.head.seq)
}

#[test]
fn an_untouched_log_verifies_to_its_head() {
    let entries = log(10);
    let summary = verify_chain(&entries, ChainHead::GENESIS).unwrap();
    assert_eq!((summary.entries, summary.first_seq, summary.head), (10, Some(1), entries[9].head()));
    assert_eq!(verify_chain(&[], ChainHead::GENESIS).unwrap().head, ChainHead::GENESIS);
}

#[test]
fn edited_entry_is_detected() {
    let mut entries = log(6);
    entries[2].subject = "someone-else".into();
    let err = verify(&entries).unwrap_err();
    assert!(matches!(err, ChainError::Edited { seq: 3, .. }), "{err}");
    assert_eq!(err.seq(), 3);
    assert!(err.to_string().starts_with("entry 3 was edited"), "{err}");
}

#[test]
fn edited_details_timestamp_or_actor_are_detected() {
    let edits: [fn(&mut AuditEntry); 5] = [
        |e| e.details = json!({ "n": 999 }),
        |e| e.at = UnixTime(e.at.0 + 1),
        |e| e.actor = "tok-innocent".into(),
        |e| e.role = "viewer".into(),
        |e| e.action = "release.create".into(),
    ];
    for edit in edits {
        let mut entries = log(5);
        edit(&mut entries[3]);
        assert!(matches!(verify(&entries), Err(ChainError::Edited { seq: 4, .. })), "{:?}", verify(&entries));
    }
}

#[test]
fn rewritten_entry_with_recomputed_hash_is_detected_by_its_successor() {
    let mut entries = log(6);
    entries[2].subject = "someone-else".into();
    entries[2].hash = entries[2].computed_hash();
    let err = verify(&entries).unwrap_err();
    assert!(matches!(err, ChainError::Rewritten { seq: 3, next: 4, .. }), "{err}");
}

#[test]
fn removed_entry_is_detected() {
    let mut entries = log(6);
    entries.remove(2);
    let err = verify(&entries).unwrap_err();
    assert_eq!(err, ChainError::Removed { first_missing: 3, after: 2, next_present: 4 });
    assert_eq!(err.to_string(), "entry 3 was removed: entry 3 should follow entry 2, but the next entry is 4");
}

#[test]
fn removed_range_of_entries_is_detected() {
    let mut entries = log(9);
    entries.drain(2..5);
    assert_eq!(verify(&entries), Err(ChainError::Removed { first_missing: 3, after: 2, next_present: 6 }));
}

#[test]
fn removed_entry_renumbered_to_close_the_gap_is_detected() {
    // Delete entry 3 and renumber 4.. down so seqs look contiguous.
    let mut entries = log(6);
    entries.remove(2);
    for e in &mut entries[2..] {
        e.seq -= 1;
    }
    let err = verify(&entries).unwrap_err();
    assert!(matches!(err, ChainError::Reordered { seq: 4, found_at: 3 }), "{err}");
}

#[test]
fn reordered_entries_are_detected() {
    // Rows swapped in a file: 1 2 4 3 5.
    let mut entries = log(5);
    entries.swap(2, 3);
    let err = verify(&entries).unwrap_err();
    assert_eq!(err, ChainError::OutOfOrder { seq: 3, after: 4 });
    assert_eq!(err.slug(), "audit-entries-reordered");
}

#[test]
fn reordered_entries_with_swapped_seqs_are_detected() {
    // The table's seq column swapped between two rows (served in seq order).
    let mut entries = log(5);
    entries.swap(2, 3);
    entries[2].seq = 3;
    entries[3].seq = 4;
    let err = verify(&entries).unwrap_err();
    assert_eq!(err, ChainError::Reordered { seq: 4, found_at: 3 });
    assert_eq!(err.seq(), 3);
}

#[test]
fn duplicated_entry_is_detected() {
    let mut entries = log(4);
    entries.insert(2, entries[1].clone());
    assert_eq!(verify(&entries), Err(ChainError::Duplicate { seq: 2 }));
}

#[test]
fn forged_first_entry_is_detected() {
    let mut entries = log(3);
    entries[0].prev = Sha256::digest(b"history before the log began");
    entries[0].hash = entries[0].computed_hash();
    assert!(matches!(verify(&entries), Err(ChainError::BadStart { seq: 1, .. })));
}

#[test]
fn truncated_head_is_detected_with_a_known_head() {
    let entries = log(8);
    let known = entries[7].head();
    // Without the pin, a cut tail is invisible: that is what the pin is for.
    assert_eq!(verify(&entries[..5]), Ok(5));
    let mut verifier = ChainVerifier::new(ChainHead::GENESIS).with_known_head(known);
    for e in &entries[..5] {
        verifier.push(e).unwrap();
    }
    assert_eq!(verifier.finish(), Err(ChainError::Truncated { end: 5, known_seq: 8 }));
}

#[test]
fn rewritten_history_is_detected_by_the_known_head() {
    // An attacker with write access edits entry 2 and recomputes every later
    // hash: the chain is consistent again, but not with the recorded head.
    let mut entries = log(5);
    let known = entries[4].head();
    entries[1].subject = "forged".into();
    for i in 1..entries.len() {
        if i > 1 {
            entries[i].prev = entries[i - 1].hash;
        }
        entries[i].hash = entries[i].computed_hash();
    }
    assert_eq!(verify(&entries), Ok(5));
    let err = {
        let mut v = ChainVerifier::new(ChainHead::GENESIS).with_known_head(known);
        entries.iter().try_for_each(|e| v.push(e)).and_then(|()| v.finish().map(|_| ())).unwrap_err()
    };
    assert!(matches!(err, ChainError::HeadMismatch { seq: 5, .. }), "{err}");
}

#[test]
fn a_segment_verifies_from_the_head_of_the_previous_one() {
    let entries = log(10);
    let first = verify_chain(&entries[..4], ChainHead::GENESIS).unwrap();
    let rest = verify_chain(&entries[4..], first.head).unwrap();
    assert_eq!((rest.first_seq, rest.head), (Some(5), entries[9].head()));
    // A segment does not verify from the wrong place.
    assert!(verify_chain(&entries[4..], ChainHead::GENESIS).is_err());
}

/// Pins the encoding: this hash was computed independently, by the Python
/// verifier in docs/architecture.md, from the JSON line below.
#[test]
fn encoding_matches_the_documented_test_vector() {
    let line = r#"{"seq":1,"at":1800000000,"actor":"tok-0123456789abcdef","actor_name":"Zoë \"ops\"","role":"approver","action":"release.approve","subject":"rel-00112233aabbccdd","details":{"version":"1.2.0","product":"acme-thermostat","security_version":3,"tags":["a","b"]},"prev":"0000000000000000000000000000000000000000000000000000000000000000","hash":"de9ef9e5524645a4ce5e74d88458fc9cd6fd3dcb0644aec8e1f774b6c2d853f2"}"#;
    let entry: AuditEntry = serde_json::from_str(line).unwrap();
    assert_eq!(entry.prev, GENESIS_PREV);
    assert_eq!(entry.details_json(), r#"{"product":"acme-thermostat","security_version":3,"tags":["a","b"],"version":"1.2.0"}"#);
    assert_eq!(entry.computed_hash(), entry.hash, "encoding changed: {}", entry.computed_hash());
    assert_eq!(verify_chain([&entry], ChainHead::GENESIS).unwrap().head.seq, 1);
}

#[test]
fn entries_with_unknown_fields_are_refused() {
    // A field outside the hash would be unauthenticated: refuse it.
    let entry = &log(1)[0];
    let mut value = serde_json::to_value(entry).unwrap();
    value["note"] = json!("not hashed");
    assert!(serde_json::from_value::<AuditEntry>(value).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any single field edit anywhere is caught at that entry.
    #[test]
    fn any_edited_entry_is_caught_at_its_seq(n in 2u64..40, pick in any::<prop::sample::Index>(), field in 0usize..6, text in "[a-z]{1,8}") {
        let mut entries = log(n);
        let i = pick.index(entries.len());
        let e = &mut entries[i];
        match field {
            0 => e.subject.push_str(&text),
            1 => e.actor.push_str(&text),
            2 => e.action.push_str(&text),
            3 => e.details = json!({ "n": text }),
            4 => e.at = UnixTime(e.at.0 ^ 1),
            _ => e.actor_name.push_str(&text),
        }
        let err = verify(&entries).unwrap_err();
        prop_assert_eq!(err.seq(), i as u64 + 1, "{}", err);
        prop_assert!(matches!(err, ChainError::Edited { .. }), "{}", err);
    }

    /// Removing any entry but the last is caught at the removed seq.
    #[test]
    fn any_removed_entry_is_caught(n in 3u64..40, pick in any::<prop::sample::Index>()) {
        let mut entries = log(n);
        let i = pick.index(entries.len() - 1);
        entries.remove(i);
        let err = verify(&entries).unwrap_err();
        prop_assert_eq!(err.seq(), i as u64 + 1, "{}", err);
    }

    /// Swapping any two entries is caught, and never passes as intact.
    #[test]
    fn any_swap_is_caught(n in 3u64..30, a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>(), renumber in any::<bool>()) {
        let mut entries = log(n);
        let (i, j) = (a.index(entries.len()), b.index(entries.len()));
        prop_assume!(i != j);
        entries.swap(i, j);
        if renumber {
            for (k, e) in entries.iter_mut().enumerate() {
                e.seq = k as u64 + 1;
            }
        }
        let err = verify(&entries).unwrap_err();
        prop_assert!(err.seq() <= i.min(j) as u64 + 2, "{}", err);
    }

    /// Canonical details do not depend on the order keys were inserted in.
    #[test]
    fn details_hash_is_independent_of_key_order(keys in prop::collection::btree_set("[a-z_]{1,6}", 1..8)) {
        let forward: serde_json::Map<String, serde_json::Value> = keys.iter().map(|k| (k.clone(), json!(k.len()))).collect();
        let backward: serde_json::Map<String, serde_json::Value> = keys.iter().rev().map(|k| (k.clone(), json!(k.len()))).collect();
        let event = |m| AuditEvent::new("tok-1", "", "admin", "x.y", "s", serde_json::Value::Object(m)).unwrap();
        prop_assert_eq!(ChainHead::GENESIS.next(event(forward), UnixTime(1)).hash, ChainHead::GENESIS.next(event(backward), UnixTime(1)).hash);
    }
}
