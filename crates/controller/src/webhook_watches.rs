//! The admission webhooks' own watches, for a process that runs no controller (`serve` without
//! `--cluster-name`): the same [`Cache`]s, [`watch_into`] and field stripping the controllers
//! use, filling the same [`AdmissionView`]. One cache mechanism for controllers and webhooks.
//!
//! Every replica keeps these caches warm (the webhook is served by all replicas, not only the
//! leader).

use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::Client;
use kube::runtime::watcher;

use crate::cache::{self, Cache, watch_into};
use crate::cache_view::{AdmissionView, CacheView};

/// Starts the watches of everything the admission rules consult; the returned future drives
/// them and never ends on its own.
pub fn start(client: Client) -> (AdmissionView, impl Future<Output = ()> + Send) {
    let view = AdmissionView {
        view: CacheView::default(),
        services: Cache::<Service>::new(),
    };
    let all = watcher::Config::default;
    let caches = view.clone();
    let drive = async move {
        let c = &caches;
        tokio::join!(
            watch_into(
                client.clone(),
                None,
                all(),
                c.view.classes.clone(),
                cache::strip,
                |_| {}
            ),
            watch_into(
                client.clone(),
                None,
                all(),
                c.view.params.clone(),
                cache::strip,
                |_| {}
            ),
            watch_into(
                client.clone(),
                None,
                all(),
                c.view.namespaces.clone(),
                strip_namespace,
                |_| {}
            ),
            watch_into(
                client.clone(),
                None,
                all(),
                c.view.bindings.clone(),
                cache::strip,
                |_| {}
            ),
            watch_into(
                client,
                None,
                all(),
                c.services.clone(),
                cache::strip,
                |_| {}
            ),
        );
    };
    (view, drive)
}

/// Namespaces: only the labels matter (IngressClassParams namespaceSelector).
pub fn strip_namespace(ns: &mut Namespace) {
    cache::strip_meta(&mut ns.metadata);
    ns.metadata.annotations = None;
    ns.spec = None;
    ns.status = None;
}
