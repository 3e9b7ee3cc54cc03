//! The TargetGroupBinding validator: required fields, uniqueness of the target group across
//! bindings, agreement with what AWS says about the target group, and immutable fields.
//!
//! The checks run in upstream's order and the first failure is the answer, with upstream's
//! wording. At most one target-group lookup is made per request ([`TargetGroupMemo`]).

use crate::config::WebhookConfig;
use crate::validate::Op;
use contract::cluster::{
    ClusterView, LookupError, TargetGroupInfo, TargetGroupLookup, TargetGroupRef,
};
use contract::crd::{
    RoleToAssume, TargetGroupBinding, TargetGroupBindingSpec, TargetGroupIpAddressType,
    TargetGroupProtocol, TargetType,
};

/// Check a TargetGroupBinding on CREATE or UPDATE (`old` is the stored object on UPDATE).
pub async fn validate(
    op: Op,
    new: &TargetGroupBinding,
    old: Option<&TargetGroupBinding>,
    cluster: &dyn ClusterView,
    lookup: &dyn TargetGroupLookup,
    config: &WebhookConfig,
) -> Result<(), String> {
    // The ARN may be filled in from the name below; later checks use the filled spec.
    let mut spec = new.spec.clone();
    match op {
        Op::Create => {
            check_required_fields(&mut spec, lookup).await?;
            check_node_selector(&spec)?;
            check_existing_target_groups(new, &spec, cluster)?;
            let mut memo = TargetGroupMemo::by_arn(lookup, &spec);
            check_ip_address_type(&spec, &mut memo).await?;
            check_vpc_id(&spec, &mut memo).await?;
            check_assume_role(&spec)?;
            check_protocol(&spec, &mut memo).await?;
        }
        Op::Update => {
            let Some(old) = old else {
                return Err(
                    "TargetGroupBinding update cannot be checked: the request has no oldObject"
                        .to_string(),
                );
            };
            check_required_fields(&mut spec, lookup).await?;
            check_immutable_fields(&spec, &old.spec, config)?;
            check_node_selector(&spec)?;
            check_assume_role(&spec)?;
            check_existing_target_groups(new, &spec, cluster)?;
        }
    }
    Ok(())
}

/// One target-group description per admission request, shared by every check and default.
pub(crate) struct TargetGroupMemo<'a> {
    lookup: &'a dyn TargetGroupLookup,
    target: TargetGroupRef,
    /// The binding's role ARN and external ID.
    assume_role: Option<(String, Option<String>)>,
    answer: Option<Result<TargetGroupInfo, String>>,
}

impl<'a> TargetGroupMemo<'a> {
    /// Describes the target group by the spec's ARN (empty if unset), with its assume-role.
    pub(crate) fn by_arn(lookup: &'a dyn TargetGroupLookup, spec: &TargetGroupBindingSpec) -> Self {
        TargetGroupMemo {
            lookup,
            target: TargetGroupRef::Arn(spec.arn().unwrap_or_default().to_string()),
            assume_role: spec
                .role_to_assume()
                .map(|r| (r.role_arn.to_owned(), r.external_id.map(str::to_owned))),
            answer: None,
        }
    }

    /// A memo already holding `info` (found by name), so no second call is made.
    pub(crate) fn known(lookup: &'a dyn TargetGroupLookup, info: TargetGroupInfo) -> Self {
        TargetGroupMemo {
            lookup,
            target: TargetGroupRef::Arn(info.arn.clone()),
            assume_role: None,
            answer: Some(Ok(info)),
        }
    }

    /// The target group, described on first use.
    pub(crate) async fn get(&mut self) -> Result<&TargetGroupInfo, String> {
        if self.answer.is_none() {
            let answer = self
                .lookup
                .describe(
                    &self.target,
                    self.assume_role
                        .as_ref()
                        .map(|(role_arn, external_id)| RoleToAssume {
                            role_arn,
                            external_id: external_id.as_deref(),
                        }),
                )
                .await
                .map_err(|e| lookup_message(&e));
            self.answer = Some(answer);
        }
        match &self.answer {
            Some(Ok(info)) => Ok(info),
            Some(Err(message)) => Err(message.clone()),
            None => Err("target group lookup did not run".to_string()),
        }
    }

