//! In-memory caches fed by watches, keeping only the fields the controller uses.
//!
//! [`Cache`] is a shared map of objects by key; [`watch_into`] drives a kube watcher into it
//! and reports every change to a callback (which maps it to the reconcile keys it affects).
//! Objects that fail to deserialize are skipped with a log line instead of breaking the watch
//! (the watch runs over [`DeserializeGuard`]). After a watch restart the listed objects
//! replace the cache as a whole, so deletions missed while disconnected are reported too.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, PoisonError, RwLock};

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{Node, NodeSpec, NodeStatus, Pod, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::Api;
use kube::core::DeserializeGuard;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use crate::keys::ObjKey;

/// The annotation `kubectl apply` leaves behind: a full copy of the object.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// A shared map of objects by `namespace/name`.
pub struct Cache<K> {
    map: Arc<RwLock<HashMap<ObjKey, Arc<K>>>>,
    ready: Arc<watch::Sender<bool>>,
}

impl<K> Clone for Cache<K> {
    fn clone(&self) -> Self {
        Self {
            map: self.map.clone(),
            ready: self.ready.clone(),
        }
    }
}

impl<K> Default for Cache<K> {
    fn default() -> Self {
        Self {
            map: Arc::default(),
            ready: Arc::new(watch::channel(false).0),
        }
    }
}

impl<K: Resource> Debug for Cache<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").field("len", &self.len()).finish()
    }
}

/// One change the watch brought.
#[derive(Debug)]
pub enum Change<K> {
    Applied { old: Option<Arc<K>>, new: Arc<K> },
    Deleted(Arc<K>),
}

impl<K> Change<K> {
    /// The object as it is now (the deleted one for deletions).
    pub fn object(&self) -> &Arc<K> {
        match self {
            Self::Applied { new, .. } => new,
            Self::Deleted(old) => old,
        }
    }
}

