//! The device under test and the hostile edge it talks to, shared by the
//! threat suites in this directory (one file per threat, named for the
//! attack, as in awslabs/tough).
//!
//! The attacker owns the network. [`HostileEdge`] is a small HTTP/1.1 server
//! on 127.0.0.1 that speaks the device protocol (DESIGN §3) and answers with
//! whatever the test scripts: directives built from the request's nonce,
//! artifact bytes that need not match the manifest, roots and revocation
//! lists of its choosing. The test owns the root, release and edge keys
//! (fixed seeds; Ed25519 is deterministic), and every document is signed for
//! real with `updraft_core`'s API, so an attack fails because the agent
//! checks, not because a fixture is malformed. Each suite also runs a
//! positive control through the same harness with honest data, so a broken
//! harness fails the suite instead of passing it.
//!
//! [`Device`] is one device's config and state directory (files backend in a
//! tempdir, factory image in `slot-a.img`); the agent is the real
//! `firmware_agent::Agent`, driven through its public steps (`open`, `boot`,
//! `ensure_enrolled`, `cycle`, `install_bundle`).

// Each test file is its own crate and uses a different subset of these helpers.
#![allow(dead_code)]

use firmware_agent::boot::BootOutcome;
use firmware_agent::bootenv::{BootEnv, Slot, SlotImage};
use firmware_agent::health::HealthCheck;
use firmware_agent::{Agent, AgentError, Config};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use updraft_core::bundle::{encode_preamble_and_header, BundleHeader};
use updraft_core::device_auth::RawAuthHeader;
use updraft_core::device_cert::DeviceCertificate;
use updraft_core::directive::{Action, Directive};
use updraft_core::dsse::Envelope;
use updraft_core::protocol::{device_id_for, CheckRequest, EnrollRequest, EnrollResponse};
use updraft_core::release::{Artifact, ReleaseManifest};
use updraft_core::report::{Event, Report, ReportAck, ReportBatch};
use updraft_core::revocation::{RevocationList, Revoked};
use updraft_core::root::{role_from_keys, Roles, Root};
use updraft_core::{DeviceId, HardwareId, ProductName, PublicKey, SecurityVersion, Sha256, SigningKey, UnixTime, Version};

pub use updraft_core::root::SignedDocument;

/// The device's hardware class; releases must name it (device rule 2).
pub const HARDWARE: &str = "thermo-v2";
pub const OTHER_HARDWARE: &str = "thermo-v1";
pub const PRODUCT: &str = "acme-thermostat";
/// The factory image's security version: the device's initial floor.
pub const FACTORY_SECURITY_VERSION: u64 = 3;
/// Larger than the agent's 64 KiB read chunk, so a download takes several reads.
pub const IMAGE_LEN: usize = 150_000;
pub const DAY: u64 = 86_400;

pub const ROOT_THRESHOLD: usize = 2;
pub const RELEASE_THRESHOLD: usize = 2;

/// The agent's clock: every signed document here is dated against it.
pub fn now() -> UnixTime {
    firmware_agent::agent::now()
}

// ---- keys and signed documents ----------------------------------------------

/// Seed layout: byte 0 = generation, byte 1 = role tag, byte 2 = index.
pub fn seed(generation: u8, tag: u8, index: u8) -> [u8; 32] {
    let mut seed = [0xa5; 32];
    seed[0] = generation;
    seed[1] = tag;
    seed[2] = index;
    seed
}

/// One generation of keys: root 2-of-3, release 2-of-3, edge 1-of-1.
/// `Keys::generation(1)` is what the device's anchor names; any other
/// generation is a set of keys the device has no reason to trust.
pub struct Keys {
    pub root: Vec<SigningKey>,
    pub release: Vec<SigningKey>,
    pub edge: SigningKey,
}

impl Keys {
    pub fn generation(generation: u8) -> Keys {
        let three = |tag| (0..3).map(|i| SigningKey::from_seed(seed(generation, tag, i))).collect();
        Keys { root: three(b'R'), release: three(b'L'), edge: SigningKey::from_seed(seed(generation, b'E', 0)) }
    }

