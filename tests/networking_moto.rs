//! The security-group rules of TargetGroupBinding `spec.networking` against moto: the targets'
//! ENIs are found by pod IP and by instance, the rules land on the right group with our
//! description, are shared by two bindings, go away when released, and a rule someone else
//! made is never touched.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aws_io::AwsClients;
use aws_io::networking::AwsTargetSecurityGroups;
use aws_io::sg_rules::{self, Permission, Source};
use aws_sdk_ec2::types::{IpPermission, IpRange, ResourceType, Tag, TagSpecification};
use contract::crd::{
    IpBlock, NetworkingIngressRule, NetworkingPeer, NetworkingPort, SecurityGroup,
    TargetGroupBindingNetworking,
};
use controller::keys::ObjKey;
use controller::networking::{
    Contribution, NetworkEndpoint, NetworkTargets, NetworkingManager, RULE_LABEL, TargetMode,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use support::moto::Account;

const CLUSTER: &str = "net-moto";

async fn security_group(clients: &AwsClients, vpc: &str, name: &str, tagged: bool) -> String {
    let mut request = clients
        .ec2
        .create_security_group()
        .group_name(name)
        .description(name)
        .vpc_id(vpc);
    if tagged {
        request = request.tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::SecurityGroup)
                .tags(
                    Tag::builder()
                        .key(format!("kubernetes.io/cluster/{CLUSTER}"))
                        .value("owned")
                        .build(),
                )
                .build(),
        );
    }
    request
        .send()
        .await
        .expect("create SG")
        .group_id()
        .expect("group ID")
        .to_owned()
}

async fn eni(clients: &AwsClients, subnet: &str, ip: &str, groups: &[&str]) -> String {
    let mut request = clients
        .ec2
        .create_network_interface()
        .subnet_id(subnet)
        .private_ip_address(ip);
    for g in groups {
        request = request.groups(*g);
    }
    request
        .send()
        .await
        .expect("create ENI")
        .network_interface()
        .and_then(|n| n.network_interface_id())
        .expect("ENI ID")
        .to_owned()
}

async fn rules(clients: &AwsClients, group: &str) -> BTreeSet<Permission> {
    let out = clients
        .ec2
        .describe_security_groups()
        .group_ids(group)
        .send()
        .await
        .expect("describe SG");
    sg_rules::actual_permissions(
        out.security_groups()
            .first()
            .map(|g| g.ip_permissions())
            .unwrap_or_default(),
    )
}

fn ours(from: i32, to: i32, source: Source) -> Permission {
    Permission {
        protocol: "tcp".into(),
        from_port: Some(from),
        to_port: Some(to),
        source,
        description: RULE_LABEL.into(),
    }
}

fn networking(rules: Vec<(NetworkingPeer, Option<i32>)>) -> TargetGroupBindingNetworking {
    TargetGroupBindingNetworking {
        ingress: Some(
            rules
                .into_iter()
                .map(|(peer, port)| NetworkingIngressRule {
                    from: vec![peer],
                    ports: vec![NetworkingPort {
                        protocol: None,
                        port: port.map(IntOrString::Int),
                    }],
                })
                .collect(),
        ),
    }
}

fn from_group(id: &str) -> NetworkingPeer {
    NetworkingPeer {
        ip_block: None,
        security_group: Some(SecurityGroup {
            group_id: id.into(),
        }),
    }
}

fn from_cidr(cidr: &str) -> NetworkingPeer {
    NetworkingPeer {
        ip_block: Some(IpBlock { cidr: cidr.into() }),
        security_group: None,
    }
}

fn targets(mode: TargetMode, ids: &[&str]) -> NetworkTargets {
    NetworkTargets {
        mode,
        endpoints: ids
            .iter()
            .map(|id| NetworkEndpoint {
                id: (*id).into(),
                name: (*id).into(),
                named_ports: BTreeMap::new(),
            })
            .collect(),
    }
}

