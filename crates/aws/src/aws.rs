//! The AWS clients the deployer uses, built from `aws_config` (so `AWS_ENDPOINT_URL`,
//! `AWS_REGION` and the usual credential chain apply), and the counter that sees every call.
//!
//! Every client carries an interceptor that counts each call (one per SDK execution, whatever
//! the SDK retried underneath) by service and operation into the Prometheus family
//! `aws_api_calls_total{service,operation}`, into a running [`CallSnapshot`] of the clients, and
//! into the snapshot of the deploy running in the current task (see [`with_call_tally`]).

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::{ConfigBag, Intercept, RuntimeComponents, SharedInterceptor};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use super::endpoints::EndpointOverrides;
use super::throttle::{Throttle, ThrottleConfig, throttled_default_client};

/// How the clients are configured beyond what the environment says.
#[derive(Clone, Debug, PartialEq)]
pub struct AwsSettings {
    /// The region; `None` takes it from the environment / profile.
    pub region: Option<String>,
    /// An endpoint for every service (e.g. a local emulator); `None` honours `AWS_ENDPOINT_URL`.
    pub endpoint_url: Option<String>,
    /// Attempts per call under the SDK's standard retry mode (throttling, 5xx, transport errors).
    pub max_attempts: u32,
    /// First backoff of the SDK's retries (jittered, exponential).
    pub initial_backoff: Duration,
    /// Upper bound for one call including its retries.
    pub operation_timeout: Option<Duration>,
    /// Client-side rate limits (`--aws-api-throttle`; upstream's defaults).
    pub throttle: ThrottleConfig,
    /// Per-service endpoints (`--aws-api-endpoints`).
    pub endpoints: EndpointOverrides,
}

impl Default for AwsSettings {
    fn default() -> Self {
        Self {
            region: None,
            endpoint_url: None,
            // Upstream's `--aws-max-retries` default is 10.
            max_attempts: 10,
            initial_backoff: Duration::from_secs(1),
            operation_timeout: Some(Duration::from_secs(120)),
            throttle: ThrottleConfig::default(),
            endpoints: EndpointOverrides::default(),
        }
    }
}

impl AwsSettings {
    /// The SDK retry configuration these settings ask for.
    pub fn retry_config(&self) -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(self.max_attempts.max(1))
            .with_initial_backoff(self.initial_backoff)
    }
}

/// The region of the Shield API, a global service.
pub const SHIELD_REGION: &str = "us-east-1";

/// The ELBv2, EC2, tagging, WAFv2, WAF Classic (regional) and Shield clients, sharing one call
/// counter.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub tagging: aws_sdk_resourcegroupstagging::Client,
    pub wafv2: aws_sdk_wafv2::Client,
    pub waf_regional: aws_sdk_wafregional::Client,
    /// Always in [`SHIELD_REGION`].
    pub shield: aws_sdk_shield::Client,
    /// Read only: certificate discovery.
    pub acm: aws_sdk_acm::Client,
    calls: CallCounter,
    sdk: SdkConfig,
}

impl AwsClients {
    /// Clients from the environment's configuration plus `settings`.
    pub async fn from_env(settings: &AwsSettings) -> Self {
        let throttle = Arc::new(Throttle::new(&settings.throttle));
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(settings.retry_config())
            .http_client(throttled_default_client(throttle));
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(timeout) = settings.operation_timeout {
            loader =
                loader.timeout_config(TimeoutConfig::builder().operation_timeout(timeout).build());
        }
        let sdk = settings.endpoints.apply(loader.load().await);
        Self::new(&sdk, &[])
    }

    /// Clients from an SDK configuration, with a new call counter and extra interceptors (run
    /// after the counter).
    pub fn new(sdk: &SdkConfig, interceptors: &[SharedInterceptor]) -> Self {
        Self::with_counter(sdk, interceptors, CallCounter::new())
    }

