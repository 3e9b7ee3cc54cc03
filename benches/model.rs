//! Build time of one IngressGroup of 100 Ingresses × 10 rules (1000 rules, 1000 target groups).
//! Prints the median and p99 over repeated builds; the target is < 5 ms. No assertions.
//!
//! Run with `cargo bench --bench model`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::networking::v1::Ingress;
use model::ClusterFacts;
use model::builder::{GroupInputs, Member, ObjectMap, build};
use model::group::GroupId;
use model::subnets::Subnet;

// The allocator the controller binary runs with (src/main.rs), so the figure is the product's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const INGRESSES: usize = 100;
const RULES: usize = 10;
const WARMUP: usize = 5;
/// Overridable with `MODEL_BENCH_RUNS` (e.g. 3 under a profiler).
const RUNS: usize = 200;

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
            cidr: None,
            locale: Default::default(),
        })
        .collect();
    facts
}

fn services() -> ObjectMap<Service> {
    (0..RULES)
        .map(|k| {
            let service: Service = serde_json::from_value(serde_json::json!({
                "metadata": {"name": format!("svc-{k}"), "namespace": "bench",
                             "uid": format!("00000000-0000-4000-8000-{k:012}")},
                "spec": {"type": "NodePort", "ports": [{"name": "http", "port": 80, "nodePort": 30000 + k}]}
            }))
            .expect("valid Service");
            (("bench".to_owned(), format!("svc-{k}")), service)
        })
        .collect()
}

fn ingresses() -> Vec<Ingress> {
    (0..INGRESSES)
        .map(|i| {
            let paths: Vec<serde_json::Value> = (0..RULES)
                .map(|k| {
                    serde_json::json!({
                        "path": format!("/app-{i}/part-{k}"),
                        "pathType": if k % 2 == 0 { "Prefix" } else { "Exact" },
                        "backend": {"service": {"name": format!("svc-{k}"), "port": {"name": "http"}}}
                    })
                })
                .collect();
            serde_json::from_value(serde_json::json!({
                "metadata": {
                    "name": format!("ing-{i:03}"), "namespace": "bench",
                    "annotations": {
                        "alb.ingress.kubernetes.io/group.name": "bench",
                        "alb.ingress.kubernetes.io/group.order": format!("{}", i % 7),
                        "alb.ingress.kubernetes.io/tags": "team=bench",
                        "alb.ingress.kubernetes.io/healthcheck-path": "/healthz"
                    }
                },
                "spec": {"rules": [{"host": format!("app-{i}.example.com"), "http": {"paths": paths}}]}
            }))
            .expect("valid Ingress")
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(rank).copied().unwrap_or_default()
}

fn main() {
    let facts = facts();
    let services = services();
    let secrets: ObjectMap<Secret> = ObjectMap::new();
    let ingresses = ingresses();
    let inputs = GroupInputs {
        group: GroupId::explicit("bench").expect("valid group name"),
        members: ingresses
            .iter()
            .map(|ingress| Member {
                ingress,
                params: None,
            })
            .collect(),
        inactive_members: Vec::new(),
        services: &services,
        secrets: &secrets,
        facts: &facts,
        existing_lb: None,
    };

    let stack = build(&inputs).expect("the benchmark group builds");
    let rules = stack.resources.listener_rules.len();
    let target_groups = stack.resources.target_groups.len();
    let runs = std::env::var("MODEL_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(RUNS);
    for _ in 0..WARMUP.min(runs) {
        std::hint::black_box(build(&inputs).expect("builds"));
    }
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let stack = build(std::hint::black_box(&inputs)).expect("builds");
        times.push(start.elapsed());
        std::hint::black_box(stack);
    }
    times.sort();
    println!(
        "model build: {INGRESSES} Ingresses x {RULES} rules ({rules} rules, {target_groups} target groups), {runs} runs: median {:.3} ms, p99 {:.3} ms, min {:.3} ms (target < 5 ms)",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        times.first().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}
