//! Security group permissions in EC2's shapes: what EC2 describes, as the model's
//! single-source [`Permission`]s, and back into EC2's request shape.

use std::collections::BTreeSet;

use aws_sdk_ec2::types as ec2;

pub use model::sg_rules::*;

/// The actual permissions as EC2 describes them, one per source.
pub fn actual_permissions(permissions: &[ec2::IpPermission]) -> BTreeSet<Permission> {
    let mut out = BTreeSet::new();
    for p in permissions {
        let describe = |d: Option<&str>| d.unwrap_or_default().to_owned();
        let sources = p
            .ip_ranges()
            .iter()
            .filter_map(|r| {
                Some((
                    Source::Ipv4(r.cidr_ip()?.to_owned()),
                    describe(r.description()),
                ))
            })
            .chain(p.ipv6_ranges().iter().filter_map(|r| {
                Some((
                    Source::Ipv6(r.cidr_ipv6()?.to_owned()),
                    describe(r.description()),
                ))
            }))
            .chain(p.prefix_list_ids().iter().filter_map(|r| {
                Some((
                    Source::PrefixList(r.prefix_list_id()?.to_owned()),
                    describe(r.description()),
                ))
            }))
            .chain(p.user_id_group_pairs().iter().filter_map(|r| {
                Some((
                    Source::Group(r.group_id()?.to_owned()),
                    describe(r.description()),
                ))
            }))
            .collect::<Vec<_>>();
        push_all(
            &mut out,
            p.ip_protocol().unwrap_or("-1"),
            p.from_port(),
            p.to_port(),
            sources,
        );
    }
    out
}

/// Permissions in EC2's request shape, one source each.
pub fn ec2_permissions(permissions: &[Permission]) -> Vec<ec2::IpPermission> {
    permissions
        .iter()
        .map(|p| {
            let description = (!p.description.is_empty()).then(|| p.description.clone());
            let mut b = ec2::IpPermission::builder()
                .ip_protocol(&p.protocol)
                .set_from_port(p.from_port)
                .set_to_port(p.to_port);
            b = match &p.source {
                Source::Ipv4(cidr) => b.ip_ranges(
                    ec2::IpRange::builder()
                        .cidr_ip(cidr)
                        .set_description(description)
                        .build(),
                ),
                Source::Ipv6(cidr) => b.ipv6_ranges(
                    ec2::Ipv6Range::builder()
                        .cidr_ipv6(cidr)
                        .set_description(description)
                        .build(),
                ),
                Source::PrefixList(id) => b.prefix_list_ids(
                    ec2::PrefixListId::builder()
                        .prefix_list_id(id)
                        .set_description(description)
                        .build(),
                ),
                Source::Group(id) => b.user_id_group_pairs(
                    ec2::UserIdGroupPair::builder()
                        .group_id(id)
                        .set_description(description)
                        .build(),
                ),
            };
            b.build()
        })
        .collect()
}
