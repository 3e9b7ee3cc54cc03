//! The NLB settings the rest of a Service's stack is built from.

use crate::stack::{IpAddressType, Scheme, SubnetMapping};

/// The NLB settings the listeners, target groups and security groups depend on.
#[derive(Clone, Debug)]
pub(super) struct LbSettings {
    pub scheme: Scheme,
    pub ip_address_type: IpAddressType,
    pub subnet_mappings: Vec<SubnetMapping>,
    /// The subnets' IPv4 and IPv6 CIDRs (legacy backend rules).
    pub subnet_cidrs_v4: Vec<String>,
    pub subnet_cidrs_v6: Vec<String>,
}

impl LbSettings {
    pub fn dualstack(&self) -> bool {
        self.ip_address_type == IpAddressType::Dualstack
    }
}
