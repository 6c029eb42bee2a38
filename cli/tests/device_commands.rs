//! `updraft device …` against a stand-in edge built from core: requests are
//! signed the way the edge checks them, and answers count only when they
//! verify the way a device judges them (a replayed directive, a certificate
//! for another key, or a release only the edge signed are all refused).

mod common;

use common::fake_edge::{FakeEdge, Reply, Request};
use common::Lab;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};
use updraft_core::device_auth::{verify_request, AuthHeader};
use updraft_core::device_cert::DeviceCertificate;
use updraft_core::directive::{Action, Directive};
use updraft_core::dsse::Envelope;
use updraft_core::protocol::{self, CheckRequest, EnrollRequest, EnrollResponse};
use updraft_core::root::{SignedDocument, TrustedRoot};
use updraft_core::{HardwareId, ProductName, Sha256, SigningKey, UnixTime};

fn now() -> UnixTime {
    UnixTime(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs())
}

fn certificate(key: &SigningKey, public: &str) -> Envelope {
    let public_key = updraft_core::PublicKey::from_base64(public).unwrap();
    DeviceCertificate {
        device_id: protocol::device_id_for(&public_key),
        product: ProductName::parse("acme-thermostat").unwrap(),
        hardware_id: HardwareId::parse("thermo-r2").unwrap(),
        serial: "SN-0001".into(),
        public: public.to_owned(),
        issued_at: now(),
        expires: now().plus_secs(86_400),
    }
    .sign(&[key])
}

/// How the stand-in edge answers a check.
#[derive(Clone, Copy)]
enum Answer {
    /// An update to release.json, echoing the nonce.
    Update,
    /// "No update", but with a nonce from an earlier check (a replay).
    Replayed,
    /// An update whose release carries only the edge key's signature.
    ReleaseSignedByEdgeOnly,
}

/// An edge that enrolls with any token and answers checks as `answer` says,
/// after verifying the device's request signature with core.
fn device_edge(lab: &Lab, answer: Answer) -> FakeEdge {
    let edge_key = lab.signing_key("edge");
    let root = Envelope::from_slice(lab.read("root_v1.json").as_bytes()).unwrap();
    let trusted = TrustedRoot::from_anchor(&root).unwrap();
    let release = Envelope::from_slice(lab.read("release.json").as_bytes()).unwrap();
    FakeEdge::start(move |req: &Request| match req.path() {
        "/v1/enroll" => {
            let Ok(request) = serde_json::from_slice::<EnrollRequest>(&req.body) else {
                return Reply::problem(400, "malformed-document", "not an enroll request");
            };
            let cert = certificate(&edge_key, &request.public_key);
            let payload: DeviceCertificate = cert.unverified_parse("cert").unwrap();
            let response = EnrollResponse { device_id: payload.device_id, certificate: cert, root: root.clone() };
            Reply::json(201, &serde_json::to_value(response).unwrap())
        }
        "/v1/check" => {
            let header = req.header("authorization").unwrap_or_default();
            let cert = match verify_request(header, "POST", "/v1/check", &req.body, &trusted, now()) {
                Ok(cert) => cert,
                Err(e) => return Reply::problem(401, e.slug(), &e.to_string()),
            };
            let check: CheckRequest = serde_json::from_slice(&req.body).unwrap();
            let update = |release: Envelope| Action::Update {
                release,
                campaign_id: "default".into(),
                download_url: "/v1/artifacts/abc?exp=1&tok=2".into(),
                deadline: now().plus_secs(86_400),
            };
            let (nonce, action) = match answer {
                Answer::Update => (check.nonce, update(release.clone())),
                Answer::Replayed => ("0123456789abcdef0123456789abcdef".to_owned(), Action::None),
                Answer::ReleaseSignedByEdgeOnly => {
                    let forged = Envelope::sign(&release.payload_type, &release.unverified_payload().unwrap(), &[&edge_key]);
                    (check.nonce, update(forged))
                }
            };
            let directive = Directive {
                device_id: cert.device_id,
                nonce,
                issued_at: now(),
                expires: now().plus_secs(300),
                root_version: 1,
                revocation_seq: 0,
                poll_after_s: 3600,
                action,
            };
            Reply::bytes(200, "application/json", directive.sign(&[&edge_key]).to_json().into_bytes())
        }
        _ => Reply::problem(404, "not-found", "no such route"),
    })
}

