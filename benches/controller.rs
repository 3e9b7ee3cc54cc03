//! Controller throughput and memory: 1,000 Ingresses in 100 IngressGroups reconciled through
//! the group index, the work queue and the real model builder into the in-memory deployer; then
//! 50 TargetGroupBindings × 1,000 endpoints registered through the binding reconciler into
//! the in-memory registrar. Prints both throughputs and the peak RSS (`VmHWM`); the issue's
//! targets are all groups converged in < 5 min and < 200 MB RSS. No AWS, no API server.
//!
//! Run with `cargo bench --bench controller`.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use aws_load_balancer_controller::controller::adapters::ModelBuilder;
use aws_load_balancer_controller::controller::backoff::BackoffPolicy;
use aws_load_balancer_controller::controller::binding::BindingReconciler;
use aws_load_balancer_controller::controller::cache::Cache;
use aws_load_balancer_controller::controller::fakes::{
    FakeDeployer, FakeRegistrar, IngressBuilder, Journal, RecordingOps,
};
use aws_load_balancer_controller::controller::group::GroupReconciler;
use aws_load_balancer_controller::controller::index::GroupIndex;
use aws_load_balancer_controller::controller::keys::ObjKey;
use aws_load_balancer_controller::controller::metrics::ControllerMetrics;
use aws_load_balancer_controller::controller::queue::WorkQueue;
use aws_load_balancer_controller::controller::runner::{RunnerConfig, Step, run_workers};
use aws_load_balancer_controller::model::ClusterFacts;
use aws_load_balancer_controller::model::group::GroupId;
use aws_load_balancer_controller::model::subnets::Subnet;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{IngressClass, IngressClassSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use tokio::sync::watch;
use webhook::cluster::StaticCluster;
use webhook::crd::TargetGroupBinding;

const GROUPS: usize = 100;
const PER_GROUP: usize = 10;
const BINDINGS: usize = 50;
const TARGETS: usize = 1_000;
const WORKERS: usize = 3;

fn facts() -> ClusterFacts {
    let mut facts = ClusterFacts::new("bench", "vpc-1");
    facts.backend_security_group = Some("sg-backend".to_owned());
    facts.subnets = ["a", "b", "c"]
        .iter()
        .map(|az| Subnet {
            id: format!("subnet-{az}"),
            az: format!("us-west-2{az}"),
            az_id: None,
            vpc_id: "vpc-1".to_owned(),
            available_ips: 1000,
            tags: BTreeMap::from([("kubernetes.io/role/internal-elb".to_owned(), "1".to_owned())]),
            ipv6_cidrs: Vec::new(),
            locale: Default::default(),
        })
        .collect();
    facts
}

fn service(ns: &str, name: &str, k: usize) -> Service {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "namespace": ns, "uid": format!("00000000-0000-4000-8000-{k:012}")},
        "spec": {"type": "NodePort", "selector": {"app": name},
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30000 + (k % 2000)}]}
    }))
    .expect("valid Service")
}

fn view() -> StaticCluster {
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
        namespaces: (0..GROUPS)
            .map(|g| (format!("ns-{g}"), BTreeMap::new()))
            .collect(),
        ..StaticCluster::default()
    }
}

fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn drain<K: Clone + Eq + std::hash::Hash + Send + 'static>(queue: &WorkQueue<K>) {
    while !queue.is_idle() {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run());
}

