//! The cluster's shared backend security group, obtained when a build first needs it and
//! released when the last group using it is deleted.
//!
//! [`BackendSecurityGroup::get`] finds the group by its tags or creates it (see
//! [`crate::deploy::backend_sg`]) and caches the ID; [`BackendSecurityGroup::release`] deletes
//! it again. A group AWS still reports in use (`DependencyViolation`: a load balancer or its
//! network interfaces, or another group's rule, such as the TargetGroupBinding rules on node
//! groups, refers to it) is kept, and so is its cached ID. A group given with
//! `--backend-security-group` is the user's: it is returned as given and never deleted.
//!
//! Calls are serialized, so concurrent builds create the group at most once. Over EC2, a
//! deletion refused as in use is retried for up to three minutes (the network interfaces of a
//! load balancer deleted a moment ago hold on to its groups for a while); after that, or when
//! it fails, the group reconciler releases again at the next resync or group deletion.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use crate::controller::backends::{BackendError, BoxFuture};
use crate::deploy::AwsClients;
use crate::deploy::backend_sg::{self, BackendSecurityGroupError, Deletion, Obtained};

/// The EC2 operations on the cluster's backend group, behind a trait for tests.
pub trait BackendSecurityGroupApi: Send + Sync {
    /// Finds the cluster's group by its tags, or creates it.
    fn ensure(&self) -> BoxFuture<'_, Result<Obtained, BackendError>>;
    /// The cluster's group, found by its tags.
    fn find(&self) -> BoxFuture<'_, Result<Option<String>, BackendError>>;
    /// Deletes the group `id`.
    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Deletion, BackendError>>;
}

/// What a release did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Released {
    /// The group was deleted.
    Deleted(String),
    /// There was no group to delete (none tagged as ours, or it was already gone).
    NotPresent,
    /// AWS refused: something still uses the group. It is kept.
    InUse { id: String, reason: String },
    /// The group was given with `--backend-security-group`: never deleted.
    UserGiven(String),
}

/// The backend security group provider; cheap to clone (shared state).
#[derive(Clone)]
pub struct BackendSecurityGroup {
    inner: Arc<Inner>,
}

struct Inner {
    source: Source,
    /// The ID obtained last; `None` before the first `get` and after a release.
    cached: Mutex<Option<String>>,
}

enum Source {
    Given(String),
    Managed(Arc<dyn BackendSecurityGroupApi>),
}

impl BackendSecurityGroup {
    /// The user's group (`--backend-security-group`): never created, never deleted.
    pub fn given(id: impl Into<String>) -> Self {
        Self::with_source(Source::Given(id.into()))
    }

    /// The cluster's own group, found or created through `api`.
    pub fn managed(api: Arc<dyn BackendSecurityGroupApi>) -> Self {
        Self::with_source(Source::Managed(api))
    }

    /// The cluster's own group in `vpc`, created with `default_tags` plus our tags.
    pub fn aws(
        clients: AwsClients,
        cluster: impl Into<String>,
        vpc: impl Into<String>,
        default_tags: BTreeMap<String, String>,
    ) -> Self {
        Self::managed(Arc::new(Ec2BackendSecurityGroup {
            clients,
            cluster: cluster.into(),
            vpc: vpc.into(),
            default_tags,
            in_use_wait: IN_USE_WAIT,
        }))
    }

    fn with_source(source: Source) -> Self {
        Self {
            inner: Arc::new(Inner {
                source,
                cached: Mutex::new(None),
            }),
        }
    }

    /// The group's ID: the given one, the cached one, else found by tags or created.
    pub async fn get(&self) -> Result<String, BackendError> {
        let api = match &self.inner.source {
            Source::Given(id) => return Ok(id.clone()),
            Source::Managed(api) => api,
        };
        let mut cached = self.inner.cached.lock().await;
        if let Some(id) = cached.as_ref() {
            return Ok(id.clone());
        }
        let obtained = api.ensure().await?;
        let created = matches!(obtained, Obtained::Created(_));
        tracing::info!(id = obtained.id(), created, "backend security group");
        let id = obtained.id().to_owned();
        *cached = Some(id.clone());
        Ok(id)
    }

    /// Deletes the cluster's group (found by its tags) unless it is the user's or still in
    /// use. Clears the cached ID unless the group stays.
    pub async fn release(&self) -> Result<Released, BackendError> {
        let api = match &self.inner.source {
            Source::Given(id) => return Ok(Released::UserGiven(id.clone())),
            Source::Managed(api) => api,
        };
        let mut cached = self.inner.cached.lock().await;
        let Some(id) = api.find().await? else {
            *cached = None;
            return Ok(Released::NotPresent);
        };
        match api.delete(&id).await? {
            Deletion::Deleted => {
                *cached = None;
                Ok(Released::Deleted(id))
            }
            Deletion::NotFound => {
                *cached = None;
                Ok(Released::NotPresent)
            }
            Deletion::InUse(reason) => {
                *cached = Some(id.clone());
                Ok(Released::InUse { id, reason })
            }
        }
    }
}

/// How long a deletion is retried while AWS reports the group in use: the network interfaces
/// of a load balancer deleted a moment ago keep their security groups for a few minutes.
const IN_USE_WAIT: Duration = Duration::from_secs(180);
/// The pause between those retries.
const IN_USE_INTERVAL: Duration = Duration::from_secs(10);

/// [`BackendSecurityGroupApi`] over EC2.
struct Ec2BackendSecurityGroup {
    clients: AwsClients,
    cluster: String,
    vpc: String,
    default_tags: BTreeMap<String, String>,
    in_use_wait: Duration,
}

fn backend_error(error: BackendSecurityGroupError) -> BackendError {
    BackendError::new(error.category().as_str(), error.to_string())
}

impl BackendSecurityGroupApi for Ec2BackendSecurityGroup {
    fn ensure(&self) -> BoxFuture<'_, Result<Obtained, BackendError>> {
        Box::pin(async move {
            backend_sg::ensure(&self.clients, &self.cluster, &self.vpc, &self.default_tags)
                .await
                .map_err(backend_error)
        })
    }

    fn find(&self) -> BoxFuture<'_, Result<Option<String>, BackendError>> {
        Box::pin(async move {
            backend_sg::find(&self.clients, &self.cluster, &self.vpc)
                .await
                .map_err(backend_error)
        })
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Deletion, BackendError>> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + self.in_use_wait;
            loop {
                let deletion = backend_sg::delete(&self.clients, id)
                    .await
                    .map_err(backend_error)?;
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

#[cfg(test)]
mod tests;
