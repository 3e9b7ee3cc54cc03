use contract::crd::TargetType;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::*;
use crate::endpoints::tests::{binding, endpoint, node, pod, service, slice};
use crate::fakes::{FakeRegistrar, Journal, RecordingOps};
use crate::networking::TargetMode;

struct Rig {
    journal: Journal,
    registrar: Arc<FakeRegistrar>,
    reconciler: BindingReconciler,
}

fn rig(b: TargetGroupBinding, service_type: Option<&str>) -> Rig {
    let journal = Journal::default();
    let registrar = Arc::new(FakeRegistrar::new(journal.clone()));
    let reconciler = BindingReconciler {
        bindings: Cache::from_objects([b]),
        services: Cache::from_objects(service_type.map(service)),
        slices: Cache::new(),
        pods: Cache::new(),
        nodes: Cache::new(),
        registrar: registrar.clone(),
        ops: Arc::new(RecordingOps::new(journal.clone())),
        metrics: ControllerMetrics::default(),
        networking: None,
        registered: Default::default(),
    };
    Rig {
        journal,
        registrar,
        reconciler,
    }
}

fn key() -> ObjKey {
    ObjKey::new("ns", "tgb")
}

fn ip_binding() -> TargetGroupBinding {
    let mut b = binding("tgb", TargetType::Ip, IntOrString::String("http".into()));
    b.metadata.generation = Some(3);
    b
}

#[tokio::test]
async fn registers_ready_endpoints_once_and_records_the_generation() {
    let r = rig(ip_binding(), Some("ClusterIP"));
    r.reconciler.slices.insert(Arc::new(slice(
        "s1",
        "IPv4",
        vec![
            endpoint("10.0.0.1", Some(true), false, None),
            endpoint("10.0.0.2", Some(true), false, None),
            endpoint("10.0.0.3", Some(false), false, None),
        ],
    )));
    let out = r.reconciler.reconcile(&key()).await.expect("reconciles");
    assert_eq!(out.registered, 2);
    assert_eq!(out.requeue_after, None);
    assert_eq!(
        r.registrar.targets("arn:tg/tgb"),
        [Target::new("10.0.0.1", 8080), Target::new("10.0.0.2", 8080)]
            .into_iter()
            .collect()
    );
    let entries = r.journal.entries();
    assert_eq!(entries[0], "add-finalizer ns/tgb elbv2.k8s.aws/resources");
    assert!(
        entries.contains(&"observed ns/tgb 3".to_string()),
        "{entries:?}"
    );
    // Nothing changed: the second run makes no AWS call at all (the targets registered are
    // remembered from the first).
    r.journal.clear();
    let again = r.reconciler.reconcile(&key()).await.expect("reconciles");
    assert_eq!((again.registered, again.deregistered), (0, 0));
    assert!(r.journal.matching("register").is_empty());
    assert!(
        r.journal.matching("describe").is_empty(),
        "{:?}",
        r.journal.entries()
    );
}

#[tokio::test(start_paused = true)]
async fn an_endpoint_change_costs_only_its_calls_and_drift_is_repaired_after_the_ttl() {
    let r = rig(ip_binding(), Some("ClusterIP"));
    let one = |ip: &str| {
        Arc::new(slice(
            "s1",
            "IPv4",
            vec![endpoint(ip, Some(true), false, None)],
        ))
    };
    r.reconciler.slices.insert(one("10.0.0.1"));
    r.reconciler.reconcile(&key()).await.expect("reconciles");
    // The endpoint moves: one deregister, one register, no describe.
    r.journal.clear();
    r.reconciler.slices.insert(one("10.0.0.2"));
    let moved = r.reconciler.reconcile(&key()).await.expect("reconciles");
    assert_eq!((moved.registered, moved.deregistered), (1, 1));
    assert!(
        r.journal.matching("describe").is_empty(),
        "{:?}",
        r.journal.entries()
    );
    // Someone deregisters it outside the controller: not seen until the memory expires, then
    // described and put back.
    r.registrar
        .deregister("arn:tg/tgb", None, &[Target::new("10.0.0.2", 8080)])
        .await
        .unwrap();
    r.reconciler.reconcile(&key()).await.expect("reconciles");
    assert!(r.registrar.targets("arn:tg/tgb").is_empty());
    tokio::time::advance(crate::registered::REGISTERED_TTL).await;
    let repaired = r.reconciler.reconcile(&key()).await.expect("reconciles");
    assert_eq!(repaired.registered, 1);
    assert_eq!(
        r.registrar.targets("arn:tg/tgb"),
        [Target::new("10.0.0.2", 8080)].into_iter().collect()
    );
}

