//! Crash soak: random changes to a set of Ingresses (create, change path, join or leave a
//! group, delete) and of LoadBalancer Services (create, add or drop a port, delete), each
//! followed by SIGKILL of the controller at a random moment inside the reconciles it started,
//! and a restart. Then the controller must converge: exactly one load balancer per live
//! IngressGroup and per live Service, no duplicate target group, listener or rule, no resource
//! of a stack that no longer exists, every live Ingress and Service with our finalizer and its
//! hostname. Then everything is deleted: no Ingress or Service may keep a finalizer and nothing
//! tagged with the cluster may stay in AWS.
//!
//! The same soak runs a second time with AWS failing a share of the controller's requests (a
//! faulty proxy in front of moto: throttling, 500/503 before or after the call took effect,
//! slow answers; `SOAK_FAULT_RATE`, default 0.2): it must converge just the same, and the
//! failures show in `aws_api_call_errors_total`.
//!
//! `make test` runs 5 trials over 6 Ingresses; `make soak` runs 50 over 12
//! (`SOAK_TRIALS`, `SOAK_INGRESSES`; `SOAK_SEED` replays a run). Prints trials, kills, leaks,
//! duplicates and the time to converge; asserts invariants, never timings.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

use crate::World;
use crate::support::aws_recorder::{Faults, Recorder};
use crate::support::e2e::{ControllerProcess, Launch, apply_class, ingress_named, service};
use crate::support::process::http_get;
use crate::support::rng::Rng;
use model::group::{EXPLICIT_GROUP_FINALIZER_PREFIX, IMPLICIT_GROUP_FINALIZER};
use model::tags::{
    TAG_CLUSTER, TAG_INGRESS_RESOURCE, TAG_INGRESS_STACK, TAG_SERVICE_RESOURCE, TAG_SERVICE_STACK,
};

/// The Services of the soak (NLBs).
const SERVICES: u64 = 3;

/// The stack a resource's tags name: the IngressGroup's ID, or `service:<ns>/<name>`, with its
/// resource ID.
fn stack_of(tags: &BTreeMap<String, String>) -> (String, String) {
    match tags.get(TAG_SERVICE_STACK) {
        Some(stack) => (
            format!("service:{stack}"),
            tags.get(TAG_SERVICE_RESOURCE).cloned().unwrap_or_default(),
        ),
        None => (
            tags.get(TAG_INGRESS_STACK).cloned().unwrap_or_default(),
            tags.get(TAG_INGRESS_RESOURCE).cloned().unwrap_or_default(),
        ),
    }
}

/// How long the controller may take to converge after the last restart.
const CONVERGE_WITHIN: Duration = Duration::from_secs(180);

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What one Ingress looks like now (`None`: absent).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Shape {
    group: Option<String>,
    path: String,
}

#[tokio::test]
async fn random_changes_and_kills_converge_without_leaks_or_duplicates() {
    let world = World::new().await;
    world.run(scenario(&world, None)).await;
}

