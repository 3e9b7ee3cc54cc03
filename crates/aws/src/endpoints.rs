//! Per-service AWS endpoints, as upstream's `--aws-api-endpoints=serviceID=URL,...` (e.g. VPC
//! endpoints in a cluster without internet access).
//!
//! Keys are the SDK service IDs upstream documents (`EC2`, `Elastic Load Balancing v2`, `ACM`,
//! `WAFV2`, `WAF Regional`, `Shield`, `STS`, `Resource Groups Tagging API`), matched without
//! regard to case, or the endpoint prefixes (`ec2`, `elasticloadbalancing`, `acm`, `wafv2`,
//! `waf-regional`, `shield`, `sts`, `tagging`). They reach every client built from the SDK
//! configuration (the assumed-role ones too) through the SDK's service-specific configuration,
//! ahead of `AWS_ENDPOINT_URL_<SERVICE>` and `AWS_ENDPOINT_URL`.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

/// The service IDs of the clients this controller builds, with their endpoint prefixes.
const SERVICES: [(&str, &str); 8] = [
    ("EC2", "ec2"),
    ("Elastic Load Balancing v2", "elasticloadbalancing"),
    ("ACM", "acm"),
    ("WAFV2", "wafv2"),
    ("WAF Regional", "waf-regional"),
    ("Shield", "shield"),
    ("STS", "sts"),
    ("Resource Groups Tagging API", "tagging"),
];

/// The endpoint per service ID, and the keys that named no service of ours.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointOverrides {
    by_service: BTreeMap<&'static str, String>,
    unknown: Vec<String>,
}

/// Why an `--aws-api-endpoints` value was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EndpointConfigError {
    #[error("{0} must be formatted as serviceID=URL")]
    Pair(String),
    #[error("{service}: endpoint {url} must be an http:// or https:// URL")]
    Url { service: String, url: String },
}

impl EndpointOverrides {
    /// Parses `serviceID=URL[,serviceID=URL...]`.
    pub fn parse(text: &str) -> Result<Self, EndpointConfigError> {
        let mut out = Self::default();
        for pair in text.split(',').filter(|p| !p.trim().is_empty()) {
            let (key, url) = pair
                .split_once('=')
                .ok_or_else(|| EndpointConfigError::Pair(pair.to_owned()))?;
            let (key, url) = (key.trim(), url.trim());
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(EndpointConfigError::Url {
                    service: key.to_owned(),
                    url: url.to_owned(),
                });
            }
            match service_id(key) {
                Some(id) => {
                    out.by_service.insert(id, url.to_owned());
                }
                None => out.unknown.push(key.to_owned()),
            }
        }
        Ok(out)
    }

    /// The endpoint given for a service ID.
    pub fn get(&self, service_id: &str) -> Option<&str> {
        self.by_service
            .iter()
            .find(|(id, _)| id.eq_ignore_ascii_case(service_id))
            .map(|(_, url)| url.as_str())
    }

    /// Keys naming a service this controller does not call (worth a warning, not a refusal:
    /// upstream's flag may list more services).
    pub fn unknown(&self) -> &[String] {
        &self.unknown
    }

    pub fn is_empty(&self) -> bool {
        self.by_service.is_empty()
    }

    /// `sdk` with these endpoints ahead of its own service-specific configuration.
    pub fn apply(&self, sdk: SdkConfig) -> SdkConfig {
        if self.is_empty() {
            return sdk;
        }
        let layered = Layered {
            overrides: self.clone(),
            base: sdk.clone(),
        };
        sdk.into_builder().service_config(layered).build()
    }
}

/// The service ID a key names.
fn service_id(key: &str) -> Option<&'static str> {
    SERVICES
        .iter()
        .find(|(id, prefix)| key.eq_ignore_ascii_case(id) || key.eq_ignore_ascii_case(prefix))
        .map(|(id, _)| *id)
}

/// Our endpoints first, then whatever the environment / profile configured.
#[derive(Debug)]
struct Layered {
    overrides: EndpointOverrides,
    base: SdkConfig,
}

impl LoadServiceConfig for Layered {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        if key.profile() == "endpoint_url"
            && let Some(url) = self.overrides.get(key.service_id())
        {
            return Some(url.to_owned());
        }
        self.base.service_config()?.load_config(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_service_ids_or_endpoint_prefixes_in_any_case() {
        let parsed = EndpointOverrides::parse(
            "EC2=https://ec2.vpce.example, elasticloadbalancing=https://elb.vpce.example,acm=http://127.0.0.1:1",
        )
        .expect("valid");
        assert_eq!(parsed.get("EC2"), Some("https://ec2.vpce.example"));
        assert_eq!(
            parsed.get("Elastic Load Balancing v2"),
            Some("https://elb.vpce.example")
        );
        assert_eq!(parsed.get("ACM"), Some("http://127.0.0.1:1"));
        assert_eq!(parsed.get("WAFV2"), None);
        assert!(parsed.unknown().is_empty());
    }

    #[test]
    fn unknown_services_are_kept_for_a_warning_and_bad_pairs_refused() {
        let parsed =
            EndpointOverrides::parse("globalaccelerator=https://ga.example").expect("valid");
        assert!(parsed.is_empty());
        assert_eq!(parsed.unknown(), ["globalaccelerator"]);
        assert_eq!(
            EndpointOverrides::parse("ec2"),
            Err(EndpointConfigError::Pair("ec2".into()))
        );
        assert_eq!(
            EndpointOverrides::parse("ec2=ec2.example"),
            Err(EndpointConfigError::Url {
                service: "ec2".into(),
                url: "ec2.example".into()
            })
        );
    }

    #[tokio::test]
    async fn applied_endpoints_reach_the_clients_built_from_the_sdk_config() {
        let canned = crate::canned_http::CannedHttp::new("");
        let sdk = crate::canned_http::CannedHttp::sdk_config(canned.shared());
        let parsed = EndpointOverrides::parse("ec2=https://ec2.vpce.example").expect("valid");
        let clients = crate::AwsClients::new(&parsed.apply(sdk), &[]);
        // The canned answer is empty; only where the requests went matters.
        let _ = clients.ec2.describe_vpcs().send().await;
        let _ = clients.elbv2.describe_load_balancers().send().await;
        let seen: Vec<String> = canned.seen().into_iter().map(|(uri, _)| uri).collect();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(seen[0].starts_with("https://ec2.vpce.example"), "{seen:?}");
        assert!(
            seen[1].starts_with("https://elasticloadbalancing.us-west-2.amazonaws.com"),
            "{seen:?}"
        );
    }
}
