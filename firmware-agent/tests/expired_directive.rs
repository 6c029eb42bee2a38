//! Directives are short-lived: one past its `expires` (a stale answer held
//! back and delivered late) or one claiming a lifetime longer than
//! `MAX_DIRECTIVE_LIFETIME_S` (an answer minted to be replayed for days) is
//! refused and orders nothing.

mod support;

use support::*;
use updraft_core::directive::MAX_DIRECTIVE_LIFETIME_S;
use updraft_core::UnixTime;

/// Offers an honest update in a directive whose times `retime` sets, and
/// checks it is refused with `code` and that nothing happened.
fn assert_directive_refused(retime: fn(&mut updraft_core::directive::Directive), code: &str) {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let mut agent = device.enrolled();
    let before = agent.boot_env().clone();
    let next_seq = agent.journal().next_seq;
    let image = Image::new("2.0.0", 4);
    let (release, sha) = (image.release(), image.sha256());
    edge.serve_artifact(image.bytes.clone());
    edge.answer_checks(move |seen| {
        let mut d = directive(seen, offer(release.clone(), sha));
        retime(&mut d);
        Keys::trusted().sign_as_edge(&d)
    });
    let error = agent.cycle().expect_err("acted on the directive");
    assert_eq!(refusal_code(&error), code, "{error}");
    assert_nothing_armed(&agent, &before);
    assert_no_report_since(&agent, next_seq);
    assert_eq!(edge.artifact_requests(), 0);
}

#[test]
fn refuses_expired_directive() {
    assert_directive_refused(
        |d| {
            d.issued_at = UnixTime(now().0 - 600);
            d.expires = UnixTime(now().0 - 300);
        },
        "expired",
    );
}

#[test]
fn refuses_directive_expiring_this_second() {
    // `expires` is exclusive: a directive is dead at its expiry instant.
    assert_directive_refused(
        |d| {
            d.issued_at = UnixTime(now().0 - 60);
            d.expires = now();
        },
        "expired",
    );
}

#[test]
fn refuses_directive_with_a_lifetime_over_the_maximum() {
    assert_directive_refused(
        |d| {
            d.issued_at = now();
            d.expires = now().plus_secs(MAX_DIRECTIVE_LIFETIME_S + 60);
        },
        "invalid-field",
    );
}

#[test]
fn refuses_directive_backdated_to_stretch_its_lifetime() {
    // Still unexpired, but issued long ago: minted to be replayed.
    assert_directive_refused(
        |d| {
            d.issued_at = UnixTime(now().0 - 7 * DAY);
            d.expires = now().plus_secs(60);
        },
        "invalid-field",
    );
}

#[test]
fn installs_with_a_directive_at_the_maximum_lifetime() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let mut agent = device.enrolled();
    let floor = agent.boot_env().security_floor;
    let image = Image::new("2.0.0", 4);
    let (release, sha) = (image.release(), image.sha256());
    edge.serve_artifact(image.bytes.clone());
    edge.answer_checks(move |seen| {
        let mut d = directive(seen, offer(release.clone(), sha));
        // One reading of the clock: two could straddle a second and add one to the lifetime.
        let t = now();
        d.issued_at = t;
        d.expires = t.plus_secs(MAX_DIRECTIVE_LIFETIME_S);
        Keys::trusted().sign_as_edge(&d)
    });
    assert_eq!(agent.cycle().unwrap(), firmware_agent::Next::Reboot);
    assert_armed(&agent, &image, floor);
    drop(agent);
    reboot_and_commit(&device, &image);
}
