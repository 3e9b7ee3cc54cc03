//! The cluster's shared backend security group, obtained when a build first needs it and
//! released when the last group using it is deleted.
//!
//! [`BackendSecurityGroup::get`] finds the group by its tags or creates it (see
//! the AWS crate's `backend_sg`) and caches the ID; [`BackendSecurityGroup::release`] deletes
//! it again. A group AWS still reports in use (`DependencyViolation`: a load balancer or its
//! network interfaces, or another group's rule, such as the TargetGroupBinding rules on node
//! groups, refers to it) is kept, and so is its cached ID. A group given with
//! `--backend-security-group` is the user's: it is returned as given and never deleted.
//!
//! Calls are serialized, so concurrent builds create the group at most once. Over EC2, a
//! deletion refused as in use is retried for up to three minutes (the network interfaces of a
//! load balancer deleted a moment ago hold on to its groups for a while); after that, or when
//! it fails, the group reconciler releases again at the next resync or group deletion.

use std::sync::Arc;

use tokio::sync::Mutex;

use crate::backends::{BackendError, BoxFuture};

/// What a deletion did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deletion {
    /// The group was deleted.
    Deleted,
    /// The group was not there (any more).
    NotFound,
    /// AWS refused with `DependencyViolation`: a load balancer (or its network interfaces, for
    /// a few minutes after the load balancer's deletion) still uses it, or another group's
    /// rule references it. The group stays; AWS's message says why.
    InUse(String),
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

#[cfg(test)]
mod tests;
