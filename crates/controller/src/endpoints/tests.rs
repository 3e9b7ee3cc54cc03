use std::collections::BTreeMap;

use contract::crd::{ServiceReference, TargetGroupBindingSpec, TargetType};
use k8s_openapi::api::core::v1::{
    NodeCondition, NodeSpec, NodeStatus, ObjectReference, PodCondition, PodReadinessGate, PodSpec,
    PodStatus, ServiceSpec, Taint,
};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::*;

pub(crate) fn binding(
    name: &str,
    target_type: TargetType,
    port: IntOrString,
) -> TargetGroupBinding {
    let mut b = TargetGroupBinding::new(
        name,
        TargetGroupBindingSpec {
            target_group_arn: Some(format!("arn:tg/{name}")),
            target_type: Some(target_type),
            service_ref: ServiceReference {
                name: "web".into(),
                port,
            },
            ..TargetGroupBindingSpec::default()
        },
    );
    b.metadata.namespace = Some("ns".into());
    b
}

pub(crate) fn service(type_: &str) -> Service {
    Service {
        metadata: ObjectMeta {
            namespace: Some("ns".into()),
            name: Some("web".into()),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            type_: Some(type_.into()),
            ports: Some(vec![
                ServicePort {
                    name: Some("http".into()),
                    port: 80,
                    node_port: Some(30080),
                    ..ServicePort::default()
                },
                ServicePort {
                    name: Some("admin".into()),
                    port: 9000,
                    node_port: None,
                    ..ServicePort::default()
                },
            ]),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

pub(crate) fn endpoint(
    ip: &str,
    ready: Option<bool>,
    terminating: bool,
    pod: Option<&str>,
) -> Endpoint {
    Endpoint {
        addresses: vec![ip.into()],
        conditions: Some(EndpointConditions {
            ready,
            serving: ready,
            terminating: Some(terminating),
        }),
        target_ref: pod.map(|p| ObjectReference {
            kind: Some("Pod".into()),
            name: Some(p.into()),
            namespace: Some("ns".into()),
            ..ObjectReference::default()
        }),
        ..Endpoint::default()
    }
}

pub(crate) fn slice(name: &str, family: &str, endpoints: Vec<Endpoint>) -> EndpointSlice {
    EndpointSlice {
        metadata: ObjectMeta {
            namespace: Some("ns".into()),
            name: Some(name.into()),
            labels: Some(BTreeMap::from([(SERVICE_NAME_LABEL.into(), "web".into())])),
            ..ObjectMeta::default()
        },
        address_type: family.into(),
        endpoints: Some(endpoints),
        ports: Some(vec![
            EndpointPort {
                name: Some("http".into()),
                port: Some(8080),
                ..EndpointPort::default()
            },
            EndpointPort {
                name: Some("admin".into()),
                port: Some(9090),
                ..EndpointPort::default()
            },
        ]),
    }
}

pub(crate) fn pod(name: &str, gates: &[&str], containers_ready: bool, node: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            namespace: Some("ns".into()),
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            node_name: Some(node.into()),
            readiness_gates: Some(
                gates
                    .iter()
                    .map(|g| PodReadinessGate {
                        condition_type: (*g).into(),
                    })
                    .collect(),
            ),
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            conditions: Some(vec![PodCondition {
                type_: "ContainersReady".into(),
                status: if containers_ready { "True" } else { "False" }.into(),
                ..PodCondition::default()
            }]),
            ..PodStatus::default()
        }),
    }
}

pub(crate) fn node(name: &str, ready: bool, labels: &[(&str, &str)]) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| ((*k).into(), (*v).into()))
                    .collect(),
            ),
            ..ObjectMeta::default()
        },
        spec: Some(NodeSpec {
            provider_id: Some(format!("aws:///us-west-2a/i-{name}")),
            ..NodeSpec::default()
        }),
        status: Some(NodeStatus {
            conditions: Some(vec![NodeCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                ..NodeCondition::default()
            }]),
            ..NodeStatus::default()
        }),
    }
}

#[test]
fn ip_mode_takes_ready_endpoints_on_the_slice_port() {
    let b = binding("tgb", TargetType::Ip, IntOrString::String("http".into()));
    let pods: BTreeMap<ObjKey, Arc<Pod>> = [
        pod(
            "gated-waiting",
            &["target-health.elbv2.k8s.aws/tgb"],
            true,
            "n1",
        ),
        pod(
            "gated-not-ready",
            &["target-health.elbv2.k8s.aws/tgb"],
            false,
            "n1",
        ),
        pod("ungated-not-ready", &[], true, "n1"),
        pod(
            "gated-bad-node",
            &["target-health.elbv2.k8s.aws/tgb"],
            true,
            "n-down",
        ),
    ]
    .into_iter()
    .map(|p| (ObjKey::of(&p).expect("named"), Arc::new(p)))
    .collect();
    let slices = vec![
        Arc::new(slice(
            "web-1",
            "IPv4",
            vec![
                endpoint("10.0.0.1", Some(true), false, Some("ready")),
                endpoint("10.0.0.2", None, false, None),
                endpoint("10.0.0.3", Some(false), false, Some("gated-waiting")),
                endpoint("10.0.0.4", Some(false), false, Some("gated-not-ready")),
                endpoint("10.0.0.5", Some(false), false, Some("ungated-not-ready")),
                endpoint("10.0.0.6", Some(false), true, Some("gated-waiting")),
                endpoint("10.0.0.7", Some(false), false, Some("gated-bad-node")),
            ],
        )),
        Arc::new(slice(
            "web-v6",
            "IPv6",
            vec![endpoint("fd00::1", Some(true), false, None)],
        )),
    ];
    let desired = ip_targets(
        &b,
        &service("ClusterIP"),
        &slices,
        &|k| pods.get(k).cloned(),
        &|n| n == "n1",
    )
    .expect("targets");
    let ips: Vec<String> = desired.targets.iter().map(ToString::to_string).collect();
    assert_eq!(ips, ["10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"]);
    let gated: Vec<&str> = desired
        .pods
        .iter()
        .filter(|p| p.gated)
        .map(|p| p.pod.name.as_str())
        .collect();
    assert_eq!(gated, ["gated-waiting"]);
}

