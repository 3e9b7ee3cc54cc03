//! Target group lookups for the TargetGroupBinding webhooks: the mutating webhook fills
//! `targetType`, `ipAddressType`, `vpcID` and `targetGroupProtocol` from AWS, and the
//! validating webhook checks the IP address type against it (upstream's rules).

use contract::cluster::{
    LookupError, LookupFuture, TargetGroupInfo, TargetGroupLookup, TargetGroupRef,
};
use contract::crd::RoleToAssume;

use crate::AwsClients;
use crate::assumed_roles::{AssumeRole, AssumedRoles};
use crate::error::AwsFailure;

/// Used when the process has no AWS client: every lookup fails with a clear reason, so a
/// TargetGroupBinding that needs AWS facts is refused rather than admitted unchecked.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoTargetGroupLookup;

impl TargetGroupLookup for NoTargetGroupLookup {
    fn describe<'a>(
        &'a self,
        target: &'a TargetGroupRef,
        _assume_role: Option<RoleToAssume<'a>>,
    ) -> LookupFuture<'a> {
        let id = match target {
            TargetGroupRef::Arn(id) | TargetGroupRef::Name(id) => id.clone(),
        };
        Box::pin(std::future::ready(Err(LookupError::Aws(format!(
            "cannot describe target group {id}: this process has no AWS client configured"
        )))))
    }
}

/// Describes target groups with the ELBv2 API (`DescribeTargetGroups` by ARN or name), in the
/// binding's own account when it names a role to assume.
#[derive(Clone)]
pub struct Elbv2TargetGroupLookup {
    roles: AssumedRoles,
}

impl Elbv2TargetGroupLookup {
    pub fn new(clients: AwsClients) -> Self {
        Self {
            roles: AssumedRoles::new(clients),
        }
    }

    async fn lookup(
        &self,
        target: &TargetGroupRef,
        assume_role: Option<RoleToAssume<'_>>,
    ) -> Result<TargetGroupInfo, LookupError> {
        let role = assume_role.and_then(|r| AssumeRole::of(Some(r.role_arn), r.external_id));
        let client = self.roles.elbv2(role.as_ref()).await;
        let request = client.describe_target_groups();
        let (request, query) = match target {
            TargetGroupRef::Arn(arn) => (request.target_group_arns(arn), arn),
            TargetGroupRef::Name(name) => (request.names(name), name),
        };
        let out = match request.send().await {
            Ok(out) => out,
            Err(error) => {
                let failure = AwsFailure::from_sdk(&error);
                if failure.code == "TargetGroupNotFound" {
                    return Err(LookupError::NotFound(query.clone()));
                }
                return Err(LookupError::Aws(format!(
                    "DescribeTargetGroups {query}: {}: {}",
                    failure.code, failure.message
                )));
            }
        };
        let groups = out.target_groups();
        match groups {
            [] => Err(LookupError::NotFound(query.clone())),
            [one] => Ok(info(one)),
            more => Err(LookupError::Ambiguous {
                name: query.clone(),
                found: more.len(),
            }),
        }
    }
}

/// What the webhooks need of a described target group, in AWS's wire spellings.
fn info(tg: &aws_sdk_elasticloadbalancingv2::types::TargetGroup) -> TargetGroupInfo {
    TargetGroupInfo {
        arn: tg.target_group_arn().unwrap_or_default().to_owned(),
        name: tg.target_group_name().unwrap_or_default().to_owned(),
        target_type: tg
            .target_type()
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default(),
        ip_address_type: tg
            .ip_address_type()
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default(),
        vpc_id: tg.vpc_id().unwrap_or_default().to_owned(),
        protocol: tg
            .protocol()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
    }
}

impl TargetGroupLookup for Elbv2TargetGroupLookup {
    fn describe<'a>(
        &'a self,
        target: &'a TargetGroupRef,
        assume_role: Option<RoleToAssume<'a>>,
    ) -> LookupFuture<'a> {
        Box::pin(self.lookup(target, assume_role))
    }
}
