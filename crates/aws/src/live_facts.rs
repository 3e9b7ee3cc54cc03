//! What AWS says about the cluster's VPC and account, for the model: subnets and route tables
//! (subnet discovery), security groups (`security-groups` given by `Name` tag) and issued ACM
//! certificates (certificate discovery for HTTPS listeners without `certificate-arn`). The
//! same facts `plan` reads from a `ClusterFacts` document: one model, two fact sources.
//!
//! `serve` loads them at start-up and refreshes them every [`FACTS_TTL`], so a newly tagged
//! subnet or a new certificate needs no restart.

use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use crate::AwsClients;
use crate::adapters::{aws_error, load_vpc_facts};
use controller::backends::BackendError;
use model::{ClusterFacts, KnownCertificate, KnownSecurityGroup};

/// How long loaded facts are used before they are read again.
pub const FACTS_TTL: Duration = Duration::from_secs(300);

/// The security groups of the VPC, with their `Name` tags.
pub async fn load_security_groups(
    ec2: &aws_sdk_ec2::Client,
    facts: &mut ClusterFacts,
) -> Result<(), BackendError> {
    let vpc = aws_sdk_ec2::types::Filter::builder()
        .name("vpc-id")
        .values(&facts.vpc_id)
        .build();
    let mut groups = Vec::new();
    let mut pages = ec2
        .describe_security_groups()
        .filters(vpc)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error("DescribeSecurityGroups", &e))?;
        for group in page.security_groups() {
            groups.push(KnownSecurityGroup {
                id: group.group_id().unwrap_or_default().to_owned(),
                vpc_id: group.vpc_id().unwrap_or_default().to_owned(),
                name: group
                    .tags()
                    .iter()
                    .find(|t| t.key() == Some("Name"))
                    .and_then(|t| t.value())
                    .map(str::to_owned),
            });
        }
    }
    facts.security_groups = groups;
    Ok(())
}

/// The account's issued ACM certificates and the domains each covers (its subject
/// alternative names; described one by one only when the listing does not carry them all).
/// With `allowed_cas` (`--allowed-certificate-authority-arns`) only certificates issued by one of
/// those private CAs are kept, each described to learn its issuer; imported and Amazon-issued
/// certificates then never match, as upstream.
pub async fn load_certificates(
    acm: &aws_sdk_acm::Client,
    allowed_cas: &[String],
    facts: &mut ClusterFacts,
) -> Result<(), BackendError> {
    use aws_sdk_acm::types::CertificateStatus;
    let mut certificates = Vec::new();
    let mut pages = acm
        .list_certificates()
        .certificate_statuses(CertificateStatus::Issued)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error("ListCertificates", &e))?;
        for summary in page.certificate_summary_list() {
            let Some(arn) = summary.certificate_arn() else {
                continue;
            };
            let mut domains: Vec<String> = summary.subject_alternative_name_summaries().to_vec();
            let must_describe = !allowed_cas.is_empty()
                || domains.is_empty()
                || summary.has_additional_subject_alternative_names() == Some(true);
            if must_describe {
                let described = acm
                    .describe_certificate()
                    .certificate_arn(arn)
                    .send()
                    .await
                    .map_err(|e| aws_error("DescribeCertificate", &e))?;
                let detail = described.certificate();
                if !allowed_cas.is_empty() {
                    let issuer = detail.and_then(|d| d.certificate_authority_arn());
                    if !issuer.is_some_and(|ca| allowed_cas.iter().any(|a| a == ca)) {
                        continue;
                    }
                }
                if let Some(detail) = detail {
                    domains = detail.subject_alternative_names().to_vec();
                    if domains.is_empty() {
                        domains.extend(detail.domain_name().map(str::to_owned));
                    }
                }
            }
            if domains.is_empty() {
                domains.extend(summary.domain_name().map(str::to_owned));
            }
            certificates.push(KnownCertificate {
                arn: arn.to_owned(),
                domains,
            });
        }
    }
    facts.certificates = certificates;
    Ok(())
}

/// Reads every live fact into `facts`; a part that cannot be read keeps its previous value
/// (and is reported).
pub async fn load_all(
    clients: &AwsClients,
    allowed_cas: &[String],
    facts: &mut ClusterFacts,
) -> Vec<BackendError> {
    let mut errors = Vec::new();
    if let Err(e) = load_vpc_facts(&clients.ec2, facts).await {
        errors.push(e);
    }
    if let Err(e) = load_security_groups(&clients.ec2, facts).await {
        errors.push(e);
    }
    if let Err(e) = load_certificates(&clients.acm, allowed_cas, facts).await {
        errors.push(e);
    }
    errors
}

/// Reloads the live facts into the shared ones, keeping every other field (flags, the backend
/// security group) as it is.
pub async fn refresh(clients: &AwsClients, allowed_cas: &[String], shared: &RwLock<ClusterFacts>) {
    let mut fresh = shared
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    for error in load_all(clients, allowed_cas, &mut fresh).await {
        tracing::warn!(%error, "cannot refresh the VPC and certificate facts; the previous ones stay");
    }
    let mut facts = shared.write().unwrap_or_else(PoisonError::into_inner);
    facts.subnets = fresh.subnets;
    facts.route_tables = fresh.route_tables;
    facts.security_groups = fresh.security_groups;
    facts.certificates = fresh.certificates;
}
