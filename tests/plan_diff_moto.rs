//! The deployer's dry run against moto: it reports exactly what a deploy then does (creates,
//! modifies with the drifted fields, deletes, unchanged), makes only read calls, finds stacks
//! of the cluster that are no longer planned; and `plan --diff` shows it on the command line.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use aws_io::{
    AwsClients, ChangeKind, DeployReport, Deployer, DiffSummary, FieldChange, ResourceDiff,
    ResourceRef, StackDiff,
};
use model::stack::{Action, Ref, ResourceType, Scheme, Stack, TargetGroupSpec};
use support::moto::{Account, MotoServer, REGION, sdk_config};
use support::{CLUSTER, Network, TG_A, TG_B, deploy_config, network, path_rule, sample_stack};

async fn setup() -> (Account, Network, Deployer) {
    let account = Account::new().await;
    let net = network(&account.clients).await;
    let deployer = Deployer::new(account.clients.clone(), deploy_config(CLUSTER, &net));
    (account, net, deployer)
}

/// The dry run, checked to have made read calls only (by its own tally and by the clients'
/// counter).
async fn dry_run(clients: &AwsClients, deployer: &Deployer, stack: &Stack) -> StackDiff {
    let before = clients.calls().snapshot();
    let diff = deployer.diff(stack).await.unwrap();
    assert_dry(clients, &before, &diff);
    diff
}

fn assert_dry(clients: &AwsClients, before: &aws_io::CallSnapshot, diff: &StackDiff) {
    let made = clients.calls().snapshot().since(before);
    assert_eq!(
        made.mutating_total(),
        0,
        "a dry run only reads; calls {made}"
    );
    assert_eq!(diff.calls_by_operation.mutating_total(), 0);
    assert!(diff.calls_by_operation.read_total() > 0);
}

fn tg_mut<'a>(stack: &'a mut Stack, id: &str) -> &'a mut TargetGroupSpec {
    &mut stack.resources.target_groups.get_mut(id).unwrap().spec
}

fn r(resource_type: ResourceType, id: &str) -> ResourceRef {
    ResourceRef::new(resource_type, id)
}

/// The resources a change of one kind touches, in order.
fn refs(diff: &StackDiff, change: ChangeKind) -> Vec<ResourceRef> {
    diff.of_kind(change).map(|d| d.resource.clone()).collect()
}

fn sorted(mut refs: Vec<ResourceRef>) -> Vec<ResourceRef> {
    refs.sort();
    refs
}

/// The deploy did what the dry run said it would, resource for resource.
fn assert_predicted(diff: &StackDiff, report: &DeployReport) {
    let of = |changes: &[aws_io::ResourceChange]| {
        sorted(changes.iter().map(|c| c.resource.clone()).collect())
    };
    assert_eq!(sorted(refs(diff, ChangeKind::Create)), of(&report.created));
    assert_eq!(sorted(refs(diff, ChangeKind::Modify)), of(&report.modified));
    assert_eq!(sorted(refs(diff, ChangeKind::Delete)), of(&report.deleted));
    // Existing resources are named by the ARN the deploy acted on.
    for change in report.modified.iter().chain(&report.deleted) {
        assert!(
            diff.resources.iter().any(|d| d.resource == change.resource
                && d.aws_id.as_deref() == Some(change.aws_id.as_str())),
            "{change:?} not in {diff:#?}"
        );
    }
}

