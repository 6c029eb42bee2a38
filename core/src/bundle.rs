//! Offline update bundles: one file carrying everything a device needs to
//! install a release without the network (USB stick, serial line).
//!
//! ## Format, version 1
//!
//! ```text
//! offset   size  field
//! 0        8     magic, the ASCII bytes `UPDBNDL1`
//! 8        4     header length H, u32 big-endian, 1 ..= MAX_BUNDLE_HEADER_BYTES
//! 12       4     reserved, u32 big-endian, must be 0 (refused otherwise)
//! 16       H     header: UTF-8 JSON, a [`BundleHeader`]
//! 16 + H   N     the artifact: exactly `header.artifact_length` raw bytes
//! ```
//!
//! Nothing follows the artifact: a bundle is exactly `16 + H + N` bytes
//! ([`bundle_length`]). The header is
//!
//! ```json
//! {"format": 1,
//!  "roots": [<root envelope v k>, <v k+1>, ...],
//!  "revocations": <revocation list envelope>,        (optional)
//!  "release": <release manifest envelope>,
//!  "artifact_length": N}
//! ```
//!
//! with unknown fields refused. The envelopes are the same DSSE documents the
//! online path serves, embedded verbatim, so their signatures need no
//! canonical form. The header itself is unsigned and carries no authority:
//! everything in it is either signed (the envelopes) or checked against
//! something signed (`artifact_length` against the manifest's length, the
//! artifact bytes against the manifest's SHA-256). The magic's trailing `1`
//! names the preamble layout; `format` names the header's schema.
//!
//! `roots` is a contiguous run of root versions in ascending order, starting
//! at any version ≥ 1 (the producer includes at least the root the release
//! verifies under, usually the whole history so any device can catch up). A
//! device skips the roots it is already at or past and walks the rest with
//! [`TrustedRoot::update`], the same step as the online walk.
//!
//! ## Size limits
//!
//! A device buffers the header before anything in it is verified, so it is
//! capped at [`MAX_BUNDLE_HEADER_BYTES`] (4 MiB = 16 × [`MAX_DOCUMENT_BYTES`]),
//! and every envelope inside it at [`MAX_DOCUMENT_BYTES`], the limit every
//! standalone document has. A real header is a few KiB per root plus the
//! release and the list; 4 MiB still holds a release and a list at the
//! per-document limit plus fourteen roots at that limit, or the full
//! [`MAX_ROOT_STEPS`] history of 60 KiB roots. The artifact is never
//! buffered: a consumer streams it.
//!
//! ## Consuming a bundle (the device, `firmware-agent install-bundle`)
//!
//! 1. Read 16 bytes; [`parse_preamble`] gives H (and refuses a wrong magic, a
//!    non-zero reserved word, or H over the cap before H bytes are read).
//! 2. Read exactly H bytes; [`parse_header`].
//! 3. [`BundleHeader::verify_for_device`]: walk the roots from the device's
//!    current root, verify the revocation list and the release, apply device
//!    rules 1–4, and tie `artifact_length` to the signed manifest.
//! 4. Stream exactly `artifact_length` bytes into the slot through
//!    [`crate::Sha256Hasher`]. **Truncation and trailing bytes are the
//!    consumer's check**: core never sees the stream. Refuse a stream that
//!    ends early, and one that has even one byte after the artifact (for a
//!    file, compare its size with [`bundle_length`] before starting).
//! 5. Device rule 5 ([`crate::device_rules::check_image`]) on the bytes read
//!    back from the slot, right before switching the boot flag.
//!
//! [`decode`] does steps 1, 2 and the length part of 4 for a bundle already in
//! memory (tests, the browser).

use crate::device_rules::{self, DeviceFloor};
use crate::dsse::Envelope;
use crate::release::{self, ReleaseManifest};
use crate::revocation::{self, RevocationList};
use crate::root::{self, Root, TrustedRoot};
use crate::{Error, UnixTime, MAX_DOCUMENT_BYTES, MAX_ROOT_STEPS};
use serde::{Deserialize, Serialize};

