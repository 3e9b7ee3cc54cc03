//! The `aws-load-balancer-controller` binary's library: the command line and the process
//! around the crates that do the work (`contract`, `model`, `webhook`, `controller`, `aws-io`;
//! see ARCHITECTURE.md).
//!
//! * [`cli`]: the command line, upstream's flags;
//! * [`commands`]: the subcommands (`serve`, `check`, `plan`, `run`);
//! * [`serve`]: the running process: webhook server, controllers and their AWS backends wired
//!   together, probes and metrics;
//! * [`admit`], [`manifests`], [`plan_output`]: the offline commands' admission, manifest
//!   files and output;
//! * [`demo`]: `make run`'s embedded example against a local moto.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod admit;
pub mod cli;
pub mod commands;
pub mod demo;
pub mod manifests;
pub mod plan_output;
pub mod serve;
