//! In-memory stand-ins for the backends and the Kubernetes writes, plus object builders, for
//! tests and benchmarks. A shared [`Journal`] records every call in order, so a test can check
//! that a finalizer was added before the deployer ran.
//!
//! One kind of double per file: [`Journal`] (`journal`), object builders (`objects`), the
//! builder/deployer/registrar backends (`backends`), the Kubernetes writes (`kube_ops`) and the
//! target-side security groups (`networking`).

use std::sync::{Mutex, PoisonError};

mod backends;
mod journal;
mod kube_ops;
mod networking;
mod objects;

pub use backends::{FakeBuilder, FakeDeployer, FakeRegistrar, PureServiceBuilder};
pub use journal::Journal;
pub use kube_ops::RecordingOps;
pub use networking::FakeSecurityGroups;
pub use objects::IngressBuilder;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
