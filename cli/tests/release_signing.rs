//! Release manifests: thresholds, tampered images, swapped payloads, expiry
//! and scope, judged by `updraft verify` the way a device judges them.

mod common;

use common::Lab;

fn signed_release(lab: &Lab, keys: &[&str]) {
    lab.with_signed_root_v1();
    lab.with_unsigned_release();
    for key in keys {
        lab.ok(&format!("release sign --key {key}.key release.json"));
    }
}

#[test]
fn release_signed_by_two_of_three_release_keys_verifies_with_its_firmware() {
    let lab = Lab::new();
    signed_release(&lab, &["rel1", "rel3"]);
    let run = lab.ok("verify --root root_v1.json release.json --firmware fw.bin --hardware-id thermo-r3");
    run.assert_stdout_contains("OK: release.json is a valid release manifest under root v1")
        .assert_stdout_contains("2 valid of threshold 2 (3 keys): met")
        .assert_stdout_contains("firmware fw.bin matches");
}

#[test]
fn rejects_release_signed_by_only_one_release_key() {
    let lab = Lab::new();
    signed_release(&lab, &["rel1"]);
    lab.run("verify --root root_v1.json release.json --firmware fw.bin")
        .assert_code(1)
        .assert_stderr_contains("only 1 valid signature(s)")
        .assert_stderr_contains("NOT met");
}

#[test]
fn one_key_signing_twice_counts_once() {
    let lab = Lab::new();
    signed_release(&lab, &["rel2", "rel2"]);
    assert_eq!(lab.read("release.json").matches("\"keyid\"").count(), 1);
    lab.run("verify --root root_v1.json release.json").assert_code(1);
}

#[test]
fn rejects_release_signed_by_root_keys_instead_of_release_keys() {
    let lab = Lab::new();
    signed_release(&lab, &["r1", "r2"]);
    lab.run("verify --root root_v1.json release.json").assert_code(1).assert_stderr_contains("not counted");
}

#[test]
fn rejects_tampered_firmware_with_hash_mismatch() {
    let lab = Lab::new();
    signed_release(&lab, &["rel1", "rel2"]);
    let mut image = std::fs::read(lab.path("fw.bin")).unwrap();
    image[1000] ^= 0x01;
    lab.write("fw.bin", image);
    let run = lab.run("--json verify --root root_v1.json release.json --firmware fw.bin");
    run.assert_code(1);
    assert_eq!(run.json()["error"]["type"], "artifact-hash-mismatch");
    lab.run("verify --root root_v1.json release.json --firmware fw.bin").assert_code(1).assert_stderr_contains("SHA-256 is");
}

#[test]
fn rejects_truncated_firmware_with_length_mismatch() {
    let lab = Lab::new();
    signed_release(&lab, &["rel1", "rel2"]);
    let image = std::fs::read(lab.path("fw.bin")).unwrap();
    lab.write("fw.bin", &image[..image.len() - 1]);
    let run = lab.run("--json verify --root root_v1.json release.json --firmware fw.bin");
    run.assert_code(1);
    assert_eq!(run.json()["error"]["type"], "artifact-length-mismatch");
}

#[test]
fn rejects_another_manifest_swapped_in_under_the_original_signatures() {
    let lab = Lab::new();
    signed_release(&lab, &["rel1", "rel2"]);
    lab.write("evil.bin", b"not the firmware the release keys signed");
    lab.ok("release create --firmware evil.bin --product acme-thermostat --hardware-id thermo-r2 \
            --version 9.9.9 --security-version 99 --out evil.json");
    let evil: serde_json::Value = serde_json::from_str(&lab.read("evil.json")).unwrap();
    let mut envelope: serde_json::Value = serde_json::from_str(&lab.read("release.json")).unwrap();
    envelope["payload"] = evil["payload"].clone();
    lab.write("release.json", envelope.to_string());
    lab.run("verify --root root_v1.json release.json --firmware evil.bin")
        .assert_code(1)
        .assert_stderr_contains("only 0 valid signature(s)");
}

#[test]
fn rejects_expired_release() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    lab.write("fw.bin", b"image");
    lab.ok("release create --firmware fw.bin --product acme-thermostat --hardware-id thermo-r2 \
            --version 1.0.0 --security-version 1 --expires-days 1 --now 1700000000 --out release.json \
            --sign rel1.key --sign rel2.key");
    lab.ok("verify --root root_v1.json release.json --now 1700000100");
    let run = lab.run("--json verify --root root_v1.json release.json --now 1700090000");
    run.assert_code(1);
    assert_eq!(run.json()["error"]["type"], "expired");
}

#[test]
fn rejects_release_for_a_product_outside_the_root_scope() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    lab.write("fw.bin", b"image");
    lab.ok("release create --firmware fw.bin --product globex-lock --hardware-id lock-1 \
            --version 1.0.0 --security-version 1 --out release.json --sign rel1.key --sign rel2.key");
    let run = lab.run("--json verify --root root_v1.json release.json");
    run.assert_code(1);
    assert_eq!(run.json()["error"]["type"], "product-out-of-scope");
}

#[test]
fn rejects_release_that_does_not_name_the_device_hardware_id() {
    let lab = Lab::new();
    signed_release(&lab, &["rel1", "rel2"]);
    lab.run("verify --root root_v1.json release.json --hardware-id thermo-r9")
        .assert_code(1)
        .assert_stderr_contains("does not name hardware id `thermo-r9`");
}

#[test]
fn release_create_hashes_the_sbom_and_defaults_the_name_to_the_file_name() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    lab.write("thermo-2.4.0.img", vec![7u8; 70_000]);
    let sbom = br#"{"bomFormat":"CycloneDX"}"#;
    lab.write("sbom.cdx.json", sbom);
    let run = lab.ok("--json release create --firmware thermo-2.4.0.img --sbom sbom.cdx.json \
                      --product acme-thermostat --hardware-id t1 --version 2.4.0 --security-version 3 \
                      --min-bootloader 1.1.0 --out release.json --sign rel1.key --sign rel3.key");
    let manifest = &run.json()["manifest"];
    assert_eq!(manifest["artifact"]["name"], "thermo-2.4.0.img");
    assert_eq!(manifest["artifact"]["length"], 70_000);
    assert_eq!(manifest["sbom"]["length"], sbom.len());
    lab.ok("verify --root root_v1.json release.json --firmware thermo-2.4.0.img --sbom sbom.cdx.json");
    lab.write("sbom.cdx.json", br#"{"bomFormat":"CycloneDx"}"#);
    lab.run("verify --root root_v1.json release.json --sbom sbom.cdx.json").assert_code(1);
}

#[test]
fn refuses_an_empty_firmware_image() {
    let lab = Lab::new();
    lab.write("fw.bin", b"");
    lab.run(
        "release create --firmware fw.bin --product p --hardware-id h --version 1.0.0 \
             --security-version 1 --out release.json",
    )
    .assert_code(3)
    .assert_stderr_contains("fw.bin: the firmware file is empty");
}
