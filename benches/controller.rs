//! Controller throughput and memory against moto: 1,000 Ingresses in 100 IngressGroups go
//! through the group index, the work queue (3 workers), the real model builder and the real
//! AWS deployer into a moto server; then 50 TargetGroupBindings × 1,000 ip endpoints go
//! through the binding reconciler and the ELBv2 registrar into 50 target groups made in moto.
//! The Kubernetes side stays in memory (caches, group index, a static cluster view; writes
//! are recorded, no API server).
//!
//! Prints the converge time, the AWS calls by operation, retries and failures, the target
//! phase (first sync and an unchanged re-sync), the peak RSS of this process (`VmHWM`) and,
//! separately, moto's. The targets: all groups converged in < 5 min, < 200 MB RSS.
//!
//! `GROUPS`, `PER_GROUP`, `BINDINGS` and `TARGETS` override the sizes (100, 10, 50, 1000).
//! bash ignores assignments to its own `GROUPS`, so pass them through `env`, e.g.
//! `env GROUPS=5 PER_GROUP=3 BINDINGS=3 TARGETS=250 cargo bench --bench controller`.
//! Run with `cargo bench --bench controller` (needs `make venv` for moto).

#![allow(clippy::unwrap_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use aws_io::adapters::{AwsRegistrar, ModelBuilder, load_vpc_facts};
use aws_io::{AwsClients, CallSnapshot, Deployer};
use aws_sdk_elasticloadbalancingv2::types::{ProtocolEnum, TargetTypeEnum};
use contract::cluster::StaticCluster;
use contract::crd::TargetGroupBinding;
use controller::backoff::BackoffPolicy;
use controller::binding::BindingReconciler;
use controller::cache::Cache;
use controller::fakes::{IngressBuilder, Journal, RecordingOps};
use controller::group::{GroupReconciler, Outcome};
use controller::index::GroupIndex;
use controller::keys::ObjKey;
use controller::metrics::ControllerMetrics;
use controller::queue::WorkQueue;
use controller::runner::{RunnerConfig, Step, run_workers};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{IngressClass, IngressClassSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use model::ClusterFacts;
use model::group::GroupId;
use model::tags::TAG_CLUSTER;
use serde_json::json;
use support::moto::Account;
use tokio::sync::watch;

/// The `--cluster-name` of this run (the value of the cluster tag on what we create).
const CLUSTER: &str = "bench-cluster";
/// Reconciles in flight at once (upstream's `--ingress-max-concurrent-reconciles` and
/// `--targetgroupbinding-max-concurrent-reconciles` default).
const WORKERS: usize = 3;
/// Endpoints per EndpointSlice, as the EndpointSlice controller cuts them.
const PER_SLICE: usize = 100;
/// A phase that has not converged by then is stopped and reported.
const PHASE_DEADLINE: Duration = Duration::from_secs(600);

/// The sizes of one run.
#[derive(Clone, Copy, Debug)]
struct Sizes {
    groups: usize,
    per_group: usize,
    bindings: usize,
    targets: usize,
}

fn env_count(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?}: want a whole number")),
        Err(_) => default,
    }
}

impl Sizes {
    fn from_env() -> Self {
        Self {
            groups: env_count("GROUPS", 100),
            per_group: env_count("PER_GROUP", 10),
            bindings: env_count("BINDINGS", 50),
            targets: env_count("TARGETS", 1_000),
        }
    }
}

fn service(ns: &str, name: &str, k: usize) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": ns, "uid": format!("00000000-0000-4000-8000-{k:012}")},
        "spec": {"selector": {"app": name},
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    }))
    .expect("valid Service")
}

fn view(groups: usize) -> StaticCluster {
    StaticCluster {
        ingress_classes: vec![Arc::new(IngressClass {
            metadata: ObjectMeta {
                name: Some("alb".into()),
                ..ObjectMeta::default()
            },
            spec: Some(IngressClassSpec {
                controller: Some("ingress.k8s.aws/alb".into()),
                parameters: None,
            }),
        })],
        namespaces: (0..groups)
            .map(|g| (format!("ns-{g}"), BTreeMap::new()))
            .collect(),
        ..StaticCluster::default()
    }
}

