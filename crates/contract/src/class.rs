//! Which Ingresses this controller handles, and with which IngressClassParams.
//!
//! The same decision serves the webhook (is this Ingress ours to validate?) and the controller
//! (is it a member of one of our groups?). The order of the checks follows upstream:
//! the legacy `kubernetes.io/ingress.class` annotation first, then `spec.ingressClassName`, then
//! the cluster's default IngressClass.

use std::sync::Arc;

use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::core::{Selector, SelectorExt};

use crate::cluster::ClusterView;
use crate::crd::IngressClassParams;

/// `spec.controller` of the IngressClasses this controller implements.
pub const CONTROLLER_NAME: &str = "ingress.k8s.aws/alb";
/// The legacy class annotation.
pub const LEGACY_CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";
/// Marks the cluster's default IngressClass.
pub const DEFAULT_CLASS_ANNOTATION: &str = "ingressclass.kubernetes.io/is-default-class";
/// API group and kind an IngressClass must name in `spec.parameters`.
pub const PARAMS_API_GROUP: &str = "elbv2.k8s.aws";
pub const PARAMS_KIND: &str = "IngressClassParams";

/// How an Ingress was found to be ours.
#[derive(Clone, Debug, Default)]
pub struct ClassConfig {
    /// The IngressClass, unless the legacy annotation selected us.
    pub class: Option<Arc<IngressClass>>,
    /// The IngressClassParams the class points at, if any.
    pub params: Option<Arc<IngressClassParams>>,
    /// True when `kubernetes.io/ingress.class` decided (no parameters apply then).
    pub by_legacy_annotation: bool,
}

/// The outcome of classifying one Ingress.
#[derive(Clone, Debug)]
pub enum Classification {
    /// Another controller's Ingress: leave it alone.
    NotOurs,
    Ours(ClassConfig),
}

/// Why an Ingress's class could not be resolved. Messages keep upstream's wording.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClassError {
    #[error("invalid ingress class: ingressclasses.networking.k8s.io \"{0}\" not found")]
    ClassNotFound(String),
    #[error("multiple default IngressClasses found")]
    MultipleDefaults,
    #[error("invalid ingress class: IngressClass {0} references unknown parameters")]
    UnknownParameters(String),
    #[error("invalid ingress class: ingressclassparamses.elbv2.k8s.aws \"{0}\" not found")]
    ParamsNotFound(String),
    #[error("invalid ingress class: namespaceSelector of IngressClassParams {0} mismatch")]
    NamespaceSelectorMismatch(String),
    #[error(
        "invalid ingress class: namespaceSelector of IngressClassParams {params} is invalid: {reason}"
    )]
    InvalidNamespaceSelector { params: String, reason: String },
    #[error(
        "namespace {0} is not known yet, so the namespaceSelector of IngressClassParams {1} cannot be checked"
    )]
    NamespaceUnknown(String, String),
}

impl ClassError {
    /// A stable category for metrics and events.
    pub fn category(&self) -> &'static str {
        match self {
            ClassError::ClassNotFound(_) | ClassError::MultipleDefaults => "ingress_class",
            ClassError::UnknownParameters(_) | ClassError::ParamsNotFound(_) => {
                "ingress_class_params"
            }
            ClassError::NamespaceSelectorMismatch(_)
            | ClassError::InvalidNamespaceSelector { .. }
            | ClassError::NamespaceUnknown(..) => "namespace_selector",
        }
    }
}

/// Decide whether `ingress` is ours.
///
/// `ingress_class_flag` is `--ingress-class` (default `alb`; empty also takes class-less
/// Ingresses). With `load_params`, the IngressClassParams is loaded and its namespaceSelector
/// checked against the Ingress's namespace.
pub fn classify(
    ingress: &Ingress,
    cluster: &dyn ClusterView,
    ingress_class_flag: &str,
    load_params: bool,
) -> Result<Classification, ClassError> {
    let annotations = ingress.metadata.annotations.as_ref();
    if let Some(legacy) = annotations.and_then(|a| a.get(LEGACY_CLASS_ANNOTATION)) {
        let ours =
            legacy == ingress_class_flag || (ingress_class_flag.is_empty() && legacy == "alb");
        return Ok(if ours {
            Classification::Ours(ClassConfig {
                by_legacy_annotation: true,
                ..ClassConfig::default()
            })
        } else {
            Classification::NotOurs
        });
    }

    let class_name = ingress
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.as_deref());
    let class = match class_name {
        Some(name) => cluster
            .ingress_class(name)
            .ok_or_else(|| ClassError::ClassNotFound(name.to_string()))?,
        None => match default_class(cluster)? {
            Some(class) => class,
            None if ingress_class_flag.is_empty() => {
                return Ok(Classification::Ours(ClassConfig::default()));
            }
            None => return Ok(Classification::NotOurs),
        },
    };

    let spec = class.spec.as_ref();
    if spec.and_then(|s| s.controller.as_deref()) != Some(CONTROLLER_NAME) {
        return Ok(Classification::NotOurs);
    }

    let params = match spec.and_then(|s| s.parameters.as_ref()) {
        None => None,
        Some(_) if !load_params => None,
        Some(reference) => {
            let class_name = class.metadata.name.clone().unwrap_or_default();
            if reference.api_group.as_deref() != Some(PARAMS_API_GROUP)
                || reference.kind != PARAMS_KIND
            {
                return Err(ClassError::UnknownParameters(class_name));
            }
            let params = cluster
                .ingress_class_params(&reference.name)
                .ok_or_else(|| ClassError::ParamsNotFound(reference.name.clone()))?;
            check_namespace_selector(&params, ingress, cluster)?;
            Some(params)
        }
    };

    Ok(Classification::Ours(ClassConfig {
        class: Some(class),
        params,
        by_legacy_annotation: false,
    }))
}

/// The IngressClass annotated as the cluster default, if exactly one is.
fn default_class(cluster: &dyn ClusterView) -> Result<Option<Arc<IngressClass>>, ClassError> {
    let mut defaults = cluster.ingress_classes().into_iter().filter(|c| {
        c.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(DEFAULT_CLASS_ANNOTATION))
            .is_some_and(|v| v == "true")
    });
    let first = defaults.next();
    if defaults.next().is_some() {
        return Err(ClassError::MultipleDefaults);
    }
    Ok(first)
}

fn check_namespace_selector(
    params: &IngressClassParams,
    ingress: &Ingress,
    cluster: &dyn ClusterView,
) -> Result<(), ClassError> {
    let params_name = params.metadata.name.clone().unwrap_or_default();
    let Some(selector) = params.spec.namespace_selector.clone() else {
        return Ok(());
    };
    let selector =
        Selector::try_from(selector).map_err(|e| ClassError::InvalidNamespaceSelector {
            params: params_name.clone(),
            reason: e.to_string(),
        })?;
    if selector.selects_all() {
        return Ok(());
    }
    let namespace = ingress.metadata.namespace.clone().unwrap_or_default();
    let labels = cluster
        .namespace_labels(&namespace)
        .ok_or_else(|| ClassError::NamespaceUnknown(namespace.clone(), params_name.clone()))?;
    if selector.matches(&labels) {
        Ok(())
    } else {
        Err(ClassError::NamespaceSelectorMismatch(params_name))
    }
}
