//! `TargetGroupBinding` (`elbv2.k8s.aws`, namespaced): registers the endpoints of a Service in
//! an existing ELBv2 target group. `v1beta1` is served and stored; [`v1alpha1`] is served with
//! a smaller field set.

pub mod v1alpha1;

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::TargetType;

/// CEL rule: a binding names its target group by ARN or by name.
pub const ARN_OR_NAME_RULE: &str = "(has(self.targetGroupARN) && self.targetGroupARN != '') || (has(self.targetGroupName) && self.targetGroupName != '')";
/// Message of [`ARN_OR_NAME_RULE`] (the mutating webhook's wording).
pub const ARN_OR_NAME_MESSAGE: &str = "must provide either TargetGroupARN or TargetGroupName";
/// CEL transition rule: `targetGroupARN` never changes (absent counts as empty, as upstream).
pub const ARN_IMMUTABLE_RULE: &str = "(has(self.targetGroupARN) ? self.targetGroupARN : '') == (has(oldSelf.targetGroupARN) ? oldSelf.targetGroupARN : '')";
/// Message of [`ARN_IMMUTABLE_RULE`].
pub const ARN_IMMUTABLE_MESSAGE: &str = "spec.targetGroupARN is immutable";
/// CEL transition rule: `targetType` is neither set, unset nor changed on update.
pub const TARGET_TYPE_IMMUTABLE_RULE: &str = "(has(self.targetType) ? self.targetType : '') == (has(oldSelf.targetType) ? oldSelf.targetType : '')";
/// Message of [`TARGET_TYPE_IMMUTABLE_RULE`].
pub const TARGET_TYPE_IMMUTABLE_MESSAGE: &str = "spec.targetType is immutable";

/// Binds the endpoints of a Service to an existing ELBv2 target group.
// kube's repeated `printcolumn(type_ = ...)` look like duplicates to clippy.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "elbv2.k8s.aws",
    version = "v1beta1",
    kind = "TargetGroupBinding",
    singular = "targetgroupbinding",
    plural = "targetgroupbindings",
    namespaced,
    status = "TargetGroupBindingStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "TargetGroupBinding is the Schema for the TargetGroupBinding API",
    printcolumn(
        name = "SERVICE-NAME",
        type_ = "string",
        json_path = ".spec.serviceRef.name",
        description = "The Kubernetes Service's name"
    ),
    printcolumn(
        name = "SERVICE-PORT",
        type_ = "string",
        json_path = ".spec.serviceRef.port",
        description = "The Kubernetes Service's port"
    ),
    printcolumn(
        name = "TARGET-TYPE",
        type_ = "string",
        json_path = ".spec.targetType",
        description = "The AWS TargetGroup's TargetType"
    ),
    printcolumn(
        name = "ARN",
        type_ = "string",
        json_path = ".spec.targetGroupARN",
        description = "The AWS TargetGroup's Amazon Resource Name",
        priority = 1
    ),
    printcolumn(
        name = "NAME",
        type_ = "string",
        json_path = ".spec.targetGroupName",
        description = "The AWS TargetGroup's Name",
        priority = 2
    ),
    printcolumn(
        name = "AGE",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(
    validation = Rule::new(ARN_OR_NAME_RULE).message(ARN_OR_NAME_MESSAGE),
    validation = Rule::new(ARN_IMMUTABLE_RULE).message(ARN_IMMUTABLE_MESSAGE),
    validation = Rule::new(TARGET_TYPE_IMMUTABLE_RULE).message(TARGET_TYPE_IMMUTABLE_MESSAGE)
)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroupBindingSpec {
    /// ARN of the target group; filled from `targetGroupName` on create. Immutable.
    #[serde(
        default,
        rename = "targetGroupARN",
        skip_serializing_if = "Option::is_none"
    )]
    pub target_group_arn: Option<String>,

    /// Name of the target group, resolved to its ARN on create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_name: Option<String>,

    /// The target group is shared with other bindings, possibly in other clusters; only the
    /// targets this binding registered are ever deregistered.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub multi_cluster_target_group: bool,

    /// Target type of the target group; read from AWS when unset. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_type: Option<TargetType>,

    /// Protocol of the target group; read from AWS when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_protocol: Option<TargetGroupProtocol>,

    /// The Service (same namespace) and port whose endpoints are registered.
    pub service_ref: ServiceReference,

    /// Security-group rules letting the load balancer reach the targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networking: Option<TargetGroupBindingNetworking>,

    /// Registers only the nodes matching this selector (instance targets only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<LabelSelector>,

    /// IP address type of the target group; read from AWS when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address_type: Option<TargetGroupIpAddressType>,

    /// VPC of the target group; read from AWS when unset.
    #[serde(default, rename = "vpcID", skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,

    /// IAM role to assume for a target group in another account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iam_role_arn_to_assume: Option<String>,

    /// External ID presented when assuming `iamRoleArnToAssume`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assume_role_external_id: Option<String>,
}

/// `Some(s)` for a non-empty string: upstream treats an empty string as unset.
fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|s| !s.is_empty())
}

impl TargetGroupBindingSpec {
    /// The target group ARN, if set and non-empty.
    pub fn arn(&self) -> Option<&str> {
        non_empty(&self.target_group_arn)
    }

