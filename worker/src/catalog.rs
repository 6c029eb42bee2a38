//! The hot-path catalog, held in isolate memory (DESIGN §5).
//!
//! A warm update check reads no storage: the current root, the approved
//! releases (already verified), the live campaigns (every state but draft,
//! with their parsed spec, state, release and pace) and the revoked-device
//! deny list and the revocation list are loaded from D1 at most once per [`TTL_MS`] per isolate. A change therefore takes
//! effect everywhere within the TTL; writes in this isolate invalidate it at once.

use crate::reply::Problem;
use crate::store::d1::D1Store;
use std::cell::RefCell;
use std::collections::HashMap;
use std::collections::HashSet;
use std::rc::Rc;
use updraft_core::dsse::Envelope;
use updraft_core::release::ReleaseManifest;
use updraft_core::revocation::{build_list, RevocationList};
use updraft_core::rollout::{read_stored_spec, ActiveCampaign, CampaignState, Offerable};
use updraft_core::root::TrustedRoot;
use updraft_core::{Sha256, UnixTime};

/// Longest time a catalog is served before it is reloaded.
pub const TTL_MS: u64 = 5_000;

/// An approved release whose manifest verified under the current root.
pub struct CatalogRelease {
    pub id: String,
    pub manifest: ReleaseManifest,
    pub envelope: Envelope,
}

impl Offerable for CatalogRelease {
    fn manifest(&self) -> &ReleaseManifest {
        &self.manifest
    }
}

pub struct Catalog {
    pub root: TrustedRoot,
    pub root_envelope: Envelope,
    pub releases: Vec<Rc<CatalogRelease>>,
    /// Every campaign but drafts, as `core::rollout::decide` takes them.
    /// Halted and cancelled ones stay: they keep their product out of the
    /// baseline (only campaigns offer once a product has one), and a halted
    /// campaign with rollback still orders devices back.
    pub campaigns: Vec<ActiveCampaign<Rc<CatalogRelease>>>,
    /// Products of campaigns (drafts aside) whose release no longer verifies
    /// under the current root (its release key rotated out, say). Such a
    /// campaign offers nothing, but its product stays out of the baseline:
    /// otherwise dropping a release key would hand the product's next approved
    /// release to every device at once, bypassing its staged rollout.
    pub staged_products: HashSet<String>,
    /// Starts per minute of each campaign (by id) until the next tick.
    pub paces: HashMap<String, u32>,
    pub revoked_devices: HashSet<String>,
    /// The revocation list (unsigned; signed on demand when served), built
    /// from every stored revocation. Offers, rollbacks and artifact requests
    /// all judge against it.
    pub revocations: RevocationList,
    loaded_ms: u64,
}

impl Catalog {
    /// Is this image revoked, or the artifact of an approved release below
    /// its product's floor? Such artifacts answer 410.
    pub fn image_blocked(&self, sha: &Sha256) -> bool {
        self.revocations.is_revoked(sha)
            || self.releases.iter().any(|r| {
                &r.manifest.artifact.sha256 == sha && r.manifest.security_version < self.revocations.floor_for(&r.manifest.product)
            })
    }
}

thread_local! {
    static CATALOG: RefCell<Option<Rc<Catalog>>> = const { RefCell::new(None) };
}

/// Drops this isolate's catalog (after an admin write here).
pub fn invalidate() {
    CATALOG.with(|c| c.borrow_mut().take());
}

/// The catalog, reloading it when older than [`TTL_MS`].
pub async fn current(store: &D1Store, now: UnixTime, now_ms: u64) -> Result<Rc<Catalog>, Problem> {
    if let Some(cat) = CATALOG.with(|c| c.borrow().clone()) {
        if now_ms.saturating_sub(cat.loaded_ms) < TTL_MS {
            return Ok(cat);
        }
    }
    let cat = Rc::new(load(store, now, now_ms).await?);
    CATALOG.with(|c| *c.borrow_mut() = Some(cat.clone()));
    Ok(cat)
}

async fn load(store: &D1Store, now: UnixTime, now_ms: u64) -> Result<Catalog, Problem> {
    let unavailable = |e: crate::store::StoreError| Problem::unavailable(e.to_string(), 5);
    let root_json = store
        .latest_root()
        .await
        .map_err(unavailable)?
        .ok_or_else(|| Problem::unavailable("no root has been published yet: publish root v1 with `updraft root publish`", 30))?;
    let root_envelope = Envelope::from_slice(root_json.as_bytes()).map_err(|e| Problem::internal(format!("stored root: {e}")))?;
    // Published roots passed chain verification on the way in; re-checking the
    // self-signature here catches a corrupted row, not an attacker.
    let root = TrustedRoot::from_anchor(&root_envelope).map_err(|e| Problem::internal(format!("stored root: {e}")))?;
    let mut releases = Vec::new();
    let mut product_of = HashMap::new();
    for row in store.approved_releases().await.map_err(unavailable)? {
        product_of.insert(row.id.clone(), row.product.clone());
        let Ok(envelope) = Envelope::from_slice(row.envelope.as_bytes()) else { continue };
        // A release that no longer verifies (rotated keys, expiry) is not offered.
        if let Ok(manifest) = root.verify::<ReleaseManifest>(&envelope, now) {
            releases.push(Rc::new(CatalogRelease { id: row.id, manifest, envelope }));
        }
    }
    let mut campaigns = Vec::new();
    let mut paces = HashMap::new();
    let mut staged_products = HashSet::new();
    for row in store.live_campaigns().await.map_err(unavailable)? {
        let Some(release) = releases.iter().find(|r| r.id == row.release_id) else {
            // Its release no longer verifies (a rotated release key, expiry): it
            // offers nothing, and keeps its product out of the baseline.
            staged_products.extend(product_of.get(&row.release_id).cloned());
            continue;
        };
        // Stored rows were validated on the way in; an unreadable one offers nothing.
        let (Ok(spec), Ok(state)) = (read_stored_spec(row.spec.as_bytes()), serde_json::from_slice::<CampaignState>(row.state.as_bytes()))
        else {
            continue;
        };
        paces.insert(row.id.clone(), u32::try_from(row.pace).unwrap_or(u32::MAX));
        campaigns.push(ActiveCampaign { id: row.id, spec, state, release: release.clone() });
    }
    let revoked_devices = store.revoked_device_ids().await.map_err(unavailable)?.into_iter().collect();
    let revocations = build_list(&crate::revocations::entries(store).await?, now);
    Ok(Catalog { root, root_envelope, releases, campaigns, staged_products, paces, revoked_devices, revocations, loaded_ms: now_ms })
}
