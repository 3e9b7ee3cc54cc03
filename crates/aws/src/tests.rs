//! Unit tests of the deployer's pure parts: rule and permission plans, tag diffs, error
//! classification and call counting (conversions are in `convert_tests.rs`). The AWS-facing
//! behaviour is tested against moto in `tests/deploy_moto.rs`.

use std::collections::BTreeSet;

use super::aws::{CallSnapshot, is_mutating};
use super::error::{ErrorCategory, ResourceRef, field_from_message};
use super::rule_plan::{ExistingRule, PriorityTaken, RuleContent, plan_rules};
use super::sg_rules::{Permission, Source, desired_permissions, plan_permissions};
use super::tags::{desired_tags, diff_tags, is_owned, resource_id};
use model::stack::*;
use model::tags::Tags;

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn content(path: &str) -> RuleContent {
    RuleContent::desired(
        &[Action::forward_to("arn:tg")],
        &[RuleCondition::path_pattern(ValuesConfig::values([path]))],
        &[],
    )
}

fn ours(priority: u32, path: &str) -> ExistingRule {
    ExistingRule {
        priority,
        content: Some(content(path)),
        owned: true,
    }
}

#[test]
fn rule_plan_keeps_unchanged_rules() {
    let desired = [(1, content("/a")), (2, content("/b"))];
    let plan = plan_rules(&desired, &[ours(1, "/a"), ours(2, "/b")]).expect("plan");
    assert_eq!(plan.keep, [(0, 0), (1, 1)]);
    assert!(plan.moves.is_empty() && plan.modify.is_empty());
    assert!(plan.create.is_empty() && plan.delete.is_empty());
}

#[test]
fn rule_plan_moves_rules_down_before_creating_in_front() {
    // /z is inserted at 1: /a (1→2) and /b (2→3) move, last one first.
    let desired = [(1, content("/z")), (2, content("/a")), (3, content("/b"))];
    let plan = plan_rules(&desired, &[ours(1, "/a"), ours(2, "/b")]).expect("plan");
    assert_eq!(plan.moves, [vec![(2, 1)], vec![(1, 0)]]);
    assert_eq!(plan.create, [0]);
    assert!(plan.modify.is_empty() && plan.delete.is_empty() && plan.keep.is_empty());
}

#[test]
fn rule_plan_modifies_in_place_and_deletes_stale() {
    let desired = [(1, content("/a")), (2, content("/new"))];
    let plan = plan_rules(
        &desired,
        &[ours(1, "/a"), ours(2, "/old"), ours(3, "/gone")],
    )
    .expect("plan");
    assert_eq!(plan.keep, [(0, 0)]);
    assert_eq!(plan.modify, [(1, 1)]);
    assert_eq!(plan.delete, [2]);
    assert!(plan.create.is_empty() && plan.moves.is_empty());
}

#[test]
fn rule_plan_swaps_in_one_wave() {
    let desired = [(1, content("/b")), (2, content("/a"))];
    let plan = plan_rules(&desired, &[ours(1, "/a"), ours(2, "/b")]).expect("plan");
    assert_eq!(plan.moves.len(), 1, "a cycle cannot be split: {plan:?}");
    let mut pairs = plan.moves[0].clone();
    pairs.sort();
    assert_eq!(pairs, [(0, 1), (1, 0)]);
}

#[test]
fn rule_plan_does_not_move_onto_a_stale_rule() {
    // /a is wanted at 2, where a stale rule sits: modify that one in place instead, and drop
    // the old /a afterwards.
    let desired = [(2, content("/a"))];
    let plan = plan_rules(&desired, &[ours(1, "/a"), ours(2, "/stale")]).expect("plan");
    assert!(plan.moves.is_empty());
    assert_eq!(plan.modify, [(0, 1)]);
    assert_eq!(plan.delete, [0]);
}