#[tokio::test]
async fn the_same_converges_while_aws_fails_a_share_of_calls() {
    let mut world = World::new().await;
    let rate = std::env::var("SOAK_FAULT_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.2);
    let faults = Faults {
        rate,
        seed: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(7, |d| d.as_nanos() as u64),
    };
    let proxy = Recorder::start_with(&world.setup.aws_endpoint, Some(faults)).await;
    // The controller goes through the proxy; the checks read moto directly.
    world.setup.aws_endpoint = proxy.endpoint.clone();
    let world = world;
    world.run(scenario(&world, Some(&proxy))).await;
}

async fn scenario(world: &World, faults: Option<&Recorder>) {
    let setup = &world.setup;
    let client = &world.client;
    let ns = setup.namespace.as_str();
    let trials = env_or("SOAK_TRIALS", 5);
    let count = env_or("SOAK_INGRESSES", 6);
    let seed = env_or(
        "SOAK_SEED",
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1,
    );
    eprintln!("soak: seed {seed}, {trials} trials over {count} Ingresses and {SERVICES} Services");
    let mut rng = Rng::new(seed);
    let groups = [
        format!("soak-{}-a", setup.id),
        format!("soak-{}-b", setup.id),
    ];

    apply_class(client, &setup.class, "ip").await;
    Api::<Service>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &service("web"))
        .await
        .unwrap();
    // One replica without leader election: a restart takes over at once instead of waiting out
    // the dead process's lease.
    let launch = |identity: &str| {
        let mut args = setup.serve_args();
        args.push("--enable-leader-election=false".to_owned());
        ControllerProcess::launch(
            setup,
            Launch {
                identity,
                args,
                kubeconfig: &setup.kubeconfig,
                access_key: "testing",
                env: vec![("POD_NAMESPACE".to_owned(), ns.to_owned())],
                webhook_port: setup.webhook_port,
            },
        )
    };
    let ingresses: Api<Ingress> = Api::namespaced(client.clone(), ns);
    let mut shapes: BTreeMap<String, Shape> = BTreeMap::new();
    let mut controller = launch("soak-0");
    controller.wait_ready().await;

    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    // Live NLB Services by name: how many ports each has.
    let mut nlbs: BTreeMap<String, u64> = BTreeMap::new();
    let mut kills = 0;
    for trial in 1..=trials {
        // A Service change, then two or three Ingress changes, then a kill at a random moment
        // of the reconciles they start.
        let name = format!("s{}", rng.below(SERVICES));
        let next = match (nlbs.get(&name), rng.below(3)) {
            (None, _) => Some(1 + rng.below(2)),
            (Some(_), 0) => None,
            (Some(ports), _) => Some(3 - ports),
        };
        apply_service(
            &services,
            &setup.load_balancer_class(),
            &name,
            nlbs.contains_key(&name),
            next,
        )
        .await;
        match next {
            Some(ports) => nlbs.insert(name, ports),
            None => nlbs.remove(&name),
        };
        for _ in 0..2 + rng.below(2) {
            let name = format!("i{}", rng.below(count));
            let current = shapes.get(&name).cloned();
            let path = format!("/p{}", rng.below(4));
            let group = match rng.below(3) {
                0 => None,
                g => Some(groups[(g - 1) as usize].clone()),
            };
            let next = match (&current, rng.below(4)) {
                (None, _) => Some(Shape { group, path }),
                (Some(_), 0) => None,
                (Some(old), 1) => Some(Shape {
                    group: old.group.clone(),
                    path,
                }),
                (Some(old), _) => Some(Shape {
                    group,
                    path: old.path.clone(),
                }),
            };
            apply(
                &ingresses,
                &setup.class,
                &name,
                current.as_ref(),
                next.as_ref(),
            )
            .await;
            match next {
                Some(shape) => shapes.insert(name, shape),
                None => shapes.remove(&name),
            };
        }
        tokio::time::sleep(Duration::from_millis(rng.below(2500))).await;
        controller.kill();
        kills += 1;
        controller = launch(&format!("soak-{trial}"));
        controller.wait_ready().await;
    }

    // Converge: AWS holds exactly what the live Ingresses call for.
    let started = Instant::now();
    let expected: BTreeSet<String> = shapes
        .iter()
        .map(|(name, shape)| {
            shape
                .group
                .clone()
                .unwrap_or_else(|| format!("{ns}/{name}"))
        })
        .chain(nlbs.keys().map(|name| format!("service:{ns}/{name}")))
        .collect();
    let mut last = Findings::default();
    while started.elapsed() < CONVERGE_WITHIN {
        last = findings(world, &expected).await;
        if last.is_clean()
            && ingresses_settled(&ingresses, &shapes).await
            && services_settled(&services, &nlbs).await
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let converged = started.elapsed();
    eprintln!(
        "soak: trials {trials}, kills {kills}, leaks {}, duplicates {}, converged in {:.1} s ({} stacks)",
        last.leaks.len(),
        last.duplicates.len(),
        converged.as_secs_f64(),
        expected.len()
    );
    assert!(
        last.is_clean(),
        "not converged within {CONVERGE_WITHIN:?} (seed {seed}): {last:?}; logs: {}",
        controller.log.display()
    );
    assert!(
        ingresses_settled(&ingresses, &shapes).await,
        "Ingresses without finalizer or hostname"
    );
    assert!(
        services_settled(&services, &nlbs).await,
        "Services without finalizer or hostname"
    );
    if let Some(proxy) = faults {
        let injected = proxy.injected();
        let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, kind) in &injected {
            *by_kind.entry(kind).or_default() += 1;
        }
        let metrics = http_get(controller.metrics_port, "/metrics")
            .map(|(_, body)| body)
            .unwrap_or_default();
        let failed: Vec<&str> = metrics
            .lines()
            .filter(|l| l.starts_with("aws_api_call_errors_total{"))
            .collect();
        eprintln!(
            "soak: {} of {} AWS requests failed on purpose {by_kind:?}; the last controller counted {} error series, e.g. {:?}",
            injected.len(),
            proxy.calls().len(),
            failed.len(),
            failed.first()
        );
        assert!(!injected.is_empty(), "no fault was injected");
    }

    // Delete everything: no finalizer stays, nothing of the cluster stays in AWS.
    for name in shapes.keys() {
        let _ = ingresses.delete(name, &DeleteParams::default()).await;
    }
    for name in nlbs.keys() {
        let _ = services.delete(name, &DeleteParams::default()).await;
    }
    let deleted = Instant::now();
    let mut left = (0, Findings::default());
    while deleted.elapsed() < CONVERGE_WITHIN {
        let mut remaining = ingresses
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .len();
        for name in nlbs.keys() {
            if services.get_opt(name).await.ok().flatten().is_some() {
                remaining += 1;
            }
        }
        left = (remaining, findings(world, &BTreeSet::new()).await);
        let owned_sgs = crate::support::security_groups_tagged(
            &world.clients,
            &[(TAG_CLUSTER, setup.cluster.as_str())],
        )
        .await;
        if remaining == 0 && left.1.is_clean() && owned_sgs.is_empty() {
            eprintln!(
                "soak: deleted everything in {:.1} s",
                deleted.elapsed().as_secs_f64()
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!(
        "after deletion (seed {seed}): {} Ingresses and Services left, {:?}; logs: {}",
        left.0,
        left.1,
        controller.log.display()
    );
}

/// Makes the Ingress `name` look like `next` (absent when `None`).
async fn apply(
    ingresses: &Api<Ingress>,
    class: &str,
    name: &str,
    current: Option<&Shape>,
    next: Option<&Shape>,
) {
    let Some(shape) = next else {
        ingresses
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
        // A deleted Ingress lingers until the controller removes its finalizer; the name can
        // come back only after that, so the soak never re-creates one it just deleted.
        wait_gone(ingresses, name).await;
        return;
    };
    let annotations = match &shape.group {
        Some(group) => json!({"alb.ingress.kubernetes.io/group.name": group}),
        None => json!({}),
    };
    let wanted = ingress_named(name, class, &shape.path, "web", annotations);
    if current.is_none() {
        ingresses
            .create(&PostParams::default(), &wanted)
            .await
            .unwrap();
        return;
    }
    // Replace the spec and annotations, keeping what the controller wrote (finalizers, status);
    // when the controller wrote in between (409), read again.
    for _ in 0..20 {
        let mut live = ingresses.get(name).await.unwrap();
        live.spec = wanted.spec.clone();
        live.metadata.annotations = wanted.metadata.annotations.clone();
        match ingresses.replace(name, &PostParams::default(), &live).await {
            Ok(_) => return,
            Err(kube::Error::Api(e)) if e.code == 409 => continue,
            Err(e) => panic!("replace Ingress {name}: {e}"),
        }
    }
    panic!("replace Ingress {name}: conflicts kept coming");
}

/// Makes the NLB Service `name` have `next` ports (80, and 81 when two; absent when `None`).
async fn apply_service(
    services: &Api<Service>,
    class: &str,
    name: &str,
    exists: bool,
    next: Option<u64>,
) {
    let Some(ports) = next else {
        services
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
        let start = Instant::now();
        while services.get_opt(name).await.unwrap().is_some() {
            assert!(
                start.elapsed() < CONVERGE_WITHIN,
                "Service {name} kept its finalizer"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        return;
    };
    let ports: Vec<serde_json::Value> = (0..ports)
        .map(|i| json!({"name": format!("p{i}"), "port": 80 + i, "targetPort": 8080, "protocol": "TCP"}))
        .collect();
    if !exists {
        let svc: Service = serde_json::from_value(json!({
            "metadata": {"name": name, "annotations": {
                "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip"}},
            "spec": {"type": "LoadBalancer", "loadBalancerClass": class,
                     "selector": {"app": "web"}, "ports": ports}
        }))
        .unwrap();
        services.create(&PostParams::default(), &svc).await.unwrap();
        return;
    }
    for _ in 0..20 {
        let mut live = services.get(name).await.unwrap();
        if let Some(spec) = live.spec.as_mut() {
            spec.ports = serde_json::from_value(json!(ports)).unwrap();
        }
        match services.replace(name, &PostParams::default(), &live).await {
            Ok(_) => return,
            Err(kube::Error::Api(e)) if e.code == 409 => continue,
            Err(e) => panic!("replace Service {name}: {e}"),
        }
    }
    panic!("replace Service {name}: conflicts kept coming");
}

/// Every live NLB Service carries our finalizer and a hostname.
async fn services_settled(services: &Api<Service>, nlbs: &BTreeMap<String, u64>) -> bool {
    for name in nlbs.keys() {
        let Ok(Some(svc)) = services.get_opt(name).await else {
            return false;
        };
        let finalized = svc
            .metadata
            .finalizers
            .iter()
            .flatten()
            .any(|f| f == contract::service::FINALIZER);
        let hostname = svc
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .is_some_and(|i| i.iter().any(|i| i.hostname.is_some()));
        if !(finalized && hostname) {
            return false;
        }
    }
    true
}

async fn wait_gone(ingresses: &Api<Ingress>, name: &str) {
    let start = Instant::now();
    while ingresses.get_opt(name).await.unwrap().is_some() {
        assert!(
            start.elapsed() < CONVERGE_WITHIN,
            "Ingress {name} kept its finalizer"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every live Ingress carries our finalizer and a hostname.
async fn ingresses_settled(ingresses: &Api<Ingress>, shapes: &BTreeMap<String, Shape>) -> bool {
    for name in shapes.keys() {
        let Ok(Some(ing)) = ingresses.get_opt(name).await else {
            return false;
        };
        let finalized = ing.metadata.finalizers.iter().flatten().any(|f| {
            f == IMPLICIT_GROUP_FINALIZER || f.starts_with(EXPLICIT_GROUP_FINALIZER_PREFIX)
        });
        let hostname = ing
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .is_some_and(|i| i.iter().any(|i| i.hostname.is_some()));
        if !(finalized && hostname) {
            return false;
        }
    }
    true
}

#[derive(Debug, Default)]
struct Findings {
    /// Resources of stacks that should not exist, or expected stacks without a load balancer.
    leaks: Vec<String>,
    /// Stacks with more than one load balancer, a resource ID with several target groups, a
    /// port with several listeners, a priority with several rules.
    duplicates: Vec<String>,
}

impl Findings {
    fn is_clean(&self) -> bool {
        self.leaks.is_empty() && self.duplicates.is_empty()
    }
}

/// What AWS holds for this cluster, against the stacks that should exist.
async fn findings(world: &World, expected: &BTreeSet<String>) -> Findings {
    let clients = &world.clients;
    let cluster = world.setup.cluster.as_str();
    let mut out = Findings::default();
    let lbs = clients
        .elbv2
        .describe_load_balancers()
        .send()
        .await
        .unwrap()
        .load_balancers()
        .to_vec();
    let tgs = clients
        .elbv2
        .describe_target_groups()
        .send()
        .await
        .unwrap()
        .target_groups()
        .to_vec();
    let arns: Vec<String> = lbs
        .iter()
        .filter_map(|lb| lb.load_balancer_arn().map(str::to_owned))
        .chain(
            tgs.iter()
                .filter_map(|tg| tg.target_group_arn().map(str::to_owned)),
        )
        .collect();
    let tags = crate::support::inventory::elbv2_tags(clients, &arns).await;
    let ours = |arn: &str| {
        tags.get(arn)
            .filter(|t| t.get(TAG_CLUSTER).map(String::as_str) == Some(cluster))
    };

    let mut lbs_by_stack: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for lb in &lbs {
        let Some(arn) = lb.load_balancer_arn() else {
            continue;
        };
        if let Some(t) = ours(arn) {
            let (stack, _) = stack_of(t);
            lbs_by_stack.entry(stack).or_default().push(arn.to_owned());
        }
    }
    for (stack, arns) in &lbs_by_stack {
        if !expected.contains(stack) {
            out.leaks.push(format!("load balancer of stack {stack}"));
        }
        if arns.len() > 1 {
            out.duplicates
                .push(format!("{} load balancers of stack {stack}", arns.len()));
        }
        for arn in arns {
            listener_duplicates(world, arn, &mut out.duplicates).await;
        }
    }
    for stack in expected {
        if !lbs_by_stack.contains_key(stack) {
            out.leaks
                .push(format!("stack {stack} has no load balancer yet"));
        }
    }

    let mut tgs_by_id: BTreeMap<(String, String), usize> = BTreeMap::new();
    for tg in &tgs {
        let Some(arn) = tg.target_group_arn() else {
            continue;
        };
        if let Some(t) = ours(arn) {
            let (stack, id) = stack_of(t);
            if !expected.contains(&stack) {
                out.leaks
                    .push(format!("target group {arn} of stack {stack}"));
            }
            *tgs_by_id.entry((stack, id)).or_default() += 1;
        }
    }
    for ((stack, id), n) in tgs_by_id {
        if n > 1 {
            out.duplicates
                .push(format!("{n} target groups {id} of stack {stack}"));
        }
    }

    // Managed security groups of stacks that are gone.
    let groups = clients
        .ec2
        .describe_security_groups()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name(format!("tag:{TAG_CLUSTER}"))
                .values(cluster)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut sgs_by_stack: BTreeMap<String, usize> = BTreeMap::new();
    for sg in groups.security_groups() {
        let tags: BTreeMap<String, String> = sg
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
            .collect();
        // The cluster's backend group has no stack; it goes once the last group is gone.
        if !tags.contains_key(TAG_INGRESS_STACK) && !tags.contains_key(TAG_SERVICE_STACK) {
            continue;
        }
        let (stack, _) = stack_of(&tags);
        if !expected.contains(&stack) {
            out.leaks.push(format!(
                "security group {} of stack {stack}",
                sg.group_id().unwrap_or_default()
            ));
        }
        *sgs_by_stack.entry(stack).or_default() += 1;
    }
    for (stack, n) in sgs_by_stack {
        if n > 1 {
            out.duplicates
                .push(format!("{n} managed security groups of stack {stack}"));
        }
    }
    out
}

/// Listeners by port and rules by priority, each at most once.
async fn listener_duplicates(world: &World, lb_arn: &str, out: &mut Vec<String>) {
    let listeners = world
        .clients
        .elbv2
        .describe_listeners()
        .load_balancer_arn(lb_arn)
        .send()
        .await
        .map(|l| l.listeners().to_vec())
        .unwrap_or_default();
    let mut ports: BTreeMap<i32, usize> = BTreeMap::new();
    for listener in &listeners {
        *ports
            .entry(listener.port().unwrap_or_default())
            .or_default() += 1;
        let Some(arn) = listener.listener_arn() else {
            continue;
        };
        let rules = world
            .clients
            .elbv2
            .describe_rules()
            .listener_arn(arn)
            .send()
            .await
            .map(|r| r.rules().to_vec())
            .unwrap_or_default();
        let mut priorities: BTreeMap<String, usize> = BTreeMap::new();
        for rule in &rules {
            *priorities
                .entry(rule.priority().unwrap_or_default().to_owned())
                .or_default() += 1;
        }
        for (priority, n) in priorities {
            if n > 1 {
                out.push(format!("{n} rules at priority {priority} of {arn}"));
            }
        }
    }
    for (port, n) in ports {
        if n > 1 {
            out.push(format!("{n} listeners on port {port} of {lb_arn}"));
        }
    }
}