impl<K> Cache<K>
where
    K: Resource,
{
    pub fn new() -> Self {
        Self::default()
    }

    /// A cache holding `objects`, already marked ready (tests, benchmarks).
    pub fn from_objects(objects: impl IntoIterator<Item = K>) -> Self {
        let cache = Self::new();
        for object in objects {
            cache.insert(Arc::new(object));
        }
        cache.mark_ready();
        cache
    }

    pub fn get(&self, key: &ObjKey) -> Option<Arc<K>> {
        self.read(|map| map.get(key).cloned())
    }

    /// Every object, in no particular order.
    pub fn values(&self) -> Vec<Arc<K>> {
        self.read(|map| map.values().cloned().collect())
    }

    /// The objects matching `keep`.
    pub fn filter(&self, mut keep: impl FnMut(&K) -> bool) -> Vec<Arc<K>> {
        self.read(|map| map.values().filter(|o| keep(o)).cloned().collect())
    }

    pub fn len(&self) -> usize {
        self.read(HashMap::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stores an object; returns the one it replaced.
    pub fn insert(&self, object: Arc<K>) -> Option<Arc<K>> {
        let key = ObjKey::of(object.as_ref())?;
        self.write(|map| map.insert(key, object))
    }

    pub fn remove(&self, key: &ObjKey) -> Option<Arc<K>> {
        self.write(|map| map.remove(key))
    }

    /// Replaces the whole content; returns the changes (objects whose resourceVersion is
    /// unchanged are not reported).
    pub fn replace(&self, objects: HashMap<ObjKey, Arc<K>>) -> Vec<Change<K>> {
        self.write(|map| {
            let mut changes = Vec::new();
            for (key, old) in map.iter() {
                if !objects.contains_key(key) {
                    changes.push(Change::Deleted(old.clone()));
                }
            }
            for (key, new) in &objects {
                let old = map.get(key);
                let unchanged = old.is_some_and(|old| {
                    old.meta().resource_version.is_some()
                        && old.meta().resource_version == new.meta().resource_version
                });
                if !unchanged {
                    changes.push(Change::Applied {
                        old: old.cloned(),
                        new: new.clone(),
                    });
                }
            }
            *map = objects;
            changes
        })
    }

    /// Marks the initial list as complete.
    pub fn mark_ready(&self) {
        self.ready.send_replace(true);
    }

    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Resolves once the initial list is complete.
    pub async fn wait_ready(&self) {
        let mut rx = self.ready.subscribe();
        // The sender lives as long as this cache, so this only ends when ready.
        let _ = rx.wait_for(|ready| *ready).await;
    }

    fn read<T>(&self, f: impl FnOnce(&HashMap<ObjKey, Arc<K>>) -> T) -> T {
        f(&self.map.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn write<T>(&self, f: impl FnOnce(&mut HashMap<ObjKey, Arc<K>>) -> T) -> T {
        f(&mut self.map.write().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Drives a watch of every `K` in the cluster or, for a namespaced kind, in `namespace` (and
/// matching `config`) into `cache`, calling
/// `on_change` with each batch of changes. Never returns; the watcher retries with backoff.
pub async fn watch_into<K>(
    client: Client,
    namespace: Option<String>,
    config: watcher::Config,
    cache: Cache<K>,
    strip: fn(&mut K),
    mut on_change: impl FnMut(Vec<Change<K>>) + Send,
) where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let kind = K::kind(&()).into_owned();
    // `--watch-namespace` narrows namespaced kinds; cluster-scoped ones are always all.
    let namespaced = std::any::TypeId::of::<K::Scope>()
        == std::any::TypeId::of::<k8s_openapi::NamespaceResourceScope>();
    let mut config = config;
    if let Some(ns) = namespace.filter(|ns| namespaced && !ns.is_empty()) {
        let only = format!("metadata.namespace={ns}");
        config.field_selector = Some(match config.field_selector.take() {
            Some(fields) => format!("{fields},{only}"),
            None => only,
        });
    }
    let api: Api<DeserializeGuard<K>> = Api::all(client);
    let mut stream = std::pin::pin!(watcher::watcher(api, config).default_backoff());
    let mut buffer: Option<HashMap<ObjKey, Arc<K>>> = None;
    while let Some(event) = stream.next().await {
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                tracing::warn!(%kind, %error, "watch error; retrying");
                continue;
            }
        };
        match event {
            Event::Init => buffer = Some(HashMap::new()),
            Event::InitApply(object) => {
                if let Some((key, object)) = accept(&kind, object, strip) {
                    buffer.get_or_insert_default().insert(key, object);
                }
            }
            Event::InitDone => {
                let changes = cache.replace(buffer.take().unwrap_or_default());
                cache.mark_ready();
                tracing::debug!(%kind, objects = cache.len(), "cache synced");
                if !changes.is_empty() {
                    on_change(changes);
                }
            }
            Event::Apply(object) => {
                if let Some((_, new)) = accept(&kind, object, strip) {
                    let old = cache.insert(new.clone());
                    on_change(vec![Change::Applied { old, new }]);
                }
            }
            Event::Delete(object) => {
                let meta = match &object.0 {
                    Ok(object) => object.meta(),
                    Err(invalid) => &invalid.metadata,
                };
                if let Some(old) = ObjKey::of_meta(meta).and_then(|key| cache.remove(&key)) {
                    on_change(vec![Change::Deleted(old)]);
                }
            }
        }
    }
}

fn accept<K>(kind: &str, object: DeserializeGuard<K>, strip: fn(&mut K)) -> Option<(ObjKey, Arc<K>)>
where
    K: Resource,
{
    match object.0 {
        Ok(mut object) => {
            let key = ObjKey::of(&object)?;
            strip(&mut object);
            Some((key, Arc::new(object)))
        }
        Err(invalid) => {
            let key = ObjKey::of_meta(&invalid.metadata);
            tracing::warn!(
                %kind,
                object = %key.map(|k| k.to_string()).unwrap_or_default(),
                error = %invalid.error,
                "skipping an object that does not deserialize"
            );
            None
        }
    }
}

/// Drops what no controller reads: managed fields and the last-applied copy.
pub fn strip_meta(meta: &mut ObjectMeta) {
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED_ANNOTATION);
    }
}

/// [`strip_meta`] for any object.
pub fn strip<K: Resource>(object: &mut K) {
    strip_meta(object.meta_mut());
}

/// Pods: only labels, readiness gates, node name, IPs and conditions stay (containers,
/// volumes and container statuses are most of a Pod's size).
pub fn strip_pod(pod: &mut Pod) {
    strip_meta(&mut pod.metadata);
    pod.metadata.annotations = None;
    pod.spec = pod.spec.take().map(|spec| PodSpec {
        readiness_gates: spec.readiness_gates,
        node_name: spec.node_name,
        ..PodSpec::default()
    });
    pod.status = pod.status.take().map(|status| PodStatus {
        conditions: status.conditions,
        pod_ip: status.pod_ip,
        pod_ips: status.pod_ips,
        phase: status.phase,
        ..PodStatus::default()
    });
}

/// Nodes: labels, provider ID, taints, unschedulable and conditions (images and node info
/// are dropped).
pub fn strip_node(node: &mut Node) {
    strip_meta(&mut node.metadata);
    node.metadata.annotations = None;
    node.spec = node.spec.take().map(|spec| NodeSpec {
        provider_id: spec.provider_id,
        taints: spec.taints,
        unschedulable: spec.unschedulable,
        ..NodeSpec::default()
    });
    node.status = node.status.take().map(|status| NodeStatus {
        conditions: status.conditions.map(|conditions| {
            conditions
                .into_iter()
                .filter(|c| c.type_ == "Ready")
                .collect()
        }),
        ..NodeStatus::default()
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        Container, NodeCondition, PodCondition, PodReadinessGate, Service,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
    use std::collections::BTreeMap;

    fn svc(name: &str, rv: &str) -> Service {
        let mut s = Service::default();
        s.metadata.namespace = Some("ns".into());
        s.metadata.name = Some(name.into());
        s.metadata.resource_version = Some(rv.into());
        s
    }

    #[test]
    fn replace_reports_new_changed_and_vanished() {
        let cache = Cache::from_objects([svc("a", "1"), svc("b", "1"), svc("c", "1")]);
        let next: HashMap<ObjKey, Arc<Service>> = [svc("a", "1"), svc("b", "2"), svc("d", "1")]
            .into_iter()
            .map(|s| (ObjKey::of(&s).expect("named"), Arc::new(s)))
            .collect();
        let mut changes: Vec<String> = cache
            .replace(next)
            .iter()
            .map(|c| match c {
                Change::Applied { old: Some(_), new } => {
                    format!("updated {}", new.metadata.name.clone().unwrap_or_default())
                }
                Change::Applied { old: None, new } => {
                    format!("added {}", new.metadata.name.clone().unwrap_or_default())
                }
                Change::Deleted(old) => {
                    format!("deleted {}", old.metadata.name.clone().unwrap_or_default())
                }
            })
            .collect();
        changes.sort();
        assert_eq!(changes, ["added d", "deleted c", "updated b"]);
        assert_eq!(cache.len(), 3);
        assert!(cache.get(&ObjKey::new("ns", "c")).is_none());
    }

    #[tokio::test]
    async fn ready_after_mark() {
        let cache: Cache<Service> = Cache::new();
        assert!(!cache.is_ready());
        let waiter = {
            let cache = cache.clone();
            tokio::spawn(async move { cache.wait_ready().await })
        };
        cache.mark_ready();
        tokio::time::timeout(std::time::Duration::from_secs(1), waiter)
            .await
            .expect("ready in time")
            .expect("task ran");
    }

    #[test]
    fn strips_keep_what_controllers_read() {
        let mut pod = Pod::default();
        pod.metadata.name = Some("p".into());
        pod.metadata.labels = Some(BTreeMap::from([("app".into(), "web".into())]));
        pod.metadata.managed_fields = Some(vec![ManagedFieldsEntry::default()]);
        pod.metadata.annotations = Some(BTreeMap::from([(
            LAST_APPLIED_ANNOTATION.into(),
            "{}".into(),
        )]));
        pod.spec = Some(PodSpec {
            containers: vec![Container::default()],
            node_name: Some("n1".into()),
            readiness_gates: Some(vec![PodReadinessGate {
                condition_type: "target-health.elbv2.k8s.aws/x".into(),
            }]),
            ..PodSpec::default()
        });
        pod.status = Some(PodStatus {
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: "True".into(),
                ..PodCondition::default()
            }]),
            ..PodStatus::default()
        });
        strip_pod(&mut pod);
        assert!(pod.metadata.managed_fields.is_none());
        assert!(pod.metadata.annotations.is_none());
        assert!(pod.metadata.labels.is_some());
        let spec = pod.spec.as_ref().expect("spec kept");
        assert!(spec.containers.is_empty());
        assert_eq!(spec.node_name.as_deref(), Some("n1"));
        assert_eq!(spec.readiness_gates.as_ref().map(Vec::len), Some(1));
        assert_eq!(
            pod.status.and_then(|s| s.conditions).map(|c| c.len()),
            Some(1)
        );

        let mut node = Node {
            spec: Some(NodeSpec {
                provider_id: Some("aws:///us-west-2a/i-1".into()),
                pod_cidr: Some("10.0.0.0/24".into()),
                ..NodeSpec::default()
            }),
            ..Node::default()
        };
        node.status = Some(NodeStatus {
            conditions: Some(vec![
                NodeCondition {
                    type_: "Ready".into(),
                    status: "True".into(),
                    ..NodeCondition::default()
                },
                NodeCondition {
                    type_: "MemoryPressure".into(),
                    status: "False".into(),
                    ..NodeCondition::default()
                },
            ]),
            ..NodeStatus::default()
        });
        strip_node(&mut node);
        assert_eq!(
            node.spec.as_ref().and_then(|s| s.provider_id.as_deref()),
            Some("aws:///us-west-2a/i-1")
        );
        assert!(
            node.spec
                .as_ref()
                .and_then(|s| s.pod_cidr.as_ref())
                .is_none()
        );
        assert_eq!(
            node.status.and_then(|s| s.conditions).map(|c| c.len()),
            Some(1)
        );
    }
}
