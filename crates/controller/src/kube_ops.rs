//! The Kubernetes writes of the reconcilers, behind [`KubeOps`], and the live implementation.
//!
//! Every write of [`LiveOps`] first checks the leader flag: a replica that is not (or no
//! longer) the leader fails the write with [`OpError::NotLeader`] instead of sending it.

use std::sync::Arc;

use contract::crd::TargetGroupBinding;
use json_patch::jsonptr::PointerBuf;
use json_patch::{
    AddOperation, Patch as JsonPatch, PatchOperation, RemoveOperation, TestOperation,
};
use k8s_openapi::api::core::v1::{LoadBalancerStatus, Pod, PodCondition, Secret, Service};
use k8s_openapi::api::networking::v1::{Ingress, IngressLoadBalancerStatus};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Client, Resource, ResourceExt as _};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::FIELD_MANAGER;
use crate::backends::BoxFuture;
use crate::events::{EventRecorder, EventSpec};
use crate::keys::ObjKey;

/// A failed Kubernetes write.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error("this replica is not the leader; writes are paused")]
    NotLeader,
    #[error("{what} {object} has no {field}")]
    Incomplete {
        what: &'static str,
        object: String,
        field: &'static str,
    },
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error("cannot encode {what}: {source}")]
    Encode {
        what: &'static str,
        source: serde_json::Error,
    },
}

impl OpError {
    /// True for a conflict (a stale precondition): retry after the watch catches up.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Kube(kube::Error::Api(status)) if status.code == 409 || status.code == 422)
    }
}

/// The reconcilers' Kubernetes writes (and the few reads that are not cached).
pub trait KubeOps: Send + Sync {
    /// Adds `finalizer` to an Ingress or TargetGroupBinding (no-op if present).
    fn add_finalizer<'a>(
        &'a self,
        object: &'a ObjectRefs,
        finalizer: &'a str,
    ) -> BoxFuture<'a, Result<(), OpError>>;
    /// Removes `finalizer` (no-op if absent).
    fn remove_finalizer<'a>(
        &'a self,
        object: &'a ObjectRefs,
        finalizer: &'a str,
    ) -> BoxFuture<'a, Result<(), OpError>>;
    /// Server-side applies `status.loadBalancer` of an Ingress.
    fn apply_ingress_status<'a>(
        &'a self,
        ingress: &'a Ingress,
        status: &'a IngressLoadBalancerStatus,
    ) -> BoxFuture<'a, Result<(), OpError>>;
    /// Merge-patches `status.loadBalancer` of a Service; `None` clears it.
    fn patch_service_status<'a>(
        &'a self,
        service: &'a ObjKey,
        status: Option<&'a LoadBalancerStatus>,
    ) -> BoxFuture<'a, Result<(), OpError>>;
    /// Publishes an event about the object.
    fn publish<'a>(
        &'a self,
        object: &'a ObjectRefs,
        event: &'a EventSpec,
    ) -> BoxFuture<'a, Result<(), OpError>>;
    /// Reads a Secret (OIDC credentials are not cached).
    fn get_secret<'a>(&'a self, key: &'a ObjKey) -> BoxFuture<'a, Result<Option<Secret>, OpError>>;
    /// Server-side applies a TargetGroupBinding's metadata and spec.
    fn apply_binding<'a>(
        &'a self,
        binding: &'a TargetGroupBinding,
    ) -> BoxFuture<'a, Result<(), OpError>>;
    /// Deletes a TargetGroupBinding (absent is fine).
    fn delete_binding<'a>(&'a self, key: &'a ObjKey) -> BoxFuture<'a, Result<(), OpError>>;
    /// Writes `status.observedGeneration` of a TargetGroupBinding.
    fn binding_observed<'a>(
        &'a self,
        key: &'a ObjKey,
        generation: i64,
    ) -> BoxFuture<'a, Result<(), OpError>>;
    /// Sets one condition of a Pod (readiness gates).
    fn set_pod_condition<'a>(
        &'a self,
        key: &'a ObjKey,
        condition: &'a PodCondition,
    ) -> BoxFuture<'a, Result<(), OpError>>;
}

/// Which object a write is about, with what the finalizer patches need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRefs {
    pub kind: ObjectKind,
    pub key: ObjKey,
    pub uid: Option<String>,
    pub finalizers: Vec<String>,
}

/// The kinds whose finalizers the controller manages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectKind {
    Ingress,
    TargetGroupBinding,
    Service,
}

