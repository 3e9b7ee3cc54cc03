use std::sync::Arc;

use contract::crd::{IpBlock, NetworkingIngressRule, NetworkingPort, SecurityGroup};

use super::*;
use crate::fakes::{FakeSecurityGroups, Journal};
use crate::keys::ObjKey;

const CLUSTER: &str = "c1";

mod selection;

fn from_group(group: &str) -> NetworkingPeer {
    NetworkingPeer {
        ip_block: None,
        security_group: Some(SecurityGroup {
            group_id: group.into(),
        }),
    }
}

fn from_cidr(cidr: &str) -> NetworkingPeer {
    NetworkingPeer {
        ip_block: Some(IpBlock { cidr: cidr.into() }),
        security_group: None,
    }
}

fn port(protocol: Option<NetworkingProtocol>, port: Option<IntOrString>) -> NetworkingPort {
    NetworkingPort { protocol, port }
}

fn tcp(n: i32) -> NetworkingPort {
    port(None, Some(IntOrString::Int(n)))
}

fn networking(
    rules: Vec<(Vec<NetworkingPeer>, Vec<NetworkingPort>)>,
) -> TargetGroupBindingNetworking {
    TargetGroupBindingNetworking {
        ingress: Some(
            rules
                .into_iter()
                .map(|(from, ports)| NetworkingIngressRule { from, ports })
                .collect(),
        ),
    }
}

fn rule(protocol: &str, from: i32, to: i32, source: Source) -> Permission {
    Permission {
        protocol: protocol.into(),
        from_port: Some(from),
        to_port: Some(to),
        source,
        description: RULE_LABEL.into(),
    }
}

fn group(id: &str) -> Source {
    Source::Group(id.into())
}

fn endpoint(id: &str, named: &[(&str, i32)]) -> NetworkEndpoint {
    NetworkEndpoint {
        id: id.into(),
        name: format!("ns/pod-{id}"),
        named_ports: named.iter().map(|(n, p)| ((*n).to_owned(), *p)).collect(),
    }
}

fn tag_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn every_peer_times_every_port_with_tcp_by_default_and_all_ports_when_absent() {
    let n = networking(vec![(
        vec![
            from_group("sg-lb"),
            from_cidr("10.0.0.0/16"),
            from_cidr("2001:db8::/64"),
        ],
        vec![tcp(8080), port(Some(NetworkingProtocol::Udp), None)],
    )]);
    let e = endpoint("10.0.1.1", &[]);
    let got = binding_permissions(&n, TargetMode::Ip, &[&e]).expect("computes");
    let sources = [
        group("sg-lb"),
        Source::Ipv4("10.0.0.0/16".into()),
        Source::Ipv6("2001:db8::/64".into()),
    ];
    let want: BTreeSet<Permission> = sources
        .iter()
        .flat_map(|s| {
            [
                rule("tcp", 8080, 8080, s.clone()),
                rule("udp", 0, 65_535, s.clone()),
            ]
        })
        .collect();
    assert_eq!(got, want);
}

#[test]
fn an_empty_port_list_opens_every_tcp_port() {
    let n = networking(vec![(vec![from_group("sg-lb")], vec![])]);
    let got = binding_permissions(&n, TargetMode::Instance, &[]).expect("computes");
    assert_eq!(
        got,
        BTreeSet::from([rule("tcp", 0, 65_535, group("sg-lb"))])
    );
}

#[test]
fn named_ports_resolve_per_pod_in_ip_mode_and_fail_in_instance_mode() {
    let n = networking(vec![(
        vec![from_group("sg-lb")],
        vec![port(None, Some(IntOrString::String("http".into())))],
    )]);
    let a = endpoint("10.0.1.1", &[("http", 8080)]);
    let b = endpoint("10.0.1.2", &[("http", 9090)]);
    let got = binding_permissions(&n, TargetMode::Ip, &[&a, &b]).expect("computes");
    assert_eq!(
        got,
        BTreeSet::from([
            rule("tcp", 8080, 8080, group("sg-lb")),
            rule("tcp", 9090, 9090, group("sg-lb")),
        ])
    );
    let c = endpoint("10.0.1.3", &[("metrics", 9100)]);
    assert_eq!(
        binding_permissions(&n, TargetMode::Ip, &[&a, &c]),
        Err(NetworkingError::NamedPortNotFound {
            port: "http".into(),
            pod: "ns/pod-10.0.1.3".into()
        })
    );
    assert_eq!(
        binding_permissions(&n, TargetMode::Instance, &[&a]),
        Err(NetworkingError::NamedPortWithoutPods {
            port: "http".into()
        })
    );
}

