//! The shared state of the networking rules: every binding's contribution, the groups we have
//! put rules on, and the reconcile of those groups against EC2.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use contract::crd::TargetGroupBindingNetworking;
use tokio::sync::Mutex;

use super::{
    Contribution, NetworkTargets, NetworkingError, RulePlan, TargetMode, TargetSecurityGroups,
    aggregate, binding_permissions, plan, select_group,
};
use crate::backends::{BackendError, NOT_FOUND};
use crate::keys::ObjKey;

/// What one networking reconcile changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkingOutcome {
    /// Rules added.
    pub authorized: usize,
    /// Labelled rules removed.
    pub revoked: usize,
    /// Some binding's contribution is not known yet (e.g. just after a restart): rules were
    /// only added, revocations wait until every binding has been reconciled.
    pub partial: bool,
}

/// The networking rules of all bindings; cheap to clone (shared by the binding workers).
/// Reconciles are serialised: each one sees every binding's latest contribution.
#[derive(Clone)]
pub struct NetworkingManager {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Arc<dyn TargetSecurityGroups>,
    cluster: String,
    restricted: bool,
    /// `--service-target-eni-security-group-tags`: tags a target ENI's group must carry (on
    /// top of the cluster tag) to take the rules when the ENI has several groups.
    target_eni_tags: BTreeMap<String, String>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    contributions: BTreeMap<ObjKey, Contribution>,
    /// Groups that may carry our labelled rules.
    tracked: BTreeSet<String>,
    /// Groups whose labelled rules may be stale (a revocation was held back or failed).
    dirty: BTreeSet<String>,
    /// Whether the cluster's tagged groups were added to `tracked` (once, when every binding
    /// is first known), so rules left from before a restart are collected too.
    seeded: bool,
}

impl NetworkingManager {
    /// `restricted` is upstream's default (`--disable-restricted-sg-rules=false`): rules from
    /// one source group are merged into one port range per protocol.
    pub fn new(
        backend: Arc<dyn TargetSecurityGroups>,
        cluster_name: impl Into<String>,
        restricted: bool,
    ) -> Self {
        Self::with_target_eni_tags(backend, cluster_name, restricted, BTreeMap::new())
    }

