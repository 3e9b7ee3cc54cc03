//! `elbv2.k8s.aws/v1alpha1` TargetGroupBinding: still served (not stored), without
//! `nodeSelector`, `ipAddressType`, `vpcID` and `targetGroupProtocol`. The API server converts
//! it to `v1beta1` by rewriting `apiVersion` only, so the shared fields keep their shapes.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::super::common::TargetType;
use super::{
    ARN_IMMUTABLE_MESSAGE, ARN_IMMUTABLE_RULE, ARN_OR_NAME_MESSAGE, ARN_OR_NAME_RULE,
    ServiceReference, TARGET_TYPE_IMMUTABLE_MESSAGE, TARGET_TYPE_IMMUTABLE_RULE,
    TargetGroupBindingNetworking, TargetGroupBindingStatus,
};

/// Binds the endpoints of a Service to an existing ELBv2 target group (legacy version).
// kube's repeated `printcolumn(type_ = ...)` look like duplicates to clippy.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "elbv2.k8s.aws",
    version = "v1alpha1",
    kind = "TargetGroupBinding",
    singular = "targetgroupbinding",
    plural = "targetgroupbindings",
    namespaced,
    served = true,
    storage = false,
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
    /// ARN of the target group. Immutable.
    #[serde(
        default,
        rename = "targetGroupARN",
        skip_serializing_if = "Option::is_none"
    )]
    pub target_group_arn: Option<String>,

    /// Name of the target group, resolved to its ARN on create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_name: Option<String>,

    /// The target group is shared with other bindings, possibly in other clusters.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub multi_cluster_target_group: bool,

    /// Target type of the target group; read from AWS when unset. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_type: Option<TargetType>,

    /// The Service (same namespace) and port whose endpoints are registered.
    pub service_ref: ServiceReference,

    /// Security-group rules letting the load balancer reach the targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networking: Option<TargetGroupBindingNetworking>,

    /// IAM role to assume for a target group in another account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iam_role_arn_to_assume: Option<String>,

    /// External ID presented when assuming `iamRoleArnToAssume`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assume_role_external_id: Option<String>,
}
