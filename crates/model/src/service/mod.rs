//! The desired stack of one Service of type LoadBalancer: a Network Load Balancer, one listener
//! and target group per Service port, a TargetGroupBinding per target group, and the NLB's
//! managed security group — named, hashed, tagged and defaulted as upstream does.
//!
//! The stack's ID is `<ns>/<name>` and its kind [`StackKind::Service`], so its AWS resources
//! carry the `service.k8s.aws/*` tags. A Service that is not (or no longer) ours, or is being
//! deleted, yields an empty stack: everything it owns is deleted.

mod errors;
mod load_balancer;
mod ports;
mod security;
mod settings;
#[cfg(test)]
mod tests;

use k8s_openapi::api::core::v1::{Service, ServicePort};

use contract::annotations::ServiceAnnotations;
use contract::service::Selection;

use crate::ClusterFacts;
use crate::builder::ExistingLoadBalancer;
use crate::stack::{Stack, StackKind, TargetType};
use crate::tags::{self, Tags};

pub use errors::ServiceBuildError;

/// Everything one Service's build needs.
#[derive(Clone, Copy, Debug)]
pub struct ServiceInputs<'a> {
    pub service: &'a Service,
    pub facts: &'a ClusterFacts,
    /// Which Services are ours (`--load-balancer-class`, `ServiceTypeLoadBalancerOnly`).
    pub selection: &'a Selection,
    /// The Service's NLB as it exists in AWS, if it does: its scheme and subnets are kept
    /// when not given, and an NLB without security groups stays without.
    pub existing_lb: Option<&'a ExistingLoadBalancer>,
}

/// The stack ID of a Service: `<ns>/<name>`.
pub fn stack_id(service: &Service) -> String {
    format!(
        "{}/{}",
        service.metadata.namespace.as_deref().unwrap_or_default(),
        service.metadata.name.as_deref().unwrap_or_default()
    )
}

/// The desired stack of a Service.
pub fn build_service(inputs: &ServiceInputs<'_>) -> Result<Stack, ServiceBuildError> {
    let service = inputs.service;
    let id = stack_id(service);
    tags::validate_default_tags(&inputs.facts.default_tags)?;
    tags::validate_external_managed_tags(&inputs.facts.external_managed_tags)?;
    if !inputs.selection.is_supported(service) {
        check_deletion_protection(service)?;
        return Ok(Stack::for_service(id));
    }
    let annotations = ServiceAnnotations::parse(
        service
            .metadata
            .annotations
            .as_ref()
            .unwrap_or(&std::collections::BTreeMap::new()),
    )
    .map_err(ServiceBuildError::Annotations)?;
    let mut task = ServiceTask::new(inputs, &annotations, id)?;
    task.run()?;
    Ok(task.stack)
}

/// A Service leaving us must not lose an NLB with deletion protection on.
fn check_deletion_protection(service: &Service) -> Result<(), ServiceBuildError> {
    let Some(annotations) = service.metadata.annotations.as_ref() else {
        return Ok(());
    };
    // A value that does not parse protects nothing; the cleanup goes on.
    let protected = ServiceAnnotations::parse(annotations)
        .ok()
        .and_then(|a| a.load_balancer_attributes)
        .and_then(|attrs| attrs.get("deletion_protection.enabled").cloned())
        .is_some_and(|v| v == "true");
    if protected {
        return Err(ServiceBuildError::Invalid(format!(
            "deletion_protection is enabled, cannot delete the service: {}",
            service.metadata.name.as_deref().unwrap_or_default()
        )));
    }
    Ok(())
}

/// One Service's build in progress.
struct ServiceTask<'a> {
    inputs: &'a ServiceInputs<'a>,
    service: &'a Service,
    annotations: &'a ServiceAnnotations,
    namespace: &'a str,
    name: &'a str,
    uid: &'a str,
    ports: &'a [ServicePort],
    target_type: TargetType,
    /// User tags (additional-resource-tags with `--default-tags`), without tracking tags.
    user_tags: Tags,
    stack: Stack,
}