fn the_one<'d>(diff: &'d StackDiff, resource: &ResourceRef) -> &'d ResourceDiff {
    let found: Vec<&ResourceDiff> = diff
        .resources
        .iter()
        .filter(|d| &d.resource == resource && d.change != ChangeKind::Delete)
        .collect();
    assert_eq!(found.len(), 1, "{resource}: {diff:#?}");
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_stack_diffs_as_all_unchanged() {
    let (account, net, deployer) = setup().await;
    let stack = sample_stack(&net, "ns/ing", "same");
    let report = deployer.deploy(&stack).await.unwrap();

    let diff = dry_run(&account.clients, &deployer, &stack).await;
    assert!(!diff.has_changes(), "{diff:#?}");
    assert_eq!(
        diff.summary(),
        DiffSummary {
            unchanged: 7,
            ..DiffSummary::default()
        }
    );
    // In the order a deploy acts, each with its AWS identity.
    let order: Vec<(ResourceType, &str)> = diff
        .resources
        .iter()
        .map(|d| (d.resource.resource_type, d.resource.id.as_str()))
        .collect();
    assert_eq!(
        order,
        [
            (ResourceType::SecurityGroup, "ManagedLBSecurityGroup"),
            (ResourceType::TargetGroup, TG_A),
            (ResourceType::TargetGroup, TG_B),
            (ResourceType::LoadBalancer, "LoadBalancer"),
            (ResourceType::Listener, "80"),
            (ResourceType::ListenerRule, "80:1"),
            (ResourceType::ListenerRule, "80:2"),
        ]
    );
    let lb = the_one(&diff, &r(ResourceType::LoadBalancer, "LoadBalancer"));
    assert_eq!(lb.aws_id, report.load_balancer_arn);
    let tg = the_one(&diff, &r(ResourceType::TargetGroup, TG_B));
    assert_eq!(tg.aws_id.as_ref(), report.target_group_arns.get(TG_B));
    assert!(diff.resources.iter().all(|d| d.fields.is_empty()));
    // A dry run of a converged stack reads no more than the converged deploy does.
    let resync = deployer.deploy(&stack).await.unwrap();
    assert_eq!(
        diff.calls_by_operation.reads(),
        resync.calls_by_operation.reads()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_stack_diffs_as_exactly_its_changes_without_mutating() {
    let (account, net, deployer) = setup().await;
    let mut stack = sample_stack(&net, "ns/ing", "chg");
    let first = deployer.deploy(&stack).await.unwrap();

    // Health-check path, a new rule, and target group b removed (its rule now forwards to a).
    tg_mut(&mut stack, TG_A)
        .health_check_config
        .as_mut()
        .unwrap()
        .path = Some("/ready".into());
    stack
        .add_listener_rule(80, path_rule(80, 3, "/c", TG_A))
        .unwrap();
    stack.resources.target_groups.remove(TG_B);
    stack.resources.target_group_bindings.remove(TG_B);
    stack
        .resources
        .listener_rules
        .get_mut("80:2")
        .unwrap()
        .spec
        .actions = vec![Action::forward_to(Ref::target_group_arn(TG_A))];

    let before_inventory = support::inventory::inventory(&account.clients).await;
    let diff = dry_run(&account.clients, &deployer, &stack).await;
    assert_eq!(
        diff.summary(),
        DiffSummary {
            create: 1,
            modify: 2,
            delete: 1,
            unchanged: 4
        },
        "{diff:#?}"
    );
    assert_eq!(
        refs(&diff, ChangeKind::Create),
        [r(ResourceType::ListenerRule, "80:3")]
    );
    assert_eq!(
        refs(&diff, ChangeKind::Modify),
        [
            r(ResourceType::TargetGroup, TG_A),
            r(ResourceType::ListenerRule, "80:2")
        ]
    );
    let tg_a = the_one(&diff, &r(ResourceType::TargetGroup, TG_A));
    assert_eq!(
        tg_a.fields,
        [FieldChange::values("healthCheckPath", "/healthz", "/ready")]
    );
    assert_eq!(
        tg_a.aws_id.as_ref(),
        first.target_group_arns.get(TG_A),
        "the existing target group is named"
    );
    let rule = the_one(&diff, &r(ResourceType::ListenerRule, "80:2"));
    let fields: Vec<&str> = rule.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["actions"], "{rule:#?}");
    let (from, to) = (
        rule.fields[0].from.as_deref().unwrap(),
        rule.fields[0].to.as_deref().unwrap(),
    );
    assert!(from.contains(&first.target_group_arns[TG_B]), "{from}");
    assert!(to.contains(&first.target_group_arns[TG_A]), "{to}");
    let deleted: Vec<&ResourceDiff> = diff.of_kind(ChangeKind::Delete).collect();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].resource, r(ResourceType::TargetGroup, TG_B));
    assert_eq!(
        deleted[0].aws_id.as_ref(),
        first.target_group_arns.get(TG_B)
    );
    assert_eq!(
        support::inventory::inventory(&account.clients).await.rules,
        before_inventory.rules,
        "nothing changed in AWS"
    );

    // The deploy does just that; afterwards there is nothing left to do.
    let report = deployer.deploy(&stack).await.unwrap();
    assert_predicted(&diff, &report);
    assert_eq!(
        report.calls_by_operation.mutating(),
        [
            ("CreateRule".to_owned(), 1),
            ("DeleteTargetGroup".to_owned(), 1),
            ("ModifyRule".to_owned(), 1),
            ("ModifyTargetGroup".to_owned(), 1),
        ]
        .into_iter()
        .collect()
    );
    let after = dry_run(&account.clients, &deployer, &stack).await;
    assert!(!after.has_changes(), "{after:#?}");
    assert_eq!(after.summary().unchanged, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacements_and_new_resources_show_placeholders_for_what_does_not_exist_yet() {
    let (account, net, deployer) = setup().await;

    // Nothing deployed yet: everything is a create, in deploy order.
    let mut stack = sample_stack(&net, "ns/ing", "rep");
    let fresh = dry_run(&account.clients, &deployer, &stack).await;
    assert_eq!(
        fresh.summary(),
        DiffSummary {
            create: 7,
            ..DiffSummary::default()
        }
    );
    assert!(fresh.resources.iter().all(|d| d.aws_id.is_none()));
    assert!(
        support::inventory::inventory(&account.clients)
            .await
            .load_balancers
            .is_empty()
    );
    let created = deployer.deploy(&stack).await.unwrap();
    assert_predicted(&fresh, &created);

    // A target group whose port changes is replaced: the rule forwarding to it is modified to
    // point at the new one, which has no ARN yet.
    let tg = tg_mut(&mut stack, TG_B);
    tg.port = 30081;
    tg.name = "rep-b2".into();
    let diff = dry_run(&account.clients, &deployer, &stack).await;
    let creates: Vec<&ResourceDiff> = diff.of_kind(ChangeKind::Create).collect();
    assert_eq!(creates.len(), 1, "{diff:#?}");
    assert_eq!(creates[0].resource, r(ResourceType::TargetGroup, TG_B));
    assert_eq!(
        creates[0].fields,
        [FieldChange::values("name", "rep-b", "rep-b2")],
        "the immutable field that forces the replacement"
    );
    let rule = the_one(&diff, &r(ResourceType::ListenerRule, "80:2"));
    assert_eq!(rule.change, ChangeKind::Modify);
    let to = rule.fields[0].to.as_deref().unwrap();
    assert!(
        to.contains("<new TargetGroup ns/ing-svc-b:http>"),
        "placeholder for the new target group: {to}"
    );
    assert_eq!(
        refs(&diff, ChangeKind::Delete),
        [r(ResourceType::TargetGroup, TG_B)]
    );
    let report = deployer.deploy(&stack).await.unwrap();
    assert_predicted(&diff, &report);

    // A scheme change under the same name: the load balancer goes first, then everything on it
    // is created again.
    stack
        .resources
        .load_balancers
        .get_mut("LoadBalancer")
        .unwrap()
        .spec
        .scheme = Scheme::Internal;
    let diff = dry_run(&account.clients, &deployer, &stack).await;
    let kinds: Vec<(ChangeKind, ResourceType)> = diff
        .resources
        .iter()
        .filter(|d| d.change != ChangeKind::Unchanged)
        .map(|d| (d.change, d.resource.resource_type))
        .collect();
    assert_eq!(
        kinds,
        [
            (ChangeKind::Delete, ResourceType::LoadBalancer),
            (ChangeKind::Create, ResourceType::LoadBalancer),
            (ChangeKind::Create, ResourceType::Listener),
            (ChangeKind::Create, ResourceType::ListenerRule),
            (ChangeKind::Create, ResourceType::ListenerRule),
        ]
    );
    let lb = the_one(&diff, &r(ResourceType::LoadBalancer, "LoadBalancer"));
    assert_eq!(
        lb.fields,
        [FieldChange::values("scheme", "internet-facing", "internal")]
    );
    let report = deployer.deploy(&stack).await.unwrap();
    assert_predicted(&diff, &report);
    let after = dry_run(&account.clients, &deployer, &stack).await;
    assert!(!after.has_changes(), "{after:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_in_aws_that_is_not_planned_shows_as_deleted() {
    let (account, net, deployer) = setup().await;
    let kept = sample_stack(&net, "ns/kept", "kept");
    let gone = sample_stack(&net, "ns/gone", "gone");
    deployer.deploy(&kept).await.unwrap();
    let gone_report = deployer.deploy(&gone).await.unwrap();
    // Another cluster's stack in the same account is none of our business.
    let other = Deployer::new(
        account.clients.clone(),
        deploy_config("other-cluster", &net),
    );
    other
        .deploy(&sample_stack(&net, "ns/other", "oth"))
        .await
        .unwrap();

    assert_eq!(
        deployer.stack_ids().await.unwrap(),
        BTreeSet::from(["ns/gone".to_owned(), "ns/kept".to_owned()])
    );

    let before = account.clients.calls().snapshot();
    let diffs = deployer
        .diff_all(std::slice::from_ref(&kept))
        .await
        .unwrap();
    let made = account.clients.calls().snapshot().since(&before);
    assert_eq!(made.mutating_total(), 0, "{made}");
    let ids: Vec<(&str, bool)> = diffs
        .iter()
        .map(|d| (d.stack_id.as_str(), d.no_longer_planned))
        .collect();
    assert_eq!(ids, [("ns/kept", false), ("ns/gone", true)]);
    assert!(!diffs[0].has_changes());
    let deleted = &diffs[1];
    assert_eq!(
        deleted.summary(),
        DiffSummary {
            delete: 4,
            ..DiffSummary::default()
        },
        "listeners and rules go with their load balancer: {deleted:#?}"
    );
    assert_eq!(
        refs(deleted, ChangeKind::Delete),
        [
            r(ResourceType::LoadBalancer, "LoadBalancer"),
            r(ResourceType::TargetGroup, TG_A),
            r(ResourceType::TargetGroup, TG_B),
            r(ResourceType::SecurityGroup, "ManagedLBSecurityGroup"),
        ]
    );
    assert!(
        deleted
            .resources
            .iter()
            .any(|d| d.aws_id == gone_report.load_balancer_arn)
    );

    let report = deployer.delete("ns/gone").await.unwrap();
    assert_predicted(deleted, &report);
    assert_eq!(
        deployer.stack_ids().await.unwrap(),
        BTreeSet::from(["ns/kept".to_owned()])
    );
}

// ---------------------------------------------------------------------------------------------
// `plan --diff` on the command line

const CLI_CLUSTER: &str = "cli-cluster";

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("plan-diff-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// The example manifests (without their offline ClusterFacts) plus ClusterFacts describing the
/// moto network.
fn write_manifests(dir: &Path, net: &Network, healthcheck_path: &str) {
    for name in [
        "00-ingress-class.yaml",
        "10-services.yaml",
        "20-ingresses.yaml",
    ] {
        let text = std::fs::read_to_string(examples().join(name)).unwrap();
        let text = if name.starts_with("20-") {
            let old = "alb.ingress.kubernetes.io/healthcheck-path: /\n";
            assert!(text.contains(old), "the example sets the health-check path");
            text.replace(
                old,
                &format!("alb.ingress.kubernetes.io/healthcheck-path: {healthcheck_path}\n"),
            )
        } else {
            text
        };
        std::fs::write(dir.join(name), text).unwrap();
    }
    let subnets: Vec<serde_json::Value> = net
        .subnets
        .iter()
        .zip(["us-west-2a", "us-west-2b", "us-west-2c"])
        .map(|(id, az)| {
            serde_json::json!({"id": id, "az": az, "vpcId": net.vpc_id, "availableIps": 250,
                               "tags": {"kubernetes.io/role/elb": "1"}})
        })
        .collect();
    let facts = serde_json::json!({
        "apiVersion": "plan.elbv2.k8s.aws/v1",
        "kind": "ClusterFacts",
        "clusterName": CLI_CLUSTER,
        "vpcId": net.vpc_id,
        "backendSecurityGroup": net.backend_sg,
        "subnets": subnets,
    });
    std::fs::write(
        dir.join("30-cluster-facts.yaml"),
        serde_json::to_string_pretty(&facts).unwrap(),
    )
    .unwrap();
}

/// The stacks `plan` builds from a directory.
fn planned(dir: &Path) -> Vec<Stack> {
    use model::ClusterFacts;
    let manifests = aws_load_balancer_controller::manifests::load(&[dir.to_path_buf()]).unwrap();
    let facts =
        model::facts::overlay(&ClusterFacts::new("", ""), &manifests.cluster_facts).unwrap();
    model::plan::plan(&manifests, &facts).unwrap()
}

/// Runs `plan --diff` against the moto server (its default account); stdout, stderr.
fn plan_diff_cli(server: &MotoServer, dir: &Path, output: &str) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_aws-load-balancer-controller"))
        .args(["plan", "--diff", "-o", output, "-f"])
        .arg(dir)
        .env("AWS_ENDPOINT_URL", server.endpoint())
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env_remove("CLUSTER_NAME")
        .env_remove("AWS_VPC_ID")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        out.status.success(),
        "plan --diff failed: {stderr}\n{stdout}"
    );
    (stdout, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_diff_on_the_command_line_shows_creates_then_drift_then_unplanned_groups() {
    // The only test that uses moto's default account, which the command's clients land in.
    let server = MotoServer::shared();
    let clients = AwsClients::new(&sdk_config(server.endpoint()).await, &[]);
    let net = network(&clients).await;
    let scratch = Scratch::new("cli");
    write_manifests(&scratch.0, &net, "/");

    // Nothing deployed: the shop group is all creates.
    let (table, stderr) = plan_diff_cli(&server, &scratch.0, "table");
    assert!(
        table.starts_with(
            "IngressGroup shop: + 7 to create, ~ 0 to modify, - 0 to delete, = 0 unchanged\n"
        ),
        "{table}"
    );
    assert!(table.contains("  + LoadBalancer"), "{table}");
    assert!(stderr.contains(", 0 mutating"), "{stderr}");
    let inventory = support::inventory::inventory(&clients).await;
    assert!(
        inventory.load_balancers.is_empty() && inventory.target_groups.is_empty(),
        "the command created nothing"
    );

    // Deployed as planned, then the health-check path changes in the manifest.
    let deployer = Deployer::new(clients.clone(), deploy_config(CLI_CLUSTER, &net));
    let stacks = planned(&scratch.0);
    for stack in &stacks {
        deployer.deploy(stack).await.unwrap();
    }
    let (table, _) = plan_diff_cli(&server, &scratch.0, "table");
    assert!(
        table.starts_with(
            "IngressGroup shop: + 0 to create, ~ 0 to modify, - 0 to delete, = 7 unchanged\n"
        ),
        "{table}"
    );
    write_manifests(&scratch.0, &net, "/healthz");
    let (table, _) = plan_diff_cli(&server, &scratch.0, "table");
    assert!(
        table.starts_with(
            "IngressGroup shop: + 0 to create, ~ 1 to modify, - 0 to delete, = 6 unchanged\n"
        ),
        "{table}"
    );
    assert!(
        table.contains("  ~ TargetGroup   shop/storefront-web:http")
            && table.contains("      healthCheckPath: \"/\" -> \"/healthz\"\n"),
        "{table}"
    );
    let (json, _) = plan_diff_cli(&server, &scratch.0, "json");
    let diffs: serde_json::Value = serde_json::from_str(&json).unwrap();
    let modified: Vec<&serde_json::Value> = diffs[0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["change"] == "modify")
        .collect();
    assert_eq!(modified.len(), 1, "{json}");
    assert_eq!(
        modified[0]["type"],
        "AWS::ElasticLoadBalancingV2::TargetGroup"
    );
    assert_eq!(
        modified[0]["fields"],
        serde_json::json!([{"field": "healthCheckPath", "from": "/", "to": "/healthz"}])
    );
    assert!(
        modified[0]["awsID"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:")
    );

    // The Ingresses are gone from the manifests: the group is no longer planned and everything
    // of it in AWS would be deleted; the NLB Service of the examples stays as it is.
    std::fs::remove_file(scratch.0.join("20-ingresses.yaml")).unwrap();
    let (table, _) = plan_diff_cli(&server, &scratch.0, "table");
    assert!(
        table.starts_with(
            "Service shop/echo: + 0 to create, ~ 0 to modify, - 0 to delete, = 4 unchanged\n"
        ) && table.contains(
            "\nIngressGroup shop (no longer planned): + 0 to create, ~ 0 to modify, - 4 to delete, = 0 unchanged\n"
        ),
        "{table}"
    );
    assert_eq!(
        deployer.stack_ids().await.unwrap(),
        BTreeSet::from(["shop".to_owned()]),
        "still there: the command changed nothing"
    );
}

#[test]
fn plan_diff_without_a_cluster_name_is_refused_before_any_call() {
    let out = Command::new(env!("CARGO_BIN_EXE_aws-load-balancer-controller"))
        .args(["plan", "--diff", "-f"])
        .arg(examples().join("00-ingress-class.yaml"))
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env_remove("CLUSTER_NAME")
        .env_remove("AWS_VPC_ID")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("--diff needs the cluster name and VPC ID"),
        "{stderr}"
    );
}