#[test]
fn rule_plan_leaves_foreign_rules_alone_and_refuses_their_priority() {
    let foreign = ExistingRule {
        priority: 5,
        content: Some(content("/theirs")),
        owned: false,
    };
    let plan = plan_rules(&[(1, content("/a"))], &[ours(1, "/a"), foreign.clone()]).expect("plan");
    assert!(plan.delete.is_empty(), "a foreign rule is never deleted");
    let err = plan_rules(&[(5, content("/a"))], &[foreign]).expect_err("priority 5 is taken");
    assert_eq!(
        err,
        PriorityTaken {
            desired: 0,
            existing: 0
        }
    );
}

#[test]
fn rule_content_of_unreadable_rules_never_matches() {
    let desired = [(1, content("/a"))];
    let unknown = ExistingRule {
        priority: 1,
        content: None,
        owned: true,
    };
    let plan = plan_rules(&desired, &[unknown]).expect("plan");
    assert_eq!(plan.modify, [(0, 0)]);
}

fn cidr(protocol: &str, port: i32, cidr: &str, description: &str) -> Permission {
    Permission {
        protocol: protocol.into(),
        from_port: Some(port),
        to_port: Some(port),
        source: Source::Ipv4(cidr.into()),
        description: description.into(),
    }
}

#[test]
fn permissions_are_authorised_before_revoking() {
    let desired: BTreeSet<_> = [cidr("tcp", 80, "10.0.0.0/8", "")].into();
    let actual: BTreeSet<_> = [cidr("tcp", 80, "0.0.0.0/0", "")].into();
    let plan = plan_permissions(&desired, &actual);
    assert_eq!(plan.authorize_first, [cidr("tcp", 80, "10.0.0.0/8", "")]);
    assert_eq!(plan.revoke, [cidr("tcp", 80, "0.0.0.0/0", "")]);
    assert!(plan.authorize_after_revoke.is_empty());
    assert!(plan_permissions(&desired, &desired).is_empty());
}

#[test]
fn a_description_change_is_revoked_then_authorised() {
    let desired: BTreeSet<_> = [cidr("tcp", 80, "10.0.0.0/8", "new")].into();
    let actual: BTreeSet<_> = [cidr("tcp", 80, "10.0.0.0/8", "old")].into();
    let plan = plan_permissions(&desired, &actual);
    assert!(plan.authorize_first.is_empty());
    assert_eq!(plan.revoke, [cidr("tcp", 80, "10.0.0.0/8", "old")]);
    assert_eq!(
        plan.authorize_after_revoke,
        [cidr("tcp", 80, "10.0.0.0/8", "new")]
    );
}

#[test]
fn desired_permissions_flatten_sources_and_normalise_protocols() {
    let perms = desired_permissions(&[
        IpPermission {
            ip_ranges: vec![
                IpRange {
                    cidr_ip: "1.0.0.0/8".into(),
                    description: String::new(),
                },
                IpRange {
                    cidr_ip: "2.0.0.0/8".into(),
                    description: String::new(),
                },
            ],
            prefix_lists: vec![PrefixListId {
                list_id: "pl-1".into(),
                description: "cdn".into(),
            }],
            ..IpPermission::tcp_port(443)
        },
        IpPermission {
            ip_protocol: "-1".into(),
            from_port: Some(0),
            to_port: Some(65535),
            ip_ranges: vec![],
            ipv6_ranges: vec![],
            prefix_lists: vec![],
            user_id_group_pairs: vec![UserIdGroupPair {
                group_id: "sg-1".into(),
                description: String::new(),
            }],
        },
    ]);
    assert_eq!(perms.len(), 4);
    assert!(perms.contains(&Permission {
        protocol: "-1".into(),
        from_port: None,
        to_port: None,
        source: Source::Group("sg-1".into()),
        description: String::new(),
    }));
    assert!(
        perms
            .iter()
            .any(|p| p.source == Source::PrefixList("pl-1".into()))
    );
}

