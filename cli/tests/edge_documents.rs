//! Edge-signed documents (directives, revocation lists, device certificates):
//! `updraft verify` judges them under the root's edge role, and an edge key
//! alone can never make a release verify (DESIGN §2, what each key's loss costs).

mod common;

use common::Lab;
use updraft_core::device_cert::DeviceCertificate;
use updraft_core::directive::{Action, Directive};
use updraft_core::dsse::Envelope;
use updraft_core::keys::SigningKeyFile;
use updraft_core::revocation::RevocationList;
use updraft_core::root::SignedDocument;
use updraft_core::{DeviceId, HardwareId, ProductName, SigningKey, UnixTime};

const NOW: u64 = 1_700_000_000;

fn signing_key(lab: &Lab, name: &str) -> SigningKey {
    let file: SigningKeyFile = serde_json::from_str(&lab.read(&format!("{name}.key"))).unwrap();
    file.to_key().unwrap()
}

fn write_envelope(lab: &Lab, name: &str, envelope: &Envelope) {
    lab.write(name, envelope.to_json_pretty());
}

fn revocation_list() -> RevocationList {
    RevocationList {
        seq: 4,
        issued_at: UnixTime(NOW),
        expires: UnixTime(NOW + 3600),
        revoked: vec![],
        min_security_version: Default::default(),
        revoked_keyids: vec![],
    }
}

fn update_directive(release: Envelope) -> Directive {
    Directive {
        device_id: DeviceId::parse("dev-1").unwrap(),
        nonce: "n-1".into(),
        issued_at: UnixTime(NOW),
        expires: UnixTime(NOW + 300),
        root_version: 1,
        revocation_seq: 4,
        poll_after_s: 3600,
        action: Action::Update {
            release,
            campaign_id: "c-1".into(),
            download_url: "https://updates.example/v1/artifacts/x".into(),
            deadline: UnixTime(NOW + 86_400),
        },
    }
}

#[test]
fn verifies_a_revocation_list_signed_by_the_edge_key() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    write_envelope(&lab, "revocations.json", &revocation_list().sign(&[&signing_key(&lab, "edge")]));
    lab.ok(&format!("verify --root root_v1.json revocations.json --now {NOW}"))
        .assert_stdout_contains("valid revocation list")
        .assert_stdout_contains("edge role of root v1: 1 valid of threshold 1");
    lab.run(&format!("verify --root root_v1.json revocations.json --now {}", NOW + 7200)).assert_code(1);
}

#[test]
fn rejects_a_revocation_list_signed_by_release_keys() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    let keys = [signing_key(&lab, "rel1"), signing_key(&lab, "rel2")];
    write_envelope(&lab, "revocations.json", &revocation_list().sign(&[&keys[0], &keys[1]]));
    lab.run(&format!("verify --root root_v1.json revocations.json --now {NOW}")).assert_code(1);
}

#[test]
fn verifies_a_directive_carrying_a_release_signed_by_release_keys() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    lab.with_unsigned_release();
    lab.ok("release sign --key rel1.key release.json");
    lab.ok("release sign --key rel2.key release.json");
    let release = Envelope::from_slice(lab.read("release.json").as_bytes()).unwrap();
    write_envelope(&lab, "directive.json", &update_directive(release).sign(&[&signing_key(&lab, "edge")]));
    let report = lab.ok(&format!("--json verify --root root_v1.json directive.json --now {NOW}")).json();
    assert_eq!(report["document"], "directive");
    assert_eq!(report["signatures"][1]["role"], "release");
}

#[test]
fn rejects_a_directive_whose_release_only_the_edge_key_signed() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    lab.with_unsigned_release();
    let edge = signing_key(&lab, "edge");
    let mut release = Envelope::from_slice(lab.read("release.json").as_bytes()).unwrap();
    release.add_signature_checked(&edge).unwrap();
    write_envelope(&lab, "directive.json", &update_directive(release).sign(&[&edge]));
    lab.run(&format!("verify --root root_v1.json directive.json --now {NOW}"))
        .assert_code(1)
        .assert_stderr_contains("release role: only 0 valid signature(s)");
}

#[test]
fn verifies_a_device_certificate_signed_by_the_edge_key() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    let device = SigningKey::from_seed([9; 32]);
    let cert = DeviceCertificate {
        device_id: DeviceId::parse("dev-7").unwrap(),
        product: ProductName::parse("acme-thermostat").unwrap(),
        hardware_id: HardwareId::parse("thermo-r2").unwrap(),
        serial: "SN-0007".into(),
        public: device.public_key().to_base64(),
        issued_at: UnixTime(NOW),
        expires: UnixTime(NOW + 365 * 86_400),
    };
    write_envelope(&lab, "cert.json", &cert.sign(&[&signing_key(&lab, "edge")]));
    lab.ok(&format!("verify --root root_v1.json cert.json --now {NOW}"))
        .assert_stdout_contains("valid device certificate")
        .assert_stdout_contains("device dev-7");
    // A certificate the device minted for itself is worthless.
    write_envelope(&lab, "cert.json", &cert.sign(&[&device]));
    lab.run(&format!("verify --root root_v1.json cert.json --now {NOW}")).assert_code(1);
}