    /// The target group name, if set and non-empty.
    pub fn name(&self) -> Option<&str> {
        non_empty(&self.target_group_name)
    }

    /// The VPC ID, if set and non-empty.
    pub fn vpc(&self) -> Option<&str> {
        non_empty(&self.vpc_id)
    }

    /// The role to assume, if set and non-empty.
    pub fn assume_role(&self) -> Option<&str> {
        non_empty(&self.iam_role_arn_to_assume)
    }

    /// The role to assume with its external ID (`assumeRoleExternalId`), if a role is set.
    pub fn role_to_assume(&self) -> Option<RoleToAssume<'_>> {
        Some(RoleToAssume {
            role_arn: self.assume_role()?,
            external_id: non_empty(&self.assume_role_external_id),
        })
    }
}

/// A binding's `iamRoleArnToAssume` and `assumeRoleExternalId`: its target group lives in the
/// account reached through that role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoleToAssume<'a> {
    pub role_arn: &'a str,
    pub external_id: Option<&'a str>,
}

/// What the controller last observed of a binding.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroupBindingStatus {
    /// The generation last reconciled successfully.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Conditions of the binding (the controller writes `Ready`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Option<Vec<Condition>>,
}

/// A Service and one of its ports.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
pub struct ServiceReference {
    /// Name of the Service.
    pub name: String,
    /// Port of the Service, by number or name.
    pub port: IntOrString,
}

/// Networking rules added to the targets' security groups.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetGroupBindingNetworking {
    /// Traffic allowed to reach the targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<Vec<NetworkingIngressRule>>,
}

/// Traffic from these peers to these ports is allowed.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkingIngressRule {
    /// Peers allowed to reach the targets.
    pub from: Vec<NetworkingPeer>,
    /// Ports opened on the targets; empty means every port over TCP.
    pub ports: Vec<NetworkingPort>,
}

/// A source of traffic: a CIDR block or a security group (set one).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NetworkingPeer {
    /// Traffic from this CIDR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_block: Option<IpBlock>,
    /// Traffic from this security group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_group: Option<SecurityGroup>,
}

/// A CIDR block (IPv4 or IPv6).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
pub struct IpBlock {
    /// The CIDR.
    pub cidr: String,
}

/// An EC2 security group.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
pub struct SecurityGroup {
    /// ID of the security group.
    #[serde(rename = "groupID")]
    pub group_id: String,
}

/// A port (and protocol) opened on the targets.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkingPort {
    /// Protocol; TCP when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<NetworkingProtocol>,
    /// Port number (or named container port with `ip` targets); every port when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<IntOrString>,
}

/// Protocol of a networking rule.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NetworkingProtocol {
    #[serde(rename = "TCP")]
    Tcp,
    #[serde(rename = "UDP")]
    Udp,
}

/// IP address type of a target group.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetGroupIpAddressType {
    #[serde(rename = "ipv4")]
    Ipv4,
    #[serde(rename = "ipv6")]
    Ipv6,
}

impl TargetGroupIpAddressType {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetGroupIpAddressType::Ipv4 => "ipv4",
            TargetGroupIpAddressType::Ipv6 => "ipv6",
        }
    }
}

impl fmt::Display for TargetGroupIpAddressType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Protocol of a target group, as ELBv2 spells it.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetGroupProtocol {
    #[serde(rename = "HTTP")]
    Http,
    #[serde(rename = "HTTPS")]
    Https,
    #[serde(rename = "TCP")]
    Tcp,
    #[serde(rename = "TLS")]
    Tls,
    #[serde(rename = "UDP")]
    Udp,
    #[serde(rename = "TCP_UDP")]
    TcpUdp,
    #[serde(rename = "QUIC")]
    Quic,
    #[serde(rename = "TCP_QUIC")]
    TcpQuic,
}

impl TargetGroupProtocol {
    pub const ALL: [TargetGroupProtocol; 8] = [
        TargetGroupProtocol::Http,
        TargetGroupProtocol::Https,
        TargetGroupProtocol::Tcp,
        TargetGroupProtocol::Tls,
        TargetGroupProtocol::Udp,
        TargetGroupProtocol::TcpUdp,
        TargetGroupProtocol::Quic,
        TargetGroupProtocol::TcpQuic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TargetGroupProtocol::Http => "HTTP",
            TargetGroupProtocol::Https => "HTTPS",
            TargetGroupProtocol::Tcp => "TCP",
            TargetGroupProtocol::Tls => "TLS",
            TargetGroupProtocol::Udp => "UDP",
            TargetGroupProtocol::TcpUdp => "TCP_UDP",
            TargetGroupProtocol::Quic => "QUIC",
            TargetGroupProtocol::TcpQuic => "TCP_QUIC",
        }
    }

    /// Parse the wire value, as AWS spells it.
    pub fn from_wire(value: &str) -> Option<TargetGroupProtocol> {
        TargetGroupProtocol::ALL
            .into_iter()
            .find(|p| p.as_str() == value)
    }

    /// QUIC or TCP_QUIC, which instance targets cannot serve.
    pub fn is_quic(self) -> bool {
        matches!(
            self,
            TargetGroupProtocol::Quic | TargetGroupProtocol::TcpQuic
        )
    }
}

impl fmt::Display for TargetGroupProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