    /// Like [`Self::new`]; of a target ENI's several security groups, only the one tagged for
    /// the cluster that also carries every tag of `target_eni_tags` (upstream's
    /// `--service-target-eni-security-group-tags`) takes the rules.
    pub fn with_target_eni_tags(
        backend: Arc<dyn TargetSecurityGroups>,
        cluster_name: impl Into<String>,
        restricted: bool,
        target_eni_tags: BTreeMap<String, String>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                backend,
                cluster: cluster_name.into(),
                restricted,
                target_eni_tags,
                state: Mutex::new(State::default()),
            }),
        }
    }

    pub fn cluster_name(&self) -> &str {
        &self.inner.cluster
    }

    /// The rules a binding with `networking` wants for `targets`, by target security group:
    /// resolves the targets' ENIs and picks each ENI's group through the backend.
    pub async fn contribution(
        &self,
        networking: Option<&TargetGroupBindingNetworking>,
        targets: &NetworkTargets,
    ) -> Result<Contribution, NetworkingError> {
        let Some(networking) =
            networking.filter(|n| n.ingress.as_ref().is_some_and(|i| !i.is_empty()))
        else {
            return Ok(Contribution::new());
        };
        if targets.endpoints.is_empty() {
            return Ok(Contribution::new());
        }
        let backend = &self.inner.backend;
        let ids: Vec<String> = targets
            .endpoints
            .iter()
            .map(|e| e.id.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let enis = backend
            .enis(targets.mode, &ids)
            .await
            .map_err(NetworkingError::Aws)?;
        let missing: Vec<String> = targets
            .endpoints
            .iter()
            .filter(|e| !enis.contains_key(&e.id))
            .map(|e| e.name.clone())
            .collect();
        if !missing.is_empty() {
            return Err(match targets.mode {
                TargetMode::Ip => NetworkingError::PodEni(missing),
                TargetMode::Instance => NetworkingError::NodeEni(missing),
            });
        }
        let untagged: Vec<String> = enis
            .values()
            .filter(|e| e.security_groups.len() != 1)
            .flat_map(|e| e.security_groups.iter().cloned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let tags = if untagged.is_empty() {
            BTreeMap::new()
        } else {
            backend
                .tags(&untagged)
                .await
                .map_err(NetworkingError::Aws)?
        };
        let mut by_group: BTreeMap<String, Vec<_>> = BTreeMap::new();
        for endpoint in &targets.endpoints {
            if let Some(eni) = enis.get(&endpoint.id) {
                let group =
                    select_group(eni, &tags, &self.inner.cluster, &self.inner.target_eni_tags)?;
                by_group.entry(group).or_default().push(endpoint);
            }
        }
        let mut out = Contribution::new();
        for (group, endpoints) in by_group {
            let permissions = binding_permissions(networking, targets.mode, &endpoints)?;
            if !permissions.is_empty() {
                out.insert(group, permissions);
            }
        }
        Ok(out)
    }

    /// Records what the binding `key` wants and makes the groups it touches (and any group no
    /// binding wants any more) match the union of all contributions. `expected` are the keys
    /// of every binding with networking in the cluster: until each of them has reported, rules
    /// are only added, never revoked.
    pub async fn reconcile(
        &self,
        key: &ObjKey,
        contribution: Contribution,
        expected: &BTreeSet<ObjKey>,
    ) -> Result<NetworkingOutcome, NetworkingError> {
        let mut state = self.inner.state.lock().await;
        let mut touched: BTreeSet<String> = contribution.keys().cloned().collect();
        if let Some(old) = state.contributions.insert(key.clone(), contribution) {
            touched.extend(old.into_keys());
        }
        let gone: Vec<ObjKey> = state
            .contributions
            .keys()
            .filter(|k| *k != key && !expected.contains(k))
            .cloned()
            .collect();
        for k in gone {
            if let Some(old) = state.contributions.remove(&k) {
                touched.extend(old.into_keys());
            }
        }
        let complete = expected.iter().all(|k| state.contributions.contains_key(k));
        let desired = aggregate(state.contributions.values(), self.inner.restricted);
        if complete && !state.seeded {
            let seeds = self
                .inner
                .backend
                .cluster_groups()
                .await
                .map_err(NetworkingError::Aws)?;
            state.tracked.extend(seeds);
            state.seeded = true;
        }
        state.tracked.extend(desired.keys().cloned());
        if complete {
            touched.extend(state.dirty.iter().cloned());
            touched.extend(
                state
                    .tracked
                    .iter()
                    .filter(|g| !desired.contains_key(*g))
                    .cloned(),
            );
        }
        let mut outcome = NetworkingOutcome {
            partial: !complete,
            ..NetworkingOutcome::default()
        };
        if touched.is_empty() {
            return Ok(outcome);
        }
        let groups: Vec<String> = touched.into_iter().collect();
        let actual = self
            .inner
            .backend
            .ingress(&groups)
            .await
            .map_err(NetworkingError::Aws)?;
        let none = BTreeSet::new();
        let mut first_error = None;
        for group in &groups {
            let wanted = desired.get(group).unwrap_or(&none);
            let Some(current) = actual.get(group) else {
                // The group is gone, and our rules with it.
                state.tracked.remove(group);
                state.dirty.remove(group);
                if !wanted.is_empty() {
                    first_error.get_or_insert(NetworkingError::Aws(BackendError::new(
                        NOT_FOUND,
                        format!("security group {group} of the targets not found"),
                    )));
                }
                continue;
            };
            let mut rules = plan(wanted, current);
            if !complete && !rules.revoke.is_empty() {
                rules.revoke.clear();
                state.dirty.insert(group.clone());
            }
            match self.apply(group, &rules).await {
                Ok(()) => {
                    outcome.authorized += rules.authorize.len();
                    outcome.revoked += rules.revoke.len();
                    if complete {
                        state.dirty.remove(group);
                        if wanted.is_empty() {
                            state.tracked.remove(group);
                        }
                    }
                }
                Err(error) => {
                    state.dirty.insert(group.clone());
                    first_error.get_or_insert(NetworkingError::Aws(error));
                }
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(outcome),
        }
    }

    /// Drops the contribution of the binding `key` (being deleted) and revokes the rules no
    /// other binding wants.
    pub async fn release(
        &self,
        key: &ObjKey,
        expected: &BTreeSet<ObjKey>,
    ) -> Result<NetworkingOutcome, NetworkingError> {
        self.reconcile(key, Contribution::new(), expected).await
    }

    /// Authorises first, then revokes: traffic that stays wanted is never cut off.
    async fn apply(&self, group: &str, rules: &RulePlan) -> Result<(), BackendError> {
        if !rules.authorize.is_empty() {
            self.inner
                .backend
                .authorize(group, &rules.authorize)
                .await?;
        }
        if !rules.revoke.is_empty() {
            self.inner.backend.revoke(group, &rules.revoke).await?;
        }
        Ok(())
    }
}
