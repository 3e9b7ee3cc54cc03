//! One read of everything the cluster owns, shared by the deploys of a resync.
//!
//! A deploy starts by finding its stack's load balancers, target groups and security groups
//! (four reads: [`discover::owned`]). When every stack is deployed again at once (the periodic
//! resync, or a new leader's first pass) those reads can be made once for the whole cluster
//! instead: one tag-filtered `GetResources` per 100 resources, `DescribeLoadBalancers` and
//! `DescribeTargetGroups` 20 ARNs a call, one `DescribeSecurityGroups` per 1,000 groups.
//! [`Prefetch::take`] hands each stack its part of that snapshot.
//!
//! A snapshot must never hide what a deploy wrote, or the next deploy would create it again.
//! A stack's part is therefore used only when no deploy of that stack ran, even partly, after
//! the snapshot's reads began; only while the leadership it was read under lasts; and only
//! within [`DeployConfig::prefetch_ttl`](crate::DeployConfig). Everything else discovers as
//! before. Dry runs never use it.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_sdk_elasticloadbalancingv2::types as elbv2;
use futures::future::try_join;
use tokio::sync::watch;

use model::stack::{ResourceType, StackKind};
use model::tags::{TAG_CLUSTER, Tags};

use super::call::Ctx;
use super::discover::{self, Found, Owned};
use super::error::{DeployError, ResourceRef};
use super::tags::main_load_balancer;

/// A stack, by kind and ID.
type StackKey = (StackKind, String);

/// A snapshot younger than this is not read again when another resync asks for one (the group
/// and Service resyncs fire together).
const REUSE_WITHIN: Duration = Duration::from_secs(30);

/// The cluster-wide snapshot and what deploys did since.
#[derive(Debug, Default)]
pub struct Prefetch {
    state: Mutex<State>,
    /// Held while a snapshot is read: deploys starting meanwhile wait for it.
    reading: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct State {
    snapshot: Option<Snapshot>,
    /// Stacks a deploy is running for.
    running: HashSet<StackKey>,
    /// When a deploy of each stack last started or ended.
    touched: HashMap<StackKey, Instant>,
}

#[derive(Debug)]
struct Snapshot {
    /// When its reads began.
    started: Instant,
    /// The leader flag as it was then; `None` without a write gate.
    leadership: Option<watch::Receiver<bool>>,
    /// Each stack's part; a stack without one owned nothing.
    stacks: HashMap<StackKey, Owned>,
}

impl State {
    /// The snapshot, when it may serve this stack (see the module documentation).
    fn usable(&mut self, key: &StackKey, ttl: Duration) -> Option<&mut Snapshot> {
        let touched = self.touched.get(key).copied();
        let running = self.running.contains(key);
        self.snapshot.as_mut().filter(|snapshot| {
            !running
                && snapshot.started.elapsed() < ttl
                && snapshot.leadership_unchanged()
                && touched.is_none_or(|t| t < snapshot.started)
        })
    }
}

impl Snapshot {
    fn leadership_unchanged(&self) -> bool {
        self.leadership
            .as_ref()
            .is_none_or(|rx| matches!(rx.has_changed(), Ok(false)))
    }
}

/// A deploy of one stack in progress: marks the stack touched again when dropped.
pub struct Running<'p> {
    prefetch: &'p Prefetch,
    key: StackKey,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let mut state = self.prefetch.lock();
        state.running.remove(&self.key);
        state.touched.insert(self.key.clone(), Instant::now());
    }
}

impl Prefetch {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a deploy of a stack: waits for a snapshot being read, then returns the stack's
    /// part of the snapshot when it may be used (see the module documentation), and the guard
    /// that records the deploy.
    pub async fn take(
        &self,
        kind: StackKind,
        stack_id: &str,
        ttl: Duration,
    ) -> (Option<Owned>, Running<'_>) {
        drop(self.reading.lock().await);
        let key = (kind, stack_id.to_owned());
        let mut state = self.lock();
        let owned = state
            .usable(&key, ttl)
            .map(|snapshot| snapshot.stacks.remove(&key).unwrap_or_default());
        state.running.insert(key.clone());
        state.touched.insert(key.clone(), Instant::now());
        (
            owned,
            Running {
                prefetch: self,
                key,
            },
        )
    }