    /// Clients that count into an existing counter (e.g. one registered with the controller's
    /// metrics registry).
    pub fn with_counter(
        sdk: &SdkConfig,
        interceptors: &[SharedInterceptor],
        calls: CallCounter,
    ) -> Self {
        let mut all = vec![calls.interceptor()];
        all.extend(interceptors.iter().cloned());

        let mut elbv2 = aws_sdk_elasticloadbalancingv2::config::Builder::from(sdk);
        let mut ec2 = aws_sdk_ec2::config::Builder::from(sdk);
        let mut tagging = aws_sdk_resourcegroupstagging::config::Builder::from(sdk);
        let mut wafv2 = aws_sdk_wafv2::config::Builder::from(sdk);
        let mut waf_regional = aws_sdk_wafregional::config::Builder::from(sdk);
        let mut shield =
            aws_sdk_shield::config::Builder::from(sdk).region(Region::new(SHIELD_REGION));
        let mut acm = aws_sdk_acm::config::Builder::from(sdk);
        for interceptor in all {
            acm.push_interceptor(interceptor.clone());
            elbv2.push_interceptor(interceptor.clone());
            ec2.push_interceptor(interceptor.clone());
            wafv2.push_interceptor(interceptor.clone());
            waf_regional.push_interceptor(interceptor.clone());
            shield.push_interceptor(interceptor.clone());
            tagging.push_interceptor(interceptor);
        }
        Self {
            elbv2: aws_sdk_elasticloadbalancingv2::Client::from_conf(elbv2.build()),
            ec2: aws_sdk_ec2::Client::from_conf(ec2.build()),
            tagging: aws_sdk_resourcegroupstagging::Client::from_conf(tagging.build()),
            wafv2: aws_sdk_wafv2::Client::from_conf(wafv2.build()),
            waf_regional: aws_sdk_wafregional::Client::from_conf(waf_regional.build()),
            shield: aws_sdk_shield::Client::from_conf(shield.build()),
            acm: aws_sdk_acm::Client::from_conf(acm.build()),
            calls,
            sdk: sdk.clone(),
        }
    }

    /// The counter of every call these clients made.
    pub fn calls(&self) -> &CallCounter {
        &self.calls
    }

    /// The SDK configuration the clients were built from (region, endpoint, credentials).
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.sdk
    }
}

/// Operations whose name starts with one of these only read.
const READ_PREFIXES: [&str; 3] = ["Describe", "Get", "List"];

/// Whether an operation changes something (Create/Modify/Delete/Add/Remove/Set/Register/
/// Deregister/Authorize/Revoke/Tag/Untag...). Anything not known to be a read counts as
/// mutating.
pub fn is_mutating(operation: &str) -> bool {
    !READ_PREFIXES.iter().any(|p| operation.starts_with(p))
}

/// Short service labels.
fn service_label(service: &str) -> String {
    match service {
        "Elastic Load Balancing v2" => "elbv2".to_owned(),
        "EC2" => "ec2".to_owned(),
        "Resource Groups Tagging API" => "tagging".to_owned(),
        "WAFV2" => "wafv2".to_owned(),
        "WAF Regional" => "waf-regional".to_owned(),
        "Shield" => "shield".to_owned(),
        "ACM" => "acm".to_owned(),
        other => other.to_ascii_lowercase().replace(' ', "_"),
    }
}

/// Counts of calls by service and operation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallSnapshot {
    calls: BTreeMap<(String, String), u64>,
}

impl CallSnapshot {
    pub fn record(&mut self, service: &str, operation: &str) {
        *self
            .calls
            .entry((service.to_owned(), operation.to_owned()))
            .or_default() += 1;
    }

    /// Calls of an operation, over all services.
    pub fn count(&self, operation: &str) -> u64 {
        self.calls
            .iter()
            .filter(|((_, op), _)| op == operation)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn total(&self) -> u64 {
        self.calls.values().sum()
    }

    pub fn mutating_total(&self) -> u64 {
        self.mutating().values().sum()
    }

    pub fn read_total(&self) -> u64 {
        self.total() - self.mutating_total()
    }

    fn by_operation(&self, mutating: bool) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for ((_, op), n) in &self.calls {
            if is_mutating(op) == mutating {
                *out.entry(op.clone()).or_default() += n;
            }
        }
        out
    }

    /// Mutating calls by operation name.
    pub fn mutating(&self) -> BTreeMap<String, u64> {
        self.by_operation(true)
    }

    /// Read calls by operation name.
    pub fn reads(&self) -> BTreeMap<String, u64> {
        self.by_operation(false)
    }

    /// `(service, operation, count)` in a stable order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, u64)> {
        self.calls
            .iter()
            .map(|((s, o), n)| (s.as_str(), o.as_str(), *n))
    }

    /// The calls made since `earlier` (a snapshot of the same counter taken before).
    pub fn since(&self, earlier: &CallSnapshot) -> CallSnapshot {
        let calls = self
            .calls
            .iter()
            .filter_map(|(key, n)| {
                let before = earlier.calls.get(key).copied().unwrap_or(0);
                (*n > before).then(|| (key.clone(), n - before))
            })
            .collect();
        CallSnapshot { calls }
    }
}

