//! The cluster's shared backend security group (`--enable-backend-security-group`): one per
//! cluster and VPC, attached to every load balancer with a managed security group and used as
//! the source of the rules on the targets' security groups.
//!
//! It is found by its tags (`elbv2.k8s.aws/cluster=<cluster>`, `elbv2.k8s.aws/resource=backend-sg`)
//! and created with them, named `k8s-traffic-<cluster>-<hash>`, when missing. A group of that
//! name without our tags (someone else's) is never adopted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use controller::backend_sg::{BackendSecurityGroup, BackendSecurityGroupApi};
use controller::backends::{BackendError, BoxFuture};

use aws_sdk_ec2::types as ec2;

use model::naming::backend_security_group_name;
use model::tags::{BACKEND_SECURITY_GROUP_RESOURCE, TAG_CLUSTER, TAG_ELBV2_RESOURCE};

use super::aws::AwsClients;
use super::error::{AwsFailure, ErrorCategory};
pub use controller::backend_sg::{Deletion, Obtained};

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
        category: ErrorCategory,
    },
    #[error("cannot create the backend security group {name} in {vpc}: {code}: {message}")]
    Create {
        name: String,
        vpc: String,
        code: String,
        message: String,
        category: ErrorCategory,
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
    #[error("cannot delete the backend security group {id}: {code}: {message}")]
    Delete {
        id: String,
        code: String,
        message: String,
        /// Kept from the SDK error (a call refused by the leader gate has no code).
        category: ErrorCategory,
    },
}

impl BackendSecurityGroupError {
    /// The failure's category (metric label and requeue policy), from the AWS error code.
    pub fn category(&self) -> ErrorCategory {
        match self {
            Self::Describe { category, .. }
            | Self::Create { category, .. }
            | Self::Delete { category, .. } => *category,
            Self::NameTaken { .. } => ErrorCategory::Conflict,
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
                category: ErrorCategory::Internal,
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
                category: failure.category,
            })
        }
    }
}

/// Deletes the security group `id` (the caller makes sure it is the cluster's backend group).
/// A group still in use, or already gone, is not an error: see [`Deletion`].
pub async fn delete(clients: &AwsClients, id: &str) -> Result<Deletion, BackendSecurityGroupError> {
    match clients
        .ec2
        .delete_security_group()
        .group_id(id)
        .send()
        .await
    {
        Ok(_) => Ok(Deletion::Deleted),
        Err(error) => {
            let failure = AwsFailure::from_sdk(&error);
            match failure.code.as_str() {
                "DependencyViolation" => Ok(Deletion::InUse(failure.message)),
                "InvalidGroup.NotFound" | "InvalidGroupId.NotFound" => Ok(Deletion::NotFound),
                _ => Err(BackendSecurityGroupError::Delete {
                    id: id.to_owned(),
                    code: failure.code,
                    message: failure.message,
                    category: failure.category,
                }),
            }
        }
    }
}

/// The ID of the group tagged as the cluster's backend group in `vpc`; with several (made by
/// hand, or by two controllers racing), the lowest ID, so that every replica agrees.
pub async fn find(
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
                category: failure.category,
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

/// The cluster's own backend security group in `vpc`, found by its tags or created with
/// `default_tags` plus our tags, and deleted (waiting out "in use") when released.
pub fn managed(
    clients: AwsClients,
    cluster: impl Into<String>,
    vpc: impl Into<String>,
    default_tags: BTreeMap<String, String>,
) -> BackendSecurityGroup {
    BackendSecurityGroup::managed(Arc::new(Ec2BackendSecurityGroup {
        clients,
        cluster: cluster.into(),
        vpc: vpc.into(),
        default_tags,
        in_use_wait: IN_USE_WAIT,
    }))
}

/// How long a deletion is retried while AWS reports the group in use: the network interfaces
/// of a load balancer deleted a moment ago keep their security groups for a few minutes.
const IN_USE_WAIT: Duration = Duration::from_secs(180);
/// The pause between those retries.
const IN_USE_INTERVAL: Duration = Duration::from_secs(10);

/// [`BackendSecurityGroupApi`] over EC2.
pub struct Ec2BackendSecurityGroup {
    clients: AwsClients,
    cluster: String,
    vpc: String,
    default_tags: BTreeMap<String, String>,
    in_use_wait: Duration,
}

fn backend_error(error: BackendSecurityGroupError) -> BackendError {
    BackendError::new(error.category().as_str(), error.to_string()).with_source(error)
}

impl BackendSecurityGroupApi for Ec2BackendSecurityGroup {
    fn ensure(&self) -> BoxFuture<'_, Result<Obtained, BackendError>> {
        Box::pin(async move {
            ensure(&self.clients, &self.cluster, &self.vpc, &self.default_tags)
                .await
                .map_err(backend_error)
        })
    }

    fn find(&self) -> BoxFuture<'_, Result<Option<String>, BackendError>> {
        Box::pin(async move {
            find(&self.clients, &self.cluster, &self.vpc)
                .await
                .map_err(backend_error)
        })
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Deletion, BackendError>> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + self.in_use_wait;
            loop {
                let deletion = delete(&self.clients, id).await.map_err(backend_error)?;
                match deletion {
                    Deletion::InUse(_) if tokio::time::Instant::now() < deadline => {
                        tracing::debug!(id, "backend security group still in use; retrying");
                        tokio::time::sleep(IN_USE_INTERVAL).await;
                    }
                    other => return Ok(other),
                }
            }
        })
    }
}