/// Root v1, a signed release, and a device enrolled in `dev/` with `device.key`.
fn enrolled(answer: Answer) -> (Lab, FakeEdge) {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    lab.with_unsigned_release();
    lab.ok("release sign --key rel1.key release.json");
    lab.ok("release sign --key rel2.key release.json");
    let edge = device_edge(&lab, answer);
    lab.run_env(
        &[
            "device",
            "enroll",
            "--server",
            edge.url(),
            "--key",
            "device.key",
            "--hardware-id",
            "thermo-r2",
            "--serial",
            "SN-0001",
            "--out",
            "dev",
        ],
        &[("UPDRAFT_ENROLL_TOKEN", "enr_secret")],
    )
    .assert_code(0);
    (lab, edge)
}

fn check(lab: &Lab, edge: &FakeEdge, json: bool) -> common::Run {
    let sha = "0".repeat(64);
    let mut args = vec!["device", "check", "--server", edge.url(), "--dir", "dev", "--key", "device.key"];
    args.extend(["--version", "2.3.0", "--sha256", &sha, "--security-version", "6", "--battery", "80", "--network", "wifi"]);
    args.extend(["--tz", "America/Chicago"]);
    if json {
        args.insert(0, "--json");
    }
    lab.run_args(&args)
}

#[test]
fn sign_request_output_verifies_with_core_device_auth() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    lab.key("device");
    let device_key = lab.signing_key("device");
    let cert = certificate(&lab.signing_key("edge"), &device_key.public_key().to_base64());
    lab.write("cert.json", cert.to_json_pretty());
    let body = br#"{"current":{"version":"1.0.0","sha256":"00","security_version":1}}"#;
    lab.write("body.json", body);

    let ts = now().secs().to_string();
    let run = lab.run_args(&[
        "device",
        "sign-request",
        "--key",
        "device.key",
        "--cert",
        "cert.json",
        "--method",
        "POST",
        "--path",
        "/v1/check",
        "--body",
        "body.json",
        "--ts",
        &ts,
    ]);
    run.assert_code(0);
    let value = run.stdout.strip_suffix('\n').expect("one line");
    assert!(!value.contains('\n'));
    let header = AuthHeader::parse(value).unwrap();
    assert_eq!(header.ts.secs().to_string(), ts);
    assert_eq!(header.cert, cert);
    let trusted = TrustedRoot::from_anchor(&Envelope::from_slice(lab.read("root_v1.json").as_bytes()).unwrap()).unwrap();
    let payload: DeviceCertificate = trusted.verify(&header.cert, now()).unwrap();
    header.check_signature(&payload, "POST", "/v1/check", body).unwrap();
    assert!(header.check_signature(&payload, "POST", "/v1/check", b"{}").is_err(), "the body is signed");
    assert!(header.check_signature(&payload, "GET", "/v1/check", body).is_err(), "the method is signed");
    verify_request(value, "POST", "/v1/check", body, &trusted, now()).unwrap();
}

#[test]
fn sign_request_reads_the_body_from_stdin() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    lab.key("device");
    let device_key = lab.signing_key("device");
    lab.write("cert.json", certificate(&lab.signing_key("edge"), &device_key.public_key().to_base64()).to_json());
    let mut child = Command::new(env!("CARGO_BIN_EXE_updraft"))
        .args(["device", "sign-request", "--key", "device.key", "--cert", "cert.json", "--path", "/v1/reports", "--body", "-"])
        .current_dir(lab.path(""))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"{\"state\":\"downloading\"}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let trusted = TrustedRoot::from_anchor(&Envelope::from_slice(lab.read("root_v1.json").as_bytes()).unwrap()).unwrap();
    let value = String::from_utf8(out.stdout).unwrap();
    verify_request(value.trim_end(), "POST", "/v1/reports", b"{\"state\":\"downloading\"}", &trusted, now()).unwrap();
}

#[test]
fn sign_request_refuses_a_key_the_certificate_does_not_name() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    lab.key("device");
    lab.key("other");
    let cert = certificate(&lab.signing_key("edge"), &lab.signing_key("device").public_key().to_base64());
    lab.write("cert.json", cert.to_json());
    let run = lab.run("--json device sign-request --key other.key --cert cert.json --path /v1/check");
    run.assert_code(3);
    assert_eq!(run.json()["error"]["type"], "key-does-not-match-certificate");
}

