//! Device rule 4 at every stage of an update, not only at the offer: an
//! image revoked while it downloads, after it downloaded (right before the
//! boot flag flips) or after it was armed (before its trial boot commits)
//! is never committed. The edge revokes honestly here (its own key, a newer
//! seq); what is attacked is the window between the offer and the commit,
//! which a vulnerable or booby-trapped release would otherwise slip through.

mod support;

use firmware_agent::boot::BootOutcome;
use firmware_agent::bootenv::Slot;
use firmware_agent::journal::Phase;
use firmware_agent::Next;
use support::*;
use updraft_core::report::Event;

/// Starts an honest download of `image` that breaks off half way (the edge
/// sends half the bytes): the job stays, `Downloading`, to resume later.
fn interrupted_download(device: &Device, edge: &HostileEdge, image: &Image) -> firmware_agent::Agent {
    let mut agent = device.enrolled();
    edge.serve_artifact(image.bytes[..IMAGE_LEN / 2].to_vec());
    answer_at_seq(edge, 0, offer(image.release(), image.sha256()));
    let error = agent.cycle().expect_err("a half transfer cannot complete");
    assert!(error.is_transient(), "{error}");
    assert!(matches!(agent.journal().job.as_ref().map(|j| &j.phase), Some(Phase::Downloading { .. })));
    edge.serve_artifact(image.bytes.clone());
    agent
}

fn failed_count(edge: &HostileEdge, agent: &firmware_agent::Agent, code: &str) -> usize {
    times_reported(edge, agent, &Event::Failed { code: code.into() })
}

#[test]
fn abandons_download_when_a_new_list_revokes_it() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let image = Image::new("2.0.0", 4);
    let mut agent = interrupted_download(&device, &edge, &image);
    let artifact_requests = edge.artifact_requests();
    // The list revokes it; the edge's campaign still offers it (it lags).
    edge.serve_revocations(edge_list(1, &[image.sha256()], None));
    answer_at_seq(&edge, 1, offer(image.release(), image.sha256()));
    let error = agent.cycle().expect_err("resumed a revoked download");
    assert_eq!(refusal_code(&error), "revoked", "{error}");
    assert!(agent.journal().job.is_none(), "the revoked download is still pending: {:?}", agent.journal().job);
    assert_eq!(edge.artifact_requests(), artifact_requests, "fetched more of a revoked image");
    assert_eq!(failed_count(&edge, &agent, "revoked"), 1);
    // Offered again at the next poll: refused, not reported again.
    assert_eq!(refusal_code(&agent.cycle().unwrap_err()), "revoked");
    assert_eq!(failed_count(&edge, &agent, "revoked"), 1, "the same refusal was reported twice");
    assert_eq!(agent.boot_env().trial, None);
    assert_eq!(agent.boot_env().good, Slot::A);
}

#[test]
fn abandons_download_when_a_new_list_revokes_it_and_the_offer_stops() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let image = Image::new("2.0.0", 4);
    let mut agent = interrupted_download(&device, &edge, &image);
    edge.serve_revocations(edge_list(1, &[image.sha256()], None));
    answer_at_seq(&edge, 1, updraft_core::directive::Action::None);
    assert!(matches!(agent.cycle().unwrap(), Next::Poll(_)));
    assert!(agent.journal().job.is_none(), "a revoked download is left pending");
    assert_failed_reported(&agent, "revoked");
}

#[test]
fn abandons_download_when_a_new_list_raises_the_floor_above_it() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let image = Image::new("2.0.0", 4);
    let mut agent = interrupted_download(&device, &edge, &image);
    edge.serve_revocations(edge_list(1, &[], Some(5)));
    answer_at_seq(&edge, 1, offer(image.release(), image.sha256()));
    assert_eq!(refusal_code(&agent.cycle().unwrap_err()), "security-floor");
    assert!(agent.journal().job.is_none());
    assert_eq!(failed_count(&edge, &agent, "security-floor"), 1);
}

#[test]
fn resumes_download_when_the_new_list_does_not_revoke_it() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let image = Image::new("2.0.0", 4);
    let mut agent = interrupted_download(&device, &edge, &image);
    let floor = agent.boot_env().security_floor;
    edge.serve_revocations(edge_list(1, &[Image::new("1.9.0", 4).sha256()], Some(4)));
    answer_at_seq(&edge, 1, offer(image.release(), image.sha256()));
    assert_eq!(agent.cycle().unwrap(), Next::Reboot);
    assert_eq!(agent.status().revocation_seq, 1);
    assert_armed(&agent, &image, floor);
    drop(agent);
    reboot_and_commit(&device, &image);
}

#[test]
fn refuses_to_arm_image_revoked_while_it_downloaded() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let mut agent = device.enrolled();
    let before = agent.boot_env().clone();
    let image = Image::new("2.0.0", 4);
    edge.serve_artifact(image.bytes.clone());
    // Seq 1 (nothing revoked) when the check is answered; seq 2 revokes the
    // image from the moment its bytes go out.
    edge.serve_revocations(edge_list(1, &[], None));
    edge.serve_revocations_after_download(edge_list(2, &[image.sha256()], None));
    answer_at_seq(&edge, 1, offer(image.release(), image.sha256()));
    let error = agent.cycle().expect_err("armed an image revoked while it downloaded");
    assert_eq!(refusal_code(&error), "revoked", "{error}");
    assert_eq!(agent.status().revocation_seq, 2, "the list was not fetched again before the switch");
    assert_nothing_armed(&agent, &before);
    assert_failed_reported(&agent, "revoked");
    // The edge, lagging, offers it again: refused up front, not reported twice.
    answer_at_seq(&edge, 2, offer(image.release(), image.sha256()));
    let artifact_requests = edge.artifact_requests();
    assert_eq!(refusal_code(&agent.cycle().unwrap_err()), "revoked");
    assert_eq!(edge.artifact_requests(), artifact_requests);
    assert_eq!(failed_count(&edge, &agent, "revoked"), 1);
}

