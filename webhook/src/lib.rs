//! The admission contract of the AWS Load Balancer Controller.
//!
//! Everything that decides whether an object is acceptable lives here, so the admission webhook
//! and the reconciling controller (crate root `src/`) share one parser and one set of rules:
//!
//! * [`annotations`]: typed parsing of every `alb.ingress.kubernetes.io/*` annotation;
//! * [`crd`]: the `IngressClassParams` and `TargetGroupBinding` custom resources;
//! * [`class`]: which Ingresses belong to this controller, and with which parameters;
//! * [`params`]: IngressClassParams applied over annotations with upstream's precedence;
//! * [`validate`] and [`mutate`]: the admission rules, pure functions over plain data;
//! * [`admission`]: AdmissionReview decoding, dispatch by webhook path, encoding;
//! * [`server`]: the HTTPS server with certificate reload.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod admission;
pub mod annotations;
pub mod class;
pub mod cluster;
pub mod config;
pub mod crd;
pub mod group_check;
pub mod local;
pub mod metrics;
pub mod mutate;
pub mod params;
pub mod reference;
pub mod server;
pub mod validate;
