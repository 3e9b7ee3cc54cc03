//! Prometheus metrics of the admission webhook server.
//!
//! Names follow upstream where upstream has them (`awslbc_webhook_validation_failure_total`,
//! `awslbc_webhook_mutation_failure_total` with `webhook_name` and `error_category`); the request
//! counter and the latency histogram are ours. Every label value is a `&'static str` from a
//! closed set (webhook names, decisions, denial categories), so cardinality stays bounded.
//!
//! [`WebhookMetrics::register`] adds the families to a caller-owned [`Registry`], so the
//! controller can expose them next to its own metrics on one `/metrics` endpoint.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::admission::{Decision, Endpoint};

/// `webhook` label used for requests to a path that is no admission endpoint.
pub const UNKNOWN_WEBHOOK: &str = "unknown";

/// Why a request was answered without an AdmissionReview (the `decision` label of such requests).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// The body was not a usable AdmissionReview (HTTP 400).
    BadRequest,
    /// The body exceeded the size limit (HTTP 413).
    PayloadTooLarge,
    /// The `Content-Type` was not JSON (HTTP 415).
    UnsupportedMediaType,
    /// The path is served but not with this method (HTTP 405).
    MethodNotAllowed,
    /// No admission endpoint at this path (HTTP 404).
    NotFound,
    /// The body did not arrive in time (HTTP 408).
    RequestTimeout,
}

impl Rejection {
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::BadRequest => "bad_request",
            Rejection::PayloadTooLarge => "payload_too_large",
            Rejection::UnsupportedMediaType => "unsupported_media_type",
            Rejection::MethodNotAllowed => "method_not_allowed",
            Rejection::NotFound => "not_found",
            Rejection::RequestTimeout => "request_timeout",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    webhook: &'static str,
    decision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    webhook_name: &'static str,
    error_category: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookLabels {
    webhook: &'static str,
}

/// Latency buckets: 100 µs doubling up to ~3.3 s (the API server gives up at 10 s by default).
fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// Metrics of the admission webhook server; cheap to share behind an `Arc`.
#[derive(Clone, Debug)]
pub struct WebhookMetrics {
    requests: Family<RequestLabels, Counter>,
    validation_failures: Family<FailureLabels, Counter>,
    mutation_failures: Family<FailureLabels, Counter>,
    duration: Family<WebhookLabels, Histogram, fn() -> Histogram>,
}

impl Default for WebhookMetrics {
    /// Metrics that are recorded but not registered anywhere (tests, benchmarks).
    fn default() -> Self {
        WebhookMetrics {
            requests: Family::default(),
            validation_failures: Family::default(),
            mutation_failures: Family::default(),
            duration: Family::new_with_constructor(duration_histogram),
        }
    }
}

impl WebhookMetrics {
    /// Create the metrics and register them in `registry` (no prefix is added here: the names
    /// are the full upstream-compatible names, so register into the root registry).
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = WebhookMetrics::default();
        registry.register(
            "awslbc_webhook_requests",
            "Admission requests by webhook and decision",
            metrics.requests.clone(),
        );
        registry.register(
            "awslbc_webhook_validation_failure",
            "Admission requests denied by a validating webhook, by error category",
            metrics.validation_failures.clone(),
        );
        registry.register(
            "awslbc_webhook_mutation_failure",
            "Admission requests denied by a mutating webhook, by error category",
            metrics.mutation_failures.clone(),
        );
        registry.register_with_unit(
            "awslbc_webhook_request_duration",
            "Time to answer an admission request, from body received to response built",
            Unit::Seconds,
            metrics.duration.clone(),
        );
        metrics
    }

    /// Record a request that was answered with an AdmissionReview.
    pub fn record_review(
        &self,
        endpoint: Endpoint,
        decision: Decision,
        category: Option<&'static str>,
        elapsed: Duration,
    ) {
        let webhook = endpoint.name();
        self.requests
            .get_or_create(&RequestLabels {
                webhook,
                decision: decision.as_str(),
            })
            .inc();
        if decision == Decision::Denied {
            let failures = if endpoint.is_mutating() {
                &self.mutation_failures
            } else {
                &self.validation_failures
            };
            failures
                .get_or_create(&FailureLabels {
                    webhook_name: webhook,
                    error_category: category.unwrap_or("unknown"),
                })
                .inc();
        }
        self.observe(webhook, elapsed);
    }