#[test]
fn enrolls_with_a_generated_key_and_keeps_what_verifies() {
    let (lab, edge) = enrolled(Answer::Update);
    let sent: EnrollRequest = serde_json::from_slice(&edge.requests()[0].body).unwrap();
    assert_eq!(sent.token, "enr_secret");
    assert_eq!(sent.public_key, lab.signing_key("device").public_key().to_base64());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(lab.path("device.key")).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let record: serde_json::Value = serde_json::from_str(&lab.read("dev/device.json")).unwrap();
    let device_id = protocol::device_id_for(lab.signing_key("device").public_key());
    assert_eq!(record, serde_json::json!({ "device_id": device_id, "hardware_id": "thermo-r2", "serial": "SN-0001" }));
    assert_eq!(
        Envelope::from_slice(lab.read("dev/root.json").as_bytes()).unwrap(),
        Envelope::from_slice(lab.read("root_v1.json").as_bytes()).unwrap()
    );
    Envelope::from_slice(lab.read("dev/cert.json").as_bytes()).unwrap();
    assert!(!lab.transcript().contains("enr_secret"), "the enrollment token was printed");

    // Enrolling again would overwrite the device folder: refused before any request.
    let before = edge.connections();
    lab.run_env(
        &[
            "device",
            "enroll",
            "--server",
            edge.url(),
            "--key",
            "device.key",
            "--hardware-id",
            "thermo-r2",
            "--serial",
            "SN-0001",
            "--out",
            "dev",
        ],
        &[("UPDRAFT_ENROLL_TOKEN", "enr_secret")],
    )
    .assert_code(4);
    assert_eq!(edge.connections(), before);
}

#[test]
fn enroll_refuses_a_certificate_for_another_key() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    lab.key("stranger");
    let edge_key = lab.signing_key("edge");
    let stranger = lab.signing_key("stranger").public_key().to_base64();
    let root = Envelope::from_slice(lab.read("root_v1.json").as_bytes()).unwrap();
    let edge = FakeEdge::start(move |_| {
        let cert = certificate(&edge_key, &stranger);
        let payload: DeviceCertificate = cert.unverified_parse("cert").unwrap();
        let response = EnrollResponse { device_id: payload.device_id, certificate: cert, root: root.clone() };
        Reply::json(201, &serde_json::to_value(response).unwrap())
    });
    let run = lab.run_args(&[
        "--json",
        "device",
        "enroll",
        "--server",
        edge.url(),
        "--enroll-token",
        "t",
        "--key",
        "device.key",
        "--hardware-id",
        "thermo-r2",
        "--serial",
        "SN-0001",
        "--out",
        "dev",
    ]);
    run.assert_code(1);
    assert_eq!(run.json()["error"]["type"], "certificate-does-not-match-request");
    assert!(!lab.path("dev/cert.json").exists(), "nothing unverified is kept");
}

#[test]
fn check_verifies_the_directive_and_prints_the_update() {
    let (lab, edge) = enrolled(Answer::Update);
    let run = check(&lab, &edge, false);
    run.assert_code(0)
        .assert_stdout_contains("action: update to 2.4.0")
        .assert_stdout_contains("download_url  /v1/artifacts/abc?exp=1&tok=2")
        .assert_stdout_contains("deadline")
        .assert_stdout_contains("poll_after_s: 3600");

    let sent: CheckRequest = serde_json::from_slice(&edge.requests().last().unwrap().body).unwrap();
    sent.validate().unwrap();
    assert_eq!(sent.nonce.len(), 32);
    assert_eq!((sent.root_version, sent.revocation_seq, sent.battery, sent.charging), (1, 0, Some(80), Some(false)));
    assert_eq!(sent.tz.as_deref(), Some("America/Chicago"));

    let report = check(&lab, &edge, true).json();
    assert_eq!(report["action"]["type"], "update");
    assert_eq!(report["poll_after_s"], 3600);
    assert_eq!(report["release"]["version"], "2.4.0");
    let second: CheckRequest = serde_json::from_slice(&edge.requests().last().unwrap().body).unwrap();
    assert_ne!(second.nonce, sent.nonce, "every check has a fresh nonce");
}