#[test]
fn tag_diff_keeps_unmanaged_keys() {
    let desired = desired_tags(
        &tags(&[("team", "b")]),
        StackKind::Ingress,
        "c1",
        "ns/ing",
        "LoadBalancer",
    );
    let actual = tags(&[
        ("team", "a"),
        ("stale", "x"),
        ("aws:cloudformation:stack-name", "s"),
        ("kubernetes.io/cluster/c1", "owned"),
        ("ingress.k8s.aws/cluster", "c1"),
        ("managed-elsewhere", "y"),
        ("elbv2.k8s.aws/cluster", "c1"),
        ("ingress.k8s.aws/stack", "ns/ing"),
    ]);
    let external: BTreeSet<String> = ["managed-elsewhere".to_owned()].into();
    let diff = diff_tags(&desired, &actual, &external);
    assert_eq!(
        diff.add,
        tags(&[("ingress.k8s.aws/resource", "LoadBalancer"), ("team", "b")])
    );
    assert_eq!(diff.remove, ["stale"]);
    assert!(diff_tags(&desired, &desired, &external).is_empty());
}

#[test]
fn ownership_needs_cluster_and_stack() {
    let ingress = StackKind::Ingress;
    let t = desired_tags(&Tags::new(), ingress, "c1", "ns/ing", "x");
    assert!(is_owned(&t, ingress, "c1", "ns/ing"));
    assert!(!is_owned(&t, ingress, "c2", "ns/ing"));
    assert!(!is_owned(&t, ingress, "c1", "ns/other"));
    assert!(!is_owned(
        &tags(&[("ingress.k8s.aws/stack", "ns/ing")]),
        ingress,
        "c1",
        "ns/ing"
    ));
    // User tags cannot override the tracking tags.
    let forged = desired_tags(
        &tags(&[("elbv2.k8s.aws/cluster", "evil")]),
        ingress,
        "c1",
        "s",
        "x",
    );
    assert_eq!(forged["elbv2.k8s.aws/cluster"], "c1");
}

#[test]
fn a_service_stack_and_an_ingress_stack_of_one_id_never_own_each_other() {
    let service = desired_tags(
        &Tags::new(),
        StackKind::Service,
        "c1",
        "ns/x",
        "LoadBalancer",
    );
    assert_eq!(service["service.k8s.aws/stack"], "ns/x");
    assert_eq!(service["service.k8s.aws/resource"], "LoadBalancer");
    assert!(!service.contains_key("ingress.k8s.aws/stack"));
    assert!(!service.contains_key("ingress.k8s.aws/resource"));
    assert!(is_owned(&service, StackKind::Service, "c1", "ns/x"));
    assert!(!is_owned(&service, StackKind::Ingress, "c1", "ns/x"));
    assert_eq!(
        resource_id(&service, StackKind::Service),
        Some("LoadBalancer")
    );
    assert_eq!(resource_id(&service, StackKind::Ingress), None);

    let ingress = desired_tags(
        &Tags::new(),
        StackKind::Ingress,
        "c1",
        "ns/x",
        "LoadBalancer",
    );
    assert!(is_owned(&ingress, StackKind::Ingress, "c1", "ns/x"));
    assert!(!is_owned(&ingress, StackKind::Service, "c1", "ns/x"));
    assert_eq!(resource_id(&ingress, StackKind::Service), None);

    // Reconciling a Service resource's tags drops nothing of the shared cluster key and
    // replaces an Ingress's tracking keys only if they are on it (they never are).
    let diff = diff_tags(&service, &service, &BTreeSet::new());
    assert!(diff.is_empty());
}