#[test]
fn peers_must_be_a_valid_cidr_or_a_group() {
    for bad in ["10.0.0.0", "10.0.0.0/33", "banana/8", "10.0.0.0/x"] {
        let n = networking(vec![(vec![from_cidr(bad)], vec![tcp(80)])]);
        assert!(
            matches!(
                binding_permissions(&n, TargetMode::Ip, &[]),
                Err(NetworkingError::Cidr { .. })
            ),
            "{bad}"
        );
    }
    let n = networking(vec![(vec![NetworkingPeer::default()], vec![tcp(80)])]);
    assert_eq!(
        binding_permissions(&n, TargetMode::Ip, &[]),
        Err(NetworkingError::NoPeer)
    );
}

#[test]
fn restricted_aggregation_merges_group_sources_into_one_range_per_protocol() {
    let a = Contribution::from([(
        "sg-t".to_owned(),
        BTreeSet::from([
            rule("tcp", 8080, 8080, group("sg-lb")),
            rule("tcp", 80, 80, Source::Ipv4("10.0.0.0/8".into())),
        ]),
    )]);
    let b = Contribution::from([
        (
            "sg-t".to_owned(),
            BTreeSet::from([
                rule("tcp", 9090, 9090, group("sg-lb")),
                rule("udp", 53, 53, group("sg-lb")),
                rule("tcp", 81, 81, Source::Ipv4("10.0.0.0/8".into())),
            ]),
        ),
        (
            "sg-u".to_owned(),
            BTreeSet::from([rule("tcp", 9090, 9090, group("sg-lb"))]),
        ),
    ]);
    let merged = aggregate([&a, &b], true);
    assert_eq!(
        merged.get("sg-t"),
        Some(&BTreeSet::from([
            rule("tcp", 8080, 9090, group("sg-lb")),
            rule("udp", 53, 53, group("sg-lb")),
            rule("tcp", 80, 80, Source::Ipv4("10.0.0.0/8".into())),
            rule("tcp", 81, 81, Source::Ipv4("10.0.0.0/8".into())),
        ]))
    );
    assert_eq!(
        merged.get("sg-u"),
        Some(&BTreeSet::from([rule("tcp", 9090, 9090, group("sg-lb"))]))
    );
    let union = aggregate([&a, &b], false);
    assert_eq!(union.get("sg-t").map(BTreeSet::len), Some(5));
}

#[test]
fn the_plan_never_revokes_or_duplicates_rules_of_others() {
    let foreign = Permission {
        description: String::new(),
        ..rule("tcp", 22, 22, Source::Ipv4("10.0.0.0/8".into()))
    };
    let foreign_same_as_wanted = Permission {
        description: "added by hand".into(),
        ..rule("tcp", 443, 443, group("sg-lb"))
    };
    let stale = rule("tcp", 8080, 8080, group("sg-lb"));
    let kept = rule("tcp", 80, 80, group("sg-lb"));
    let actual = BTreeSet::from([
        foreign.clone(),
        foreign_same_as_wanted,
        stale.clone(),
        kept.clone(),
    ]);
    let desired = BTreeSet::from([
        kept,
        rule("tcp", 443, 443, group("sg-lb")),
        rule("tcp", 9000, 9000, group("sg-lb")),
    ]);
    assert_eq!(
        plan(&desired, &actual),
        RulePlan {
            authorize: vec![rule("tcp", 9000, 9000, group("sg-lb"))],
            revoke: vec![stale],
        }
    );
}

// The manager over the in-memory backend.

struct Rig {
    journal: Journal,
    fake: Arc<FakeSecurityGroups>,
    manager: NetworkingManager,
}

fn rig(restricted: bool) -> Rig {
    let journal = Journal::default();
    let fake = Arc::new(FakeSecurityGroups::new(journal.clone()));
    fake.add_group("sg-node", &[("kubernetes.io/cluster/c1", "owned")]);
    fake.add_group("sg-extra", &[]);
    fake.add_group("sg-pod", &[]);
    let manager = NetworkingManager::new(fake.clone(), CLUSTER, restricted);
    Rig {
        journal,
        fake,
        manager,
    }
}

fn ip_targets(ids: &[&str]) -> NetworkTargets {
    NetworkTargets {
        mode: TargetMode::Ip,
        endpoints: ids.iter().map(|id| endpoint(id, &[])).collect(),
    }
}

fn key(name: &str) -> ObjKey {
    ObjKey::new("ns", name)
}

fn keys(names: &[&str]) -> BTreeSet<ObjKey> {
    names.iter().map(|n| key(n)).collect()
}

async fn reconcile(
    r: &Rig,
    name: &str,
    n: &TargetGroupBindingNetworking,
    targets: &NetworkTargets,
    expected: &[&str],
) -> NetworkingOutcome {
    let contribution = r
        .manager
        .contribution(Some(n), targets)
        .await
        .expect("contribution");
    r.manager
        .reconcile(&key(name), contribution, &keys(expected))
        .await
        .expect("reconciles")
}