    /// The keys of the device's trust anchor.
    pub fn trusted() -> Keys {
        Keys::generation(1)
    }

    /// Keys no root the device trusts lists in any role.
    pub fn foreign() -> Keys {
        Keys::generation(0x66)
    }

    /// A root payload naming these keys, scope `acme-*`, valid a year.
    pub fn root(&self, version: u64) -> Root {
        let public = |keys: &[SigningKey]| keys.iter().map(|k| k.public_key().clone()).collect::<Vec<PublicKey>>();
        let (mut table, root) = role_from_keys(&public(&self.root), ROOT_THRESHOLD as u32);
        let (release_table, release) = role_from_keys(&public(&self.release), RELEASE_THRESHOLD as u32);
        let (edge_table, edge) = role_from_keys(&public(std::slice::from_ref(&self.edge)), 1);
        table.extend(release_table);
        table.extend(edge_table);
        Root { version, expires: now().plus_secs(365 * DAY), product: "acme-*".into(), keys: table, roles: Roles { root, release, edge } }
    }

    pub fn root_signers(&self) -> Vec<&SigningKey> {
        self.root.iter().take(ROOT_THRESHOLD).collect()
    }

    pub fn release_signers(&self) -> Vec<&SigningKey> {
        self.release.iter().take(RELEASE_THRESHOLD).collect()
    }

    /// Root v1 signed by a threshold of its own root keys: the trust anchor.
    pub fn anchor(&self) -> Envelope {
        self.root(1).sign(&self.root_signers())
    }

    /// Signs a release with a threshold of these release keys.
    pub fn sign_release(&self, manifest: &ReleaseManifest) -> Envelope {
        manifest.sign(&self.release_signers())
    }

    /// This generation's edge key, as a signer list.
    pub fn edge_signers(&self) -> Vec<&SigningKey> {
        vec![&self.edge]
    }

    /// Signs a directive, revocation list or certificate as this edge.
    pub fn sign_as_edge<T: SignedDocument>(&self, doc: &T) -> Envelope {
        doc.sign(&[&self.edge])
    }
}

/// Root `version` naming `next`'s keys, signed by a threshold of `old`'s
/// root keys AND of `next`'s: a rotation done right.
pub fn rotation(old: &Keys, next: &Keys, version: u64) -> Envelope {
    let mut signers = old.root_signers();
    signers.extend(next.root_signers());
    next.root(version).sign(&signers)
}

/// A firmware image and the release manifest that describes it honestly.
#[derive(Clone)]
pub struct Image {
    pub bytes: Vec<u8>,
    pub manifest: ReleaseManifest,
}

impl Image {
    /// An image of [`IMAGE_LEN`] bytes whose content depends on `version`.
    pub fn new(version: &str, security_version: u64) -> Image {
        let tag = format!("updraft test firmware {version}\n");
        let bytes: Vec<u8> = tag.bytes().cycle().take(IMAGE_LEN).enumerate().map(|(i, b)| b ^ (i % 251) as u8).collect();
        let manifest = ReleaseManifest {
            product: ProductName::parse(PRODUCT).unwrap(),
            hardware_ids: vec![HardwareId::parse(HARDWARE).unwrap()],
            version: Version::parse(version).unwrap(),
            security_version: SecurityVersion(security_version),
            artifact: Artifact { sha256: Sha256::digest(&bytes), length: bytes.len() as u64, name: "thermo.img".into() },
            min_bootloader: None,
            created: UnixTime(now().0 - 60),
            expires: Some(now().plus_secs(30 * DAY)),
            notes: String::new(),
            sbom: None,
            deltas: Vec::new(),
            support_until: None,
        };
        Image { bytes, manifest }
    }

    pub fn sha256(&self) -> Sha256 {
        self.manifest.artifact.sha256
    }

    /// The manifest signed by a threshold of the trusted release keys.
    pub fn release(&self) -> Envelope {
        Keys::trusted().sign_release(&self.manifest)
    }
}

