//! The admission webhook of the AWS Load Balancer Controller: the rules over the `contract`
//! crate's parsers and types, and the server that answers the API server.
//!
//! * [`validate`] and [`mutate`]: the admission rules, pure functions over plain data;
//! * [`config`]: the controller-wide settings the rules depend on;
//! * [`local`]: admission without a server (`check`, `plan`);
//! * [`admission`]: AdmissionReview decoding, dispatch by webhook path, encoding;
//! * [`server`]: the HTTPS server with certificate reload.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod admission;
pub mod config;
pub mod local;
pub mod metrics;
pub mod mutate;
pub mod server;
pub mod validate;
