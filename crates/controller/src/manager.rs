//! Wiring of the reconciling controllers: the watches (caches that keep only the fields we
//! use), what each change enqueues, and the leader-gated workers.
//!
//! | watch | enqueues |
//! |---|---|
//! | Ingress | the groups it joins or leaves (via the [`GroupIndex`]) |
//! | IngressClass, IngressClassParams, Namespace | groups whose membership or parameters changed |
//! | Service | groups referencing it; bindings of it; itself (NLB), when ours or carrying our finalizer and its spec, annotations or deletion changed |
//! | TargetGroupBinding | itself |
//! | EndpointSlice | bindings of its Service |
//! | Node | `instance` bindings, when readiness, labels, taints or provider ID change |
//! | Pod | bindings named by its readiness gates, when its conditions change |
//! | Secret (metadata, one watch per referenced Secret) | groups whose Ingresses reference it |
//!
//! Every replica keeps the caches warm; only the leader's workers reconcile.

use std::future::Future;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use contract::crd::{TargetGroupBinding, TargetType};
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use kube::Client;
use kube::runtime::watcher;
use tokio::sync::watch;

use crate::FIELD_MANAGER;
use crate::backends::{ServiceStackBuilder, StackBuilder, StackDeployer, TargetRegistrar};
use crate::backoff::BackoffPolicy;
use crate::binding::{self, BindingError, BindingReconciler};
use crate::cache::{self, Cache, Change};
use crate::endpoints::{READINESS_GATE_PREFIX, SERVICE_NAME_LABEL, node_ready_status};
use crate::events::EventRecorder;
use crate::group::{self, GroupReconciler, ReconcileError};
use crate::index::GroupIndex;
use crate::keys::ObjKey;
use crate::kube_ops::{KubeOps, LiveOps};
use crate::metrics::ControllerMetrics;
use crate::queue::WorkQueue;
use crate::runner::{self, RunnerConfig, Step};
use crate::secrets::SecretWatches;
use model::group::GroupId;

/// How the controllers run.
#[derive(Clone, Debug)]
pub struct ControllerSettings {
    /// `--ingress-class`.
    pub ingress_class: String,
    /// `--sync-period`: every group and binding is reconciled this often.
    pub sync_period: Duration,
    /// `--ingress-max-concurrent-reconciles`.
    pub ingress_concurrency: usize,
    /// `--targetgroupbinding-max-concurrent-reconciles`.
    pub binding_concurrency: usize,
    /// Backoff of failed group reconciles.
    pub ingress_backoff: BackoffPolicy,
    /// Backoff of failed binding reconciles (`--targetgroupbinding-max-exponential-backoff-delay`).
    pub binding_backoff: BackoffPolicy,
    /// This replica's name in events (the pod name).
    pub instance: String,
    /// `--service-max-concurrent-reconciles`.
    pub service_concurrency: usize,
    /// Which Services become NLBs (`--load-balancer-class`, `ServiceTypeLoadBalancerOnly`).
    pub service_selection: contract::service::Selection,
    /// `--watch-namespace`: namespaced objects (Ingresses, Services, EndpointSlices, Pods,
    /// TargetGroupBindings) are watched in this namespace only; `None` watches all.
    pub watch_namespace: Option<String>,
}

impl Default for ControllerSettings {
    fn default() -> Self {
        Self {
            ingress_class: "alb".to_owned(),
            sync_period: Duration::from_secs(10 * 3600),
            ingress_concurrency: 3,
            binding_concurrency: 3,
            service_concurrency: 3,
            service_selection: contract::service::Selection::default(),
            ingress_backoff: BackoffPolicy::default(),
            binding_backoff: BackoffPolicy::default(),
            instance: FIELD_MANAGER.to_owned(),
            watch_namespace: None,
        }
    }
}

