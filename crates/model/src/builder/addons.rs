//! The load balancer's add-ons: WAFv2 and WAF Classic (regional) Web ACL associations and the
//! Shield Advanced protection.
//!
//! Each is group-exclusive: the members that set it must agree (`conflicting ...`), the members
//! that do not set it do not count. An add-on no member sets is left out of the stack, which
//! tells the deployer to leave AWS's setting for the load balancer alone; `none` (or an empty
//! value) asks for no Web ACL, `shield-advanced-protection: false` for no protection.
//!
//! For WAFv2 a member's IngressClassParams `wafv2AclArn` / `wafv2AclName` replace its
//! annotations, and a name (set by any member) wins over ARNs. Names stay names in the stack:
//! the deployer looks them up with `wafv2:ListWebACLs` when it applies the stack, so a Web ACL
//! created after the controller started is found.

use contract::annotations::WafSetting;

#[cfg(test)]
mod tests;

use super::errors::{BuildError, Origin};
use super::{MemberCtx, Task};
use crate::stack::{
    Ref, ShieldProtectionSpec, StringToken, WafRegionalWebAclAssociationSpec,
    WafV2WebAclAssociationSpec,
};

/// How a setting reads in a conflict list: the ARN, name or ID, or `none`.
fn shown(setting: &WafSetting) -> String {
    setting.value().unwrap_or("none").to_owned()
}

/// A member's WAFv2 Web ACL name: its IngressClassParams' over its annotation.
fn wafv2_name(member: &MemberCtx<'_>) -> Option<(String, Origin)> {
    match member
        .params
        .as_ref()
        .and_then(|p| p.wafv2_acl_name.as_deref())
    {
        Some(raw) => Some((
            shown(&WafSetting::parse(raw, WafSetting::Name)),
            member.class_params("wafv2AclName"),
        )),
        None => member
            .parsed
            .wafv2_acl_name
            .as_ref()
            .map(|s| (shown(s), member.annotation("wafv2-acl-name"))),
    }
}

/// A member's WAFv2 Web ACL ARN: its IngressClassParams' over its annotation.
fn wafv2_arn(member: &MemberCtx<'_>) -> Option<(String, Origin)> {
    match member
        .params
        .as_ref()
        .and_then(|p| p.wafv2_acl_arn.as_deref())
    {
        Some(raw) => Some((
            shown(&WafSetting::parse(raw, WafSetting::Arn)),
            member.class_params("wafv2AclArn"),
        )),
        None => member
            .parsed
            .wafv2_acl_arn
            .as_ref()
            .map(|s| (shown(s), member.annotation("wafv2-acl-arn"))),
    }
}

/// `none` (as [`shown`] renders a disassociating setting) as no value.
fn unless_none(value: String) -> Option<String> {
    (value != "none").then_some(value)
}

impl Task<'_> {
    /// Adds the add-ons the members ask for to the stack.
    pub(crate) fn build_addons(&mut self) -> Result<(), BuildError> {
        let lb_arn = StringToken::from(Ref::load_balancer_arn());
        if let Some(spec) = self.wafv2_association(&lb_arn)? {
            self.stack.add_wafv2_web_acl_association(spec)?;
        }
        if let Some(spec) = self.waf_regional_association(&lb_arn)? {
            self.stack.add_waf_regional_web_acl_association(spec)?;
        }
        if let Some(spec) = self.shield_protection(&lb_arn)? {
            self.stack.add_shield_protection(spec)?;
        }
        Ok(())
    }

    fn wafv2_association(
        &self,
        lb_arn: &StringToken,
    ) -> Result<Option<WafV2WebAclAssociationSpec>, BuildError> {
        let spec = |web_acl_arn: String, web_acl_name: Option<String>| WafV2WebAclAssociationSpec {
            web_acl_arn,
            web_acl_name,
            resource_arn: lb_arn.clone(),
        };
        if let Some((name, _)) = self.exclusive("WAFv2 WebACL names", wafv2_name)? {
            return Ok(Some(spec(String::new(), unless_none(name))));
        }
        Ok(self
            .exclusive("WAFv2 WebACL ARNs", wafv2_arn)?
            .map(|(arn, _)| spec(unless_none(arn).unwrap_or_default(), None)))
    }

    fn waf_regional_association(
        &self,
        lb_arn: &StringToken,
    ) -> Result<Option<WafRegionalWebAclAssociationSpec>, BuildError> {
        // `waf-acl-id` and its deprecated alias `web-acl-id` parse into the same field.
        let id = self.exclusive("WAFClassic WebACL IDs", |m| {
            m.parsed.waf_acl_id.as_ref().map(|s| {
                let key = if m
                    .annotations
                    .contains_key(&format!("{}waf-acl-id", contract::annotations::PREFIX))
                {
                    "waf-acl-id"
                } else {
                    "web-acl-id"
                };
                (shown(s), m.annotation(key))
            })
        })?;
        Ok(id.map(|(id, _)| WafRegionalWebAclAssociationSpec {
            web_acl_id: unless_none(id).unwrap_or_default(),
            resource_arn: lb_arn.clone(),
        }))
    }

    fn shield_protection(
        &self,
        lb_arn: &StringToken,
    ) -> Result<Option<ShieldProtectionSpec>, BuildError> {
        let mut chosen: Option<bool> = None;
        for member in &self.members {
            let Some(enabled) = member.parsed.shield_advanced_protection else {
                continue;
            };
            match chosen {
                Some(first) if first != enabled => {
                    return Err(BuildError::conflict(
                        member.annotation("shield-advanced-protection"),
                        "conflicting enable shield advanced protection",
                    ));
                }
                _ => chosen = Some(enabled),
            }
        }
        Ok(chosen.map(|enabled| ShieldProtectionSpec {
            enabled,
            resource_arn: lb_arn.clone(),
        }))
    }
}