#[tokio::test]
async fn two_bindings_share_a_group_and_release_revokes_only_the_unwanted_part() {
    let r = rig(false);
    // Pod on a node ENI with two groups (the tagged one takes the rules); another pod on an
    // ENI of its own with one group.
    r.fake.add_eni(
        TargetMode::Ip,
        "10.0.1.1",
        "eni-1",
        &["sg-extra", "sg-node"],
    );
    r.fake
        .add_eni(TargetMode::Ip, "10.0.1.2", "eni-2", &["sg-pod"]);
    let foreign = Permission {
        description: String::new(),
        ..rule("tcp", 22, 22, Source::Ipv4("10.0.0.0/8".into()))
    };
    r.fake.add_rule("sg-node", foreign.clone());
    let both = ["a", "b"];

    let a = networking(vec![(vec![from_group("sg-lb")], vec![tcp(8080)])]);
    let b = networking(vec![(
        vec![from_group("sg-lb")],
        vec![tcp(8080), tcp(9090)],
    )]);
    let out = reconcile(&r, "a", &a, &ip_targets(&["10.0.1.1", "10.0.1.2"]), &both).await;
    assert!(out.partial, "b has not reported yet");
    assert_eq!(out.authorized, 2);
    reconcile(&r, "b", &b, &ip_targets(&["10.0.1.1"]), &both).await;
    assert_eq!(
        r.fake.rules("sg-node"),
        BTreeSet::from([
            foreign.clone(),
            rule("tcp", 8080, 8080, group("sg-lb")),
            rule("tcp", 9090, 9090, group("sg-lb")),
        ])
    );
    assert_eq!(
        r.fake.rules("sg-pod"),
        BTreeSet::from([rule("tcp", 8080, 8080, group("sg-lb"))])
    );
    assert!(r.fake.rules("sg-extra").is_empty());

    // Releasing b: 8080 is still a's, 9090 goes; the foreign rule stays.
    let out = r
        .manager
        .release(&key("b"), &keys(&both))
        .await
        .expect("releases");
    assert_eq!((out.authorized, out.revoked, out.partial), (0, 1, false));
    assert_eq!(
        r.fake.rules("sg-node"),
        BTreeSet::from([foreign.clone(), rule("tcp", 8080, 8080, group("sg-lb"))])
    );
    // b is gone from the cluster; releasing a clears everything of ours.
    let out = r
        .manager
        .release(&key("a"), &keys(&["a"]))
        .await
        .expect("releases");
    assert_eq!(out.revoked, 2);
    assert_eq!(r.fake.rules("sg-node"), BTreeSet::from([foreign]));
    assert!(r.fake.rules("sg-pod").is_empty());
}

