//! Service stacks (NLBs) through the deployer against moto: creation with the
//! `service.k8s.aws` tags, each kind of change and the calls it takes, an unchanged re-sync
//! with no mutating call, replacement on a scheme change (the old NLB first), deletion, and
//! strangers left alone: other clusters' and untagged NLBs, and the Ingress stack that has the
//! same ID.
//!
//! What moto 5.2.5 does not do for NLBs (so these tests do not rely on it): it keeps only the
//! subnet of a subnet mapping (Elastic IP, private IPv4 and IPv6 addresses are dropped; the
//! request is checked on the wire instead, through the recording proxy), reports neither the
//! source-NAT switch nor the PrivateLink inbound-rules setting, gives NLBs `app` ARNs, lets
//! `SetSecurityGroups` add groups to an NLB created without any (AWS refuses), accepts a second
//! NLB of one name, never fails `CreateListener` with `TargetGroupAssociationLimit` (a target
//! group of an NLB serves one load balancer), ignores `AlpnPolicy` in `ModifyListener`, and
//! keeps no health-check matcher on a TCP, UDP or TLS target group (an HTTP health check of
//! an NLB target group has one on AWS), and its `ModifyListener` refuses every protocol but
//! HTTP, HTTPS and TCP (so a UDP, TLS or TCP_UDP listener cannot be modified there).

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;

use aws_io::AwsClients;
use aws_io::adapters::existing_load_balancer;
use aws_sdk_elasticloadbalancingv2::types as elbv2;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use model::stack::{
    Action, Attribute, Certificate, HealthCheckConfig, HealthCheckMatcher, IpAddressType,
    IpPermission, IpRange, ListenerSpec, LoadBalancerSpec, LoadBalancerType, Protocol, Ref, Scheme,
    SecurityGroupSpec, Stack, StackKind, SubnetMapping, TargetGroupIpAddressType, TargetGroupSpec,
    TargetType, resource_id,
};
use model::tags::{
    TAG_CLUSTER, TAG_INGRESS_RESOURCE, TAG_INGRESS_STACK, TAG_SERVICE_RESOURCE, TAG_SERVICE_STACK,
};
use support::aws_recorder::Call;
use support::deploy::{assert_converged, expect_calls, mutating, recorded, setup};
use support::inventory::{Inventory, inventory};
use support::moto::Account;
use support::{CLUSTER, Network, network, sample_stack, tags};

const SVC: &str = "ns/svc";
const TG_80: &str = "ns/svc:80";
const TG_53: &str = "ns/svc:53";
const TG_443: &str = "ns/svc:443";

fn mapping(subnet: &str) -> SubnetMapping {
    SubnetMapping {
        subnet_id: subnet.to_owned(),
        allocation_id: None,
        private_ipv4_address: None,
        ipv6_address: None,
        source_nat_ipv6_prefix: None,
    }
}

fn from_anywhere(protocol: &str, port: u16) -> IpPermission {
    IpPermission {
        ip_protocol: protocol.to_owned(),
        ip_ranges: vec![IpRange {
            cidr_ip: "0.0.0.0/0".into(),
            description: String::new(),
        }],
        ..IpPermission::tcp_port(port)
    }
}

/// An NLB health check as upstream's default: TCP on the traffic port, 10/10/3/3.
fn tcp_health_check() -> HealthCheckConfig {
    HealthCheckConfig {
        port: Some(IntOrString::String("traffic-port".into())),
        protocol: Some(Protocol::Tcp),
        path: None,
        matcher: None,
        interval_seconds: Some(10),
        timeout_seconds: Some(10),
        healthy_threshold_count: Some(3),
        unhealthy_threshold_count: Some(3),
    }
}

fn target_group(name: String, protocol: Protocol, port: i32) -> TargetGroupSpec {
    TargetGroupSpec {
        name,
        target_type: TargetType::Ip,
        port,
        protocol,
        protocol_version: None,
        ip_address_type: Some(TargetGroupIpAddressType::Ipv4),
        health_check_config: Some(tcp_health_check()),
        target_group_attributes: vec![Attribute {
            key: "proxy_protocol_v2.enabled".into(),
            value: "false".into(),
        }],
        target_control_port: None,
        alb_targets: Vec::new(),
        tags: tags(&[("owner", "team-a")]),
    }
}

fn listener(port: u16, protocol: Protocol, tg: &str) -> ListenerSpec {
    ListenerSpec {
        load_balancer_arn: Ref::load_balancer_arn().into(),
        port,
        protocol,
        default_actions: vec![Action::forward_to(Ref::target_group_arn(tg))],
        certificates: vec![],
        ssl_policy: None,
        alpn_policy: vec![],
        mutual_authentication: None,
        listener_attributes: vec![],
        tags: tags(&[("owner", "team-a")]),
    }
}