#[tokio::test]
async fn only_the_difference_is_sent_in_batches() {
    let r = rig(ip_binding(), Some("ClusterIP"));
    let endpoints = (0..450)
        .map(|i| {
            endpoint(
                &format!("10.1.{}.{}", i / 200, i % 200),
                Some(true),
                false,
                None,
            )
        })
        .collect();
    r.reconciler
        .slices
        .insert(Arc::new(slice("s1", "IPv4", endpoints)));
    // One stale target and one already registered.
    let stale = [Target::new("10.9.9.9", 8080), Target::new("10.1.0.0", 8080)];
    r.registrar
        .register("arn:tg/tgb", None, &stale)
        .await
        .expect("seeded");
    r.journal.clear();
    let out = r.reconciler.reconcile(&key()).await.expect("reconciles");
    assert_eq!((out.registered, out.deregistered), (449, 1));
    assert_eq!(
        r.journal.matching("register"),
        [
            "register arn:tg/tgb 200",
            "register arn:tg/tgb 200",
            "register arn:tg/tgb 49"
        ]
    );
    assert_eq!(
        r.journal.matching("deregister"),
        ["deregister arn:tg/tgb 1"]
    );
    assert!(
        r.journal.position("deregister").expect("deregistered")
            < r.journal.position("register ").expect("registered")
    );
    assert_eq!(r.registrar.targets("arn:tg/tgb").len(), 450);
}

#[tokio::test]
async fn readiness_gate_follows_target_health() {
    let r = rig(ip_binding(), Some("ClusterIP"));
    r.reconciler.pods.insert(Arc::new(pod(
        "p1",
        &["target-health.elbv2.k8s.aws/tgb"],
        true,
        "n1",
    )));
    r.reconciler.nodes.insert(Arc::new(node("n1", true, &[])));
    r.reconciler.slices.insert(Arc::new(slice(
        "s1",
        "IPv4",
        vec![endpoint("10.0.0.1", Some(false), false, Some("p1"))],
    )));
    let first = r.reconciler.reconcile(&key()).await.expect("reconciles");
    assert_eq!(
        first.registered, 1,
        "registered although not ready: it waits for our gate"
    );
    assert_eq!(first.requeue_after, Some(READINESS_REQUEUE));
    assert_eq!(
        r.journal.matching("pod-condition"),
        ["pod-condition ns/p1 target-health.elbv2.k8s.aws/tgb False"]
    );
    // The fake reports registered targets healthy on the next describe.
    r.journal.clear();
    let second = r.reconciler.reconcile(&key()).await.expect("reconciles");
    assert_eq!(second.requeue_after, None);
    assert_eq!(
        r.journal.matching("pod-condition"),
        ["pod-condition ns/p1 target-health.elbv2.k8s.aws/tgb True"]
    );
    // Unhealthy again: False with AWS's reason.
    r.registrar.set_state(
        "arn:tg/tgb",
        &Target::new("10.0.0.1", 8080),
        TargetState::Unhealthy,
    );
    let third = r.reconciler.reconcile(&key()).await.expect("reconciles");
    assert_eq!(third.requeue_after, Some(READINESS_REQUEUE));
}

