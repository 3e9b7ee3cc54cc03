//! Listener annotations: `listen-ports`, `inbound-cidrs`, `mutual-authentication` and the
//! `listener-attributes.${Protocol}-${Port}` family.

use super::json::{Shape, decode, leaf};
use super::primitives::{Cidr, parse_string_list, port_in_range, strict_port, string_enum};
use super::values::Protocol;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// One entry of `listen-ports`, e.g. `{"HTTPS": 443}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenPort {
    pub protocol: Protocol,
    pub port: u16,
}

const LISTEN_PORTS: Shape = Shape::List(&Shape::Map(&Shape::Leaf));

/// Parses `listen-ports` (`[{"HTTP": 80}, {"HTTPS": 443}]`), sorted by port. Protocol keys are
/// case-sensitive; a port given two different protocols is an error.
pub fn parse_listen_ports(raw: &str) -> Result<Vec<ListenPort>, String> {
    let entries: Vec<BTreeMap<String, i64>> = decode(raw, &LISTEN_PORTS)
        .map_err(|e| format!("failed to parse listen-ports configuration: {e}"))?;
    let mut by_port: BTreeMap<u16, Protocol> = BTreeMap::new();
    for (name, port) in entries.iter().flatten() {
        let port = port_in_range(*port)
            .ok_or_else(|| format!("listen port must be within [1, 65535]: {port}"))?;
        let protocol: Protocol = name
            .parse()
            .map_err(|_| format!("listen protocol must be within [HTTP, HTTPS]: {name}"))?;
        if let Some(previous) = by_port.insert(port, protocol)
            && previous != protocol
        {
            return Err(format!(
                "conflicting protocols for listen port {port}: {previous} | {protocol}"
            ));
        }
    }
    if by_port.is_empty() {
        return Err(format!("empty listen-ports configuration: {raw}"));
    }
    Ok(by_port
        .into_iter()
        .map(|(port, protocol)| ListenPort { protocol, port })
        .collect())
}

/// Parses `inbound-cidrs`: a comma list of CIDRs (host bits may be set, as in Go).
pub fn parse_inbound_cidrs(raw: &str) -> Result<Vec<Cidr>, String> {
    parse_string_list(raw)
        .iter()
        .map(|cidr| cidr.parse::<Cidr>())
        .collect()
}

/// The listener a `listener-attributes.${Protocol}-${Port}` annotation applies to.
/// Serialises as `HTTPS-443`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerKey {
    pub protocol: Protocol,
    pub port: u16,
}

impl fmt::Display for ListenerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.protocol, self.port)
    }
}

impl Serialize for ListenerKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Parses the `${Protocol}-${Port}` part of a `listener-attributes.` key, e.g. `HTTPS-443`.
pub fn parse_listener_key(param: &str) -> Result<ListenerKey, String> {
    let invalid = || {
        format!(
            "listener attributes key must be listener-attributes.<HTTP|HTTPS>-<port>, got listener-attributes.{param}"
        )
    };
    let (protocol, port) = param.split_once('-').ok_or_else(invalid)?;
    let protocol: Protocol = protocol.parse().map_err(|_| invalid())?;
    let port = strict_port(port).ok_or_else(invalid)?;
    Ok(ListenerKey { protocol, port })
}

string_enum! {
    /// The mTLS mode of an HTTPS listener.
    pub enum MutualAuthenticationMode as "mutualAuthentication mode" {
        Off = "off",
        Passthrough = "passthrough",
        Verify = "verify",
    }
}

string_enum! {
    /// Whether the listener advertises the trust store's CA subject names.
    pub enum AdvertiseTrustStoreCaNames as "advertiseTrustStoreCaNames" {
        On = "on",
        Off = "off",
    }
}

/// One validated entry of `mutual-authentication`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MutualAuthentication {
    pub port: u16,
    pub mode: MutualAuthenticationMode,
    /// Trust store ARN, or a name to resolve with `DescribeTrustStores` (no `arn:` prefix).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust_store: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignore_client_certificate_expiry: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advertise_trust_store_ca_names: Option<AdvertiseTrustStoreCaNames>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMutualAuthentication {
    #[serde(default)]
    port: i32,
    #[serde(default)]
    mode: String,
    trust_store: Option<String>,
    ignore_client_certificate_expiry: Option<bool>,
    advertise_trust_store_ca_names: Option<String>,
}

const MUTUAL_AUTHENTICATION: Shape = Shape::List(&Shape::Struct(&[
    leaf("port"),
    leaf("mode"),
    leaf("trustStore"),
    leaf("ignoreClientCertificateExpiry"),
    leaf("advertiseTrustStoreCaNames"),
]));

fn validate_mutual_authentication(
    raw: RawMutualAuthentication,
) -> Result<MutualAuthentication, String> {
    let port = raw.port;
    let port_u16 = port_in_range(i64::from(port))
        .ok_or_else(|| format!("listen port must be within [1, 65535]: {port}"))?;
    if raw.mode.is_empty() {
        return Err(format!(
            "mutualAuthentication mode cannot be empty for port {port}"
        ));
    }
    let mode: MutualAuthenticationMode = raw.mode.parse().map_err(|_| {
        format!(
            "mutualAuthentication mode value must be among [off, passthrough, verify] for port {port} : {}",
            raw.mode
        )
    })?;
    let trust_store = raw.trust_store.filter(|t| !t.is_empty());
    let verify = mode == MutualAuthenticationMode::Verify;
    if verify && trust_store.is_none() {
        return Err(format!(
            "trustStore is required when mutualAuthentication mode is verify for port {port}"
        ));
    }
    if !verify && trust_store.is_some() {
        return Err(format!(
            "Mutual Authentication mode {mode} does not support trustStore for port {port}"
        ));
    }
    if !verify && raw.ignore_client_certificate_expiry.is_some() {
        return Err(format!(
            "Mutual Authentication mode {mode} does not support ignoring client certificate expiry for port {port}"
        ));
    }
    let advertise = match raw.advertise_trust_store_ca_names {
        None => None,
        Some(_) if !verify => {
            return Err(format!(
                "Mutual Authentication mode {mode} does not support advertiseTrustStoreCaNames for port {port}"
            ));
        }
        Some(value) => Some(value.parse().map_err(|_| {
            format!(
                "advertiseTrustStoreCaNames only supports the values \"on\" and \"off\" got value {value} for port {port}"
            )
        })?),
    };
    Ok(MutualAuthentication {
        port: port_u16,
        mode,
        trust_store,
        ignore_client_certificate_expiry: raw.ignore_client_certificate_expiry,
        advertise_trust_store_ca_names: advertise,
    })
}

/// Parses `mutual-authentication`: a JSON list of per-port mTLS settings. Each port may appear once.
pub fn parse_mutual_authentication(raw: &str) -> Result<Vec<MutualAuthentication>, String> {
    let entries: Vec<RawMutualAuthentication> = decode(raw, &MUTUAL_AUTHENTICATION)?;
    let mut out: Vec<MutualAuthentication> = Vec::with_capacity(entries.len());
    for entry in entries {
        let entry = validate_mutual_authentication(entry)?;
        if out.iter().any(|seen| seen.port == entry.port) {
            return Err(format!(
                "mutualAuthentication is configured more than once for port {}",
                entry.port
            ));
        }
        out.push(entry);
    }
    Ok(out)
}