/// What the reconcilers drive.
#[derive(Clone)]
pub struct Backends {
    pub builder: Arc<dyn StackBuilder>,
    pub deployer: Arc<dyn StackDeployer>,
    pub registrar: Arc<dyn TargetRegistrar>,
    /// Builds Services' NLB stacks; `None` disables the Service controller
    /// (`EnableServiceController=false`).
    pub service_builder: Option<Arc<dyn ServiceStackBuilder>>,
    /// The security-group rules of bindings' `spec.networking`; `None` leaves them alone.
    pub networking: Option<crate::networking::NetworkingManager>,
    /// The backend security group, released when the last group is deleted; `None` leaves it
    /// alone.
    pub backend_security_group: Option<crate::backend_sg::BackendSecurityGroup>,
}

pub use crate::cache_view::{AdmissionView, CacheView};

/// Handles on the running controllers.
#[derive(Clone)]
pub struct Controllers {
    pub view: CacheView,
    pub index: Arc<RwLock<GroupIndex>>,
    pub ingresses: Cache<Ingress>,
    pub services: Cache<Service>,
    pub slices: Cache<EndpointSlice>,
    pub pods: Cache<Pod>,
    pub nodes: Cache<Node>,
    pub groups: WorkQueue<GroupId>,
    pub bindings: WorkQueue<ObjKey>,
    /// Services to reconcile into NLBs.
    pub service_queue: WorkQueue<ObjKey>,
    /// Watches on the Secrets the Ingresses reference.
    pub secrets: SecretWatches,
}

impl Controllers {
    /// Whether every cache has its initial list.
    pub fn is_ready(&self) -> bool {
        self.view.classes.is_ready()
            && self.view.params.is_ready()
            && self.view.namespaces.is_ready()
            && self.view.bindings.is_ready()
            && self.ingresses.is_ready()
            && self.services.is_ready()
            && self.slices.is_ready()
            && self.pods.is_ready()
            && self.nodes.is_ready()
    }

    /// Resolves once every cache has its initial list.
    pub async fn wait_ready(&self) {
        self.view.classes.wait_ready().await;
        self.view.params.wait_ready().await;
        self.view.namespaces.wait_ready().await;
        self.view.bindings.wait_ready().await;
        self.ingresses.wait_ready().await;
        self.services.wait_ready().await;
        self.slices.wait_ready().await;
        self.pods.wait_ready().await;
        self.nodes.wait_ready().await;
    }

    /// The admission webhooks' view of the cluster, over these caches.
    pub fn admission_view(&self) -> AdmissionView {
        AdmissionView {
            view: self.view.clone(),
            services: self.services.clone(),
        }
    }

    /// The objects of the Ingress webhook's group check, over these caches.
    pub fn group_objects(&self) -> crate::cache_view::GroupCacheObjects {
        crate::cache_view::GroupCacheObjects {
            view: self.view.clone(),
            ingresses: self.ingresses.clone(),
            services: self.services.clone(),
        }
    }

    /// Stops handing out work (in-flight reconciles finish).
    pub fn shutdown(&self) {
        self.groups.shutdown();
        self.bindings.shutdown();
        self.service_queue.shutdown();
        self.secrets.stop();
    }
}

/// Starts the watches and, once they are synced, the workers. The returned future runs until
/// the queues are shut down.
pub fn start(
    client: Client,
    leader: watch::Receiver<bool>,
    backends: Backends,
    settings: ControllerSettings,
    metrics: ControllerMetrics,
) -> (Controllers, impl Future<Output = ()> + Send) {
    let recorder = Arc::new(EventRecorder::new(
        client.clone(),
        FIELD_MANAGER,
        settings.instance.clone(),
    ));
    let ops: Arc<dyn KubeOps> = Arc::new(LiveOps::new(client.clone(), leader.clone(), recorder));
    let index = Arc::new(RwLock::new(GroupIndex::new(settings.ingress_class.clone())));
    let groups: WorkQueue<GroupId> =
        WorkQueue::instrumented(metrics.work.instruments(crate::group::CONTROLLER));
    let secrets = {
        let (index, groups) = (index.clone(), groups.clone());
        SecretWatches::new(
            client.clone(),
            Arc::new(move |key: &ObjKey| {
                groups.add_all(
                    index
                        .read()
                        .unwrap_or_else(PoisonError::into_inner)
                        .groups_for_secret(key),
                );
            }),
        )
    };
    let controllers = Controllers {
        view: CacheView::default(),
        index,
        ingresses: Cache::new(),
        services: Cache::new(),
        slices: Cache::new(),
        pods: Cache::new(),
        nodes: Cache::new(),
        groups,
        bindings: WorkQueue::instrumented(metrics.work.instruments(crate::binding::CONTROLLER)),
        service_queue: WorkQueue::instrumented(
            metrics.work.instruments(crate::service::CONTROLLER),
        ),
        secrets,
    };
    let watches = watches(
        client,
        settings.watch_namespace.clone(),
        backends
            .service_builder
            .is_some()
            .then(|| settings.service_selection.clone()),
        &controllers,
    );
    let workers = workers(
        controllers.clone(),
        leader,
        backends,
        ops,
        settings,
        metrics,
    );
    let run = async move {
        tokio::join!(watches, workers);
    };
    (controllers, run)
}

