//! The queue and worker series controller-runtime exports, with its names, so dashboards built
//! for upstream (and for any controller-runtime controller) read this controller too:
//!
//! * `workqueue_depth`, `workqueue_adds_total`, `workqueue_retries_total`,
//!   `workqueue_queue_duration_seconds`, `workqueue_work_duration_seconds` (label `name`: the
//!   controller, `ingress` or `targetGroupBinding`);
//! * `controller_runtime_reconcile_total` (controller, result: `success`, `error`,
//!   `requeue_after`), `controller_runtime_reconcile_errors_total`,
//!   `controller_runtime_reconcile_time_seconds`, `controller_runtime_max_concurrent_reconciles`,
//!   `controller_runtime_active_workers` (label `controller`).
//!
//! [`WorkMetrics`] holds the families; [`WorkInstruments`] are one controller's series, handed
//! to its [`WorkQueue`](super::queue::WorkQueue) (which the runner reads them from).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    pub name: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    pub controller: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub controller: &'static str,
    pub result: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn seconds_histogram() -> Histogram {
    // 1 ms .. ~65 s, as the stage histogram.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// The families, registered once per process.
#[derive(Clone, Debug)]
pub struct WorkMetrics {
    depth: Family<QueueLabels, Gauge>,
    adds: Family<QueueLabels, Counter>,
    retries: Family<QueueLabels, Counter>,
    queue_duration: Histograms<QueueLabels>,
    work_duration: Histograms<QueueLabels>,
    reconciles: Family<ResultLabels, Counter>,
    reconcile_errors: Family<ControllerLabels, Counter>,
    reconcile_time: Histograms<ControllerLabels>,
    max_concurrent: Family<ControllerLabels, Gauge>,
    active_workers: Family<ControllerLabels, Gauge>,
}

impl Default for WorkMetrics {
    fn default() -> Self {
        Self {
            depth: Family::default(),
            adds: Family::default(),
            retries: Family::default(),
            queue_duration: Family::new_with_constructor(seconds_histogram),
            work_duration: Family::new_with_constructor(seconds_histogram),
            reconciles: Family::default(),
            reconcile_errors: Family::default(),
            reconcile_time: Family::new_with_constructor(seconds_histogram),
            max_concurrent: Family::default(),
            active_workers: Family::default(),
        }
    }
}

impl WorkMetrics {
    /// New families registered in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "workqueue_depth",
            "Current depth of the workqueue",
            m.depth.clone(),
        );
        registry.register(
            "workqueue_adds",
            "Adds handled by the workqueue",
            m.adds.clone(),
        );
        registry.register(
            "workqueue_retries",
            "Retries handled by the workqueue",
            m.retries.clone(),
        );
        registry.register(
            "workqueue_queue_duration_seconds",
            "How long a key stays in the workqueue before it is processed",
            m.queue_duration.clone(),
        );
        registry.register(
            "workqueue_work_duration_seconds",
            "How long processing a key from the workqueue takes",
            m.work_duration.clone(),
        );
        registry.register(
            "controller_runtime_reconcile",
            "Reconciles per controller and result",
            m.reconciles.clone(),
        );
        registry.register(
            "controller_runtime_reconcile_errors",
            "Reconcile errors per controller",
            m.reconcile_errors.clone(),
        );
        registry.register(
            "controller_runtime_reconcile_time_seconds",
            "Time per reconcile per controller",
            m.reconcile_time.clone(),
        );
        registry.register(
            "controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller",
            m.max_concurrent.clone(),
        );
        registry.register(
            "controller_runtime_active_workers",
            "Workers running a reconcile now, per controller",
            m.active_workers.clone(),
        );
        m
    }

    /// One controller's series.
    pub fn instruments(&self, controller: &'static str) -> WorkInstruments {
        let queue = QueueLabels { name: controller };
        let labels = ControllerLabels { controller };
        let result = |result| {
            self.reconciles
                .get_or_create(&ResultLabels { controller, result })
                .clone()
        };
        WorkInstruments {
            depth: self.depth.get_or_create(&queue).clone(),
            adds: self.adds.get_or_create(&queue).clone(),
            retries: self.retries.get_or_create(&queue).clone(),
            queue_duration: self.queue_duration.get_or_create(&queue).clone(),
            work_duration: self.work_duration.get_or_create(&queue).clone(),
            success: result("success"),
            error: result("error"),
            requeue_after: result("requeue_after"),
            reconcile_errors: self.reconcile_errors.get_or_create(&labels).clone(),
            reconcile_time: self.reconcile_time.get_or_create(&labels).clone(),
            max_concurrent: self.max_concurrent.get_or_create(&labels).clone(),
            active_workers: self.active_workers.get_or_create(&labels).clone(),
        }
    }
}

/// One controller's queue and worker series; cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct WorkInstruments {
    pub(crate) depth: Gauge,
    pub(crate) adds: Counter,
    pub(crate) retries: Counter,
    pub(crate) queue_duration: Histogram,
    pub(crate) work_duration: Histogram,
    success: Counter,
    error: Counter,
    requeue_after: Counter,
    reconcile_errors: Counter,
    reconcile_time: Histogram,
    pub(crate) max_concurrent: Gauge,
    pub(crate) active_workers: Gauge,
}

/// How one reconcile ended, in controller-runtime's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReconcileResult {
    Success,
    Error,
    RequeueAfter,
}

impl WorkInstruments {
    /// A finished reconcile (not one skipped because this replica does not lead).
    pub fn reconciled(&self, result: ReconcileResult, took: Duration) {
        let secs = took.as_secs_f64();
        self.reconcile_time.observe(secs);
        self.work_duration.observe(secs);
        match result {
            ReconcileResult::Success => {
                self.success.inc();
            }
            ReconcileResult::RequeueAfter => {
                self.requeue_after.inc();
            }
            ReconcileResult::Error => {
                self.error.inc();
                self.reconcile_errors.inc();
                self.retries.inc();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_carry_controller_runtime_names() {
        let mut registry = Registry::default();
        let metrics = WorkMetrics::register(&mut registry);
        let ingress = metrics.instruments("ingress");
        ingress.reconciled(ReconcileResult::Success, Duration::from_millis(3));
        ingress.reconciled(ReconcileResult::Error, Duration::from_millis(3));
        ingress.max_concurrent.set(3);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        for line in [
            r#"controller_runtime_reconcile_total{controller="ingress",result="success"} 1"#,
            r#"controller_runtime_reconcile_total{controller="ingress",result="error"} 1"#,
            r#"controller_runtime_reconcile_errors_total{controller="ingress"} 1"#,
            r#"controller_runtime_reconcile_time_seconds_count{controller="ingress"} 2"#,
            r#"controller_runtime_max_concurrent_reconciles{controller="ingress"} 3"#,
            r#"controller_runtime_active_workers{controller="ingress"} 0"#,
            r#"workqueue_retries_total{name="ingress"} 1"#,
            r#"workqueue_work_duration_seconds_count{name="ingress"} 2"#,
            r#"workqueue_depth{name="ingress"} 0"#,
            r#"workqueue_adds_total{name="ingress"} 0"#,
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
    }
}