impl ObjectRefs {
    pub fn of<K: Resource<DynamicType = ()>>(kind: ObjectKind, object: &K) -> Self {
        Self {
            kind,
            key: ObjKey::new(object.namespace().unwrap_or_default(), object.name_any()),
            uid: object.uid(),
            finalizers: object.finalizers().to_vec(),
        }
    }

    pub fn ingress(ingress: &Ingress) -> Self {
        Self::of(ObjectKind::Ingress, ingress)
    }

    pub fn binding(binding: &TargetGroupBinding) -> Self {
        Self::of(ObjectKind::TargetGroupBinding, binding)
    }

    pub fn service(service: &Service) -> Self {
        Self::of(ObjectKind::Service, service)
    }

    /// The reference an event points at.
    pub fn reference(&self) -> k8s_openapi::api::core::v1::ObjectReference {
        let (api_version, kind) = match self.kind {
            ObjectKind::Ingress => ("networking.k8s.io/v1", "Ingress"),
            ObjectKind::TargetGroupBinding => ("elbv2.k8s.aws/v1beta1", "TargetGroupBinding"),
            ObjectKind::Service => ("v1", "Service"),
        };
        k8s_openapi::api::core::v1::ObjectReference {
            api_version: Some(api_version.to_owned()),
            kind: Some(kind.to_owned()),
            namespace: Some(self.key.namespace.clone()),
            name: Some(self.key.name.clone()),
            uid: self.uid.clone(),
            ..Default::default()
        }
    }
}

fn pointer(tokens: &[&str]) -> PointerBuf {
    PointerBuf::from_tokens(tokens.iter().copied())
}

/// The JSON patch adding `finalizer`, guarded by a test of the finalizer list as we saw it (a
/// concurrent change makes the API server refuse the patch instead of losing either change).
/// `None` when it is already there.
pub fn add_finalizer_patch(current: &[String], finalizer: &str) -> Option<JsonPatch> {
    if current.iter().any(|f| f == finalizer) {
        return None;
    }
    let ops = if current.is_empty() {
        vec![
            PatchOperation::Test(TestOperation {
                path: pointer(&["metadata", "finalizers"]),
                value: Value::Null,
            }),
            PatchOperation::Add(AddOperation {
                path: pointer(&["metadata", "finalizers"]),
                value: json!([finalizer]),
            }),
        ]
    } else {
        vec![
            PatchOperation::Test(TestOperation {
                path: pointer(&["metadata", "finalizers"]),
                value: json!(current),
            }),
            PatchOperation::Add(AddOperation {
                path: pointer(&["metadata", "finalizers", "-"]),
                value: json!(finalizer),
            }),
        ]
    };
    Some(JsonPatch(ops))
}

/// The JSON patch removing `finalizer` at its index, guarded by a test of that element (so
/// another controller's finalizer is never removed by mistake). `None` when it is absent.
pub fn remove_finalizer_patch(current: &[String], finalizer: &str) -> Option<JsonPatch> {
    let index = current.iter().position(|f| f == finalizer)?.to_string();
    Some(JsonPatch(vec![
        PatchOperation::Test(TestOperation {
            path: pointer(&["metadata", "finalizers", &index]),
            value: json!(finalizer),
        }),
        PatchOperation::Remove(RemoveOperation {
            path: pointer(&["metadata", "finalizers", &index]),
        }),
    ]))
}

/// The server-side-apply body of an Ingress's `status.loadBalancer`.
pub fn ingress_status_apply(status: &IngressLoadBalancerStatus) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "status": { "loadBalancer": status },
    })
}

/// The merge patch of a Service's `status.loadBalancer`: the status, or (`None`) no ingress.
pub fn service_status_patch(status: Option<&LoadBalancerStatus>) -> Value {
    match status {
        Some(status) => json!({ "status": { "loadBalancer": status } }),
        None => json!({ "status": { "loadBalancer": { "ingress": null } } }),
    }
}

/// The live implementation over a kube client.
pub struct LiveOps {
    client: Client,
    leader: watch::Receiver<bool>,
    recorder: Arc<EventRecorder>,
}

impl LiveOps {
    pub fn new(
        client: Client,
        leader: watch::Receiver<bool>,
        recorder: Arc<EventRecorder>,
    ) -> Self {
        Self {
            client,
            leader,
            recorder,
        }
    }

