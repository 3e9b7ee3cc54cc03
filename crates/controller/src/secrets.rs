//! Watches on the Secrets that Ingresses reference (the OIDC client credentials of
//! `auth-idp-oidc`), so that rotating a client secret re-deploys the groups using it at once
//! instead of at the next resync.
//!
//! The controller does not cache Secrets: it reads them when a group is built. Here it only
//! watches the metadata of each referenced Secret, one watch per Secret with a
//! `metadata.name` field selector, started when the first Ingress references it and stopped
//! when the last reference goes. A new `resourceVersion` (or a deletion) enqueues the groups
//! that reference the Secret. Without list/watch permission on Secrets (the chart grants it
//! with `clusterSecretsPermissions.allowAllSecrets`), the watch logs its error and backs off;
//! the groups then see a changed Secret at the next resync.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event};
use kube::{Client, ResourceExt as _};
use tokio::task::AbortHandle;

use crate::keys::ObjKey;

/// What to do when a watched Secret changes: enqueue the groups that reference it.
pub type OnSecretChange = Arc<dyn Fn(&ObjKey) + Send + Sync>;

/// The set of running Secret watches.
#[derive(Clone)]
pub struct SecretWatches {
    client: Client,
    on_change: OnSecretChange,
    running: Arc<Mutex<HashMap<ObjKey, AbortHandle>>>,
}

impl SecretWatches {
    pub fn new(client: Client, on_change: OnSecretChange) -> Self {
        Self {
            client,
            on_change,
            running: Arc::default(),
        }
    }

    /// Makes the running watches exactly `wanted`: starts the missing ones, stops the rest.
    /// Must be called from within a Tokio runtime.
    pub fn sync(&self, wanted: &BTreeSet<ObjKey>) {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        running.retain(|key, handle| {
            let keep = wanted.contains(key);
            if !keep {
                handle.abort();
                tracing::debug!(secret = %key, "stopped watching a Secret no Ingress references");
            }
            keep
        });
        for key in wanted {
            if running.contains_key(key) {
                continue;
            }
            let task = tokio::spawn(watch_one(
                self.client.clone(),
                key.clone(),
                self.on_change.clone(),
            ));
            tracing::debug!(secret = %key, "watching a Secret an Ingress references");
            running.insert(key.clone(), task.abort_handle());
        }
    }

    /// The Secrets watched now.
    pub fn watched(&self) -> BTreeSet<ObjKey> {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect()
    }

    /// Stops every watch.
    pub fn stop(&self) {
        self.sync(&BTreeSet::new());
    }
}

/// Follows one Secret's `resourceVersion` and reports every change after the first sighting.
#[derive(Debug, Default)]
pub struct VersionTracker {
    /// `None` until the first list; then the version seen (`None` when the Secret is absent).
    known: Option<Option<String>>,
    /// The version of the list in progress.
    listing: Option<String>,
}

impl VersionTracker {
    /// Feeds one watch event; true when the Secret changed since it was last seen. The first
    /// list counts as a change too: the group may have read an older version just before the
    /// watch started.
    pub fn observe<K: kube::Resource>(&mut self, event: &Event<K>) -> bool {
        match event {
            Event::Init => {
                self.listing = None;
                false
            }
            Event::InitApply(object) => {
                self.listing = object.resource_version();
                false
            }
            Event::InitDone => {
                let seen = self.listing.take();
                self.settle(seen)
            }
            Event::Apply(object) => self.settle(object.resource_version()),
            Event::Delete(_) => self.settle(None),
        }
    }

    fn settle(&mut self, seen: Option<String>) -> bool {
        let changed = self.known.as_ref() != Some(&seen);
        self.known = Some(seen);
        changed
    }
}

async fn watch_one(client: Client, key: ObjKey, on_change: OnSecretChange) {
    // Metadata only: the Secret's data never enters this process through the watch.
    let api: Api<PartialObjectMeta<Secret>> = Api::namespaced(client, &key.namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={}", key.name));
    let mut stream = std::pin::pin!(watcher::watcher(api, config).default_backoff());
    let mut tracker = VersionTracker::default();
    while let Some(event) = stream.next().await {
        match event {
            Ok(event) => {
                if tracker.observe(&event) {
                    tracing::info!(secret = %key, "referenced Secret changed; re-deploying its groups");
                    on_change(&key);
                }
            }
            Err(error) => {
                tracing::warn!(secret = %key, %error, "cannot watch a referenced Secret; retrying");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn meta(rv: &str) -> PartialObjectMeta<Secret> {
        PartialObjectMeta {
            metadata: ObjectMeta {
                name: Some("oidc".into()),
                namespace: Some("ns".into()),
                resource_version: Some(rv.into()),
                ..ObjectMeta::default()
            },
            ..PartialObjectMeta::default()
        }
    }

    #[test]
    fn reports_first_sighting_then_only_real_changes() {
        let mut t = VersionTracker::default();
        assert!(!t.observe(&Event::<PartialObjectMeta<Secret>>::Init));
        assert!(!t.observe(&Event::InitApply(meta("1"))));
        assert!(
            t.observe(&Event::<PartialObjectMeta<Secret>>::InitDone),
            "first list"
        );
        assert!(!t.observe(&Event::Apply(meta("1"))), "same version again");
        assert!(t.observe(&Event::Apply(meta("2"))), "rotated");
        // A relist after a disconnect that finds the same version is quiet...
        assert!(!t.observe(&Event::<PartialObjectMeta<Secret>>::Init));
        assert!(!t.observe(&Event::InitApply(meta("2"))));
        assert!(!t.observe(&Event::<PartialObjectMeta<Secret>>::InitDone));
        // ...one that finds the Secret gone is a change, and so is its return.
        assert!(!t.observe(&Event::<PartialObjectMeta<Secret>>::Init));
        assert!(t.observe(&Event::<PartialObjectMeta<Secret>>::InitDone));
        assert!(t.observe(&Event::Apply(meta("7"))));
        assert!(t.observe(&Event::Delete(meta("7"))));
        assert!(!t.observe(&Event::<PartialObjectMeta<Secret>>::Init));
        assert!(
            !t.observe(&Event::<PartialObjectMeta<Secret>>::InitDone),
            "still gone"
        );
    }

    #[test]
    fn a_missing_secret_at_first_list_is_reported_once() {
        let mut t = VersionTracker::default();
        assert!(!t.observe(&Event::<PartialObjectMeta<Secret>>::Init));
        assert!(t.observe(&Event::<PartialObjectMeta<Secret>>::InitDone));
        assert!(!t.observe(&Event::<PartialObjectMeta<Secret>>::Init));
        assert!(!t.observe(&Event::<PartialObjectMeta<Secret>>::InitDone));
    }
}