#[test]
fn error_codes_map_to_stable_categories() {
    let cases = [
        ("Throttling", None, ErrorCategory::Throttled),
        ("RequestLimitExceeded", None, ErrorCategory::Throttled),
        ("ValidationError", Some(400), ErrorCategory::Validation),
        (
            "InvalidConfigurationRequest",
            Some(400),
            ErrorCategory::Validation,
        ),
        ("LoadBalancerNotFound", Some(400), ErrorCategory::NotFound),
        ("InvalidGroup.NotFound", Some(400), ErrorCategory::NotFound),
        (
            "DuplicateTargetGroupName",
            Some(400),
            ErrorCategory::Conflict,
        ),
        ("InvalidGroup.Duplicate", Some(400), ErrorCategory::Conflict),
        ("PriorityInUse", Some(400), ErrorCategory::Conflict),
        ("ResourceInUse", Some(400), ErrorCategory::Conflict),
        ("DependencyViolation", Some(400), ErrorCategory::Conflict),
        ("TooManyRules", Some(400), ErrorCategory::LimitExceeded),
        (
            "RulesPerSecurityGroupLimitExceeded",
            Some(400),
            ErrorCategory::LimitExceeded,
        ),
        ("AccessDenied", Some(403), ErrorCategory::Permission),
        (
            "UnauthorizedOperation",
            Some(403),
            ErrorCategory::Permission,
        ),
        ("InternalFailure", Some(500), ErrorCategory::Internal),
        ("", Some(503), ErrorCategory::Internal),
        ("", Some(429), ErrorCategory::Throttled),
        ("", None, ErrorCategory::Transport),
        ("SomethingNew", Some(502), ErrorCategory::Internal),
    ];
    for (code, status, want) in cases {
        assert_eq!(
            ErrorCategory::of_code(code, status),
            want,
            "{code} {status:?}"
        );
    }
    assert!(ErrorCategory::Throttled.is_retryable());
    assert!(!ErrorCategory::Validation.is_retryable());
    assert_eq!(ErrorCategory::NotFound.as_str(), "not_found");
}

#[test]
fn validation_messages_name_their_field() {
    assert_eq!(
        field_from_message(
            "1 validation error detected: Value '1' at 'healthCheckIntervalSeconds' failed to satisfy constraint"
        )
        .as_deref(),
        Some("healthCheckIntervalSeconds")
    );
    assert_eq!(field_from_message("no field here"), None);
    let err = super::DeployError::aws(
        "CreateTargetGroup",
        &ResourceRef::new(ResourceType::TargetGroup, "ns/ing-svc:80"),
        super::error::AwsFailure {
            code: "ValidationError".into(),
            message: "Value 'x' at 'healthCheckPath' failed".into(),
            status: Some(400),
            category: ErrorCategory::Validation,
        },
    );
    let text = err.to_string();
    assert!(text.contains("ns/ing-svc:80"), "{text}");
    assert!(text.contains("field healthCheckPath"), "{text}");
    assert_eq!(err.category(), ErrorCategory::Validation);
    assert_eq!(err.code(), Some("ValidationError"));
}

#[test]
fn calls_are_classified_and_counted() {
    for op in [
        "DescribeLoadBalancers",
        "GetResources",
        "ListTagsForResource",
    ] {
        assert!(!is_mutating(op), "{op}");
    }
    for op in [
        "CreateRule",
        "ModifyListener",
        "DeleteTargetGroup",
        "AddTags",
        "RemoveTags",
        "SetRulePriorities",
        "AuthorizeSecurityGroupIngress",
        "RevokeSecurityGroupIngress",
        "RegisterTargets",
        "DeregisterTargets",
        "TagResources",
    ] {
        assert!(is_mutating(op), "{op}");
    }
    let mut before = CallSnapshot::default();
    before.record("elbv2", "DescribeRules");
    let mut after = before.clone();
    after.record("elbv2", "DescribeRules");
    after.record("elbv2", "CreateRule");
    after.record("ec2", "CreateTags");
    let delta = after.since(&before);
    assert_eq!(delta.total(), 3);
    assert_eq!(delta.mutating_total(), 2);
    assert_eq!(delta.read_total(), 1);
    assert_eq!(delta.count("CreateRule"), 1);
    assert_eq!(
        delta.to_string(),
        "ec2:CreateTags=1, elbv2:CreateRule=1, elbv2:DescribeRules=1"
    );
}

