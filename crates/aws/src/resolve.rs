//! Resolution of `$ref` tokens: as resources come to exist (found or created), their status
//! fields are recorded here, and the specs that point at them get literal values.

use std::collections::BTreeMap;

use model::stack::{Action, ForwardConfig, Ref, ResourceType, StringToken, TargetGroupTuple};

use super::error::{DeployError, ResourceRef};

/// Status field names, as the stack's `$ref` pointers spell them.
pub const SG_GROUP_ID: &str = "groupID";
pub const LB_ARN: &str = "loadBalancerARN";
pub const LB_DNS_NAME: &str = "dnsName";
pub const LISTENER_ARN: &str = "listenerARN";
pub const TG_ARN: &str = "targetGroupARN";

/// Known status values of the stack's resources.
#[derive(Clone, Debug, Default)]
pub struct Resolver {
    values: BTreeMap<Ref, String>,
}

impl Resolver {
    pub fn set(
        &mut self,
        resource_type: ResourceType,
        id: &str,
        field: &str,
        value: impl Into<String>,
    ) {
        self.values
            .insert(Ref::new(resource_type, id, field), value.into());
    }

    pub fn get(&self, r: &Ref) -> Option<&str> {
        self.values.get(r).map(String::as_str)
    }

    /// The group ID of every security group of the stack that exists (found or created), by
    /// stack resource ID.
    pub fn security_group_ids(&self) -> BTreeMap<String, String> {
        self.values
            .iter()
            .filter(|(r, _)| {
                r.resource_type == ResourceType::SecurityGroup && r.field == SG_GROUP_ID
            })
            .map(|(r, id)| (r.id.clone(), id.clone()))
            .collect()
    }

    /// The value of a token, or an error naming the resource and field that needs it.
    pub fn token(
        &self,
        token: &StringToken,
        user: &ResourceRef,
        field: &str,
    ) -> Result<String, DeployError> {
        match token {
            StringToken::Literal(value) => Ok(value.clone()),
            StringToken::Ref(r) => self.get(r).map(str::to_owned).ok_or_else(|| {
                DeployError::invalid(
                    user,
                    field,
                    format!("reference {} does not resolve (the resource is missing or was not deployed)", r.pointer()),
                )
            }),
        }
    }

    /// Actions with every target group reference replaced by its ARN.
    pub fn actions(
        &self,
        actions: &[Action],
        user: &ResourceRef,
        field: &str,
    ) -> Result<Vec<Action>, DeployError> {
        actions
            .iter()
            .map(|action| {
                let forward_config = match &action.forward_config {
                    Some(forward) => Some(ForwardConfig {
                        target_groups: forward
                            .target_groups
                            .iter()
                            .map(|tuple| {
                                Ok(TargetGroupTuple {
                                    target_group_arn: StringToken::Literal(self.token(
                                        &tuple.target_group_arn,
                                        user,
                                        field,
                                    )?),
                                    weight: tuple.weight,
                                })
                            })
                            .collect::<Result<_, DeployError>>()?,
                        target_group_stickiness_config: forward
                            .target_group_stickiness_config
                            .clone(),
                    }),
                    None => None,
                };
                Ok(Action {
                    forward_config,
                    ..action.clone()
                })
            })
            .collect()
    }
}

/// The literal value of a token that must already be resolved.
pub fn literal<'t>(
    token: &'t StringToken,
    user: &ResourceRef,
    field: &str,
) -> Result<&'t str, DeployError> {
    match token {
        StringToken::Literal(value) => Ok(value),
        StringToken::Ref(r) => Err(DeployError::invalid(
            user,
            field,
            format!("unresolved reference {}", r.pointer()),
        )),
    }
}