async fn run() {
    let (_tx, leader) = watch::channel(true);
    let metrics = ControllerMetrics::default();
    let journal = Journal::default();
    let ops = Arc::new(RecordingOps::new(journal.clone()));

    // --- 1,000 Ingresses in 100 groups ---
    let view = view();
    let mut index = GroupIndex::new("alb");
    let services = Cache::new();
    let start = Instant::now();
    for g in 0..GROUPS {
        let ns = format!("ns-{g}");
        for i in 0..PER_GROUP {
            let svc = format!("svc-{i}");
            services.insert(Arc::new(service(&ns, &svc, g * PER_GROUP + i)));
            let ingress = IngressBuilder::new(&ns, &format!("ing-{i}"))
                .class("alb")
                .group(&format!("group-{g}"))
                .annotation("alb.ingress.kubernetes.io/target-type", "ip")
                .backend(&svc, 80)
                .build();
            index.apply(Arc::new(ingress), &view);
        }
    }
    let indexed = start.elapsed();
    let deployer = Arc::new(FakeDeployer::new(Journal::default()));
    let groups = GroupReconciler {
        index: Arc::new(RwLock::new(index)),
        services,
        bindings: Cache::new(),
        builder: Arc::new(ModelBuilder::new(facts())),
        deployer: deployer.clone(),
        ops: ops.clone(),
        metrics: metrics.clone(),
    };
    let all_groups: Vec<GroupId> = groups
        .index
        .read()
        .expect("lock")
        .groups()
        .into_iter()
        .collect();
    assert_eq!(all_groups.len(), GROUPS);
    let queue: WorkQueue<GroupId> = WorkQueue::new();
    let failures = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let failed = failures.clone();
    let reconciler = groups.clone();
    let workers = tokio::spawn(run_workers(
        "ingress",
        queue.clone(),
        RunnerConfig {
            concurrency: WORKERS,
            backoff: BackoffPolicy::default(),
        },
        leader.clone(),
        move |key: GroupId| {
            let reconciler = reconciler.clone();
            let failed = failed.clone();
            async move {
                match reconciler.reconcile(&key).await {
                    Ok(_) => Step::Done,
                    Err(error) => {
                        failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        eprintln!("group {key}: {error}");
                        Step::Paused
                    }
                }
            }
        },
    ));
    let start = Instant::now();
    queue.add_all(all_groups.clone());
    drain(&queue).await;
    let converged = start.elapsed();
    queue.shutdown();
    let _ = workers.await;
    let stacks = deployer.stacks();
    let rules: usize = stacks
        .values()
        .map(|s| s.resources.listener_rules.len())
        .sum();
    let statuses = journal.matching("status").len();
    println!(
        "ingress: {} Ingresses / {GROUPS} groups indexed in {indexed:?}; all groups converged in {converged:?} \
         ({:.0} groups/s, {} workers); {} stacks, {rules} listener rules, {statuses} status writes, {} failures",
        GROUPS * PER_GROUP,
        GROUPS as f64 / converged.as_secs_f64(),
        WORKERS,
        stacks.len(),
        failures.load(std::sync::atomic::Ordering::Relaxed),
    );

    // --- 50 bindings × 1,000 targets ---
    let registrar = Arc::new(FakeRegistrar::new(Journal::default()));
    let bindings = Cache::new();
    let slices = Cache::new();
    let services = Cache::new();
    for b in 0..BINDINGS {
        let name = format!("svc-{b}");
        services.insert(Arc::new(service("targets", &name, b)));
        let binding: TargetGroupBinding = serde_json::from_value(serde_json::json!({
            "apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "TargetGroupBinding",
            "metadata": {"name": format!("tgb-{b}"), "namespace": "targets", "generation": 1,
                         "finalizers": ["elbv2.k8s.aws/resources"]},
            "spec": {"targetGroupARN": format!("arn:tg/{b}"), "targetType": "ip",
                     "serviceRef": {"name": name, "port": 80}}
        }))
        .expect("valid binding");
        bindings.insert(Arc::new(binding));
        // 10 slices of 100 endpoints each, as the EndpointSlice controller would cut them.
        for s in 0..TARGETS / 100 {
            let endpoints: Vec<serde_json::Value> = (0..100)
                .map(|e| serde_json::json!({"addresses": [format!("10.{b}.{s}.{e}")], "conditions": {"ready": true}}))
                .collect();
            let slice: EndpointSlice = serde_json::from_value(serde_json::json!({
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
        bindings: bindings.clone(),
        services,
        slices,
        pods: Cache::new(),
        nodes: Cache::new(),
        registrar: registrar.clone(),
        ops,
        metrics,
    };
    let queue: WorkQueue<ObjKey> = WorkQueue::new();
    let reconciler = tgbs.clone();
    let workers = tokio::spawn(run_workers(
        "targetGroupBinding",
        queue.clone(),
        RunnerConfig {
            concurrency: WORKERS,
            backoff: BackoffPolicy::default(),
        },
        leader,
        move |key: ObjKey| {
            let reconciler = reconciler.clone();
            async move {
                match reconciler.reconcile(&key).await {
                    Ok(_) => Step::Done,
                    Err(error) => Step::Failed(error.to_string()),
                }
            }
        },
    ));
    let keys: Vec<ObjKey> = (0..BINDINGS)
        .map(|b| ObjKey::new("targets", format!("tgb-{b}")))
        .collect();
    let start = Instant::now();
    queue.add_all(keys.clone());
    drain(&queue).await;
    let registered_in = start.elapsed();
    // A second pass finds nothing to change (only describes).
    let start = Instant::now();
    queue.add_all(keys);
    drain(&queue).await;
    let steady = start.elapsed();
    queue.shutdown();
    let _ = workers.await;
    let total: usize = (0..BINDINGS)
        .map(|b| registrar.targets(&format!("arn:tg/{b}")).len())
        .sum();
    println!(
        "targets: {BINDINGS} bindings × {TARGETS} endpoints: {total} targets registered in {registered_in:?} \
         ({:.0} targets/s); unchanged re-sync of all bindings in {steady:?}",
        total as f64 / registered_in.as_secs_f64(),
    );
    match vm_hwm_kib() {
        Some(kib) => println!(
            "peak RSS (VmHWM): {:.1} MiB (target < 200 MB)",
            kib as f64 / 1024.0
        ),
        None => println!("peak RSS: /proc/self/status not available"),
    }
}
