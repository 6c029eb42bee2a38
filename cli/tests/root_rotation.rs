//! Root rotation (DESIGN §2): root v n+1 counts only when a threshold of root
//! v n's root keys AND of its own root keys signed it, one version at a time.

mod common;

use common::Lab;

/// Root v2 moves the root role from {r1, r2} to {r3, r4}: no key is shared,
/// so old and new signatures are clearly separate.
fn rotate_to_new_root_keys(lab: &Lab) {
    lab.with_signed_root_v1();
    lab.key("r3");
    lab.key("r4");
    lab.ok("root rotate --from root_v1.json --root-key r3.key.pub r4.key.pub --out root_v2.json");
}

#[test]
fn rotation_signed_by_old_and_new_root_keys_verifies_as_a_chain() {
    let lab = Lab::new();
    rotate_to_new_root_keys(&lab);
    for key in ["r1", "r2", "r3", "r4"] {
        lab.ok(&format!("root sign --key {key}.key root_v2.json"));
    }
    let run = lab.ok("--json root verify root_v1.json root_v2.json");
    let report = run.json();
    assert_eq!(report["root"]["version"], 2);
    assert_eq!(report["chain"].as_array().unwrap().len(), 2);
    lab.ok("root verify root_v1.json root_v2.json").assert_stdout_contains("root chain verified: v1 -> v2");
    lab.ok("verify --root root_v1.json root_v2.json").assert_stdout_contains("valid root under root v1");
}

#[test]
fn rejects_rotation_signed_only_by_the_new_root_keys() {
    let lab = Lab::new();
    rotate_to_new_root_keys(&lab);
    lab.ok("root sign --key r3.key root_v2.json");
    lab.ok("root sign --key r4.key root_v2.json");
    lab.run("root verify root_v1.json root_v2.json")
        .assert_code(1)
        .assert_stderr_contains("root_v2.json: root role: only 0 valid signature(s)");
    // A chain through the unaccepted root is refused as a whole.
    lab.with_unsigned_release();
    lab.ok("release sign --key rel1.key release.json");
    lab.ok("release sign --key rel2.key release.json");
    lab.run("verify --root root_v1.json --root root_v2.json release.json").assert_code(1);
}

#[test]
fn rejects_rotation_signed_only_by_the_old_root_keys() {
    let lab = Lab::new();
    rotate_to_new_root_keys(&lab);
    lab.ok("root sign --key r1.key root_v2.json");
    lab.ok("root sign --key r2.key root_v2.json");
    let run = lab.run("--json root verify root_v1.json root_v2.json");
    run.assert_code(1);
    let error = &run.json()["error"];
    assert_eq!(error["type"], "signature-threshold-not-met");
    assert_eq!(error["file"], "root_v2.json");
}

#[test]
fn rejects_a_root_that_skips_a_version() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    lab.ok("root init --product acme-* --version 3 --root-key r1.key.pub r2.key.pub --root-threshold 2 \
            --release-key rel1.key.pub --release-threshold 1 --edge-key edge.key.pub \
            --sign r1.key --sign r2.key --out root_v3.json");
    lab.run("root verify root_v1.json root_v3.json").assert_code(1).assert_stderr_contains("exactly +1");
}

#[test]
fn rejects_an_expired_final_root() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    let run = lab.run("--json root verify root_v1.json --now 99999999999");
    run.assert_code(1);
    assert_eq!(run.json()["error"]["type"], "root-expired");
}

#[test]
fn rotation_keeps_omitted_roles_and_drops_rotated_out_release_keys() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    lab.key("rel4");
    let v2 = lab
        .ok("--json root rotate --from root_v1.json --release-key rel2.key.pub rel4.key.pub --out root_v2.json \
             --sign r1.key --sign r2.key")
        .json();
    let v1 = lab.ok("--json root verify root_v1.json").json();
    assert_eq!(v2["root"]["version"], 2);
    assert_eq!(v2["root"]["roles"]["root"], v1["root"]["roles"]["root"]);
    assert_eq!(v2["root"]["roles"]["edge"], v1["root"]["roles"]["edge"]);
    assert_eq!(v2["root"]["roles"]["release"]["threshold"], 2);
    lab.ok("root verify root_v1.json root_v2.json");

    // A release signed by rel1 (rotated out) and rel2 was valid under v1, not under v2.
    lab.with_unsigned_release();
    lab.ok("release sign --key rel1.key release.json");
    lab.ok("release sign --key rel2.key release.json");
    lab.ok("verify --root root_v1.json release.json");
    lab.run("verify --root root_v1.json --root root_v2.json release.json")
        .assert_code(1)
        .assert_stderr_contains("not a release key of root v2");
}

#[test]
fn refuses_a_threshold_higher_than_the_number_of_keys() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    lab.run("root rotate --from root_v1.json --root-key r1.key.pub --out root_v2.json")
        .assert_code(2)
        .assert_stderr_contains("threshold 2 is impossible with 1 distinct root key(s)");
    assert!(!lab.path("root_v2.json").exists());
}
