//! The live facts `serve` reads for the model, against moto: subnets, security groups with
//! their `Name` tags, and issued ACM certificates with the domains they cover.

#![allow(clippy::unwrap_used)]

mod support;

use aws_load_balancer_controller::controller::live_facts::{load_all, refresh};
use aws_load_balancer_controller::model::ClusterFacts;
use support::e2e::{import_certificate, named_security_group};
use support::moto::Account;

#[tokio::test]
async fn subnets_security_groups_and_certificates_are_read() {
    let account = Account::new().await;
    let clients = &account.clients;
    let net = support::network(clients).await;
    let named = named_security_group(clients, &net.vpc_id, "frontend").await;
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
