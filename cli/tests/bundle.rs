//! `updraft bundle create` / `inspect`: an offline bundle is written only when
//! a device could install it, never half-written, and reads back (through
//! core's parser, the device's) to exactly the documents and bytes given.

mod common;

use common::Lab;
use std::path::Path;
use updraft_core::bundle;
use updraft_core::dsse::Envelope;
use updraft_core::revocation::{RevocationList, Revoked};
use updraft_core::root::SignedDocument;
use updraft_core::{ProductName, SecurityVersion, Sha256, UnixTime};

/// Far enough ahead that the system clock never reaches it.
const LIST_EXPIRES: u64 = 4_000_000_000;

fn envelope(lab: &Lab, name: &str) -> Envelope {
    serde_json::from_str(&lab.read(name)).unwrap()
}

/// Root v1, `fw.bin` and `release.json` signed by two of three release keys.
fn signed_release(lab: &Lab) {
    lab.with_signed_root_v1();
    lab.with_unsigned_release();
    lab.ok("release sign --key rel1.key release.json");
    lab.ok("release sign --key rel2.key release.json");
}

fn list(revoked: Vec<Revoked>, floor: u64) -> RevocationList {
    RevocationList {
        seq: 12,
        issued_at: UnixTime(1_700_000_000),
        expires: UnixTime(LIST_EXPIRES),
        revoked,
        min_security_version: [(ProductName::parse("acme-thermostat").unwrap(), SecurityVersion(floor))].into(),
        revoked_keyids: vec![],
    }
}

fn write_list(lab: &Lab, list: &RevocationList, signer: &str) {
    lab.write("revocations.json", list.sign(&[&lab.signing_key(signer)]).to_json_pretty());
}

fn assert_no_bundle(lab: &Lab) {
    assert!(!lab.path("fw.upd").exists(), "a refused bundle must not be written");
    assert!(!lab.path("fw.upd.partial").exists(), "no partial file may remain");
}

const CREATE: &str = "bundle create --release release.json --firmware fw.bin --root root_v1.json --out fw.upd";

#[test]
fn a_good_bundle_round_trips_through_the_device_parser() {
    let lab = Lab::new();
    signed_release(&lab);
    write_list(&lab, &list(vec![], 7), "edge");

    lab.ok(&format!("{CREATE} --revocations revocations.json")).assert_stdout_contains("wrote fw.upd");

    let bytes = std::fs::read(lab.path("fw.upd")).unwrap();
    let (header, artifact) = bundle::decode(&bytes).unwrap();
    assert_eq!(header.format, bundle::FORMAT);
    assert_eq!(header.roots, vec![envelope(&lab, "root_v1.json")]);
    assert_eq!(header.release, envelope(&lab, "release.json"));
    assert_eq!(header.revocations, Some(envelope(&lab, "revocations.json")));
    assert_eq!(artifact, std::fs::read(lab.path("fw.bin")).unwrap().as_slice());
    assert_eq!(header.artifact_length, artifact.len() as u64);
    let verified = header.verify_anchored(UnixTime(1_700_000_100)).unwrap();
    assert_eq!(verified.release.version.to_string(), "2.4.0");
    assert_eq!(verified.revocations.map(|l| l.seq), Some(12));
    assert!(!lab.path("fw.upd.partial").exists());
}

#[test]
fn json_output_names_the_bundle_its_hashes_and_roots() {
    let lab = Lab::new();
    signed_release(&lab);

    let report = lab.ok(&format!("--json {CREATE}")).json();

    let bytes = std::fs::read(lab.path("fw.upd")).unwrap();
    let image = std::fs::read(lab.path("fw.bin")).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["file"], "fw.upd");
    assert_eq!(report["sha256"], Sha256::digest(&bytes).to_hex());
    assert_eq!(report["bytes"], bytes.len());
    assert_eq!(report["artifact_sha256"], Sha256::digest(&image).to_hex());
    assert_eq!(report["artifact_length"], image.len());
    assert_eq!(report["version"], "2.4.0");
    assert_eq!(report["roots"], serde_json::json!([1]));
    assert_eq!(report["root_version"], 1);
    assert!(report.get("revocation_seq").is_none());

    // inspect reads the same facts back from the file.
    let inspected = lab.ok("--json bundle inspect fw.upd").json();
    for field in ["sha256", "bytes", "artifact_sha256", "version", "roots", "root_version", "valid_until"] {
        assert_eq!(inspected[field], report[field], "{field}");
    }
}

