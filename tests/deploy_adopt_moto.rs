//! The deployer against moto: listeners and rules on a load balancer of ours are ours by
//! position, tagged or not (as upstream controllers without `ListenerRulesTagging` left them);
//! untagged ones are adopted by adding our tags, another cluster's or stack's are left alone and
//! reported, and a dry run shows all of it without mutating.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;

use aws_io::diff::table;
use aws_io::{
    AwsClients, ChangeKind, DeployError, DeployReport, Deployer, ErrorCategory, FieldChange, Owner,
    ResourceDiff, ResourceRef, StackDiff,
};
use aws_sdk_elasticloadbalancingv2::types as elbv2;
use model::stack::{ResourceType, Stack};
use model::tags::{TAG_CLUSTER, TAG_INGRESS_RESOURCE, TAG_INGRESS_STACK};
use support::inventory::{Inventory, elbv2_tags, inventory};
use support::moto::Account;
use support::{CLUSTER, Network, TG_A, deploy_config, network, path_rule, sample_stack};

const STACK: &str = "ns/ing";
/// Every tag the sample stack puts on its listener and rules.
const OUR_KEYS: [&str; 4] = [
    TAG_CLUSTER,
    TAG_INGRESS_STACK,
    TAG_INGRESS_RESOURCE,
    "owner",
];

async fn setup() -> (Account, Network, Deployer) {
    let account = Account::new().await;
    let net = network(&account.clients).await;
    let deployer = Deployer::new(account.clients.clone(), deploy_config(CLUSTER, &net));
    (account, net, deployer)
}

fn mutating(report: &DeployReport) -> BTreeMap<String, u64> {
    report.calls_by_operation.mutating()
}

fn calls(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

fn listener_ref(id: &str) -> ResourceRef {
    ResourceRef::new(ResourceType::Listener, id)
}

fn rule_ref(id: &str) -> ResourceRef {
    ResourceRef::new(ResourceType::ListenerRule, id)
}

/// The ARNs of the listener on `port` of `lb` and of its rules by priority.
fn arns(inv: &Inventory, lb: &str, port: i32) -> (String, BTreeMap<String, String>) {
    let listener = inv.listeners[&(lb.to_owned(), port)].clone();
    let rules = inv
        .rules
        .iter()
        .filter(|((l, p, _), _)| l == lb && *p == port)
        .map(|((_, _, priority), (arn, _))| (priority.clone(), arn.clone()))
        .collect();
    (listener, rules)
}

/// Takes every tag of ours off some ARNs, as an upstream controller without
/// `ListenerRulesTagging` would have left them.
async fn strip_tags(clients: &AwsClients, arns: &[String]) {
    clients
        .elbv2
        .remove_tags()
        .set_resource_arns(Some(arns.to_vec()))
        .set_tag_keys(Some(OUR_KEYS.iter().map(|k| (*k).to_owned()).collect()))
        .send()
        .await
        .unwrap();
    let left = elbv2_tags(clients, arns).await;
    for arn in arns {
        assert!(
            left.get(arn).is_none_or(BTreeMap::is_empty),
            "{arn}: {left:?}"
        );
    }
}

fn tag(key: &str, value: &str) -> elbv2::Tag {
    elbv2::Tag::builder().key(key).value(value).build()
}

fn fixed_200() -> elbv2::Action {
    elbv2::Action::builder()
        .r#type(elbv2::ActionTypeEnum::FixedResponse)
        .fixed_response_config(
            elbv2::FixedResponseActionConfig::builder()
                .status_code("200")
                .content_type("text/plain")
                .build(),
        )
        .build()
}

/// A rule made outside the deployer, with the given tags (none: untagged).
async fn plain_rule(
    clients: &AwsClients,
    listener: &str,
    priority: i32,
    path: &str,
    tags: Vec<elbv2::Tag>,
) -> String {
    let out = clients
        .elbv2
        .create_rule()
        .listener_arn(listener)
        .priority(priority)
        .conditions(
            elbv2::RuleCondition::builder()
                .field("path-pattern")
                .values(path)
                .build(),
        )
        .actions(fixed_200())
        .set_tags((!tags.is_empty()).then_some(tags))
        .send()
        .await
        .unwrap();
    out.rules()[0].rule_arn().unwrap().to_owned()
}

/// The dry run, checked to have made read calls only.
async fn dry_run(clients: &AwsClients, deployer: &Deployer, stack: &Stack) -> StackDiff {
    let before = clients.calls().snapshot();
    let diff = deployer.diff(stack).await.unwrap();
    let made = clients.calls().snapshot().since(&before);
    assert_eq!(made.mutating_total(), 0, "a dry run only reads: {made}");
    assert_eq!(diff.calls_by_operation.mutating_total(), 0);
    diff
}

fn the_one<'d>(diff: &'d StackDiff, resource: &ResourceRef) -> &'d ResourceDiff {
    let found: Vec<&ResourceDiff> = diff
        .resources
        .iter()
        .filter(|d| &d.resource == resource)
        .collect();
    assert_eq!(found.len(), 1, "{resource}: {diff:#?}");
    found[0]
}