    fn ensure_leader(&self) -> Result<(), OpError> {
        if *self.leader.borrow() {
            Ok(())
        } else {
            Err(OpError::NotLeader)
        }
    }

    async fn json_patch(&self, object: &ObjectRefs, patch: JsonPatch) -> Result<(), OpError> {
        self.ensure_leader()?;
        let params = PatchParams::default();
        let patch = Patch::<()>::Json(patch);
        let (ns, name) = (&object.key.namespace, &object.key.name);
        match object.kind {
            ObjectKind::Ingress => {
                Api::<Ingress>::namespaced(self.client.clone(), ns)
                    .patch(name, &params, &patch)
                    .await?;
            }
            ObjectKind::TargetGroupBinding => {
                Api::<TargetGroupBinding>::namespaced(self.client.clone(), ns)
                    .patch(name, &params, &patch)
                    .await?;
            }
            ObjectKind::Service => {
                Api::<Service>::namespaced(self.client.clone(), ns)
                    .patch(name, &params, &patch)
                    .await?;
            }
        }
        Ok(())
    }
}

fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 404)
}

impl KubeOps for LiveOps {
    fn add_finalizer<'a>(
        &'a self,
        object: &'a ObjectRefs,
        finalizer: &'a str,
    ) -> BoxFuture<'a, Result<(), OpError>> {
        Box::pin(async move {
            match add_finalizer_patch(&object.finalizers, finalizer) {
                Some(patch) => self.json_patch(object, patch).await,
                None => Ok(()),
            }
        })
    }

    fn remove_finalizer<'a>(
        &'a self,
        object: &'a ObjectRefs,
        finalizer: &'a str,
    ) -> BoxFuture<'a, Result<(), OpError>> {
        Box::pin(async move {
            match remove_finalizer_patch(&object.finalizers, finalizer) {
                Some(patch) => match self.json_patch(object, patch).await {
                    // Already gone: the object was deleted once the last finalizer left.
                    Err(OpError::Kube(error)) if is_not_found(&error) => Ok(()),
                    other => other,
                },
                None => Ok(()),
            }
        })
    }

    fn apply_ingress_status<'a>(
        &'a self,
        ingress: &'a Ingress,
        status: &'a IngressLoadBalancerStatus,
    ) -> BoxFuture<'a, Result<(), OpError>> {
        Box::pin(async move {
            self.ensure_leader()?;
            let key = ObjKey::new(ingress.namespace().unwrap_or_default(), ingress.name_any());
            let api: Api<Ingress> = Api::namespaced(self.client.clone(), &key.namespace);
            let body = ingress_status_apply(status);
            api.patch_status(
                &key.name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&body),
            )
            .await?;
            Ok(())
        })
    }

    fn patch_service_status<'a>(
        &'a self,
        service: &'a ObjKey,
        status: Option<&'a LoadBalancerStatus>,
    ) -> BoxFuture<'a, Result<(), OpError>> {
        Box::pin(async move {
            self.ensure_leader()?;
            let api: Api<Service> = Api::namespaced(self.client.clone(), &service.namespace);
            let body = service_status_patch(status);
            match api
                .patch_status(&service.name, &PatchParams::default(), &Patch::Merge(&body))
                .await
            {
                Err(error) if is_not_found(&error) && status.is_none() => Ok(()),
                Err(error) => Err(error.into()),
                Ok(_) => Ok(()),
            }
        })
    }

    fn publish<'a>(
        &'a self,
        object: &'a ObjectRefs,
        event: &'a EventSpec,
    ) -> BoxFuture<'a, Result<(), OpError>> {
        Box::pin(async move {
            self.ensure_leader()?;
            self.recorder.publish(&object.reference(), event).await?;
            Ok(())
        })
    }

    fn get_secret<'a>(&'a self, key: &'a ObjKey) -> BoxFuture<'a, Result<Option<Secret>, OpError>> {
        Box::pin(async move {
            let api: Api<Secret> = Api::namespaced(self.client.clone(), &key.namespace);
            Ok(api.get_opt(&key.name).await?)
        })
    }

    fn apply_binding<'a>(
        &'a self,
        binding: &'a TargetGroupBinding,
    ) -> BoxFuture<'a, Result<(), OpError>> {
        Box::pin(async move {
            self.ensure_leader()?;
            let name = binding
                .metadata
                .name
                .clone()
                .ok_or_else(|| OpError::Incomplete {
                    what: "TargetGroupBinding",
                    object: String::new(),
                    field: "metadata.name",
                })?;
            let namespace = binding.namespace().unwrap_or_default();
            let api: Api<TargetGroupBinding> = Api::namespaced(self.client.clone(), &namespace);
            let mut body = serde_json::to_value(binding).map_err(|source| OpError::Encode {
                what: "TargetGroupBinding",
                source,
            })?;
            if let Some(map) = body.as_object_mut() {
                map.remove("status");
            }
            api.patch(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&body),
            )
            .await?;
            Ok(())
        })
    }

    fn delete_binding<'a>(&'a self, key: &'a ObjKey) -> BoxFuture<'a, Result<(), OpError>> {
        Box::pin(async move {
            self.ensure_leader()?;
            let api: Api<TargetGroupBinding> = Api::namespaced(self.client.clone(), &key.namespace);
            match api.delete(&key.name, &DeleteParams::default()).await {
                Ok(_) => Ok(()),
                Err(error) if is_not_found(&error) => Ok(()),
                Err(error) => Err(error.into()),
            }
        })
    }

    fn binding_observed<'a>(
        &'a self,
        key: &'a ObjKey,
        generation: i64,
    ) -> BoxFuture<'a, Result<(), OpError>> {
        Box::pin(async move {
            self.ensure_leader()?;
            let api: Api<TargetGroupBinding> = Api::namespaced(self.client.clone(), &key.namespace);
            let body = json!({ "status": { "observedGeneration": generation } });
            api.patch_status(&key.name, &PatchParams::default(), &Patch::Merge(&body))
                .await?;
            Ok(())
        })
    }

    fn set_pod_condition<'a>(
        &'a self,
        key: &'a ObjKey,
        condition: &'a PodCondition,
    ) -> BoxFuture<'a, Result<(), OpError>> {
        Box::pin(async move {
            self.ensure_leader()?;
            let api: Api<Pod> = Api::namespaced(self.client.clone(), &key.namespace);
            // Pod conditions merge by `type` under a strategic merge patch.
            let body = json!({ "status": { "conditions": [condition] } });
            match api
                .patch_status(&key.name, &PatchParams::default(), &Patch::Strategic(&body))
                .await
            {
                Ok(_) => Ok(()),
                Err(error) if is_not_found(&error) => Ok(()),
                Err(error) => Err(error.into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(patch: &JsonPatch) -> Value {
        serde_json::to_value(patch).expect("patch encodes")
    }

    #[test]
    fn add_finalizer_tests_the_list_it_saw() {
        assert_eq!(
            ops(&add_finalizer_patch(&[], "ingress.k8s.aws/resources").expect("missing")),
            json!([
                {"op": "test", "path": "/metadata/finalizers", "value": null},
                {"op": "add", "path": "/metadata/finalizers", "value": ["ingress.k8s.aws/resources"]},
            ])
        );
        let current = vec!["other.io/x".to_owned()];
        assert_eq!(
            ops(&add_finalizer_patch(&current, "group.ingress.k8s.aws/g").expect("missing")),
            json!([
                {"op": "test", "path": "/metadata/finalizers", "value": ["other.io/x"]},
                {"op": "add", "path": "/metadata/finalizers/-", "value": "group.ingress.k8s.aws/g"},
            ])
        );
        let present = vec!["group.ingress.k8s.aws/g".to_owned()];
        assert!(add_finalizer_patch(&present, "group.ingress.k8s.aws/g").is_none());
    }

    #[test]
    fn remove_finalizer_tests_the_element_at_its_index() {
        let current = vec!["a/x".to_owned(), "ingress.k8s.aws/resources".to_owned()];
        assert_eq!(
            ops(&remove_finalizer_patch(&current, "ingress.k8s.aws/resources").expect("present")),
            json!([
                {"op": "test", "path": "/metadata/finalizers/1", "value": "ingress.k8s.aws/resources"},
                {"op": "remove", "path": "/metadata/finalizers/1"},
            ])
        );
        assert!(remove_finalizer_patch(&current, "absent").is_none());
    }

    #[test]
    fn status_apply_body_names_the_kind() {
        let status = IngressLoadBalancerStatus::default();
        let body = ingress_status_apply(&status);
        assert_eq!(body["apiVersion"], "networking.k8s.io/v1");
        assert_eq!(body["kind"], "Ingress");
        assert!(body["status"]["loadBalancer"].is_object());
    }
}
