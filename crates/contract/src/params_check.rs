//! The IngressClassParams validator: inbound CIDRs and subnet selectors.
//!
//! Messages follow the Kubernetes field-error format upstream produces
//! (`<path>: <type>: <value>: <detail>`), so users see the same text.

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

use crate::crd::{IngressClassParamsSpec, SubnetSelector};

/// Check the spec on CREATE and UPDATE; every problem found, in order, without repeats.
pub fn validate(spec: &IngressClassParamsSpec) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    for (index, cidr) in spec.inbound_cidrs.iter().flatten().enumerate() {
        if let Some(detail) = cidr_problem(cidr) {
            errors.push(invalid(
                &format!("spec.inboundCIDRs[{index}]"),
                cidr,
                &detail,
            ));
        }
    }
    if let Some(subnets) = &spec.subnets {
        check_subnets(subnets, &mut errors);
    }
    let mut seen = std::collections::HashSet::new();
    errors.retain(|e| seen.insert(e.clone()));
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Why `cidr` is not a CIDR whose address sits on its prefix boundary, if it is not.
fn cidr_problem(cidr: &str) -> Option<String> {
    let Some(net) = parse_cidr(cidr) else {
        let mut detail = String::from("Could not be parsed as a CIDR");
        if !cidr.contains('/')
            && let Ok(ip) = IpAddr::from_str(cidr)
        {
            let bits = if ip.is_ipv4() { 32 } else { 64 };
            detail.push_str(&format!(" (did you mean \"{cidr}/{bits}\")"));
        }
        return Some(detail);
    };
    let network = net.trunc();
    (network.addr() != net.addr()).then(|| {
        format!(
            "Network contains bits outside prefix (did you mean \"{}/{}\")",
            display_addr(network.addr()),
            network.prefix_len()
        )
    })
}

/// `<address>/<decimal prefix>`, as Go's `net.ParseCIDR` reads it: no zone, no octal-looking
/// octets, a prefix of digits only and at most the address width.
fn parse_cidr(cidr: &str) -> Option<IpNet> {
    let (addr, prefix) = cidr.split_once('/')?;
    let addr = IpAddr::from_str(addr).ok()?;
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let prefix = prefix.parse::<u8>().ok()?;
    IpNet::new(addr, prefix).ok()
}

/// Go prints an IPv4-mapped IPv6 address in dotted form; do the same for the hint.
fn display_addr(addr: IpAddr) -> String {
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        IpAddr::V4(v4) => v4.to_string(),
    }
}

fn check_subnets(subnets: &SubnetSelector, errors: &mut Vec<String>) {
    match (&subnets.ids, &subnets.tags) {
        (None, None) => errors.push(required("spec.subnets", "must have either `ids` or `tags`")),
        (Some(_), Some(_)) => errors.push(forbidden(
            "spec.subnets.tags",
            "may not have both `ids` and `tags` set",
        )),
        (Some(ids), None) => {
            for (index, id) in ids.iter().enumerate() {
                if ids.get(..index).is_some_and(|before| before.contains(id)) {
                    errors.push(duplicate(&format!("spec.subnets.ids[{index}]"), id));
                }
            }
        }
        (None, Some(tags)) => {
            if tags.is_empty() {
                errors.push(required(
                    "spec.subnets.tags",
                    "must have at least one tag key",
                ));
            }
            for (key, values) in tags {
                for (index, value) in values.iter().enumerate() {
                    if values
                        .get(..index)
                        .is_some_and(|before| before.contains(value))
                    {
                        let path = format!("spec.subnets.tags[{key}][{index}]");
                        errors.push(duplicate(&path, value));
                    }
                }
            }
        }
    }
}

fn invalid(path: &str, value: &str, detail: &str) -> String {
    format!("{path}: Invalid value: {}: {detail}", go_quote(value))
}

fn required(path: &str, detail: &str) -> String {
    format!("{path}: Required value: {detail}")
}

fn forbidden(path: &str, detail: &str) -> String {
    format!("{path}: Forbidden: {detail}")
}

fn duplicate(path: &str, value: &str) -> String {
    format!("{path}: Duplicate value: {}", go_quote(value))
}