/// The first 8 bytes of every bundle.
pub const MAGIC: [u8; 8] = *b"UPDBNDL1";
/// Magic, header length and reserved word.
pub const PREAMBLE_LEN: usize = 16;
/// The header schema this build writes and reads.
pub const FORMAT: u32 = 1;
/// Largest header a consumer buffers (see the module docs for the sizing).
pub const MAX_BUNDLE_HEADER_BYTES: usize = 16 * MAX_DOCUMENT_BYTES;
/// Most roots a bundle carries: an anchor and [`MAX_ROOT_STEPS`] successors.
pub const MAX_BUNDLE_ROOTS: usize = MAX_ROOT_STEPS as usize + 1;

/// The JSON header between the preamble and the artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleHeader {
    /// Always [`FORMAT`].
    pub format: u32,
    /// Root envelopes, contiguous ascending versions.
    pub roots: Vec<Envelope>,
    /// The edge-signed revocation list, when the producer had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocations: Option<Envelope>,
    /// The release manifest, signed by the release role.
    pub release: Envelope,
    /// Number of artifact bytes after the header; must equal the manifest's length.
    pub artifact_length: u64,
}

/// What a bundle's signed parts established.
#[derive(Debug, Clone)]
pub struct VerifiedBundle {
    /// The root the walk ended on; the release verified under it.
    pub root: TrustedRoot,
    pub release: ReleaseManifest,
    /// The bundle's revocation list, verified under the edge role. For a
    /// device, `None` also when the list is older than the one it knows
    /// (which then judged the release instead): only a `Some` is worth storing.
    pub revocations: Option<RevocationList>,
}

impl BundleHeader {
    /// A format-1 header.
    pub fn new(roots: Vec<Envelope>, revocations: Option<Envelope>, release: Envelope, artifact_length: u64) -> Self {
        BundleHeader { format: FORMAT, roots, revocations, release, artifact_length }
    }

    /// Shape checks that need no signature: format, root count, payload
    /// types, per-document size, a non-empty artifact. [`parse_header`] and
    /// [`encode_preamble_and_header`] both apply them, so a producer cannot
    /// write a header a consumer refuses for its shape.
    pub fn check_structure(&self) -> Result<(), Error> {
        if self.format != FORMAT {
            return Err(Error::field("format", format!("bundle format {} is not supported (this build reads {FORMAT})", self.format)));
        }
        if self.roots.is_empty() {
            return Err(Error::field("roots", "a bundle carries at least the root its release verifies under"));
        }
        if self.roots.len() > MAX_BUNDLE_ROOTS {
            return Err(Error::TooManyRootSteps { max: MAX_ROOT_STEPS });
        }
        for envelope in &self.roots {
            check_envelope(envelope, root::PAYLOAD_TYPE)?;
        }
        if let Some(list) = &self.revocations {
            check_envelope(list, revocation::PAYLOAD_TYPE)?;
        }
        check_envelope(&self.release, release::PAYLOAD_TYPE)?;
        if self.artifact_length == 0 {
            return Err(Error::field("artifact_length", "a bundle carries a non-empty artifact"));
        }
        Ok(())
    }

    /// Trusts the first root as the anchor and walks the rest (the producer's
    /// and an inspector's view: is this bundle consistent in itself?). The
    /// root it ends on must be fresh at `now`.
    pub fn anchored_root(&self, now: UnixTime) -> Result<TrustedRoot, Error> {
        let (anchor, successors) = self.roots.split_first().ok_or_else(|| Error::field("roots", "no root in the bundle"))?;
        TrustedRoot::from_anchor(anchor)?.update_chain(successors, now)
    }

    /// Walks the bundle's roots from a root already trusted (a device's
    /// current root, an operator's anchor): roots at or below its version are
    /// skipped, each later one must be exactly the next version and pass
    /// [`TrustedRoot::update`]. The root it ends on must be fresh at `now`.
    ///
    /// Each root's version is read before verification only to decide
    /// whether to skip it; nothing unverified is trusted.
    pub fn walk_roots(&self, current: &TrustedRoot, now: UnixTime) -> Result<TrustedRoot, Error> {
        let versions = self.roots.iter().map(|e| e.unverified_parse::<Root>("root").map(|r| r.version)).collect::<Result<Vec<_>, _>>()?;
        for pair in versions.windows(2) {
            if pair[0].checked_add(1) != Some(pair[1]) {
                return Err(Error::Malformed {
                    what: "bundle header",
                    detail: format!("roots must be contiguous ascending versions; v{} follows v{}", pair[1], pair[0]),
                });
            }
        }
        let mut trusted = current.clone();
        for (envelope, version) in self.roots.iter().zip(versions) {
            if version > trusted.version() {
                trusted = trusted.update(envelope)?;
            }
        }
        trusted.check_fresh(now)?;
        Ok(trusted)
    }

