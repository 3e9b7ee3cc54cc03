//! Hashed resource names, computed exactly as upstream does so that resources created by an
//! upstream controller keep their names (and a changed input yields a new resource).
//!
//! Every hash is the hex SHA-256 of its inputs concatenated without separators. Name parts are
//! sanitised by dropping every character that is not an ASCII letter or digit, then cut to a
//! fixed number of characters.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sha2::{Digest, Sha256};

use crate::group::GroupId;
use crate::stack::{Protocol, ProtocolVersion, Scheme, TargetType};

/// The longest name ELBv2 accepts for a load balancer or target group.
pub const MAX_ELBV2_NAME_LENGTH: usize = 32;

/// The hex SHA-256 of the concatenated parts.
fn hex_sha256<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hex(&hasher.finalize())
}

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    hex
}

/// `s` without the characters that are not ASCII letters or digits.
pub fn sanitize(s: &str) -> String {
    s.chars().filter(char::is_ascii_alphanumeric).collect()
}

/// The first `max` characters of `s` (all of it when shorter), like Go's `%.Ns`.
fn cut(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((end, _)) => s.get(..end).unwrap_or(s),
        None => s,
    }
}

/// `k8s-<group≤17>-<hash≤10>` for explicit groups, `k8s-<ns≤8>-<name≤8>-<hash≤10>` for
/// implicit ones.
fn group_scoped_name(group: &GroupId, hash: &str) -> String {
    match group {
        GroupId::Explicit { name } => {
            format!("k8s-{}-{}", cut(&sanitize(name), 17), cut(hash, 10))
        }
        GroupId::Implicit { namespace, name } => format!(
            "k8s-{}-{}-{}",
            cut(&sanitize(namespace), 8),
            cut(&sanitize(name), 8),
            cut(hash, 10)
        ),
    }
}

/// The generated ALB name (used when the group sets no `load-balancer-name`):
/// hash of cluster name, group ID and scheme. The scheme is part of the hash, so changing it
/// yields a new load balancer.
pub fn load_balancer_name(cluster_name: &str, group: &GroupId, scheme: Scheme) -> String {
    let group_id = group.to_string();
    let hash = hex_sha256([
        cluster_name.as_bytes(),
        group_id.as_bytes(),
        scheme.as_str().as_bytes(),
    ]);
    group_scoped_name(group, &hash)
}

/// The name of the group's managed frontend security group: hash of cluster name and group ID.
pub fn managed_security_group_name(cluster_name: &str, group: &GroupId) -> String {
    let group_id = group.to_string();
    let hash = hex_sha256([cluster_name.as_bytes(), group_id.as_bytes()]);
    group_scoped_name(group, &hash)
}

/// The name of the cluster-wide backend security group:
/// `k8s-traffic-<cluster≤232>-<hash(cluster)≤10>`.
pub fn backend_security_group_name(cluster_name: &str) -> String {
    let hash = hex_sha256([cluster_name.as_bytes()]);
    format!(
        "k8s-traffic-{}-{}",
        cut(&sanitize(cluster_name), 232),
        cut(&hash, 10)
    )
}

/// Everything a target group's name depends on.
#[derive(Clone, Copy, Debug)]
pub struct TargetGroupNameInput<'a> {
    pub cluster_name: &'a str,
    pub group: &'a GroupId,
    /// The Ingress whose backend this target group serves.
    pub ingress_namespace: &'a str,
    pub ingress_name: &'a str,
    pub service_namespace: &'a str,
    pub service_name: &'a str,
    /// `metadata.uid` of the Service.
    pub service_uid: &'a str,
    /// The backend's port as the Ingress names it (number or name).
    pub service_port: &'a IntOrString,
    /// The target group's port (NodePort, numeric targetPort, or 1).
    pub target_port: i32,
    pub target_type: TargetType,
    pub protocol: Protocol,
    pub protocol_version: ProtocolVersion,
    /// `target-control-port.<svc>.<port>`, when set.
    pub target_control_port: Option<i32>,
}

