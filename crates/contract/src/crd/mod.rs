//! Custom resources of the `elbv2.k8s.aws` group: [`IngressClassParams`] and
//! [`TargetGroupBinding`], with the CustomResourceDefinitions generated from these types.
//!
//! The YAML under `crds/` is produced by [`crds`] and [`render`] (binary `crdgen`, target
//! `make crds`); a test fails when the committed files drift from the types.

mod common;
mod ingress_class_params;
mod schema;
mod target_group_binding;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use kube::core::crd::merge_crds;

pub use common::{Attribute, Tag, TargetType};
pub use ingress_class_params::{
    IngressClassParams, IngressClassParamsSpec, IngressGroup, IpAddressType, IpamConfiguration,
    Listener, ListenerProtocol, LoadBalancerScheme, MinimumLoadBalancerCapacity,
    PREFIX_LISTS_MESSAGE, PREFIX_LISTS_RULE, SUBNETS_MESSAGE, SUBNETS_RULE, SubnetSelector,
};
pub use target_group_binding::{
    ARN_IMMUTABLE_MESSAGE, ARN_IMMUTABLE_RULE, ARN_OR_NAME_MESSAGE, ARN_OR_NAME_RULE, IpBlock,
    NetworkingIngressRule, NetworkingPeer, NetworkingPort, NetworkingProtocol, RoleToAssume,
    SecurityGroup, ServiceReference, TARGET_TYPE_IMMUTABLE_MESSAGE, TARGET_TYPE_IMMUTABLE_RULE,
    TargetGroupBinding, TargetGroupBindingNetworking, TargetGroupBindingSpec,
    TargetGroupBindingStatus, TargetGroupIpAddressType, TargetGroupProtocol, v1alpha1,
};

/// Every CRD of this controller: IngressClassParams, then TargetGroupBinding (both versions).
pub fn crds() -> Vec<CustomResourceDefinition> {
    let mut crds = vec![IngressClassParams::crd(), target_group_binding_crd()];
    crds.iter_mut().for_each(schema::drop_nullable);
    crds
}

/// TargetGroupBinding with `v1alpha1` (served) and `v1beta1` (served, stored), in name order.
fn target_group_binding_crd() -> CustomResourceDefinition {
    let mut crd = merge_crds(
        vec![
            v1alpha1::TargetGroupBinding::crd(),
            TargetGroupBinding::crd(),
        ],
        "v1beta1",
    )
    // Both derives share group, kind and scope and have one version each; the test
    // `crds_have_expected_shape` exercises this path.
    .expect("the TargetGroupBinding versions are mergeable");
    crd.spec.versions.sort_by(|a, b| a.name.cmp(&b.name));
    crd
}

/// The file a CRD is written to: `<group>_<plural>.yaml`, as kubebuilder names them.
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}_{}.yaml", crd.spec.group, crd.spec.names.plural)
}

/// Stable YAML of one CRD, with a header saying how it was made.
pub fn render(crd: &CustomResourceDefinition) -> Result<String, serde_yaml::Error> {
    let body = serde_yaml::to_string(crd)?;
    Ok(format!(
        "# Generated from the Rust types in crates/contract/src/crd by `make crds`; do not edit.\n---\n{body}"
    ))
}

#[cfg(test)]
mod tests;