/// A `/proc/<pid>/status` field in KiB (`VmHWM`, `VmRSS`).
fn proc_kib(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(
        || "n/a".to_owned(),
        |k| format!("{:.1} MiB", k as f64 / 1024.0),
    )
}

/// Waits until nothing is queued, delayed or running; false when `deadline` passed first.
async fn drain<K: Clone + Eq + std::hash::Hash + Send + 'static>(
    queue: &WorkQueue<K>,
    deadline: Duration,
) -> bool {
    let started = Instant::now();
    while !queue.is_idle() {
        if started.elapsed() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    true
}

/// Attempts, failed attempts, and each key's last error (absent once it succeeded).
struct Tally<K> {
    attempts: AtomicUsize,
    failed: AtomicUsize,
    last_error: Mutex<BTreeMap<K, String>>,
}

impl<K> Default for Tally<K> {
    fn default() -> Self {
        Self {
            attempts: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            last_error: Mutex::new(BTreeMap::new()),
        }
    }
}

impl<K: Ord + Clone> Tally<K> {
    fn record<T, E: std::fmt::Display>(&self, key: &K, result: &Result<T, E>) -> Step {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        let mut errors = self.last_error.lock().expect("tally lock");
        match result {
            Ok(_) => {
                errors.remove(key);
                Step::Done
            }
            Err(error) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                errors.insert(key.clone(), error.to_string());
                Step::Failed(error.to_string())
            }
        }
    }

    fn attempts(&self) -> usize {
        self.attempts.load(Ordering::Relaxed)
    }

    fn retries(&self) -> usize {
        self.failed.load(Ordering::Relaxed)
    }

    fn errors(&self) -> BTreeMap<K, String> {
        self.last_error.lock().expect("tally lock").clone()
    }
}

/// Prints the calls of a phase by operation, with the per-unit average.
fn print_calls(calls: &CallSnapshot, units: usize, unit: &str) {
    let n = units.max(1) as f64;
    println!(
        "  AWS calls: {} in total ({:.1} per {unit}), {} mutating, {} reads",
        calls.total(),
        calls.total() as f64 / n,
        calls.mutating_total(),
        calls.read_total(),
    );
    for (service, op, count) in calls.iter() {
        println!(
            "    {:<48} {count:>7} {:>9.2} per {unit}",
            format!("{service}:{op}"),
            count as f64 / n
        );
    }
}

/// Tags the subnets for internal load balancers and reads the VPC facts from EC2.
async fn cluster_facts(clients: &AwsClients, net: &support::Network) -> ClusterFacts {
    support::tag_subnets_for_internal_elb(clients, net).await;
    let mut facts = ClusterFacts::new(CLUSTER, net.vpc_id.clone());
    facts.backend_security_group = Some(net.backend_sg.clone());
    load_vpc_facts(&clients.ec2, &mut facts)
        .await
        .expect("VPC facts from moto");
    facts
}

fn main() {
    let sizes = Sizes::from_env();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(sizes));
}

