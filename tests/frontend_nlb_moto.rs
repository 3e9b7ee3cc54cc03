//! An IngressGroup's frontend NLB (`alb.ingress.kubernetes.io/enable-frontend-nlb`) against
//! moto: the ALB and the NLB in one stack, the NLB's TCP listeners forwarding to `alb` target
//! groups in which the ALB itself is registered; create, unchanged re-sync, a port-mapping
//! change, switching the NLB off, deleting the group, a registration AWS refuses until the ALB
//! listener exists, dry runs, and the requests on the wire.
//!
//! Moto keeps `alb` target groups (protocol TCP, any health check) and registers an ALB's ARN
//! in them, but checks nothing about it: it would register an ALB without a listener on the
//! port, or an ARN that names nothing. The refusal AWS gives then is played by the recording
//! proxy ([`Recorder::refuse`]) with AWS's own error.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_io::{
    AwsClients, ChangeKind, DeployOptions, DeployReport, Deployer, ErrorCategory, ResourceDiff,
    StackDiff,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use model::stack::{
    Action, AlbTarget, HealthCheckConfig, HealthCheckMatcher, ListenerSpec, LoadBalancerSpec,
    LoadBalancerType, Protocol, Ref, ResourceType, Scheme, Stack, TargetGroupIpAddressType,
    TargetGroupSpec, TargetType, resource_id,
};
use model::tags::{TAG_CLUSTER, TAG_INGRESS_RESOURCE, TAG_INGRESS_STACK};
use support::aws_recorder::Call;
use support::deploy::{
    assert_converged, deploy_after_two_interruptions, expect_calls, mutating, recorded, setup,
};
use support::inventory::{elbv2_tags, inventory};
use support::{CLUSTER, Network, deploy_config, sample_stack, tags};

const GROUP: &str = "ns/ing";
/// What AWS answers to `RegisterTargets` of an ALB without a listener on the port.
const NO_LISTENER: &str = "If the target type is ALB, the target must have at least one listener that matches the target group port or any specified port overrides";

fn nlb_name(prefix: &str) -> String {
    format!("{prefix}-lb-nlb")
}

fn nlb_tg_name(prefix: &str, nlb_port: u16) -> String {
    format!("{prefix}-nlb-{nlb_port}")
}

/// Adds the frontend NLB as the model builds it: the ALB's address type, subnets and security
/// groups, and per `(nlb_port, alb_port)` a TCP listener forwarding to an `alb` target group
/// (HTTP health check, upstream's defaults) that holds the ALB on `alb_port`.
fn add_frontend_nlb(stack: &mut Stack, prefix: &str, ports: &[(u16, u16)]) {
    let alb = stack.resources.load_balancers[resource_id::LOAD_BALANCER]
        .spec
        .clone();
    let nlb = stack
        .add_frontend_nlb(LoadBalancerSpec {
            name: nlb_name(prefix),
            load_balancer_type: LoadBalancerType::Network,
            scheme: Scheme::Internal,
            ip_address_type: alb.ip_address_type,
            subnet_mappings: alb.subnet_mappings.clone(),
            security_groups: alb.security_groups.clone(),
            customer_owned_ipv4_pool: None,
            ipam_configuration: None,
            minimum_load_balancer_capacity: None,
            enable_prefix_for_ipv6_source_nat: None,
            security_groups_inbound_rules_on_private_link: None,
            load_balancer_attributes: vec![],
            tags: tags(&[("owner", "team-a")]),
        })
        .unwrap();
    for &(nlb_port, alb_port) in ports {
        let tg = stack
            .add_target_group(
                resource_id::frontend_nlb_target_group(nlb_port),
                TargetGroupSpec {
                    name: nlb_tg_name(prefix, nlb_port),
                    target_type: TargetType::Alb,
                    port: i32::from(nlb_port),
                    protocol: Protocol::Tcp,
                    protocol_version: None,
                    ip_address_type: Some(TargetGroupIpAddressType::Ipv4),
                    health_check_config: Some(HealthCheckConfig {
                        port: Some(IntOrString::String("traffic-port".into())),
                        protocol: Some(Protocol::Http),
                        path: Some("/".into()),
                        matcher: Some(HealthCheckMatcher {
                            http_code: Some("200".into()),
                            grpc_code: None,
                        }),
                        interval_seconds: Some(15),
                        timeout_seconds: Some(5),
                        healthy_threshold_count: Some(2),
                        unhealthy_threshold_count: Some(2),
                    }),
                    target_group_attributes: vec![],
                    target_control_port: None,
                    alb_targets: vec![AlbTarget {
                        load_balancer_arn: Ref::load_balancer_arn().into(),
                        port: alb_port,
                    }],
                    tags: tags(&[("owner", "team-a")]),
                },
            )
            .unwrap();
        stack
            .add_listener_with_id(
                resource_id::frontend_nlb_listener(nlb_port),
                ListenerSpec {
                    load_balancer_arn: nlb.clone().into(),
                    port: nlb_port,
                    protocol: Protocol::Tcp,
                    default_actions: vec![Action::forward_to(tg)],
                    certificates: vec![],
                    ssl_policy: None,
                    alpn_policy: vec![],
                    mutual_authentication: None,
                    listener_attributes: vec![],
                    tags: tags(&[("owner", "team-a")]),
                },
            )
            .unwrap();
    }
}

