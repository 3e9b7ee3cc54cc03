//! The EC2 side of the networking rules: the targets' ENIs (`DescribeNetworkInterfaces`), the
//! security groups' tags and inbound rules (`DescribeSecurityGroups`), and
//! `AuthorizeSecurityGroupIngress` / `RevokeSecurityGroupIngress`.
//!
//! ENIs and group tags change rarely: they are cached for [`CACHE_TTL`] (a target's ENI by its
//! pod IP or instance ID), so a binding whose targets did not change costs one
//! `DescribeSecurityGroups` call (the current rules) per reconcile.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::Filter;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;

use crate::AwsClients;
use crate::adapters::aws_error;
use crate::error::AwsFailure;
use crate::sg_rules::{self, Permission};
use controller::backends::{BackendError, BoxFuture};
use controller::networking::{Eni, RulesByGroup, TagsByGroup, TargetMode, TargetSecurityGroups};

/// How long a target's ENI and a group's tags are trusted.
pub const CACHE_TTL: Duration = Duration::from_secs(600);
/// Values per filter of one describe call (EC2 allows 200 filter values in all; one or two
/// go to the other filters).
const CHUNK: usize = 195;

type Tags = BTreeMap<String, String>;

/// The networking backend over the EC2 client of [`AwsClients`] (whose calls are counted).
pub struct AwsTargetSecurityGroups {
    ec2: aws_sdk_ec2::Client,
    vpc_id: String,
    cluster: String,
    ttl: Duration,
    enis: Mutex<HashMap<(TargetMode, String), (Eni, Instant)>>,
    tags: Mutex<HashMap<String, (Tags, Instant)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn error_code<E>(error: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    AwsFailure::from_sdk(error).code
}

fn filter(name: &str, values: impl IntoIterator<Item = impl Into<String>>) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.into_iter().map(Into::into).collect()))
        .build()
}

fn tag_map(tags: &[aws_sdk_ec2::types::Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

impl AwsTargetSecurityGroups {
    pub fn new(
        clients: &AwsClients,
        vpc_id: impl Into<String>,
        cluster_name: impl Into<String>,
    ) -> Self {
        Self {
            ec2: clients.ec2.clone(),
            vpc_id: vpc_id.into(),
            cluster: cluster_name.into(),
            ttl: CACHE_TTL,
            enis: Mutex::new(HashMap::new()),
            tags: Mutex::new(HashMap::new()),
        }
    }

    /// The same with another cache lifetime (zero: no caching).
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// ENIs matching `filters` (plus the VPC filter), every page.
    async fn describe_enis(
        &self,
        filters: Vec<Filter>,
    ) -> Result<Vec<aws_sdk_ec2::types::NetworkInterface>, BackendError> {
        let mut request = self
            .ec2
            .describe_network_interfaces()
            .filters(filter("vpc-id", [self.vpc_id.clone()]));
        for f in filters {
            request = request.filters(f);
        }
        let mut pages = request.into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("DescribeNetworkInterfaces", &e))?;
            out.extend(page.network_interfaces().iter().cloned());
        }
        Ok(out)
    }

    /// Looks up the ENIs of `ids` not in the cache.
    async fn lookup_enis(
        &self,
        mode: TargetMode,
        ids: &[String],
    ) -> Result<BTreeMap<String, Eni>, BackendError> {
        let wanted: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
        let mut found = BTreeMap::new();
        let groups: Vec<(&str, Vec<String>)> = match mode {
            TargetMode::Ip => {
                let (v6, v4): (Vec<String>, Vec<String>) =
                    ids.iter().cloned().partition(|ip| ip.contains(':'));
                vec![
                    ("addresses.private-ip-address", v4),
                    ("ipv6-addresses.ipv6-address", v6),
                ]
            }
            TargetMode::Instance => vec![("attachment.instance-id", ids.to_vec())],
        };
        for (name, values) in groups {
            for chunk in values.chunks(CHUNK) {
                // An instance's primary ENI is the one at device index 0; that is checked
                // here rather than with the `attachment.device-index` filter, which not
                // every EC2 emulator knows.
                let filters = vec![filter(name, chunk.iter().cloned())];
                for interface in self.describe_enis(filters).await? {
                    let eni = Eni {
                        id: interface
                            .network_interface_id()
                            .unwrap_or_default()
                            .to_owned(),
                        security_groups: interface
                            .groups()
                            .iter()
                            .filter_map(|g| g.group_id().map(str::to_owned))
                            .collect(),
                    };
                    let keys: Vec<&str> = match mode {
                        TargetMode::Ip => interface
                            .private_ip_addresses()
                            .iter()
                            .filter_map(|a| a.private_ip_address())
                            .chain(interface.private_ip_address())
                            .chain(
                                interface
                                    .ipv6_addresses()
                                    .iter()
                                    .filter_map(|a| a.ipv6_address()),
                            )
                            .collect(),
                        TargetMode::Instance => interface
                            .attachment()
                            .filter(|a| a.device_index() == Some(0))
                            .and_then(|a| a.instance_id())
                            .into_iter()
                            .collect(),
                    };
                    for key in keys.into_iter().filter(|k| wanted.contains(k)) {
                        found.insert(key.to_owned(), eni.clone());
                    }
                }
            }
        }
        Ok(found)
    }

    /// Security groups of the VPC matching `filters`, every page.
    async fn describe_groups(
        &self,
        filters: Vec<Filter>,
    ) -> Result<Vec<aws_sdk_ec2::types::SecurityGroup>, BackendError> {
        let mut request = self
            .ec2
            .describe_security_groups()
            .filters(filter("vpc-id", [self.vpc_id.clone()]));
        for f in filters {
            request = request.filters(f);
        }
        let mut pages = request.into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("DescribeSecurityGroups", &e))?;
            out.extend(page.security_groups().iter().cloned());
        }
        Ok(out)
    }

    /// Groups by ID (in chunks); missing ones are absent. Refreshes the tag cache.
    async fn groups_by_id(
        &self,
        ids: &[String],
    ) -> Result<Vec<aws_sdk_ec2::types::SecurityGroup>, BackendError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(CHUNK) {
            out.extend(
                self.describe_groups(vec![filter("group-id", chunk.iter().cloned())])
                    .await?,
            );
        }
        let now = Instant::now();
        let mut cache = lock(&self.tags);
        for group in &out {
            if let Some(id) = group.group_id() {
                cache.insert(id.to_owned(), (tag_map(group.tags()), now));
            }
        }
        Ok(out)
    }

    /// One call for all `permissions`; when AWS refuses the batch because one of them is
    /// already in the wanted state (`ignored` error code), each is sent alone, ignoring that
    /// code.
    async fn each_or_all(
        &self,
        group_id: &str,
        permissions: &[Permission],
        authorize: bool,
    ) -> Result<(), BackendError> {
        let (operation, ignored) = if authorize {
            (
                "AuthorizeSecurityGroupIngress",
                "InvalidPermission.Duplicate",
            )
        } else {
            ("RevokeSecurityGroupIngress", "InvalidPermission.NotFound")
        };
        let send = |batch: &[Permission]| {
            let permissions = sg_rules::ec2_permissions(batch);
            let ec2 = self.ec2.clone();
            let group_id = group_id.to_owned();
            async move {
                if authorize {
                    ec2.authorize_security_group_ingress()
                        .group_id(group_id)
                        .set_ip_permissions(Some(permissions))
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| (error_code(&e), aws_error(operation, &e)))
                } else {
                    ec2.revoke_security_group_ingress()
                        .group_id(group_id)
                        .set_ip_permissions(Some(permissions))
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| (error_code(&e), aws_error(operation, &e)))
                }
            }
        };
        match send(permissions).await {
            Ok(()) => Ok(()),
            Err((code, _)) if code == ignored && permissions.len() == 1 => Ok(()),
            Err((code, _)) if code == ignored => {
                for permission in permissions {
                    match send(std::slice::from_ref(permission)).await {
                        Ok(()) => {}
                        Err((code, _)) if code == ignored => {}
                        Err((_, error)) => return Err(error),
                    }
                }
                Ok(())
            }
            Err((_, error)) => Err(error),
        }
    }
}