async fn run(sizes: Sizes) {
    let Sizes {
        groups: group_count,
        per_group,
        bindings: binding_count,
        targets: target_count,
    } = sizes;
    let account = Account::new().await;
    let moto_pid = account.server.pid().to_string();
    let net = support::network(&account.clients).await;
    let facts = cluster_facts(&account.clients, &net).await;
    println!(
        "setup: moto pid {moto_pid} at {}, VPC {} with {} subnets; {WORKERS} workers",
        account.server.endpoint(),
        net.vpc_id,
        facts.subnets.len(),
    );
    let (_leader_tx, leader) = watch::channel(true);
    let metrics = ControllerMetrics::default();
    let journal = Journal::default();
    let ops = Arc::new(RecordingOps::new(journal.clone()));

    // --- Ingresses in groups, deployed into moto ---
    let view = view(group_count);
    let mut index = GroupIndex::new("alb");
    let services = Cache::new();
    let started = Instant::now();
    for g in 0..group_count {
        let ns = format!("ns-{g}");
        for i in 0..per_group {
            let svc = format!("svc-{i}");
            services.insert(Arc::new(service(&ns, &svc, g * per_group + i)));
            let ingress = IngressBuilder::new(&ns, &format!("ing-{i}"))
                .class("alb")
                .group(&format!("group-{g}"))
                .annotation("alb.ingress.kubernetes.io/target-type", "ip")
                .backend(&svc, 80)
                .build();
            index.apply(Arc::new(ingress), &view);
        }
    }
    let indexed = started.elapsed();
    let groups = GroupReconciler {
        index: Arc::new(RwLock::new(index)),
        services,
        bindings: Cache::new(),
        builder: Arc::new(ModelBuilder::new(facts)),
        deployer: Arc::new(Deployer::new(
            account.clients.clone(),
            support::deploy_config(CLUSTER, &net),
        )),
        ops: ops.clone(),
        metrics: metrics.clone(),
        backend_security_group: None,
        service_selection: None,
    };
    let all_groups: Vec<GroupId> = groups
        .index
        .read()
        .expect("index lock")
        .groups()
        .into_iter()
        .collect();
    assert_eq!(all_groups.len(), group_count, "groups in the index");
    let queue: WorkQueue<GroupId> = WorkQueue::new();
    let tally: Arc<Tally<GroupId>> = Arc::default();
    let deployed: Arc<Mutex<BTreeSet<GroupId>>> = Arc::default();
    let workers = {
        let (reconciler, tally, deployed) = (groups.clone(), tally.clone(), deployed.clone());
        tokio::spawn(run_workers(
            "ingress",
            queue.clone(),
            RunnerConfig {
                concurrency: WORKERS,
                backoff: BackoffPolicy::default(),
            },
            leader.clone(),
            move |key: GroupId| {
                let (reconciler, tally, deployed) =
                    (reconciler.clone(), tally.clone(), deployed.clone());
                async move {
                    let result = reconciler.reconcile(&key).await;
                    if let Ok(Outcome::Deployed { dns_name: Some(_) }) = &result {
                        deployed.lock().expect("deployed lock").insert(key.clone());
                    }
                    tally.record(&key, &result)
                }
            },
        ))
    };
    let before = account.clients.calls().snapshot();
    let started = Instant::now();
    queue.add_all(all_groups.clone());
    let idle = drain(&queue, PHASE_DEADLINE).await;
    let converged = started.elapsed();
    let calls = account.clients.calls().snapshot().since(&before);
    let errors = tally.errors();
    let with_dns = deployed.lock().expect("deployed lock").len();
    println!(
        "ingress: {} Ingresses in {group_count} groups ({per_group} per group), indexed in {indexed:.2?}",
        group_count * per_group,
    );
    println!(
        "  {} groups converged in {converged:.2?} ({:.2} groups/s){}; {with_dns} with a DNS name",
        group_count - errors.len(),
        group_count as f64 / converged.as_secs_f64(),
        if idle {
            ""
        } else {
            " — STOPPED at the deadline"
        },
    );
    println!(
        "  reconciles: {} ({} retries after a failure); failures: {} groups",
        tally.attempts(),
        tally.retries(),
        errors.len(),
    );
    for (group, error) in errors.iter().take(5) {
        println!("    {group}: {error}");
    }
    print_calls(&calls, group_count, "group");
    println!(
        "  Kubernetes writes recorded: {} status, {} bindings applied",
        journal.matching("status").len(),
        ops.applied_bindings.lock().expect("ops lock").len(),
    );

    // An unchanged re-sync of every group.
    let before = account.clients.calls().snapshot();
    let retries_before = tally.retries();
    let started = Instant::now();
    queue.add_all(all_groups);
    let resync_idle = drain(&queue, PHASE_DEADLINE).await;
    let resynced = started.elapsed();
    let calls = account.clients.calls().snapshot().since(&before);
    println!(
        "ingress re-sync (unchanged): {group_count} groups in {resynced:.2?}{}; {} retries; {} calls ({:.1} per group), {} mutating",
        if resync_idle {
            ""
        } else {
            " — STOPPED at the deadline"
        },
        tally.retries() - retries_before,
        calls.total(),
        calls.total() as f64 / group_count.max(1) as f64,
        calls.mutating_total(),
    );
    queue.shutdown();
    let _ = workers.await;

    // --- Bindings × ip targets, registered into target groups made in moto ---
    let started = Instant::now();
    let mut arns = Vec::with_capacity(binding_count);
    for b in 0..binding_count {
        let created = account
            .clients
            .elbv2
            .create_target_group()
            .name(format!("bench-tgb-{b}"))
            .protocol(ProtocolEnum::Http)
            .port(8080)
            .vpc_id(&net.vpc_id)
            .target_type(TargetTypeEnum::Ip)
            .send()
            .await
            .expect("create target group");
        arns.push(
            created
                .target_groups()
                .first()
                .and_then(|tg| tg.target_group_arn())
                .expect("target group ARN")
                .to_owned(),
        );
    }
    let tg_setup = started.elapsed();
    let bindings = Cache::new();
    let slices = Cache::new();
    let services = Cache::new();
    for (b, arn) in arns.iter().enumerate() {
        let name = format!("svc-{b}");
        services.insert(Arc::new(service("targets", &name, b)));
        let binding: TargetGroupBinding = serde_json::from_value(json!({
            "apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "TargetGroupBinding",
            "metadata": {"name": format!("tgb-{b}"), "namespace": "targets", "generation": 1,
                         "finalizers": ["elbv2.k8s.aws/resources"]},
            "spec": {"targetGroupARN": arn, "targetType": "ip",
                     "serviceRef": {"name": name, "port": 80}}
        }))
        .expect("valid binding");
        bindings.insert(Arc::new(binding));
        // Pod IPs inside the VPC's 10.0.0.0/16, distinct across bindings while they fit.
        let ips: Vec<String> = (0..target_count)
            .map(|t| {
                let i = b * target_count + t;
                format!("10.0.{}.{}", (i / 254) % 256, i % 254 + 1)
            })
            .collect();
        for (s, chunk) in ips.chunks(PER_SLICE).enumerate() {
            let endpoints: Vec<serde_json::Value> = chunk
                .iter()
                .map(|ip| json!({"addresses": [ip], "conditions": {"ready": true}}))
                .collect();
            let slice: EndpointSlice = serde_json::from_value(json!({
                "metadata": {"name": format!("{name}-{s}"), "namespace": "targets",
                             "labels": {"kubernetes.io/service-name": name}},
                "addressType": "IPv4",
                "endpoints": endpoints,
                "ports": [{"name": "http", "port": 8080}]
            }))
            .expect("valid slice");
            slices.insert(Arc::new(slice));
        }
    }
    let tgbs = BindingReconciler {
        bindings,
        services,
        slices,
        pods: Cache::new(),
        nodes: Cache::new(),
        registrar: Arc::new(AwsRegistrar::new(account.clients.clone())),
        ops,
        metrics,
        networking: None,
        registered: Default::default(),
    };
    let queue: WorkQueue<ObjKey> = WorkQueue::new();
    let tally: Arc<Tally<ObjKey>> = Arc::default();
    let registered = Arc::new(AtomicUsize::new(0));
    let workers = {
        let (reconciler, tally, registered) = (tgbs.clone(), tally.clone(), registered.clone());
        tokio::spawn(run_workers(
            "targetGroupBinding",
            queue.clone(),
            RunnerConfig {
                concurrency: WORKERS,
                backoff: BackoffPolicy::default(),
            },
            leader,
            move |key: ObjKey| {
                let (reconciler, tally, registered) =
                    (reconciler.clone(), tally.clone(), registered.clone());
                async move {
                    let result = reconciler.reconcile(&key).await;
                    if let Ok(outcome) = &result {
                        registered.fetch_add(outcome.registered, Ordering::Relaxed);
                    }
                    tally.record(&key, &result)
                }
            },
        ))
    };
    let keys: Vec<ObjKey> = (0..binding_count)
        .map(|b| ObjKey::new("targets", format!("tgb-{b}")))
        .collect();
    let before = account.clients.calls().snapshot();
    let started = Instant::now();
    queue.add_all(keys.clone());
    let idle = drain(&queue, PHASE_DEADLINE).await;
    let registered_in = started.elapsed();
    let calls = account.clients.calls().snapshot().since(&before);
    let total = registered.load(Ordering::Relaxed);
    let errors = tally.errors();
    println!(
        "targets: {binding_count} bindings × {target_count} ip endpoints ({binding_count} target groups created in {tg_setup:.2?})"
    );
    println!(
        "  {total} targets registered in {registered_in:.2?} ({:.0} targets/s){}; {} retries; failures: {} bindings",
        total as f64 / registered_in.as_secs_f64(),
        if idle {
            ""
        } else {
            " — STOPPED at the deadline"
        },
        tally.retries(),
        errors.len(),
    );
    for (key, error) in errors.iter().take(5) {
        println!("    {key}: {error}");
    }
    print_calls(&calls, binding_count, "binding");

    // A second pass finds nothing to change (only describes).
    let before = account.clients.calls().snapshot();
    let registered_before = registered.load(Ordering::Relaxed);
    let started = Instant::now();
    queue.add_all(keys);
    let resync_idle = drain(&queue, PHASE_DEADLINE).await;
    let steady = started.elapsed();
    let calls = account.clients.calls().snapshot().since(&before);
    println!(
        "targets re-sync (unchanged): {binding_count} bindings in {steady:.2?}{}; {} targets registered",
        if resync_idle {
            ""
        } else {
            " — STOPPED at the deadline"
        },
        registered.load(Ordering::Relaxed) - registered_before,
    );
    print_calls(&calls, binding_count, "binding");
    queue.shutdown();
    let _ = workers.await;

    println!(
        "peak RSS of this process (VmHWM): {} (target < 200 MB)",
        mib(proc_kib("self", "VmHWM"))
    );
    println!(
        "moto server (pid {moto_pid}, a separate process): RSS {}, peak {}",
        mib(proc_kib(&moto_pid, "VmRSS")),
        mib(proc_kib(&moto_pid, "VmHWM")),
    );

    // --- What moto holds ---
    let started = Instant::now();
    let ours = cluster_load_balancers(&account.clients).await;
    let mut in_moto = 0;
    for arn in &arns {
        in_moto += account
            .clients
            .elbv2
            .describe_target_health()
            .target_group_arn(arn)
            .send()
            .await
            .expect("describe target health")
            .target_health_descriptions()
            .len();
    }
    println!(
        "check: {ours} load balancers tagged {TAG_CLUSTER}={CLUSTER} (want {group_count}); \
         {in_moto} targets registered in moto (want {}); read back in {:.2?}",
        binding_count * target_count,
        started.elapsed(),
    );
    assert_eq!(ours, group_count, "load balancers of the cluster in moto");
    assert_eq!(
        in_moto,
        binding_count * target_count,
        "targets registered in moto"
    );
}

/// Load balancers in the account that carry this cluster's tag.
async fn cluster_load_balancers(clients: &AwsClients) -> usize {
    let mut arns = Vec::new();
    let mut pages = clients
        .elbv2
        .describe_load_balancers()
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.expect("describe load balancers");
        arns.extend(
            page.load_balancers()
                .iter()
                .filter_map(|lb| lb.load_balancer_arn().map(str::to_owned)),
        );
    }
    let tags = support::inventory::elbv2_tags(clients, &arns).await;
    tags.values()
        .filter(|t| t.get(TAG_CLUSTER).map(String::as_str) == Some(CLUSTER))
        .count()
}