/// The group's stack ([`sample_stack`]: a managed security group, the ALB with an HTTP
/// listener on 80, two rules, two target groups) with a frontend NLB in front of it.
fn group_with_nlb(net: &Network, prefix: &str, ports: &[(u16, u16)]) -> Stack {
    let mut stack = sample_stack(net, GROUP, prefix);
    add_frontend_nlb(&mut stack, prefix, ports);
    stack
}

/// The targets registered in a target group: `(id, port)`.
async fn targets(clients: &AwsClients, tg_arn: &str) -> BTreeSet<(String, i32)> {
    clients
        .elbv2
        .describe_target_health()
        .target_group_arn(tg_arn)
        .send()
        .await
        .unwrap()
        .target_health_descriptions()
        .iter()
        .filter_map(|d| {
            let t = d.target()?;
            Some((t.id()?.to_owned(), t.port()?))
        })
        .collect()
}

/// One value of a form-encoded query body, decoded.
fn form_value(body: &str, key: &str) -> Option<String> {
    body.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| decode(v))
    })
}

fn decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// The position of the first recorded call of `operation` whose body has `key=value`.
fn position(calls: &[Call], operation: &str, key: &str, value: &str) -> usize {
    calls
        .iter()
        .position(|c| {
            c.operation == operation && form_value(&c.body, key).as_deref() == Some(value)
        })
        .unwrap_or_else(|| panic!("no {operation} with {key}={value}"))
}

