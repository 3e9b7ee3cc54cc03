//! The merged settings of one listener port across an IngressGroup: what the listener, its
//! rules, the SSL redirect and the managed security group are built from.

use crate::stack::{MutualAuthentication, Protocol};

/// The merged settings of one listener port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PortConfig {
    pub protocol: Protocol,
    /// Sorted.
    pub cidrs_v4: Vec<String>,
    /// Sorted; only used by dualstack load balancers.
    pub cidrs_v6: Vec<String>,
    /// Sorted.
    pub prefix_lists: Vec<String>,
    /// HTTPS only: the merged policy, else the controller default.
    pub ssl_policy: Option<String>,
    /// The first is the default certificate.
    pub certificates: Vec<String>,
    pub mutual_authentication: Option<MutualAuthentication>,
    /// Indexes of the members using this port, in group order.
    pub members: Vec<usize>,
}