#[tokio::test]
async fn the_manager_picks_the_group_carrying_the_required_tags() {
    let journal = Journal::default();
    let fake = Arc::new(FakeSecurityGroups::new(journal));
    fake.add_group("sg-node", &[("kubernetes.io/cluster/c1", "owned")]);
    let pod_tags = [("kubernetes.io/cluster/c1", "owned"), ("role", "pod")];
    fake.add_group("sg-pods", &pod_tags);
    fake.add_eni(TargetMode::Ip, "10.0.1.1", "eni-1", &["sg-node", "sg-pods"]);
    let required = tag_map(&[("role", "pod")]);
    let manager = NetworkingManager::with_target_eni_tags(fake.clone(), CLUSTER, true, required);
    let n = networking(vec![(vec![from_group("sg-lb")], vec![tcp(8080)])]);
    let contribution = manager
        .contribution(Some(&n), &ip_targets(&["10.0.1.1"]))
        .await
        .expect("contribution");
    assert_eq!(contribution.keys().collect::<Vec<_>>(), ["sg-pods"]);
    // Without the extra tags both groups carry the cluster tag: ambiguous.
    let plain = NetworkingManager::new(fake, CLUSTER, true);
    let error = plain
        .contribution(Some(&n), &ip_targets(&["10.0.1.1"]))
        .await
        .expect_err("two cluster-tagged groups");
    assert!(
        matches!(error, NetworkingError::GroupSelection { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn an_unchanged_binding_costs_one_read() {
    let r = rig(true);
    r.fake
        .add_eni(TargetMode::Ip, "10.0.1.2", "eni-2", &["sg-pod"]);
    let n = networking(vec![(vec![from_group("sg-lb")], vec![tcp(8080)])]);
    let targets = ip_targets(&["10.0.1.2"]);
    reconcile(&r, "a", &n, &targets, &["a"]).await;
    r.journal.clear();
    let out = reconcile(&r, "a", &n, &targets, &["a"]).await;
    assert_eq!(out, NetworkingOutcome::default());
    assert_eq!(r.journal.entries(), ["enis Ip 1", "ingress sg-pod"]);
}

#[tokio::test]
async fn revocations_wait_until_every_binding_has_reported() {
    let r = rig(true);
    r.fake
        .add_eni(TargetMode::Ip, "10.0.1.2", "eni-2", &["sg-pod"]);
    // A rule of ours from before a restart, wanted by nobody known yet.
    r.fake
        .add_rule("sg-pod", rule("tcp", 7000, 7000, group("sg-old")));
    let n = networking(vec![(vec![from_group("sg-lb")], vec![tcp(8080)])]);
    let out = reconcile(&r, "a", &n, &ip_targets(&["10.0.1.2"]), &["a", "b"]).await;
    assert_eq!((out.authorized, out.revoked, out.partial), (1, 0, true));
    assert_eq!(r.fake.rules("sg-pod").len(), 2);
    // b reports (no targets): now the stale rule goes, though b touched no group.
    let out = reconcile(&r, "b", &n, &ip_targets(&[]), &["a", "b"]).await;
    assert_eq!((out.authorized, out.revoked, out.partial), (0, 1, false));
    assert_eq!(
        r.fake.rules("sg-pod"),
        BTreeSet::from([rule("tcp", 8080, 8080, group("sg-lb"))])
    );
}

#[tokio::test]
async fn labelled_rules_on_cluster_groups_nobody_uses_are_collected_once() {
    let r = rig(true);
    r.fake
        .add_rule("sg-node", rule("tcp", 7000, 7000, group("sg-old")));
    let n = networking(vec![(vec![from_group("sg-lb")], vec![tcp(8080)])]);
    let out = reconcile(&r, "a", &n, &ip_targets(&[]), &["a"]).await;
    assert_eq!(out.revoked, 1);
    assert!(r.fake.rules("sg-node").is_empty());
    r.journal.clear();
    reconcile(&r, "a", &n, &ip_targets(&[]), &["a"]).await;
    assert!(r.journal.entries().is_empty(), "{:?}", r.journal.entries());
}

#[tokio::test]
async fn restricted_rules_widen_without_a_gap() {
    let r = rig(true);
    r.fake
        .add_eni(TargetMode::Ip, "10.0.1.2", "eni-2", &["sg-pod"]);
    let targets = ip_targets(&["10.0.1.2"]);
    let a = networking(vec![(vec![from_group("sg-lb")], vec![tcp(8080)])]);
    let b = networking(vec![(vec![from_group("sg-lb")], vec![tcp(9090)])]);
    reconcile(&r, "a", &a, &targets, &["a", "b"]).await;
    r.journal.clear();
    reconcile(&r, "b", &b, &targets, &["a", "b"]).await;
    assert_eq!(
        r.fake.rules("sg-pod"),
        BTreeSet::from([rule("tcp", 8080, 9090, group("sg-lb"))])
    );
    assert!(
        r.journal.position("authorize").expect("authorized")
            < r.journal.position("revoke").expect("revoked")
    );
}

#[tokio::test]
async fn missing_enis_and_failed_calls_are_errors_and_retried() {
    let r = rig(true);
    let n = networking(vec![(vec![from_group("sg-lb")], vec![tcp(8080)])]);
    let error = r
        .manager
        .contribution(Some(&n), &ip_targets(&["10.0.9.9"]))
        .await
        .expect_err("no ENI");
    assert_eq!(
        error.to_string(),
        "cannot resolve pod ENI for pods: [ns/pod-10.0.9.9]"
    );
    r.fake
        .add_eni(TargetMode::Instance, "i-1", "eni-1", &["sg-node"]);
    let nodes = NetworkTargets {
        mode: TargetMode::Instance,
        endpoints: vec![NetworkEndpoint {
            id: "i-1".into(),
            name: "node-1".into(),
            named_ports: BTreeMap::new(),
        }],
    };
    let contribution = r
        .manager
        .contribution(Some(&n), &nodes)
        .await
        .expect("contribution");
    r.fake
        .fail_next_authorize(BackendError::new("throttled", "slow down"));
    let error = r
        .manager
        .reconcile(&key("a"), contribution.clone(), &keys(&["a"]))
        .await
        .expect_err("authorize fails");
    assert_eq!(error.category(), "throttled");
    let out = r
        .manager
        .reconcile(&key("a"), contribution, &keys(&["a"]))
        .await
        .expect("second try");
    assert_eq!(out.authorized, 1);
    assert_eq!(
        r.fake.rules("sg-node"),
        BTreeSet::from([rule("tcp", 8080, 8080, group("sg-lb"))])
    );
}