    /// Verifies the release and the revocation list under `root` (already
    /// walked), and refuses what any device the release targets would refuse
    /// because of the list or the header, whatever its own floor: a revoked
    /// image, a release below the list's floor, an `artifact_length` that is
    /// not the manifest's. The producer's gate (`updraft bundle create`).
    pub fn verify_under(&self, root: TrustedRoot, now: UnixTime) -> Result<VerifiedBundle, Error> {
        let release: ReleaseManifest = root.verify(&self.release, now)?;
        let revocations = match &self.revocations {
            Some(envelope) => Some(root.verify::<RevocationList>(envelope, now)?),
            None => None,
        };
        if let Some(list) = &revocations {
            check_against_revocations(&release, list)?;
        }
        check_artifact_length(&release, self.artifact_length)?;
        Ok(VerifiedBundle { root, release, revocations })
    }

    /// [`Self::verify_under`] the bundle's own first root.
    pub fn verify_anchored(&self, now: UnixTime) -> Result<VerifiedBundle, Error> {
        self.verify_under(self.anchored_root(now)?, now)
    }

    /// The device's decision on a bundle's header (DESIGN §2 device rules
    /// 1–4, and the header's length tied to the signed manifest): walk the
    /// roots from `current`, verify the bundle's revocation list under the
    /// edge role, judge the release with the newest list available (the
    /// bundle's or `known`, the one the device already holds), and check
    /// `artifact_length`. Rule 5 is the caller's, on the streamed bytes.
    pub fn verify_for_device(
        &self,
        current: &TrustedRoot,
        device: &DeviceFloor<'_>,
        known: Option<&RevocationList>,
        now: UnixTime,
    ) -> Result<VerifiedBundle, Error> {
        let root = self.walk_roots(current, now)?;
        let bundled = match &self.revocations {
            Some(envelope) => Some(root.verify::<RevocationList>(envelope, now)?),
            None => None,
        };
        // An older list in the bundle is not an attack the device must fail
        // on (bundles are built ahead of time); it just does not count.
        let bundled = bundled.filter(|list| known.is_none_or(|k| list.seq >= k.seq));
        let effective = bundled.as_ref().or(known);
        let release = device_rules::check_installable(&root, &self.release, device, effective, now)?;
        check_artifact_length(&release, self.artifact_length)?;
        Ok(VerifiedBundle { root, release, revocations: bundled })
    }
}

/// Refuses a release that a revocation list refuses for every device it
/// targets: its image is revoked, or it is below the list's security floor
/// for its product. (Rules 3 and 4 as `device_rules::check_manifest` judges
/// them for a device of the release's own hardware with no stored floor.)
pub fn check_against_revocations(release: &ReleaseManifest, list: &RevocationList) -> Result<(), Error> {
    let Some(hardware_id) = release.hardware_ids.first() else {
        return Err(Error::field("hardware_ids", "a release must name at least one hardware id"));
    };
    let device = DeviceFloor { hardware_id, security_floor: crate::SecurityVersion(0) };
    device_rules::check_manifest(release, &device, Some(list))
}

fn check_artifact_length(release: &ReleaseManifest, artifact_length: u64) -> Result<(), Error> {
    if artifact_length != release.artifact.length {
        return Err(Error::Refused {
            rule: "image-length",
            detail: format!(
                "the bundle header says {artifact_length} artifact bytes, the release manifest says {}",
                release.artifact.length
            ),
        });
    }
    Ok(())
}

fn check_envelope(envelope: &Envelope, payload_type: &'static str) -> Result<(), Error> {
    if envelope.payload_type != payload_type {
        return Err(Error::WrongPayloadType { expected: payload_type, found: envelope.payload_type.clone() });
    }
    // The same limit as a standalone document: embedding one in a bundle must
    // not be a way around it.
    let size = envelope.to_json().len();
    if size > MAX_DOCUMENT_BYTES {
        return Err(Error::DocumentTooLarge { size, max: MAX_DOCUMENT_BYTES });
    }
    Ok(())
}