impl<'a> ServiceTask<'a> {
    fn new(
        inputs: &'a ServiceInputs<'a>,
        annotations: &'a ServiceAnnotations,
        id: String,
    ) -> Result<Self, ServiceBuildError> {
        let service = inputs.service;
        let meta = &service.metadata;
        let ports = service
            .spec
            .as_ref()
            .and_then(|s| s.ports.as_deref())
            .unwrap_or(&[]);
        let mut task = Self {
            inputs,
            service,
            annotations,
            namespace: meta.namespace.as_deref().unwrap_or_default(),
            name: meta.name.as_deref().unwrap_or_default(),
            uid: meta.uid.as_deref().unwrap_or_default(),
            ports,
            target_type: TargetType::Instance,
            user_tags: Tags::new(),
            stack: Stack::of_kind(StackKind::Service, id),
        };
        task.target_type = task.build_target_type()?;
        task.user_tags = task.build_user_tags()?;
        Ok(task)
    }

    fn facts(&self) -> &'a ClusterFacts {
        self.inputs.facts
    }

    fn service_type(&self) -> &'a str {
        self.service
            .spec
            .as_ref()
            .and_then(|s| s.type_.as_deref())
            .unwrap_or("ClusterIP")
    }

    fn run(&mut self) -> Result<(), ServiceBuildError> {
        self.check_ports()?;
        let lb = self.build_load_balancer_settings()?;
        let security = self.build_security(&lb)?;
        self.add_load_balancer(&lb, &security)?;
        self.add_listeners_and_target_groups(&lb, &security)?;
        Ok(())
    }

    /// Target type: the annotation, else `--default-target-type`; `nlb-ip` means ip.
    fn build_target_type(&self) -> Result<TargetType, ServiceBuildError> {
        use contract::annotations::TargetType as Annotated;
        let nlb_ip = self.annotations.load_balancer_type.as_deref() == Some("nlb-ip");
        let annotated = self.annotations.target_type.map(|t| match t {
            Annotated::Ip => TargetType::Ip,
            Annotated::Instance => TargetType::Instance,
        });
        let chosen = annotated.unwrap_or(self.facts().default_target_type);
        if chosen == TargetType::Ip && !self.facts().features.enable_ip_target_type {
            return Err(ServiceBuildError::spec(
                "unsupported targetType: ip when EnableIPTargetType is false",
            ));
        }
        let target_type = if nlb_ip { TargetType::Ip } else { chosen };
        if target_type == TargetType::Instance && self.service_type() == "ClusterIP" {
            return Err(ServiceBuildError::spec(
                "unsupported service type \"ClusterIP\" for load balancer target type \"instance\"",
            ));
        }
        Ok(target_type)
    }

    /// `additional-resource-tags` (no `--external-managed-tags` key) with `--default-tags`.
    fn build_user_tags(&self) -> Result<Tags, ServiceBuildError> {
        let own = self.annotations.additional_tags.clone().unwrap_or_default();
        if let Some(key) = own
            .keys()
            .find(|k| self.facts().external_managed_tags.contains(*k))
        {
            return Err(ServiceBuildError::Spec(format!(
                "external managed tag key {key} cannot be specified on Service"
            )));
        }
        Ok(tags::with_default_tags(
            &own,
            &self.facts().default_tags,
            self.facts().features.enable_default_tags_low_priority,
        ))
    }

    /// A resource's tags: the user tags plus the tracking tags, which win.
    fn resource_tags(&self, resource_id: &str) -> Tags {
        let mut tags = self.user_tags.clone();
        tags.insert(
            tags::TAG_CLUSTER.to_owned(),
            self.facts().cluster_name.clone(),
        );
        tags.insert(
            StackKind::Service.stack_tag().to_owned(),
            self.stack.id.clone(),
        );
        tags.insert(
            StackKind::Service.resource_tag().to_owned(),
            resource_id.to_owned(),
        );
        tags
    }
}