/// A stack like the Service builder makes for `ns/svc` with ports 80/TCP and 53/UDP in ip
/// mode: a managed security group, an internal NLB in two subnets (with the backend security
/// group), a TCP and a UDP listener, and a target group for each. `prefix` makes AWS names
/// unique.
fn service_stack(net: &Network, id: &str, prefix: &str) -> Stack {
    let mut stack = Stack::for_service(id);
    let sg = stack
        .add_security_group(
            resource_id::MANAGED_SECURITY_GROUP,
            SecurityGroupSpec {
                group_name: format!("{prefix}-sg"),
                description: "[k8s] Managed SecurityGroup for LoadBalancer".into(),
                tags: tags(&[("owner", "team-a")]),
                ingress: vec![from_anywhere("tcp", 80), from_anywhere("udp", 53)],
            },
        )
        .unwrap();
    stack
        .add_load_balancer(LoadBalancerSpec {
            name: format!("{prefix}-nlb"),
            load_balancer_type: LoadBalancerType::Network,
            scheme: Scheme::Internal,
            ip_address_type: IpAddressType::Ipv4,
            subnet_mappings: net.subnets[..2].iter().map(|s| mapping(s)).collect(),
            security_groups: vec![sg.into(), net.backend_sg.clone().into()],
            customer_owned_ipv4_pool: None,
            ipam_configuration: None,
            minimum_load_balancer_capacity: None,
            enable_prefix_for_ipv6_source_nat: Some("off".into()),
            security_groups_inbound_rules_on_private_link: None,
            load_balancer_attributes: vec![Attribute {
                key: "load_balancing.cross_zone.enabled".into(),
                value: "true".into(),
            }],
            tags: tags(&[("owner", "team-a")]),
        })
        .unwrap();
    stack
        .add_listener(listener(80, Protocol::Tcp, TG_80))
        .unwrap();
    stack
        .add_listener(listener(53, Protocol::Udp, TG_53))
        .unwrap();
    stack
        .add_target_group(
            TG_80,
            target_group(format!("{prefix}-tg80"), Protocol::Tcp, 8080),
        )
        .unwrap();
    stack
        .add_target_group(
            TG_53,
            target_group(format!("{prefix}-tg53"), Protocol::Udp, 5353),
        )
        .unwrap();
    stack
}

fn lb_mut(stack: &mut Stack) -> &mut LoadBalancerSpec {
    &mut stack
        .resources
        .load_balancers
        .get_mut(resource_id::LOAD_BALANCER)
        .unwrap()
        .spec
}

fn tg_mut<'a>(stack: &'a mut Stack, id: &str) -> &'a mut TargetGroupSpec {
    &mut stack.resources.target_groups.get_mut(id).unwrap().spec
}

fn sg_mut(stack: &mut Stack) -> &mut SecurityGroupSpec {
    &mut stack
        .resources
        .security_groups
        .get_mut(resource_id::MANAGED_SECURITY_GROUP)
        .unwrap()
        .spec
}

/// The listeners of a load balancer: port → (protocol, default target group ARNs, ARN).
async fn listeners(
    clients: &AwsClients,
    lb_arn: &str,
) -> BTreeMap<i32, (String, Vec<String>, String)> {
    let out = clients
        .elbv2
        .describe_listeners()
        .load_balancer_arn(lb_arn)
        .send()
        .await
        .unwrap();
    out.listeners()
        .iter()
        .map(|l| {
            let mut tgs: Vec<String> = l
                .default_actions()
                .iter()
                .flat_map(|a| {
                    let tuples = a
                        .forward_config()
                        .map(|f| f.target_groups())
                        .unwrap_or_default();
                    a.target_group_arn()
                        .into_iter()
                        .chain(tuples.iter().filter_map(|t| t.target_group_arn()))
                        .map(str::to_owned)
                })
                .collect();
            tgs.dedup();
            (
                l.port().unwrap(),
                (
                    l.protocol().unwrap().as_str().to_owned(),
                    tgs,
                    l.listener_arn().unwrap().to_owned(),
                ),
            )
        })
        .collect()
}

async fn describe_lb(clients: &AwsClients, arn: &str) -> elbv2::LoadBalancer {
    clients
        .elbv2
        .describe_load_balancers()
        .load_balancer_arns(arn)
        .send()
        .await
        .unwrap()
        .load_balancers()[0]
        .clone()
}

async fn describe_tg(clients: &AwsClients, name: &str) -> elbv2::TargetGroup {
    clients
        .elbv2
        .describe_target_groups()
        .names(name)
        .send()
        .await
        .unwrap()
        .target_groups()[0]
        .clone()
}