/// The target group (and TargetGroupBinding) name: `k8s-<svcNs≤8>-<svcName≤8>-<hash≤10>`,
/// hashing cluster, group ID, Ingress namespace and name, Service UID, backend port, target
/// port, target type, protocol, protocol version and (when set) the target control port.
pub fn target_group_name(input: &TargetGroupNameInput<'_>) -> String {
    // Built without intermediate strings: this runs once per target group of every build.
    let mut hasher = Sha256::new();
    hasher.update(input.cluster_name);
    match input.group {
        GroupId::Explicit { name } => hasher.update(name),
        GroupId::Implicit { namespace, name } => {
            hasher.update(namespace);
            hasher.update("/");
            hasher.update(name);
        }
    }
    hasher.update(input.ingress_namespace);
    hasher.update(input.ingress_name);
    hasher.update(input.service_uid);
    match input.service_port {
        IntOrString::Int(port) => hasher.update(port.to_string()),
        IntOrString::String(name) => hasher.update(name),
    }
    hasher.update(input.target_port.to_string());
    hasher.update(input.target_type.as_str());
    hasher.update(input.protocol.as_str());
    hasher.update(input.protocol_version.as_str());
    if let Some(port) = input.target_control_port {
        hasher.update(port.to_string());
    }
    let hash = hex(&hasher.finalize());
    let mut name = String::with_capacity(MAX_ELBV2_NAME_LENGTH);
    name.push_str("k8s-");
    push_sanitized(&mut name, input.service_namespace, 8);
    name.push('-');
    push_sanitized(&mut name, input.service_name, 8);
    name.push('-');
    name.push_str(cut(&hash, 10));
    name
}

/// Appends the first `max` ASCII letters and digits of `s` (what `cut(&sanitize(s), max)`
/// gives, without the intermediate string).
fn push_sanitized(out: &mut String, s: &str, max: usize) {
    out.extend(s.chars().filter(char::is_ascii_alphanumeric).take(max));
}

/// The frontend NLB's name: the ALB's name cut to 28 characters, then `-nlb`.
pub fn frontend_nlb_name(alb_name: &str) -> String {
    format!("{}-nlb", cut(alb_name, 28))
}

/// The name of a frontend NLB target group (targeting the ALB): hash of cluster name, group
/// ID, port, target type `alb`, protocol, health-check port (`traffic-port` or the number) and
/// health-check protocol.
pub fn frontend_nlb_target_group_name(
    cluster_name: &str,
    group: &GroupId,
    port: u16,
    protocol: Protocol,
    health_check_port: &str,
    health_check_protocol: Protocol,
) -> String {
    let group_id = group.to_string();
    let port = port.to_string();
    let hash = hex_sha256([
        cluster_name.as_bytes(),
        group_id.as_bytes(),
        port.as_bytes(),
        b"alb".as_slice(),
        protocol.as_str().as_bytes(),
        health_check_port.as_bytes(),
        health_check_protocol.as_str().as_bytes(),
    ]);
    group_scoped_name(group, &hash)
}

/// `k8s-<ns≤8>-<name≤8>-<hash≤10>` for a Service's resources.
fn service_scoped_name(namespace: &str, name: &str, hash: &str) -> String {
    format!(
        "k8s-{}-{}-{}",
        cut(&sanitize(namespace), 8),
        cut(&sanitize(name), 8),
        cut(hash, 10)
    )
}

/// The generated NLB name of a Service: hash of cluster name, Service UID and scheme.
pub fn nlb_name(
    cluster_name: &str,
    namespace: &str,
    name: &str,
    uid: &str,
    scheme: Scheme,
) -> String {
    let hash = hex_sha256([
        cluster_name.as_bytes(),
        uid.as_bytes(),
        scheme.as_str().as_bytes(),
    ]);
    service_scoped_name(namespace, name, &hash)
}

/// The name of a Service's managed security group: hash of cluster name, Service name,
/// namespace and UID (in that order).
pub fn nlb_security_group_name(
    cluster_name: &str,
    namespace: &str,
    name: &str,
    uid: &str,
) -> String {
    let hash = hex_sha256([
        cluster_name.as_bytes(),
        name.as_bytes(),
        namespace.as_bytes(),
        uid.as_bytes(),
    ]);
    service_scoped_name(namespace, name, &hash)
}

/// What an NLB target group's name is hashed from.
#[derive(Clone, Copy, Debug)]
pub struct NlbTargetGroupNameInput<'a> {
    pub cluster_name: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
    pub target_group_port: i32,
    pub service_port: i32,
    pub target_type: TargetType,
    pub protocol: Protocol,
    pub health_check_protocol: Protocol,
    pub health_check_interval: i32,
}