    /// The stack's load balancer (the `LoadBalancer` resource, never a frontend NLB) in the
    /// snapshot, without taking the stack's part: `Some(None)` when the snapshot saw none, `None`
    /// when the snapshot may not be used for the stack.
    pub async fn load_balancer(
        &self,
        kind: StackKind,
        stack_id: &str,
        ttl: Duration,
    ) -> Option<Option<elbv2::LoadBalancer>> {
        drop(self.reading.lock().await);
        let key = (kind, stack_id.to_owned());
        let mut state = self.lock();
        let snapshot = state.usable(&key, ttl)?;
        let owned = snapshot.stacks.get(&key);
        Some(
            owned
                .and_then(|o| main_load_balancer(&o.load_balancers, |f| f.resource_id(kind)))
                .map(|f| f.item.clone()),
        )
    }

    /// Reads the snapshot (unless one younger than [`REUSE_WITHIN`] exists, or this replica does
    /// not lead). Returns how many stacks it covers, or `None` when none was read.
    pub async fn read(&self, ctx: &Ctx<'_>) -> Result<Option<usize>, DeployError> {
        let _reading = self.reading.lock().await;
        if self
            .lock()
            .snapshot
            .as_ref()
            .is_some_and(|s| s.started.elapsed() < REUSE_WITHIN && s.leadership_unchanged())
        {
            return Ok(None);
        }
        let leadership = ctx.clients.calls().write_gate().map(|mut rx| {
            rx.borrow_and_update();
            rx
        });
        if leadership.as_ref().is_some_and(|rx| !*rx.borrow()) {
            return Ok(None);
        }
        let started = Instant::now();
        let stacks = read_all(ctx).await?;
        let covered = stacks.len();
        let mut state = self.lock();
        // What no running deploy needs and that happened before these reads is forgotten.
        let State {
            running, touched, ..
        } = &mut *state;
        touched.retain(|key, t| *t >= started || running.contains(key));
        state.snapshot = Some(Snapshot {
            started,
            leadership,
            stacks,
        });
        Ok(Some(covered))
    }
}

/// Everything of the cluster, split by stack.
async fn read_all(ctx: &Ctx<'_>) -> Result<HashMap<StackKey, Owned>, DeployError> {
    let cluster = ctx.config.cluster_name.as_str();
    let what = ResourceRef::new(ResourceType::LoadBalancer, "");
    let sg_what = ResourceRef::new(ResourceType::SecurityGroup, "");
    let filters = vec![discover::cluster_tag_filter(cluster)];
    let sg_filters = vec![discover::tag_filter(TAG_CLUSTER, cluster)];
    let (elbv2, security_groups) = try_join(
        discover::tagged_elbv2(ctx, &what, filters),
        discover::describe_security_groups(ctx, &sg_what, sg_filters),
    )
    .await?;
    let (lb_arns, tg_arns) = discover::split_elbv2(elbv2);
    let (load_balancers, target_groups) = try_join(
        discover::describe_load_balancers(ctx, lb_arns),
        discover::describe_target_groups(ctx, tg_arns),
    )
    .await?;
    let mut stacks: HashMap<StackKey, Owned> = HashMap::new();
    file(&mut stacks, load_balancers, cluster, |o| {
        &mut o.load_balancers
    });
    file(&mut stacks, target_groups, cluster, |o| {
        &mut o.target_groups
    });
    file(&mut stacks, security_groups, cluster, |o| {
        &mut o.security_groups
    });
    Ok(stacks)
}

/// Files each resource under the stacks it belongs to, in the list `list` picks.
fn file<T: Clone>(
    stacks: &mut HashMap<StackKey, Owned>,
    found: Vec<Found<T>>,
    cluster: &str,
    list: fn(&mut Owned) -> &mut Vec<Found<T>>,
) {
    for item in found {
        for key in stack_keys(&item.tags, cluster) {
            list(stacks.entry(key).or_default()).push(item.clone());
        }
    }
}

/// The stacks (of either kind) whose resource these tags mark as ours.
fn stack_keys(tags: &Tags, cluster: &str) -> Vec<StackKey> {
    if tags.get(TAG_CLUSTER).map(String::as_str) != Some(cluster) {
        return Vec::new();
    }
    [StackKind::Ingress, StackKind::Service]
        .into_iter()
        .filter_map(|kind| {
            let stack = tags.get(kind.stack_tag())?;
            (!stack.is_empty()).then(|| (kind, stack.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests;