#[test]
fn check_refuses_a_replayed_directive() {
    let (lab, edge) = enrolled(Answer::Replayed);
    let run = check(&lab, &edge, true);
    run.assert_code(1);
    assert_eq!(run.json()["error"]["type"], "directive-does-not-answer-this-check");
    assert!(run.json()["error"]["message"].as_str().unwrap().contains("nonce"));
}

#[test]
fn check_refuses_an_update_whose_release_only_the_edge_signed() {
    let (lab, edge) = enrolled(Answer::ReleaseSignedByEdgeOnly);
    let run = check(&lab, &edge, true);
    run.assert_code(1);
    assert_eq!(run.json()["error"]["type"], "signature-threshold-not-met");
}

/// Serves `image` at any path, honouring `Range: bytes=N-`.
fn artifact_server(image: Vec<u8>) -> FakeEdge {
    FakeEdge::start(move |req| match req.header("range").and_then(|r| r.strip_prefix("bytes=")).and_then(|r| r.strip_suffix('-')) {
        Some(start) => {
            let start: usize = start.parse().unwrap();
            if start >= image.len() {
                return Reply::problem(416, "range-not-satisfiable", "past the end")
                    .with_header("content-range", &format!("bytes */{}", image.len()));
            }
            Reply::bytes(206, "application/octet-stream", image[start..].to_vec())
                .with_header("content-range", &format!("bytes {start}-{}/{}", image.len() - 1, image.len()))
        }
        None => Reply::bytes(200, "application/octet-stream", image.clone()),
    })
}

#[test]
fn download_resumes_a_partial_file_with_a_range_request() {
    let lab = Lab::new();
    let image: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let sha = Sha256::digest(&image).to_hex();
    let edge = artifact_server(image.clone());
    lab.write("fw.bin", &image[..100_000]);
    let url = format!("/v1/artifacts/{sha}?exp=1&tok=2");
    let run = lab.run_args(&[
        "--json",
        "device",
        "download",
        "--server",
        edge.url(),
        "--url",
        &url,
        "--out",
        "fw.bin",
        "--expect-length",
        "300000",
    ]);
    run.assert_code(0);
    let report = run.json();
    assert_eq!((report["resumed_from"].as_u64(), report["received"].as_u64()), (Some(100_000), Some(200_000)));
    assert_eq!(report["sha256_verified"], true);
    assert_eq!(edge.requests()[0].header("range"), Some("bytes=100000-"));
    assert_eq!(std::fs::read(lab.path("fw.bin")).unwrap(), image);

    // Complete already: the edge answers 416, and the file is judged as it is.
    lab.run_args(&["device", "download", "--server", edge.url(), "--url", &url, "--out", "fw.bin"]).assert_code(0);
}

#[test]
fn download_removes_a_file_whose_digest_is_wrong_and_nothing_else() {
    let lab = Lab::new();
    let image = vec![7u8; 50_000];
    let edge = artifact_server(image);
    lab.write("keep.txt", "untouched");
    let wanted = Sha256::digest(b"the image the directive named").to_hex();
    let url = format!("{}/v1/artifacts/{wanted}?exp=1&tok=2", edge.url());
    let run = lab.run_args(&["--json", "device", "download", "--url", &url, "--out", "fw.bin"]);
    run.assert_code(1);
    assert_eq!(run.json()["error"]["type"], "artifact-hash-mismatch");
    assert!(!lab.path("fw.bin").exists());
    assert_eq!(lab.read("keep.txt"), "untouched");
}

#[test]
fn download_refused_by_the_edge_exits_5_without_printing_the_link_token() {
    let lab = Lab::new();
    let edge = FakeEdge::canned(Reply::problem(401, "download-token-expired", "download link expired at 1"));
    let url = format!("/v1/artifacts/{}?exp=1&tok=secret-tok", "a".repeat(64));
    let run = lab.run_args(&["device", "download", "--server", edge.url(), "--url", &url, "--out", "fw.bin"]);
    run.assert_code(5).assert_stderr_contains("download-token-expired");
    assert!(!run.stderr.contains("secret-tok"));
}
