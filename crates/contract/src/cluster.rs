//! What the admission rules need to know about the cluster, behind traits.
//!
//! The controller implements [`ClusterView`] with its reflector stores and
//! [`TargetGroupLookup`] with the ELBv2 API; tests and `plan` use [`StaticCluster`], which
//! holds plain objects. Keeping the rules behind these traits keeps them pure and testable.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use k8s_openapi::api::networking::v1::IngressClass;

use crate::crd::{IngressClassParams, RoleToAssume, TargetGroupBinding};

/// Read-only view of the cluster objects the admission rules consult.
pub trait ClusterView: Send + Sync {
    /// The IngressClass with this name.
    fn ingress_class(&self, name: &str) -> Option<Arc<IngressClass>>;
    /// Every IngressClass (to find the default class).
    fn ingress_classes(&self) -> Vec<Arc<IngressClass>>;
    /// The cluster-scoped IngressClassParams with this name.
    fn ingress_class_params(&self, name: &str) -> Option<Arc<IngressClassParams>>;
    /// Labels of a namespace; `None` when the namespace is unknown.
    fn namespace_labels(&self, namespace: &str) -> Option<BTreeMap<String, String>>;
    /// Every TargetGroupBinding in the cluster.
    fn target_group_bindings(&self) -> Vec<Arc<TargetGroupBinding>>;
    /// The pod selector of a Service; `None` when the Service is unknown.
    fn service_selector(&self, namespace: &str, name: &str) -> Option<BTreeMap<String, String>>;
}

/// What AWS says about a target group, as far as the TargetGroupBinding webhooks care.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetGroupInfo {
    pub arn: String,
    pub name: String,
    /// `instance`, `ip`, `lambda` or `alb`, as AWS spells it.
    pub target_type: String,
    /// `ipv4` or `ipv6`.
    pub ip_address_type: String,
    pub vpc_id: String,
    /// `HTTP`, `HTTPS`, `TCP`, ...
    pub protocol: String,
}

/// How a TargetGroupBinding names its target group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetGroupRef {
    Arn(String),
    Name(String),
}

/// Failure to look a target group up.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("target group {0} not found")]
    NotFound(String),
    #[error("expected exactly one target group named {name}, found {found}")]
    Ambiguous { name: String, found: usize },
    #[error("AWS call failed: {0}")]
    Aws(String),
}

pub type LookupFuture<'a> =
    Pin<Box<dyn Future<Output = Result<TargetGroupInfo, LookupError>> + Send + 'a>>;

/// Describes target groups (the TargetGroupBinding webhooks default and check fields from AWS).
pub trait TargetGroupLookup: Send + Sync {
    /// Describe one target group; `assume_role` is the binding's `iamRoleArnToAssume` (with
    /// its `assumeRoleExternalId`).
    fn describe<'a>(
        &'a self,
        target: &'a TargetGroupRef,
        assume_role: Option<RoleToAssume<'a>>,
    ) -> LookupFuture<'a>;
}

/// A cluster held in memory: for tests, `plan`, and the embedded demo.
#[derive(Clone, Debug, Default)]
pub struct StaticCluster {
    pub ingress_classes: Vec<Arc<IngressClass>>,
    pub ingress_class_params: Vec<Arc<IngressClassParams>>,
    pub namespaces: BTreeMap<String, BTreeMap<String, String>>,
    pub target_group_bindings: Vec<Arc<TargetGroupBinding>>,
    pub target_groups: Vec<TargetGroupInfo>,
    /// Service selectors by (namespace, name).
    pub service_selectors: BTreeMap<(String, String), BTreeMap<String, String>>,
}

impl ClusterView for StaticCluster {
    fn ingress_class(&self, name: &str) -> Option<Arc<IngressClass>> {
        self.ingress_classes
            .iter()
            .find(|c| c.metadata.name.as_deref() == Some(name))
            .cloned()
    }

    fn ingress_classes(&self) -> Vec<Arc<IngressClass>> {
        self.ingress_classes.clone()
    }

    fn ingress_class_params(&self, name: &str) -> Option<Arc<IngressClassParams>> {
        self.ingress_class_params
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(name))
            .cloned()
    }

    fn namespace_labels(&self, namespace: &str) -> Option<BTreeMap<String, String>> {
        self.namespaces.get(namespace).cloned()
    }

    fn target_group_bindings(&self) -> Vec<Arc<TargetGroupBinding>> {
        self.target_group_bindings.clone()
    }

    fn service_selector(&self, namespace: &str, name: &str) -> Option<BTreeMap<String, String>> {
        self.service_selectors
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }
}

impl TargetGroupLookup for StaticCluster {
    fn describe<'a>(
        &'a self,
        target: &'a TargetGroupRef,
        _assume_role: Option<RoleToAssume<'a>>,
    ) -> LookupFuture<'a> {
        let found: Vec<&TargetGroupInfo> = self
            .target_groups
            .iter()
            .filter(|tg| match target {
                TargetGroupRef::Arn(arn) => &tg.arn == arn,
                TargetGroupRef::Name(name) => &tg.name == name,
            })
            .collect();
        let result = match (found.as_slice(), target) {
            ([one], _) => Ok((*one).clone()),
            ([], TargetGroupRef::Arn(id) | TargetGroupRef::Name(id)) => {
                Err(LookupError::NotFound(id.clone()))
            }
            (many, TargetGroupRef::Name(name)) => Err(LookupError::Ambiguous {
                name: name.clone(),
                found: many.len(),
            }),
            (_, TargetGroupRef::Arn(arn)) => Err(LookupError::NotFound(arn.clone())),
        };
        Box::pin(std::future::ready(result))
    }
}
