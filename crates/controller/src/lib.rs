//! The reconciling controller: IngressGroups to AWS stacks, TargetGroupBindings to registered
//! targets.
//!
//! * [`keys`]: namespaced object keys;
//! * [`index`]: the group index — which IngressGroup every Ingress belongs to (or is leaving),
//!   and which groups each Service feeds (pure, no I/O);
//! * [`backend_sg`]: the cluster's shared backend security group, created on first need and
//!   released when the last group using it is deleted;
//! * [`backends`]: the traits the reconcilers drive (model builder, AWS deployer, target
//!   registrar; the AWS crate implements them) and, with the `test-util` feature, `fakes` for
//!   tests and benchmarks;
//! * [`kube_ops`]: the Kubernetes writes of the Ingress reconciler (finalizers, status, events,
//!   TargetGroupBindings) behind a trait, with the live client implementation;
//! * [`group`]: reconcile one IngressGroup; [`synth`]: the Ingress status and the
//!   TargetGroupBindings a deployed stack calls for;
//! * [`queue`], [`backoff`], [`runner`]: a keyed work queue, per-key exponential backoff with
//!   jitter, and the leader-gated workers with periodic resync;
//! * [`cache`]: watches into in-memory caches that keep only the fields we use;
//! * [`targets`], [`endpoints`], [`binding`]: the TargetGroupBinding controller;
//! * [`events`]: Kubernetes Events with series for repeats;
//! * [`metrics`], [`work_metrics`]: reconcile counters and durations, controller-runtime's
//!   queue and worker series;
//! * [`manager`]: the watches and workers of both controllers, started together; [`leader`]:
//!   leader election on a Lease; [`secrets`]: watches of the Secrets groups reference;
//! * [`cache_view`], [`webhook_watches`]: the cluster view the webhooks read, from the
//!   controllers' caches or, when no controller runs, from the same kind of caches filled by
//!   their own watches.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod backend_sg;
pub mod backends;
pub mod backoff;
pub mod binding;
pub mod cache;
pub mod cache_view;
pub mod endpoints;
pub mod events;
#[cfg(any(test, feature = "test-util"))]
pub mod fakes;
pub mod group;
pub mod index;
pub mod keys;
pub mod kube_ops;
pub mod leader;
pub mod manager;
pub mod metrics;
pub mod networking;
pub mod queue;
pub mod registered;
pub mod runner;
pub mod secrets;
pub mod service;
pub mod synth;
pub mod targets;
pub mod webhook_watches;
pub mod work_metrics;

/// Field manager of every server-side apply this controller makes.
pub const FIELD_MANAGER: &str = "aws-load-balancer-controller";
