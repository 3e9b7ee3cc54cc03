//! Reconcile metrics, with upstream's names: `awslbc_controller_reconcile_errors_total`
//! (controller, error_category), `awslbc_controller_reconcile_stage_duration` (controller,
//! reconcile_stage), `awslbc_readiness_gate_ready_seconds` (namespace, name: the binding; the
//! time a pod's readiness gate took to turn True, from its previous transition), plus
//! `awslbc_controller_reconcile_total` (controller, result) and controller-runtime's queue and
//! worker series ([`WorkMetrics`]).

use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::work_metrics::WorkMetrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub controller: &'static str,
    pub error_category: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabels {
    pub controller: &'static str,
    pub reconcile_stage: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReadinessLabels {
    pub namespace: String,
    pub name: String,
}

fn readiness_histogram() -> Histogram {
    Histogram::new([
        1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 180.0, 240.0, 300.0, 360.0, 420.0, 480.0, 540.0, 600.0,
    ])
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub controller: &'static str,
    pub result: &'static str,
}

fn stage_histogram() -> Histogram {
    // 1 ms .. ~65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// The controllers' metrics; cheap to clone (shared families).
#[derive(Clone, Debug)]
pub struct ControllerMetrics {
    pub errors: Family<ErrorLabels, Counter>,
    pub stages: Family<StageLabels, Histogram, fn() -> Histogram>,
    pub reconciles: Family<ResultLabels, Counter>,
    pub readiness: Family<ReadinessLabels, Histogram, fn() -> Histogram>,
    /// controller-runtime's queue and worker series.
    pub work: WorkMetrics,
}

impl Default for ControllerMetrics {
    fn default() -> Self {
        Self {
            errors: Family::default(),
            stages: Family::new_with_constructor(stage_histogram),
            reconciles: Family::default(),
            readiness: Family::new_with_constructor(readiness_histogram),
            work: WorkMetrics::default(),
        }
    }
}

impl ControllerMetrics {
    /// New metrics registered in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            work: WorkMetrics::register(registry),
            ..Self::default()
        };
        registry.register(
            "awslbc_controller_reconcile_errors",
            "Reconcile errors by controller and error category",
            metrics.errors.clone(),
        );
        registry.register(
            "awslbc_controller_reconcile_stage_duration",
            "Duration of reconcile stages in seconds",
            metrics.stages.clone(),
        );
        registry.register(
            "awslbc_controller_reconcile",
            "Reconciles by controller and result",
            metrics.reconciles.clone(),
        );
        registry.register(
            "awslbc_readiness_gate_ready_seconds",
            "Time for a pod's readiness gate to turn True, from its previous transition",
            metrics.readiness.clone(),
        );
        metrics
    }

    /// A readiness gate of the binding `namespace/name` turned True after `took`.
    pub fn readiness_gate_ready(&self, namespace: &str, name: &str, took: Duration) {
        self.readiness
            .get_or_create(&ReadinessLabels {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    pub fn observe_stage(&self, controller: &'static str, stage: &'static str, took: Duration) {
        self.stages
            .get_or_create(&StageLabels {
                controller,
                reconcile_stage: stage,
            })
            .observe(took.as_secs_f64());
    }

    pub fn error(&self, controller: &'static str, category: &str) {
        self.errors
            .get_or_create(&ErrorLabels {
                controller,
                error_category: category.to_owned(),
            })
            .inc();
    }

    pub fn result(&self, controller: &'static str, result: &'static str) {
        self.reconciles
            .get_or_create(&ResultLabels { controller, result })
            .inc();
    }

    /// Times `fut` as one stage.
    pub async fn stage<T>(
        &self,
        controller: &'static str,
        stage: &'static str,
        fut: impl Future<Output = T>,
    ) -> T {
        let start = Instant::now();
        let out = fut.await;
        self.observe_stage(controller, stage, start.elapsed());
        out
    }

    /// Errors counted for one controller and category (tests).
    pub fn error_count(&self, controller: &'static str, category: &str) -> u64 {
        self.errors
            .get_or_create(&ErrorLabels {
                controller,
                error_category: category.to_owned(),
            })
            .get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_names_follow_upstream() {
        let mut registry = Registry::default();
        let metrics = ControllerMetrics::register(&mut registry);
        metrics.error("ingress", "build_model");
        metrics.observe_stage("ingress", "deploy_model", Duration::from_millis(5));
        metrics.result("ingress", "success");
        metrics.readiness_gate_ready("shop", "web-tgb", Duration::from_secs(12));
        let _ = metrics.work.instruments("ingress");
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        assert!(text.contains(
            r#"awslbc_controller_reconcile_errors_total{controller="ingress",error_category="build_model"} 1"#
        ));
        assert!(text.contains("awslbc_controller_reconcile_stage_duration_bucket"));
        assert!(text.contains(
            r#"awslbc_controller_reconcile_total{controller="ingress",result="success"} 1"#
        ));
        assert!(text.contains(
            r#"awslbc_readiness_gate_ready_seconds_bucket{le="30.0",namespace="shop",name="web-tgb"} 1"#
        ), "{text}");
        assert!(text.contains(
            r#"controller_runtime_reconcile_time_seconds_count{controller="ingress"} 0"#
        ));
        assert_eq!(metrics.error_count("ingress", "build_model"), 1);
    }
}
