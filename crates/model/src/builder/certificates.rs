//! Certificate discovery without ACM: the hosts of an Ingress matched against the certificates
//! the controller knows ([`ClusterFacts::certificates`](crate::ClusterFacts)), with
//! ACM's domain semantics (exact name, or `*.` covering exactly one leading label).

use std::collections::BTreeSet;

use k8s_openapi::api::networking::v1::Ingress;

use crate::KnownCertificate;

/// The hosts of an Ingress that need certificates: `rules[].host` and `tls[].hosts`, sorted and
/// without duplicates.
pub(crate) fn ingress_hosts(ingress: &Ingress) -> Vec<String> {
    let mut hosts = BTreeSet::new();
    if let Some(spec) = &ingress.spec {
        for rule in spec.rules.iter().flatten() {
            if let Some(host) = rule.host.as_ref().filter(|h| !h.is_empty()) {
                hosts.insert(host.clone());
            }
        }
        for tls in spec.tls.iter().flatten() {
            hosts.extend(tls.hosts.iter().flatten().cloned());
        }
    }
    hosts.into_iter().collect()
}

/// Whether a certificate domain covers a host: equal, or a wildcard `*.rest` whose `rest`
/// equals everything after the host's first label.
pub(crate) fn domain_matches(domain: &str, host: &str) -> bool {
    match domain.strip_prefix("*.") {
        Some(rest) => host
            .split_once('.')
            .is_some_and(|(first, host_rest)| !first.is_empty() && host_rest == rest),
        None => domain == host,
    }
}

/// Why discovery found no single certificate for a host.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DiscoveryError {
    #[error("no certificate found for host: {host}")]
    NotFound { host: String },
    #[error("multiple certificates found for host: {host}, certARNs: {}", super::errors::go_list(.arns))]
    Ambiguous { host: String, arns: Vec<String> },
}

/// One certificate per host; the ARNs found, sorted and without duplicates.
pub(crate) fn discover(
    hosts: &[String],
    known: &[KnownCertificate],
) -> Result<Vec<String>, DiscoveryError> {
    let mut found = BTreeSet::new();
    for host in hosts {
        let matching: Vec<String> = known
            .iter()
            .filter(|c| c.domains.iter().any(|d| domain_matches(d, host)))
            .map(|c| c.arn.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        match matching.as_slice() {
            [] => {
                return Err(DiscoveryError::NotFound { host: host.clone() });
            }
            [one] => {
                found.insert(one.clone());
            }
            _ => {
                return Err(DiscoveryError::Ambiguous {
                    host: host.clone(),
                    arns: matching,
                });
            }
        }
    }
    Ok(found.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(arn: &str, domains: &[&str]) -> KnownCertificate {
        KnownCertificate {
            arn: arn.to_owned(),
            domains: domains.iter().map(|d| (*d).to_owned()).collect(),
        }
    }

    #[test]
    fn wildcard_covers_exactly_one_label() {
        assert!(domain_matches("*.example.com", "www.example.com"));
        assert!(!domain_matches("*.example.com", "example.com"));
        assert!(!domain_matches("*.example.com", "a.b.example.com"));
        assert!(domain_matches("example.com", "example.com"));
        assert!(!domain_matches("example.com", "www.example.com"));
    }

    #[test]
    fn discovery_picks_one_certificate_per_host() {
        let known = [
            cert("arn:b", &["*.example.com"]),
            cert("arn:a", &["api.other.org", "other.org"]),
        ];
        let hosts = vec!["api.other.org".to_owned(), "www.example.com".to_owned()];
        assert_eq!(
            discover(&hosts, &known),
            Ok(vec!["arn:a".to_owned(), "arn:b".to_owned()])
        );
        let err = discover(&["nope.io".to_owned()], &known).expect_err("no match");
        assert_eq!(err.to_string(), "no certificate found for host: nope.io");
        let overlapping = [cert("arn:1", &["*.x.io"]), cert("arn:2", &["a.x.io"])];
        let err = discover(&["a.x.io".to_owned()], &overlapping).expect_err("two matches");
        assert_eq!(
            err.to_string(),
            "multiple certificates found for host: a.x.io, certARNs: [arn:1 arn:2]"
        );
    }
}