fn watches(
    client: Client,
    scope: Option<String>,
    service_selection: Option<contract::service::Selection>,
    c: &Controllers,
) -> impl Future<Output = ()> + Send + use<> {
    let all = watcher::Config::default;
    let reclassify = {
        let (index, view, groups) = (c.index.clone(), c.view.clone(), c.groups.clone());
        let secrets = c.secrets.clone();
        move || {
            let mut index = index.write().unwrap_or_else(PoisonError::into_inner);
            groups.add_all(index.reclassify(&view));
            // A class change can make Ingresses ours (or not): their Secrets with them.
            secrets.sync(&index.referenced_secrets());
        }
    };
    let classes = {
        let reclassify = reclassify.clone();
        cache::watch_into(
            client.clone(),
            scope.clone(),
            all(),
            c.view.classes.clone(),
            cache::strip,
            move |_| reclassify(),
        )
    };
    let params = {
        let reclassify = reclassify.clone();
        cache::watch_into(
            client.clone(),
            scope.clone(),
            all(),
            c.view.params.clone(),
            cache::strip,
            move |_| reclassify(),
        )
    };
    let namespaces = cache::watch_into(
        client.clone(),
        scope.clone(),
        all(),
        c.view.namespaces.clone(),
        crate::webhook_watches::strip_namespace,
        move |changes| {
            if changes.iter().any(|ch| match ch {
                Change::Applied {
                    old: Some(old),
                    new,
                } => old.metadata.labels != new.metadata.labels,
                _ => true,
            }) {
                reclassify();
            }
        },
    );
    let ingresses = {
        let (index, view, groups) = (c.index.clone(), c.view.clone(), c.groups.clone());
        let secrets = c.secrets.clone();
        cache::watch_into(
            client.clone(),
            scope.clone(),
            all(),
            c.ingresses.clone(),
            cache::strip,
            move |changes| {
                let mut index = index.write().unwrap_or_else(PoisonError::into_inner);
                for change in changes {
                    let affected = match change {
                        Change::Applied { new, .. } => index.apply(new, &view),
                        Change::Deleted(old) => ObjKey::of(old.as_ref())
                            .map(|k| index.delete(&k))
                            .unwrap_or_default(),
                    };
                    groups.add_all(affected);
                }
                secrets.sync(&index.referenced_secrets());
            },
        )
    };
    let services = {
        let (index, groups, bindings, queue) = (
            c.index.clone(),
            c.groups.clone(),
            c.view.bindings.clone(),
            c.bindings.clone(),
        );
        let service_queue = c.service_queue.clone();
        cache::watch_into(
            client.clone(),
            scope.clone(),
            all(),
            c.services.clone(),
            cache::strip,
            move |changes| {
                for change in changes {
                    let Some(key) = ObjKey::of(change.object().as_ref()) else {
                        continue;
                    };
                    groups.add_all(
                        index
                            .read()
                            .unwrap_or_else(PoisonError::into_inner)
                            .groups_for_service(&key),
                    );
                    queue.add_all(bindings_of_service(&bindings, &key.namespace, &key.name));
                    if let Some(selection) = &service_selection
                        && service_needs_reconcile(selection, &change)
                    {
                        service_queue.add(key);
                    }
                }
            },
        )
    };
    let tgbs = {
        let queue = c.bindings.clone();
        cache::watch_into(
            client.clone(),
            scope.clone(),
            all(),
            c.view.bindings.clone(),
            cache::strip,
            move |changes| {
                for change in changes {
                    let relevant = match &change {
                        Change::Applied {
                            old: Some(old),
                            new,
                        } => {
                            old.spec != new.spec
                                || old.metadata.deletion_timestamp.is_some()
                                    != new.metadata.deletion_timestamp.is_some()
                        }
                        _ => true,
                    };
                    if relevant {
                        queue.extend_key(change.object().as_ref());
                    }
                }
            },
        )
    };
    let slices = {
        let (bindings, queue) = (c.view.bindings.clone(), c.bindings.clone());
        cache::watch_into(
            client.clone(),
            scope.clone(),
            all(),
            c.slices.clone(),
            cache::strip,
            move |changes| {
                for change in changes {
                    let slice = change.object();
                    let Some(service) = slice
                        .metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(SERVICE_NAME_LABEL))
                    else {
                        continue;
                    };
                    let namespace = slice.metadata.namespace.clone().unwrap_or_default();
                    queue.add_all(bindings_of_service(&bindings, &namespace, service));
                }
            },
        )
    };
    let nodes = {
        let (bindings, queue) = (c.view.bindings.clone(), c.bindings.clone());
        cache::watch_into(
            client.clone(),
            scope.clone(),
            all(),
            c.nodes.clone(),
            cache::strip_node,
            move |changes| {
                let relevant = changes.iter().any(|ch| match ch {
                    Change::Applied {
                        old: Some(old),
                        new,
                    } => {
                        // Heartbeat timestamps change often; only the Ready status matters
                        // (True, False and Unknown all select differently).
                        old.metadata.labels != new.metadata.labels
                            || old.spec != new.spec
                            || node_ready_status(old) != node_ready_status(new)
                    }
                    _ => true,
                });
                if relevant {
                    queue.add_all(
                        bindings
                            .filter(|b| b.spec.target_type == Some(TargetType::Instance))
                            .iter()
                            .filter_map(|b| ObjKey::of(b.as_ref())),
                    );
                }
            },
        )
    };
    let pods = {
        let queue = c.bindings.clone();
        cache::watch_into(
            client,
            scope,
            all(),
            c.pods.clone(),
            cache::strip_pod,
            move |changes| {
                for change in changes {
                    let conditions_changed = match &change {
                        Change::Applied {
                            old: Some(old),
                            new,
                        } => {
                            old.status.as_ref().map(|s| &s.conditions)
                                != new.status.as_ref().map(|s| &s.conditions)
                        }
                        _ => true,
                    };
                    if !conditions_changed {
                        continue;
                    }
                    let pod = change.object();
                    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
                    let gates = pod.spec.as_ref().and_then(|s| s.readiness_gates.as_ref());
                    for gate in gates.into_iter().flatten() {
                        if let Some(name) = gate.condition_type.strip_prefix(READINESS_GATE_PREFIX)
                        {
                            queue.add(ObjKey::new(namespace.clone(), name));
                        }
                    }
                }
            },
        )
    };
    async move {
        tokio::join!(
            classes, params, namespaces, ingresses, services, tgbs, slices, nodes, pods
        );
    }
}