/// A double-quoted string with Go's `%q` escapes for the characters a user may type.
fn go_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn with_cidrs(cidrs: &[&str]) -> IngressClassParamsSpec {
        IngressClassParamsSpec {
            inbound_cidrs: Some(cidrs.iter().map(|c| c.to_string()).collect()),
            ..Default::default()
        }
    }

    fn with_subnets(subnets: SubnetSelector) -> IngressClassParamsSpec {
        IngressClassParamsSpec {
            subnets: Some(subnets),
            ..Default::default()
        }
    }

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn empty_spec_is_valid() {
        assert_eq!(validate(&IngressClassParamsSpec::default()), Ok(()));
    }

    #[test]
    fn network_cidrs_are_valid() {
        let spec = with_cidrs(&[
            "10.0.0.0/8",
            "0.0.0.0/0",
            "192.168.1.7/32",
            "2001:db8::/32",
            "::/0",
        ]);
        assert_eq!(validate(&spec), Ok(()));
    }

    #[test]
    fn unparsable_cidr_is_reported_with_its_index() {
        let spec = with_cidrs(&["10.0.0.0/8", "x"]);
        assert_eq!(
            validate(&spec),
            Err(strings(&[
                r#"spec.inboundCIDRs[1]: Invalid value: "x": Could not be parsed as a CIDR"#
            ]))
        );
    }

    #[test]
    fn bare_ipv4_gets_a_slash_32_hint() {
        assert_eq!(
            validate(&with_cidrs(&["10.1.2.3"])),
            Err(strings(&[
                r#"spec.inboundCIDRs[0]: Invalid value: "10.1.2.3": Could not be parsed as a CIDR (did you mean "10.1.2.3/32")"#
            ]))
        );
    }

    #[test]
    fn bare_ipv6_gets_a_slash_64_hint() {
        assert_eq!(
            validate(&with_cidrs(&["2001:db8::1"])),
            Err(strings(&[
                r#"spec.inboundCIDRs[0]: Invalid value: "2001:db8::1": Could not be parsed as a CIDR (did you mean "2001:db8::1/64")"#
            ]))
        );
    }

    #[test]
    fn host_bits_get_the_network_as_hint() {
        assert_eq!(
            validate(&with_cidrs(&["10.1.2.3/8", "2001:db8::1/32"])),
            Err(strings(&[
                r#"spec.inboundCIDRs[0]: Invalid value: "10.1.2.3/8": Network contains bits outside prefix (did you mean "10.0.0.0/8")"#,
                r#"spec.inboundCIDRs[1]: Invalid value: "2001:db8::1/32": Network contains bits outside prefix (did you mean "2001:db8::/32")"#,
            ]))
        );
    }

    #[test]
    fn malformed_prefixes_and_addresses_are_not_cidrs() {
        for cidr in [
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/8/8",
            "010.0.0.0/8",
            "::/129",
            "10.0.0/8",
            "",
        ] {
            let errors = validate(&with_cidrs(&[cidr])).expect_err(cidr);
            assert_eq!(errors.len(), 1, "{cidr}");
            assert!(
                errors[0].ends_with(": Could not be parsed as a CIDR"),
                "{cidr}: {errors:?}"
            );
        }
    }

    #[test]
    fn prefix_with_leading_zero_is_accepted_like_go() {
        assert_eq!(validate(&with_cidrs(&["10.0.0.0/08"])), Ok(()));
    }

    #[test]
    fn value_is_quoted_like_go() {
        let errors = validate(&with_cidrs(&["a\"b\n"])).expect_err("not a CIDR");
        assert_eq!(
            errors,
            strings(&[
                r#"spec.inboundCIDRs[0]: Invalid value: "a\"b\n": Could not be parsed as a CIDR"#
            ])
        );
    }

    #[test]
    fn subnets_need_ids_or_tags() {
        assert_eq!(
            validate(&with_subnets(SubnetSelector::default())),
            Err(strings(&[
                "spec.subnets: Required value: must have either `ids` or `tags`"
            ]))
        );
    }

    #[test]
    fn subnets_may_not_have_both() {
        let subnets = SubnetSelector {
            ids: Some(strings(&["subnet-1", "subnet-1"])),
            tags: Some(BTreeMap::new()),
        };
        // Only the conflict is reported, not the duplicate inside `ids`.
        assert_eq!(
            validate(&with_subnets(subnets)),
            Err(strings(&[
                "spec.subnets.tags: Forbidden: may not have both `ids` and `tags` set"
            ]))
        );
    }

    #[test]
    fn duplicate_subnet_ids_are_reported_at_each_repeat() {
        let subnets = SubnetSelector {
            ids: Some(strings(&["subnet-1", "subnet-2", "subnet-1", "subnet-1"])),
            tags: None,
        };
        assert_eq!(
            validate(&with_subnets(subnets)),
            Err(strings(&[
                r#"spec.subnets.ids[2]: Duplicate value: "subnet-1""#,
                r#"spec.subnets.ids[3]: Duplicate value: "subnet-1""#,
            ]))
        );
    }

    #[test]
    fn empty_tag_map_is_required_to_have_a_key() {
        let subnets = SubnetSelector {
            ids: None,
            tags: Some(BTreeMap::new()),
        };
        assert_eq!(
            validate(&with_subnets(subnets)),
            Err(strings(&[
                "spec.subnets.tags: Required value: must have at least one tag key"
            ]))
        );
    }

    #[test]
    fn duplicate_tag_values_are_reported_per_key() {
        let tags = BTreeMap::from([
            ("Name".to_string(), strings(&["a", "b"])),
            (
                "Other".to_string(),
                strings(&["other1", "other2", "other1"]),
            ),
        ]);
        let subnets = SubnetSelector {
            ids: None,
            tags: Some(tags),
        };
        assert_eq!(
            validate(&with_subnets(subnets)),
            Err(strings(&[
                r#"spec.subnets.tags[Other][2]: Duplicate value: "other1""#
            ]))
        );
    }

    #[test]
    fn cidr_and_subnet_errors_are_aggregated_in_order() {
        let spec = IngressClassParamsSpec {
            inbound_cidrs: Some(strings(&["10.0.0.1/24"])),
            subnets: Some(SubnetSelector::default()),
            ..Default::default()
        };
        let errors = validate(&spec).expect_err("two problems");
        assert_eq!(errors.len(), 2);
        assert!(errors[0].starts_with("spec.inboundCIDRs[0]: "));
        assert!(errors[1].starts_with("spec.subnets: "));
    }
}