fn load_balancer_arn(inv: &support::inventory::Inventory, name: &str) -> String {
    inv.load_balancers[name][0].0.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_registers_the_alb_and_an_unchanged_resync_makes_no_call() {
    let (account, net, _) = setup().await;
    let (recorder, deployer) = recorded(&account, &net).await;
    let stack = group_with_nlb(&net, "fnc", &[(80, 80)]);

    let report = deployer.deploy(&stack).await.unwrap();
    assert_eq!(
        mutating(&report),
        expect_calls(&[
            ("AuthorizeSecurityGroupIngress", 1),
            ("CreateListener", 2),
            ("CreateLoadBalancer", 2),
            ("CreateRule", 2),
            ("CreateSecurityGroup", 1),
            ("CreateTargetGroup", 3),
            ("ModifyLoadBalancerAttributes", 1),
            ("RegisterTargets", 1),
        ]),
        "calls: {}",
        report.calls_by_operation
    );
    // A target group created by this deploy holds nothing: it is not read.
    assert_eq!(report.calls_by_operation.count("DescribeTargetHealth"), 0);

    let inv = inventory(&account.clients).await;
    let alb_arn = load_balancer_arn(&inv, "fnc-lb");
    let (nlb_arn, nlb_tags) = &inv.load_balancers[&nlb_name("fnc")][0];
    assert_eq!(report.load_balancer_arn.as_ref(), Some(&alb_arn));
    assert_eq!(report.frontend_nlb_arn.as_ref(), Some(nlb_arn));
    assert!(report.dns_name.as_ref().unwrap().contains("fnc-lb-1"));
    assert!(
        report
            .frontend_dns_name
            .as_ref()
            .unwrap()
            .contains("fnc-lb-nlb")
    );
    assert_eq!(nlb_tags[TAG_CLUSTER], CLUSTER);
    assert_eq!(nlb_tags[TAG_INGRESS_STACK], GROUP);
    assert_eq!(nlb_tags[TAG_INGRESS_RESOURCE], resource_id::FRONTEND_NLB);
    assert_eq!(nlb_tags["owner"], "team-a");
    let (tg_arn, tg_tags) = &inv.target_groups[&nlb_tg_name("fnc", 80)];
    assert_eq!(tg_tags[TAG_INGRESS_RESOURCE], "FrontendNlb-tg-TCP-80");
    assert_eq!(tg_tags[TAG_INGRESS_STACK], GROUP);
    assert_eq!(
        report.target_group_arns["FrontendNlb-tg-TCP-80"], *tg_arn,
        "the report names every target group"
    );
    // Both load balancers listen on 80; each listener carries its own resource ID.
    let nlb_listener = inv.listeners[&(nlb_name("fnc"), 80)].clone();
    let alb_listener = inv.listeners[&("fnc-lb".to_owned(), 80)].clone();
    let listener_tags = elbv2_tags(
        &account.clients,
        &[nlb_listener.clone(), alb_listener.clone()],
    )
    .await;
    assert_eq!(
        listener_tags[&nlb_listener][TAG_INGRESS_RESOURCE],
        "FrontendNlb-ls-TCP-80"
    );
    assert_eq!(listener_tags[&alb_listener][TAG_INGRESS_RESOURCE], "80");
    // The ALB is the target group's one target, on its listener port.
    assert_eq!(
        targets(&account.clients, tg_arn).await,
        BTreeSet::from([(alb_arn.clone(), 80)])
    );
    let described = account
        .clients
        .elbv2
        .describe_target_groups()
        .target_group_arns(tg_arn)
        .send()
        .await
        .unwrap();
    let tg = &described.target_groups()[0];
    assert_eq!(tg.target_type().map(|t| t.as_str()), Some("alb"));
    assert_eq!(tg.protocol().map(|p| p.as_str()), Some("TCP"));
    assert_eq!(tg.load_balancer_arns(), std::slice::from_ref(nlb_arn));

    // On the wire: the target group as AWS takes it, and the registration after both
    // listeners (AWS refuses an ALB without a listener on the port).
    let calls = recorder.calls();
    let create_tg = &calls[position(&calls, "CreateTargetGroup", "Name", &nlb_tg_name("fnc", 80))];
    for (key, value) in [
        ("TargetType", "alb"),
        ("Protocol", "TCP"),
        ("Port", "80"),
        ("VpcId", net.vpc_id.as_str()),
        ("IpAddressType", "ipv4"),
        ("HealthCheckEnabled", "true"),
        ("HealthCheckProtocol", "HTTP"),
        ("HealthCheckPort", "traffic-port"),
        ("HealthCheckPath", "/"),
        ("Matcher.HttpCode", "200"),
        ("HealthCheckIntervalSeconds", "15"),
        ("HealthCheckTimeoutSeconds", "5"),
        ("HealthyThresholdCount", "2"),
        ("UnhealthyThresholdCount", "2"),
    ] {
        assert_eq!(
            form_value(&create_tg.body, key).as_deref(),
            Some(value),
            "{key} in {}",
            create_tg.body
        );
    }
    assert_eq!(form_value(&create_tg.body, "ProtocolVersion"), None);
    let register = position(&calls, "RegisterTargets", "TargetGroupArn", tg_arn);
    let body = &calls[register].body;
    assert_eq!(
        form_value(body, "Targets.member.1.Id").as_deref(),
        Some(alb_arn.as_str())
    );
    assert_eq!(
        form_value(body, "Targets.member.1.Port").as_deref(),
        Some("80")
    );
    assert_eq!(form_value(body, "Targets.member.2.Id"), None);
    assert!(position(&calls, "CreateListener", "LoadBalancerArn", &alb_arn) < register);
    assert!(position(&calls, "CreateListener", "LoadBalancerArn", nlb_arn) < register);

    // Unchanged: no mutating call; the registration the deployer confirmed is not read again,
    // and the NLB's listener has no rules to read.
    let before = recorder.calls().len();
    let resync = assert_converged(&deployer, &stack).await;
    eprintln!("unchanged re-sync: {}", resync.calls_by_operation);
    assert_eq!(resync.calls_by_operation.count("DescribeTargetHealth"), 0);
    assert_eq!(resync.calls_by_operation.count("DescribeListeners"), 2);
    assert_eq!(resync.calls_by_operation.count("DescribeRules"), 1);
    assert!(
        resync.calls_by_operation.read_total() <= 9,
        "an unchanged re-sync should read little: {}",
        resync.calls_by_operation
    );
    assert!(
        !recorder.calls()[before..]
            .iter()
            .any(|c| c.operation == "DescribeRules"
                && form_value(&c.body, "ListenerArn").as_deref() == Some(nlb_listener.as_str())),
        "the NLB listener's rules are never read"
    );
    assert_eq!(resync.dns_name, report.dns_name);
    assert_eq!(resync.frontend_dns_name, report.frontend_dns_name);

    // A deployer that remembers nothing (a restarted controller) reads the targets once.
    let fresh = Deployer::new(account.clients.clone(), deploy_config(CLUSTER, &net));
    let resync = assert_converged(&fresh, &stack).await;
    assert_eq!(resync.calls_by_operation.count("DescribeTargetHealth"), 1);
    assert_eq!(resync.frontend_dns_name, report.frontend_dns_name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_mapping_change_moves_the_listener_and_target_group() {
    let (account, net, _) = setup().await;
    let (recorder, deployer) = recorded(&account, &net).await;
    let first = deployer
        .deploy(&group_with_nlb(&net, "fnm", &[(80, 80)]))
        .await
        .unwrap();
    let old_tg = first.target_group_arns["FrontendNlb-tg-TCP-80"].clone();
    let alb_arn = first.load_balancer_arn.clone().unwrap();
    let inv = inventory(&account.clients).await;
    let old_listener = inv.listeners[&(nlb_name("fnm"), 80)].clone();
    let alb_listener = inv.listeners[&("fnm-lb".to_owned(), 80)].clone();

    // frontend-nlb-listener-port-mapping: 8080=80.
    let stack = group_with_nlb(&net, "fnm", &[(8080, 80)]);
    let before = recorder.calls().len();
    let report = deployer.deploy(&stack).await.unwrap();
    assert_eq!(
        mutating(&report),
        expect_calls(&[
            ("CreateListener", 1),
            ("CreateTargetGroup", 1),
            ("DeleteListener", 1),
            ("DeleteTargetGroup", 1),
            ("DeregisterTargets", 1),
            ("RegisterTargets", 1),
        ]),
        "calls: {}",
        report.calls_by_operation
    );
    let new_tg = report.target_group_arns["FrontendNlb-tg-TCP-8080"].clone();
    assert!(
        !report
            .target_group_arns
            .contains_key("FrontendNlb-tg-TCP-80")
    );
    let inv = inventory(&account.clients).await;
    assert!(inv.listeners.contains_key(&(nlb_name("fnm"), 8080)));
    assert!(!inv.listeners.contains_key(&(nlb_name("fnm"), 80)));
    assert_eq!(
        inv.listeners[&("fnm-lb".to_owned(), 80)],
        alb_listener,
        "the ALB's listener is untouched"
    );
    assert!(!inv.target_groups.contains_key(&nlb_tg_name("fnm", 80)));
    assert_eq!(
        targets(&account.clients, &new_tg).await,
        BTreeSet::from([(alb_arn.clone(), 80)])
    );
    // The old target group is emptied before its listener goes and before the ALB is
    // registered in the new one (upstream's order), and deleted last.
    let calls = &recorder.calls()[before..];
    let deregister = position(calls, "DeregisterTargets", "TargetGroupArn", &old_tg);
    assert_eq!(
        form_value(&calls[deregister].body, "Targets.member.1.Id").as_deref(),
        Some(alb_arn.as_str())
    );
    assert!(deregister < position(calls, "RegisterTargets", "TargetGroupArn", &new_tg));
    assert!(deregister < position(calls, "DeleteListener", "ListenerArn", &old_listener));
    assert!(
        position(calls, "DeleteListener", "ListenerArn", &old_listener)
            < position(calls, "DeleteTargetGroup", "TargetGroupArn", &old_tg)
    );
    assert_converged(&deployer, &stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_the_nlb_off_deletes_it_and_leaves_the_alb_alone() {
    let (account, net, deployer) = setup().await;
    let with = group_with_nlb(&net, "fno", &[(80, 80), (443, 80)]);
    let first = deployer.deploy(&with).await.unwrap();
    let before = inventory(&account.clients).await;
    let alb_arn = load_balancer_arn(&before, "fno-lb");
    assert_eq!(before.load_balancers[&nlb_name("fno")].len(), 1);

    // The annotation removed: the stack has no FrontendNlb any more.
    let without = sample_stack(&net, GROUP, "fno");
    let report = deployer.deploy(&without).await.unwrap();
    assert_eq!(
        mutating(&report),
        expect_calls(&[
            ("DeleteLoadBalancer", 1),
            ("DeleteTargetGroup", 2),
            ("DeregisterTargets", 2),
        ]),
        "calls: {}",
        report.calls_by_operation
    );
    let deleted: BTreeSet<String> = report
        .deleted
        .iter()
        .map(|c| c.resource.id.clone())
        .collect();
    assert_eq!(
        deleted,
        BTreeSet::from([
            "FrontendNlb".to_owned(),
            "FrontendNlb-tg-TCP-443".to_owned(),
            "FrontendNlb-tg-TCP-80".to_owned(),
        ])
    );
    assert_eq!(report.frontend_dns_name, None);
    assert_eq!(report.frontend_nlb_arn, None);
    assert_eq!(report.dns_name, first.dns_name);
    let after = inventory(&account.clients).await;
    assert!(!after.load_balancers.contains_key(&nlb_name("fno")));
    assert!(!after.target_groups.contains_key(&nlb_tg_name("fno", 80)));
    assert!(!after.target_groups.contains_key(&nlb_tg_name("fno", 443)));
    assert!(!after.listeners.keys().any(|(lb, _)| *lb == nlb_name("fno")));
    // The ALB, its listener, rules and target groups are as they were.
    assert_eq!(load_balancer_arn(&after, "fno-lb"), alb_arn);
    assert_eq!(
        after.listeners[&("fno-lb".to_owned(), 80)],
        before.listeners[&("fno-lb".to_owned(), 80)]
    );
    assert_eq!(after.rules, before.rules);
    assert_eq!(after.target_groups["fno-a"], before.target_groups["fno-a"]);
    assert_converged(&deployer, &without).await;

    // Switched on again: a new NLB, registered anew.
    let again = deployer.deploy(&with).await.unwrap();
    assert_eq!(again.calls_by_operation.count("CreateLoadBalancer"), 1);
    assert_eq!(again.calls_by_operation.count("RegisterTargets"), 2);
    assert_converged(&deployer, &with).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_group_deletes_both_load_balancers_and_all_target_groups() {
    let (account, net, _) = setup().await;
    let (recorder, deployer) = recorded(&account, &net).await;
    let stack = group_with_nlb(&net, "fnd", &[(80, 80)]);
    let created = deployer.deploy(&stack).await.unwrap();
    let alb_arn = created.load_balancer_arn.clone().unwrap();
    let nlb_arn = created.frontend_nlb_arn.clone().unwrap();
    let tg_arn = created.target_group_arns["FrontendNlb-tg-TCP-80"].clone();

    let before = recorder.calls().len();
    let report = deployer.delete(GROUP).await.unwrap();
    assert_eq!(report.calls_by_operation.count("DeleteLoadBalancer"), 2);
    assert_eq!(report.calls_by_operation.count("DeleteTargetGroup"), 3);
    assert_eq!(report.calls_by_operation.count("DeleteSecurityGroup"), 1);
    assert_eq!(report.calls_by_operation.count("DeregisterTargets"), 1);
    let inv = inventory(&account.clients).await;
    assert!(inv.load_balancers.is_empty(), "{inv:?}");
    assert!(inv.target_groups.is_empty(), "{inv:?}");
    assert!(inv.listeners.is_empty(), "{inv:?}");
    assert!(!inv.security_groups.contains_key("fnd-sg"));
    // The ALB leaves its target group before either load balancer goes.
    let calls = &recorder.calls()[before..];
    let deregister = position(calls, "DeregisterTargets", "TargetGroupArn", &tg_arn);
    assert!(deregister < position(calls, "DeleteLoadBalancer", "LoadBalancerArn", &alb_arn));
    assert!(deregister < position(calls, "DeleteLoadBalancer", "LoadBalancerArn", &nlb_arn));

    // Nothing is left to delete.
    let again = deployer.delete(GROUP).await.unwrap();
    assert_eq!(mutating(&again), BTreeMap::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_registration_finishes_the_deploy_and_fails_for_a_retry() {
    let (account, net, _) = setup().await;
    let (recorder, deployer) = recorded(&account, &net).await;
    let stack = group_with_nlb(&net, "fnr", &[(80, 80)]);

    // AWS does not take the ALB yet (its listener is not there for AWS).
    recorder.refuse("RegisterTargets", "ValidationError", NO_LISTENER);
    let err = deployer.deploy(&stack).await.unwrap_err();
    assert_eq!(err.category(), ErrorCategory::NotReady, "{err}");
    assert_eq!(err.category().as_str(), "not_ready");
    assert_eq!(err.code(), Some("ValidationError"));
    let text = err.to_string();
    let inv = inventory(&account.clients).await;
    let (tg_arn, _) = &inv.target_groups[&nlb_tg_name("fnr", 80)];
    assert!(
        text.contains(&format!(
            "Failed to register target, retrying after deplay for target group: {tg_arn}"
        )),
        "{text}"
    );
    assert!(text.contains(NO_LISTENER), "{text}");
    // Everything else is in place; the target group is empty.
    assert_eq!(inv.load_balancers.len(), 2);
    assert!(inv.listeners.contains_key(&(nlb_name("fnr"), 80)));
    assert!(inv.listeners.contains_key(&("fnr-lb".to_owned(), 80)));
    assert!(targets(&account.clients, tg_arn).await.is_empty());

    // Still refused: the next try reads the targets and tries the registration alone.
    let err = deployer.deploy(&stack).await.unwrap_err();
    assert_eq!(err.category(), ErrorCategory::NotReady, "{err}");

    // Once AWS takes it, the next deploy registers the ALB and nothing else.
    recorder.stop_refusing();
    let report = deployer.deploy(&stack).await.unwrap();
    assert_eq!(
        mutating(&report),
        expect_calls(&[("RegisterTargets", 1)]),
        "calls: {}",
        report.calls_by_operation
    );
    assert_eq!(
        report
            .modified
            .iter()
            .map(|c| c.resource.id.as_str())
            .collect::<Vec<_>>(),
        ["FrontendNlb-tg-TCP-80"]
    );
    assert_eq!(
        targets(&account.clients, tg_arn).await,
        BTreeSet::from([(report.load_balancer_arn.clone().unwrap(), 80)])
    );
    assert!(report.frontend_dns_name.is_some());
    assert_converged(&deployer, &stack).await;
}

fn find<'d>(diff: &'d StackDiff, resource_type: ResourceType, id: &str) -> &'d ResourceDiff {
    diff.resources
        .iter()
        .find(|d| d.resource.resource_type == resource_type && d.resource.id == id)
        .unwrap_or_else(|| panic!("no {resource_type} {id} in {diff:#?}"))
}

async fn dry_run(clients: &AwsClients, deployer: &Deployer, stack: &Stack) -> StackDiff {
    let before = clients.calls().snapshot();
    let diff = deployer.diff(stack).await.unwrap();
    assert_eq!(
        clients.calls().snapshot().since(&before).mutating_total(),
        0,
        "a dry run only reads"
    );
    diff
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_runs_show_the_nlb_its_listeners_target_groups_and_targets() {
    let (account, net, deployer) = setup().await;
    let clients = &account.clients;
    let stack = group_with_nlb(&net, "fnp", &[(80, 80)]);

    // Nothing yet: the NLB, its listener and target group are creates, the target a new ALB.
    let fresh = dry_run(clients, &deployer, &stack).await;
    assert_eq!(fresh.summary().create, 10, "{fresh:#?}");
    assert_eq!(
        find(&fresh, ResourceType::LoadBalancer, "FrontendNlb").change,
        ChangeKind::Create
    );
    assert_eq!(
        find(&fresh, ResourceType::Listener, "FrontendNlb-ls-TCP-80").change,
        ChangeKind::Create
    );
    let tg = find(&fresh, ResourceType::TargetGroup, "FrontendNlb-tg-TCP-80");
    assert_eq!(tg.change, ChangeKind::Create);
    assert_eq!(tg.fields.len(), 1, "{tg:#?}");
    assert_eq!(tg.fields[0].field, "targets");
    assert_eq!(tg.fields[0].from, None);
    assert_eq!(
        tg.fields[0].to.as_deref(),
        Some("<new LoadBalancer LoadBalancer>:80")
    );
    let table = aws_io::diff::table(std::slice::from_ref(&fresh));
    assert!(table.contains("FrontendNlb-ls-TCP-80"), "{table}");
    assert!(
        table.contains("targets: (none) -> \"<new LoadBalancer LoadBalancer>:80\""),
        "{table}"
    );

    let created = deployer.deploy(&stack).await.unwrap();
    let alb_arn = created.load_balancer_arn.clone().unwrap();
    let tg_arn = created.target_group_arns["FrontendNlb-tg-TCP-80"].clone();
    let same = dry_run(clients, &deployer, &stack).await;
    assert!(!same.has_changes(), "{same:#?}");
    assert_eq!(same.summary().unchanged, 10);
    // A dry run reads the targets, whatever the deployer remembers.
    assert_eq!(same.calls_by_operation.count("DescribeTargetHealth"), 1);

    // The ALB taken out of the target group outside the controller.
    clients
        .elbv2
        .deregister_targets()
        .target_group_arn(&tg_arn)
        .targets(
            aws_sdk_elasticloadbalancingv2::types::TargetDescription::builder()
                .id(&alb_arn)
                .port(80)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let drifted = dry_run(clients, &deployer, &stack).await;
    let tg = find(&drifted, ResourceType::TargetGroup, "FrontendNlb-tg-TCP-80");
    assert_eq!(tg.change, ChangeKind::Modify, "{drifted:#?}");
    assert_eq!(tg.aws_id.as_deref(), Some(tg_arn.as_str()));
    assert_eq!(tg.fields[0].field, "targets");
    assert_eq!(tg.fields[0].from, None);
    assert_eq!(tg.fields[0].to, Some(format!("{alb_arn}:80")));
    assert_eq!(drifted.summary().modify, 1);
    // Within its recheck interval the deployer trusts what it registered; one that rechecks
    // every time repairs the drift.
    assert_converged(&deployer, &stack).await;
    let mut config = deploy_config(CLUSTER, &net);
    config.alb_target_recheck_interval = Duration::ZERO;
    let rechecking = Deployer::new(clients.clone(), config);
    let repaired = rechecking.deploy(&stack).await.unwrap();
    assert_eq!(mutating(&repaired), expect_calls(&[("RegisterTargets", 1)]));
    assert_eq!(
        targets(clients, &tg_arn).await,
        BTreeSet::from([(alb_arn.clone(), 80)])
    );

    // A mapping change: the new listener and target group, the old ones deleted.
    let moved = group_with_nlb(&net, "fnp", &[(8080, 80)]);
    let diff = dry_run(clients, &deployer, &moved).await;
    assert_eq!(
        find(&diff, ResourceType::Listener, "FrontendNlb-ls-TCP-8080").change,
        ChangeKind::Create
    );
    assert_eq!(
        find(&diff, ResourceType::TargetGroup, "FrontendNlb-tg-TCP-8080").change,
        ChangeKind::Create
    );
    assert_eq!(
        find(&diff, ResourceType::Listener, "FrontendNlb-ls-TCP-80").change,
        ChangeKind::Delete
    );
    assert_eq!(
        find(&diff, ResourceType::TargetGroup, "FrontendNlb-tg-TCP-80").change,
        ChangeKind::Delete
    );
    let new_tg = find(&diff, ResourceType::TargetGroup, "FrontendNlb-tg-TCP-8080");
    assert_eq!(new_tg.fields[0].to, Some(format!("{alb_arn}:80")));

    // Switched off: the NLB and its target group go (its listener with it), the ALB stays.
    let off = dry_run(clients, &deployer, &sample_stack(&net, GROUP, "fnp")).await;
    let deletes: BTreeSet<(ResourceType, String)> = off
        .of_kind(ChangeKind::Delete)
        .map(|d| (d.resource.resource_type, d.resource.id.clone()))
        .collect();
    assert_eq!(
        deletes,
        BTreeSet::from([
            (ResourceType::LoadBalancer, "FrontendNlb".to_owned()),
            (
                ResourceType::TargetGroup,
                "FrontendNlb-tg-TCP-80".to_owned()
            ),
        ])
    );
    assert_eq!(
        find(&off, ResourceType::LoadBalancer, "LoadBalancer").change,
        ChangeKind::Unchanged
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_with_a_frontend_nlb_is_checked_before_any_call() {
    let (account, net, deployer) = setup().await;
    let before = account.clients.calls().snapshot();

    // A frontend NLB without the ALB it stands in front of.
    let mut lonely = group_with_nlb(&net, "fnv", &[(80, 80)]);
    lonely
        .resources
        .load_balancers
        .remove(resource_id::LOAD_BALANCER);
    lonely.resources.listeners.remove("80");
    lonely.resources.listener_rules.clear();
    for tg in lonely.resources.target_groups.values_mut() {
        tg.spec.alb_targets.clear();
    }
    let err = deployer.deploy(&lonely).await.unwrap_err();
    assert_eq!(err.category(), ErrorCategory::InvalidStack, "{err}");

    // An ALB as the target of an ip target group.
    let mut wrong = group_with_nlb(&net, "fnv", &[(80, 80)]);
    let tg = &mut wrong
        .resources
        .target_groups
        .get_mut("FrontendNlb-tg-TCP-80")
        .unwrap()
        .spec;
    tg.target_type = TargetType::Ip;
    let err = deployer.deploy(&wrong).await.unwrap_err();
    assert_eq!(err.category(), ErrorCategory::InvalidStack, "{err}");
    assert!(err.to_string().contains("albTargets"), "{err}");

    assert_eq!(account.clients.calls().snapshot().since(&before).total(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheme_change_replaces_the_nlb_first_and_keeps_its_target_groups() {
    let (account, net, deployer) = setup().await;
    let stack = group_with_nlb(&net, "fns", &[(80, 80)]);
    let first = deployer.deploy(&stack).await.unwrap();
    let old_nlb = first.frontend_nlb_arn.clone().unwrap();
    let tg_arn = first.target_group_arns["FrontendNlb-tg-TCP-80"].clone();

    let mut public = stack.clone();
    public
        .resources
        .load_balancers
        .get_mut(resource_id::FRONTEND_NLB)
        .unwrap()
        .spec
        .scheme = Scheme::InternetFacing;
    let report = deployer.deploy(&public).await.unwrap();
    // An NLB goes before its successor (it holds addresses the new one wants); the target
    // group and the ALB in it stay as they are.
    assert_eq!(
        mutating(&report),
        expect_calls(&[
            ("CreateListener", 1),
            ("CreateLoadBalancer", 1),
            ("DeleteLoadBalancer", 1),
        ]),
        "calls: {}",
        report.calls_by_operation
    );
    let new_nlb = report.frontend_nlb_arn.clone().unwrap();
    assert_ne!(new_nlb, old_nlb);
    assert_eq!(report.target_group_arns["FrontendNlb-tg-TCP-80"], tg_arn);
    assert_eq!(report.load_balancer_arn, first.load_balancer_arn);
    let inv = inventory(&account.clients).await;
    assert_eq!(inv.load_balancers[&nlb_name("fns")].len(), 1);
    assert_eq!(load_balancer_arn(&inv, &nlb_name("fns")), new_nlb);
    assert_eq!(
        targets(&account.clients, &tg_arn).await,
        BTreeSet::from([(first.load_balancer_arn.clone().unwrap(), 80)])
    );
    assert_converged(&deployer, &public).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_alb_takes_its_predecessors_place_in_the_target_group() {
    let (account, net, _) = setup().await;
    let (recorder, deployer) = recorded(&account, &net).await;
    let stack = group_with_nlb(&net, "fna", &[(80, 80)]);
    let first = deployer.deploy(&stack).await.unwrap();
    let old_alb = first.load_balancer_arn.clone().unwrap();
    let tg_arn = first.target_group_arns["FrontendNlb-tg-TCP-80"].clone();

    // A scheme change gives the ALB a new name (upstream's name hash covers the scheme).
    let mut internal = stack.clone();
    let alb = &mut internal
        .resources
        .load_balancers
        .get_mut(resource_id::LOAD_BALANCER)
        .unwrap()
        .spec;
    alb.scheme = Scheme::Internal;
    alb.name = "fna-lb2".into();
    let before = recorder.calls().len();
    let report = deployer.deploy(&internal).await.unwrap();
    assert_eq!(
        mutating(&report),
        expect_calls(&[
            ("CreateListener", 1),
            ("CreateLoadBalancer", 1),
            ("CreateRule", 2),
            ("DeleteLoadBalancer", 1),
            ("DeregisterTargets", 1),
            ("ModifyLoadBalancerAttributes", 1),
            ("RegisterTargets", 1),
        ]),
        "calls: {}",
        report.calls_by_operation
    );
    let new_alb = report.load_balancer_arn.clone().unwrap();
    assert_ne!(new_alb, old_alb);
    assert_eq!(report.frontend_nlb_arn, first.frontend_nlb_arn);
    assert_eq!(
        targets(&account.clients, &tg_arn).await,
        BTreeSet::from([(new_alb.clone(), 80)])
    );
    // The successor is registered once its listener exists; the predecessor leaves the target
    // group before it is deleted.
    let calls = &recorder.calls()[before..];
    let register = position(calls, "RegisterTargets", "TargetGroupArn", &tg_arn);
    assert!(position(calls, "CreateListener", "LoadBalancerArn", &new_alb) < register);
    let deregister = position(calls, "DeregisterTargets", "TargetGroupArn", &tg_arn);
    assert_eq!(
        form_value(&calls[deregister].body, "Targets.member.1.Id").as_deref(),
        Some(old_alb.as_str())
    );
    assert!(deregister < position(calls, "DeleteLoadBalancer", "LoadBalancerArn", &old_alb));
    assert_converged(&deployer, &internal).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_acl_is_associated_with_the_alb_only() {
    use aws_sdk_wafv2::types::{DefaultAction, Scope, VisibilityConfig};
    let (account, net, _) = setup().await;
    let (recorder, deployer) = recorded(&account, &net).await;
    let acl = account
        .clients
        .wafv2
        .create_web_acl()
        .name("fnw")
        .scope(Scope::Regional)
        .default_action(DefaultAction::builder().build())
        .visibility_config(
            VisibilityConfig::builder()
                .sampled_requests_enabled(false)
                .cloud_watch_metrics_enabled(false)
                .metric_name("fnw")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .summary()
        .and_then(|s| s.arn())
        .unwrap()
        .to_owned();
    let mut stack = group_with_nlb(&net, "fnw", &[(80, 80)]);
    stack
        .add_wafv2_web_acl_association(model::stack::WafV2WebAclAssociationSpec {
            web_acl_arn: acl.clone(),
            web_acl_name: None,
            resource_arn: Ref::load_balancer_arn().into(),
        })
        .unwrap();
    let report = deployer.deploy(&stack).await.unwrap();
    assert_eq!(report.calls_by_operation.count("AssociateWebACL"), 1);
    let alb = report.load_balancer_arn.clone().unwrap();
    let nlb = report.frontend_nlb_arn.clone().unwrap();
    let acl_of = |arn: String| {
        let wafv2 = account.clients.wafv2.clone();
        async move {
            wafv2
                .get_web_acl_for_resource()
                .resource_arn(arn)
                .send()
                .await
                .unwrap()
                .web_acl()
                .map(|a| a.arn().to_owned())
        }
    };
    assert_eq!(acl_of(alb.clone()).await, Some(acl));
    assert_eq!(acl_of(nlb.clone()).await, None);
    assert!(
        !recorder
            .calls()
            .iter()
            .any(|c| c.operation.contains("WebACL") && c.body.contains(&nlb)),
        "no WAF call names the NLB"
    );
    assert_converged(&deployer, &stack).await;
}

/// Exactly one of each of the group's resources, and the ALB registered once.
async fn assert_exactly_once(clients: &AwsClients, prefix: &str, report: &DeployReport) {
    let inv = inventory(clients).await;
    assert_eq!(inv.load_balancers.len(), 2, "{inv:?}");
    assert!(
        inv.load_balancers.values().all(|lbs| lbs.len() == 1),
        "{inv:?}"
    );
    assert_eq!(inv.target_groups.len(), 3, "{inv:?}");
    assert_eq!(inv.listeners.len(), 2, "{inv:?}");
    assert_eq!(inv.rules.len(), 2, "{inv:?}");
    let (tg_arn, _) = &inv.target_groups[&nlb_tg_name(prefix, 80)];
    assert_eq!(
        targets(clients, tg_arn).await,
        BTreeSet::from([(report.load_balancer_arn.clone().unwrap(), 80)])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_create_converges_without_duplicates() {
    let (_, net, deployer) = setup().await;
    let total = deployer
        .deploy(&group_with_nlb(&net, "fni", &[(80, 80)]))
        .await
        .unwrap()
        .calls_by_operation
        .mutating_total();
    assert_eq!(total, 13);

    for limit in 0..total {
        let (account, net, deployer) = setup().await;
        let stack = group_with_nlb(&net, "fni", &[(80, 80)]);
        let report = deploy_after_two_interruptions(&deployer, &stack, limit as usize).await;
        assert!(report.frontend_dns_name.is_some());
        assert_exactly_once(&account.clients, "fni", &report).await;
        assert_converged(&deployer, &stack).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_switch_off_converges() {
    let (account, net, deployer) = setup().await;
    deployer
        .deploy(&group_with_nlb(&net, "fnx", &[(80, 80), (443, 80)]))
        .await
        .unwrap();
    let without = sample_stack(&net, GROUP, "fnx");
    // Crash after every single mutating call until a run completes.
    let mut aborted = 0;
    loop {
        assert!(aborted <= 10, "switching off does not converge");
        match deployer
            .deploy_with(
                &without,
                &DeployOptions {
                    mutation_limit: Some(1),
                },
            )
            .await
        {
            Ok(_) => break,
            Err(err) => assert_eq!(err.category(), ErrorCategory::Aborted, "{err}"),
        }
        aborted += 1;
    }
    assert_converged(&deployer, &without).await;
    let inv = inventory(&account.clients).await;
    assert_eq!(
        inv.load_balancers.keys().collect::<Vec<_>>(),
        ["fnx-lb"],
        "{inv:?}"
    );
    assert_eq!(
        inv.target_groups.keys().collect::<Vec<_>>(),
        ["fnx-a", "fnx-b"]
    );
}
