//! Targets of a TargetGroupBinding with `iamRoleArnToAssume` are registered in the role's
//! account (the target group lives there), with the assumed role's credentials — as the
//! webhook already describes the target group there.

#![allow(clippy::unwrap_used)]

mod support;

use aws_io::AwsClients;
use aws_io::adapters::AwsRegistrar;
use aws_sdk_ec2::config::SharedInterceptor;
use controller::backends::{AssumeRole, TargetRegistrar as _};
use controller::targets::Target;
use support::moto::{Account, MotoAccount, MotoServer, sdk_config};

#[tokio::test]
async fn targets_are_registered_in_the_assumed_roles_account() {
    // The target group belongs to another account.
    let server = MotoServer::shared();
    let other_id = "222233334444";
    let other = AwsClients::new(
        &sdk_config(server.endpoint()).await,
        &[SharedInterceptor::new(MotoAccount(other_id.to_owned()))],
    );
    let net = support::network(&other).await;
    let arn = support::e2e::ip_target_group(&other, &net.vpc_id, "cross-account").await;

    // The controller runs in its own account and assumes a role there.
    let ours = Account::new().await;
    let registrar = AwsRegistrar::new(ours.clients.clone());
    let role = AssumeRole::of(
        Some(&format!("arn:aws:iam::{other_id}:role/lbc-targets")),
        Some("external-id-1"),
    )
    .unwrap();
    let targets = [Target::new("10.0.1.7", 8080)];
    registrar
        .register(&arn, Some(&role), &targets)
        .await
        .unwrap();
    let seen = registrar.describe(&arn, Some(&role)).await.unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    // What the other account itself sees.
    let health = other
        .elbv2
        .describe_target_health()
        .target_group_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(health.target_health_descriptions().len(), 1);
    // Without the role, the controller's own account has no such target group.
    let error = registrar.describe(&arn, None).await.unwrap_err();
    assert!(error.is_not_found(), "{error}");
    registrar
        .deregister(&arn, Some(&role), &targets)
        .await
        .unwrap();
    assert!(
        registrar
            .describe(&arn, Some(&role))
            .await
            .unwrap()
            .is_empty()
    );
}
