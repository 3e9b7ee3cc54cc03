//! The deployer against moto: create, unchanged re-sync, each kind of change, deletion next to
//! foreign resources, and recovery from interrupted deploys.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;

use aws_io::{AwsClients, DeployError, DeployOptions, Deployer, ErrorCategory};
use model::stack::{
    Action, Attribute, ListenerRuleSpec, LoadBalancerSpec, Ref, Scheme, SecurityGroupSpec, Stack,
    SubnetMapping, TargetGroupSpec,
};
use model::tags::{TAG_CLUSTER, TAG_INGRESS_RESOURCE, TAG_INGRESS_STACK};
use support::deploy::{
    assert_converged, deploy_after_two_interruptions, expect_calls, mutating, setup,
};
use support::inventory::{
    Inventory, foreign_lb, foreign_sg, foreign_tg, inventory, lookalike_tags, others,
};
use support::{
    CLUSTER, Network, TG_A, TG_B, deploy_config, fixed_response, path_rule, sample_stack,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_stack_create_then_unchanged_resync() {
    let (account, net, deployer) = setup().await;
    let stack = sample_stack(&net, "ns/ing", "full");

    let before = account.clients.calls().snapshot();
    let report = deployer.deploy(&stack).await.unwrap();
    assert_eq!(
        mutating(&report),
        expect_calls(&[
            ("AuthorizeSecurityGroupIngress", 1),
            ("CreateListener", 1),
            ("CreateLoadBalancer", 1),
            ("CreateRule", 2),
            ("CreateSecurityGroup", 1),
            ("CreateTargetGroup", 2),
            ("ModifyLoadBalancerAttributes", 1),
        ]),
        "calls: {}",
        report.calls_by_operation
    );
    // The new target groups are confirmed ours by one DescribeTags for the stack, not looked up
    // by name one by one before they are created.
    assert_eq!(
        report.calls_by_operation.count("DescribeTargetGroups"),
        0,
        "calls: {}",
        report.calls_by_operation
    );
    assert_eq!(
        report.calls_by_operation.count("DescribeTags"),
        1,
        "calls: {}",
        report.calls_by_operation
    );
    // The per-deploy tally and the clients' counter saw the same calls.
    assert_eq!(
        account.clients.calls().snapshot().since(&before),
        report.calls_by_operation
    );
    assert_eq!(report.created.len(), 7, "{:?}", report.created);
    let dns = report.dns_name.clone().unwrap();
    assert!(dns.contains("full-lb"), "{dns}");
    assert_eq!(
        report.target_group_arns.keys().collect::<Vec<_>>(),
        [TG_A, TG_B]
    );

    let inv = inventory(&account.clients).await;
    let (lb_arn, lb_tags) = &inv.load_balancers["full-lb"][0];
    assert_eq!(Some(lb_arn), report.load_balancer_arn.as_ref());
    assert_eq!(lb_tags[TAG_CLUSTER], CLUSTER);
    assert_eq!(lb_tags[TAG_INGRESS_STACK], "ns/ing");
    assert_eq!(lb_tags[TAG_INGRESS_RESOURCE], "LoadBalancer");
    assert_eq!(lb_tags["owner"], "team-a");
    assert_eq!(inv.target_groups["full-a"].1[TAG_INGRESS_RESOURCE], TG_A);
    assert_eq!(
        inv.target_groups["full-b"].0,
        report.target_group_arns[TG_B]
    );
    assert_eq!(
        inv.security_groups["full-sg"].1[TAG_INGRESS_RESOURCE],
        "ManagedLBSecurityGroup"
    );
    assert_eq!(inv.listeners.len(), 1);
    let rule_ids: Vec<&str> = inv
        .rules
        .values()
        .map(|(_, t)| t[TAG_INGRESS_RESOURCE].as_str())
        .collect();
    assert_eq!(rule_ids, ["80:1", "80:2"]);

    let resync = assert_converged(&deployer, &stack).await;
    eprintln!("unchanged re-sync: {}", resync.calls_by_operation);
    assert!(
        resync.calls_by_operation.read_total() <= 8,
        "an unchanged re-sync should read little: {}",
        resync.calls_by_operation
    );
    assert_eq!(resync.dns_name.as_deref(), Some(dns.as_str()));
    assert_eq!(resync.target_group_arns, report.target_group_arns);
    // An unchanged security group is still reported (bindings' networking rules need its ID).
    assert_eq!(
        resync
            .security_group_ids
            .get(model::stack::resource_id::MANAGED_SECURITY_GROUP),
        Some(&inv.security_groups["full-sg"].0)
    );
    assert_eq!(resync.security_group_ids, report.security_group_ids);

    let mut registry = prometheus_client::registry::Registry::default();
    account.clients.calls().register(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(
        text.contains(r#"aws_api_calls_total{service="elbv2",operation="CreateLoadBalancer"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"aws_api_calls_total{service="tagging",operation="GetResources"} 2"#));
}

/// One change to the stack and the mutating calls it must take, no more.
struct Change {
    name: &'static str,
    apply: fn(&mut Stack, &Network),
    calls: &'static [(&'static str, u64)],
}

fn tg_mut<'a>(stack: &'a mut Stack, id: &str) -> &'a mut TargetGroupSpec {
    &mut stack.resources.target_groups.get_mut(id).unwrap().spec
}

