//! The cluster's shared backend security group (`--enable-backend-security-group`): one per
//! cluster and VPC, attached to every load balancer with a managed security group and used as
//! the source of the rules on the targets' security groups.
//!
//! It is found by its tags (`elbv2.k8s.aws/cluster=<cluster>`, `elbv2.k8s.aws/resource=backend-sg`)
//! and created with them, named `k8s-traffic-<cluster>-<hash>`, when missing. A group of that
//! name without our tags (someone else's) is never adopted.

use std::collections::BTreeMap;

use aws_sdk_ec2::types as ec2;

use crate::model::naming::backend_security_group_name;
use crate::model::tags::{BACKEND_SECURITY_GROUP_RESOURCE, TAG_CLUSTER, TAG_ELBV2_RESOURCE};

use super::aws::AwsClients;
use super::error::AwsFailure;

/// The description upstream gives the group.
pub const DESCRIPTION: &str = "[k8s] Shared Backend SecurityGroup for LoadBalancer";

/// Why the backend security group could not be found or made.
#[derive(Debug, thiserror::Error)]
pub enum BackendSecurityGroupError {
    #[error(
        "cannot look up the backend security group of cluster {cluster} in {vpc}: {code}: {message}"
    )]
    Describe {
        cluster: String,
        vpc: String,
        code: String,
        message: String,
    },
    #[error("cannot create the backend security group {name} in {vpc}: {code}: {message}")]
    Create {
        name: String,
        vpc: String,
        code: String,
        message: String,
    },
    #[error(
        "a security group named {name} exists in {vpc} without the tags {TAG_CLUSTER}={cluster}, \
         {TAG_ELBV2_RESOURCE}={BACKEND_SECURITY_GROUP_RESOURCE}: it is not ours; delete or tag it, \
         or pass --backend-security-group"
    )]
    NameTaken {
        name: String,
        vpc: String,
        cluster: String,
    },
}

/// How the group was obtained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Obtained {
    Found(String),
    Created(String),
}

impl Obtained {
    pub fn id(&self) -> &str {
        match self {
            Self::Found(id) | Self::Created(id) => id,
        }
    }
}

fn filter(name: &str, value: &str) -> ec2::Filter {
    ec2::Filter::builder().name(name).values(value).build()
}

/// Finds the cluster's backend security group in `vpc`, creating it (with `default_tags` and
/// our tags) when there is none.
pub async fn ensure(
    clients: &AwsClients,
    cluster: &str,
    vpc: &str,
    default_tags: &BTreeMap<String, String>,
) -> Result<Obtained, BackendSecurityGroupError> {
    if let Some(id) = find(clients, cluster, vpc).await? {
        return Ok(Obtained::Found(id));
    }
    let name = backend_security_group_name(cluster);
    let mut tags = default_tags.clone();
    tags.insert(TAG_CLUSTER.to_owned(), cluster.to_owned());
    tags.insert(
        TAG_ELBV2_RESOURCE.to_owned(),
        BACKEND_SECURITY_GROUP_RESOURCE.to_owned(),
    );
    let created = clients
        .ec2
        .create_security_group()
        .group_name(&name)
        .description(DESCRIPTION)
        .vpc_id(vpc)
        .tag_specifications(
            ec2::TagSpecification::builder()
                .resource_type(ec2::ResourceType::SecurityGroup)
                .set_tags(Some(
                    tags.iter()
                        .map(|(k, v)| ec2::Tag::builder().key(k).value(v).build())
                        .collect(),
                ))
                .build(),
        )
        .send()
        .await;
    match created {
        Ok(out) => match out.group_id() {
            Some(id) if !id.is_empty() => Ok(Obtained::Created(id.to_owned())),
            _ => Err(BackendSecurityGroupError::Create {
                name,
                vpc: vpc.to_owned(),
                code: String::new(),
                message: "CreateSecurityGroup returned no group ID".to_owned(),
            }),
        },
        Err(error) => {
            let failure = AwsFailure::from_sdk(&error);
            if failure.code == "InvalidGroup.Duplicate" {
                // Another replica created it a moment ago, or the name is someone else's.
                return match find(clients, cluster, vpc).await? {
                    Some(id) => Ok(Obtained::Found(id)),
                    None => Err(BackendSecurityGroupError::NameTaken {
                        name,
                        vpc: vpc.to_owned(),
                        cluster: cluster.to_owned(),
                    }),
                };
            }
            Err(BackendSecurityGroupError::Create {
                name,
                vpc: vpc.to_owned(),
                code: failure.code,
                message: failure.message,
            })
        }
    }
}

/// The ID of the group tagged as the cluster's backend group in `vpc`; with several (made by
/// hand, or by two controllers racing), the lowest ID, so that every replica agrees.
async fn find(
    clients: &AwsClients,
    cluster: &str,
    vpc: &str,
) -> Result<Option<String>, BackendSecurityGroupError> {
    let out = clients
        .ec2
        .describe_security_groups()
        .filters(filter("vpc-id", vpc))
        .filters(filter(&format!("tag:{TAG_CLUSTER}"), cluster))
        .filters(filter(
            &format!("tag:{TAG_ELBV2_RESOURCE}"),
            BACKEND_SECURITY_GROUP_RESOURCE,
        ))
        .send()
        .await
        .map_err(|error| {
            let failure = AwsFailure::from_sdk(&error);
            BackendSecurityGroupError::Describe {
                cluster: cluster.to_owned(),
                vpc: vpc.to_owned(),
                code: failure.code,
                message: failure.message,
            }
        })?;
    let mut ids: Vec<&str> = out
        .security_groups()
        .iter()
        .filter_map(|sg| sg.group_id())
        .collect();
    ids.sort_unstable();
    if ids.len() > 1 {
        tracing::warn!(
            ?ids,
            cluster,
            vpc,
            "several security groups are tagged as the cluster's backend group; using the first"
        );
    }
    Ok(ids.first().map(|id| (*id).to_owned()))
}