#[test]
fn a_deploy_can_move_between_runtime_threads() {
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-west-2"))
        .build();
    let deployer = super::Deployer::new(
        super::AwsClients::new(&sdk, &[]),
        super::DeployConfig::new("cluster", "vpc-1"),
    );
    let stack = Stack::new("ns/ing");
    fn assert_send<T: Send>(_: &T) {}
    // Never polled: this only proves the future can be spawned on a multi-threaded runtime.
    let deploy = deployer.deploy(&stack);
    assert_send(&deploy);
    let delete = deployer.delete("ns/ing");
    assert_send(&delete);
}

fn sample_diff() -> super::diff::StackDiff {
    use super::diff::{FieldChange, ResourceDiff, StackDiff};
    let tg = ResourceRef::new(ResourceType::TargetGroup, "ns/ing-svc:80");
    let rule = ResourceRef::new(ResourceType::ListenerRule, "80:2");
    let old = ResourceRef::new(ResourceType::TargetGroup, "ns/ing-old:80");
    let lb = ResourceRef::new(ResourceType::LoadBalancer, "LoadBalancer");
    StackDiff {
        stack_id: "ns/ing".into(),
        kind: StackKind::Ingress,
        no_longer_planned: false,
        resources: vec![
            ResourceDiff::existing(&lb, "arn:lb", vec![]),
            ResourceDiff::existing(
                &tg,
                "arn:tg",
                vec![FieldChange::values("healthCheckPath", "/", "/healthz")],
            ),
            ResourceDiff::create(&rule, vec![]),
            ResourceDiff::delete(&old, "arn:old"),
        ],
        foreign: vec![],
        calls_by_operation: CallSnapshot::default(),
    }
}

#[test]
fn diff_counts_and_renders_changes_and_only_counts_unchanged() {
    use super::diff::{ChangeKind, DiffSummary, table};
    let diff = sample_diff();
    assert!(diff.has_changes());
    assert_eq!(
        diff.summary(),
        DiffSummary {
            create: 1,
            modify: 1,
            delete: 1,
            unchanged: 1
        }
    );
    assert_eq!(diff.of_kind(ChangeKind::Unchanged).count(), 1);
    let text = table(std::slice::from_ref(&diff));
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    assert_eq!(
        lines,
        [
            "IngressGroup ns/ing: + 1 to create, ~ 1 to modify, - 1 to delete, = 1 unchanged",
            "  ~ TargetGroup   ns/ing-svc:80                    arn:tg",
            "      healthCheckPath: \"/\" -> \"/healthz\"",
            "  + ListenerRule  80:2",
            "  - TargetGroup   ns/ing-old:80                    arn:old",
            "",
        ]
    );
}

#[test]
fn diff_json_names_type_id_and_fields() {
    let diff = sample_diff();
    let json = serde_json::to_value(&diff).expect("serialisable");
    assert_eq!(json["stackID"], "ns/ing");
    assert_eq!(json["noLongerPlanned"], false);
    assert_eq!(
        json["resources"][1],
        serde_json::json!({
            "change": "modify",
            "type": "AWS::ElasticLoadBalancingV2::TargetGroup",
            "id": "ns/ing-svc:80",
            "awsID": "arn:tg",
            "fields": [{"field": "healthCheckPath", "from": "/", "to": "/healthz"}],
        })
    );
    assert_eq!(
        json["resources"][2],
        serde_json::json!({"change": "create", "type": "AWS::ElasticLoadBalancingV2::ListenerRule", "id": "80:2"})
    );
}

