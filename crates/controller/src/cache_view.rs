//! The [`ClusterView`]s over the controllers' own caches: [`CacheView`] for class resolution in
//! the group index, [`AdmissionView`] for the admission webhooks when the controllers run in
//! the same process.

use std::collections::BTreeMap;
use std::sync::Arc;

use contract::cluster::ClusterView;
use contract::crd::{IngressClassParams, TargetGroupBinding};
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};

use crate::cache::Cache;
use crate::keys::ObjKey;
use model::group_check::GroupObjects;

/// The [`ClusterView`] of class resolution over the controller's own caches, so that a class
/// or parameters change is visible to the index when its watch reports it.
#[derive(Clone, Default)]
pub struct CacheView {
    pub classes: Cache<IngressClass>,
    pub params: Cache<IngressClassParams>,
    pub namespaces: Cache<Namespace>,
    pub bindings: Cache<TargetGroupBinding>,
}

impl ClusterView for CacheView {
    fn ingress_class(&self, name: &str) -> Option<Arc<IngressClass>> {
        self.classes.get(&ObjKey::new("", name))
    }

    fn ingress_classes(&self) -> Vec<Arc<IngressClass>> {
        self.classes.values()
    }

    fn ingress_class_params(&self, name: &str) -> Option<Arc<IngressClassParams>> {
        self.params.get(&ObjKey::new("", name))
    }

    fn namespace_labels(&self, namespace: &str) -> Option<BTreeMap<String, String>> {
        self.namespaces
            .get(&ObjKey::new("", namespace))
            .map(|ns| ns.metadata.labels.clone().unwrap_or_default())
    }

    fn target_group_bindings(&self) -> Vec<Arc<TargetGroupBinding>> {
        self.bindings.values()
    }

    /// Class resolution never asks; the pod webhook uses the webhook's own view.
    fn service_selector(&self, _namespace: &str, _name: &str) -> Option<BTreeMap<String, String>> {
        None
    }
}

/// The admission webhooks' [`ClusterView`] over the controllers' own caches, so a process that
/// runs both keeps one (stripped) copy of each object and one watch per kind instead of two.
#[derive(Clone)]
pub struct AdmissionView {
    pub view: CacheView,
    pub services: Cache<Service>,
}

impl AdmissionView {
    /// Resolves once every cache has its initial list.
    pub async fn wait_ready(&self) {
        self.view.classes.wait_ready().await;
        self.view.params.wait_ready().await;
        self.view.namespaces.wait_ready().await;
        self.view.bindings.wait_ready().await;
        self.services.wait_ready().await;
    }
}

impl ClusterView for AdmissionView {
    fn ingress_class(&self, name: &str) -> Option<Arc<IngressClass>> {
        self.view.ingress_class(name)
    }

    fn ingress_classes(&self) -> Vec<Arc<IngressClass>> {
        self.view.ingress_classes()
    }

    fn ingress_class_params(&self, name: &str) -> Option<Arc<IngressClassParams>> {
        self.view.ingress_class_params(name)
    }

    fn namespace_labels(&self, namespace: &str) -> Option<BTreeMap<String, String>> {
        self.view.namespace_labels(namespace)
    }

    fn target_group_bindings(&self) -> Vec<Arc<TargetGroupBinding>> {
        self.view.target_group_bindings()
    }

    /// The pod readiness-gate webhook matches pods against the Service's selector.
    fn service_selector(&self, namespace: &str, name: &str) -> Option<BTreeMap<String, String>> {
        let service = self.services.get(&ObjKey::new(namespace, name))?;
        Some(
            service
                .spec
                .as_ref()
                .and_then(|s| s.selector.clone())
                .unwrap_or_default(),
        )
    }
}

/// The objects the Ingress webhook's group check reads, over the controllers' caches.
#[derive(Clone)]
pub struct GroupCacheObjects {
    pub view: CacheView,
    pub ingresses: Cache<Ingress>,
    pub services: Cache<Service>,
}

impl GroupObjects for GroupCacheObjects {
    fn ingresses(&self) -> Vec<Arc<Ingress>> {
        self.ingresses.values()
    }

    fn service(&self, namespace: &str, name: &str) -> Option<Arc<Service>> {
        self.services.get(&ObjKey::new(namespace, name))
    }

    fn ingress_classes(&self) -> Vec<Arc<IngressClass>> {
        self.view.classes.values()
    }

    fn ingress_class_params(&self) -> Vec<Arc<IngressClassParams>> {
        self.view.params.values()
    }

    fn namespace(&self, name: &str) -> Option<Arc<Namespace>> {
        self.view.namespaces.get(&ObjKey::new("", name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object<K: serde::de::DeserializeOwned>(value: serde_json::Value) -> Arc<K> {
        Arc::new(serde_json::from_value(value).expect("valid object"))
    }

    #[test]
    fn admission_view_answers_from_the_controller_caches() {
        let view = CacheView::default();
        view.classes.insert(object(serde_json::json!({
            "metadata": {"name": "alb"}, "spec": {"controller": "ingress.k8s.aws/alb"}
        })));
        view.namespaces.insert(object(serde_json::json!({
            "metadata": {"name": "shop", "labels": {"team": "a"}}
        })));
        let services = Cache::new();
        services.insert(object::<Service>(serde_json::json!({
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"selector": {"app": "web"}}
        })));
        services.insert(object::<Service>(serde_json::json!({
            "metadata": {"name": "headless", "namespace": "shop"}, "spec": {}
        })));
        let admission = AdmissionView { view, services };

        assert!(admission.ingress_class("alb").is_some());
        assert_eq!(admission.ingress_classes().len(), 1);
        assert_eq!(
            admission.namespace_labels("shop"),
            Some(BTreeMap::from([("team".to_owned(), "a".to_owned())]))
        );
        assert_eq!(admission.namespace_labels("nowhere"), None);
        assert_eq!(
            admission.service_selector("shop", "web"),
            Some(BTreeMap::from([("app".to_owned(), "web".to_owned())]))
        );
        assert_eq!(
            admission.service_selector("shop", "headless"),
            Some(BTreeMap::new()),
            "a Service without a selector selects nothing, but exists"
        );
        assert_eq!(admission.service_selector("shop", "missing"), None);
    }
}