#[tokio::test]
async fn deletion_deregisters_everything_then_removes_the_finalizer() {
    let mut b = ip_binding();
    b.metadata.finalizers = Some(vec![FINALIZER.into()]);
    b.metadata.deletion_timestamp = Some(now());
    let r = rig(b, Some("ClusterIP"));
    r.reconciler.pods.insert(Arc::new(pod(
        "p1",
        &["target-health.elbv2.k8s.aws/tgb"],
        true,
        "n1",
    )));
    let registered = [Target::new("10.0.0.1", 8080), Target::new("10.0.0.2", 8080)];
    r.registrar
        .register("arn:tg/tgb", None, &registered)
        .await
        .expect("seeded");
    r.journal.clear();
    let out = r.reconciler.reconcile(&key()).await.expect("cleans up");
    assert_eq!(out.deregistered, 2);
    assert!(r.registrar.targets("arn:tg/tgb").is_empty());
    let entries = r.journal.entries();
    let dereg = r.journal.position("deregister").expect("deregistered");
    let gate = r
        .journal
        .position("pod-condition ns/p1 target-health.elbv2.k8s.aws/tgb True")
        .expect("released");
    let fin = r
        .journal
        .position("remove-finalizer ns/tgb elbv2.k8s.aws/resources")
        .expect("finalizer");
    assert!(dereg < gate && gate < fin, "{entries:?}");
}

#[tokio::test]
async fn deletion_of_a_binding_whose_target_group_is_gone_still_finishes() {
    let mut b = ip_binding();
    b.metadata.finalizers = Some(vec![FINALIZER.into()]);
    b.metadata.deletion_timestamp = Some(now());
    let r = rig(b, None);
    r.registrar.remove_group("arn:tg/tgb");
    r.reconciler.reconcile(&key()).await.expect("cleans up");
    assert_eq!(r.journal.matching("remove-finalizer").len(), 1);
}

#[tokio::test]
async fn a_missing_service_deregisters_and_warns() {
    let r = rig(ip_binding(), None);
    r.registrar
        .register("arn:tg/tgb", None, &[Target::new("10.0.0.1", 8080)])
        .await
        .expect("seeded");
    r.reconciler.reconcile(&key()).await.expect("reconciles");
    assert!(r.registrar.targets("arn:tg/tgb").is_empty());
    assert_eq!(
        r.journal.matching("event"),
        ["event ns/tgb Warning BackendNotFound backend not found: service ns/web not found"]
    );
}

#[tokio::test]
async fn instance_mode_registers_nodes_and_errors_become_events() {
    let b = binding("tgb", TargetType::Instance, IntOrString::Int(80));
    let r = rig(b, Some("NodePort"));
    r.reconciler.nodes.insert(Arc::new(node("n1", true, &[])));
    r.reconciler.nodes.insert(Arc::new(node("n2", false, &[])));
    r.reconciler.reconcile(&key()).await.expect("reconciles");
    assert_eq!(
        r.registrar.targets("arn:tg/tgb"),
        [Target::new("i-n1", 30080)].into_iter().collect()
    );

    let r = rig(
        binding("tgb", TargetType::Instance, IntOrString::Int(80)),
        Some("ClusterIP"),
    );
    let err = r
        .reconciler
        .reconcile(&key())
        .await
        .expect_err("wrong service type");
    assert_eq!(err.category(), "endpoints");
    assert_eq!(
        r.journal.matching("event"),
        [
            "event ns/tgb Warning FailedReconcile service type must be either 'NodePort' or 'LoadBalancer': ns/web"
        ]
    );
    assert_eq!(r.reconciler.metrics.error_count(CONTROLLER, "endpoints"), 1);
}

fn networking_binding(target_type: TargetType, port: IntOrString) -> TargetGroupBinding {
    use contract::crd::{
        NetworkingIngressRule, NetworkingPeer, NetworkingPort, SecurityGroup,
        TargetGroupBindingNetworking,
    };
    let service_port = if target_type == TargetType::Ip {
        IntOrString::String("http".into())
    } else {
        IntOrString::Int(80)
    };
    let mut b = binding("tgb", target_type, service_port);
    b.metadata.generation = Some(1);
    b.spec.networking = Some(TargetGroupBindingNetworking {
        ingress: Some(vec![NetworkingIngressRule {
            from: vec![NetworkingPeer {
                ip_block: None,
                security_group: Some(SecurityGroup {
                    group_id: "sg-lb".into(),
                }),
            }],
            ports: vec![NetworkingPort {
                protocol: None,
                port: Some(port),
            }],
        }]),
    });
    b
}

