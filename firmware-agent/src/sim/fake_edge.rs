//! Whole-fleet host tests of the simulator, against no edge at all and
//! against a stand-in edge: just enough of the
//! device protocol (enroll with a 429 burst, signed directives offering one
//! release until a device reports a rollback, artifacts, reports) on a
//! plain `TcpListener`, so the whole loop — download, install, reboot, trial
//! verdict, rollback, report delivery — runs without workerd. The real worker
//! is exercised by the end-to-end suite in `tests/`.

use super::health::fails;
use super::{device_dir, factory_image, simulate, SimArgs, StopReason};
use crate::agent::now;
use crate::error::AgentError;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use updraft_core::device_auth::RawAuthHeader;
use updraft_core::device_cert::DeviceCertificate;
use updraft_core::directive::{Action, Directive};
use updraft_core::dsse::Envelope;
use updraft_core::protocol::{CheckRequest, EnrollRequest, EnrollResponse};
use updraft_core::release::{Artifact, ReleaseManifest};
use updraft_core::report::{Event, ReportAck, ReportBatch};
use updraft_core::root::{role_from_keys, Roles, Root, SignedDocument};
use updraft_core::{DeviceId, HardwareId, ProductName, SecurityVersion, Sha256, SigningKey, Version};

/// Root, release and edge keys (one each, threshold 1).
fn keys() -> [SigningKey; 3] {
    [1u8, 2, 3].map(|i| SigningKey::from_seed([i; 32]))
}

/// Root v1 over [`keys`], valid for a year, written to `path`; returns its envelope.
pub fn write_root(path: &Path) -> Envelope {
    let keys = keys();
    let (mut table, root) = role_from_keys(&[keys[0].public_key().clone()], 1);
    let (release_table, release) = role_from_keys(&[keys[1].public_key().clone()], 1);
    let (edge_table, edge) = role_from_keys(&[keys[2].public_key().clone()], 1);
    table.extend(release_table);
    table.extend(edge_table);
    let doc =
        Root { version: 1, expires: now().plus_secs(365 * 86_400), product: "*".into(), keys: table, roles: Roles { root, release, edge } };
    let envelope = doc.sign(&[&keys[0]]);
    std::fs::write(path, envelope.to_json()).unwrap();
    envelope
}

#[derive(Default)]
struct EdgeState {
    enroll_429_left: u32,
    rolled_back: HashSet<String>,
    delivered: Vec<Event>,
}

struct Edge {
    url: String,
    root: Envelope,
    release: Envelope,
    sha256: Sha256,
    image: Vec<u8>,
    state: Mutex<EdgeState>,
}

fn start(root: Envelope, image: Vec<u8>, version: &str, enroll_429: u32) -> Arc<Edge> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let sha256 = Sha256::digest(&image);
    let manifest = ReleaseManifest {
        product: ProductName::parse("thermo").unwrap(),
        hardware_ids: vec![HardwareId::parse("thermo-v2").unwrap()],
        version: Version::parse(version).unwrap(),
        security_version: SecurityVersion(2),
        artifact: Artifact { sha256, length: image.len() as u64, name: "fw.img".into() },
        min_bootloader: None,
        created: now(),
        expires: None,
        notes: String::new(),
        sbom: None,
        deltas: Vec::new(),
        support_until: None,
    };
    let release = manifest.sign(&[&keys()[1]]);
    let state = Mutex::new(EdgeState { enroll_429_left: enroll_429, ..EdgeState::default() });
    let edge = Arc::new(Edge { url, root, release, sha256, image, state });
    let served = edge.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let edge = served.clone();
            std::thread::spawn(move || edge.serve(stream));
        }
    });
    edge
}

