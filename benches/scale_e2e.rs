//! Scale, end to end: `GROUPS` IngressGroups of `PER_GROUP` Ingresses each (default 1,000 × 10
//! = 10,000 Ingresses; `alb.ingress.kubernetes.io/group.name`), each Ingress routing one path
//! to its own Service (`ip` targets, through an IngressClassParams of the bench's class),
//! applied to the test control plane (a real kube-apiserver, `tests/cluster`) while the real
//! `serve` binary runs against moto behind a recording proxy.
//!
//! Converged means every Ingress has its load balancer's hostname in its status (the controller
//! writes it only after the group's whole stack is deployed and its TargetGroupBindings are
//! applied), then no AWS call for `QUIET` seconds with the controller's work queues empty (the
//! bindings' first reconciles are done); moto is then checked to hold one load balancer per
//! group and one target group per Ingress. Prints:
//!
//! * the time to apply the Services and the Ingresses, the time until every group converged
//!   (and when the first, median, 90th percentile and last group did);
//! * the AWS calls per group on create by operation, mutating and reads, and the controller's
//!   reconciles and retries;
//! * an unchanged re-sync of every group twice: after a restart of `serve` (nothing in memory:
//!   every binding describes its targets), and at the restarted process's first periodic
//!   resync (`SYNC_PERIOD` sets the restarted process's `--sync-period`; by default a third
//!   process gets twice the restart's sync time + 30 s, so its own first sync ends first);
//! * peak RSS (`VmHWM`) of each `serve` process and of moto;
//! * where the time goes: CPU seconds of moto, `serve`, the control plane (etcd, API server,
//!   controller manager) and this process (the proxy, the watch, the applies) per phase, AWS
//!   calls/s, and moto's slowest operations as the proxy timed them.
//!
//! The goals, printed beside the figures (never asserted): converged < 3 min, ≤ 28 AWS
//! calls per group on create, ≤ 2 reads per group amortised on an unchanged re-sync, RSS
//! < 150 MB.
//!
//! Settings (environment): `GROUPS`, `PER_GROUP` (1,000, 10); `CONCURRENCY`
//! (`--ingress-max-concurrent-reconciles` and `--targetgroupbinding-max-concurrent-reconciles`,
//! default 8); `APPLY_CONCURRENCY` (creates in flight, 16); `THROTTLE` (`--aws-api-throttle`,
//! default lifting ELBv2's client-side limits as `endpoints_e2e` does); `SYNC_PERIOD` (seconds,
//! of the restarted process); `LEADER_ELECTION` (1: on, as the chart runs it, the stopped
//! process releasing its Lease for the restarted one; 0: off); `DEADLINE` (seconds to converge before the run is reported as
//! stopped, 1,200); `QUIET` (seconds, 5). bash ignores assignments to its own `GROUPS`, so pass
//! the sizes through `env`:
//! `env GROUPS=100 PER_GROUP=10 cargo bench --bench scale_e2e` (needs `make venv`, and
//! `TESTCLUSTER_BIN` or Go for the control plane).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use serde_json::json;
use support::aws_recorder::{Call, Recorder};
use support::e2e::{ControllerProcess, Launch, Setup, World, apply_class, ingress_named, service};
use support::moto::MotoServer;
use support::procstat::{cpu_seconds, mib, status_kib, tree_cpu_seconds};

/// The goals.
const GOAL_CONVERGE: Duration = Duration::from_secs(180);
const GOAL_CALLS_PER_GROUP: f64 = 28.0;
const GOAL_RESYNC_READS_PER_GROUP: f64 = 2.0;
const GOAL_RSS_MB: f64 = 150.0;

fn env_count(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?}: want a whole number")),
        Err(_) => default,
    }
}

/// The settings of one run.
struct Settings {
    groups: usize,
    per_group: usize,
    concurrency: usize,
    apply_concurrency: usize,
    throttle: String,
    sync_period: Option<Duration>,
    deadline: Duration,
    quiet: Duration,
    leader_election: bool,
}

impl Settings {
    fn from_env() -> Self {
        Self {
            groups: env_count("GROUPS", 1_000) as usize,
            per_group: env_count("PER_GROUP", 10) as usize,
            concurrency: env_count("CONCURRENCY", 8) as usize,
            apply_concurrency: env_count("APPLY_CONCURRENCY", 16).max(1) as usize,
            throttle: std::env::var("THROTTLE")
                .unwrap_or_else(|_| "Elastic Load Balancing v2:.*=1000:1000".to_owned()),
            sync_period: std::env::var("SYNC_PERIOD")
                .ok()
                .map(|_| Duration::from_secs(env_count("SYNC_PERIOD", 0).max(1))),
            deadline: Duration::from_secs(env_count("DEADLINE", 1_200)),
            quiet: Duration::from_secs(env_count("QUIET", 5)),
            leader_election: env_count("LEADER_ELECTION", 1) != 0,
        }
    }