fn lb_mut(stack: &mut Stack) -> &mut LoadBalancerSpec {
    &mut stack
        .resources
        .load_balancers
        .get_mut("LoadBalancer")
        .unwrap()
        .spec
}

fn sg_mut(stack: &mut Stack) -> &mut SecurityGroupSpec {
    &mut stack
        .resources
        .security_groups
        .get_mut("ManagedLBSecurityGroup")
        .unwrap()
        .spec
}

const CHANGES: &[Change] = &[
    Change {
        name: "health-check path",
        apply: |s, _| {
            let hc = tg_mut(s, TG_A).health_check_config.as_mut().unwrap();
            hc.path = Some("/ready".into());
        },
        calls: &[("ModifyTargetGroup", 1)],
    },
    Change {
        name: "new rule",
        apply: |s, _| {
            s.add_listener_rule(80, path_rule(80, 3, "/c", TG_A))
                .unwrap()
        },
        calls: &[("CreateRule", 1)],
    },
    Change {
        name: "removed path",
        apply: |s, _| {
            s.resources.listener_rules.remove("80:3");
        },
        calls: &[("DeleteRule", 1)],
    },
    Change {
        name: "load balancer attribute",
        apply: |s, _| lb_mut(s).load_balancer_attributes[0].value = "120".into(),
        calls: &[("ModifyLoadBalancerAttributes", 1)],
    },
    Change {
        name: "security group CIDR",
        apply: |s, _| sg_mut(s).ingress[0].ip_ranges[0].cidr_ip = "10.0.0.0/8".into(),
        calls: &[
            ("AuthorizeSecurityGroupIngress", 1),
            ("RevokeSecurityGroupIngress", 1),
        ],
    },
    Change {
        name: "rule action",
        apply: |s, _| {
            let rule = &mut s.resources.listener_rules.get_mut("80:2").unwrap().spec;
            rule.actions = vec![Action::forward_to(Ref::target_group_arn(TG_A))];
        },
        calls: &[("ModifyRule", 1)],
    },
    Change {
        name: "listener default action",
        apply: |s, _| {
            let listener = &mut s.resources.listeners.get_mut("80").unwrap().spec;
            listener.default_actions = vec![fixed_response("503")];
        },
        calls: &[("ModifyListener", 1)],
    },
    Change {
        name: "target group tag added",
        apply: |s, _| {
            tg_mut(s, TG_B).tags.insert("env".into(), "prod".into());
        },
        calls: &[("AddTags", 1)],
    },
    Change {
        name: "target group tag removed",
        apply: |s, _| tg_mut(s, TG_B).tags.clear(),
        calls: &[("RemoveTags", 1)],
    },
    Change {
        name: "target group attribute",
        apply: |s, _| {
            tg_mut(s, TG_A).target_group_attributes = vec![Attribute {
                key: "deregistration_delay.timeout_seconds".into(),
                value: "30".into(),
            }];
        },
        calls: &[("ModifyTargetGroupAttributes", 1)],
    },
    Change {
        name: "security group tag",
        apply: |s, _| {
            sg_mut(s).tags.insert("owner".into(), "team-b".into());
        },
        calls: &[("CreateTags", 1)],
    },
    Change {
        name: "load balancer subnets",
        apply: |s, net| {
            lb_mut(s).subnet_mappings.push(SubnetMapping {
                subnet_id: net.subnets[2].clone(),
                allocation_id: None,
                private_ipv4_address: None,
                ipv6_address: None,
                source_nat_ipv6_prefix: None,
            });
        },
        calls: &[("SetSubnets", 1)],
    },
    Change {
        name: "load balancer security groups",
        apply: |s, _| {
            lb_mut(s).security_groups.truncate(1);
        },
        calls: &[("SetSecurityGroups", 1)],
    },
    Change {
        name: "rule inserted in front (others move down)",
        apply: |s, _| {
            let rules: Vec<ListenerRuleSpec> = std::mem::take(&mut s.resources.listener_rules)
                .into_values()
                .map(|r| r.spec)
                .collect();
            s.add_listener_rule(80, path_rule(80, 1, "/z", TG_B))
                .unwrap();
            for mut rule in rules {
                rule.priority += 1;
                s.add_listener_rule(80, rule).unwrap();
            }
        },
        // The old rules move (last first, so no call targets a priority still held) before
        // the new rule takes priority 1; their resource-ID tags follow.
        calls: &[("SetRulePriorities", 2), ("CreateRule", 1), ("AddTags", 2)],
    },
    Change {
        name: "target group replaced (port and name change)",
        apply: |s, _| {
            let tg = tg_mut(s, TG_B);
            tg.port = 30081;
            tg.name = "chg-b2".into();
        },
        calls: &[
            ("CreateTargetGroup", 1),
            ("ModifyRule", 1),
            ("DeleteTargetGroup", 1),
        ],
    },
    Change {
        name: "scheme change replaces the load balancer",
        apply: |s, _| {
            let lb = lb_mut(s);
            lb.scheme = Scheme::Internal;
            lb.name = "chg-lb-internal".into();
        },
        calls: &[
            ("CreateLoadBalancer", 1),
            ("ModifyLoadBalancerAttributes", 1),
            ("CreateListener", 1),
            ("CreateRule", 3),
            ("DeleteLoadBalancer", 1),
        ],
    },
    Change {
        name: "scheme change under the same name",
        apply: |s, _| lb_mut(s).scheme = Scheme::InternetFacing,
        calls: &[
            ("DeleteLoadBalancer", 1),
            ("CreateLoadBalancer", 1),
            ("ModifyLoadBalancerAttributes", 1),
            ("CreateListener", 1),
            ("CreateRule", 3),
        ],
    },
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_change_makes_exactly_the_expected_calls() {
    let (account, net, deployer) = setup().await;
    let mut stack = sample_stack(&net, "ns/ing", "chg");
    let first = deployer.deploy(&stack).await.unwrap();
    let mut lb_arn = first.load_balancer_arn.unwrap();
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
        let new_arn = report.load_balancer_arn.unwrap();
        if change.name.starts_with("scheme change") {
            assert_ne!(new_arn, lb_arn, "{}: a new load balancer", change.name);
        } else {
            assert_eq!(new_arn, lb_arn, "{}: the same load balancer", change.name);
        }
        lb_arn = new_arn;
    }

    // The end state is what the stack says.
    let inv = inventory(&account.clients).await;
    assert_eq!(
        inv.load_balancers.keys().collect::<Vec<_>>(),
        ["chg-lb-internal"]
    );
    assert_eq!(inv.load_balancers["chg-lb-internal"].len(), 1);
    assert_eq!(
        inv.target_groups.keys().collect::<Vec<_>>(),
        ["chg-a", "chg-b2"]
    );
    let rules: Vec<(String, String)> = inv
        .rules
        .iter()
        .map(|((_, _, priority), (_, tags))| (priority.clone(), tags[TAG_INGRESS_RESOURCE].clone()))
        .collect();
    assert_eq!(
        rules,
        [
            ("1".to_owned(), "80:1".to_owned()),
            ("2".to_owned(), "80:2".to_owned()),
            ("3".to_owned(), "80:3".to_owned())
        ]
    );
    let tg = account
        .clients
        .elbv2
        .describe_target_groups()
        .names("chg-a")
        .send()
        .await
        .unwrap();
    assert_eq!(tg.target_groups()[0].health_check_path(), Some("/ready"));
    let sg = account
        .clients
        .ec2
        .describe_security_groups()
        .group_ids(&inv.security_groups["chg-sg"].0)
        .send()
        .await
        .unwrap();
    let cidrs: Vec<&str> = sg.security_groups()[0]
        .ip_permissions()
        .iter()
        .flat_map(|p| p.ip_ranges())
        .filter_map(|r| r.cidr_ip())
        .collect();
    assert_eq!(cidrs, ["10.0.0.0/8"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_leaves_nothing_of_ours_and_foreign_untouched() {
    let (account, net, deployer) = setup().await;
    let clients = &account.clients;
    // Untagged; another cluster's tags for the same stack; our stack's tags without a cluster.
    foreign_lb(clients, &net, "plain-lb", vec![]).await;
    foreign_lb(
        clients,
        &net,
        "other-lb",
        lookalike_tags(Some("other"), "LoadBalancer"),
    )
    .await;
    foreign_lb(
        clients,
        &net,
        "nocluster-lb",
        lookalike_tags(None, "LoadBalancer"),
    )
    .await;
    foreign_tg(clients, &net, "plain-tg", vec![]).await;
    foreign_tg(
        clients,
        &net,
        "other-tg",
        lookalike_tags(Some("other"), TG_A),
    )
    .await;
    foreign_tg(clients, &net, "nocluster-tg", lookalike_tags(None, TG_A)).await;
    foreign_sg(clients, &net, "plain-sg", None).await;
    foreign_sg(clients, &net, "other-sg", Some("other")).await;
    // Another cluster deploys the same stack ID next to ours.
    let other = Deployer::new(clients.clone(), deploy_config("other-cluster", &net));
    let other_stack = sample_stack(&net, "ns/ing", "oth");
    other.deploy(&other_stack).await.unwrap();

    let stack = sample_stack(&net, "ns/ing", "ours");
    let created = deployer.deploy(&stack).await.unwrap();
    assert_eq!(created.created.len(), 7);
    assert!(created.modified.is_empty() && created.deleted.is_empty());
    let before = inventory(clients).await;
    assert_eq!(before.load_balancers["ours-lb"].len(), 1);

    let report = deployer.delete("ns/ing").await.unwrap();
    assert_eq!(
        mutating(&report),
        expect_calls(&[
            ("DeleteLoadBalancer", 1),
            ("DeleteSecurityGroup", 1),
            ("DeleteTargetGroup", 2),
        ]),
        "listeners and rules go with their load balancer; calls {}",
        report.calls_by_operation
    );
    assert_eq!(report.deleted.len(), 4);
    assert_eq!(report.dns_name, None);

    let after = inventory(clients).await;
    assert_eq!(
        others(&after, "ours-"),
        others(&before, "ours-"),
        "foreign resources untouched"
    );
    assert!(
        others(&after, "no-such-prefix")
            .iter()
            .all(|l| !l.contains("ours-")),
        "nothing of ours is left: {:?}",
        others(&after, "no-such-prefix")
    );
    assert!(after.security_groups.contains_key("backend"));

    // The other cluster's stack is still exactly as it was deployed.
    assert_converged(&other, &other_stack).await;
    // Deleting again finds nothing and costs two reads.
    let again = deployer.delete("ns/ing").await.unwrap();
    assert_eq!(again.calls_by_operation.mutating_total(), 0);
    assert_eq!(
        again.calls_by_operation.reads(),
        expect_calls(&[("DescribeSecurityGroups", 1), ("GetResources", 1)])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_resource_with_our_name_is_never_adopted() {
    let (account, net, deployer) = setup().await;
    let clients = &account.clients;

    // Load balancer: an untagged one already has the name.
    foreign_lb(clients, &net, "dup-lb", vec![]).await;
    let err = deployer
        .deploy(&sample_stack(&net, "ns/ing", "dup"))
        .await
        .expect_err("the name is taken by someone else");
    assert_eq!(err.category(), ErrorCategory::Conflict, "{err}");
    assert_eq!(err.resource().map(|r| r.id.as_str()), Some("LoadBalancer"));
    assert!(err.to_string().contains("dup-lb"), "{err}");
    let inv = inventory(clients).await;
    assert_eq!(
        inv.load_balancers["dup-lb"].len(),
        1,
        "no second load balancer"
    );
    assert!(
        inv.load_balancers["dup-lb"][0].1.is_empty(),
        "no tags were added"
    );
    assert_eq!(inv.listeners.len(), 1, "only the foreign listener");
    deployer.delete("ns/ing").await.unwrap();
    let inv = inventory(clients).await;
    assert_eq!(inv.load_balancers.keys().collect::<Vec<_>>(), ["dup-lb"]);
    assert!(
        !inv.target_groups.contains_key("dup-a") && !inv.security_groups.contains_key("dup-sg")
    );

    // Target group: another cluster's has the name.
    foreign_tg(clients, &net, "dup2-a", lookalike_tags(Some("other"), TG_A)).await;
    let err = deployer
        .deploy(&sample_stack(&net, "ns/ing", "dup2"))
        .await
        .expect_err("the name is taken by another cluster");
    assert_eq!(err.category(), ErrorCategory::Conflict, "{err}");
    assert_eq!(err.resource().map(|r| r.id.as_str()), Some(TG_A));

    // Security group: an untagged one with the name in our VPC.
    foreign_sg(clients, &net, "dup3-sg", None).await;
    let err = deployer
        .deploy(&sample_stack(&net, "ns/ing3", "dup3"))
        .await
        .expect_err("the group name is taken");
    assert_eq!(err.category(), ErrorCategory::Conflict, "{err}");
    assert_eq!(
        err.resource().map(|r| r.id.as_str()),
        Some("ManagedLBSecurityGroup")
    );

    deployer.delete("ns/ing").await.unwrap();
    deployer.delete("ns/ing3").await.unwrap();
    let inv = inventory(clients).await;
    assert_eq!(inv.target_groups.keys().collect::<Vec<_>>(), ["dup2-a"]);
    assert_eq!(inv.target_groups["dup2-a"].1[TAG_CLUSTER], "other");
    assert!(inv.security_groups.contains_key("dup3-sg"));
    assert!(inv.security_groups["dup3-sg"].1.is_empty());
}

/// Exactly the stack's resources exist, once each.
fn assert_exactly_once(inv: &Inventory, prefix: &str) {
    let lb = format!("{prefix}-lb");
    assert_eq!(inv.load_balancers.keys().collect::<Vec<_>>(), [&lb]);
    assert_eq!(inv.load_balancers[&lb].len(), 1, "one load balancer");
    assert_eq!(
        inv.target_groups.keys().collect::<Vec<_>>(),
        [&format!("{prefix}-a"), &format!("{prefix}-b")]
    );
    assert!(inv.security_groups.contains_key(&format!("{prefix}-sg")));
    assert_eq!(inv.listeners.len(), 1, "{:?}", inv.listeners);
    assert_eq!(inv.rules.len(), 2, "{:?}", inv.rules);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_create_converges_without_duplicates() {
    // How many mutating calls a full create takes.
    let (_, net, deployer) = setup().await;
    let total = deployer
        .deploy(&sample_stack(&net, "ns/ing", "int"))
        .await
        .unwrap()
        .calls_by_operation
        .mutating_total();
    assert_eq!(total, 9);

    for limit in 0..total {
        let (account, net, deployer) = setup().await;
        let stack = sample_stack(&net, "ns/ing", "int");
        let report = deploy_after_two_interruptions(&deployer, &stack, limit as usize).await;
        assert!(report.dns_name.is_some());
        assert_exactly_once(&inventory(&account.clients).await, "int");
        assert_converged(&deployer, &stack).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_deletion_converges_to_nothing() {
    let (account, net, deployer) = setup().await;
    let stack = sample_stack(&net, "ns/ing", "del");
    deployer.deploy(&stack).await.unwrap();
    // Crash after every single mutating call until a run completes.
    let mut aborted = 0;
    loop {
        assert!(aborted <= 10, "deletion does not converge");
        match deployer
            .deploy_with(
                &Stack::new("ns/ing"),
                &DeployOptions {
                    mutation_limit: Some(1),
                },
            )
            .await
        {
            Ok(report) => {
                assert_eq!(report.calls_by_operation.mutating_total(), 1);
                break;
            }
            Err(err) => assert_eq!(err.category(), ErrorCategory::Aborted, "{err}"),
        }
        aborted += 1;
    }
    assert_eq!(
        aborted, 3,
        "one deletion per run: LB, TG, TG, then the SG completes"
    );
    let last = deployer.delete("ns/ing").await.unwrap();
    assert_eq!(last.calls_by_operation.mutating_total(), 0);
    let inv = inventory(&account.clients).await;
    assert!(inv.load_balancers.is_empty() && inv.target_groups.is_empty());
    assert!(!inv.security_groups.contains_key("del-sg"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_the_resource_and_field() {
    let (account, net, deployer) = setup().await;

    // A rule forwards to a target group the stack does not have: refused before any call.
    let mut dangling = sample_stack(&net, "ns/ing", "err");
    dangling.resources.target_groups.remove(TG_B);
    let before = account.clients.calls().snapshot();
    let err = deployer
        .deploy(&dangling)
        .await
        .expect_err("dangling reference");
    assert_eq!(err.category(), ErrorCategory::InvalidStack);
    assert_eq!(
        err.resource()
            .map(|r| (r.resource_type.as_str(), r.id.as_str())),
        Some(("AWS::ElasticLoadBalancingV2::TargetGroup", TG_B))
    );
    assert!(err.to_string().contains("targetGroupARN"), "{err}");
    assert_eq!(
        account.clients.calls().snapshot(),
        before,
        "no AWS call was made"
    );

    // AWS refuses a value: the error names the resource, the call and AWS's code.
    let mut invalid = sample_stack(&net, "ns/ing", "err");
    tg_mut(&mut invalid, TG_A)
        .health_check_config
        .as_mut()
        .unwrap()
        .interval_seconds = Some(1);
    let err = deployer
        .deploy(&invalid)
        .await
        .expect_err("invalid interval");
    assert_eq!(err.category(), ErrorCategory::Validation, "{err}");
    assert_eq!(err.code(), Some("ValidationError"));
    assert_eq!(err.resource().map(|r| r.id.as_str()), Some(TG_A));
    assert!(err.to_string().contains("CreateTargetGroup"), "{err}");

    // Out-of-range priorities are refused by us.
    let mut bad_priority = sample_stack(&net, "ns/ing2", "err2");
    bad_priority
        .add_listener_rule(80, path_rule(80, 50_001, "/x", TG_A))
        .unwrap();
    let err = deployer.deploy(&bad_priority).await.expect_err("priority");
    assert_eq!(err.category(), ErrorCategory::InvalidStack);
    assert!(err.to_string().contains("priority"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_then_reported() {
    let throttler = support::throttle::Throttler::start().await;
    // Three SDK attempts per call (see `sdk_config`), and two more calls of our own.
    let sdk = support::moto::sdk_config(&throttler.endpoint).await;
    let clients = AwsClients::new(&sdk, &[]);
    let net = Network {
        vpc_id: "vpc-1".into(),
        subnets: vec!["subnet-1".into(), "subnet-2".into(), "subnet-3".into()],
        backend_sg: "sg-1".into(),
    };
    let mut config = deploy_config(CLUSTER, &net);
    config.call_retry.max_times = 2;
    let deployer = Deployer::new(clients.clone(), config);
    let err = deployer
        .deploy(&sample_stack(&net, "ns/ing", "thr"))
        .await
        .expect_err("always throttled");
    assert_eq!(err.category(), ErrorCategory::Throttled, "{err}");
    let DeployError::Aws {
        operation, code, ..
    } = &err
    else {
        panic!("an AWS error: {err}");
    };
    assert!(["Throttling", "ThrottlingException", "RequestLimitExceeded"].contains(&code.as_str()));
    assert_eq!(
        clients.calls().snapshot().count(operation),
        3,
        "{operation}: one call and two retries of ours"
    );
    assert!(
        throttler.requests() >= 9,
        "each with the SDK's own attempts: {}",
        throttler.requests()
    );
}

/// The cluster's backend security group is created once with our tags, found again by them
/// afterwards, kept apart per cluster, and a same-named group that is not ours is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_security_group_is_created_once_found_by_tags_and_never_adopted() {
    use aws_io::backend_sg::{BackendSecurityGroupError, DESCRIPTION, Obtained, ensure};
    use model::naming::backend_security_group_name;

    let (account, net, _) = setup().await;
    let ec2 = &account.clients.ec2;
    let defaults = BTreeMap::from([("team".to_owned(), "platform".to_owned())]);

    let first = ensure(&account.clients, "blue", &net.vpc_id, &defaults)
        .await
        .unwrap();
    let Obtained::Created(id) = &first else {
        panic!("a fresh VPC has no backend group: {first:?}");
    };
    let described = ec2
        .describe_security_groups()
        .group_ids(id)
        .send()
        .await
        .unwrap();
    let sg = &described.security_groups()[0];
    assert_eq!(
        sg.group_name(),
        Some(backend_security_group_name("blue").as_str())
    );
    assert_eq!(sg.description(), Some(DESCRIPTION));
    assert_eq!(sg.vpc_id(), Some(net.vpc_id.as_str()));
    let tags: BTreeMap<&str, &str> = sg
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?, t.value()?)))
        .collect();
    assert_eq!(
        tags,
        BTreeMap::from([
            ("elbv2.k8s.aws/cluster", "blue"),
            ("elbv2.k8s.aws/resource", "backend-sg"),
            ("team", "platform"),
        ])
    );

    // A restart (or another replica) finds it: no second group.
    let again = ensure(&account.clients, "blue", &net.vpc_id, &defaults)
        .await
        .unwrap();
    assert_eq!(again, Obtained::Found(id.clone()));
    // Another cluster in the same VPC gets its own.
    let green = ensure(&account.clients, "green", &net.vpc_id, &BTreeMap::new())
        .await
        .unwrap();
    assert!(
        matches!(&green, Obtained::Created(other) if other != id),
        "{green:?}"
    );

    // Someone else's group with our name (no tags) is not taken over.
    ec2.create_security_group()
        .group_name(backend_security_group_name("red"))
        .description("hand-made")
        .vpc_id(&net.vpc_id)
        .send()
        .await
        .unwrap();
    let err = ensure(&account.clients, "red", &net.vpc_id, &BTreeMap::new())
        .await
        .expect_err("the name is taken by a foreign group");
    assert!(
        matches!(err, BackendSecurityGroupError::NameTaken { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("--backend-security-group"),
        "{err}"
    );
}

/// With the write gate closed (this replica lost the lease) a deploy reads but sends no
/// mutating call, and fails with the `not_leader` category; opened again, it deploys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_write_gate_stops_every_mutating_call() {
    let (account, net, deployer) = setup().await;
    let (leader_tx, leader) = tokio::sync::watch::channel(false);
    account.clients.calls().gate_writes(leader);
    let stack = sample_stack(&net, "ns/gated", "gated");
    let before = account.clients.calls().snapshot();

    let err = deployer
        .deploy(&stack)
        .await
        .expect_err("not the leader: nothing may be created");
    assert_eq!(err.category(), ErrorCategory::NotLeader, "{err}");
    assert!(err.to_string().contains("not the leader"), "{err}");
    let calls = account.clients.calls().snapshot().since(&before);
    assert_eq!(
        calls.mutating_total(),
        0,
        "no mutating call was sent: {calls}"
    );
    assert!(calls.read_total() > 0, "reads still go out: {calls}");
    let inv = inventory(&account.clients).await;
    assert!(inv.load_balancers.is_empty() && !inv.security_groups.contains_key("gated-sg"));

    leader_tx.send_replace(true);
    let report = deployer.deploy(&stack).await.unwrap();
    assert!(report.dns_name.is_some());
}

/// Upstream's AWS API series: latency, retries and errors by HTTP status and AWS error code.
#[tokio::test]
async fn call_latency_retries_and_errors_are_exported_by_error_code() {
    let account = support::moto::Account::new().await;
    let mut registry = prometheus_client::registry::Registry::default();
    account.clients.calls().register(&mut registry);
    account
        .clients
        .elbv2
        .describe_load_balancers()
        .send()
        .await
        .unwrap();
    let missing = account
        .clients
        .elbv2
        .describe_load_balancers()
        .names("no-such-load-balancer")
        .send()
        .await;
    assert!(missing.is_err());
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    let line = |wanted: &str| text.lines().any(|l| l == wanted);
    assert!(
        line(
            r#"aws_api_call_duration_seconds_count{service="elbv2",operation="DescribeLoadBalancers"} 2"#
        ),
        "{text}"
    );
    assert!(
        line(r#"aws_api_call_retries_count{service="elbv2",operation="DescribeLoadBalancers"} 2"#),
        "{text}"
    );
    assert!(
        line(
            r#"aws_api_call_errors_total{service="elbv2",operation="DescribeLoadBalancers",status_code="400",error_code="LoadBalancerNotFound"} 1"#
        ),
        "{text}"
    );
}

/// The reads a stack's own discovery makes; after a prefetch a deploy makes none of them.
const DISCOVERY_READS: [&str; 4] = [
    "GetResources",
    "DescribeLoadBalancers",
    "DescribeTargetGroups",
    "DescribeSecurityGroups",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resync_after_a_prefetch_skips_each_stacks_discovery_but_never_hides_a_write() {
    let (account, net, deployer) = setup().await;
    let stacks: Vec<Stack> = ["a", "b", "c"]
        .iter()
        .map(|p| sample_stack(&net, &format!("ns/{p}"), p))
        .collect();
    for stack in &stacks {
        deployer.deploy(stack).await.unwrap();
    }

    // A new process (a restart, a new leader): one read of the cluster, then every stack.
    let fresh = Deployer::new(account.clients.clone(), deploy_config(CLUSTER, &net));
    let before = account.clients.calls().snapshot();
    assert_eq!(fresh.prefetch().await.unwrap(), Some(3));
    let prefetch = account.clients.calls().snapshot().since(&before);
    eprintln!("prefetch: {prefetch}");
    assert_eq!(prefetch.mutating_total(), 0);
    // Asked again at once (the Service resync fires with the group one): not read again.
    assert_eq!(fresh.prefetch().await.unwrap(), None);
    // The model builder's question (the group's existing load balancer) needs no read either.
    let before = account.clients.calls().snapshot();
    let lb = fresh
        .prefetched_load_balancer(model::stack::StackKind::Ingress, "ns/b")
        .await
        .expect("the snapshot serves ns/b")
        .expect("ns/b has a load balancer");
    assert_eq!(lb.load_balancer_name(), Some("b-lb"));
    assert_eq!(account.clients.calls().snapshot().since(&before).total(), 0);
    for stack in &stacks {
        let report = fresh.deploy(stack).await.unwrap();
        assert_eq!(report.calls_by_operation.mutating_total(), 0);
        for op in DISCOVERY_READS {
            assert_eq!(
                report.calls_by_operation.count(op),
                0,
                "{op}: {}",
                report.calls_by_operation
            );
        }
    }

    // A stack changed after the snapshot: a target group is added. The next deploy of it must
    // see that target group, so it reads for itself.
    let mut changed = sample_stack(&net, "ns/a", "a");
    let extra = changed.resources.target_groups[TG_B].spec.clone();
    changed
        .add_target_group(
            "extra",
            TargetGroupSpec {
                name: "a-extra".into(),
                ..extra
            },
        )
        .unwrap();
    let _ = fresh.prefetch().await.unwrap();
    let report = fresh.deploy(&changed).await.unwrap();
    assert_eq!(report.calls_by_operation.count("CreateTargetGroup"), 1);
    let again = fresh.deploy(&changed).await.unwrap();
    assert_eq!(
        again.calls_by_operation.mutating_total(),
        0,
        "{}",
        again.calls_by_operation
    );
    assert_eq!(again.calls_by_operation.count("GetResources"), 1);

    // Deleting a stack from the snapshot removes all of it.
    let fresh = Deployer::new(account.clients.clone(), deploy_config(CLUSTER, &net));
    assert_eq!(fresh.prefetch().await.unwrap(), Some(3));
    let report = fresh.delete("ns/c").await.unwrap();
    assert_eq!(report.calls_by_operation.count("GetResources"), 0);
    let inv: Inventory = inventory(&account.clients).await;
    assert!(!inv.load_balancers.contains_key("c-lb"), "{inv:?}");
    assert!(
        inv.target_groups.keys().all(|name| !name.starts_with("c-")),
        "{inv:?}"
    );
    assert!(inv.load_balancers.contains_key("a-lb"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_group_the_deployer_created_is_described_empty_once_without_a_call() {
    use aws_io::adapters::AwsRegistrar;
    use controller::backends::TargetRegistrar;
    use controller::targets::Target;

    let (account, net, deployer) = setup().await;
    let registrar = AwsRegistrar::new(account.clients.clone()).with_fresh_target_groups(&deployer);
    let report = deployer
        .deploy(&sample_stack(&net, "ns/fresh", "fresh"))
        .await
        .unwrap();
    let (a, b) = (
        &report.target_group_arns[TG_A],
        &report.target_group_arns[TG_B],
    );
    let calls = || {
        account
            .clients
            .calls()
            .snapshot()
            .count("DescribeTargetHealth")
    };

    // The binding's first reconcile: known empty, no call.
    let before = calls();
    assert!(registrar.describe(a, None).await.unwrap().is_empty());
    assert_eq!(calls(), before);
    // Only once: the next describe asks AWS.
    assert!(registrar.describe(a, None).await.unwrap().is_empty());
    assert_eq!(calls(), before + 1);

    // A registration ends it: the describe that follows sees the target.
    let target = Target::new("10.0.1.5", 8080);
    registrar
        .register(b, None, std::slice::from_ref(&target))
        .await
        .unwrap();
    let seen = registrar.describe(b, None).await.unwrap();
    assert_eq!(calls(), before + 2);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].target, target);

    // A target group found existing by a later deploy is not taken for empty.
    let again = Deployer::new(account.clients.clone(), deploy_config(CLUSTER, &net));
    let fresh_registrar =
        AwsRegistrar::new(account.clients.clone()).with_fresh_target_groups(&again);
    again
        .deploy(&sample_stack(&net, "ns/fresh", "fresh"))
        .await
        .unwrap();
    assert_eq!(fresh_registrar.describe(b, None).await.unwrap().len(), 1);
}
