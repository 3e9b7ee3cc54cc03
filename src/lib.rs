//! The reconciling half of the AWS Load Balancer Controller, and the process around it.
//!
//! * [`manifests`]: manifests from files, for the offline commands;
//! * [`runtime`]: watches, caches and servers of the running process;
//! * [`cli`]: the command line.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod admit;
pub mod cli;
pub mod commands;
pub mod controller;
pub mod demo;
pub mod deploy;
pub mod group_check;
pub mod manifests;
pub mod plan_output;
pub mod runtime;
