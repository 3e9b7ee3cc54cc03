//! Load balancer add-ons of the stack: the WAFv2 and WAF Classic (regional) Web ACL associations
//! and the Shield Advanced protection. Each is keyed by the load balancer's resource ID and
//! exists only when some member of the group asks for it: an add-on missing from the stack
//! leaves whatever AWS has for the load balancer alone.

use serde::{Deserialize, Serialize};

use super::StringToken;

/// The WAFv2 Web ACL the load balancer should be associated with.
///
/// `webACLARN` empty and no `webACLName`: no Web ACL (disassociate any). A `webACLName` is
/// looked up with `wafv2:ListWebACLs` (scope `REGIONAL`) by the deployer and wins over the ARN.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WafV2WebAclAssociationSpec {
    #[serde(rename = "webACLARN", default)]
    pub web_acl_arn: String,
    #[serde(
        rename = "webACLName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub web_acl_name: Option<String>,
    #[serde(rename = "resourceARN")]
    pub resource_arn: StringToken,
}

impl WafV2WebAclAssociationSpec {
    /// Whether the spec asks for no Web ACL at all.
    pub fn disassociates(&self) -> bool {
        self.web_acl_arn.is_empty() && self.web_acl_name.is_none()
    }
}

/// The WAF Classic regional Web ACL the load balancer should be associated with; an empty
/// `webACLID` means none (disassociate any).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WafRegionalWebAclAssociationSpec {
    #[serde(rename = "webACLID", default)]
    pub web_acl_id: String,
    #[serde(rename = "resourceARN")]
    pub resource_arn: StringToken,
}

/// Whether the load balancer should have a Shield Advanced protection. Applied only while the
/// account's Shield Advanced subscription is active.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShieldProtectionSpec {
    pub enabled: bool,
    #[serde(rename = "resourceARN")]
    pub resource_arn: StringToken,
}