/// Whether a Service change is one the NLB reconciler acts on: the Service is ours or carries
/// our finalizer, and it is new or its spec, annotations or deletion changed (status-only and
/// label-only updates, our own status writes among them, are skipped).
fn service_needs_reconcile(
    selection: &contract::service::Selection,
    change: &Change<Service>,
) -> bool {
    match change {
        Change::Applied { old, new } => {
            crate::service::is_relevant(selection, new)
                && old.as_ref().is_none_or(|old| {
                    old.spec != new.spec
                        || old.metadata.annotations != new.metadata.annotations
                        || old.metadata.deletion_timestamp != new.metadata.deletion_timestamp
                        || old.metadata.finalizers != new.metadata.finalizers
                })
        }
        // A Service deleted outright had no finalizer of ours: nothing is left to clean up.
        Change::Deleted(_) => false,
    }
}

trait QueueExt {
    fn extend_key(&self, binding: &TargetGroupBinding);
}

impl QueueExt for WorkQueue<ObjKey> {
    fn extend_key(&self, binding: &TargetGroupBinding) {
        if let Some(key) = ObjKey::of(binding) {
            self.add(key);
        }
    }
}

/// Keys of the bindings of the Service `namespace/name`.
fn bindings_of_service(
    bindings: &Cache<TargetGroupBinding>,
    namespace: &str,
    name: &str,
) -> Vec<ObjKey> {
    bindings
        .filter(|b| {
            b.metadata.namespace.as_deref() == Some(namespace) && b.spec.service_ref.name == name
        })
        .iter()
        .filter_map(|b| ObjKey::of(b.as_ref()))
        .collect()
}