    fn total(&self) -> usize {
        self.groups * self.per_group
    }
}

fn ingress_name(g: usize, i: usize) -> String {
    format!("g{g}-i{i}")
}

fn service_name(g: usize, i: usize) -> String {
    format!("g{g}-s{i}")
}

/// CPU seconds so far of the processes that share the machine in this run.
#[derive(Clone, Copy, Debug, Default)]
struct Cpu {
    at: Option<Instant>,
    moto: f64,
    serve: f64,
    control_plane: f64,
    bench: f64,
}

struct Pids {
    moto: u32,
    control_plane: Option<u32>,
}

impl Cpu {
    fn now(pids: &Pids, serve: &ControllerProcess) -> Cpu {
        Cpu {
            at: Some(Instant::now()),
            moto: cpu_seconds(&pids.moto.to_string()).unwrap_or_default(),
            serve: cpu_seconds(&serve.pid().to_string()).unwrap_or_default(),
            control_plane: pids.control_plane.map_or(0.0, tree_cpu_seconds),
            bench: cpu_seconds("self").unwrap_or_default(),
        }
    }

    /// Prints what each process used since `self`; `serve_before` for a `serve` restarted in
    /// between (its CPU counts from zero).
    fn print_since(&self, later: &Cpu, serve_restarted: bool) {
        let wall = match (self.at, later.at) {
            (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
            _ => 0.0,
        };
        let serve = if serve_restarted {
            later.serve
        } else {
            later.serve - self.serve
        };
        let share = |s: f64| {
            if wall > 0.0 { 100.0 * s / wall } else { 0.0 }
        };
        println!(
            "  CPU over {wall:.1} s (100 % = one core of 2): moto {:.1} s ({:.0} %), serve {serve:.1} s ({:.0} %), \
             control plane {:.1} s ({:.0} %), this process (proxy, watch, applies) {:.1} s ({:.0} %)",
            later.moto - self.moto,
            share(later.moto - self.moto),
            share(serve),
            later.control_plane - self.control_plane,
            share(later.control_plane - self.control_plane),
            later.bench - self.bench,
            share(later.bench - self.bench),
        );
    }
}

/// The sum of the samples of a metric family in Prometheus text (`prefix` up to the labels).
fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Finished reconciles of the Ingress controller (any result).
fn group_reconciles(metrics: &str) -> f64 {
    metric(
        metrics,
        "controller_runtime_reconcile_total{controller=\"ingress\"",
    )
}

/// Whether no work queue holds a key and no worker runs.
fn queues_idle(metrics: &str) -> bool {
    metric(metrics, "workqueue_depth{") == 0.0
        && metric(metrics, "controller_runtime_active_workers{") == 0.0
}

/// What the Ingress watch has seen.
#[derive(Default)]
struct Seen {
    /// Ingresses with a hostname in their status.
    hosted: HashMap<String, bool>,
    hosted_count: usize,
    /// Members with a hostname, by group.
    per_group: HashMap<usize, usize>,
    /// When each group had a hostname on every member (since the Ingress applies began).
    group_done: Vec<Duration>,
    hostname_sample: Option<String>,
}

/// Watches the namespace's Ingresses and records when each gets its hostname.
fn watch_hostnames(
    api: Api<Ingress>,
    per_group: usize,
    since: Arc<Mutex<Option<Instant>>>,
    seen: Arc<Mutex<Seen>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut events = std::pin::pin!(watcher(api, watcher::Config::default()));
        loop {
            let event = match events.try_next().await {
                Ok(Some(event)) => event,
                Ok(None) => return,
                Err(error) => {
                    eprintln!("scale: Ingress watch: {error}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            let ingress = match event {
                watcher::Event::Apply(i) | watcher::Event::InitApply(i) => i,
                _ => continue,
            };
            let name = ingress.metadata.name.clone().unwrap_or_default();
            let hostname = ingress
                .status
                .as_ref()
                .and_then(|s| s.load_balancer.as_ref())
                .and_then(|lb| lb.ingress.as_ref())
                .and_then(|i| i.first())
                .and_then(|i| i.hostname.clone());
            let mut seen = seen.lock().unwrap();
            let was = seen.hosted.insert(name.clone(), hostname.is_some());
            if hostname.is_some() && was != Some(true) {
                seen.hosted_count += 1;
                if seen.hostname_sample.is_none() {
                    seen.hostname_sample = hostname;
                }
                let group = name
                    .strip_prefix('g')
                    .and_then(|r| r.split('-').next())
                    .and_then(|g| g.parse::<usize>().ok())
                    .unwrap_or(usize::MAX);
                let count = seen.per_group.entry(group).or_default();
                *count += 1;
                if *count == per_group {
                    let at = since
                        .lock()
                        .unwrap()
                        .map(|s| s.elapsed())
                        .unwrap_or_default();
                    seen.group_done.push(at);
                }
            }
        }
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Prints the calls by operation, per group.
fn print_calls(calls: &[Call], groups: usize) {
    let n = groups.max(1) as f64;
    let span = match (calls.first(), calls.last()) {
        (Some(a), Some(b)) => b.at.duration_since(a.at).unwrap_or_default(),
        _ => Duration::ZERO,
    };
    let mut by_op: BTreeMap<&str, (usize, bool)> = BTreeMap::new();
    for call in calls {
        let entry = by_op
            .entry(call.operation.as_str())
            .or_insert((0, call.is_mutating()));
        entry.0 += 1;
    }
    let mutating = calls.iter().filter(|c| c.is_mutating()).count();
    let reads = calls.len() - mutating;
    println!(
        "  AWS calls: {} ({:.2} per group): {mutating} mutating ({:.2} per group), {reads} reads ({:.2} per group); {:.0} calls/s from the first to the last",
        calls.len(),
        calls.len() as f64 / n,
        mutating as f64 / n,
        reads as f64 / n,
        calls.len() as f64 / span.as_secs_f64().max(0.001),
    );
    let mut ops: Vec<_> = by_op.into_iter().collect();
    ops.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(b.0)));
    for (op, (count, is_mutating)) in ops {
        println!(
            "    {op:<40} {count:>7} {:>8.2} per group  {}",
            count as f64 / n,
            if is_mutating { "mutating" } else { "read" }
        );
    }
}

/// Prints where moto spent the phase's calls: the operations with the most time, as the proxy
/// timed their round trips.
fn print_timings(timings: &[(String, Duration)]) {
    let mut by_op: BTreeMap<&str, (usize, Duration, Duration)> = BTreeMap::new();
    for (op, took) in timings {
        let e = by_op.entry(op.as_str()).or_default();
        e.0 += 1;
        e.1 += *took;
        e.2 = e.2.max(*took);
    }
    let total: Duration = timings.iter().map(|(_, t)| *t).sum();
    let mut ops: Vec<_> = by_op.into_iter().collect();
    ops.sort_by_key(|e| std::cmp::Reverse(e.1.1));
    println!(
        "  moto round trips (as the proxy timed them, concurrent calls overlap): {:.1} s in all",
        total.as_secs_f64()
    );
    for (op, (count, sum, max)) in ops.into_iter().take(8) {
        println!(
            "    {op:<40} {:>7.1} s  mean {:>7.1} ms  max {:>7.1} ms  ({count} calls)",
            sum.as_secs_f64(),
            sum.as_secs_f64() * 1000.0 / count.max(1) as f64,
            max.as_secs_f64() * 1000.0,
        );
    }
}

/// The text without its ANSI colour sequences (the `serve` log is coloured).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The `serve` log's reconcile failures (lines from `log_from` bytes on): count and the first
/// distinct messages; and how many times each group was reconciled.
fn print_failures(log: &str, log_from: usize) {
    let text = strip_ansi(log.get(log_from..).unwrap_or_default());
    let mut reconciles: BTreeMap<&str, usize> = BTreeMap::new();
    for line in text.lines().filter(|l| l.contains("reconciled group")) {
        if let Some(group) = line
            .split("group=")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
        {
            *reconciles.entry(group).or_default() += 1;
        }
    }
    let mut histogram: BTreeMap<usize, usize> = BTreeMap::new();
    for count in reconciles.values() {
        *histogram.entry(*count).or_default() += 1;
    }
    println!(
        "  successful reconciles per group (from the log): {}",
        histogram
            .iter()
            .map(|(times, groups)| format!("{groups} groups × {times}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let failed: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("reconcile failed"))
        .collect();
    let warnings = text
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .count();
    println!(
        "  serve log: {} reconcile failures, {warnings} WARN/ERROR lines",
        failed.len()
    );
    let mut distinct: BTreeMap<String, usize> = BTreeMap::new();
    for line in &failed {
        let error = line
            .split("error=")
            .nth(1)
            .unwrap_or(line)
            .chars()
            .take(160)
            .collect::<String>();
        // Group messages that differ only by names and numbers.
        let shape: String = error
            .chars()
            .map(|c| if c.is_ascii_digit() { '#' } else { c })
            .collect();
        *distinct.entry(shape).or_default() += 1;
    }
    let mut distinct: Vec<_> = distinct.into_iter().collect();
    distinct.sort_by_key(|e| std::cmp::Reverse(e.1));
    for (shape, count) in distinct.into_iter().take(5) {
        println!("    {count:>5} × {shape}");
    }
}

fn launch(
    setup: &Setup,
    identity: &str,
    settings: &Settings,
    sync_period: &str,
) -> ControllerProcess {
    let mut args = setup.serve_args();
    args.retain(|a| !a.starts_with("--sync-period="));
    args.extend([
        format!("--enable-leader-election={}", settings.leader_election),
        format!("--sync-period={sync_period}"),
        format!(
            "--ingress-max-concurrent-reconciles={}",
            settings.concurrency
        ),
        format!(
            "--targetgroupbinding-max-concurrent-reconciles={}",
            settings.concurrency
        ),
        format!("--aws-api-throttle={}", settings.throttle),
    ]);
    ControllerProcess::launch(
        setup,
        Launch {
            identity,
            args,
            kubeconfig: &setup.kubeconfig,
            access_key: "testing",
            env: vec![
                ("POD_NAMESPACE".to_owned(), setup.namespace.clone()),
                // The per-call debug lines of the binary would weigh on the run at this size.
                ("RUST_LOG".to_owned(), "info".to_owned()),
            ],
            webhook_port: setup.webhook_port,
        },
    )
}

/// Waits until `serve` holds the Lease (at once without leader election).
async fn wait_leader(controller: &ControllerProcess, settings: &Settings) {
    let started = Instant::now();
    while settings.leader_election && !controller.log_text().contains("became leader") {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "serve did not become leader; log: {}",
            controller.log.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `serve` finished at least `reconciles` group reconciles, its queues are empty
/// and no AWS call arrived for `quiet`; false at the deadline.
async fn settle(
    controller: &ControllerProcess,
    recorder: &Recorder,
    reconciles: f64,
    quiet: Duration,
    deadline: Instant,
) -> bool {
    loop {
        let metrics = controller.metrics().unwrap_or_default();
        let quiet_for = recorder
            .last_at()
            .and_then(|at| at.elapsed().ok())
            .unwrap_or(Duration::MAX);
        if group_reconciles(&metrics) >= reconciles && queues_idle(&metrics) && quiet_for >= quiet {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The samples of a metric family by their labels.
fn series(text: &str, prefix: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name[prefix.len()..].to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The reconcile counters of a `serve` process, for the phase reports.
fn print_reconciles(metrics: &str, before: &str) {
    let delta = |prefix: &str| metric(metrics, prefix) - metric(before, prefix);
    println!(
        "  reconciles: {} group ({} failed), {} binding ({} failed); queue retries {}; AWS call errors {}",
        delta("controller_runtime_reconcile_total{controller=\"ingress\""),
        delta("controller_runtime_reconcile_total{controller=\"ingress\",result=\"error\""),
        delta("controller_runtime_reconcile_total{controller=\"targetGroupBinding\""),
        delta(
            "controller_runtime_reconcile_total{controller=\"targetGroupBinding\",result=\"error\""
        ),
        delta("workqueue_retries_total{"),
        delta("aws_api_call_errors_total{"),
    );
    let errors_before = series(before, "aws_api_call_errors_total");
    for (labels, value) in series(metrics, "aws_api_call_errors_total") {
        let delta = value - errors_before.get(&labels).copied().unwrap_or_default();
        if delta > 0.0 {
            println!("    aws_api_call_errors_total{labels} +{delta}");
        }
    }
}

#[tokio::main]
async fn main() {
    let settings = Settings::from_env();
    let (groups, per_group) = (settings.groups, settings.per_group);
    println!(
        "scale: {groups} IngressGroups × {per_group} Ingresses = {} Ingresses, one Service each (ip targets); \
         --ingress-max-concurrent-reconciles={c} --targetgroupbinding-max-concurrent-reconciles={c} \
         --aws-api-throttle={} --enable-leader-election={}; {} creates in flight",
        settings.total(),
        settings.throttle,
        settings.leader_election,
        settings.apply_concurrency,
        c = settings.concurrency,
    );

    let (world, recorder) = World::recorded().await;
    let setup = &world.setup;
    let ns = setup.namespace.as_str();
    let client = &world.client;
    let pids = Pids {
        moto: MotoServer::shared().pid(),
        control_plane: world.cluster.pid(),
    };
    apply_class(client, &setup.class, "ip").await;

    let mut controller = launch(setup, "scale-1", &settings, "10h");
    controller.wait_ready().await;
    wait_leader(&controller, &settings).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let startup_calls = recorder.count();
    let serve_rss_start = status_kib(&controller.pid().to_string(), "VmRSS");

    // --- Services, then the Ingresses group by group, while serve runs ---
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    let started = Instant::now();
    futures::stream::iter((0..groups).flat_map(|g| (0..per_group).map(move |i| (g, i))))
        .map(|(g, i)| {
            let services = services.clone();
            async move {
                services
                    .create(&PostParams::default(), &service(&service_name(g, i)))
                    .await
                    .unwrap_or_else(|e| panic!("create Service {}: {e}", service_name(g, i)));
            }
        })
        .buffer_unordered(settings.apply_concurrency)
        .collect::<()>()
        .await;
    let services_applied = started.elapsed();
    println!(
        "applied {} Services in {services_applied:.1?} ({:.0}/s); serve RSS {} (before: {})",
        settings.total(),
        settings.total() as f64 / services_applied.as_secs_f64(),
        mib(status_kib(&controller.pid().to_string(), "VmRSS")),
        mib(serve_rss_start),
    );

    let ingresses: Api<Ingress> = Api::namespaced(client.clone(), ns);
    let since = Arc::new(Mutex::new(None));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let watch = watch_hostnames(ingresses.clone(), per_group, since.clone(), seen.clone());
    let metrics_before = controller.metrics().unwrap_or_default();
    let calls_before = recorder.count();
    let timings_before = recorder.timings().len();
    let log_before = controller.log_text().len();
    let cpu_before = Cpu::now(&pids, &controller);
    let started = Instant::now();
    *since.lock().unwrap() = Some(started);
    let class = setup.class.clone();
    futures::stream::iter((0..groups).flat_map(|g| (0..per_group).map(move |i| (g, i))))
        .map(|(g, i)| {
            let ingresses = ingresses.clone();
            let ingress = ingress_named(
                &ingress_name(g, i),
                &class,
                &format!("/s{i}"),
                &service_name(g, i),
                json!({"alb.ingress.kubernetes.io/group.name": format!("scale-{g}")}),
            );
            async move {
                ingresses
                    .create(&PostParams::default(), &ingress)
                    .await
                    .unwrap_or_else(|e| panic!("create Ingress {}: {e}", ingress_name(g, i)));
            }
        })
        .buffer_unordered(settings.apply_concurrency)
        .collect::<()>()
        .await;
    let applied = started.elapsed();
    println!(
        "applied {} Ingresses in {applied:.1?} ({:.0}/s); {} AWS calls so far",
        settings.total(),
        settings.total() as f64 / applied.as_secs_f64(),
        recorder.count() - calls_before,
    );

    // Converged: every Ingress has its hostname; progress every 15 s.
    let deadline = started + settings.deadline;
    let mut last_report = (
        Instant::now(),
        recorder.count(),
        Cpu::now(&pids, &controller),
    );
    let converged = loop {
        let hosted = seen.lock().unwrap().hosted_count;
        if hosted >= settings.total() {
            break Some(started.elapsed());
        }
        if Instant::now() > deadline {
            break None;
        }
        if last_report.0.elapsed() >= Duration::from_secs(15) {
            let (count, cpu) = (recorder.count(), Cpu::now(&pids, &controller));
            let wall = last_report.0.elapsed().as_secs_f64();
            let done = seen.lock().unwrap().group_done.len();
            eprintln!(
                "scale: {:>6.0} s  {hosted} Ingresses with a hostname, {done} groups converged; {} AWS calls ({:.0}/s); \
                 last {wall:.0} s: moto {:.0} % of a core, serve {:.0} %, control plane {:.0} %; serve RSS {}",
                started.elapsed().as_secs_f64(),
                count - calls_before,
                (count - last_report.1) as f64 / wall,
                100.0 * (cpu.moto - last_report.2.moto) / wall,
                100.0 * (cpu.serve - last_report.2.serve) / wall,
                100.0 * (cpu.control_plane - last_report.2.control_plane) / wall,
                mib(status_kib(&controller.pid().to_string(), "VmRSS")),
            );
            last_report = (Instant::now(), count, cpu);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let settled = settle(
        &controller,
        &recorder,
        0.0,
        settings.quiet,
        deadline.max(Instant::now() + Duration::from_secs(60)),
    )
    .await;
    let settled_at = started.elapsed();
    let cpu_created = Cpu::now(&pids, &controller);
    let metrics_created = controller.metrics().unwrap_or_default();
    let calls = recorder.calls_from(calls_before);
    let timings = recorder.timings();
    let serve1_hwm = status_kib(&controller.pid().to_string(), "VmHWM");
    let serve1_rss = status_kib(&controller.pid().to_string(), "VmRSS");
    let mut group_done = seen.lock().unwrap().group_done.clone();
    group_done.sort();
    let hosted = seen.lock().unwrap().hosted_count;

    println!(
        "create: {}",
        match converged {
            Some(t) => format!(
                "every Ingress had its hostname {t:.1?} after the Ingress applies began (goal < {GOAL_CONVERGE:?}); \
                 work queues empty and AWS quiet at {settled_at:.1?}{}",
                if settled { "" } else { " — NOT settled" }
            ),
            None => format!(
                "STOPPED at the deadline ({:?}): {hosted} of {} Ingresses with a hostname, {} of {groups} groups",
                settings.deadline,
                settings.total(),
                group_done.len()
            ),
        }
    );
    println!(
        "  groups converged: first {:.1?}, p50 {:.1?}, p90 {:.1?}, last {:.1?} ({:.1} groups/s over the run); hostname e.g. {}",
        group_done.first().copied().unwrap_or_default(),
        percentile(&group_done, 0.5),
        percentile(&group_done, 0.9),
        group_done.last().copied().unwrap_or_default(),
        group_done.len() as f64
            / group_done
                .last()
                .copied()
                .unwrap_or_default()
                .as_secs_f64()
                .max(0.001),
        seen.lock()
            .unwrap()
            .hostname_sample
            .clone()
            .unwrap_or_default(),
    );
    println!(
        "  serve startup before the first object: {startup_calls} AWS calls (not counted below)"
    );
    print_calls(&calls, groups);
    println!(
        "  goal ≤ {GOAL_CALLS_PER_GROUP} calls per group on create: {:.2}",
        calls.len() as f64 / groups.max(1) as f64
    );
    print_reconciles(&metrics_created, &metrics_before);
    print_failures(&controller.log_text(), log_before);
    cpu_before.print_since(&cpu_created, false);
    print_timings(timings.get(timings_before..).unwrap_or_default());
    println!(
        "  serve (pid {}) peak RSS (VmHWM) {}, RSS now {} (goal < {GOAL_RSS_MB} MB)",
        controller.pid(),
        mib(serve1_hwm),
        mib(serve1_rss)
    );

    // What moto holds.
    let (lbs, tgs) = in_moto(&world).await;
    println!(
        "  in moto: {lbs} load balancers (want {groups}), {tgs} target groups (want {})",
        settings.total()
    );

    probe_moto(&world, &setup.cluster).await;

    if converged.is_some() && settled {
        resync(&world, &recorder, &pids, &settings, controller).await;
    } else {
        println!("re-sync skipped: the create did not converge");
        controller.stop();
    }
    watch.abort();
    println!(
        "moto (pid {}) RSS {}, peak (VmHWM) {}",
        pids.moto,
        mib(status_kib(&pids.moto.to_string(), "VmRSS")),
        mib(status_kib(&pids.moto.to_string(), "VmHWM")),
    );
    println!(
        "control plane {}; serve logs under {}",
        world
            .cluster
            .dir
            .as_ref()
            .map_or_else(String::new, |d| d.display().to_string()),
        setup.log_dir.display()
    );
}

/// The restart re-sync and the first periodic re-sync of the restarted process.
async fn resync(
    world: &World,
    recorder: &Recorder,
    pids: &Pids,
    settings: &Settings,
    mut first: ControllerProcess,
) {
    let groups = settings.groups;
    first.stop();
    drop(first);
    // With SYNC_PERIOD this process's tick is measured; else it keeps the default period and a
    // third process gets one long enough for its own first sync to finish before the tick.
    let period = settings
        .sync_period
        .unwrap_or_else(|| Duration::from_secs(10 * 3600));
    let calls_before = recorder.count();
    let timings_before = recorder.timings().len();
    let started = Instant::now();
    let wall_start = SystemTime::now();
    let controller = launch(
        &world.setup,
        "scale-2",
        settings,
        &format!("{}s", period.as_secs()),
    );
    let mut controller = controller;
    let cpu_before = Cpu::now(pids, &controller);
    controller.wait_ready().await;
    wait_leader(&controller, settings).await;
    let deadline = Instant::now() + settings.deadline;
    let settled = settle(
        &controller,
        recorder,
        groups as f64,
        settings.quiet,
        deadline,
    )
    .await;
    let took = started.elapsed();
    let cpu_after = Cpu::now(pids, &controller);
    let mut metrics_restart = controller.metrics().unwrap_or_default();
    let calls = recorder.calls_from(calls_before);
    let last_call = calls
        .last()
        .and_then(|c| c.at.duration_since(wall_start).ok())
        .unwrap_or_default();
    println!(
        "re-sync after a restart (new process, nothing in memory): {groups} groups settled in {took:.1?} (last AWS call at {last_call:.1?}){}",
        if settled { "" } else { " — NOT settled" }
    );
    print_calls(&calls, groups);
    println!(
        "  goal ≤ {GOAL_RESYNC_READS_PER_GROUP} reads per group: {:.2}",
        calls.iter().filter(|c| !c.is_mutating()).count() as f64 / groups.max(1) as f64
    );
    print_reconciles(&metrics_restart, "");
    cpu_before.print_since(&cpu_after, true);
    print_timings(recorder.timings().get(timings_before..).unwrap_or_default());
    let (mut started, mut period) = (started, period);
    if settings.sync_period.is_none() {
        controller.stop();
        period = Duration::from_secs(2 * took.as_secs() + 30);
        started = Instant::now();
        controller = launch(
            &world.setup,
            "scale-3",
            settings,
            &format!("{}s", period.as_secs()),
        );
        controller.wait_ready().await;
        wait_leader(&controller, settings).await;
        let settled = settle(
            &controller,
            recorder,
            groups as f64,
            settings.quiet,
            Instant::now() + settings.deadline,
        )
        .await;
        println!(
            "a third process with --sync-period={}s (twice the restart's sync + 30 s): its own first sync settled in {:.1?}{}",
            period.as_secs(),
            started.elapsed(),
            if settled { "" } else { " — NOT settled" }
        );
        metrics_restart = controller.metrics().unwrap_or_default();
    }
    let log_before = controller.log_text().len();

    // The first periodic resync of this process.
    let tick = started + period;
    let overlap = Instant::now() > tick;
    let calls_before = recorder.count();
    let timings_before = recorder.timings().len();
    tokio::time::sleep_until(tokio::time::Instant::from_std(tick)).await;
    let cpu_before = Cpu::now(pids, &controller);
    // Keys still queued from the first sync at the tick are not queued twice: then only the
    // empty queues and the quiet count.
    let settled = settle(
        &controller,
        recorder,
        if overlap { 0.0 } else { 2.0 * groups as f64 },
        settings.quiet,
        Instant::now() + settings.deadline,
    )
    .await;
    let cpu_after = Cpu::now(pids, &controller);
    let calls = recorder.calls_from(calls_before);
    let span = match (calls.first(), calls.last()) {
        (Some(a), Some(b)) => b.at.duration_since(a.at).unwrap_or_default(),
        _ => Duration::ZERO,
    };
    println!(
        "periodic re-sync (--sync-period={}s, same process, {} after its start){}{}: calls within {span:.1?}",
        period.as_secs(),
        if period < Duration::from_secs(300) {
            "the bindings' remembered targets still trusted (5 min)"
        } else {
            "the bindings' remembered targets no longer trusted (5 min)"
        },
        if settled { "" } else { " — NOT settled" },
        if overlap {
            " — OVERLAPS the restart's sync (raise SYNC_PERIOD)"
        } else {
            ""
        },
    );
    print_calls(&calls, groups);
    println!(
        "  goal ≤ {GOAL_RESYNC_READS_PER_GROUP} reads per group: {:.2}",
        calls.iter().filter(|c| !c.is_mutating()).count() as f64 / groups.max(1) as f64
    );
    print_reconciles(&controller.metrics().unwrap_or_default(), &metrics_restart);
    print_failures(&controller.log_text(), log_before);
    cpu_before.print_since(&cpu_after, false);
    print_timings(recorder.timings().get(timings_before..).unwrap_or_default());
    println!(
        "  serve (pid {}, restarted) peak RSS (VmHWM) {} (goal < {GOAL_RSS_MB} MB)",
        controller.pid(),
        mib(status_kib(&controller.pid().to_string(), "VmHWM")),
    );
    controller.stop();
}

/// Load balancers and target groups in moto (read directly, not through the proxy).
async fn in_moto(world: &World) -> (usize, usize) {
    let elbv2 = &world.clients.elbv2;
    let mut lbs = 0;
    let mut pages = elbv2.describe_load_balancers().into_paginator().send();
    while let Some(page) = pages.next().await {
        lbs += page
            .expect("describe load balancers")
            .load_balancers()
            .len();
    }
    let mut tgs = 0;
    let mut pages = elbv2.describe_target_groups().into_paginator().send();
    while let Some(page) = pages.next().await {
        tgs += page.expect("describe target groups").target_groups().len();
    }
    (lbs, tgs)
}

/// Moto's service time per call at this size, with nothing else running: each read the
/// controller makes per group (and a target group created and deleted), sent one at a time
/// straight to moto, 10 times; the mean.
async fn probe_moto(world: &World, cluster: &str) {
    use aws_sdk_ec2::types::Filter;
    use aws_sdk_elasticloadbalancingv2::types::{ProtocolEnum, TargetTypeEnum};
    use aws_sdk_resourcegroupstagging::types::TagFilter;
    use model::tags::{TAG_CLUSTER, TAG_INGRESS_STACK};
    const ROUNDS: u32 = 10;
    let clients = &world.clients;
    let tg_arn = clients
        .elbv2
        .describe_target_groups()
        .page_size(1)
        .send()
        .await
        .ok()
        .and_then(|o| {
            o.target_groups()
                .first()?
                .target_group_arn()
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let mut line = Vec::new();
    macro_rules! timed {
        ($what:expr, $round:ident, $call:expr) => {{
            let started = Instant::now();
            for $round in 0..ROUNDS {
                let _ = $call;
            }
            line.push(format!(
                "{} {:.0} ms",
                $what,
                started.elapsed().as_secs_f64() * 1000.0 / f64::from(ROUNDS)
            ));
        }};
    }
    timed!(
        "GetResources (cluster + stack tags)",
        round,
        clients
            .tagging
            .get_resources()
            .tag_filters(
                TagFilter::builder()
                    .key(TAG_CLUSTER)
                    .values(cluster)
                    .build()
            )
            .tag_filters(
                TagFilter::builder()
                    .key(TAG_INGRESS_STACK)
                    .values(format!("scale-{round}"))
                    .build(),
            )
            .resource_type_filters("elasticloadbalancing:loadbalancer")
            .send()
            .await
    );
    timed!(
        "DescribeSecurityGroups (by tags)",
        round,
        clients
            .ec2
            .describe_security_groups()
            .filters(
                Filter::builder()
                    .name(format!("tag:{TAG_CLUSTER}"))
                    .values(cluster)
                    .build(),
            )
            .filters(
                Filter::builder()
                    .name(format!("tag:{TAG_INGRESS_STACK}"))
                    .values(format!("scale-{round}"))
                    .build(),
            )
            .send()
            .await
    );
    timed!(
        "DescribeLoadBalancers (a name not taken)",
        round,
        clients
            .elbv2
            .describe_load_balancers()
            .names(format!("probe-{round}"))
            .send()
            .await
    );
    timed!(
        "DescribeTargetHealth",
        _round,
        clients
            .elbv2
            .describe_target_health()
            .target_group_arn(&tg_arn)
            .send()
            .await
    );
    timed!("CreateTargetGroup + DeleteTargetGroup", round, {
        let created = clients
            .elbv2
            .create_target_group()
            .name(format!("probe-{round}"))
            .protocol(ProtocolEnum::Http)
            .port(8080)
            .vpc_id(&world.net.vpc_id)
            .target_type(TargetTypeEnum::Ip)
            .send()
            .await;
        if let Some(arn) = created.ok().and_then(|o| {
            o.target_groups()
                .first()?
                .target_group_arn()
                .map(str::to_owned)
        }) {
            let _ = clients
                .elbv2
                .delete_target_group()
                .target_group_arn(arn)
                .send()
                .await;
        }
    });
    println!(
        "  moto alone, one call at a time at this size (mean of {ROUNDS}): {}",
        line.join(", ")
    );
}
