//! The live facts `serve` reads for the model, against moto: subnets, security groups with
//! their `Name` tags, and issued ACM certificates with the domains they cover.

#![allow(clippy::unwrap_used)]

mod support;

use aws_load_balancer_controller::controller::live_facts::{load_all, refresh};
use aws_load_balancer_controller::model::ClusterFacts;
use support::e2e::import_certificate;
use support::moto::Account;

#[tokio::test]
async fn subnets_security_groups_and_certificates_are_read() {
    let account = Account::new().await;
    let clients = &account.clients;
    let net = support::network(clients).await;
    let named = clients
        .ec2
        .create_security_group()
        .group_name("web-frontend")
        .description("named by tag")
        .vpc_id(&net.vpc_id)
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::SecurityGroup)
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key("Name")
                        .value("frontend")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap()
        .group_id()
        .unwrap()
        .to_owned();
    let wildcard = import_certificate(clients, &["*.example.com", "example.com"]).await;

    let mut facts = ClusterFacts::new("facts", net.vpc_id.clone());
    let errors = load_all(clients, &mut facts).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(facts.subnets.len(), net.subnets.len());
    let group = facts
        .security_groups
        .iter()
        .find(|g| g.id == named)
        .expect("the named group is known");
    assert_eq!(group.name.as_deref(), Some("frontend"));
    let cert = facts
        .certificates
        .iter()
        .find(|c| c.arn == wildcard)
        .expect("the imported certificate is known");
    assert!(
        cert.domains.contains(&"*.example.com".to_owned())
            && cert.domains.contains(&"example.com".to_owned()),
        "{cert:?}"
    );

    // A certificate issued later appears at the next refresh, with nothing else changed.
    let shared = std::sync::RwLock::new(facts);
    let later = import_certificate(clients, &["shop.example.org"]).await;
    refresh(clients, &shared).await;
    let facts = shared.read().unwrap();
    assert!(facts.certificates.iter().any(|c| c.arn == later));
    assert_eq!(facts.cluster_name, "facts");
}
