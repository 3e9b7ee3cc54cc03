//! Wiring to the Kubernetes API: watches, caches and the servers of the running process.

pub mod cache_view;
pub mod cluster_view;
pub mod controllers;
pub mod launch;
pub mod leader;
pub mod secrets;
pub mod serve;
pub mod target_groups;
pub mod vpc;
