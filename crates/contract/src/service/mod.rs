//! Which Services this controller turns into Network Load Balancers, and the names it uses
//! for them (finalizer, default class). The annotation parser itself is
//! [`crate::annotations::ServiceAnnotations`]; [`check_annotations`] is its admission form.

use k8s_openapi::api::core::v1::Service;

pub use crate::annotations::{
    SERVICE_ANNOTATIONS, SERVICE_PREFIX, ServiceAnnotationSpec, ServiceAnnotations,
    check_service_annotations as check_annotations,
};

/// `--load-balancer-class`'s default: Services with this `spec.loadBalancerClass` are ours.
pub const DEFAULT_LOAD_BALANCER_CLASS: &str = "service.k8s.aws/nlb";
/// The finalizer on every Service whose NLB exists (upstream's).
pub const FINALIZER: &str = "service.k8s.aws/resources";
/// `service.beta.kubernetes.io/aws-load-balancer-type`.
pub const TYPE_ANNOTATION: &str = "service.beta.kubernetes.io/aws-load-balancer-type";
/// `service.beta.kubernetes.io/aws-load-balancer-nlb-target-type`.
pub const TARGET_TYPE_ANNOTATION: &str =
    "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type";

/// How Services are selected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// `--load-balancer-class`.
    pub load_balancer_class: String,
    /// The `ServiceTypeLoadBalancerOnly` gate (off by default): only `type: LoadBalancer`.
    pub load_balancer_type_only: bool,
}

impl Default for Selection {
    fn default() -> Self {
        Self {
            load_balancer_class: DEFAULT_LOAD_BALANCER_CLASS.to_owned(),
            load_balancer_type_only: false,
        }
    }
}

impl Selection {
    /// Whether the Service is ours to build, as upstream decides (first rule that applies):
    /// a Service being deleted is not (it is cleaned up if it has the finalizer); with the
    /// gate, only `type: LoadBalancer`; a `loadBalancerClass` decides alone (ours iff it is
    /// our class); else `aws-load-balancer-type: nlb-ip`, or `external` with an `ip` or
    /// `instance` target type. Everything else (`nlb` is the in-tree controller's) is not.
    pub fn is_supported(&self, service: &Service) -> bool {
        if service.metadata.deletion_timestamp.is_some() {
            return false;
        }
        self.claims(service)
    }

    /// [`Self::is_supported`] without the deletion rule: whether the Service asks for us.
    pub fn claims(&self, service: &Service) -> bool {
        let spec = service.spec.as_ref();
        if self.load_balancer_type_only
            && spec.and_then(|s| s.type_.as_deref()) != Some("LoadBalancer")
        {
            return false;
        }
        if let Some(class) = spec.and_then(|s| s.load_balancer_class.as_deref()) {
            return class == self.load_balancer_class;
        }
        let annotation = |key: &str| {
            service
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(key))
                .map(String::as_str)
        };
        match annotation(TYPE_ANNOTATION) {
            Some("nlb-ip") => true,
            Some("external") => {
                matches!(annotation(TARGET_TYPE_ANNOTATION), Some("ip" | "instance"))
            }
            _ => false,
        }
    }
}

/// Whether the Service is ours with the given class and the default gates.
pub fn is_supported(service: &Service, load_balancer_class: &str) -> bool {
    Selection {
        load_balancer_class: load_balancer_class.to_owned(),
        load_balancer_type_only: false,
    }
    .is_supported(service)
}

#[cfg(test)]
mod tests;
