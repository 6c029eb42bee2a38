//! Key files: created private (0600), never overwritten by accident, never
//! printed, and never confused with public keys or documents.

mod common;

use common::Lab;
use std::os::unix::fs::PermissionsExt;
use updraft_core::keys::SigningKeyFile;

fn mode(lab: &Lab, name: &str) -> u32 {
    std::fs::metadata(lab.path(name)).unwrap().permissions().mode() & 0o777
}

#[test]
fn private_key_file_is_created_with_mode_0600_and_public_key_with_0644() {
    let lab = Lab::new();
    lab.key("alice");
    assert_eq!(mode(&lab, "alice.key"), 0o600);
    assert_eq!(mode(&lab, "alice.key.pub"), 0o644);
}

#[test]
fn refuses_to_overwrite_a_key_without_force() {
    let lab = Lab::new();
    let first = lab.key("alice");
    let before = lab.read("alice.key");
    lab.run("keys generate --out alice.key").assert_code(4).assert_stderr_contains("pass --force");
    assert_eq!(lab.read("alice.key"), before);
    // A lone .pub in the way also stops generation before anything is written.
    lab.write("bob.key.pub", "{}");
    lab.run("keys generate --out bob.key").assert_code(4);
    assert!(!lab.path("bob.key").exists());

    std::fs::set_permissions(lab.path("alice.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let second = lab.ok("--json keys generate --out alice.key --force").json();
    assert_ne!(second["keyid"], first.as_str());
    assert_eq!(mode(&lab, "alice.key"), 0o600);
}

#[test]
fn keys_show_gives_the_same_keyid_for_the_private_and_public_file() {
    let lab = Lab::new();
    let keyid = lab.key("alice");
    let private = lab.ok("--json keys show alice.key").json();
    let public = lab.ok("--json keys show alice.key.pub").json();
    assert_eq!(private["keyid"], keyid.as_str());
    assert_eq!(public["keyid"], keyid.as_str());
    assert_eq!(private["kind"], "private");
    assert_eq!(public["public"], private["public"]);
}

#[test]
fn public_key_file_given_to_sign_is_refused_with_exit_3() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    lab.with_unsigned_release();
    lab.run("release sign --key rel1.key.pub release.json")
        .assert_code(3)
        .assert_stderr_contains("rel1.key.pub: this is a public key file; a private key is needed to sign");
    let run = lab.run("--json root sign --key r1.key.pub root_v1.json");
    run.assert_code(3);
    assert_eq!(run.json()["error"]["type"], "public-key-given");
}

#[test]
fn refuses_a_private_key_file_whose_halves_do_not_match() {
    let lab = Lab::new();
    lab.key("alice");
    lab.key("bob");
    let mut alice: serde_json::Value = serde_json::from_str(&lab.read("alice.key")).unwrap();
    let bob: serde_json::Value = serde_json::from_str(&lab.read("bob.key")).unwrap();
    alice["public"] = bob["public"].clone();
    lab.write("mixed.key", alice.to_string());
    lab.run("keys show mixed.key").assert_code(3).assert_stderr_contains("inconsistent");
}

#[test]
fn warns_when_a_private_key_is_readable_by_others() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    std::fs::set_permissions(lab.path("r1.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    lab.ok("root sign --key r1.key root_v1.json").assert_stderr_contains("chmod 600");
}

/// Runs every command, successful and failing, human and JSON, then looks for
/// each seed (base64 and hex) in everything the binary printed.
#[test]
fn secret_seed_never_appears_in_any_output() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    lab.with_unsigned_release();
    for json in ["", "--json "] {
        lab.ok(&format!("{json}keys show r1.key"));
        lab.ok(&format!("{json}release sign --key rel1.key release.json"));
        lab.run(&format!("{json}verify --root root_v1.json release.json --firmware fw.bin"));
        lab.ok(&format!("{json}release sign --key rel2.key release.json"));
        lab.ok(&format!("{json}verify --root root_v1.json release.json --firmware fw.bin"));
        lab.run(&format!("{json}verify --root root_v1.json r1.key"));
        lab.run(&format!("{json}verify --root r1.key release.json"));
        lab.run(&format!("{json}release sign --key release.json release.json"));
        lab.run(&format!("{json}keys generate --out r1.key"));
    }
    // A damaged private key file: its seed must not be echoed in the error.
    let mut damaged: serde_json::Value = serde_json::from_str(&lab.read("r2.key")).unwrap();
    let seed = damaged["seed"].as_str().unwrap().to_owned();
    damaged["keyid"] = serde_json::Value::String(seed.clone());
    lab.write("damaged.key", damaged.to_string());
    lab.run("keys show damaged.key").assert_code(3);
    damaged["keyid"] = damaged["public"].clone();
    damaged["seed"] = serde_json::json!([seed]);
    lab.write("damaged.key", damaged.to_string());
    lab.run("--json keys show damaged.key").assert_code(3);

    let transcript = lab.transcript();
    assert!(transcript.contains("valid release manifest"), "the flow did not run:\n{transcript}");
    for name in ["r1", "r2", "rel1", "rel2", "rel3", "edge"] {
        let file: SigningKeyFile = serde_json::from_str(&lab.read(&format!("{name}.key"))).unwrap();
        let seed_hex: String = file.to_key().unwrap().seed().iter().map(|b| format!("{b:02x}")).collect();
        assert!(!transcript.contains(&file.seed), "seed of {name} printed (base64)");
        assert!(!transcript.contains(&seed_hex), "seed of {name} printed (hex)");
    }
}