/// Adds the in-memory security groups to a rig: `sg-node` takes the rules.
fn with_networking(r: &mut Rig) -> Arc<crate::fakes::FakeSecurityGroups> {
    let fake = Arc::new(crate::fakes::FakeSecurityGroups::new(r.journal.clone()));
    fake.add_group("sg-node", &[]);
    r.reconciler.networking = Some(NetworkingManager::new(fake.clone(), "c1", true));
    fake
}

fn labelled(port: i32) -> model::sg_rules::Permission {
    model::sg_rules::Permission {
        protocol: "tcp".into(),
        from_port: Some(port),
        to_port: Some(port),
        source: model::sg_rules::Source::Group("sg-lb".into()),
        description: crate::networking::RULE_LABEL.into(),
    }
}

#[tokio::test]
async fn networking_rules_come_before_registration_and_go_after_deregistration() {
    // The Service's named targetPort resolves through the EndpointSlice to 8080.
    let mut r = rig(
        networking_binding(TargetType::Ip, IntOrString::String("web".into())),
        Some("ClusterIP"),
    );
    let mut svc = service("ClusterIP");
    if let Some(port) = svc
        .spec
        .as_mut()
        .and_then(|s| s.ports.as_mut())
        .and_then(|p| p.first_mut())
    {
        port.target_port = Some(IntOrString::String("web".into()));
    }
    r.reconciler.services.insert(Arc::new(svc));
    let fake = with_networking(&mut r);
    fake.add_eni(TargetMode::Ip, "10.0.0.1", "eni-1", &["sg-node"]);
    r.reconciler.slices.insert(Arc::new(slice(
        "s1",
        "IPv4",
        vec![endpoint("10.0.0.1", Some(true), false, None)],
    )));
    let out = r.reconciler.reconcile(&key()).await.expect("reconciles");
    assert_eq!(out.registered, 1);
    assert_eq!(fake.rules("sg-node"), BTreeSet::from([labelled(8080)]));
    assert!(
        r.journal
            .position("authorize sg-node 1")
            .expect("authorized")
            < r.journal.position("register ").expect("registered")
    );

    // Deleting the binding: deregister, then release the rule.
    let mut deleting = networking_binding(TargetType::Ip, IntOrString::String("web".into()));
    deleting.metadata.finalizers = Some(vec![FINALIZER.into()]);
    deleting.metadata.deletion_timestamp = Some(now());
    r.reconciler.bindings.insert(Arc::new(deleting));
    r.journal.clear();
    r.reconciler.reconcile(&key()).await.expect("cleans up");
    assert!(fake.rules("sg-node").is_empty());
    let entries = r.journal.entries();
    let dereg = r.journal.position("deregister").expect("deregistered");
    let revoke = r.journal.position("revoke sg-node 1").expect("revoked");
    let fin = r.journal.position("remove-finalizer").expect("finalizer");
    assert!(dereg < revoke && revoke < fin, "{entries:?}");
}

#[tokio::test]
async fn networking_failures_are_events_and_stop_registration() {
    let mut r = rig(
        networking_binding(TargetType::Instance, IntOrString::Int(30080)),
        Some("NodePort"),
    );
    let fake = with_networking(&mut r);
    r.reconciler.nodes.insert(Arc::new(node("n1", true, &[])));
    let err = r.reconciler.reconcile(&key()).await.expect_err("no ENI");
    assert_eq!(err.category(), "networking");
    assert_eq!(
        r.journal.matching("event"),
        ["event ns/tgb Warning FailedNetworkReconcile cannot resolve node ENI for nodes: [n1]"]
    );
    assert!(r.journal.matching("register").is_empty());

    // With the node's primary ENI known, the NodePort is opened and the node registered.
    fake.add_eni(TargetMode::Instance, "i-n1", "eni-n1", &["sg-node"]);
    r.reconciler.reconcile(&key()).await.expect("reconciles");
    assert_eq!(fake.rules("sg-node"), BTreeSet::from([labelled(30080)]));
    assert_eq!(
        r.registrar.targets("arn:tg/tgb"),
        [Target::new("i-n1", 30080)].into_iter().collect()
    );
}

