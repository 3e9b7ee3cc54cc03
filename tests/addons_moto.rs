//! Load balancer add-ons against moto: WAFv2 Web ACL associations (associate, unchanged
//! re-sync, `none`, by name, absent = left alone, dry run, `--enable-wafv2=false`).
//!
//! moto 5.2.5 answers `waf-regional` and Shield's `GetSubscriptionState` with HTTP 500 (not
//! implemented), so WAF Classic and Shield are covered by the decision tests in
//! `crates/aws/src/addons/tests.rs`; here only their flags are checked (a disabled add-on makes no
//! call at all). moto also keeps a second `AssociateWebACL` on an associated load balancer as a
//! second association instead of replacing the first, so replacing a Web ACL is not tested here.

#![allow(clippy::unwrap_used)]

mod support;

use aws_io::{ChangeKind, DeployConfig, DeployReport, Deployer};
use aws_sdk_wafv2::types::{DefaultAction, Scope, VisibilityConfig};
use model::stack::{
    Ref, ResourceType, ShieldProtectionSpec, Stack, WafRegionalWebAclAssociationSpec,
    WafV2WebAclAssociationSpec,
};
use support::moto::Account;
use support::{CLUSTER, Network, deploy_config, network, sample_stack};

const STACK_ID: &str = "ns/ing";

async fn setup() -> (Account, Network) {
    let account = Account::new().await;
    let net = network(&account.clients).await;
    (account, net)
}

fn deployer(account: &Account, config: DeployConfig) -> Deployer {
    Deployer::new(account.clients.clone(), config)
}

