//! [`RecordingOps`]: Kubernetes writes recorded in the journal instead of sent.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use contract::crd::TargetGroupBinding;
use k8s_openapi::api::core::v1::{LoadBalancerStatus, PodCondition, Secret};
use k8s_openapi::api::networking::v1::{Ingress, IngressLoadBalancerStatus};

use super::{Journal, lock};
use crate::backends::BoxFuture;
use crate::events::EventSpec;
use crate::keys::ObjKey;
use crate::kube_ops::{KubeOps, ObjectRefs, OpError};

/// Records Kubernetes writes in the journal instead of sending them.
#[derive(Default)]
pub struct RecordingOps {
    pub journal: Journal,
    pub secrets: Mutex<HashMap<ObjKey, Secret>>,
    /// Every TargetGroupBinding applied, in order.
    pub applied_bindings: Mutex<Vec<TargetGroupBinding>>,
    not_leader: AtomicBool,
    failures: Mutex<HashMap<&'static str, VecDeque<String>>>,
}

impl RecordingOps {
    pub fn new(journal: Journal) -> Self {
        Self {
            journal,
            ..Self::default()
        }
    }

    /// Writes fail with [`OpError::NotLeader`] while `leader` is false.
    pub fn set_leader(&self, leader: bool) {
        self.not_leader.store(!leader, Ordering::SeqCst);
    }

    /// The next call of `op` (`add_finalizer`, `status`, ...) fails with a 500 `message`.
    pub fn fail_next(&self, op: &'static str, message: impl Into<String>) {
        lock(&self.failures)
            .entry(op)
            .or_default()
            .push_back(message.into());
    }

    fn record(&self, op: &'static str, entry: String) -> Result<(), OpError> {
        if self.not_leader.load(Ordering::SeqCst) {
            return Err(OpError::NotLeader);
        }
        if let Some(message) = lock(&self.failures)
            .get_mut(op)
            .and_then(VecDeque::pop_front)
        {
            self.journal.push(format!("{entry} FAILED"));
            return Err(OpError::Kube(kube::Error::Api(Box::new(
                kube::core::Status::failure(&message, "InternalError").with_code(500),
            ))));
        }
        self.journal.push(entry);
        Ok(())
    }
}

impl KubeOps for RecordingOps {
    fn add_finalizer<'a>(
        &'a self,
        object: &'a ObjectRefs,
        finalizer: &'a str,
    ) -> BoxFuture<'a, Result<(), OpError>> {
        let done = object.finalizers.iter().any(|f| f == finalizer);
        Box::pin(async move {
            if done {
                return Ok(());
            }
            self.record(
                "add_finalizer",
                format!("add-finalizer {} {finalizer}", object.key),
            )
        })
    }

    fn remove_finalizer<'a>(
        &'a self,
        object: &'a ObjectRefs,
        finalizer: &'a str,
    ) -> BoxFuture<'a, Result<(), OpError>> {
        let present = object.finalizers.iter().any(|f| f == finalizer);
        Box::pin(async move {
            if !present {
                return Ok(());
            }
            self.record(
                "remove_finalizer",
                format!("remove-finalizer {} {finalizer}", object.key),
            )
        })
    }

    fn apply_ingress_status<'a>(
        &'a self,
        ingress: &'a Ingress,
        status: &'a IngressLoadBalancerStatus,
    ) -> BoxFuture<'a, Result<(), OpError>> {
        Box::pin(async move {
            let key = ObjKey::of(ingress).unwrap_or_else(|| ObjKey::new("", ""));
            let host = status
                .ingress
                .iter()
                .flatten()
                .filter_map(|i| i.hostname.clone())
                .collect::<Vec<_>>()
                .join(",");
            self.record("status", format!("status {key} {host}"))
        })
    }

    fn patch_service_status<'a>(
        &'a self,
        service: &'a ObjKey,
        status: Option<&'a LoadBalancerStatus>,
    ) -> BoxFuture<'a, Result<(), OpError>> {
        Box::pin(async move {
            let host = status
                .and_then(|s| s.ingress.as_ref())
                .into_iter()
                .flatten()
                .filter_map(|i| i.hostname.clone())
                .collect::<Vec<_>>()
                .join(",");
            let entry = if status.is_some() {
                format!("service-status {service} {host}")
            } else {
                format!("service-status {service} cleared")
            };
            self.record("service_status", entry)
        })
    }

    fn publish<'a>(
        &'a self,
        object: &'a ObjectRefs,
        event: &'a EventSpec,
    ) -> BoxFuture<'a, Result<(), OpError>> {
        Box::pin(async move {
            self.record(
                "event",
                format!(
                    "event {} {} {} {}",
                    object.key,
                    event.type_.as_str(),
                    event.reason,
                    event.note
                ),
            )
        })
    }

    fn get_secret<'a>(&'a self, key: &'a ObjKey) -> BoxFuture<'a, Result<Option<Secret>, OpError>> {
        Box::pin(async move { Ok(lock(&self.secrets).get(key).cloned()) })
    }

    fn apply_binding<'a>(
        &'a self,
        binding: &'a TargetGroupBinding,
    ) -> BoxFuture<'a, Result<(), OpError>> {
        Box::pin(async move {
            let key = ObjKey::of(binding).unwrap_or_else(|| ObjKey::new("", ""));
            let arn = binding.spec.target_group_arn.clone().unwrap_or_default();
            self.record("apply_binding", format!("apply-binding {key} {arn}"))?;
            lock(&self.applied_bindings).push(binding.clone());
            Ok(())
        })
    }

    fn delete_binding<'a>(&'a self, key: &'a ObjKey) -> BoxFuture<'a, Result<(), OpError>> {
        Box::pin(async move { self.record("delete_binding", format!("delete-binding {key}")) })
    }

    fn binding_observed<'a>(
        &'a self,
        key: &'a ObjKey,
        generation: i64,
    ) -> BoxFuture<'a, Result<(), OpError>> {
        Box::pin(
            async move { self.record("binding_observed", format!("observed {key} {generation}")) },
        )
    }

    fn set_pod_condition<'a>(
        &'a self,
        key: &'a ObjKey,
        condition: &'a PodCondition,
    ) -> BoxFuture<'a, Result<(), OpError>> {
        Box::pin(async move {
            self.record(
                "pod_condition",
                format!(
                    "pod-condition {key} {} {}",
                    condition.type_, condition.status
                ),
            )
        })
    }
}