/// The factory image in slot A of every device.
pub fn factory_bytes() -> Vec<u8> {
    b"factory image 1.0.0\n".repeat(1000)
}

/// What the edge saw of one `POST /v1/check`.
#[derive(Debug, Clone)]
pub struct CheckSeen {
    pub device_id: DeviceId,
    pub request: CheckRequest,
}

/// A fresh directive answering `seen` (its device and nonce), valid 5
/// minutes, at root v1 and revocation seq 0, asking again after 1 s.
pub fn directive(seen: &CheckSeen, action: Action) -> Directive {
    Directive {
        device_id: seen.device_id.clone(),
        nonce: seen.request.nonce.clone(),
        issued_at: now(),
        expires: now().plus_secs(300),
        root_version: 1,
        revocation_seq: 0,
        poll_after_s: 1,
        action,
    }
}

/// Answers every later check with `action` in a directive announcing
/// revocation seq `seq`, signed by the trusted edge key.
pub fn answer_at_seq(edge: &HostileEdge, seq: u64, action: Action) {
    edge.answer_checks(move |seen| {
        let mut d = directive(seen, action.clone());
        d.revocation_seq = seq;
        Keys::trusted().sign_as_edge(&d)
    });
}

/// A revocation list at `seq` revoking `revoked`, signed by the trusted edge key.
pub fn edge_list(seq: u64, revoked: &[Sha256], floor: Option<u64>) -> Envelope {
    Keys::trusted().sign_as_edge(&revocation_list(seq, revoked, floor))
}

/// `update`: take `release` (whose artifact is `sha256`) from this edge.
pub fn offer(release: Envelope, sha256: Sha256) -> Action {
    Action::Update { release, campaign_id: "c-1".into(), download_url: format!("/v1/artifacts/{sha256}"), deadline: now().plus_secs(DAY) }
}

/// A revocation list at `seq` revoking `revoked`, with an optional floor
/// for [`PRODUCT`], valid a day.
pub fn revocation_list(seq: u64, revoked: &[Sha256], floor: Option<u64>) -> RevocationList {
    RevocationList {
        seq,
        issued_at: now(),
        expires: now().plus_secs(DAY),
        revoked: revoked.iter().map(|sha| Revoked { sha256: *sha, reason: "test revocation".into(), at: now() }).collect(),
        min_security_version: floor.map(|f| (ProductName::parse(PRODUCT).unwrap(), SecurityVersion(f))).into_iter().collect(),
        revoked_keyids: Vec::new(),
    }
}

/// A bundle file's bytes: preamble, header, then `artifact` verbatim.
pub fn bundle_bytes(header: &BundleHeader, artifact: &[u8]) -> Vec<u8> {
    let mut bytes = encode_preamble_and_header(header).unwrap();
    bytes.extend_from_slice(artifact);
    bytes
}

// ---- the hostile edge ---------------------------------------------------------

type Answer = Box<dyn Fn(&CheckSeen) -> Envelope + Send>;

/// What the edge serves and what it saw.
struct Script {
    /// Signs enrollment certificates (and the default `none` directive).
    edge_key: SigningKey,
    /// The root returned with an enrollment.
    root: Envelope,
    answer: Option<Answer>,
    artifact: Vec<u8>,
    roots: BTreeMap<u64, Envelope>,
    revocations: Option<Envelope>,
    /// Replaces `revocations` once an artifact has been served (a list
    /// published while a device downloads).
    revocations_after_artifact: Option<Envelope>,
    /// Every request, as `METHOD /path` (query dropped).
    requests: Vec<String>,
    checks: Vec<CheckSeen>,
    /// Every directive sent, in order (for replays).
    directives: Vec<Envelope>,
    /// Every report delivered.
    reports: Vec<Event>,
    /// Every report delivered, whole, in order (resends included).
    report_log: Vec<Report>,
}

/// The attacker's server: see the module docs.
pub struct HostileEdge {
    pub url: String,
    script: Arc<Mutex<Script>>,
}