#[test]
fn a_service_diff_says_so_in_the_table_and_the_json() {
    use super::diff::table;
    let ingress = sample_diff();
    assert!(
        serde_json::to_value(&ingress)
            .unwrap()
            .get("kind")
            .is_none()
    );
    let service = super::diff::StackDiff {
        kind: StackKind::Service,
        no_longer_planned: true,
        ..sample_diff()
    };
    let text = table(std::slice::from_ref(&service));
    assert!(
        text.starts_with("Service ns/ing (no longer planned): + 1 to create"),
        "{text}"
    );
    assert_eq!(serde_json::to_value(&service).unwrap()["kind"], "service");
}

#[test]
fn placeholders_are_unique_per_resource_and_recognisable() {
    use super::diff::{is_placeholder, placeholder};
    let a = placeholder(&ResourceRef::new(ResourceType::Listener, "80"));
    let b = placeholder(&ResourceRef::new(ResourceType::Listener, "443"));
    assert_eq!(a, "<new Listener 80>");
    assert_ne!(a, b);
    assert!(is_placeholder(&a) && !is_placeholder("arn:aws:elasticloadbalancing:x"));
}

#[test]
fn field_changes_of_tags_and_inbound_rules() {
    use super::diff::FieldChange;
    use super::fields::{permission_fields, tag_fields};
    let actual = tags(&[("owner", "a"), ("stale", "x")]);
    let diff = diff_tags(&tags(&[("owner", "b")]), &actual, &BTreeSet::new());
    assert_eq!(
        tag_fields(&diff, &actual),
        [
            FieldChange::values("tags.owner", "a", "b"),
            FieldChange::new("tags.stale", Some("x".into()), None),
        ]
    );
    let perm = |cidr: &str| Permission {
        protocol: "tcp".into(),
        from_port: Some(80),
        to_port: Some(80),
        source: Source::Ipv4(cidr.into()),
        description: String::new(),
    };
    let plan = plan_permissions(
        &[perm("10.0.0.0/8")].into_iter().collect(),
        &[perm("0.0.0.0/0")].into_iter().collect(),
    );
    assert_eq!(
        permission_fields(&plan),
        [
            FieldChange::new("ingress", Some("tcp 80 from 0.0.0.0/0".into()), None),
            FieldChange::new("ingress", None, Some("tcp 80 from 10.0.0.0/8".into())),
        ]
    );
}

fn lb_spec(name: &str, load_balancer_type: LoadBalancerType) -> LoadBalancerSpec {
    LoadBalancerSpec {
        name: name.into(),
        load_balancer_type,
        scheme: Scheme::Internal,
        ip_address_type: IpAddressType::Ipv4,
        subnet_mappings: vec![],
        security_groups: vec![],
        customer_owned_ipv4_pool: None,
        ipam_configuration: None,
        minimum_load_balancer_capacity: None,
        enable_prefix_for_ipv6_source_nat: None,
        security_groups_inbound_rules_on_private_link: None,
        load_balancer_attributes: vec![],
        tags: Tags::new(),
    }
}

fn alb_target_group(targets: usize) -> TargetGroupSpec {
    TargetGroupSpec {
        name: "k8s-nlb-80".into(),
        target_type: TargetType::Alb,
        port: 80,
        protocol: Protocol::Tcp,
        protocol_version: None,
        ip_address_type: None,
        health_check_config: None,
        target_group_attributes: vec![],
        target_control_port: None,
        alb_targets: (0..targets)
            .map(|_| AlbTarget {
                load_balancer_arn: Ref::load_balancer_arn().into(),
                port: 80,
            })
            .collect(),
        tags: Tags::new(),
    }
}

fn invalid_field(stack: &Stack) -> Option<String> {
    match super::validate(stack) {
        Ok(()) => None,
        Err(super::DeployError::InvalidStack { field, .. }) => Some(field),
        Err(other) => panic!("{other}"),
    }
}