/// The preamble and header of a bundle; the artifact bytes follow them.
/// Refuses a header [`parse_header`] would refuse.
pub fn encode_preamble_and_header(header: &BundleHeader) -> Result<Vec<u8>, Error> {
    header.check_structure()?;
    let json = serde_json::to_vec(header).map_err(|e| Error::Malformed { what: "bundle header", detail: e.to_string() })?;
    let len = match u32::try_from(json.len()) {
        Ok(len) if json.len() <= MAX_BUNDLE_HEADER_BYTES => len,
        _ => return Err(Error::DocumentTooLarge { size: json.len(), max: MAX_BUNDLE_HEADER_BYTES }),
    };
    let mut out = Vec::with_capacity(PREAMBLE_LEN + json.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&json);
    Ok(out)
}

/// Checks the magic and the reserved word and returns the header length,
/// refusing one over [`MAX_BUNDLE_HEADER_BYTES`] before it is read.
pub fn parse_preamble(preamble: &[u8; PREAMBLE_LEN]) -> Result<u32, Error> {
    let (magic, rest) = preamble.split_at(MAGIC.len());
    if magic != MAGIC {
        return Err(Error::Malformed {
            what: "bundle",
            detail: format!("not an Updraft bundle: starts with {}, not `UPDBNDL1`", hex::encode(magic)),
        });
    }
    let (len_bytes, reserved_bytes) = rest.split_at(4);
    let header_len = u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
    let reserved = u32::from_be_bytes([reserved_bytes[0], reserved_bytes[1], reserved_bytes[2], reserved_bytes[3]]);
    if reserved != 0 {
        return Err(Error::Malformed { what: "bundle preamble", detail: format!("reserved word is {reserved:#x}, must be 0") });
    }
    if header_len == 0 {
        return Err(Error::Malformed { what: "bundle preamble", detail: "header length is 0".into() });
    }
    if header_len as usize > MAX_BUNDLE_HEADER_BYTES {
        return Err(Error::DocumentTooLarge { size: header_len as usize, max: MAX_BUNDLE_HEADER_BYTES });
    }
    Ok(header_len)
}

/// Parses the header bytes (exactly the H bytes after the preamble) and
/// checks its structure. Signatures are checked by the `verify_*` methods.
pub fn parse_header(bytes: &[u8]) -> Result<BundleHeader, Error> {
    if bytes.len() > MAX_BUNDLE_HEADER_BYTES {
        return Err(Error::DocumentTooLarge { size: bytes.len(), max: MAX_BUNDLE_HEADER_BYTES });
    }
    let header: BundleHeader =
        serde_json::from_slice(bytes).map_err(|e| Error::Malformed { what: "bundle header", detail: e.to_string() })?;
    header.check_structure()?;
    Ok(header)
}

/// The exact size of a bundle with this header length and artifact length
/// (`None` if it overflows u64, which no real bundle does).
pub fn bundle_length(header_len: u32, artifact_length: u64) -> Option<u64> {
    (PREAMBLE_LEN as u64 + u64::from(header_len)).checked_add(artifact_length)
}