/// The name of an NLB target group (and its binding): hash of cluster name, Service UID,
/// target group port, Service port, target type, protocol, health-check protocol and
/// interval.
pub fn nlb_target_group_name(input: &NlbTargetGroupNameInput<'_>) -> String {
    let tg_port = input.target_group_port.to_string();
    let svc_port = input.service_port.to_string();
    let interval = input.health_check_interval.to_string();
    let hash = hex_sha256([
        input.cluster_name.as_bytes(),
        input.uid.as_bytes(),
        tg_port.as_bytes(),
        svc_port.as_bytes(),
        input.target_type.as_str().as_bytes(),
        input.protocol.as_str().as_bytes(),
        input.health_check_protocol.as_str().as_bytes(),
        interval.as_bytes(),
    ]);
    service_scoped_name(input.namespace, input.name, &hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn explicit(name: &str) -> GroupId {
        GroupId::explicit(name).expect("valid group name")
    }

    /// Upstream's verified outputs (reference §6.3).
    #[test]
    fn load_balancer_names_match_upstream() {
        let cases = [
            (
                "cluster-dummy",
                GroupId::implicit("ns-1", "ing-1"),
                Scheme::Internal,
                "k8s-ns1-ing1-b7e914000d",
            ),
            (
                "cluster-dummy",
                GroupId::implicit("ns-1", "ing-1"),
                Scheme::InternetFacing,
                "k8s-ns1-ing1-159dd7a143",
            ),
            (
                "",
                GroupId::implicit("awesome-ns", "ing-1"),
                Scheme::InternetFacing,
                "k8s-awesomen-ing1-43b698093c",
            ),
            (
                "",
                explicit("explicit-group"),
                Scheme::Internal,
                "k8s-explicitgroup-5bf9e53c23",
            ),
        ];
        for (cluster, group, scheme, want) in cases {
            assert_eq!(
                load_balancer_name(cluster, &group, scheme),
                want,
                "{cluster:?} {group} {scheme}"
            );
        }
    }

    #[test]
    fn managed_security_group_name_matches_upstream() {
        assert_eq!(
            managed_security_group_name("cluster-dummy", &GroupId::implicit("ns-1", "ing-1")),
            "k8s-ns1-ing1-bd83176788"
        );
    }

    fn tg_input<'a>(
        group: &'a GroupId,
        service_name: &'a str,
        port: &'a IntOrString,
    ) -> TargetGroupNameInput<'a> {
        TargetGroupNameInput {
            cluster_name: "cluster-dummy",
            group,
            ingress_namespace: "ns-1",
            ingress_name: "ing-1",
            service_namespace: "ns-1",
            service_name,
            service_uid: "",
            service_port: port,
            target_port: 32768,
            target_type: TargetType::Instance,
            protocol: Protocol::Http,
            protocol_version: ProtocolVersion::Http1,
            target_control_port: None,
        }
    }

    #[test]
    fn target_group_names_match_upstream() {
        let group = GroupId::implicit("ns-1", "ing-1");
        let http = IntOrString::String("http".into());
        assert_eq!(
            target_group_name(&tg_input(&group, "svc-1", &http)),
            "k8s-ns1-svc1-9889425938"
        );
        let https = IntOrString::String("https".into());
        let ip = TargetGroupNameInput {
            target_port: 8443,
            target_type: TargetType::Ip,
            protocol: Protocol::Https,
            ..tg_input(&group, "svc-3", &https)
        };
        assert_eq!(target_group_name(&ip), "k8s-ns1-svc3-bf42870fba");
    }

    #[test]
    fn every_target_group_input_changes_the_hash() {
        let group = GroupId::implicit("ns-1", "ing-1");
        let other_group = explicit("other");
        let http = IntOrString::String("http".into());
        let eighty = IntOrString::Int(80);
        let base = tg_input(&group, "svc-1", &http);
        let base_name = target_group_name(&base);
        let variants = [
            TargetGroupNameInput {
                cluster_name: "other",
                ..base
            },
            TargetGroupNameInput {
                group: &other_group,
                ..base
            },
            TargetGroupNameInput {
                ingress_namespace: "ns-2",
                ..base
            },
            TargetGroupNameInput {
                ingress_name: "ing-2",
                ..base
            },
            TargetGroupNameInput {
                service_uid: "uid-1",
                ..base
            },
            TargetGroupNameInput {
                service_port: &eighty,
                ..base
            },
            TargetGroupNameInput {
                target_port: 32769,
                ..base
            },
            TargetGroupNameInput {
                target_type: TargetType::Ip,
                ..base
            },
            TargetGroupNameInput {
                protocol: Protocol::Https,
                ..base
            },
            TargetGroupNameInput {
                protocol_version: ProtocolVersion::Grpc,
                ..base
            },
            TargetGroupNameInput {
                target_control_port: Some(3000),
                ..base
            },
        ];
        for variant in &variants {
            let name = target_group_name(variant);
            assert_ne!(name, base_name, "{variant:?}");
            assert!(name.starts_with("k8s-ns1-svc1-"), "{name}");
        }
        // The Service's namespace only shapes the readable prefix, not the hash.
        let moved = TargetGroupNameInput {
            service_namespace: "ns-2",
            ..base
        };
        assert_eq!(
            target_group_name(&moved).rsplit('-').next(),
            base_name.rsplit('-').next()
        );
    }

    #[test]
    fn target_control_port_is_hashed_as_decimal_suffix() {
        let group = GroupId::implicit("ns-1", "ing-1");
        let http = IntOrString::String("http".into());
        let input = TargetGroupNameInput {
            target_control_port: Some(3000),
            ..tg_input(&group, "svc-1", &http)
        };
        let want = hex_sha256([
            "cluster-dummy".as_bytes(),
            b"ns-1/ing-1",
            b"ns-1",
            b"ing-1",
            b"",
            b"http",
            b"32768",
            b"instance",
            b"HTTP",
            b"HTTP1",
            b"3000",
        ]);
        assert_eq!(
            target_group_name(&input),
            format!("k8s-ns1-svc1-{}", cut(&want, 10))
        );
    }

    #[test]
    fn names_are_sanitised_and_cut() {
        let long = explicit("a.very-long.group-name-that-goes-on");
        let name = load_balancer_name("c", &long, Scheme::Internal);
        assert!(name.starts_with("k8s-averylonggroupnam-"), "{name}");
        assert_eq!(name.len(), "k8s-".len() + 17 + 1 + 10);
        assert!(name.len() <= MAX_ELBV2_NAME_LENGTH);

        let implicit = GroupId::implicit("Namespace_With.Dots", "ingress-name-long");
        let name = managed_security_group_name("c", &implicit);
        assert!(name.starts_with("k8s-Namespac-ingressn-"), "{name}");
        assert!(name.len() <= MAX_ELBV2_NAME_LENGTH);

        // Non-ASCII letters are dropped like any other non-alphanumeric.
        assert_eq!(sanitize("ns-ü1_x"), "ns1x");
        assert_eq!(cut("abc", 10), "abc");
        assert_eq!(cut("abcdef", 3), "abc");
    }

    #[test]
    fn backend_security_group_name_layout() {
        let name = backend_security_group_name("my-cluster");
        let hash = hex_sha256([b"my-cluster".as_slice()]);
        assert_eq!(name, format!("k8s-traffic-mycluster-{}", cut(&hash, 10)));
        let long_cluster = "c".repeat(300);
        let name = backend_security_group_name(&long_cluster);
        assert_eq!(name.len(), "k8s-traffic-".len() + 232 + 1 + 10);
    }

    #[test]
    fn hash_is_lowercase_hex_sha256() {
        // SHA-256 of the empty input.
        assert_eq!(
            hex_sha256(std::iter::empty()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}

#[cfg(test)]
mod frontend_nlb_names {
    use super::*;

    /// Upstream's frontend NLB fixtures (pkg/ingress/model_build_frontend_nlb_test.go).
    #[test]
    fn names_match_upstream() {
        assert_eq!(frontend_nlb_name("test-alb"), "test-alb-nlb");
        assert_eq!(
            frontend_nlb_name("k8s-averyveryverylongnamespace-01234567"),
            "k8s-averyveryverylongnamespa-nlb"
        );
        assert_eq!(
            frontend_nlb_target_group_name(
                "test-cluster",
                &GroupId::implicit("default", "my-ingress"),
                80,
                Protocol::Tcp,
                "80",
                Protocol::Tcp,
            ),
            "k8s-default-myingres-8c0a3e00bd"
        );
    }
}