/// Creates a regional Web ACL and returns its ARN.
async fn web_acl(account: &Account, name: &str) -> String {
    let created = account
        .clients
        .wafv2
        .create_web_acl()
        .name(name)
        .scope(Scope::Regional)
        .default_action(DefaultAction::builder().build())
        .visibility_config(
            VisibilityConfig::builder()
                .sampled_requests_enabled(false)
                .cloud_watch_metrics_enabled(false)
                .metric_name(name)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create web ACL");
    created
        .summary()
        .and_then(|s| s.arn())
        .expect("web ACL ARN")
        .to_owned()
}

/// The ARN of the Web ACL AWS has associated with `lb_arn`, if any.
async fn associated(account: &Account, lb_arn: &str) -> Option<String> {
    let found = account
        .clients
        .wafv2
        .get_web_acl_for_resource()
        .resource_arn(lb_arn)
        .send()
        .await
        .expect("get web ACL for resource");
    found.web_acl().map(|acl| acl.arn().to_owned())
}

fn with_wafv2(mut stack: Stack, arn: &str, name: Option<&str>) -> Stack {
    stack
        .add_wafv2_web_acl_association(WafV2WebAclAssociationSpec {
            web_acl_arn: arn.to_owned(),
            web_acl_name: name.map(str::to_owned),
            resource_arn: Ref::load_balancer_arn().into(),
        })
        .unwrap();
    stack
}

fn lb_arn(report: &DeployReport) -> String {
    report.load_balancer_arn.clone().expect("load balancer ARN")
}

fn count(report: &DeployReport, operation: &str) -> u64 {
    report.calls_by_operation.count(operation)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wafv2_arn_is_associated_and_an_unchanged_resync_makes_no_mutating_call() {
    let (account, net) = setup().await;
    let acl = web_acl(&account, "shop").await;
    let deployer = deployer(&account, deploy_config(CLUSTER, &net));
    let stack = with_wafv2(sample_stack(&net, STACK_ID, "waf"), &acl, None);

    let report = deployer.deploy(&stack).await.unwrap();
    let lb = lb_arn(&report);
    assert_eq!(
        count(&report, "AssociateWebACL"),
        1,
        "{}",
        report.calls_by_operation
    );
    assert_eq!(
        associated(&account, &lb).await.as_deref(),
        Some(acl.as_str())
    );
    assert!(
        report.created.iter().any(|c| c.resource.resource_type
            == ResourceType::WafV2WebAclAssociation
            && c.aws_id == lb),
        "{:?}",
        report.created
    );

    let again = deployer.deploy(&stack).await.unwrap();
    assert_eq!(
        again.calls_by_operation.mutating_total(),
        0,
        "{}",
        again.calls_by_operation
    );
    assert_eq!(count(&again, "GetWebACLForResource"), 1);
    assert!(again.created.is_empty() && again.modified.is_empty() && again.deleted.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn none_disassociates() {
    let (account, net) = setup().await;
    let acl = web_acl(&account, "shop").await;
    let deployer = deployer(&account, deploy_config(CLUSTER, &net));
    let report = deployer
        .deploy(&with_wafv2(sample_stack(&net, STACK_ID, "waf"), &acl, None))
        .await
        .unwrap();
    let lb = lb_arn(&report);

    let none = with_wafv2(sample_stack(&net, STACK_ID, "waf"), "", None);
    let report = deployer.deploy(&none).await.unwrap();
    assert_eq!(
        report.calls_by_operation.mutating(),
        [("DisassociateWebACL".to_owned(), 1)].into(),
        "{}",
        report.calls_by_operation
    );
    assert_eq!(associated(&account, &lb).await, None);
    assert!(
        report
            .deleted
            .iter()
            .any(|c| c.resource.resource_type == ResourceType::WafV2WebAclAssociation)
    );

    // Nothing associated and none wanted: nothing to do.
    let again = deployer.deploy(&none).await.unwrap();
    assert_eq!(again.calls_by_operation.mutating_total(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absent_setting_leaves_a_manual_association_alone() {
    let (account, net) = setup().await;
    let acl = web_acl(&account, "by-hand").await;
    let deployer = deployer(&account, deploy_config(CLUSTER, &net));
    let stack = sample_stack(&net, STACK_ID, "waf");
    let lb = lb_arn(&deployer.deploy(&stack).await.unwrap());
    account
        .clients
        .wafv2
        .associate_web_acl()
        .web_acl_arn(&acl)
        .resource_arn(&lb)
        .send()
        .await
        .expect("associate by hand");

    let report = deployer.deploy(&stack).await.unwrap();
    assert_eq!(report.calls_by_operation.mutating_total(), 0);
    // Not even looked at.
    assert_eq!(count(&report, "GetWebACLForResource"), 0);
    assert_eq!(
        associated(&account, &lb).await.as_deref(),
        Some(acl.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_acl_name_is_looked_up_and_an_unknown_one_fails_before_any_change() {
    let (account, net) = setup().await;
    let _other = web_acl(&account, "other").await;
    let acl = web_acl(&account, "shop").await;
    let deployer = deployer(&account, deploy_config(CLUSTER, &net));

    let unknown = with_wafv2(sample_stack(&net, STACK_ID, "waf"), "", Some("nope"));
    let before = account.clients.calls().snapshot();
    let err = deployer.deploy(&unknown).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("couldn't find WAFv2 WebACL with name: nope"),
        "{err}"
    );
    let calls = account.clients.calls().snapshot().since(&before);
    assert_eq!(calls.mutating_total(), 0, "{calls}");
    assert_eq!(calls.count("CreateLoadBalancer"), 0);

    // A name wins over an ARN.
    let named = with_wafv2(sample_stack(&net, STACK_ID, "waf"), "ignored", Some("shop"));
    let report = deployer.deploy(&named).await.unwrap();
    assert_eq!(count(&report, "ListWebACLs"), 1);
    assert_eq!(
        associated(&account, &lb_arn(&report)).await.as_deref(),
        Some(acl.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_reports_the_association_without_mutating() {
    let (account, net) = setup().await;
    let acl = web_acl(&account, "shop").await;
    let deployer = deployer(&account, deploy_config(CLUSTER, &net));
    let stack = with_wafv2(sample_stack(&net, STACK_ID, "waf"), &acl, None);

    // A load balancer that does not exist yet: the association would be created with it.
    let diff = deployer.diff(&stack).await.unwrap();
    assert_eq!(diff.calls_by_operation.mutating_total(), 0);
    assert_eq!(diff.calls_by_operation.count("GetWebACLForResource"), 0);
    let decision = diff
        .resources
        .iter()
        .find(|r| r.resource.resource_type == ResourceType::WafV2WebAclAssociation)
        .expect("a decision about the association");
    assert_eq!(decision.change, ChangeKind::Create);
    assert_eq!(decision.fields[0].to.as_deref(), Some(acl.as_str()));

    // An existing load balancer: read, then reported; nothing changes in AWS.
    let lb = lb_arn(
        &deployer
            .deploy(&sample_stack(&net, STACK_ID, "waf"))
            .await
            .unwrap(),
    );
    let diff = deployer.diff(&stack).await.unwrap();
    assert_eq!(diff.calls_by_operation.mutating_total(), 0);
    let decision = diff
        .resources
        .iter()
        .find(|r| r.resource.resource_type == ResourceType::WafV2WebAclAssociation)
        .expect("a decision about the association");
    assert_eq!(decision.change, ChangeKind::Create);
    assert_eq!(decision.aws_id.as_deref(), Some(lb.as_str()));
    assert_eq!(associated(&account, &lb).await, None);

    // Once associated, the dry run sees nothing to do.
    deployer.deploy(&stack).await.unwrap();
    let diff = deployer.diff(&stack).await.unwrap();
    assert!(!diff.has_changes(), "{:?}", diff.resources);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_add_ons_make_no_call() {
    let (account, net) = setup().await;
    let acl = web_acl(&account, "shop").await;
    let mut config = deploy_config(CLUSTER, &net);
    config.enable_wafv2 = false;
    config.enable_waf = false;
    config.enable_shield = false;
    let deployer = deployer(&account, config);
    let mut stack = with_wafv2(sample_stack(&net, STACK_ID, "waf"), &acl, None);
    stack
        .add_waf_regional_web_acl_association(WafRegionalWebAclAssociationSpec {
            web_acl_id: "classic-1".to_owned(),
            resource_arn: Ref::load_balancer_arn().into(),
        })
        .unwrap();
    stack
        .add_shield_protection(ShieldProtectionSpec {
            enabled: true,
            resource_arn: Ref::load_balancer_arn().into(),
        })
        .unwrap();

    let report = deployer.deploy(&stack).await.unwrap();
    for (service, operation, _) in report.calls_by_operation.iter() {
        assert!(
            !matches!(service, "wafv2" | "waf-regional" | "shield"),
            "{service}:{operation}"
        );
    }
    assert_eq!(associated(&account, &lb_arn(&report)).await, None);
}
