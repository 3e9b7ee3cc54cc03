//! Leader election on a `coordination.k8s.io/v1` Lease, with client-go's protocol and timings
//! (lease 15 s, renew deadline 10 s, retry 2 s).
//!
//! Every replica keeps its caches warm and serves the webhook; only the leader writes. The
//! elector publishes "is leader" on a `watch` channel that every writer checks before each
//! write. Leadership is dropped at once when a renewal finds another holder, and when no
//! renewal has succeeded for the renew deadline — shorter than the lease, so the flag flips
//! before another replica may take over.
//!
//! Expiry is judged the way client-go does: a lease held by someone else is taken over only
//! after it has stayed unchanged (same resourceVersion) for a whole lease duration *as observed
//! locally*, so clock skew between replicas does not matter. Writes use replace with the
//! resourceVersion read, so two candidates racing for an expired lease cannot both win.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, PostParams};
use tokio::sync::watch;

/// Lease settings (`--leader-election-id`, `--leader-election-namespace`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseSettings {
    pub name: String,
    pub namespace: String,
    /// This replica's identity (the pod name); unique among candidates.
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl LeaseSettings {
    /// Upstream's defaults for the lease `name` in `namespace`.
    pub fn new(
        name: impl Into<String>,
        namespace: impl Into<String>,
        identity: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            namespace: namespace.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// A receiver that always says "leader" (leader election disabled).
pub fn always_leader() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(true);
    // Keep the sender alive for the life of the process so receivers never see it closed.
    std::mem::forget(tx);
    rx
}

/// The outcome of one acquire-or-renew attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// We hold the lease now.
    Held,
    /// Someone else holds it (or won the race).
    Lost,
}

/// Runs the election for one replica.
pub struct LeaderElector {
    api: Api<Lease>,
    settings: LeaseSettings,
    tx: watch::Sender<bool>,
    /// The lease record last seen: its resourceVersion and when we first saw it.
    observed: Option<(String, Instant)>,
}

impl LeaderElector {
    /// An elector and the "is leader" receiver (false until the lease is acquired).
    pub fn new(client: Client, settings: LeaseSettings) -> (Self, watch::Receiver<bool>) {
        let (tx, rx) = watch::channel(false);
        let api = Api::namespaced(client, &settings.namespace);
        (
            Self {
                api,
                settings,
                tx,
                observed: None,
            },
            rx,
        )
    }