#[tokio::test]
async fn a_stack_binding_whose_target_group_is_gone_is_not_an_error() {
    let mut b = ip_binding();
    b.metadata.labels = Some([("ingress.k8s.aws/stack".to_owned(), "ns/web".to_owned())].into());
    let r = rig(b, Some("ClusterIP"));
    r.registrar.remove_group("arn:tg/tgb");
    let out = r.reconciler.reconcile(&key()).await.expect("not an error");
    assert_eq!((out.registered, out.deregistered), (0, 0));
    assert!(
        r.journal.matching("event").is_empty(),
        "no Warning: {:?}",
        r.journal.entries()
    );
}

#[tokio::test]
async fn a_user_binding_whose_target_group_is_gone_is_reported() {
    let r = rig(ip_binding(), Some("ClusterIP"));
    r.registrar.remove_group("arn:tg/tgb");
    let error = r.reconciler.reconcile(&key()).await.expect_err("an error");
    assert_eq!(error.category(), crate::backends::NOT_FOUND);
    assert!(
        r.journal
            .matching("event")
            .iter()
            .any(|e| e.contains("Warning FailedReconcile")),
        "{:?}",
        r.journal.entries()
    );
}

#[tokio::test]
async fn a_binding_with_a_role_to_assume_registers_in_that_role() {
    let mut b = ip_binding();
    b.spec.iam_role_arn_to_assume = Some("arn:aws:iam::222233334444:role/targets".to_owned());
    b.spec.assume_role_external_id = Some("ext".to_owned());
    let r = rig(b, Some("ClusterIP"));
    r.reconciler.slices.insert(Arc::new(slice(
        "s1",
        "IPv4",
        vec![endpoint("10.0.0.1", Some(true), false, None)],
    )));
    r.reconciler.reconcile(&key()).await.expect("reconciles");
    let calls = r.journal.matching("describe");
    assert_eq!(
        calls,
        ["describe arn:tg/tgb as arn:aws:iam::222233334444:role/targets"]
    );
    assert_eq!(
        r.journal.matching("register"),
        ["register arn:tg/tgb 1 as arn:aws:iam::222233334444:role/targets"]
    );
}

#[tokio::test]
async fn a_gate_turning_true_is_timed_from_its_previous_transition() {
    let mut registry = prometheus_client::registry::Registry::default();
    let mut r = rig(ip_binding(), Some("ClusterIP"));
    r.reconciler.metrics = ControllerMetrics::register(&mut registry);
    let gate = "target-health.elbv2.k8s.aws/tgb";
    let mut waiting = pod("p1", &[gate], true, "n1");
    let twenty_seconds_ago = k8s_openapi::jiff::Timestamp::now()
        .checked_sub(k8s_openapi::jiff::SignedDuration::from_secs(20))
        .expect("in range");
    waiting
        .status
        .get_or_insert_default()
        .conditions
        .get_or_insert_default()
        .push(PodCondition {
            type_: gate.to_owned(),
            status: "False".to_owned(),
            reason: Some("Elb.initial".to_owned()),
            last_transition_time: Some(Time(twenty_seconds_ago)),
            ..PodCondition::default()
        });
    r.reconciler.pods.insert(Arc::new(waiting));
    r.reconciler.nodes.insert(Arc::new(node("n1", true, &[])));
    r.reconciler.slices.insert(Arc::new(slice(
        "s1",
        "IPv4",
        vec![endpoint("10.0.0.1", Some(false), false, Some("p1"))],
    )));
    let encoded = |registry: &prometheus_client::registry::Registry| {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).expect("encodes");
        text
    };
    // Registered: not healthy yet, nothing observed.
    r.reconciler.reconcile(&key()).await.expect("reconciles");
    assert!(!encoded(&registry).contains("awslbc_readiness_gate_ready_seconds_count"));
    // Healthy: the gate flips False -> True, about 20 s after its last transition.
    r.reconciler.reconcile(&key()).await.expect("reconciles");
    let text = encoded(&registry);
    assert!(
        text.contains(r#"awslbc_readiness_gate_ready_seconds_count{namespace="ns",name="tgb"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"awslbc_readiness_gate_ready_seconds_bucket{le="10.0",namespace="ns",name="tgb"} 0"#
        ) && text.contains(
            r#"awslbc_readiness_gate_ready_seconds_bucket{le="30.0",namespace="ns",name="tgb"} 1"#
        ),
        "{text}"
    );
}
