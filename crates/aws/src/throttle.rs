//! Client-side rate limits on AWS calls, as upstream's `--aws-api-throttle`: token buckets
//! chosen by service ID and an operation regex, waited on before every HTTP attempt (retries
//! included), so a burst of reconciles spreads out instead of drawing throttling errors from
//! AWS.
//!
//! The flag's format is upstream's, `serviceID:operationRegex=rate:burst[,...]`, with the SDK's
//! service IDs (`Elastic Load Balancing v2`, `EC2`, `WAFV2`, ...). Rules given for a service
//! replace that service's defaults; every rule of a service whose regex matches the operation
//! (unanchored, as Go's `MatchString`) is waited on.
//!
//! The limits sit in an [`HttpClient`] wrapper: the SDK's interceptors cannot wait, its
//! connectors can. [`super::aws`]'s call counter tags each request with the operation's
//! [`Metadata`] so the connector knows which buckets apply.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, Metadata};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use regex::Regex;
use tokio::time::Instant;

/// One limit: calls of the operations matching `operations`, at most `rate` per second after a
/// burst of `burst`.
#[derive(Clone, Debug)]
pub struct ThrottleRule {
    pub operations: Regex,
    pub rate: f64,
    pub burst: u32,
}

impl PartialEq for ThrottleRule {
    fn eq(&self, other: &Self) -> bool {
        self.operations.as_str() == other.operations.as_str()
            && self.rate == other.rate
            && self.burst == other.burst
    }
}

/// The limits by service ID.
#[derive(Clone, Debug, PartialEq)]
pub struct ThrottleConfig {
    services: BTreeMap<String, Vec<ThrottleRule>>,
}

/// Why an `--aws-api-throttle` value was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ThrottleConfigError {
    #[error("{0} must be formatted as serviceID:operationRegex=rate:burst")]
    Pair(String),
    #[error("{0} must be formatted as serviceID:operationRegex")]
    ServiceOperation(String),
    #[error("{0} must be formatted as rate:burst")]
    RateBurst(String),
    #[error("{0} must be valid regex expression for operation")]
    Regex(String),
    #[error("{0} must be valid float number as rate for operations per second")]
    Rate(String),
    #[error("{0} must be valid integer as burst for operations")]
    Burst(String),
}

fn rule(pattern: &str, rate: f64, burst: u32) -> ThrottleRule {
    ThrottleRule {
        operations: Regex::new(pattern).expect("the default patterns are valid regexes"),
        rate,
        burst,
    }
}

impl Default for ThrottleConfig {
    /// Upstream's defaults (`pkg/aws/throttle/defaults.go`).
    fn default() -> Self {
        let waf = || {
            vec![
                rule("^AssociateWebACL|DisassociateWebACL", 0.5, 1),
                rule("^GetWebACLForResource|ListResourcesForWebACL", 1.0, 1),
            ]
        };
        let services = BTreeMap::from([
            ("WAF Regional".to_owned(), waf()),
            ("WAFV2".to_owned(), waf()),
            (
                "Elastic Load Balancing v2".to_owned(),
                vec![
                    rule("^RegisterTargets|^DeregisterTargets", 4.0, 20),
                    rule("^Describe", 50.0, 200),
                    rule("^Modify", 3.0, 20),
                ],
            ),
        ]);
        Self { services }
    }
}

impl ThrottleConfig {
    /// No limits at all.
    pub fn none() -> Self {
        Self {
            services: BTreeMap::new(),
        }
    }

    /// The defaults with `text`'s rules replacing those of the services it names.
    pub fn with_overrides(mut self, text: &str) -> Result<Self, ThrottleConfigError> {
        let mut overrides: BTreeMap<String, Vec<ThrottleRule>> = BTreeMap::new();
        for pair in text.split(',').filter(|p| !p.trim().is_empty()) {
            let (target, limit) = split_exactly(pair, '=')
                .ok_or_else(|| ThrottleConfigError::Pair(pair.to_owned()))?;
            let (service, operations) = split_exactly(target, ':')
                .ok_or_else(|| ThrottleConfigError::ServiceOperation(target.to_owned()))?;
            let (rate, burst) = split_exactly(limit, ':')
                .ok_or_else(|| ThrottleConfigError::RateBurst(limit.to_owned()))?;
            let operations = Regex::new(operations)
                .map_err(|_| ThrottleConfigError::Regex(operations.to_owned()))?;
            let rate = rate
                .parse::<f64>()
                .ok()
                .filter(|r| r.is_finite() && *r >= 0.0)
                .ok_or_else(|| ThrottleConfigError::Rate(rate.to_owned()))?;
            let burst = burst
                .parse::<u32>()
                .map_err(|_| ThrottleConfigError::Burst(burst.to_owned()))?;
            overrides
                .entry(service.to_owned())
                .or_default()
                .push(ThrottleRule {
                    operations,
                    rate,
                    burst,
                });
        }
        self.services.extend(overrides);
        Ok(self)
    }