async fn tg_attributes(clients: &AwsClients, arn: &str) -> BTreeMap<String, String> {
    clients
        .elbv2
        .describe_target_group_attributes()
        .target_group_arn(arn)
        .send()
        .await
        .unwrap()
        .attributes()
        .iter()
        .map(|a| {
            (
                a.key().unwrap().to_owned(),
                a.value().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The tags every resource of the Service stack must carry, and no Ingress key.
fn assert_service_tags(what: &str, tags: &BTreeMap<String, String>, resource: &str) {
    assert_eq!(
        tags.get(TAG_CLUSTER).map(String::as_str),
        Some(CLUSTER),
        "{what}: {tags:?}"
    );
    assert_eq!(
        tags.get(TAG_SERVICE_STACK).map(String::as_str),
        Some(SVC),
        "{what}: {tags:?}"
    );
    assert_eq!(
        tags.get(TAG_SERVICE_RESOURCE).map(String::as_str),
        Some(resource),
        "{what}: {tags:?}"
    );
    assert!(
        !tags.contains_key(TAG_INGRESS_STACK) && !tags.contains_key(TAG_INGRESS_RESOURCE),
        "{what}: no ingress.k8s.aws key: {tags:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_stack_is_created_with_service_tags_then_resyncs_without_a_call() {
    let (account, net, deployer) = setup().await;
    let clients = &account.clients;
    let stack = service_stack(&net, SVC, "nlb");

    let report = deployer.deploy(&stack).await.unwrap();
    eprintln!("create: {}", report.calls_by_operation);
    assert_eq!(
        mutating(&report),
        expect_calls(&[
            ("AuthorizeSecurityGroupIngress", 1),
            ("CreateListener", 2),
            ("CreateLoadBalancer", 1),
            ("CreateSecurityGroup", 1),
            ("CreateTargetGroup", 2),
            ("ModifyLoadBalancerAttributes", 1),
            ("ModifyTargetGroupAttributes", 2),
        ]),
        "calls: {}",
        report.calls_by_operation
    );
    assert_eq!(report.created.len(), 6, "{:?}", report.created);
    assert_eq!(
        report.target_group_arns.keys().collect::<Vec<_>>(),
        [TG_53, TG_80]
    );
    let sg_id = report.security_group_ids[resource_id::MANAGED_SECURITY_GROUP].clone();

    let inv = inventory(clients).await;
    let (lb_arn, lb_tags) = &inv.load_balancers["nlb-nlb"][0];
    assert_eq!(Some(lb_arn), report.load_balancer_arn.as_ref());
    assert_service_tags("load balancer", lb_tags, "LoadBalancer");
    assert_eq!(lb_tags["owner"], "team-a");
    assert_service_tags("tg 80", &inv.target_groups["nlb-tg80"].1, TG_80);
    assert_service_tags("tg 53", &inv.target_groups["nlb-tg53"].1, TG_53);
    assert_service_tags(
        "security group",
        &inv.security_groups["nlb-sg"].1,
        resource_id::MANAGED_SECURITY_GROUP,
    );
    assert_eq!(inv.security_groups["nlb-sg"].0, sg_id);

    let lb = describe_lb(clients, lb_arn).await;
    assert_eq!(lb.r#type(), Some(&elbv2::LoadBalancerTypeEnum::Network));
    assert_eq!(lb.scheme(), Some(&elbv2::LoadBalancerSchemeEnum::Internal));
    let mut subnets: Vec<&str> = lb
        .availability_zones()
        .iter()
        .filter_map(|az| az.subnet_id())
        .collect();
    subnets.sort_unstable();
    let mut wanted: Vec<&str> = net.subnets[..2].iter().map(String::as_str).collect();
    wanted.sort_unstable();
    assert_eq!(subnets, wanted);
    assert_eq!(
        lb.security_groups(),
        [sg_id.clone(), net.backend_sg.clone()]
    );

    let found = listeners(clients, lb_arn).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&53, &80]);
    assert_eq!(found[&80].0, "TCP");
    assert_eq!(found[&53].0, "UDP");
    assert_eq!(found[&80].1, [report.target_group_arns[TG_80].clone()]);
    assert_eq!(found[&53].1, [report.target_group_arns[TG_53].clone()]);
    let listener_tags = support::inventory::elbv2_tags(clients, &[found[&80].2.clone()]).await;
    assert_service_tags("listener 80", &listener_tags[&found[&80].2], "80");

    let tg = describe_tg(clients, "nlb-tg53").await;
    assert_eq!(tg.protocol(), Some(&elbv2::ProtocolEnum::Udp));
    assert_eq!(tg.health_check_protocol(), Some(&elbv2::ProtocolEnum::Tcp));
    assert_eq!(tg.health_check_path(), None);
    assert!(tg.matcher().is_none());
    assert_eq!(tg.health_check_enabled(), Some(true));
    assert_eq!(
        tg_attributes(clients, tg.target_group_arn().unwrap()).await["proxy_protocol_v2.enabled"],
        "false"
    );

    let resync = assert_converged(&deployer, &stack).await;
    eprintln!("unchanged re-sync: {}", resync.calls_by_operation);
    assert_eq!(
        resync.calls_by_operation.reads().get("DescribeRules"),
        None,
        "an NLB has no rules to read"
    );
    assert!(
        resync.calls_by_operation.read_total() <= 9,
        "an unchanged re-sync reads little: {}",
        resync.calls_by_operation
    );
    assert_eq!(resync.dns_name, report.dns_name);
    assert_eq!(resync.target_group_arns, report.target_group_arns);
    assert_eq!(resync.security_group_ids, report.security_group_ids);

    // The other kind's deployer sees nothing of it, and only this kind lists it.
    assert!(deployer.stack_ids().await.unwrap().is_empty());
    assert_eq!(
        deployer
            .stack_ids_of(StackKind::Service)
            .await
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        [SVC]
    );
}

/// One change to the stack and the mutating calls it must take, no more.
struct Change {
    name: &'static str,
    apply: fn(&mut Stack, &Network),
    calls: &'static [(&'static str, u64)],
}

const CHANGES: &[Change] = &[
    Change {
        name: "a port added (listener, target group, security group rule)",
        apply: |s, _| {
            s.add_listener(listener(443, Protocol::Tcp, TG_443))
                .unwrap();
            s.add_target_group(
                TG_443,
                target_group("chg-tg443".into(), Protocol::Tcp, 8443),
            )
            .unwrap();
            sg_mut(s).ingress.push(from_anywhere("tcp", 443));
        },
        calls: &[
            ("AuthorizeSecurityGroupIngress", 1),
            ("CreateListener", 1),
            ("CreateTargetGroup", 1),
            ("ModifyTargetGroupAttributes", 1),
        ],
    },
    Change {
        // Upstream's target group name hashes the interval: the name changes too, and is
        // not compared for a Service's target group.
        name: "health-check interval (and so the name)",
        apply: |s, _| {
            let tg = tg_mut(s, TG_80);
            tg.name = "chg-tg80-30s".into();
            tg.health_check_config.as_mut().unwrap().interval_seconds = Some(30);
        },
        calls: &[("ModifyTargetGroup", 1)],
    },
    Change {
        // (With a matcher too upstream; moto keeps no matcher on a TCP target group.)
        name: "health check to HTTP with a path",
        apply: |s, _| {
            let hc = tg_mut(s, TG_443).health_check_config.as_mut().unwrap();
            hc.protocol = Some(Protocol::Http);
            hc.path = Some("/healthz".into());
        },
        calls: &[("ModifyTargetGroup", 1)],
    },
    Change {
        name: "target group attribute",
        apply: |s, _| {
            tg_mut(s, TG_53).target_group_attributes[0].value = "true".into();
        },
        calls: &[("ModifyTargetGroupAttributes", 1)],
    },
    Change {
        name: "target group attribute added (only it is sent)",
        apply: |s, _| {
            tg_mut(s, TG_53).target_group_attributes.push(Attribute {
                key: "deregistration_delay.timeout_seconds".into(),
                value: "30".into(),
            });
        },
        calls: &[("ModifyTargetGroupAttributes", 1)],
    },
    Change {
        name: "load balancer attribute",
        apply: |s, _| lb_mut(s).load_balancer_attributes[0].value = "false".into(),
        calls: &[("ModifyLoadBalancerAttributes", 1)],
    },
    Change {
        name: "a subnet added",
        apply: |s, net| lb_mut(s).subnet_mappings.push(mapping(&net.subnets[2])),
        calls: &[("SetSubnets", 1)],
    },
    Change {
        // AWS cannot change an address on a subnet in place; upstream does not try either.
        name: "private address on the same subnets (not applied)",
        apply: |s, _| {
            lb_mut(s).subnet_mappings[0].private_ipv4_address = Some("10.0.1.10".into());
        },
        calls: &[],
    },
    Change {
        name: "load balancer tag",
        apply: |s, _| {
            lb_mut(s).tags.insert("env".into(), "prod".into());
        },
        calls: &[("AddTags", 1)],
    },
    Change {
        // (A listener protocol change, e.g. TCP to TCP_UDP, cannot be tried: moto's
        // ModifyListener takes only HTTP, HTTPS and TCP.)
        name: "target type ip to instance (the target group replaced)",
        apply: |s, _| {
            let tg = tg_mut(s, TG_80);
            tg.target_type = TargetType::Instance;
            tg.port = 30080;
        },
        calls: &[
            ("CreateTargetGroup", 1),
            ("ModifyTargetGroupAttributes", 1),
            ("ModifyListener", 1),
            ("DeleteTargetGroup", 1),
        ],
    },
    Change {
        name: "a port removed",
        apply: |s, _| {
            s.resources.listeners.remove("53");
            s.resources.target_groups.remove(TG_53);
            sg_mut(s).ingress.retain(|p| p.from_port != Some(53));
        },
        calls: &[
            ("RevokeSecurityGroupIngress", 1),
            ("DeleteListener", 1),
            ("DeleteTargetGroup", 1),
        ],
    },
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_change_makes_only_the_calls_it_needs() {
    let (account, net, deployer) = setup().await;
    let clients = &account.clients;
    let mut stack = service_stack(&net, SVC, "chg");
    let first = deployer.deploy(&stack).await.unwrap();
    let lb_arn = first.load_balancer_arn.unwrap();
    for change in CHANGES {
        (change.apply)(&mut stack, &net);
        let report = deployer
            .deploy(&stack)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", change.name));
        assert_eq!(
            mutating(&report),
            expect_calls(change.calls),
            "{}: calls {}",
            change.name,
            report.calls_by_operation
        );
        assert_converged(&deployer, &stack).await;
        assert_eq!(
            report.load_balancer_arn.as_deref(),
            Some(lb_arn.as_str()),
            "{}: the same NLB",
            change.name
        );
    }

    // The end state is what the stack says.
    let inv: Inventory = inventory(clients).await;
    assert_eq!(inv.load_balancers.keys().collect::<Vec<_>>(), ["chg-nlb"]);
    // TG 80 was created as chg-tg80 and kept its name through the interval change; its
    // replacement (instance targets) took the current name.
    assert_eq!(
        inv.target_groups.keys().collect::<Vec<_>>(),
        ["chg-tg443", "chg-tg80-30s"]
    );
    let tg80 = describe_tg(clients, "chg-tg80-30s").await;
    assert_eq!(tg80.target_type(), Some(&elbv2::TargetTypeEnum::Instance));
    assert_eq!(tg80.port(), Some(30080));
    assert_eq!(tg80.health_check_interval_seconds(), Some(30));
    let tg443 = describe_tg(clients, "chg-tg443").await;
    assert_eq!(
        tg443.health_check_protocol(),
        Some(&elbv2::ProtocolEnum::Http)
    );
    assert_eq!(tg443.health_check_path(), Some("/healthz"));
    let found = listeners(clients, &lb_arn).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&80, &443]);
    assert_eq!(found[&80].0, "TCP");
    assert_eq!(found[&80].1, [tg80.target_group_arn().unwrap().to_owned()]);
    let lb = describe_lb(clients, &lb_arn).await;
    assert_eq!(lb.availability_zones().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheme_change_replaces_the_nlb_deleting_the_old_one_first() {
    let (account, net, _) = setup().await;
    let (recorder, deployer) = recorded(&account, &net).await;
    let mut stack = service_stack(&net, SVC, "sch");
    let first = deployer.deploy(&stack).await.unwrap();
    let old_arn = first.load_balancer_arn.clone().unwrap();

    // Upstream's NLB name hashes the scheme: a new name as well.
    let lb = lb_mut(&mut stack);
    lb.scheme = Scheme::InternetFacing;
    lb.name = "sch-nlb-public".into();
    let start = recorder.calls().len();
    let report = deployer.deploy(&stack).await.unwrap();
    assert_eq!(
        mutating(&report),
        expect_calls(&[
            ("CreateListener", 2),
            ("CreateLoadBalancer", 1),
            ("DeleteLoadBalancer", 1),
            ("ModifyLoadBalancerAttributes", 1),
        ]),
        "calls: {}",
        report.calls_by_operation
    );
    let order: Vec<String> = recorder.calls()[start..]
        .iter()
        .filter(|c| c.is_mutating())
        .map(|c| c.operation.clone())
        .collect();
    assert_eq!(
        order.first().map(String::as_str),
        Some("DeleteLoadBalancer"),
        "the old NLB goes before anything else changes: {order:?}"
    );
    let new_arn = report.load_balancer_arn.clone().unwrap();
    assert_ne!(new_arn, old_arn);
    // Target groups and the security group stay.
    assert_eq!(report.target_group_arns, first.target_group_arns);
    assert_eq!(report.security_group_ids, first.security_group_ids);
    let inv = inventory(&account.clients).await;
    assert_eq!(
        inv.load_balancers.keys().collect::<Vec<_>>(),
        ["sch-nlb-public"]
    );
    let lb = describe_lb(&account.clients, &new_arn).await;
    assert_eq!(
        lb.scheme(),
        Some(&elbv2::LoadBalancerSchemeEnum::InternetFacing)
    );
    assert_converged(&deployer, &stack).await;

    // The same under one name (a named NLB): deleted first too.
    lb_mut(&mut stack).scheme = Scheme::Internal;
    let report = deployer.deploy(&stack).await.unwrap();
    assert_eq!(
        mutating(&report),
        expect_calls(&[
            ("CreateListener", 2),
            ("CreateLoadBalancer", 1),
            ("DeleteLoadBalancer", 1),
            ("ModifyLoadBalancerAttributes", 1),
        ]),
        "calls: {}",
        report.calls_by_operation
    );
    assert_eq!(
        inventory(&account.clients).await.load_balancers["sch-nlb-public"].len(),
        1
    );
    assert_converged(&deployer, &stack).await;
}

/// A form-encoded key or value, decoded.
fn decode(text: &str) -> String {
    let text = text.replace('+', " ");
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The form parameters of a recorded (Query protocol) call.
fn form(call: &Call) -> Vec<(String, String)> {
    call.body
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

/// The form parameters of the first recorded call of `operation`.
fn params(calls: &[Call], operation: &str) -> Vec<(String, String)> {
    form(
        calls
            .iter()
            .find(|c| c.operation == operation)
            .unwrap_or_else(|| panic!("no {operation} call")),
    )
}

fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn has_prefix(params: &[(String, String)], prefix: &str) -> bool {
    params.iter().any(|(k, _)| k.starts_with(prefix))
}

/// What goes over the wire for an NLB: its type, subnet mappings with their addresses, no
/// security groups when there are none (and never later), TLS listeners with their default
/// certificate, SNI certificates, policy and ALPN, TCP health checks without path or matcher.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nlb_requests_carry_mappings_tls_and_plain_tcp_health_checks() {
    let (account, net, _) = setup().await;
    let (recorder, deployer) = recorded(&account, &net).await;
    let clients = &account.clients;
    let eip = clients
        .ec2
        .allocate_address()
        .domain(aws_sdk_ec2::types::DomainType::Vpc)
        .send()
        .await
        .unwrap()
        .allocation_id()
        .unwrap()
        .to_owned();
    let cert_a = support::e2e::import_certificate(clients, &["a.example.com"]).await;
    let cert_b = support::e2e::import_certificate(clients, &["b.example.com"]).await;

    // An internet-facing legacy-mode NLB: no security groups at all.
    let mut stack = service_stack(&net, SVC, "wire");
    stack.resources.security_groups.clear();
    {
        let lb = lb_mut(&mut stack);
        lb.scheme = Scheme::InternetFacing;
        lb.security_groups.clear();
        lb.subnet_mappings[0].allocation_id = Some(eip.clone());
        lb.subnet_mappings[1].private_ipv4_address = Some("10.0.2.10".into());
    }
    {
        let tls = &mut stack.resources.listeners.get_mut("80").unwrap().spec;
        tls.protocol = Protocol::Tls;
        tls.ssl_policy = Some("ELBSecurityPolicy-TLS13-1-2-2021-06".into());
        tls.certificates = vec![
            Certificate {
                certificate_arn: cert_a.clone(),
            },
            Certificate {
                certificate_arn: cert_b.clone(),
            },
        ];
        tls.alpn_policy = vec!["HTTP2Preferred".into()];
    }
    // A path and matcher on a TCP health check are not sent (AWS refuses them there).
    let hc = tg_mut(&mut stack, TG_80)
        .health_check_config
        .as_mut()
        .unwrap();
    hc.path = Some("/".into());
    hc.matcher = Some(HealthCheckMatcher {
        http_code: Some("200-399".into()),
        grpc_code: None,
    });

    let report = deployer.deploy(&stack).await.unwrap();
    assert_eq!(
        mutating(&report),
        expect_calls(&[
            ("AddListenerCertificates", 1),
            ("CreateListener", 2),
            ("CreateLoadBalancer", 1),
            ("CreateTargetGroup", 2),
            ("ModifyLoadBalancerAttributes", 1),
            ("ModifyTargetGroupAttributes", 2),
        ]),
        "calls: {}",
        report.calls_by_operation
    );
    let calls = recorder.calls();

    let create = params(&calls, "CreateLoadBalancer");
    assert_eq!(param(&create, "Type"), Some("network"));
    assert_eq!(param(&create, "Scheme"), Some("internet-facing"));
    assert_eq!(
        param(&create, "SubnetMappings.member.1.SubnetId"),
        Some(net.subnets[0].as_str())
    );
    assert_eq!(
        param(&create, "SubnetMappings.member.1.AllocationId"),
        Some(eip.as_str())
    );
    assert_eq!(
        param(&create, "SubnetMappings.member.2.PrivateIPv4Address"),
        Some("10.0.2.10")
    );
    assert_eq!(param(&create, "EnablePrefixForIpv6SourceNat"), Some("off"));
    assert!(
        !has_prefix(&create, "SecurityGroups"),
        "no SecurityGroups parameter for an NLB without any: {create:?}"
    );
    assert!(
        !has_prefix(&create, "Subnets."),
        "mappings only: {create:?}"
    );

    let tls = calls
        .iter()
        .filter(|c| c.operation == "CreateListener")
        .map(form)
        .find(|p| param(p, "Protocol") == Some("TLS"))
        .unwrap();
    assert_eq!(
        param(&tls, "Certificates.member.1.CertificateArn"),
        Some(cert_a.as_str())
    );
    assert!(!has_prefix(&tls, "Certificates.member.2"), "{tls:?}");
    assert_eq!(
        param(&tls, "SslPolicy"),
        Some("ELBSecurityPolicy-TLS13-1-2-2021-06")
    );
    assert_eq!(param(&tls, "AlpnPolicy.member.1"), Some("HTTP2Preferred"));
    let sni = params(&calls, "AddListenerCertificates");
    assert_eq!(
        param(&sni, "Certificates.member.1.CertificateArn"),
        Some(cert_b.as_str())
    );

    for create_tg in calls.iter().filter(|c| c.operation == "CreateTargetGroup") {
        let p = form(create_tg);
        assert_eq!(param(&p, "HealthCheckProtocol"), Some("TCP"), "{p:?}");
        assert_eq!(param(&p, "HealthCheckEnabled"), Some("true"), "{p:?}");
        assert!(!has_prefix(&p, "HealthCheckPath"), "{p:?}");
        assert!(!has_prefix(&p, "Matcher"), "{p:?}");
    }
    assert_converged(&deployer, &stack).await;

    // The model never asks for security groups on an NLB created without any; if a stack did,
    // AWS would refuse: no SetSecurityGroups is made (moto would accept it).
    lb_mut(&mut stack).security_groups = vec![net.backend_sg.clone().into()];
    let report = deployer.deploy(&stack).await.unwrap();
    assert_eq!(
        mutating(&report),
        BTreeMap::new(),
        "calls: {}",
        report.calls_by_operation
    );
    let lb = describe_lb(clients, report.load_balancer_arn.as_deref().unwrap()).await;
    assert!(lb.security_groups().is_empty());

    // An SNI certificate dropped: only that.
    stack
        .resources
        .listeners
        .get_mut("80")
        .unwrap()
        .spec
        .certificates
        .truncate(1);
    let report = deployer.deploy(&stack).await.unwrap();
    assert_eq!(
        mutating(&report),
        expect_calls(&[("RemoveListenerCertificates", 1)]),
        "calls: {}",
        report.calls_by_operation
    );
    assert_converged(&deployer, &stack).await;
}

async fn stranger_nlb(clients: &AwsClients, net: &Network, name: &str, tags: &[(&str, &str)]) {
    let tags: Vec<elbv2::Tag> = tags
        .iter()
        .map(|(k, v)| elbv2::Tag::builder().key(*k).value(*v).build())
        .collect();
    clients
        .elbv2
        .create_load_balancer()
        .name(name)
        .r#type(elbv2::LoadBalancerTypeEnum::Network)
        .scheme(elbv2::LoadBalancerSchemeEnum::Internal)
        .subnets(&net.subnets[0])
        .subnets(&net.subnets[1])
        .set_tags((!tags.is_empty()).then_some(tags))
        .send()
        .await
        .unwrap();
}

/// Everything in the account as `kind name tags` lines, sorted.
fn lines(inv: &Inventory) -> Vec<String> {
    let mut out = Vec::new();
    for (name, lbs) in &inv.load_balancers {
        for (_, tags) in lbs {
            out.push(format!("lb {name} {tags:?}"));
        }
    }
    for (name, (_, tags)) in &inv.target_groups {
        out.push(format!("tg {name} {tags:?}"));
    }
    for (name, (_, tags)) in &inv.security_groups {
        out.push(format!("sg {name} {tags:?}"));
    }
    for ((lb, port), arn) in &inv.listeners {
        out.push(format!("listener {lb}:{port} {arn}"));
    }
    for ((lb, port, priority), (arn, _)) in &inv.rules {
        out.push(format!("rule {lb}:{port}:{priority} {arn}"));
    }
    out.sort();
    out
}

fn without(lines: &[String], prefix: &str) -> Vec<String> {
    lines
        .iter()
        .filter(|l| !l.split(' ').nth(1).unwrap_or_default().starts_with(prefix))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_service_stack_removes_it_and_leaves_strangers_and_the_ingress_stack_alone() {
    let (account, net, deployer) = setup().await;
    let clients = &account.clients;
    // Another cluster's NLB for the same Service, and an untagged one.
    stranger_nlb(
        clients,
        &net,
        "other-nlb",
        &[
            (TAG_CLUSTER, "other-cluster"),
            (TAG_SERVICE_STACK, SVC),
            (TAG_SERVICE_RESOURCE, "LoadBalancer"),
        ],
    )
    .await;
    stranger_nlb(clients, &net, "plain-nlb", &[]).await;
    // An Ingress (implicit group) whose stack ID is spelled like the Service's.
    let ingress = sample_stack(&net, SVC, "ing");
    deployer.deploy(&ingress).await.unwrap();

    let service = service_stack(&net, SVC, "svc");
    let created = deployer.deploy(&service).await.unwrap();
    assert_eq!(created.created.len(), 6, "{:?}", created.created);
    assert!(
        created.modified.is_empty() && created.deleted.is_empty(),
        "the Service deploy touched nothing else: {created:?}"
    );
    // Neither stack's re-sync sees the other.
    assert_converged(&deployer, &ingress).await;
    assert_converged(&deployer, &service).await;
    assert_eq!(
        deployer
            .stack_ids()
            .await
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        [SVC]
    );
    assert_eq!(
        deployer
            .stack_ids_of(StackKind::Service)
            .await
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        [SVC]
    );

    // Each kind's existing load balancer is its own.
    let own = existing_load_balancer(clients, CLUSTER, StackKind::Service, SVC)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(own.scheme, Scheme::Internal);
    assert_eq!(own.security_groups.len(), 2);
    let mut subnets = own.subnet_ids.clone();
    subnets.sort();
    let mut wanted = net.subnets[..2].to_vec();
    wanted.sort();
    assert_eq!(subnets, wanted);
    let theirs = existing_load_balancer(clients, CLUSTER, StackKind::Ingress, SVC)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(theirs.scheme, Scheme::InternetFacing);
    assert!(
        existing_load_balancer(clients, CLUSTER, StackKind::Service, "ns/none")
            .await
            .unwrap()
            .is_none()
    );

    let before = lines(&inventory(clients).await);
    let report = deployer.delete_of(StackKind::Service, SVC).await.unwrap();
    assert_eq!(
        mutating(&report),
        expect_calls(&[
            ("DeleteLoadBalancer", 1),
            ("DeleteSecurityGroup", 1),
            ("DeleteTargetGroup", 2),
        ]),
        "listeners go with their NLB; calls {}",
        report.calls_by_operation
    );
    assert_eq!(report.deleted.len(), 4);
    let after = lines(&inventory(clients).await);
    assert_eq!(
        after,
        without(&before, "svc-"),
        "only the Service stack's resources are gone"
    );
    assert!(after.iter().any(|l| l.starts_with("lb other-nlb")));
    assert!(after.iter().any(|l| l.starts_with("lb plain-nlb")));
    assert!(after.iter().any(|l| l.starts_with("lb ing-lb")));
    assert_converged(&deployer, &ingress).await;
    assert!(
        deployer
            .stack_ids_of(StackKind::Service)
            .await
            .unwrap()
            .is_empty()
    );
    // Deleting again finds nothing.
    let again = deployer.delete_of(StackKind::Service, SVC).await.unwrap();
    assert_eq!(mutating(&again), BTreeMap::new());

    // And the other way round: the Ingress stack's deletion leaves a live Service stack alone.
    deployer.deploy(&service).await.unwrap();
    let before = lines(&inventory(clients).await);
    let report = deployer.delete(SVC).await.unwrap();
    assert!(report.deleted.iter().all(|d| !d.aws_id.contains("svc-")));
    let after = lines(&inventory(clients).await);
    assert_eq!(without(&after, "ing-"), without(&before, "ing-"));
    assert!(after.iter().all(|l| !l.contains(" ing-")), "{after:?}");
    assert_converged(&deployer, &service).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vpc_cidrs_are_read_with_the_live_facts() {
    let account = Account::new().await;
    let clients = &account.clients;
    let net = network(clients).await;
    clients
        .ec2
        .associate_vpc_cidr_block()
        .vpc_id(&net.vpc_id)
        .cidr_block("100.64.0.0/16")
        .send()
        .await
        .unwrap();
    let v6 = clients
        .ec2
        .associate_vpc_cidr_block()
        .vpc_id(&net.vpc_id)
        .amazon_provided_ipv6_cidr_block(true)
        .send()
        .await
        .unwrap();
    let v6_block = v6
        .ipv6_cidr_block_association()
        .and_then(|a| a.ipv6_cidr_block())
        .unwrap()
        .to_owned();
    let mut facts = model::ClusterFacts::new(CLUSTER, net.vpc_id.clone());
    let errors = aws_io::live_facts::load_all(clients, &[], &mut facts).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        facts.vpc_cidrs,
        ["10.0.0.0/16", "100.64.0.0/16", v6_block.as_str()]
    );

    // A refresh keeps them current.
    let shared = std::sync::RwLock::new(model::ClusterFacts::new(CLUSTER, net.vpc_id.clone()));
    aws_io::live_facts::refresh(clients, &[], &shared).await;
    assert_eq!(shared.read().unwrap().vpc_cidrs, facts.vpc_cidrs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_of_all_stacks_tells_services_from_ingress_groups() {
    let (account, net, deployer) = setup().await;
    deployer
        .deploy(&sample_stack(&net, SVC, "ing"))
        .await
        .unwrap();
    deployer
        .deploy(&service_stack(&net, "ns/old", "old"))
        .await
        .unwrap();

    let before = account.clients.calls().snapshot();
    let diffs = deployer
        .diff_all(&[service_stack(&net, SVC, "svc")])
        .await
        .unwrap();
    assert_eq!(
        account
            .clients
            .calls()
            .snapshot()
            .since(&before)
            .mutating_total(),
        0
    );
    let seen: Vec<(StackKind, &str, bool, usize, usize)> = diffs
        .iter()
        .map(|d| {
            let s = d.summary();
            (
                d.kind,
                d.stack_id.as_str(),
                d.no_longer_planned,
                s.create,
                s.delete,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (StackKind::Service, SVC, false, 6, 0),
            (StackKind::Ingress, SVC, true, 0, 4),
            (StackKind::Service, "ns/old", true, 0, 4),
        ]
    );
    let text = aws_io::diff::table(&diffs);
    assert!(text.contains("Service ns/svc: + 6 to create"), "{text}");
    assert!(
        text.contains("IngressGroup ns/svc (no longer planned)"),
        "{text}"
    );
    assert!(
        text.contains("Service ns/old (no longer planned)"),
        "{text}"
    );
}

/// The NLB-only settings moto neither keeps nor reports, checked on the wire: the source-NAT
/// switch goes with `CreateLoadBalancer`, the PrivateLink inbound-rules setting with a
/// `SetSecurityGroups` right after it. (Their re-sync cannot be checked here: moto reports
/// neither, so each would look drifted again.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nlb_only_settings_are_sent_where_aws_takes_them() {
    let (account, net, _) = setup().await;
    let (recorder, deployer) = recorded(&account, &net).await;
    let mut stack = service_stack(&net, SVC, "only");
    {
        let lb = lb_mut(&mut stack);
        lb.enable_prefix_for_ipv6_source_nat = Some("on".into());
        lb.security_groups_inbound_rules_on_private_link = Some("off".into());
    }
    let report = deployer.deploy(&stack).await.unwrap();
    assert_eq!(
        report.calls_by_operation.count("SetSecurityGroups"),
        1,
        "calls: {}",
        report.calls_by_operation
    );
    let calls = recorder.calls();
    let create = params(&calls, "CreateLoadBalancer");
    assert_eq!(param(&create, "EnablePrefixForIpv6SourceNat"), Some("on"));
    let set = params(&calls, "SetSecurityGroups");
    assert_eq!(
        param(&set, "EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic"),
        Some("off")
    );
    assert_eq!(
        param(&set, "SecurityGroups.member.2"),
        Some(net.backend_sg.as_str())
    );
}