#[test]
fn a_stack_holds_the_alb_and_its_frontend_nlb_and_no_other_load_balancer() {
    let mut stack = Stack::new("ns/ing");
    stack
        .add_load_balancer(lb_spec("alb", LoadBalancerType::Application))
        .unwrap();
    stack
        .add_frontend_nlb(lb_spec("alb-nlb", LoadBalancerType::Network))
        .unwrap();
    stack
        .add_target_group("FrontendNlb-tg-TCP-80", alb_target_group(1))
        .unwrap();
    assert_eq!(invalid_field(&stack), None);

    // A third one, under any other ID.
    let mut third = stack.clone();
    let extra = third.resources.load_balancers[resource_id::LOAD_BALANCER].clone();
    third.resources.load_balancers.insert("Other".into(), extra);
    assert_eq!(invalid_field(&third).as_deref(), Some("resources"));

    // A frontend NLB needs the ALB, in an IngressGroup's stack, and is an NLB.
    let mut alone = Stack::new("ns/ing");
    alone
        .add_frontend_nlb(lb_spec("alb-nlb", LoadBalancerType::Network))
        .unwrap();
    assert_eq!(invalid_field(&alone).as_deref(), Some("resources"));
    let mut service = stack.clone();
    service.kind = StackKind::Service;
    assert_eq!(invalid_field(&service).as_deref(), Some("resources"));
    let mut application = stack.clone();
    application
        .resources
        .load_balancers
        .get_mut(resource_id::FRONTEND_NLB)
        .unwrap()
        .spec
        .load_balancer_type = LoadBalancerType::Application;
    assert_eq!(invalid_field(&application).as_deref(), Some("type"));

    // An alb target group holds one ALB; other target groups hold none.
    let mut two = stack.clone();
    two.resources
        .target_groups
        .insert("FrontendNlb-tg-TCP-80".into(), {
            let mut tg = stack.resources.target_groups["FrontendNlb-tg-TCP-80"].clone();
            tg.spec = alb_target_group(2);
            tg
        });
    assert_eq!(invalid_field(&two).as_deref(), Some("albTargets"));
    let mut ip = stack.clone();
    ip.resources
        .target_groups
        .get_mut("FrontendNlb-tg-TCP-80")
        .unwrap()
        .spec
        .target_type = TargetType::Ip;
    assert_eq!(invalid_field(&ip).as_deref(), Some("albTargets"));
}

#[test]
fn amending_a_decision_turns_unchanged_into_modify_and_keeps_creates() {
    use super::call::{Ctx, Mode};
    use super::diff::{ChangeKind, FieldChange, ResourceDiff};
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-west-2"))
        .build();
    let clients = super::AwsClients::new(&sdk, &[]);
    let config = super::DeployConfig::new("cluster", "vpc-1");
    let ctx = Ctx::new(
        &clients,
        &config,
        StackKind::Ingress,
        "ns/ing",
        Mode::DryRun,
        Some(0),
    );
    let kept = ResourceRef::new(ResourceType::TargetGroup, "kept");
    let new = ResourceRef::new(ResourceType::TargetGroup, "new");
    let unseen = ResourceRef::new(ResourceType::TargetGroup, "unseen");
    let targets = || vec![FieldChange::values("targets", "a:80", "b:80")];
    ctx.decided(ResourceDiff::existing(&kept, "arn:kept", vec![]));
    ctx.decided(ResourceDiff::create(&new, vec![]));
    ctx.amend(&kept, "arn:kept", targets());
    ctx.amend(&new, "<new TargetGroup new>", targets());
    ctx.amend(&unseen, "arn:unseen", targets());
    ctx.amend(&unseen, "arn:unseen", vec![]);
    let (_, decisions) = ctx.finish();
    let changes: Vec<(ChangeKind, &str, usize)> = decisions
        .iter()
        .map(|d| (d.change, d.resource.id.as_str(), d.fields.len()))
        .collect();
    assert_eq!(
        changes,
        [
            (ChangeKind::Modify, "kept", 1),
            (ChangeKind::Create, "new", 1),
            (ChangeKind::Modify, "unseen", 1),
        ]
    );
}
