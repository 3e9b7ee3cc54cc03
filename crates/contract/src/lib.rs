//! The contract between users and the AWS Load Balancer Controller: what they write and how it
//! is read. The admission webhook and the model share it, so an annotation is parsed by one
//! parser everywhere.
//!
//! * [`annotations`]: typed parsing of every `alb.ingress.kubernetes.io/*` annotation, and the
//!   table describing them;
//! * [`crd`]: the `IngressClassParams` and `TargetGroupBinding` custom resources;
//! * [`class`]: which Ingresses belong to this controller, and with which parameters;
//! * [`params`] and [`params_check`]: IngressClassParams applied over annotations with upstream's
//!   precedence, and the checks that make a params object usable;
//! * [`cluster`]: the read-only view of cluster objects (and AWS target groups) the rules need;
//! * [`group_check`]: the question the Ingress validator asks about the whole IngressGroup
//!   (answered by the model);
//! * [`reference`]: the README's annotation reference, rendered from the table.
//!
//! No I/O and no async runtime: plain data in, plain data out.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod annotations;
pub mod class;
pub mod cluster;
pub mod crd;
pub mod group_check;
pub mod params;
pub mod params_check;
pub mod reference;
pub mod service;