    /// Another receiver of the "is leader" flag.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.tx.subscribe()
    }

    /// Acquires, renews, and on `shutdown` releases the lease. Returns after releasing.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut last_renewal: Option<Instant> = None;
        loop {
            let leading = *self.tx.borrow();
            match self.try_acquire_or_renew().await {
                Ok(Attempt::Held) => {
                    last_renewal = Some(Instant::now());
                    if !leading {
                        tracing::info!(lease = %self.settings.name, identity = %self.settings.identity, "became leader");
                        self.tx.send_replace(true);
                    }
                }
                Ok(Attempt::Lost) => {
                    if leading {
                        tracing::warn!(lease = %self.settings.name, "lost the lease to another replica");
                        self.tx.send_replace(false);
                    }
                    last_renewal = None;
                }
                Err(error) => {
                    tracing::warn!(lease = %self.settings.name, %error, "lease request failed");
                    let overdue =
                        last_renewal.is_none_or(|t| t.elapsed() >= self.settings.renew_deadline);
                    if leading && overdue {
                        tracing::warn!(lease = %self.settings.name, "could not renew within the deadline; stepping down");
                        self.tx.send_replace(false);
                        last_renewal = None;
                    }
                }
            }
            let pause = self.pause(last_renewal);
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(pause) => {}
            }
        }
        if *self.tx.borrow() {
            self.tx.send_replace(false);
            if let Err(error) = self.release().await {
                tracing::warn!(lease = %self.settings.name, %error, "could not release the lease");
            }
        }
    }

    /// Sleep before the next attempt: the retry period, but never past the renew deadline.
    fn pause(&self, last_renewal: Option<Instant>) -> Duration {
        let retry = self.settings.retry_period;
        match last_renewal {
            Some(t) if *self.tx.borrow() => {
                let left = self.settings.renew_deadline.saturating_sub(t.elapsed());
                retry.min(left.max(Duration::from_millis(10)))
            }
            _ => retry,
        }
    }

    fn spec(&self, previous: Option<&LeaseSpec>, now: Timestamp) -> LeaseSpec {
        let ours = previous.and_then(|p| p.holder_identity.as_deref())
            == Some(self.settings.identity.as_str());
        let transitions = previous.and_then(|p| p.lease_transitions).unwrap_or(0);
        LeaseSpec {
            holder_identity: Some(self.settings.identity.clone()),
            lease_duration_seconds: Some(
                i32::try_from(self.settings.lease_duration.as_secs()).unwrap_or(i32::MAX),
            ),
            acquire_time: if ours {
                previous.and_then(|p| p.acquire_time.clone())
            } else {
                Some(MicroTime(now))
            },
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(if ours || previous.is_none() {
                transitions
            } else {
                transitions + 1
            }),
            ..LeaseSpec::default()
        }
    }

    /// One attempt: create the lease if absent; renew it if ours; take it over if its holder
    /// let it expire; otherwise leave it.
    pub async fn try_acquire_or_renew(&mut self) -> Result<Attempt, kube::Error> {
        let now = Timestamp::now();
        let Some(current) = self.api.get_opt(&self.settings.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.settings.name.clone()),
                    namespace: Some(self.settings.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(None, now)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(created) => {
                    self.observe(&created);
                    Ok(Attempt::Held)
                }
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(Attempt::Lost),
                Err(error) => Err(error),
            };
        };
        self.observe(&current);
        let spec = current.spec.as_ref();
        let holder = spec
            .and_then(|s| s.holder_identity.as_deref())
            .unwrap_or_default();
        let ours = holder == self.settings.identity;
        if !holder.is_empty() && !ours && !self.expired(spec) {
            return Ok(Attempt::Lost);
        }
        let mut next = current.clone();
        next.spec = Some(self.spec(spec, now));
        match self
            .api
            .replace(&self.settings.name, &PostParams::default(), &next)
            .await
        {
            Ok(updated) => {
                self.observe(&updated);
                Ok(Attempt::Held)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(Attempt::Lost),
            Err(error) => Err(error),
        }
    }

    /// Records the lease's version; a new version restarts the local expiry clock.
    fn observe(&mut self, lease: &Lease) {
        let version = lease.metadata.resource_version.clone().unwrap_or_default();
        match &self.observed {
            Some((seen, _)) if *seen == version => {}
            _ => self.observed = Some((version, Instant::now())),
        }
    }

    /// Whether the observed lease has stayed unchanged for its whole duration.
    fn expired(&self, spec: Option<&LeaseSpec>) -> bool {
        let duration = spec
            .and_then(|s| s.lease_duration_seconds)
            .and_then(|s| u64::try_from(s).ok())
            .map_or(self.settings.lease_duration, Duration::from_secs);
        self.observed
            .as_ref()
            .is_some_and(|(_, since)| since.elapsed() >= duration)
    }

    /// Gives the lease up so another replica can take it at once.
    async fn release(&mut self) -> Result<(), kube::Error> {
        let Some(mut current) = self.api.get_opt(&self.settings.name).await? else {
            return Ok(());
        };
        let ours = current
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref())
            == Some(self.settings.identity.as_str());
        if !ours {
            return Ok(());
        }
        if let Some(spec) = current.spec.as_mut() {
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(1);
            spec.renew_time = Some(MicroTime(Timestamp::now()));
        }
        self.api
            .replace(&self.settings.name, &PostParams::default(), &current)
            .await?;
        tracing::info!(lease = %self.settings.name, "released the lease");
        Ok(())
    }
}