#[test]
fn ip_mode_port_by_number_and_missing_port() {
    let by_number = binding("tgb", TargetType::Ip, IntOrString::Int(9000));
    let slices = vec![Arc::new(slice(
        "s",
        "IPv4",
        vec![endpoint("10.0.0.1", Some(true), false, None)],
    ))];
    let desired = ip_targets(
        &by_number,
        &service("ClusterIP"),
        &slices,
        &|_| None,
        &|_| true,
    )
    .expect("targets");
    assert_eq!(
        desired.targets.iter().map(|t| t.port).collect::<Vec<_>>(),
        [9090]
    );
    let missing = binding("tgb", TargetType::Ip, IntOrString::Int(443));
    assert_eq!(
        ip_targets(&missing, &service("ClusterIP"), &slices, &|_| None, &|_| {
            true
        })
        .expect_err("no port")
        .to_string(),
        "unable to find port 443 on service ns/web"
    );
}

#[test]
fn instance_mode_selects_ready_eligible_nodes_on_the_node_port() {
    // A cordoned node keeps its targets (cordoning is not draining); one tainted by the
    // autoscaler for deletion does not.
    let mut b = binding("tgb", TargetType::Instance, IntOrString::Int(80));
    let mut cordoned = node("cordoned", true, &[("pool", "a")]);
    if let Some(spec) = cordoned.spec.as_mut() {
        spec.unschedulable = Some(true);
    }
    let mut leaving = node("leaving", true, &[("pool", "a")]);
    if let Some(spec) = leaving.spec.as_mut() {
        spec.taints = Some(vec![Taint {
            key: "ToBeDeletedByClusterAutoscaler".into(),
            effect: "NoSchedule".into(),
            ..Taint::default()
        }]);
    }
    let nodes: Vec<Arc<Node>> = vec![
        node("a1", true, &[("pool", "a")]),
        node("b1", true, &[("pool", "b")]),
        node("down", false, &[("pool", "a")]),
        node(
            "master",
            true,
            &[("pool", "a"), ("node-role.kubernetes.io/master", "")],
        ),
        node(
            "fargate",
            true,
            &[("pool", "a"), ("eks.amazonaws.com/compute-type", "fargate")],
        ),
        cordoned,
        leaving,
    ]
    .into_iter()
    .map(Arc::new)
    .collect();
    let all = instance_targets(&b, &service("NodePort"), &nodes).expect("targets");
    assert_eq!(
        all.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["i-a1:30080", "i-b1:30080", "i-cordoned:30080"]
    );
    b.spec.node_selector = Some(LabelSelector {
        match_labels: Some(BTreeMap::from([("pool".into(), "a".into())])),
        ..LabelSelector::default()
    });
    let selected = instance_targets(&b, &service("LoadBalancer"), &nodes).expect("targets");
    assert_eq!(
        selected.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["i-a1:30080", "i-cordoned:30080"]
    );
    assert_eq!(
        instance_targets(&b, &service("ClusterIP"), &nodes)
            .expect_err("wrong type")
            .to_string(),
        "service type must be either 'NodePort' or 'LoadBalancer': ns/web"
    );
    let admin = binding(
        "tgb",
        TargetType::Instance,
        IntOrString::String("admin".into()),
    );
    assert!(matches!(
        instance_targets(&admin, &service("NodePort"), &nodes),
        Err(EndpointError::NoNodePort { .. })
    ));
}

#[test]
fn instance_ids_come_from_the_provider_id() {
    let n = node("0abc", true, &[]);
    assert_eq!(instance_id(&n), Some("i-0abc"));
    let mut other = node("x", true, &[]);
    if let Some(spec) = other.spec.as_mut() {
        spec.provider_id = Some("gce://project/zone/vm".into());
    }
    assert_eq!(instance_id(&other), None);
}

fn with_ready_status(mut node: Node, status: &str) -> Node {
    if let Some(conditions) = node.status.as_mut().and_then(|s| s.conditions.as_mut()) {
        for c in conditions.iter_mut() {
            c.status = status.into();
        }
    }
    node
}

#[test]
fn instance_mode_fails_open_to_unknown_nodes_only_when_none_is_ready() {
    let b = binding("tgb", TargetType::Instance, IntOrString::Int(80));
    let unknown = with_ready_status(node("lost", true, &[]), "Unknown");
    let nodes: Vec<Arc<Node>> = vec![
        node("down", false, &[]),
        unknown.clone(),
        node("up", true, &[]),
    ]
    .into_iter()
    .map(Arc::new)
    .collect();
    let targets = instance_targets(&b, &service("NodePort"), &nodes).expect("targets");
    assert_eq!(
        targets.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["i-up:30080"],
        "a Ready node exists: Unknown nodes stay out"
    );
    let no_ready: Vec<Arc<Node>> = vec![Arc::new(node("down", false, &[])), Arc::new(unknown)];
    let targets = instance_targets(&b, &service("NodePort"), &no_ready).expect("targets");
    assert_eq!(
        targets.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["i-lost:30080"],
        "no Ready node: the Unknown one keeps the traffic, the NotReady one does not"
    );
}
