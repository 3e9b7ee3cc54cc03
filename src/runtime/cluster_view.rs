//! The webhook's [`ClusterView`] backed by kube reflector stores.
//!
//! Every replica keeps these caches warm (the webhook is served by all replicas, not only the
//! leader). Namespaces are watched as metadata only: the namespaceSelector check needs labels,
//! nothing else.

use std::collections::BTreeMap;
use std::sync::Arc;

use contract::cluster::ClusterView;
use contract::crd::{IngressClassParams, TargetGroupBinding};
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::networking::v1::IngressClass;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

/// Reflector stores of the objects the admission rules consult.
#[derive(Clone)]
pub struct StoreView {
    classes: Store<IngressClass>,
    params: Store<IngressClassParams>,
    namespaces: Store<PartialObjectMeta<Namespace>>,
    bindings: Store<TargetGroupBinding>,
    services: Store<Service>,
}

impl StoreView {
    /// Start the watches; the returned future drives them and never ends on its own.
    pub fn start(client: Client) -> (StoreView, impl Future<Output = ()> + Send) {
        let (classes, classes_driver) = reflect(Api::<IngressClass>::all(client.clone()));
        let (params, params_driver) = reflect(Api::<IngressClassParams>::all(client.clone()));
        let (bindings, bindings_driver) = reflect(Api::<TargetGroupBinding>::all(client.clone()));
        let (services, services_driver) = reflect(Api::<Service>::all(client.clone()));
        // Metadata only: `Api<PartialObjectMeta<_>>` makes metadata-only requests.
        let (ns_reader, namespaces_driver) =
            reflect(Api::<PartialObjectMeta<Namespace>>::all(client));
        let drive = async move {
            tokio::join!(
                classes_driver,
                params_driver,
                bindings_driver,
                namespaces_driver,
                services_driver
            );
        };
        let view = StoreView {
            classes,
            params,
            namespaces: ns_reader,
            bindings,
            services,
        };
        (view, drive)
    }

    /// Resolves once every store has its initial list.
    pub async fn wait_until_ready(&self) -> Result<(), reflector::store::WriterDropped> {
        self.classes.wait_until_ready().await?;
        self.params.wait_until_ready().await?;
        self.namespaces.wait_until_ready().await?;
        self.services.wait_until_ready().await?;
        self.bindings.wait_until_ready().await
    }
}

fn reflect<K>(api: Api<K>) -> (Store<K>, impl Future<Output = ()> + Send)
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .applied_objects();
    (reader, drain(std::any::type_name::<K>(), stream))
}

/// Drive a watch stream, logging (not propagating) its errors: the watcher retries by itself.
async fn drain<S, T, E>(what: &'static str, stream: S)
where
    S: futures::Stream<Item = Result<T, E>> + Send,
    E: std::fmt::Display,
{
    let mut stream = std::pin::pin!(stream);
    while let Some(item) = stream.next().await {
        if let Err(error) = item {
            tracing::warn!(watch = what, %error, "watch error; retrying");
        }
    }
}

impl ClusterView for StoreView {
    fn ingress_class(&self, name: &str) -> Option<Arc<IngressClass>> {
        self.classes.get(&ObjectRef::new(name))
    }

    fn ingress_classes(&self) -> Vec<Arc<IngressClass>> {
        self.classes.state()
    }

    fn ingress_class_params(&self, name: &str) -> Option<Arc<IngressClassParams>> {
        self.params.get(&ObjectRef::new(name))
    }

    fn namespace_labels(&self, namespace: &str) -> Option<BTreeMap<String, String>> {
        self.namespaces
            .get(&ObjectRef::new(namespace))
            .map(|ns| ns.metadata.labels.clone().unwrap_or_default())
    }

    fn target_group_bindings(&self) -> Vec<Arc<TargetGroupBinding>> {
        self.bindings.state()
    }

    fn service_selector(&self, namespace: &str, name: &str) -> Option<BTreeMap<String, String>> {
        self.services
            .get(&ObjectRef::new(name).within(namespace))
            .map(|svc| {
                svc.spec
                    .as_ref()
                    .and_then(|s| s.selector.clone())
                    .unwrap_or_default()
            })
    }
}