impl HostileEdge {
    /// Starts an edge that enrolls devices with certificates signed by
    /// `keys.edge`, answers checks with `none` until told otherwise, and
    /// 404s every root and the revocation list.
    pub fn start(keys: &Keys) -> HostileEdge {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let script = Arc::new(Mutex::new(Script {
            edge_key: SigningKey::from_seed(keys.edge.seed()),
            root: keys.anchor(),
            answer: None,
            artifact: Vec::new(),
            roots: BTreeMap::new(),
            revocations: None,
            revocations_after_artifact: None,
            requests: Vec::new(),
            checks: Vec::new(),
            directives: Vec::new(),
            reports: Vec::new(),
            report_log: Vec::new(),
        }));
        let served = script.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let script = served.clone();
                std::thread::spawn(move || serve(&script, stream));
            }
        });
        HostileEdge { url, script }
    }

    fn script(&self) -> MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Answers every later check with the envelope `answer` builds.
    pub fn answer_checks(&self, answer: impl Fn(&CheckSeen) -> Envelope + Send + 'static) {
        self.script().answer = Some(Box::new(answer));
    }

    /// The bytes served for every `/v1/artifacts/*`.
    pub fn serve_artifact(&self, bytes: Vec<u8>) {
        self.script().artifact = bytes;
    }

    pub fn serve_root(&self, version: u64, envelope: Envelope) {
        self.script().roots.insert(version, envelope);
    }

    pub fn serve_revocations(&self, envelope: Envelope) {
        self.script().revocations = Some(envelope);
    }

    /// Serves `envelope` as the revocation list from the moment an artifact
    /// has been served: the list is published while the device downloads.
    pub fn serve_revocations_after_download(&self, envelope: Envelope) {
        self.script().revocations_after_artifact = Some(envelope);
    }

    pub fn requests(&self) -> Vec<String> {
        self.script().requests.clone()
    }

    /// How many requests' `METHOD /path` started with `prefix`.
    pub fn count(&self, prefix: &str) -> usize {
        self.script().requests.iter().filter(|r| r.starts_with(prefix)).count()
    }

    pub fn artifact_requests(&self) -> usize {
        self.count("GET /v1/artifacts/")
    }

    pub fn checks(&self) -> Vec<CheckSeen> {
        self.script().checks.clone()
    }

    pub fn directives_sent(&self) -> Vec<Envelope> {
        self.script().directives.clone()
    }

    pub fn reports_delivered(&self) -> Vec<Event> {
        self.script().reports.clone()
    }

    /// Forgets every report delivered so far (a test restoring a device's
    /// state from a snapshot starts its count again).
    pub fn forget_reports(&self) {
        let mut s = self.script();
        s.reports.clear();
        s.report_log.clear();
    }

    /// The reports the edge stored, counted once per `seq` as the real edge
    /// does (a batch resent after a lost answer adds nothing), in seq order.
    pub fn reports_stored(&self) -> Vec<Report> {
        let mut by_seq = BTreeMap::new();
        for r in &self.script().report_log {
            by_seq.entry(r.seq).or_insert_with(|| r.clone());
        }
        by_seq.into_values().collect()
    }
}