    /// Record a request that was refused before or instead of a review. `webhook` is
    /// [`Endpoint::name`] when the path is known, else [`UNKNOWN_WEBHOOK`].
    pub fn record_rejection(&self, webhook: &'static str, rejection: Rejection, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                webhook,
                decision: rejection.as_str(),
            })
            .inc();
        self.observe(webhook, elapsed);
    }

    fn observe(&self, webhook: &'static str, elapsed: Duration) {
        self.duration
            .get_or_create(&WebhookLabels { webhook })
            .observe(elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;

    fn render(registry: &Registry) -> String {
        let mut out = String::new();
        encode(&mut out, registry).unwrap();
        out
    }

    #[test]
    fn names_and_labels_match_upstream() {
        let mut registry = Registry::default();
        let metrics = WebhookMetrics::register(&mut registry);
        let ms = Duration::from_millis(1);
        metrics.record_review(Endpoint::ValidateIngress, Decision::Allowed, None, ms);
        metrics.record_review(
            Endpoint::ValidateIngress,
            Decision::Denied,
            Some("ingress_class"),
            ms,
        );
        metrics.record_review(
            Endpoint::ValidateIngress,
            Decision::Denied,
            Some("ingress_class"),
            ms,
        );
        metrics.record_review(
            Endpoint::MutateTargetGroupBinding,
            Decision::Denied,
            None,
            ms,
        );
        metrics.record_review(
            Endpoint::MutateTargetGroupBinding,
            Decision::Patched,
            None,
            ms,
        );
        let text = render(&registry);

        for line in [
            r#"awslbc_webhook_requests_total{webhook="vingress.elbv2.k8s.aws",decision="allowed"} 1"#,
            r#"awslbc_webhook_requests_total{webhook="vingress.elbv2.k8s.aws",decision="denied"} 2"#,
            r#"awslbc_webhook_requests_total{webhook="mtargetgroupbinding.elbv2.k8s.aws",decision="patched"} 1"#,
            r#"awslbc_webhook_validation_failure_total{webhook_name="vingress.elbv2.k8s.aws",error_category="ingress_class"} 2"#,
            r#"awslbc_webhook_mutation_failure_total{webhook_name="mtargetgroupbinding.elbv2.k8s.aws",error_category="unknown"} 1"#,
            r#"awslbc_webhook_request_duration_seconds_count{webhook="vingress.elbv2.k8s.aws"} 3"#,
        ] {
            assert!(text.contains(line), "missing `{line}` in:\n{text}");
        }
        // A patch is not a failure, and validating denials are not mutation failures.
        assert!(!text.contains(r#"mutation_failure_total{webhook_name="mtargetgroupbinding.elbv2.k8s.aws",error_category="unknown"} 2"#));
        assert!(!text.contains(r#"mutation_failure_total{webhook_name="vingress"#));
    }

    #[test]
    fn rejections_are_counted_and_timed() {
        let mut registry = Registry::default();
        let metrics = WebhookMetrics::register(&mut registry);
        metrics.record_rejection(UNKNOWN_WEBHOOK, Rejection::NotFound, Duration::ZERO);
        metrics.record_rejection(
            Endpoint::ValidateIngress.name(),
            Rejection::PayloadTooLarge,
            Duration::from_millis(2),
        );
        let text = render(&registry);
        assert!(text.contains(
            r#"awslbc_webhook_requests_total{webhook="unknown",decision="not_found"} 1"#
        ));
        assert!(text.contains(
            r#"awslbc_webhook_requests_total{webhook="vingress.elbv2.k8s.aws",decision="payload_too_large"} 1"#
        ));
        // 2 ms lands in the 3.2 ms bucket but not in the 1.6 ms one.
        assert!(text.contains(
            r#"awslbc_webhook_request_duration_seconds_bucket{le="0.0016",webhook="vingress.elbv2.k8s.aws"} 0"#
        ));
        assert!(text.contains(
            r#"awslbc_webhook_request_duration_seconds_bucket{le="0.0032",webhook="vingress.elbv2.k8s.aws"} 1"#
        ));
    }
}
