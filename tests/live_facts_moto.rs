//! The live facts `serve` reads for the model, against moto: subnets, security groups with
//! their `Name` tags, and issued ACM certificates with the domains they cover.

#![allow(clippy::unwrap_used)]

mod support;

use aws_io::live_facts::{load_all, refresh};
use model::ClusterFacts;
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
    let errors = load_all(clients, &[], &mut facts).await;
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
    refresh(clients, &[], &shared).await;
    let facts = shared.read().unwrap();
    assert!(facts.certificates.iter().any(|c| c.arn == later));
    assert_eq!(facts.cluster_name, "facts");
}

/// `--allowed-certificate-authority-arns`: only certificates issued by one of the listed private
/// CAs are discovery candidates; imported ones (no issuer) and other CAs' are not.
#[tokio::test]
async fn allowed_certificate_authorities_filter_discovery() {
    let account = Account::new().await;
    let clients = &account.clients;
    let net = support::network(clients).await;
    let imported = import_certificate(clients, &["shop.example.com"]).await;
    let ca = "arn:aws:acm-pca:us-west-2:123456789012:certificate-authority/allowed";
    let other_ca = "arn:aws:acm-pca:us-west-2:123456789012:certificate-authority/other";
    let mut private = Vec::new();
    for authority in [ca, other_ca] {
        let arn = clients
            .acm
            .request_certificate()
            .domain_name("shop.example.com")
            .certificate_authority_arn(authority)
            .send()
            .await
            .unwrap()
            .certificate_arn()
            .unwrap()
            .to_owned();
        private.push(arn);
    }

    let mut everything = ClusterFacts::new("facts", net.vpc_id.clone());
    assert!(load_all(clients, &[], &mut everything).await.is_empty());
    let arns: Vec<&str> = everything
        .certificates
        .iter()
        .map(|c| c.arn.as_str())
        .collect();
    assert!(arns.contains(&imported.as_str()), "{arns:?}");
    assert!(
        private.iter().all(|p| arns.contains(&p.as_str())),
        "{arns:?}"
    );

    let mut filtered = ClusterFacts::new("facts", net.vpc_id.clone());
    assert!(
        load_all(clients, &[ca.to_owned()], &mut filtered)
            .await
            .is_empty()
    );
    let kept: Vec<(&str, &[String])> = filtered
        .certificates
        .iter()
        .map(|c| (c.arn.as_str(), c.domains.as_slice()))
        .collect();
    assert_eq!(
        kept,
        [(private[0].as_str(), &["shop.example.com".to_owned()][..])]
    );
}