fn respond(stream: &mut TcpStream, status: u16, body: &[u8]) {
    let head =
        format!("HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.flush();
}

fn not_found(stream: &mut TcpStream) {
    respond(stream, 404, br#"{"type":"urn:updraft:problem:not-found","title":"not found","status":404,"detail":"hostile edge"}"#);
}

fn json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

/// One connection: one request, one answer, close.
fn serve(script: &Mutex<Script>, mut stream: TcpStream) {
    let Ok(clone) = stream.try_clone() else { return };
    let mut reader = BufReader::new(clone);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().split('?').next().unwrap_or_default().to_owned();
    let (mut length, mut auth) = (0usize, String::new());
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap_or_default();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().unwrap_or(0),
            "authorization" => value.trim().clone_into(&mut auth),
            _ => {}
        }
    }
    let mut body = vec![0u8; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let mut s = script.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    s.requests.push(format!("{method} {path}"));
    match (method.as_str(), path.as_str()) {
        ("POST", "/v1/enroll") => {
            let Ok(request) = serde_json::from_slice::<EnrollRequest>(&body) else { return not_found(&mut stream) };
            let Ok(public) = PublicKey::from_base64(&request.public_key) else { return not_found(&mut stream) };
            let cert = DeviceCertificate {
                device_id: device_id_for(&public),
                product: ProductName::parse(PRODUCT).unwrap(),
                hardware_id: request.hardware_id,
                serial: request.serial,
                public: request.public_key,
                issued_at: now(),
                expires: now().plus_secs(365 * DAY),
            };
            let answer = EnrollResponse { device_id: cert.device_id.clone(), certificate: cert.sign(&[&s.edge_key]), root: s.root.clone() };
            respond(&mut stream, 200, &json(&answer));
        }
        ("POST", "/v1/check") => {
            let device_id = RawAuthHeader::parse(&auth)
                .and_then(|h| h.certificate())
                .and_then(|c| c.unverified_parse::<DeviceCertificate>("certificate"))
                .map(|c| c.device_id);
            let (Ok(device_id), Ok(request)) = (device_id, serde_json::from_slice::<CheckRequest>(&body)) else {
                return not_found(&mut stream);
            };
            let seen = CheckSeen { device_id, request };
            let envelope = match &s.answer {
                Some(answer) => answer(&seen),
                None => directive(&seen, Action::None).sign(&[&s.edge_key]),
            };
            s.checks.push(seen);
            s.directives.push(envelope.clone());
            respond(&mut stream, 200, &json(&envelope));
        }
        ("POST", "/v1/reports") => {
            let Ok(batch) = serde_json::from_slice::<ReportBatch>(&body) else { return not_found(&mut stream) };
            s.reports.extend(batch.reports.iter().map(|r| r.event.clone()));
            s.report_log.extend(batch.reports.iter().cloned());
            respond(&mut stream, 200, &json(&ReportAck { accepted: batch.reports.len() as u32, duplicates: 0 }));
        }
        ("GET", "/v1/revocations.json") => match &s.revocations {
            Some(list) => respond(&mut stream, 200, &json(list)),
            None => not_found(&mut stream),
        },
        ("GET", p) if p.starts_with("/v1/artifacts/") => {
            if let Some(list) = s.revocations_after_artifact.take() {
                s.revocations = Some(list);
            }
            let bytes = s.artifact.clone();
            drop(s);
            respond(&mut stream, 200, &bytes);
        }
        ("GET", p) if p.starts_with("/v1/root/") => {
            let version = p.trim_start_matches("/v1/root/").trim_end_matches(".json").parse::<u64>().ok();
            match version.and_then(|v| s.roots.get(&v)) {
                Some(root) => respond(&mut stream, 200, &json(root)),
                None => not_found(&mut stream),
            }
        }
        _ => not_found(&mut stream),
    }
}

// ---- the device ---------------------------------------------------------------

/// Every trial image passes its health check: these suites are about what
/// gets armed, not about bad images.
pub struct Healthy;

impl HealthCheck for Healthy {
    fn check(&mut self, _image: &SlotImage) -> Result<(), String> {
        Ok(())
    }
}

/// One device: its config (also written to `config.toml`) and state directory.
pub struct Device {
    dir: tempfile::TempDir,
    pub config: Config,
    pub config_path: PathBuf,
}

impl Device {
    /// A factory-fresh device of this edge whose trust anchor is `anchor`.
    pub fn new(edge: &HostileEdge, anchor: &Envelope) -> Device {
        Device::with_anchor_file(edge, Some(anchor.to_json().as_bytes()))
    }

    /// A factory-fresh device whose anchor file holds `anchor` (or is absent).
    pub fn with_anchor_file(edge: &HostileEdge, anchor: Option<&[u8]>) -> Device {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let slots = root.join("slots");
        std::fs::create_dir_all(&slots).unwrap();
        std::fs::write(slots.join("slot-a.img"), factory_bytes()).unwrap();
        let anchor_path = root.join("root.json");
        if let Some(bytes) = anchor {
            std::fs::write(&anchor_path, bytes).unwrap();
        }
        let token = root.join("enroll-token");
        std::fs::write(&token, "tok-123\n").unwrap();
        let text = format!(
            r#"server = {server:?}
state_dir = {state:?}
hardware_id = "{HARDWARE}"
serial = "SN-0001"
trust_anchor = {anchor:?}
enroll_token_file = {token:?}

[factory]
version = "1.0.0"
security_version = {FACTORY_SECURITY_VERSION}

[slots]
backend = "files"
dir = {slots:?}

[poll]
min_s = 1

[download]
connect_timeout_s = 5
read_timeout_s = 5
"#,
            server = edge.url,
            state = root.join("state").display().to_string(),
            anchor = anchor_path.display().to_string(),
            token = token.display().to_string(),
            slots = slots.display().to_string(),
        );
        let config = Config::parse(&text).unwrap();
        let config_path = root.join("config.toml");
        std::fs::write(&config_path, &text).unwrap();
        Device { dir, config, config_path }
    }

    /// `Agent::open`: what a (re)start of the agent process does first.
    pub fn open(&self) -> Result<Agent, AgentError> {
        Agent::open(self.config.clone(), Box::new(Healthy))
    }

    /// Opens the agent and runs power-on handling; nothing pending.
    pub fn power_on(&self) -> Agent {
        let mut agent = self.open().unwrap();
        assert_eq!(agent.boot().unwrap(), BootOutcome::Normal);
        agent
    }

    /// Powers on and enrolls with the edge.
    pub fn enrolled(&self) -> Agent {
        let mut agent = self.power_on();
        agent.ensure_enrolled().unwrap();
        agent
    }

    pub fn slot_path(&self, slot: Slot) -> PathBuf {
        self.dir.path().join("slots").join(format!("slot-{slot}.img"))
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }
}

// ---- what a refused attack must leave behind ----------------------------------

/// The device's boot state is what it was before the attack: the same good
/// slot with the same verified image, no trial armed, the floor unchanged,
/// the agent running the good slot, and no update job left to finish.
/// The inactive slot may have been forgotten (it was being overwritten) but
/// never records an unverified image.
pub fn assert_nothing_armed(agent: &Agent, before: &BootEnv) {
    let env = agent.boot_env();
    assert_eq!(env.good, before.good, "the good slot changed");
    assert_eq!(env.image(env.good), before.image(before.good), "the good slot's image changed");
    assert!(env.image(env.good).is_some_and(|i| i.confirmed), "the good slot holds no confirmed image");
    assert_eq!(env.trial, None, "a trial boot is armed");
    assert_eq!(env.boot_count, 0, "boot attempts were spent");
    assert_eq!(env.security_floor, before.security_floor, "the security floor moved");
    let inactive = env.good.other();
    assert!(
        env.image(inactive).is_none() || env.image(inactive) == before.image(inactive),
        "the inactive slot records an image it did not hold before: {:?}",
        env.image(inactive)
    );
    assert_eq!(agent.booted(), env.good, "the agent is not running the good slot");
    assert!(agent.journal().job.is_none(), "an update job is left pending: {:?}", agent.journal().job);
}

/// The newest queued report is `failed` with `code`.
pub fn assert_failed_reported(agent: &Agent, code: &str) {
    let pending = &agent.journal().pending;
    let last = pending.last().unwrap_or_else(|| panic!("no report queued; expected failed {{{code}}}"));
    assert_eq!(last.event, Event::Failed { code: code.into() }, "queued reports: {pending:#?}");
}

/// No report was queued after the journal's seq `since` (a refused
/// directive orders nothing, so there is no update to report on).
pub fn assert_no_report_since(agent: &Agent, since: u64) {
    let newer: Vec<_> = agent.journal().pending.iter().filter(|r| r.seq >= since).collect();
    assert!(newer.is_empty(), "reports queued: {newer:#?}");
}

/// How many reports of `event` the device made so far: stored at the edge
/// or still queued (each seq once).
pub fn times_reported(edge: &HostileEdge, agent: &Agent, event: &Event) -> usize {
    let mut seqs: std::collections::BTreeSet<u64> = edge.reports_stored().iter().filter(|r| &r.event == event).map(|r| r.seq).collect();
    seqs.extend(agent.journal().pending.iter().filter(|r| &r.event == event).map(|r| r.seq));
    seqs.len()
}

/// The error's report code, asserting it is a refusal (not a transient failure).
pub fn refusal_code(error: &AgentError) -> String {
    assert!(!error.is_transient(), "expected a refusal, got a transient error: {error}");
    error.code()
}

// ---- positive controls --------------------------------------------------------

/// `cycle` armed `image` in slot B for a trial boot, floor unchanged until the commit.
pub fn assert_armed(agent: &Agent, image: &Image, floor_before: SecurityVersion) {
    let env = agent.boot_env();
    assert_eq!(env.trial, Some(Slot::B), "no trial armed: {env:?}");
    assert_eq!(env.image(Slot::B).map(|i| i.sha256), Some(image.sha256()));
    assert_eq!(env.security_floor, floor_before, "the floor rose before the trial boot passed its health check");
}

/// Reboots into the trial (a fresh `Agent::open` + `boot`, as after a real
/// reboot) and checks that it was committed: slot B good, floor raised.
pub fn reboot_and_commit(device: &Device, image: &Image) -> Agent {
    let mut agent = device.open().unwrap();
    assert_eq!(agent.boot().unwrap(), BootOutcome::Committed);
    let env = agent.boot_env();
    assert_eq!(env.good, Slot::B);
    assert_eq!(env.trial, None);
    assert_eq!(env.image(Slot::B).map(|i| (i.sha256, i.confirmed)), Some((image.sha256(), true)));
    assert_eq!(env.security_floor, image.manifest.security_version.max(SecurityVersion(FACTORY_SECURITY_VERSION)));
    assert_eq!(std::fs::read(device.slot_path(Slot::B)).unwrap(), image.bytes);
    assert_eq!(agent.journal().pending.last().map(|r| &r.event), Some(&Event::Succeeded));
    agent
}

/// Offers `image` honestly (trusted release keys, the real bytes), runs one
/// cycle, and checks the full path: armed, then committed after the reboot.
pub fn assert_honest_update_installs(device: &Device, edge: &HostileEdge, image: &Image) -> Agent {
    let mut agent = device.enrolled();
    let floor = agent.boot_env().security_floor;
    let release = image.release();
    let sha = image.sha256();
    edge.serve_artifact(image.bytes.clone());
    edge.answer_checks(move |seen| Keys::trusted().sign_as_edge(&directive(seen, offer(release.clone(), sha))));
    assert_eq!(agent.cycle().unwrap(), firmware_agent::Next::Reboot);
    assert_armed(&agent, image, floor);
    drop(agent);
    reboot_and_commit(device, image)
}

// ---- attacks through a directive ------------------------------------------------

/// What a refused attack left: the agent, the error, and the boot env from before it.
pub struct Refused {
    pub agent: Agent,
    pub error: AgentError,
    pub before: BootEnv,
}

/// Enrolls `device`, then has the edge offer `release` (claimed to be
/// `image`, whose true bytes it serves) with a correctly edge-signed
/// directive, and runs one cycle, which must fail.
pub fn offer_and_expect_refusal(device: &Device, edge: &HostileEdge, release: Envelope, image: &Image) -> Refused {
    let agent = device.enrolled();
    offer_to(agent, edge, release, image.sha256(), image.bytes.clone())
}

/// As [`offer_and_expect_refusal`], on an agent already running, with the
/// artifact URL naming `sha256` and serving `bytes`.
pub fn offer_to(mut agent: Agent, edge: &HostileEdge, release: Envelope, sha256: Sha256, bytes: Vec<u8>) -> Refused {
    let before = agent.boot_env().clone();
    edge.serve_artifact(bytes);
    edge.answer_checks(move |seen| Keys::trusted().sign_as_edge(&directive(seen, offer(release.clone(), sha256))));
    let error = agent.cycle().expect_err("the agent accepted the attack");
    Refused { agent, error, before }
}