/// Splits a bundle held in memory into its header and artifact bytes,
/// refusing a truncated bundle and trailing bytes. Signatures are not checked.
pub fn decode(bytes: &[u8]) -> Result<(BundleHeader, &[u8]), Error> {
    let Some((preamble, rest)) = bytes.split_first_chunk::<PREAMBLE_LEN>() else {
        return Err(Error::Malformed {
            what: "bundle",
            detail: format!("truncated: {} bytes, the preamble alone is {PREAMBLE_LEN}", bytes.len()),
        });
    };
    let header_len = parse_preamble(preamble)? as usize;
    if rest.len() < header_len {
        return Err(Error::Malformed {
            what: "bundle",
            detail: format!("truncated: the header is {header_len} bytes, only {} follow the preamble", rest.len()),
        });
    }
    let (header_bytes, artifact) = rest.split_at(header_len);
    let header = parse_header(header_bytes)?;
    if artifact.len() as u64 != header.artifact_length {
        let how = if (artifact.len() as u64) < header.artifact_length { "truncated" } else { "trailing bytes" };
        return Err(Error::Malformed {
            what: "bundle",
            detail: format!("{how}: {} bytes follow the header, which announces {}", artifact.len(), header.artifact_length),
        });
    }
    Ok((header, artifact))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::Artifact;
    use crate::root::{role_from_keys, Roles, SignedDocument};
    use crate::{HardwareId, ProductName, SecurityVersion, Sha256, SigningKey, Version};

    const NOW: UnixTime = UnixTime(1_767_225_600);
    const IMAGE: &[u8] = b"firmware image bytes";

    fn key(tag: u8) -> SigningKey {
        SigningKey::from_seed([tag; 32])
    }

    fn root(version: u64) -> Envelope {
        let pk = |k: SigningKey| k.public_key().clone();
        let (mut keys, root_role) = role_from_keys(&[pk(key(1))], 1);
        let (release_keys, release_role) = role_from_keys(&[pk(key(2))], 1);
        let (edge_keys, edge_role) = role_from_keys(&[pk(key(3))], 1);
        keys.extend(release_keys);
        keys.extend(edge_keys);
        let roles = Roles { root: root_role, release: release_role, edge: edge_role };
        Root { version, expires: NOW.plus_secs(86_400), product: "acme-*".into(), keys, roles }.sign(&[&key(1)])
    }

    fn release() -> Envelope {
        ReleaseManifest {
            product: ProductName::parse("acme-thermostat").unwrap(),
            hardware_ids: vec![HardwareId::parse("thermo-r2").unwrap()],
            version: Version::parse("2.4.0").unwrap(),
            security_version: SecurityVersion(7),
            artifact: Artifact { sha256: Sha256::digest(IMAGE), length: IMAGE.len() as u64, name: "fw.bin".into() },
            min_bootloader: None,
            created: NOW,
            expires: None,
            notes: String::new(),
            sbom: None,
            deltas: vec![],
            support_until: None,
        }
        .sign(&[&key(2)])
    }

    fn bundle() -> (BundleHeader, Vec<u8>) {
        let header = BundleHeader::new(vec![root(1), root(2)], None, release(), IMAGE.len() as u64);
        let mut bytes = encode_preamble_and_header(&header).unwrap();
        bytes.extend_from_slice(IMAGE);
        (header, bytes)
    }

    #[test]
    fn round_trips_and_verifies_under_its_own_anchor() {
        let (header, bytes) = bundle();
        let (parsed, artifact) = decode(&bytes).unwrap();
        assert_eq!(parsed, header);
        assert_eq!(artifact, IMAGE);
        let header_len = parse_preamble(bytes[..PREAMBLE_LEN].try_into().unwrap()).unwrap();
        assert_eq!(bundle_length(header_len, parsed.artifact_length), Some(bytes.len() as u64));
        let verified = parsed.verify_anchored(NOW).unwrap();
        assert_eq!(verified.root.version(), 2);
        assert_eq!(verified.release.artifact.length, IMAGE.len() as u64);
    }

    #[test]
    fn the_preamble_is_magic_then_big_endian_length_then_zero() {
        let (_, bytes) = bundle();
        assert_eq!(&bytes[..8], b"UPDBNDL1");
        let len = u32::from_be_bytes(bytes[8..12].try_into().unwrap()) as usize;
        assert_eq!(&bytes[12..16], &[0, 0, 0, 0]);
        assert_eq!(bytes.len(), PREAMBLE_LEN + len + IMAGE.len());
        assert_eq!(bytes[PREAMBLE_LEN], b'{');
    }

    #[test]
    fn a_device_already_past_the_bundled_roots_skips_them() {
        let (header, _) = bundle();
        let device_root = TrustedRoot::from_anchor(&root(1)).unwrap().update(&root(2)).unwrap();
        assert_eq!(header.walk_roots(&device_root, NOW).unwrap().version(), 2);
        let hw = HardwareId::parse("thermo-r2").unwrap();
        let device = DeviceFloor { hardware_id: &hw, security_floor: SecurityVersion(7) };
        let verified = header.verify_for_device(&device_root, &device, None, NOW).unwrap();
        assert_eq!(verified.release.version.to_string(), "2.4.0");
    }

    #[test]
    fn refuses_to_encode_what_it_would_refuse_to_parse() {
        let mut header = bundle().0;
        header.roots.clear();
        assert!(matches!(encode_preamble_and_header(&header), Err(Error::InvalidField { field: "roots", .. })));
    }
}
