//! SSL redirect: one port across the group (IngressClassParams `sslRedirectPort` over the
//! `ssl-redirect` annotation), which must be an HTTPS listener; HTTP listeners then redirect
//! everything to it and carry no rules.

use std::collections::BTreeMap;

use super::Task;
use super::errors::{BuildError, Origin, go_list};
use super::port_config::PortConfig;
use crate::stack::{Action, Protocol, RedirectConfig};

impl Task<'_> {
    /// The group's SSL-redirect port, checked against its listeners.
    pub(crate) fn ssl_redirect_port(
        &self,
        ports: &BTreeMap<u16, PortConfig>,
    ) -> Result<Option<u16>, BuildError> {
        let mut chosen: BTreeMap<i64, Origin> = BTreeMap::new();
        for member in &self.members {
            let (value, origin) = match member
                .params
                .as_ref()
                .and_then(|p| p.ssl_redirect_port.as_ref())
            {
                Some(raw) => match raw.trim().parse::<i32>() {
                    Ok(port) => (i64::from(port), member.class_params("sslRedirectPort")),
                    // Upstream's quirk: a non-integer value silently disables the redirect.
                    Err(_) => return Ok(None),
                },
                None => match member.parsed.ssl_redirect {
                    Some(port) => (i64::from(port), member.annotation("ssl-redirect")),
                    None => continue,
                },
            };
            chosen.entry(value).or_insert_with(|| origin.clone());
            if chosen.len() > 1 {
                let values: Vec<String> = chosen.keys().map(ToString::to_string).collect();
                return Err(BuildError::conflict(
                    origin,
                    format!("conflicting sslRedirect port: {}", go_list(&values)),
                ));
            }
        }
        let Some((&port, origin)) = chosen.iter().next() else {
            return Ok(None);
        };
        let config = u16::try_from(port).ok().and_then(|p| ports.get(&p));
        match config {
            None => Err(BuildError::invalid(
                origin.clone(),
                format!("listener does not exist for SSLRedirect port: {port}"),
            )),
            Some(c) if c.protocol != Protocol::Https => Err(BuildError::invalid(
                origin.clone(),
                format!("listener protocol non-SSL for SSLRedirect port: {port}"),
            )),
            Some(_) => Ok(u16::try_from(port).ok()),
        }
    }
}

/// Redirect to HTTPS on `port`, status 301: the default action of HTTP listeners with SSL
/// redirect.
pub(crate) fn redirect_action(port: u16) -> Action {
    Action::redirect(RedirectConfig {
        host: None,
        path: None,
        port: Some(port.to_string()),
        protocol: Some("HTTPS".to_owned()),
        query: None,
        status_code: "HTTP_301".to_owned(),
    })
}