fn respond(stream: &mut TcpStream, status: u16, extra: &str, body: &[u8]) {
    let head = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n", body.len());
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

fn problem(slug: &str) -> Vec<u8> {
    format!(r#"{{"type":"urn:updraft:problem:{slug}","title":"x","status":400,"detail":"fake edge"}}"#).into_bytes()
}

impl Edge {
    fn serve(&self, mut stream: TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let mut parts = line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or("").to_owned(), parts.next().unwrap_or("").to_owned());
        let (mut length, mut auth) = (0usize, String::new());
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                break;
            }
            let (name, value) = h.split_once(':').unwrap_or(("", ""));
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "authorization" => auth = value.trim().to_owned(),
                _ => {}
            }
        }
        let mut body = vec![0u8; length];
        let _ = reader.read_exact(&mut body);
        let device = || -> Option<DeviceId> {
            let cert = RawAuthHeader::parse(&auth).ok()?.certificate().ok()?;
            Some(cert.unverified_parse::<DeviceCertificate>("certificate").ok()?.device_id)
        };
        let json = |v: &dyn erased::Json| v.bytes();
        match (method.as_str(), target.split('?').next().unwrap_or("")) {
            ("POST", "/v1/enroll") => {
                let limited = {
                    let mut s = self.state.lock().unwrap();
                    let limited = s.enroll_429_left > 0;
                    s.enroll_429_left = s.enroll_429_left.saturating_sub(1);
                    limited
                };
                if limited {
                    return respond(&mut stream, 429, "retry-after: 1\r\n", &problem("rate-limited"));
                }
                let req: EnrollRequest = serde_json::from_slice(&body).unwrap();
                let id = format!("dev-{}", &Sha256::digest(req.public_key.as_bytes()).to_hex()[..16]);
                let cert = DeviceCertificate {
                    device_id: DeviceId::parse(&id).unwrap(),
                    product: ProductName::parse("thermo").unwrap(),
                    hardware_id: req.hardware_id,
                    serial: req.serial,
                    public: req.public_key,
                    issued_at: now(),
                    expires: now().plus_secs(86_400),
                };
                let answer =
                    EnrollResponse { device_id: cert.device_id.clone(), certificate: cert.sign(&[&keys()[2]]), root: self.root.clone() };
                respond(&mut stream, 200, "", &json(&answer));
            }
            ("POST", "/v1/check") => {
                let (Some(id), Ok(req)) = (device(), serde_json::from_slice::<CheckRequest>(&body)) else {
                    return respond(&mut stream, 401, "", &problem("unauthorized"));
                };
                let done = self.state.lock().unwrap().rolled_back.contains(id.as_str()) || req.current.sha256 == self.sha256;
                let action = if done {
                    Action::None
                } else {
                    Action::Update {
                        release: self.release.clone(),
                        campaign_id: "c1".into(),
                        download_url: format!("{}/v1/artifacts/{}?t=1", self.url, self.sha256),
                        deadline: now().plus_secs(3600),
                    }
                };
                let directive = Directive {
                    device_id: id,
                    nonce: req.nonce,
                    issued_at: now(),
                    expires: now().plus_secs(60),
                    root_version: 1,
                    revocation_seq: 0,
                    poll_after_s: 1,
                    action,
                };
                respond(&mut stream, 200, "", &json(&directive.sign(&[&keys()[2]])));
            }
            ("POST", "/v1/reports") => {
                let batch: ReportBatch = serde_json::from_slice(&body).unwrap();
                let mut s = self.state.lock().unwrap();
                for r in &batch.reports {
                    if let (Event::RolledBack { .. }, Some(id)) = (&r.event, device()) {
                        s.rolled_back.insert(id.to_string());
                    }
                    s.delivered.push(r.event.clone());
                }
                let ack = ReportAck { accepted: batch.reports.len() as u32, duplicates: 0 };
                respond(&mut stream, 200, "", &json(&ack));
            }
            ("GET", path) if path.starts_with("/v1/artifacts/") => respond(&mut stream, 200, "", &self.image),
            _ => respond(&mut stream, 404, "", &problem("not-found")),
        }
    }
}

/// `serde_json::to_vec` behind a trait object, so one closure serves every answer type.
mod erased {
    pub trait Json {
        fn bytes(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Json for T {
        fn bytes(&self) -> Vec<u8> {
            serde_json::to_vec(self).unwrap()
        }
    }
}

fn args(dir: &Path, anchor: &Path) -> SimArgs {
    SimArgs {
        devices: 5,
        // Nothing listens on port 1: every request fails as the network would.
        server: "http://127.0.0.1:1".into(),
        trust_anchor: anchor.to_owned(),
        enroll_token: Some("token-1".into()),
        enroll_token_file: None,
        hardware_id: "thermo-v2".into(),
        factory_version: "1.0.0".into(),
        factory_security_version: 1,
        dir: Some(dir.to_owned()),
        threads: Some(2),
        duration_s: Some(2),
        until_version: None,
        max_seconds: 30,
        poll_s: 1,
        time_scale: 1.0,
        bad_boot_rate: 0.0,
        battery: false,
        no_battery: false,
        flaky_network: 0.0,
        seed: Some(9),
        json: true,
    }
}

#[test]
fn a_fleet_without_an_edge_retries_and_still_accounts_for_every_device() {
    let tmp = tempfile::tempdir().unwrap();
    let anchor = tmp.path().join("root.json");
    write_root(&anchor);
    let fleet = tmp.path().join("fleet");
    let summary = simulate(&args(&fleet, &anchor)).unwrap();
    assert_eq!(summary.stopped_because, StopReason::Duration);
    assert_eq!((summary.devices, summary.enrolled, summary.enrollment.not_enrolled), (5, 0, 5));
    assert!(summary.errors_by_code.get("network").copied().unwrap_or(0) >= 5, "{:?}", summary.errors_by_code);
    assert_eq!(summary.versions.get("1.0.0"), Some(&5), "powered on with the factory image");
    assert_eq!(std::fs::read_to_string(&summary.device_ids_file).unwrap(), "");
    let records: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(&summary.devices_file).unwrap()).unwrap();
    assert_eq!(records.len(), 5);
    let dev = device_dir(&summary.dir, 3);
    assert_eq!(std::fs::read(dev.join("slots/slot-a.img")).unwrap(), factory_image("1.0.0"));
    assert_eq!(std::fs::read_to_string(dev.join("enroll-token")).unwrap(), "token-1");
    assert!(dev.join("state/boot.env").exists());
    let config = crate::Config::load(&dev.join("agent.toml")).unwrap();
    assert_eq!(config.device.tz.as_deref(), records[3]["tz"].as_str());