#[test]
fn carries_a_root_rotation_and_verifies_the_release_under_the_last_root() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    lab.key("r3");
    lab.key("r4");
    lab.ok("root rotate --from root_v1.json --root-key r3.key.pub r4.key.pub --out root_v2.json");
    for key in ["r1", "r2", "r3", "r4"] {
        lab.ok(&format!("root sign --key {key}.key root_v2.json"));
    }
    lab.with_unsigned_release();
    lab.ok("release sign --key rel1.key release.json");
    lab.ok("release sign --key rel3.key release.json");

    let report = lab.ok(&format!("--json {CREATE} --root root_v2.json")).json();

    assert_eq!(report["roots"], serde_json::json!([1, 2]));
    assert_eq!(report["root_version"], 2);
    lab.ok("bundle inspect fw.upd --root root_v1.json").assert_stdout_contains("OK: fw.upd is a valid bundle");
}

#[test]
fn refuses_firmware_whose_bytes_do_not_match_the_manifest() {
    let lab = Lab::new();
    signed_release(&lab);
    let mut image = std::fs::read(lab.path("fw.bin")).unwrap();
    image[4242] ^= 0x80;
    lab.write("fw.bin", &image);

    let run = lab.run(&format!("--json {CREATE}"));

    run.assert_code(1);
    assert_eq!(run.json()["error"]["type"], "artifact-hash-mismatch");
    assert_no_bundle(&lab);
}

#[test]
fn refuses_firmware_of_another_length_before_writing_anything() {
    let lab = Lab::new();
    signed_release(&lab);
    let image = std::fs::read(lab.path("fw.bin")).unwrap();
    lab.write("fw.bin", &image[..image.len() - 1]);

    let run = lab.run(&format!("--json {CREATE}"));

    run.assert_code(1);
    assert_eq!(run.json()["error"]["type"], "artifact-length-mismatch");
    assert_no_bundle(&lab);
}

#[test]
fn refuses_a_release_not_signed_by_the_release_role() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    lab.with_unsigned_release();
    lab.ok("release sign --key r1.key release.json");
    lab.ok("release sign --key r2.key release.json");

    let run = lab.run(&format!("--json {CREATE}"));

    run.assert_code(1);
    let error = &run.json()["error"];
    assert_eq!(error["type"], "signature-threshold-not-met");
    assert_eq!(error["file"], "release.json");
    assert_no_bundle(&lab);
}

#[test]
fn refuses_a_broken_root_chain() {
    let lab = Lab::new();
    signed_release(&lab);
    lab.key("r3");
    lab.key("r4");
    lab.ok("root rotate --from root_v1.json --root-key r3.key.pub r4.key.pub --out root_v2.json");
    // Only the new root keys signed v2: the old root never consented.
    lab.ok("root sign --key r3.key root_v2.json");
    lab.ok("root sign --key r4.key root_v2.json");

    let run = lab.run(&format!("--json {CREATE} --root root_v2.json"));

    run.assert_code(1);
    let error = &run.json()["error"];
    assert_eq!(error["type"], "signature-threshold-not-met");
    assert_eq!(error["file"], "root_v2.json");
    assert_no_bundle(&lab);
}

#[test]
fn refuses_roots_given_out_of_order() {
    let lab = Lab::new();
    signed_release(&lab);

    let run = lab.run("--json bundle create --release release.json --firmware fw.bin --root root_v1.json --root root_v1.json --out fw.upd");

    run.assert_code(1);
    assert_eq!(run.json()["error"]["type"], "root-version-skip");
    assert_no_bundle(&lab);
}

#[test]
fn refuses_a_revocation_list_that_revokes_the_image() {
    let lab = Lab::new();
    signed_release(&lab);
    let sha = Sha256::digest(&std::fs::read(lab.path("fw.bin")).unwrap());
    let revoked = Revoked { sha256: sha, reason: "bricks rev-b boards".into(), at: UnixTime(1_700_000_000) };
    write_list(&lab, &list(vec![revoked], 0), "edge");

    let run = lab.run(&format!("--json {CREATE} --revocations revocations.json"));

    run.assert_code(1);
    let error = &run.json()["error"];
    assert_eq!(error["type"], "release-revoked");
    assert_eq!(error["file"], "revocations.json");
    assert_no_bundle(&lab);
}