/// The tag fields a modify shows for a resource that has lost all our tags.
fn adoption_fields(resource_id: &str) -> Vec<FieldChange> {
    let mut fields = vec![
        FieldChange::new(format!("tags.{TAG_CLUSTER}"), None, Some(CLUSTER.into())),
        FieldChange::new(
            format!("tags.{TAG_INGRESS_RESOURCE}"),
            None,
            Some(resource_id.into()),
        ),
        FieldChange::new(
            format!("tags.{TAG_INGRESS_STACK}"),
            None,
            Some(STACK.into()),
        ),
        FieldChange::new("tags.owner", None, Some("team-a".into())),
    ];
    fields.sort_by(|a, b| a.field.cmp(&b.field));
    fields
}

fn sorted_fields(diff: &ResourceDiff) -> Vec<FieldChange> {
    let mut fields = diff.fields.clone();
    fields.sort_by(|a, b| a.field.cmp(&b.field));
    fields
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untagged_listener_and_rules_on_our_load_balancer_are_adopted_not_duplicated() {
    let (account, net, deployer) = setup().await;
    let clients = &account.clients;
    let stack = sample_stack(&net, STACK, "adopt");
    deployer.deploy(&stack).await.unwrap();
    let (listener, rules) = arns(&inventory(clients).await, "adopt-lb", 80);
    assert_eq!(rules.keys().collect::<Vec<_>>(), ["1", "2"]);

    // As an upstream controller without rule tagging leaves things: nothing but the load
    // balancer (and target groups, security group) carries our tags, and an old path's rule
    // is still there.
    let mut untagged: Vec<String> = rules.values().cloned().collect();
    untagged.push(listener.clone());
    strip_tags(clients, &untagged).await;
    let leftover = plain_rule(clients, &listener, 3, "/old", vec![]).await;

    let report = deployer.deploy(&stack).await.unwrap();
    assert_eq!(
        mutating(&report),
        calls(&[("AddTags", 3), ("DeleteRule", 1)]),
        "adopted in place, no duplicate listener, no rule recreated; calls: {}",
        report.calls_by_operation
    );
    assert!(report.created.is_empty(), "{:?}", report.created);
    let mut modified: Vec<(ResourceRef, String)> = report
        .modified
        .iter()
        .map(|c| (c.resource.clone(), c.aws_id.clone()))
        .collect();
    modified.sort();
    let mut wanted = vec![
        (listener_ref("80"), listener.clone()),
        (rule_ref("80:1"), rules["1"].clone()),
        (rule_ref("80:2"), rules["2"].clone()),
    ];
    wanted.sort();
    assert_eq!(modified, wanted);
    // The stale untagged rule goes, named by its position.
    assert_eq!(report.deleted.len(), 1, "{:?}", report.deleted);
    assert_eq!(report.deleted[0].resource, rule_ref("80:3"));
    assert_eq!(report.deleted[0].aws_id, leftover);
    assert!(report.foreign.is_empty(), "{:?}", report.foreign);

    // Same ARNs as before, our tags back on them.
    let inv = inventory(clients).await;
    assert_eq!(inv.listeners.len(), 1, "{:?}", inv.listeners);
    let (listener_after, rules_after) = arns(&inv, "adopt-lb", 80);
    assert_eq!(listener_after, listener);
    assert_eq!(rules_after, rules);
    let tags = elbv2_tags(clients, std::slice::from_ref(&listener)).await;
    assert_eq!(tags[&listener][TAG_CLUSTER], CLUSTER);
    assert_eq!(tags[&listener][TAG_INGRESS_STACK], STACK);
    assert_eq!(tags[&listener][TAG_INGRESS_RESOURCE], "80");
    assert_eq!(tags[&listener]["owner"], "team-a");
    for (priority, id) in [("1", "80:1"), ("2", "80:2")] {
        let (_, rule_tags) = &inv.rules[&("adopt-lb".to_owned(), 80, priority.to_owned())];
        assert_eq!(rule_tags[TAG_CLUSTER], CLUSTER);
        assert_eq!(rule_tags[TAG_INGRESS_STACK], STACK);
        assert_eq!(rule_tags[TAG_INGRESS_RESOURCE], id);
    }

    // Adopted, it is like any converged stack: nothing to do, and few reads.
    let resync = deployer.deploy(&stack).await.unwrap();
    assert_eq!(
        mutating(&resync),
        BTreeMap::new(),
        "calls: {}",
        resync.calls_by_operation
    );
    assert!(resync.modified.is_empty() && resync.created.is_empty());
    assert!(
        resync.calls_by_operation.read_total() <= 8,
        "{}",
        resync.calls_by_operation
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dry_run_shows_the_adoption_and_only_reads() {
    let (account, net, deployer) = setup().await;
    let clients = &account.clients;
    let stack = sample_stack(&net, STACK, "adry");
    deployer.deploy(&stack).await.unwrap();
    let (listener, rules) = arns(&inventory(clients).await, "adry-lb", 80);
    let mut untagged: Vec<String> = rules.values().cloned().collect();
    untagged.push(listener.clone());
    strip_tags(clients, &untagged).await;
    let leftover = plain_rule(clients, &listener, 3, "/old", vec![]).await;

    let diff = dry_run(clients, &deployer, &stack).await;
    assert!(diff.has_changes());
    let l = the_one(&diff, &listener_ref("80"));
    assert_eq!(l.change, ChangeKind::Modify);
    assert_eq!(l.aws_id.as_deref(), Some(listener.as_str()));
    assert_eq!(sorted_fields(l), adoption_fields("80"));
    for (priority, id) in [("1", "80:1"), ("2", "80:2")] {
        let r = the_one(&diff, &rule_ref(id));
        assert_eq!(r.change, ChangeKind::Modify, "{r:?}");
        assert_eq!(r.aws_id.as_ref(), Some(&rules[priority]));
        assert_eq!(sorted_fields(r), adoption_fields(id));
    }
    let stale = the_one(&diff, &rule_ref("80:3"));
    assert_eq!(stale.change, ChangeKind::Delete);
    assert_eq!(stale.aws_id.as_deref(), Some(leftover.as_str()));
    assert!(
        diff.of_kind(ChangeKind::Create).next().is_none(),
        "{diff:#?}"
    );
    let shown = table(std::slice::from_ref(&diff));
    assert!(
        shown.contains(&format!("tags.{TAG_CLUSTER}: (none) -> \"{CLUSTER}\"")),
        "{shown}"
    );
    assert!(shown.contains("~ 3 to modify, - 1 to delete"), "{shown}");

    // Nothing changed: the tags are still off, and the deploy then does what the diff said.
    let inv = inventory(clients).await;
    assert!(inv.rules.values().all(|(_, tags)| tags.is_empty()));
    let report = deployer.deploy(&stack).await.unwrap();
    let mut predicted: Vec<ResourceRef> = diff
        .of_kind(ChangeKind::Modify)
        .map(|d| d.resource.clone())
        .collect();
    predicted.sort();
    let mut done: Vec<ResourceRef> = report.modified.iter().map(|c| c.resource.clone()).collect();
    done.sort();
    assert_eq!(predicted, done);
    let again = dry_run(clients, &deployer, &stack).await;
    assert!(!again.has_changes(), "{again:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_stacks_listener_and_rule_on_our_load_balancer_survive_and_are_reported() {
    let (account, net, deployer) = setup().await;
    let clients = &account.clients;
    let mut stack = sample_stack(&net, STACK, "shared");
    let first = deployer.deploy(&stack).await.unwrap();
    let lb_arn = first.load_balancer_arn.clone().unwrap();
    let (listener, _) = arns(&inventory(clients).await, "shared-lb", 80);

    // Another stack of this cluster put a rule on our listener; another cluster a listener on
    // our load balancer.
    let other_rule = plain_rule(
        clients,
        &listener,
        7,
        "/other",
        vec![
            tag(TAG_CLUSTER, CLUSTER),
            tag(TAG_INGRESS_STACK, "ns/other"),
            tag(TAG_INGRESS_RESOURCE, "80:7"),
        ],
    )
    .await;
    let other_listener = clients
        .elbv2
        .create_listener()
        .load_balancer_arn(&lb_arn)
        .port(8081)
        .protocol(elbv2::ProtocolEnum::Http)
        .default_actions(fixed_200())
        .tags(tag(TAG_CLUSTER, "other-cluster"))
        .tags(tag(TAG_INGRESS_STACK, STACK))
        .send()
        .await
        .unwrap()
        .listeners()[0]
        .listener_arn()
        .unwrap()
        .to_owned();
    let other_rule_owner = Owner {
        cluster: Some(CLUSTER.into()),
        stack: Some("ns/other".into()),
    };
    let other_listener_owner = Owner {
        cluster: Some("other-cluster".into()),
        stack: Some(STACK.into()),
    };

    // The dry run reports both and plans nothing for them.
    let diff = dry_run(clients, &deployer, &stack).await;
    assert!(!diff.has_changes(), "{diff:#?}");
    let mut foreign: Vec<(ResourceRef, String, Owner)> = diff
        .foreign
        .iter()
        .map(|f| (f.resource.clone(), f.aws_id.clone(), f.owner.clone()))
        .collect();
    foreign.sort();
    let mut wanted = vec![
        (
            listener_ref("8081"),
            other_listener.clone(),
            other_listener_owner.clone(),
        ),
        (
            rule_ref("80:7"),
            other_rule.clone(),
            other_rule_owner.clone(),
        ),
    ];
    wanted.sort();
    assert_eq!(foreign, wanted);
    let shown = table(std::slice::from_ref(&diff));
    assert!(
        shown.contains("left alone: belongs to cluster \"test-cluster\" stack \"ns/other\""),
        "{shown}"
    );

    // The deploy leaves them be and says so.
    let report = deployer.deploy(&stack).await.unwrap();
    assert_eq!(
        mutating(&report),
        BTreeMap::new(),
        "calls: {}",
        report.calls_by_operation
    );
    assert_eq!(report.foreign, diff.foreign);

    // A path removed from the stack goes; their rule and listener stay, tags and all.
    stack.resources.listener_rules.remove("80:2");
    let report = deployer.deploy(&stack).await.unwrap();
    assert_eq!(mutating(&report), calls(&[("DeleteRule", 1)]));
    let inv = inventory(clients).await;
    let (_, tags) = &inv.rules[&("shared-lb".to_owned(), 80, "7".to_owned())];
    assert_eq!(tags[TAG_INGRESS_STACK], "ns/other");
    assert!(inv.listeners.contains_key(&("shared-lb".to_owned(), 8081)));
    assert_eq!(
        elbv2_tags(clients, std::slice::from_ref(&other_listener)).await[&other_listener]
            [TAG_CLUSTER],
        "other-cluster"
    );

    // Wanting the priority their rule holds is an error naming the rule and its owner, in
    // the dry run and the deploy alike; nothing is changed.
    let mut wants_seven = stack.clone();
    wants_seven
        .add_listener_rule(80, path_rule(80, 7, "/seven", TG_A))
        .unwrap();
    let before = clients.calls().snapshot();
    for err in [
        deployer
            .diff(&wants_seven)
            .await
            .expect_err("priority 7 is taken"),
        deployer
            .deploy(&wants_seven)
            .await
            .expect_err("priority 7 is taken"),
    ] {
        assert_eq!(err.category(), ErrorCategory::Conflict, "{err}");
        assert_eq!(err.resource(), Some(&rule_ref("80:7")));
        let DeployError::OwnedByOther {
            owner, existing, ..
        } = &err
        else {
            panic!("not OwnedByOther: {err}");
        };
        assert_eq!(**owner, other_rule_owner);
        assert!(existing.contains(&other_rule), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("\"ns/other\"") && text.contains("priority 7"),
            "{text}"
        );
    }
    assert_eq!(
        clients.calls().snapshot().since(&before).mutating_total(),
        0
    );

    // Likewise the port their listener holds.
    let mut wants_8081 = stack.clone();
    let mut spec = wants_8081.resources.listeners["80"].spec.clone();
    spec.port = 8081;
    wants_8081.add_listener(spec).unwrap();
    let err = deployer
        .deploy(&wants_8081)
        .await
        .expect_err("port 8081 is taken");
    assert_eq!(err.category(), ErrorCategory::Conflict, "{err}");
    assert_eq!(err.resource(), Some(&listener_ref("8081")));
    let text = err.to_string();
    assert!(
        text.contains(&other_listener) && text.contains("\"other-cluster\""),
        "{text}"
    );
    let inv = inventory(clients).await;
    assert_eq!(
        inv.listeners
            .keys()
            .filter(|(lb, port)| lb == "shared-lb" && *port == 8081)
            .count(),
        1,
        "no second listener on 8081"
    );
}
