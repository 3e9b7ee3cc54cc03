//! EndpointSlice change → target registration latency, end to end: the real `serve` binary
//! against the test control plane (a real kube-apiserver, `tests/cluster`) and moto behind a
//! recording proxy. Each change replaces the one ready endpoint of a Service's EndpointSlice
//! with a new address; the latency of a change is the time from the API server's answer to the
//! EndpointSlice update until the proxy receives the RegisterTargets call carrying the new
//! address. Prints p50 / p90 / p99 / max and the AWS calls made per change, by operation.
//!
//! Upstream's default client-side throttle lets RegisterTargets through at 4/s after a burst of
//! 20, which a sequence of changes faster than that would measure instead of the controller;
//! the bench lifts it (`--aws-api-throttle`, printed), `THROTTLE` sets another value.
//!
//! `CHANGES` overrides the number of changes (default 1,000, the minimum for p50 and
//! p99). Run with `make bench` or `cargo bench --bench endpoints_e2e` (needs `make venv` and Go
//! for the control plane).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use contract::crd::TargetGroupBinding;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, PostParams};
use support::e2e::{
    ControllerProcess, World, apply_endpoint_slice, eventually, ip_binding, ip_target_group,
    registered_targets, service,
};

fn address(i: usize) -> String {
    format!("10.0.{}.{}", 1 + i / 250, 1 + i % 250)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let changes: usize = std::env::var("CHANGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let (world, recorder) = World::recorded().await;
    let setup = &world.setup;
    let ns = setup.namespace.as_str();
    let arn = ip_target_group(
        &world.clients,
        &world.net.vpc_id,
        &format!("bench-{}", setup.id),
    )
    .await;

    let throttle = std::env::var("THROTTLE")
        .unwrap_or_else(|_| "Elastic Load Balancing v2:.*=1000:1000".to_owned());
    println!("--aws-api-throttle={throttle}");
    let mut args = setup.serve_args();
    args.push(format!("--aws-api-throttle={throttle}"));
    let mut controller = ControllerProcess::launch(
        setup,
        support::e2e::Launch {
            identity: "bench",
            args,
            kubeconfig: &setup.kubeconfig,
            access_key: "testing",
            env: vec![("POD_NAMESPACE".to_owned(), setup.namespace.clone())],
            webhook_port: setup.webhook_port,
        },
    );
    controller.wait_ready().await;
    Api::<Service>::namespaced(world.client.clone(), ns)
        .create(&PostParams::default(), &service("echo"))
        .await
        .unwrap();
    let client = &world.client;
    let apply = |ip: String| async move {
        apply_endpoint_slice(client, ns, "echo-1", "echo", &[ip]).await;
    };
    apply(address(0)).await;
    Api::<TargetGroupBinding>::namespaced(world.client.clone(), ns)
        .create(&PostParams::default(), &ip_binding("echo", "echo", &arn))
        .await
        .unwrap();
    eventually("the first target", || async {
        (!registered_targets(&world.clients, &arn).await.is_empty()).then_some(())
    })
    .await;
    // Let the first sync's reads settle before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut latencies = Vec::with_capacity(changes);
    let mut per_operation: BTreeMap<String, usize> = BTreeMap::new();
    let started = Instant::now();
    for i in 1..=changes {
        let ip = address(i);
        let before = recorder.count();
        apply(ip.clone()).await;
        let applied = SystemTime::now();
        let needle = format!("={ip}&");
        let arrived = loop {
            // Only the calls since this change is applied (copying them all every 2 ms would
            // slow this process more and more over a long run).
            let calls = recorder.calls_from(before);
            if let Some(call) = calls.iter().find(|c| {
                c.operation == "RegisterTargets" && format!("{}&", c.body).contains(&needle)
            }) {
                break call.at;
            }
            assert!(
                applied.elapsed().unwrap_or_default() < Duration::from_secs(60),
                "change {i} ({ip}) was not registered within 60 s; log: {}",
                controller.log.display()
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        latencies.push(arrived.duration_since(applied).unwrap_or_default());
        // The deregistration of the previous address belongs to this change too.
        tokio::time::sleep(Duration::from_millis(50)).await;
        for call in &recorder.calls_from(before) {
            *per_operation.entry(call.operation.clone()).or_default() += 1;
        }
    }
    let elapsed = started.elapsed();
    controller.stop();
    world.run(async {}).await;

    latencies.sort();
    let total: usize = per_operation.values().sum();
    println!(
        "endpoint change -> RegisterTargets, {changes} changes in {elapsed:.1?} (real API server, moto)"
    );
    println!(
        "  latency p50 {:?}  p90 {:?}  p99 {:?}  max {:?}",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.90),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default()
    );
    println!(
        "  AWS calls per change: {:.2} ({total} in all)",
        total as f64 / changes as f64
    );
    for (operation, count) in &per_operation {
        println!(
            "    {operation:<32} {count:>6}  ({:.2} per change)",
            *count as f64 / changes as f64
        );
    }
}
