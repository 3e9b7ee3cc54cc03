//! Kubernetes resources of the stack: the TargetGroupBindings the controller creates so that the
//! binding controller registers targets into each target group.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::{Deserialize, Serialize};

use super::{Protocol, StringToken, TargetGroupIpAddressType, TargetType};

/// The desired TargetGroupBinding: the object the controller will create or update.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetGroupBindingResourceSpec {
    pub template: TargetGroupBindingTemplate,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetGroupBindingTemplate {
    pub metadata: TargetGroupBindingMetadata,
    pub spec: TargetGroupBindingSpec,
}

/// Where the binding lives: the Service's namespace, named after the target group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroupBindingMetadata {
    pub namespace: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The binding's spec, as in the `elbv2.k8s.aws/v1beta1` CRD, except that the target group ARN
/// may still be a reference to the stack's target group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroupBindingSpec {
    #[serde(rename = "targetGroupARN")]
    pub target_group_arn: StringToken,
    pub target_type: TargetType,
    pub service_ref: ServiceReference,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networking: Option<TargetGroupBindingNetworking>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<LabelSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address_type: Option<TargetGroupIpAddressType>,
    #[serde(rename = "vpcID", default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub multi_cluster_target_group: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_protocol: Option<Protocol>,
}

/// The Service (in the binding's namespace) and port whose endpoints become targets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceReference {
    pub name: String,
    pub port: IntOrString,
}

/// Rules the binding controller adds to the targets' security groups.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroupBindingNetworking {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<NetworkingIngressRule>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkingIngressRule {
    pub from: Vec<NetworkingPeer>,
    pub ports: Vec<NetworkingPort>,
}

/// A traffic source: a CIDR block or a security group (exactly one is set).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkingPeer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_block: Option<IpBlock>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_group: Option<SecurityGroupPeer>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpBlock {
    pub cidr: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroupPeer {
    #[serde(rename = "groupID")]
    pub group_id: StringToken,
}

/// A port opened on the targets; no port means every port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkingPort {
    /// `TCP` or `UDP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<IntOrString>,
}