async fn workers(
    c: Controllers,
    leader: watch::Receiver<bool>,
    backends: Backends,
    ops: Arc<dyn KubeOps>,
    settings: ControllerSettings,
    metrics: ControllerMetrics,
) {
    c.wait_ready().await;
    tracing::info!(
        ingresses = c.ingresses.len(),
        bindings = c.view.bindings.len(),
        "controller caches synced"
    );
    let groups = GroupReconciler {
        index: c.index.clone(),
        services: c.services.clone(),
        bindings: c.view.bindings.clone(),
        builder: backends.builder,
        deployer: backends.deployer.clone(),
        ops: ops.clone(),
        metrics: metrics.clone(),
        backend_security_group: backends.backend_security_group,
        service_selection: backends
            .service_builder
            .is_some()
            .then(|| settings.service_selection.clone()),
    };
    let group_deployer = backends.deployer.clone();
    let nlbs = backends
        .service_builder
        .map(|builder| crate::service::ServiceReconciler {
            services: c.services.clone(),
            bindings: c.view.bindings.clone(),
            builder,
            deployer: backends.deployer.clone(),
            ops: ops.clone(),
            metrics: metrics.clone(),
            selection: settings.service_selection.clone(),
            after_cleanup: Some({
                let groups = groups.clone();
                Arc::new(move |cleaned: ObjKey| {
                    let groups = groups.clone();
                    Box::pin(async move {
                        groups
                            .release_backend_security_group_after(Some(&cleaned))
                            .await;
                    })
                })
            }),
        });
    let tgbs = BindingReconciler {
        bindings: c.view.bindings.clone(),
        services: c.services.clone(),
        slices: c.slices.clone(),
        pods: c.pods.clone(),
        nodes: c.nodes.clone(),
        registrar: backends.registrar,
        ops,
        metrics,
        networking: backends.networking,
        registered: Default::default(),
    };
    let index = c.index.clone();
    let group_keys = move || {
        index
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .groups()
            .into_iter()
            .collect()
    };
    c.groups.add_all(group_keys());
    let binding_cache = c.view.bindings.clone();
    let binding_keys = move || {
        binding_cache
            .values()
            .iter()
            .filter_map(|b| ObjKey::of(b.as_ref()))
            .collect::<Vec<_>>()
    };
    c.bindings.add_all(binding_keys());

    // Once leadership is taken (the caches are synced by now), and then at every resync, a
    // backend security group that no group needs is released: one left behind by a replica
    // that died right after the last group's deletion, kept in use at the last deletion, or
    // whose release failed.
    let sg_release = {
        let reconciler = groups.clone();
        let mut leader = leader.clone();
        let period = settings.sync_period.max(Duration::from_secs(1));
        async move {
            if leader.wait_for(|leads| *leads).await.is_ok() {
                reconciler.release_backend_security_group().await;
            }
            let mut ticker = tokio::time::interval(period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                if *leader.borrow_and_update() {
                    reconciler.release_backend_security_group().await;
                }
            }
        }
    };
    let group_workers = runner::run_workers(
        group::CONTROLLER,
        c.groups.clone(),
        RunnerConfig {
            concurrency: settings.ingress_concurrency,
            backoff: settings.ingress_backoff,
        },
        leader.clone(),
        move |key: GroupId| {
            let reconciler = groups.clone();
            async move {
                match reconciler.reconcile(&key).await {
                    Ok(outcome) => {
                        tracing::info!(group = %key, ?outcome, "reconciled group");
                        Step::Done
                    }
                    Err(ReconcileError::NotLeader) => Step::Paused,
                    Err(error) => Step::Failed(crate::backends::chain(&error)),
                }
            }
        },
    );
    let binding_workers = runner::run_workers(
        binding::CONTROLLER,
        c.bindings.clone(),
        RunnerConfig {
            concurrency: settings.binding_concurrency,
            backoff: settings.binding_backoff,
        },
        leader.clone(),
        move |key: ObjKey| {
            let reconciler = tgbs.clone();
            async move {
                match reconciler.reconcile(&key).await {
                    Ok(outcome) => match outcome.requeue_after {
                        Some(delay) => Step::RequeueAfter(delay),
                        None => Step::Done,
                    },
                    Err(BindingError::NotLeader) => Step::Paused,
                    Err(error) => Step::Failed(crate::backends::chain(&error)),
                }
            }
        },
    );
    let service_work = {
        let queue = c.service_queue.clone();
        let services = c.services.clone();
        let leader = leader.clone();
        let concurrency = settings.service_concurrency;
        let backoff = settings.ingress_backoff;
        let period = settings.sync_period;
        async move {
            let Some(reconciler) = nlbs else {
                return;
            };
            let deployer = reconciler.deployer.clone();
            let selection = reconciler.selection.clone();
            let keys = move || {
                services
                    .filter(|s| crate::service::is_relevant(&selection, s))
                    .iter()
                    .filter_map(|s| ObjKey::of(s.as_ref()))
                    .collect::<Vec<_>>()
            };
            queue.add_all(keys());
            let workers = runner::run_workers(
                crate::service::CONTROLLER,
                queue.clone(),
                RunnerConfig {
                    concurrency,
                    backoff,
                },
                leader.clone(),
                move |key: ObjKey| {
                    let reconciler = reconciler.clone();
                    async move {
                        match reconciler.reconcile(&key).await {
                            Ok(outcome) => {
                                tracing::info!(service = %key, ?outcome, "reconciled service");
                                Step::Done
                            }
                            Err(crate::service::ServiceError::NotLeader) => Step::Paused,
                            Err(error) => Step::Failed(crate::backends::chain(&error)),
                        }
                    }
                },
            );
            let resync = runner::resync(queue, period, leader, keys, prefetch(deployer));
            tokio::select! {
                () = workers => {}
                () = resync => {}
            }
        }
    };
    let group_resync = runner::resync(
        c.groups.clone(),
        settings.sync_period,
        leader.clone(),
        group_keys,
        prefetch(group_deployer),
    );
    let binding_resync = runner::resync(
        c.bindings.clone(),
        settings.sync_period,
        leader,
        binding_keys,
        || async {},
    );
    tokio::select! {
        () = async { tokio::join!(group_workers, binding_workers, service_work); } => {}
        () = group_resync => {}
        () = binding_resync => {}
        () = sg_release => {}
    }
}

/// What a resync does before queueing every key: the deployer reads what the cluster owns once
/// for the deploys that follow. A failure only costs each stack its own reads.
fn prefetch(
    deployer: Arc<dyn StackDeployer>,
) -> impl Fn() -> futures::future::BoxFuture<'static, ()> + Send + 'static {
    move || {
        let deployer = deployer.clone();
        Box::pin(async move {
            if let Err(error) = deployer.prefetch().await {
                tracing::warn!(
                    error = %crate::backends::chain(&error),
                    "cannot read what the cluster owns ahead of the resync; each stack reads its own"
                );
            }
        })
    }
}