#[test]
fn refuses_a_revocation_list_whose_floor_is_above_the_release() {
    let lab = Lab::new();
    signed_release(&lab);
    write_list(&lab, &list(vec![], 8), "edge");

    let run = lab.run(&format!("--json {CREATE} --revocations revocations.json"));

    run.assert_code(1);
    assert_eq!(run.json()["error"]["type"], "below-security-floor");
    assert_no_bundle(&lab);
}

#[test]
fn refuses_a_revocation_list_not_signed_by_the_edge_role() {
    let lab = Lab::new();
    signed_release(&lab);
    write_list(&lab, &list(vec![], 0), "rel1");

    let run = lab.run(&format!("--json {CREATE} --revocations revocations.json"));

    run.assert_code(1);
    assert_eq!(run.json()["error"]["type"], "signature-threshold-not-met");
    assert_no_bundle(&lab);
}

#[test]
fn refuses_a_manifest_given_where_the_revocation_list_goes() {
    let lab = Lab::new();
    signed_release(&lab);

    let run = lab.run(&format!("--json {CREATE} --revocations release.json"));

    run.assert_code(3);
    assert_eq!(run.json()["error"]["type"], "wrong-payload-type");
}

#[test]
fn refuses_to_overwrite_without_force() {
    let lab = Lab::new();
    signed_release(&lab);
    lab.write("fw.upd", b"keep me");

    let run = lab.run(&format!("--json {CREATE}"));

    run.assert_code(4);
    assert_eq!(run.json()["error"]["type"], "output-exists");
    assert_eq!(lab.read("fw.upd"), "keep me");
    assert!(!lab.path("fw.upd.partial").exists());

    lab.ok(&format!("{CREATE} --force"));
    assert!(bundle::decode(&std::fs::read(lab.path("fw.upd")).unwrap()).is_ok());
}

fn tamper(path: &Path, edit: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(path).unwrap();
    edit(&mut bytes);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn inspect_refuses_a_bundle_whose_artifact_was_altered() {
    let lab = Lab::new();
    signed_release(&lab);
    lab.ok(CREATE);
    tamper(&lab.path("fw.upd"), |b| {
        let last = b.len() - 1;
        b[last] ^= 0x01;
    });

    let run = lab.run("--json bundle inspect fw.upd");

    run.assert_code(1);
    assert_eq!(run.json()["error"]["type"], "artifact-hash-mismatch");
}

#[test]
fn inspect_refuses_trailing_bytes_and_truncation() {
    let lab = Lab::new();
    signed_release(&lab);
    lab.ok(CREATE);
    tamper(&lab.path("fw.upd"), |b| b.push(0));
    lab.run("bundle inspect fw.upd").assert_code(3).assert_stderr_contains("trailing bytes");
    tamper(&lab.path("fw.upd"), |b| b.truncate(b.len() - 2));
    lab.run("bundle inspect fw.upd").assert_code(3).assert_stderr_contains("truncated");
    tamper(&lab.path("fw.upd"), |b| b.truncate(10));
    lab.run("bundle inspect fw.upd").assert_code(3).assert_stderr_contains("truncated");
}

#[test]
fn inspect_refuses_a_file_that_is_not_a_bundle() {
    let lab = Lab::new();
    signed_release(&lab);

    let run = lab.run("--json bundle inspect release.json");

    run.assert_code(3);
    assert!(run.json()["error"]["message"].as_str().unwrap().contains("not an Updraft bundle"));
}

#[test]
fn inspect_with_another_trust_anchor_refuses_the_bundle() {
    let lab = Lab::new();
    signed_release(&lab);
    lab.ok(CREATE);
    // Someone else's root v1: the bundle's own root v1 is skipped (same
    // version), and the release does not verify under the operator's root.
    for k in ["o1", "o2", "orel", "oedge"] {
        lab.key(k);
    }
    lab.ok("root init --product acme-* --root-key o1.key.pub --root-threshold 1 \
            --release-key orel.key.pub --release-threshold 1 --edge-key oedge.key.pub --out other_v1.json");
    lab.ok("root sign --key o1.key other_v1.json");

    lab.run("bundle inspect fw.upd --root other_v1.json").assert_code(1).assert_stderr_contains("release role");
}