#[test]
fn refuses_to_arm_image_below_a_floor_raised_while_it_downloaded() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let mut agent = device.enrolled();
    let before = agent.boot_env().clone();
    let image = Image::new("2.0.0", 4);
    edge.serve_artifact(image.bytes.clone());
    edge.serve_revocations(edge_list(1, &[], None));
    edge.serve_revocations_after_download(edge_list(2, &[], Some(5)));
    answer_at_seq(&edge, 1, offer(image.release(), image.sha256()));
    assert_eq!(refusal_code(&agent.cycle().unwrap_err()), "security-floor");
    assert_nothing_armed(&agent, &before);
    assert_failed_reported(&agent, "security-floor");
}

#[test]
fn arms_image_when_the_list_fetched_before_the_switch_does_not_revoke_it() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let mut agent = device.enrolled();
    let floor = agent.boot_env().security_floor;
    let image = Image::new("2.0.0", 4);
    edge.serve_artifact(image.bytes.clone());
    edge.serve_revocations(edge_list(1, &[], None));
    edge.serve_revocations_after_download(edge_list(2, &[Image::new("1.9.0", 4).sha256()], None));
    answer_at_seq(&edge, 1, offer(image.release(), image.sha256()));
    assert_eq!(agent.cycle().unwrap(), Next::Reboot);
    assert_eq!(agent.status().revocation_seq, 2);
    assert_armed(&agent, &image, floor);
    drop(agent);
    reboot_and_commit(&device, &image);
}

/// Arms `image` (an honest offer, no revocation), leaving the device about to reboot.
fn armed(device: &Device, edge: &HostileEdge, image: &Image) -> firmware_agent::Agent {
    let mut agent = device.enrolled();
    let floor = agent.boot_env().security_floor;
    edge.serve_artifact(image.bytes.clone());
    answer_at_seq(edge, 0, offer(image.release(), image.sha256()));
    assert_eq!(agent.cycle().unwrap(), Next::Reboot);
    assert_armed(&agent, image, floor);
    agent
}

/// Reboots into the armed trial of `image`, which must be rolled back with
/// `code`: slot A good again, the floor where it was, the image remembered.
fn assert_trial_rolled_back(device: &Device, image: &Image, code: &str) {
    let mut agent = device.open().unwrap();
    assert_eq!(agent.boot().unwrap(), BootOutcome::RolledBack { code: code.into(), reboot: true });
    let env = agent.boot_env();
    assert_eq!((env.good, env.trial, env.image(Slot::B)), (Slot::A, None, None));
    assert_eq!(env.security_floor.0, FACTORY_SECURITY_VERSION, "the floor rose for an image that was not committed");
    assert!(agent.journal().failed_images.contains(&image.sha256()));
    assert_eq!(agent.journal().pending.last().map(|r| &r.event), Some(&Event::RolledBack { code: code.into() }));
    drop(agent);
    let mut agent = device.open().unwrap();
    assert_eq!(agent.boot().unwrap(), BootOutcome::Normal);
    assert_eq!(agent.booted(), Slot::A);
}

#[test]
fn does_not_commit_image_revoked_after_arming() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let image = Image::new("2.0.0", 4);
    drop(armed(&device, &edge, &image));
    // Revoked while the device reboots into it: the trial boot asks for the
    // newest list before it commits.
    edge.serve_revocations(edge_list(1, &[image.sha256()], None));
    assert_trial_rolled_back(&device, &image, "revoked");
}

#[test]
fn does_not_commit_image_below_a_floor_raised_after_arming() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let image = Image::new("2.0.0", 4);
    drop(armed(&device, &edge, &image));
    edge.serve_revocations(edge_list(1, &[], Some(5)));
    assert_trial_rolled_back(&device, &image, "security-floor");
}

#[test]
fn does_not_commit_image_revoked_by_the_list_held_at_boot() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let image = Image::new("2.0.0", 4);
    let mut agent = armed(&device, &edge, &image);
    // The list arrived after arming; at the trial boot the edge is unreachable
    // for it (404): the list held decides.
    edge.serve_revocations(edge_list(1, &[image.sha256()], None));
    assert!(agent.fetch_revocations(1).unwrap());
    drop(agent);
    edge.serve_revocations(updraft_core::dsse::Envelope {
        payload_type: "text/plain".into(),
        payload: String::new(),
        signatures: Vec::new(),
    });
    assert_trial_rolled_back(&device, &image, "revoked");
}

#[test]
fn commits_image_when_the_list_at_the_trial_boot_does_not_revoke_it() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let image = Image::new("2.0.0", 4);
    drop(armed(&device, &edge, &image));
    edge.serve_revocations(edge_list(1, &[Image::new("1.9.0", 4).sha256()], Some(4)));
    let agent = reboot_and_commit(&device, &image);
    assert_eq!(agent.status().revocation_seq, 1, "the trial boot did not ask for the newest list");
}