    /// The target group's IP address type; AWS's empty value means IPv4.
    pub(crate) async fn ip_address_type(&mut self) -> Result<TargetGroupIpAddressType, String> {
        let info = self.get().await?;
        match info.ip_address_type.as_str() {
            "ipv6" => Ok(TargetGroupIpAddressType::Ipv6),
            "ipv4" | "" => Ok(TargetGroupIpAddressType::Ipv4),
            other => Err(format!("unsupported IPAddressType: {other}")),
        }
    }
}

/// Describe a target group by name, for bindings that only name theirs.
pub(crate) async fn describe_by_name(
    lookup: &dyn TargetGroupLookup,
    name: &str,
    assume_role: Option<RoleToAssume<'_>>,
) -> Result<TargetGroupInfo, String> {
    lookup
        .describe(&TargetGroupRef::Name(name.to_string()), assume_role)
        .await
        .map_err(|e| lookup_message(&e))
}

/// Upstream's words for a lookup that did not find exactly one target group.
pub(crate) fn lookup_message(error: &LookupError) -> String {
    match error {
        LookupError::NotFound(query) => {
            format!("expecting a single targetGroup with query [{query}] but got 0")
        }
        LookupError::Ambiguous { name, found } => {
            format!("expecting a single targetGroup with query [{name}] but got {found}")
        }
        LookupError::Aws(message) => message.clone(),
    }
}

/// An ARN or a resolvable name, and a target type, are required.
async fn check_required_fields(
    spec: &mut TargetGroupBindingSpec,
    lookup: &dyn TargetGroupLookup,
) -> Result<(), String> {
    let mut absent = Vec::new();
    if spec.arn().is_none() {
        match spec.name() {
            None => absent.push("either TargetGroupARN or TargetGroupName"),
            Some(name) => {
                let info = describe_by_name(lookup, name, spec.role_to_assume())
                    .await
                    .map_err(|e| format!("searching TargetGroup with name {name}: {e}"))?;
                spec.target_group_arn = Some(info.arn);
            }
        }
    }
    if spec.target_type.is_none() {
        absent.push("spec.targetType");
    }
    if absent.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "TargetGroupBinding must specify these fields: {}",
            absent.join(",")
        ))
    }
}

fn check_immutable_fields(
    new: &TargetGroupBindingSpec,
    old: &TargetGroupBindingSpec,
    config: &WebhookConfig,
) -> Result<(), String> {
    let mut changed = Vec::new();
    if new.target_group_arn.as_deref().unwrap_or_default()
        != old.target_group_arn.as_deref().unwrap_or_default()
    {
        changed.push("spec.targetGroupARN");
    }
    if new.target_type != old.target_type {
        changed.push("spec.targetType");
    }
    // Setting the type on a binding that had none is fine only for the implied `ipv4`.
    let ip_changed = match (old.ip_address_type, new.ip_address_type) {
        (None, Some(new)) => new != TargetGroupIpAddressType::Ipv4,
        (Some(_), None) => true,
        (Some(old), Some(new)) => old != new,
        (None, None) => false,
    };
    if ip_changed {
        changed.push("spec.ipAddressType");
    }
    // Setting the VPC on a binding that had none is fine only for the cluster's VPC.
    let new_vpc = new.vpc_id.as_deref().unwrap_or_default();
    let old_vpc = old.vpc_id.as_deref().unwrap_or_default();
    let cluster_vpc = config.vpc_id.as_deref().unwrap_or_default();
    let vpc_changed = match (old_vpc.is_empty(), new_vpc.is_empty()) {
        (false, false) => old_vpc != new_vpc,
        (false, true) => true,
        (true, false) => new_vpc != cluster_vpc,
        (true, true) => false,
    };
    if vpc_changed {
        changed.push("spec.vpcID");
    }
    if changed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "TargetGroupBinding update may not change these immutable fields: {}",
            changed.join(",")
        ))
    }
}

/// A node selector only means something for instance targets.
fn check_node_selector(spec: &TargetGroupBindingSpec) -> Result<(), String> {
    if spec.target_type == Some(TargetType::Ip) && spec.node_selector.is_some() {
        return Err("TargetGroupBinding cannot set NodeSelector when TargetType is ip".to_string());
    }
    Ok(())
}