impl fmt::Display for CallSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for ((service, op), n) in &self.calls {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{service}:{op}={n}")?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub service: String,
    pub operation: String,
}

/// Labels of a failed call: upstream's `aws_api_call_*_errors_total` labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub service: String,
    pub operation: String,
    pub status_code: String,
    pub error_code: String,
}

type HistogramFamily = Family<CallLabels, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

fn retries_histogram() -> Histogram {
    Histogram::new([0.0, 1.0, 2.0, 3.0, 5.0, 10.0])
}

#[derive(Debug)]
struct CounterInner {
    family: Family<CallLabels, Counter>,
    /// `aws_api_call_duration_seconds`: a whole call, retries included.
    durations: HistogramFamily,
    /// `aws_api_call_retries`: attempts after the first, per call.
    retries: HistogramFamily,
    /// `aws_api_call_errors_total`: calls that failed, by HTTP status and AWS error code.
    errors: Family<ErrorLabels, Counter>,
    totals: Mutex<CallSnapshot>,
    /// The leader flag, once leader election runs: mutating calls are refused while it is
    /// false.
    write_gate: OnceLock<watch::Receiver<bool>>,
}

impl Default for CounterInner {
    fn default() -> Self {
        Self {
            family: Family::default(),
            durations: Family::new_with_constructor(duration_histogram),
            retries: Family::new_with_constructor(retries_histogram),
            errors: Family::default(),
            totals: Mutex::default(),
            write_gate: OnceLock::new(),
        }
    }
}

/// When a call began and how many attempts it made (kept in the call's config bag).
#[derive(Clone, Debug)]
struct CallProgress {
    started: Instant,
    attempts: u32,
}

impl Storable for CallProgress {
    type Storer = StoreReplace<Self>;
}

/// The AWS error code of a failed response: the query protocol's `<Code>`, the JSON
/// protocol's `__type` (after its `#`), or the `x-amzn-ErrorType` header.
fn error_code(response: &HttpResponse) -> String {
    if let Some(kind) = response.headers().get("x-amzn-errortype") {
        return kind.split(':').next().unwrap_or(kind).to_owned();
    }
    let Some(body) = response
        .body()
        .bytes()
        .and_then(|b| std::str::from_utf8(b).ok())
    else {
        return String::new();
    };
    if let Some(start) = body.find("<Code>") {
        let rest = &body[start + 6..];
        return rest[..rest.find('<').unwrap_or(rest.len())]
            .trim()
            .to_owned();
    }
    if let Some(start) = body.find("\"__type\"") {
        let rest = &body[start + 8..];
        let value = rest
            .trim_start_matches([' ', ':', '"'])
            .split('"')
            .next()
            .unwrap_or_default();
        return value.rsplit('#').next().unwrap_or(value).to_owned();
    }
    String::new()
}

/// A mutating AWS call refused before it was sent because this replica does not lead.
#[derive(Debug, thiserror::Error)]
#[error("{operation} not sent: this replica is not the leader")]
pub struct NotLeader {
    pub operation: String,
}

/// Counts AWS calls; cheap to clone (shared).
#[derive(Clone, Debug, Default)]
pub struct CallCounter {
    inner: Arc<CounterInner>,
}

tokio::task_local! {
    static CURRENT_TALLY: Arc<Mutex<CallSnapshot>>;
}

/// Runs `fut`, collecting the calls made from inside it (in this task) into a snapshot.
pub async fn with_call_tally<F: Future>(fut: F) -> (F::Output, CallSnapshot) {
    let tally = Arc::new(Mutex::new(CallSnapshot::default()));
    let output = CURRENT_TALLY.scope(tally.clone(), fut).await;
    let snapshot = tally.lock().unwrap_or_else(PoisonError::into_inner).clone();
    (output, snapshot)
}

