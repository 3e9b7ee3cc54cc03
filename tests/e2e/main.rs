//! End to end on a real Kubernetes control plane (kube-apiserver + etcd + kube-controller-manager
//! built from the Go modules by `tests/cluster`, started on 127.0.0.1 by `support::cluster`)
//! and moto: the real `aws-load-balancer-controller serve` binary runs as a child process.
//!
//! * `lifecycle`: refusal at apply, defaults, ALB, hostname, TargetGroupBinding, path change,
//!   restart without duplicates, deletion removes every AWS resource;
//! * `leader`: two replicas on one Lease, the leader killed with SIGKILL mid-deploy;
//! * `bindings`: EndpointSlice changes reach RegisterTargets / DeregisterTargets, and the
//!   TargetGroupBinding CRD serves v1alpha1 and v1beta1;
//! * `namespace`: deleting a namespace with Ingresses and bindings leaves nothing behind;
//! * `service_nlb`: a LoadBalancer Service gets its NLB, hostname and binding, a new port its
//!   listener, and deletion removes everything; `service_admission`: the Service webhooks;
//! * `frontend_nlb`: an Ingress's frontend NLB, its hostname, the ALB as its target, switched off;
//! * `service_admission`: the chart's Service webhooks: a class-less LoadBalancer Service is
//!   claimed, bad NLB annotations are refused naming each key, other Services are never blocked;
//! * `soak`: random changes, each followed by SIGKILL and a restart, converge without leaks or
//!   duplicates, and deleting everything leaves nothing (`make soak` for the long run).
//!
//! `make e2e` runs the same tests against the cluster in `KUBECONFIG` (`E2E_CLUSTER=kubeconfig`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/mod.rs"]
mod support;

mod backend_sg;
mod bindings;
mod frontend_nlb;
mod group_admission;
mod leader;
mod lifecycle;
mod live_facts;
mod namespace;
mod service_admission;
mod service_nlb;
mod soak;
mod watch_namespace;

pub use support::e2e::World;