    summary.print(false);
    summary.print(true);

    // A second run in the same directory keeps each device's state.
    let env = std::fs::read(dev.join("state/boot.env")).unwrap();
    let again = simulate(&SimArgs { duration_s: Some(1), ..args(&fleet, &anchor) }).unwrap();
    assert_eq!(again.devices, 5);
    assert_eq!(std::fs::read(dev.join("state/boot.env")).unwrap(), env);
}

#[test]
fn a_missing_trust_anchor_fails_the_run_up_front() {
    let tmp = tempfile::tempdir().unwrap();
    let err = simulate(&args(&tmp.path().join("fleet"), &tmp.path().join("nope.json"))).unwrap_err();
    assert!(matches!(err, AgentError::TrustAnchor { .. }), "{err}");
}

#[test]
fn a_fleet_takes_a_marked_release_and_rolls_back_the_marked_share() {
    let tmp = tempfile::tempdir().unwrap();
    let anchor = tmp.path().join("root.json");
    let root = write_root(&anchor);
    // Larger than one download chunk; the marker sits in the first 4 KiB.
    let mut image = b"firmware 2.0.0\nUPDRAFT-SIM-BOOT-FAILURE-RATE=0.5\n".to_vec();
    image.resize(150 * 1024, 0x5a);
    let edge = start(root, image, "2.0.0", 3);
    let devices = 8;
    let run = SimArgs {
        server: edge.url.clone(),
        devices,
        threads: Some(3),
        duration_s: None,
        until_version: Some("2.0.0".into()),
        max_seconds: 60,
        battery: true,
        ..args(&tmp.path().join("fleet"), &anchor)
    };
    let summary = simulate(&run).unwrap();
    assert_eq!(summary.stopped_because, StopReason::UntilVersion, "{summary:#?}");
    assert_eq!(summary.until_version_reached, Some(true));

    let records: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(&summary.devices_file).unwrap()).unwrap();
    let ids: Vec<&str> = records.iter().map(|r| r["device_id"].as_str().unwrap()).collect();
    let bad = ids.iter().filter(|id| fails(id, &edge.sha256, 0.5)).count();
    let good = devices as usize - bad;
    assert_eq!(summary.enrolled, devices as usize);
    assert_eq!(summary.enrollment.rate_limited, 3, "429s were retried, not fatal");
    assert_eq!(summary.versions.get("2.0.0").copied().unwrap_or(0), good, "{summary:#?}");
    assert_eq!(summary.versions.get("1.0.0").copied().unwrap_or(0), bad);
    assert_eq!(summary.succeeded, good as u64);
    assert_eq!(summary.rolled_back.get("health-check-failed").copied().unwrap_or(0), bad as u64);
    assert!(summary.reboots >= (good + 2 * bad) as u64, "install reboots plus rollback reboots");
    for r in &records {
        let verdicts = r["health_verdicts"].as_array().unwrap();
        assert_eq!(verdicts.len(), 1, "one trial boot per device: {r}");
        assert_eq!(verdicts[0]["from_marker"], true);
        assert_eq!(verdicts[0]["healthy"].as_bool(), Some(!fails(r["device_id"].as_str().unwrap(), &edge.sha256, 0.5)));
    }
    // Every counted report reached the edge.
    let delivered = edge.state.lock().unwrap().delivered.clone();
    assert_eq!(delivered.iter().filter(|e| **e == Event::Succeeded).count(), good);
    assert_eq!(delivered.iter().filter(|e| matches!(e, Event::RolledBack { .. })).count(), bad);
    let ids_file = std::fs::read_to_string(&summary.device_ids_file).unwrap();
    assert_eq!(ids_file.lines().count(), devices as usize);
    assert!(device_dir(&summary.dir, 0).join("state/identity").exists());
}

#[test]
fn a_flaky_network_slows_the_fleet_down_but_every_device_gets_there() {
    let tmp = tempfile::tempdir().unwrap();
    let anchor = tmp.path().join("root.json");
    let root = write_root(&anchor);
    let edge = start(root, vec![7u8; 80 * 1024], "2.0.0", 0);
    let run = SimArgs {
        server: edge.url.clone(),
        devices: 6,
        duration_s: None,
        until_version: Some("2.0.0".into()),
        max_seconds: 90,
        flaky_network: 0.3,
        ..args(&tmp.path().join("fleet"), &anchor)
    };
    let summary = simulate(&run).unwrap();
    assert_eq!(summary.stopped_because, StopReason::UntilVersion, "{summary:#?}");
    assert_eq!(summary.versions.get("2.0.0"), Some(&6));
    assert_eq!(summary.succeeded, 6);
    assert!(summary.rolled_back.is_empty() && summary.failed.is_empty(), "{summary:#?}");
}
