//! The TargetGroupBinding webhooks' AWS lookup against moto: describing by ARN and by name,
//! upstream's "not found" wording, and the real mutating and validating rules run with it —
//! the mutator fills targetType / ipAddressType / vpcID / targetGroupProtocol from AWS, the
//! validator admits a binding that agrees with AWS and refuses one that does not.

#![allow(clippy::unwrap_used)]

mod support;

use aws_io::target_groups::Elbv2TargetGroupLookup;
use aws_sdk_elasticloadbalancingv2::types::{ProtocolEnum, TargetTypeEnum};
use contract::cluster::{LookupError, StaticCluster, TargetGroupLookup, TargetGroupRef};
use contract::crd::TargetGroupBinding;
use serde_json::json;
use support::moto::Account;
use webhook::admission::WebhookConfig;
use webhook::validate::Op;

fn binding(spec: serde_json::Value) -> TargetGroupBinding {
    serde_json::from_value(json!({
        "apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "TargetGroupBinding",
        "metadata": {"name": "web", "namespace": "shop", "uid": "5f0c8e2e-0000-4000-8000-000000000001"},
        "spec": spec
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_groups_are_described_and_the_binding_webhooks_use_them() {
    let account = Account::new().await;
    let net = support::network(&account.clients).await;
    let created = account
        .clients
        .elbv2
        .create_target_group()
        .name("shop-web")
        .protocol(ProtocolEnum::Http)
        .port(8080)
        .vpc_id(&net.vpc_id)
        .target_type(TargetTypeEnum::Ip)
        .send()
        .await
        .unwrap();
    let arn = created.target_groups()[0]
        .target_group_arn()
        .unwrap()
        .to_owned();
    let lookup = Elbv2TargetGroupLookup::new(account.clients.clone());

    let by_arn = lookup
        .describe(&TargetGroupRef::Arn(arn.clone()), None)
        .await
        .unwrap();
    assert_eq!(by_arn.arn, arn);
    assert_eq!(by_arn.name, "shop-web");
    assert_eq!(by_arn.target_type, "ip");
    assert_eq!(by_arn.vpc_id, net.vpc_id);
    assert_eq!(by_arn.protocol, "HTTP");
    let by_name = lookup
        .describe(&TargetGroupRef::Name("shop-web".into()), None)
        .await
        .unwrap();
    assert_eq!(by_name, by_arn);
    assert_eq!(
        lookup
            .describe(&TargetGroupRef::Name("nope".into()), None)
            .await,
        Err(LookupError::NotFound("nope".into()))
    );

    // The mutating webhook completes a binding that names only its target group.
    let sparse = binding(json!({"targetGroupName": "shop-web",
                                 "serviceRef": {"name": "web", "port": 80}}));
    let patch = webhook::mutate::target_group_binding::mutate(Op::Create, &sparse, &lookup)
        .await
        .unwrap()
        .expect("fields to fill");
    let mut doc = serde_json::to_value(&sparse).unwrap();
    json_patch::patch(&mut doc, &patch).unwrap();
    assert_eq!(doc["spec"]["targetGroupARN"], arn.as_str());
    assert_eq!(doc["spec"]["targetType"], "ip");
    assert_eq!(doc["spec"]["vpcID"], net.vpc_id.as_str());
    assert_eq!(doc["spec"]["ipAddressType"], "ipv4");

    // The validating webhook admits the completed binding (what the controller itself writes
    // looks like this) and refuses one whose vpcID contradicts AWS.
    let completed: TargetGroupBinding = serde_json::from_value(doc).unwrap();
    let view = StaticCluster::default();
    let config = WebhookConfig::default();
    webhook::validate::target_group_binding::validate(
        Op::Create,
        &completed,
        None,
        &view,
        &lookup,
        &config,
    )
    .await
    .unwrap();
    let mut wrong = completed.clone();
    wrong.spec.vpc_id = Some("vpc-0123456789abcdef0".into());
    let refusal = webhook::validate::target_group_binding::validate(
        Op::Create,
        &wrong,
        None,
        &view,
        &lookup,
        &config,
    )
    .await
    .expect_err("the VPC differs from the target group's");
    assert!(
        refusal.contains("doesnt match VpcID from TargetGroup"),
        "{refusal}"
    );
}