/// A target group may have several bindings only if all of them are multi-cluster.
fn check_existing_target_groups(
    new: &TargetGroupBinding,
    spec: &TargetGroupBindingSpec,
    cluster: &dyn ClusterView,
) -> Result<(), String> {
    let Some(arn) = spec.arn() else {
        return Ok(());
    };
    let mut all_multi_cluster = spec.multi_cluster_target_group;
    let mut duplicates = Vec::new();
    for other in cluster.target_group_bindings() {
        if is_same_object(new, &other) || other.spec.arn() != Some(arn) {
            continue;
        }
        all_multi_cluster &= other.spec.multi_cluster_target_group;
        duplicates.push(format!(
            "{}/{}",
            other.metadata.namespace.as_deref().unwrap_or_default(),
            other.metadata.name.as_deref().unwrap_or_default()
        ));
    }
    if duplicates.is_empty() || all_multi_cluster {
        return Ok(());
    }
    duplicates.sort();
    Err(format!(
        "TargetGroup {arn} is already bound to following TargetGroupBindings [{}]. Please enable MultiCluster mode on all TargetGroupBindings referencing {arn} or choose a different Target Group ARN.",
        duplicates.join(" ")
    ))
}

/// The same object: same UID, or (without UIDs to compare) same namespace and name.
fn is_same_object(a: &TargetGroupBinding, b: &TargetGroupBinding) -> bool {
    if let (Some(a_uid), Some(b_uid)) = (&a.metadata.uid, &b.metadata.uid)
        && a_uid == b_uid
    {
        return true;
    }
    a.metadata.namespace == b.metadata.namespace && a.metadata.name == b.metadata.name
}

async fn check_ip_address_type(
    spec: &TargetGroupBindingSpec,
    memo: &mut TargetGroupMemo<'_>,
) -> Result<(), String> {
    let aws = memo
        .ip_address_type()
        .await
        .map_err(|e| format!("unable to get target group IP address type: {e}"))?;
    let wanted = spec
        .ip_address_type
        .unwrap_or(TargetGroupIpAddressType::Ipv4);
    if wanted != aws {
        return Err(format!(
            "invalid IP address type {aws} for TargetGroup {}",
            spec.arn().unwrap_or_default()
        ));
    }
    Ok(())
}

/// `vpc-` followed by 8, 17 or 32 lowercase hex digits.
pub(crate) fn is_vpc_id(value: &str) -> bool {
    value.strip_prefix("vpc-").is_some_and(|hex| {
        matches!(hex.len(), 8 | 17 | 32)
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

async fn check_vpc_id(
    spec: &TargetGroupBindingSpec,
    memo: &mut TargetGroupMemo<'_>,
) -> Result<(), String> {
    let Some(vpc) = spec.vpc() else {
        return Ok(());
    };
    if !is_vpc_id(vpc) {
        return Err(format!(
            "ValidationError: vpcID {vpc} failed to satisfy constraint: VPC Id must begin with 'vpc-' followed by 8, 17 or 32 lowercase letters (a-f) or numbers."
        ));
    }
    let info = memo
        .get()
        .await
        .map_err(|e| format!("unable to get target group VpcID: {e}"))?;
    if info.vpc_id != vpc {
        return Err(format!(
            "invalid VpcID {vpc} doesnt match VpcID from TargetGroup {}",
            spec.arn().unwrap_or_default()
        ));
    }
    Ok(())
}

/// Cross-account target groups work only with `ip` targets.
fn check_assume_role(spec: &TargetGroupBindingSpec) -> Result<(), String> {
    if spec.assume_role().is_some() && spec.target_type == Some(TargetType::Instance) {
        return Err("Unable to use instance target type while using assume role".to_string());
    }
    Ok(())
}

/// The protocol, when set, must be the target group's; QUIC needs `ip` targets.
async fn check_protocol(
    spec: &TargetGroupBindingSpec,
    memo: &mut TargetGroupMemo<'_>,
) -> Result<(), String> {
    // Bindings created before the field existed have none; that stays acceptable.
    let Some(protocol) = spec.target_group_protocol else {
        return Ok(());
    };
    // Upstream reuses the VpcID wording for this lookup failure; kept for compatibility.
    let info = memo
        .get()
        .await
        .map_err(|e| format!("unable to get target group VpcID: {e}"))?;
    if info.protocol != protocol.as_str() {
        return Err(format!(
            "TargetGroup {} protocol differs (got {protocol}, expected {})",
            spec.arn().unwrap_or_default(),
            info.protocol
        ));
    }
    let quic = TargetGroupProtocol::from_wire(&info.protocol).is_some_and(|p| p.is_quic());
    if quic && spec.target_type == Some(TargetType::Instance) {
        return Err("QUIC protocol is not supported for Instance target types.".to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
