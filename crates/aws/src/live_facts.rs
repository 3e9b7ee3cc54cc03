//! What AWS says about the cluster's VPC and account, for the model: subnets and route tables
//! (subnet discovery), the VPC's CIDR blocks (the sources of an internal NLB's backend rules
//! without security groups), security groups (`security-groups` given by `Name` tag) and issued ACM
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

/// The VPC's IPv4 and IPv6 CIDR blocks that are associated (not those being associated,
/// disassociated or failed), IPv4 first. One `DescribeVpcs`.
pub async fn load_vpc_cidrs(
    ec2: &aws_sdk_ec2::Client,
    facts: &mut ClusterFacts,
) -> Result<(), BackendError> {
    let out = ec2
        .describe_vpcs()
        .vpc_ids(&facts.vpc_id)
        .send()
        .await
        .map_err(|e| aws_error("DescribeVpcs", &e))?;
    facts.vpc_cidrs = out.vpcs().first().map(associated_cidrs).unwrap_or_default();
    Ok(())
}

/// A VPC's associated IPv4 blocks, then its associated IPv6 blocks, each in AWS's order.
fn associated_cidrs(vpc: &aws_sdk_ec2::types::Vpc) -> Vec<String> {
    use aws_sdk_ec2::types::VpcCidrBlockStateCode;
    let associated =
        |state: Option<&VpcCidrBlockStateCode>| state == Some(&VpcCidrBlockStateCode::Associated);
    let v4 = vpc
        .cidr_block_association_set()
        .iter()
        .filter(|a| associated(a.cidr_block_state().and_then(|s| s.state())))
        .filter_map(|a| a.cidr_block().map(str::to_owned));
    let v6 = vpc
        .ipv6_cidr_block_association_set()
        .iter()
        .filter(|a| associated(a.ipv6_cidr_block_state().and_then(|s| s.state())))
        .filter_map(|a| a.ipv6_cidr_block().map(str::to_owned));
    v4.chain(v6).collect()
}

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
    if let Err(e) = load_vpc_cidrs(&clients.ec2, facts).await {
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
    facts.vpc_cidrs = fresh.vpc_cidrs;
    facts.security_groups = fresh.security_groups;
    facts.certificates = fresh.certificates;
}

#[cfg(test)]
mod tests {
    use aws_sdk_ec2::types::{
        Vpc, VpcCidrBlockAssociation, VpcCidrBlockState, VpcCidrBlockStateCode,
        VpcIpv6CidrBlockAssociation,
    };

    use super::associated_cidrs;

    fn state(code: VpcCidrBlockStateCode) -> VpcCidrBlockState {
        VpcCidrBlockState::builder().state(code).build()
    }

    #[test]
    fn only_associated_blocks_count() {
        let v4 = |cidr: &str, code| {
            VpcCidrBlockAssociation::builder()
                .cidr_block(cidr)
                .cidr_block_state(state(code))
                .build()
        };
        let v6 = |cidr: &str, code| {
            VpcIpv6CidrBlockAssociation::builder()
                .ipv6_cidr_block(cidr)
                .ipv6_cidr_block_state(state(code))
                .build()
        };
        let vpc = Vpc::builder()
            .cidr_block("10.0.0.0/16")
            .cidr_block_association_set(v4("10.0.0.0/16", VpcCidrBlockStateCode::Associated))
            .cidr_block_association_set(v4("10.1.0.0/16", VpcCidrBlockStateCode::Disassociated))
            .cidr_block_association_set(v4("10.2.0.0/16", VpcCidrBlockStateCode::Associating))
            .cidr_block_association_set(v4("100.64.0.0/16", VpcCidrBlockStateCode::Associated))
            .ipv6_cidr_block_association_set(v6(
                "2600:1f14::/56",
                VpcCidrBlockStateCode::Associated,
            ))
            .ipv6_cidr_block_association_set(v6("2600:1f15::/56", VpcCidrBlockStateCode::Failed))
            .build();
        assert_eq!(
            associated_cidrs(&vpc),
            ["10.0.0.0/16", "100.64.0.0/16", "2600:1f14::/56"]
        );
        assert!(associated_cidrs(&Vpc::builder().build()).is_empty());
    }
}
