//! The hook through which the Ingress validator asks about the whole IngressGroup: the
//! controller builds the group's model with the incoming Ingress in it (pure, no AWS call) and
//! says what the model would refuse. The webhook crate only defines the question; the
//! controller, which owns the model, answers it.

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;

/// One reason the group's model refuses the change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The model's stable error category (metric label).
    pub category: &'static str,
    pub message: String,
}

/// What building the incoming Ingress's group says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupFindings {
    /// Errors the change itself brings: the Ingress is refused.
    pub refusals: Vec<Refusal>,
    /// Errors that depend on live AWS facts (subnets, certificates, named security groups,
    /// Secrets), or that the group had before the change: reported, not refused.
    pub warnings: Vec<String>,
}

/// Builds the group of `ingress` (as it would be stored: `old` is the stored version on
/// UPDATE) and reports what the model refuses.
pub trait GroupCheck: Send + Sync {
    fn check(&self, ingress: &Ingress, old: Option<&Ingress>) -> GroupFindings;

    /// Builds the NLB stack of `service` (one of ours, `old` the stored version on UPDATE) and
    /// reports what the model refuses that the annotations alone do not show (ports named in
    /// `ssl-ports` that do not exist, a named health-check port, instance targets on a
    /// ClusterIP Service, ...). Errors depending on live AWS facts are warnings. By default
    /// there is nothing to say.
    fn check_service(&self, _service: &Service, _old: Option<&Service>) -> GroupFindings {
        GroupFindings::default()
    }
}