#[tokio::test]
async fn rules_follow_the_bindings_on_the_targets_groups() {
    let account = Account::new().await;
    let clients = &account.clients;
    let net = support::network(clients).await;
    let backend = net.backend_sg.clone();
    // Pod 1's ENI has two groups: the tagged one takes the rules. Pod 2's has one.
    let pods = security_group(clients, &net.vpc_id, "pods", true).await;
    let extra = security_group(clients, &net.vpc_id, "extra", false).await;
    let nodes = security_group(clients, &net.vpc_id, "nodes", false).await;
    eni(clients, &net.subnets[0], "10.0.1.10", &[&extra, &pods]).await;
    eni(clients, &net.subnets[1], "10.0.2.10", &[&pods]).await;
    let instance = clients
        .ec2
        .run_instances()
        .image_id("ami-12345678")
        .min_count(1)
        .max_count(1)
        .subnet_id(&net.subnets[2])
        .security_group_ids(&nodes)
        .send()
        .await
        .expect("run instance")
        .instances()
        .first()
        .and_then(|i| i.instance_id())
        .expect("instance ID")
        .to_owned();
    // Someone else's rule on the pods' group.
    clients
        .ec2
        .authorize_security_group_ingress()
        .group_id(&pods)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").build())
                .build(),
        )
        .send()
        .await
        .expect("foreign rule");
    let foreign = Permission {
        protocol: "tcp".into(),
        from_port: Some(22),
        to_port: Some(22),
        source: Source::Ipv4("10.0.0.0/8".into()),
        description: String::new(),
    };
    assert_eq!(
        rules(clients, &pods).await,
        BTreeSet::from([foreign.clone()])
    );

    let manager = NetworkingManager::new(
        Arc::new(AwsTargetSecurityGroups::new(clients, &net.vpc_id, CLUSTER)),
        CLUSTER,
        true,
    );
    let key = |n: &str| ObjKey::new("ns", n);
    let all: BTreeSet<ObjKey> = ["a", "b", "c"].into_iter().map(key).collect();
    let a = networking(vec![(from_group(&backend), Some(8080))]);
    let b = networking(vec![
        (from_group(&backend), Some(8080)),
        (from_cidr("10.0.0.0/16"), Some(9090)),
    ]);
    let c = networking(vec![(from_group(&backend), None)]);
    let plans: [(&str, &TargetGroupBindingNetworking, NetworkTargets); 3] = [
        (
            "a",
            &a,
            targets(TargetMode::Ip, &["10.0.1.10", "10.0.2.10"]),
        ),
        ("b", &b, targets(TargetMode::Ip, &["10.0.1.10"])),
        ("c", &c, targets(TargetMode::Instance, &[&instance])),
    ];
    let mut contributions: BTreeMap<&str, Contribution> = BTreeMap::new();
    for (name, spec, t) in &plans {
        let contribution = manager
            .contribution(Some(spec), t)
            .await
            .expect("contribution");
        contributions.insert(name, contribution.clone());
        manager
            .reconcile(&key(name), contribution, &all)
            .await
            .expect("reconciles");
    }
    assert_eq!(
        contributions
            .get("c")
            .map(|c| c.keys().cloned().collect::<Vec<_>>()),
        Some(vec![nodes.clone()]),
        "the instance's primary ENI has the nodes' group"
    );
    assert_eq!(
        rules(clients, &pods).await,
        BTreeSet::from([
            foreign.clone(),
            ours(8080, 8080, Source::Group(backend.clone())),
            ours(9090, 9090, Source::Ipv4("10.0.0.0/16".into())),
        ])
    );
    assert!(rules(clients, &extra).await.is_empty());
    assert_eq!(
        rules(clients, &nodes).await,
        BTreeSet::from([ours(0, 65_535, Source::Group(backend.clone()))])
    );

    // An unchanged binding: ENIs come from the cache, one read of the current rules.
    let before = clients.calls().snapshot();
    let (name, spec, t) = &plans[0];
    let contribution = manager.contribution(Some(spec), t).await.expect("again");
    let out = manager
        .reconcile(&key(name), contribution, &all)
        .await
        .expect("reconciles");
    assert_eq!((out.authorized, out.revoked), (0, 0));
    let calls = clients.calls().snapshot().since(&before);
    assert_eq!(calls.total(), 1, "{calls}");
    assert_eq!(calls.count("DescribeSecurityGroups"), 1, "{calls}");

    // Releasing b: its CIDR rule goes, the shared 8080 rule stays for a.
    let out = manager.release(&key("b"), &all).await.expect("releases");
    assert_eq!(out.revoked, 1);
    assert_eq!(
        rules(clients, &pods).await,
        BTreeSet::from([
            foreign.clone(),
            ours(8080, 8080, Source::Group(backend.clone())),
        ])
    );
    // b and then c are gone from the cluster; a is released last.
    let left: BTreeSet<ObjKey> = ["a", "c"].into_iter().map(key).collect();
    manager.release(&key("c"), &left).await.expect("releases");
    assert!(rules(clients, &nodes).await.is_empty());
    let left: BTreeSet<ObjKey> = [key("a")].into_iter().collect();
    manager.release(&key("a"), &left).await.expect("releases");
    assert_eq!(rules(clients, &pods).await, BTreeSet::from([foreign]));
}

#[tokio::test]
async fn a_target_without_an_eni_and_an_ambiguous_eni_are_errors() {
    let account = Account::new().await;
    let clients = &account.clients;
    let net = support::network(clients).await;
    let one = security_group(clients, &net.vpc_id, "one", true).await;
    let two = security_group(clients, &net.vpc_id, "two", true).await;
    let eni_id = eni(clients, &net.subnets[0], "10.0.1.20", &[&one, &two]).await;
    let manager = NetworkingManager::new(
        Arc::new(AwsTargetSecurityGroups::new(clients, &net.vpc_id, CLUSTER)),
        CLUSTER,
        true,
    );
    let spec = networking(vec![(from_group(&net.backend_sg), Some(80))]);
    let error = manager
        .contribution(Some(&spec), &targets(TargetMode::Ip, &["10.0.1.99"]))
        .await
        .expect_err("no ENI holds that IP");
    assert_eq!(
        error.to_string(),
        "cannot resolve pod ENI for pods: [10.0.1.99]"
    );
    let error = manager
        .contribution(Some(&spec), &targets(TargetMode::Ip, &["10.0.1.20"]))
        .await
        .expect_err("two tagged groups");
    let mut both = [one, two];
    both.sort();
    assert_eq!(
        error.to_string(),
        format!(
            "expected exactly one securityGroup tagged with kubernetes.io/cluster/{CLUSTER} for eni {eni_id}, got: [{} {}] (clusterName: {CLUSTER})",
            both[0], both[1]
        )
    );
}