    /// The rules of one service.
    pub fn rules(&self, service: &str) -> &[ThrottleRule] {
        self.services.get(service).map_or(&[], Vec::as_slice)
    }
}

impl FromStr for ThrottleConfig {
    type Err = ThrottleConfigError;

    /// Upstream's defaults overridden by the flag's value.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::default().with_overrides(text)
    }
}

impl fmt::Display for ThrottleConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (service, rules) in &self.services {
            for rule in rules {
                if !first {
                    f.write_str(",")?;
                }
                first = false;
                write!(
                    f,
                    "{service}:{}={}:{}",
                    rule.operations.as_str(),
                    rule.rate,
                    rule.burst
                )?;
            }
        }
        Ok(())
    }
}

/// `a<sep>b` with exactly one separator.
fn split_exactly(text: &str, sep: char) -> Option<(&str, &str)> {
    let (a, b) = text.split_once(sep)?;
    (!b.contains(sep)).then_some((a, b))
}

/// A token bucket whose waiters reserve their token before sleeping (so they are served in
/// arrival order and never starve).
#[derive(Debug)]
struct Bucket {
    rate: f64,
    burst: f64,
    state: Mutex<BucketState>,
}

#[derive(Debug)]
struct BucketState {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            rate,
            burst,
            state: Mutex::new(BucketState {
                tokens: burst,
                at: Instant::now(),
            }),
        }
    }

    /// Takes one token; how long to wait before using it.
    fn reserve(&self) -> Duration {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(state.at).as_secs_f64();
        state.tokens = (state.tokens + elapsed * self.rate).min(self.burst);
        state.at = now;
        state.tokens -= 1.0;
        if state.tokens >= 0.0 {
            Duration::ZERO
        } else if self.rate > 0.0 {
            Duration::from_secs_f64(-state.tokens / self.rate)
        } else {
            // A zero rate after the burst: as Go's limiter, never again; a day stands for it.
            Duration::from_secs(86_400)
        }
    }
}

/// The buckets of a [`ThrottleConfig`].
#[derive(Debug)]
pub struct Throttle {
    buckets: BTreeMap<String, Vec<(Regex, Bucket)>>,
}

impl Throttle {
    pub fn new(config: &ThrottleConfig) -> Self {
        let buckets = config
            .services
            .iter()
            .map(|(service, rules)| {
                let buckets = rules
                    .iter()
                    .map(|r| (r.operations.clone(), Bucket::new(r.rate, r.burst)))
                    .collect();
                (service.clone(), buckets)
            })
            .collect();
        Self { buckets }
    }

    /// How long a call of `operation` on `service` must wait now (its tokens are taken).
    pub fn reserve(&self, service: &str, operation: &str) -> Duration {
        self.buckets
            .get(service)
            .into_iter()
            .flatten()
            .filter(|(pattern, _)| pattern.is_match(operation))
            .map(|(_, bucket)| bucket.reserve())
            .max()
            .unwrap_or(Duration::ZERO)
    }
}

/// An HTTP client that waits for the [`Throttle`] before each request it sends.
#[derive(Clone, Debug)]
pub struct ThrottledHttpClient {
    inner: SharedHttpClient,
    throttle: Arc<Throttle>,
}

impl ThrottledHttpClient {
    pub fn new(inner: SharedHttpClient, throttle: Arc<Throttle>) -> Self {
        Self { inner, throttle }
    }
}

impl HttpClient for ThrottledHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(ThrottledConnector {
            inner: self.inner.http_connector(settings, components),
            throttle: self.throttle.clone(),
        })
    }
}

#[derive(Debug)]
struct ThrottledConnector {
    inner: SharedHttpConnector,
    throttle: Arc<Throttle>,
}

impl HttpConnector for ThrottledConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let wait = request
            .extension::<Metadata>()
            .map_or(Duration::ZERO, |meta| {
                self.throttle.reserve(meta.service(), meta.name())
            });
        let inner = self.inner.clone();
        HttpConnectorFuture::new(async move {
            if !wait.is_zero() {
                tracing::debug!(?wait, "AWS call waits for the client-side throttle");
                tokio::time::sleep(wait).await;
            }
            inner.call(request).await
        })
    }
}

/// The SDK's default HTTPS client (hyper 1, rustls with aws-lc, proxy from the environment),
/// behind `throttle`.
pub fn throttled_default_client(throttle: Arc<Throttle>) -> SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    use aws_smithy_http_client::{Builder, ConnectorBuilder};

    let inner = Builder::new().build_with_connector_fn(|settings, components| {
        let mut builder =
            ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
        builder.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            builder.set_sleep_impl(components.sleep_impl());
        }
        builder.set_proxy_config(Some(ProxyConfig::from_env()));
        builder.build()
    });
    SharedHttpClient::new(ThrottledHttpClient::new(inner, throttle))
}

#[cfg(test)]
mod tests;
