//! The reconciling controller: IngressGroups to AWS stacks, TargetGroupBindings to registered
//! targets.
//!
//! * [`keys`]: namespaced object keys;
//! * [`index`]: the group index — which IngressGroup every Ingress belongs to (or is leaving),
//!   and which groups each Service feeds (pure, no I/O);
//! * [`adapters`]: the real model builder, AWS deployer and target registrar behind them;
//! * [`backend_sg`]: the cluster's shared backend security group, created on first need and
//!   released when the last group using it is deleted;
//! * [`backends`]: the traits the reconcilers drive (model builder, AWS deployer, target
//!   registrar) and [`fakes`] for tests and benchmarks;
//! * [`kube_ops`]: the Kubernetes writes of the Ingress reconciler (finalizers, status, events,
//!   TargetGroupBindings) behind a trait, with the live client implementation;
//! * [`group`]: reconcile one IngressGroup; [`synth`]: the Ingress status and the
//!   TargetGroupBindings a deployed stack calls for;
//! * [`queue`], [`backoff`], [`runner`]: a keyed work queue, per-key exponential backoff with
//!   jitter, and the leader-gated workers with periodic resync;
//! * [`cache`]: watches into in-memory caches that keep only the fields we use;
//! * [`targets`], [`endpoints`], [`binding`]: the TargetGroupBinding controller;
//! * [`events`]: Kubernetes Events with series for repeats;
//! * [`metrics`]: reconcile counters and durations.

pub mod adapters;
pub mod backend_sg;
pub mod backends;
pub mod backoff;
pub mod binding;
pub mod cache;
pub mod endpoints;
pub mod events;
pub mod fakes;
pub mod group;
pub mod index;
pub mod keys;
pub mod kube_ops;
pub mod live_facts;
pub mod metrics;
pub mod networking;
pub mod networking_aws;
pub mod queue;
pub mod runner;
pub mod synth;
pub mod targets;
pub mod work_metrics;

/// Field manager of every server-side apply this controller makes.
pub const FIELD_MANAGER: &str = "aws-load-balancer-controller";