impl TargetSecurityGroups for AwsTargetSecurityGroups {
    fn enis<'a>(
        &'a self,
        mode: TargetMode,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<BTreeMap<String, Eni>, BackendError>> {
        Box::pin(async move {
            let now = Instant::now();
            let mut out = BTreeMap::new();
            let mut uncached = Vec::new();
            {
                let cache = lock(&self.enis);
                for id in ids {
                    match cache.get(&(mode, id.clone())) {
                        Some((eni, at)) if now.duration_since(*at) < self.ttl => {
                            out.insert(id.clone(), eni.clone());
                        }
                        _ => uncached.push(id.clone()),
                    }
                }
            }
            if uncached.is_empty() {
                return Ok(out);
            }
            let found = self.lookup_enis(mode, &uncached).await?;
            let mut cache = lock(&self.enis);
            for (id, eni) in found {
                cache.insert((mode, id.clone()), (eni.clone(), now));
                out.insert(id, eni);
            }
            Ok(out)
        })
    }

    fn tags<'a>(
        &'a self,
        group_ids: &'a [String],
    ) -> BoxFuture<'a, Result<TagsByGroup, BackendError>> {
        Box::pin(async move {
            let now = Instant::now();
            let mut out = BTreeMap::new();
            let mut uncached = Vec::new();
            {
                let cache = lock(&self.tags);
                for id in group_ids {
                    match cache.get(id) {
                        Some((tags, at)) if now.duration_since(*at) < self.ttl => {
                            out.insert(id.clone(), tags.clone());
                        }
                        _ => uncached.push(id.clone()),
                    }
                }
            }
            if !uncached.is_empty() {
                for group in self.groups_by_id(&uncached).await? {
                    if let Some(id) = group.group_id() {
                        out.insert(id.to_owned(), tag_map(group.tags()));
                    }
                }
            }
            Ok(out)
        })
    }

    fn ingress<'a>(
        &'a self,
        group_ids: &'a [String],
    ) -> BoxFuture<'a, Result<RulesByGroup, BackendError>> {
        Box::pin(async move {
            Ok(self
                .groups_by_id(group_ids)
                .await?
                .iter()
                .filter_map(|g| {
                    Some((
                        g.group_id()?.to_owned(),
                        sg_rules::actual_permissions(g.ip_permissions()),
                    ))
                })
                .collect())
        })
    }

    fn cluster_groups(&self) -> BoxFuture<'_, Result<Vec<String>, BackendError>> {
        Box::pin(async move {
            let tag = format!("tag:kubernetes.io/cluster/{}", self.cluster);
            Ok(self
                .describe_groups(vec![filter(&tag, ["owned", "shared"])])
                .await?
                .iter()
                .filter_map(|g| g.group_id().map(str::to_owned))
                .collect())
        })
    }

    fn authorize<'a>(
        &'a self,
        group_id: &'a str,
        permissions: &'a [Permission],
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(self.each_or_all(group_id, permissions, true))
    }

    fn revoke<'a>(
        &'a self,
        group_id: &'a str,
        permissions: &'a [Permission],
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(self.each_or_all(group_id, permissions, false))
    }
}