impl CallCounter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `aws_api_calls_total{service,operation}`, `aws_api_call_duration_seconds`,
    /// `aws_api_call_retries` (both by service and operation) and
    /// `aws_api_call_errors_total{service,operation,status_code,error_code}`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "aws_api_calls",
            "AWS API calls made, by service and operation",
            self.inner.family.clone(),
        );
        registry.register_with_unit(
            "aws_api_call_duration",
            "Duration of AWS API calls, retries included",
            prometheus_client::registry::Unit::Seconds,
            self.inner.durations.clone(),
        );
        registry.register(
            "aws_api_call_retries",
            "Retries of AWS API calls (attempts after the first)",
            self.inner.retries.clone(),
        );
        registry.register(
            "aws_api_call_errors",
            "AWS API calls that failed, by HTTP status and AWS error code",
            self.inner.errors.clone(),
        );
    }

    fn finished(
        &self,
        service: &str,
        operation: &str,
        progress: &CallProgress,
        failure: Option<(u16, String)>,
    ) {
        let labels = CallLabels {
            service: service_label(service),
            operation: operation.to_owned(),
        };
        self.inner
            .durations
            .get_or_create(&labels)
            .observe(progress.started.elapsed().as_secs_f64());
        self.inner
            .retries
            .get_or_create(&labels)
            .observe(f64::from(progress.attempts.saturating_sub(1)));
        if let Some((status, code)) = failure {
            self.inner
                .errors
                .get_or_create(&ErrorLabels {
                    service: labels.service,
                    operation: labels.operation,
                    status_code: status.to_string(),
                    error_code: code,
                })
                .inc();
        }
    }

    /// All calls counted so far.
    pub fn snapshot(&self) -> CallSnapshot {
        self.inner
            .totals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn record(&self, service: &str, operation: &str) {
        let service = service_label(service);
        self.inner
            .family
            .get_or_create(&CallLabels {
                service: service.clone(),
                operation: operation.to_owned(),
            })
            .inc();
        self.inner
            .totals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(&service, operation);
        // Outside a deploy's scope there is nothing to add to.
        let _ = CURRENT_TALLY.try_with(|tally| {
            tally
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .record(&service, operation);
        });
    }

    /// From now on, mutating calls through these clients are sent only while `leader` is true
    /// (losing the lease stops AWS writes at once, even inside a running reconcile). Reads are
    /// never gated. Only the first gate installed counts.
    pub fn gate_writes(&self, leader: watch::Receiver<bool>) {
        let _ = self.inner.write_gate.set(leader);
    }

    /// A receiver of the leader flag the writes are gated on, if a gate is installed.
    pub fn write_gate(&self) -> Option<watch::Receiver<bool>> {
        self.inner.write_gate.get().cloned()
    }

    fn writes_allowed(&self) -> bool {
        self.inner
            .write_gate
            .get()
            .is_none_or(|leader| *leader.borrow())
    }

    /// The SDK interceptor that feeds this counter.
    pub fn interceptor(&self) -> SharedInterceptor {
        SharedInterceptor::new(CountingInterceptor {
            counter: self.clone(),
        })
    }
}

#[derive(Debug)]
struct CountingInterceptor {
    counter: CallCounter,
}

impl Intercept for CountingInterceptor {
    fn name(&self) -> &'static str {
        "AwsApiCallCounter"
    }

    // Once per execution, after the operation's configuration (which names it) is applied.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(meta) = cfg.load::<Metadata>() {
            if is_mutating(meta.name()) && !self.counter.writes_allowed() {
                return Err(Box::new(NotLeader {
                    operation: meta.name().to_owned(),
                }));
            }
            self.counter.record(meta.service(), meta.name());
            cfg.interceptor_state().store_put(CallProgress {
                started: Instant::now(),
                attempts: 0,
            });
        }
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(progress) = cfg.load::<CallProgress>().cloned() {
            cfg.interceptor_state().store_put(CallProgress {
                attempts: progress.attempts + 1,
                ..progress
            });
        }
        Ok(())
    }

    // Every attempt's request carries the operation's name, for the client-side throttle
    // (`super::throttle`), which sees only requests.
    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(meta) = cfg.load::<Metadata>() {
            context.request_mut().add_extension(meta.clone());
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (Some(meta), Some(progress)) = (cfg.load::<Metadata>(), cfg.load::<CallProgress>())
        else {
            return Ok(());
        };
        let failed = matches!(context.output_or_error(), Some(Err(_)));
        let failure = failed.then(|| match context.response() {
            Some(response) => (response.status().as_u16(), error_code(response)),
            None => (0, String::new()),
        });
        self.counter
            .finished(meta.service(), meta.name(), progress, failure);
        Ok(())
    }
}
