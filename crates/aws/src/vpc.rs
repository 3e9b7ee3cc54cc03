//! Finding the cluster's VPC, in upstream's order: `--aws-vpc-id` when given; else the one VPC
//! whose tags match every `--aws-vpc-tags` pair (`DescribeVpcs` with `tag:<key>` filters); else
//! the VPC of this instance's primary network interface, read from instance metadata (IMDSv2:
//! `meta-data/mac`, then `meta-data/network/interfaces/macs/<mac>/vpc-id`).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use aws_config::imds;
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::Filter;

/// IMDS path of the primary interface's MAC address.
pub const IMDS_MAC_PATH: &str = "/latest/meta-data/mac";

/// Connect and read timeout of one IMDS request: the link-local endpoint answers in
/// milliseconds on EC2, and elsewhere nothing answers at all.
const IMDS_REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
/// Upper bound for one IMDS read, token included.
const IMDS_OPERATION_TIMEOUT: Duration = Duration::from_secs(3);
/// Upper bound for the whole metadata lookup (token, MAC, VPC ID).
pub const IMDS_LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// IMDS path of the VPC ID of the interface with this MAC address.
pub fn imds_vpc_path(mac: &str) -> String {
    format!("/latest/meta-data/network/interfaces/macs/{mac}/vpc-id")
}

/// Where the VPC ID came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VpcSource {
    /// `--aws-vpc-id`.
    Flag,
    /// The one VPC matching `--aws-vpc-tags` (rendered `k=v,...`).
    Tags(String),
    /// Instance metadata, for the interface with this MAC address.
    InstanceMetadata { mac: String },
}

impl fmt::Display for VpcSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VpcSource::Flag => f.write_str("--aws-vpc-id"),
            VpcSource::Tags(tags) => write!(f, "--aws-vpc-tags {tags}"),
            VpcSource::InstanceMetadata { mac } => {
                write!(f, "instance metadata (interface {mac})")
            }
        }
    }
}

/// The cluster's VPC and where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedVpc {
    pub id: String,
    pub source: VpcSource,
}

/// Why the cluster's VPC could not be found.
#[derive(Debug, thiserror::Error)]
pub enum VpcError {
    #[error("--aws-vpc-id is empty: give a VPC ID, or leave the flag out to discover the VPC")]
    EmptyId,
    #[error(
        "--aws-vpc-tags gives tag {key:?} twice ({first:?} and {second:?}): give each key once"
    )]
    DuplicateTag {
        key: String,
        first: String,
        second: String,
    },
    #[error("cannot find the VPC tagged {tags} (--aws-vpc-tags): DescribeVpcs failed: {message}")]
    DescribeVpcs { tags: String, message: String },
    #[error(
        "--aws-vpc-tags {tags} must match exactly one VPC, but {count} match{}",
        listed(ids)
    )]
    TagMatchCount {
        tags: String,
        count: usize,
        ids: Vec<String>,
    },
    #[error(
        "cannot read the VPC from instance metadata ({what}, {path}): {reason}; \
         set --aws-vpc-id or --aws-vpc-tags"
    )]
    Imds {
        what: &'static str,
        path: String,
        reason: String,
    },
    #[error(
        "instance metadata took longer than {timeout:?} to answer; \
         set --aws-vpc-id or --aws-vpc-tags"
    )]
    ImdsTimeout { timeout: Duration },
    #[error("invalid instance metadata endpoint {endpoint:?}: {reason}")]
    ImdsEndpoint { endpoint: String, reason: String },
}

/// How many matching VPC IDs an error lists.
const LISTED_IDS: usize = 5;

fn listed(ids: &[String]) -> String {
    match ids.get(..LISTED_IDS) {
        _ if ids.is_empty() => String::new(),
        Some(first) if ids.len() > LISTED_IDS => format!(" ({}, ...)", first.join(", ")),
        _ => format!(" ({})", ids.join(", ")),
    }
}

/// `k=v` pairs as given on the command line, as a map; a key given twice with different values
/// is an error (the same pair twice is not).
pub fn tag_map(pairs: &[(String, String)]) -> Result<BTreeMap<String, String>, VpcError> {
    let mut tags = BTreeMap::new();
    for (key, value) in pairs {
        if let Some(first) = tags.insert(key.clone(), value.clone())
            && first != *value
        {
            return Err(VpcError::DuplicateTag {
                key: key.clone(),
                first,
                second: value.clone(),
            });
        }
    }
    Ok(tags)
}

/// The tags as `k=v,k2=v2` (sorted by key), as error messages and logs show them.
pub fn render_tags(tags: &BTreeMap<String, String>) -> String {
    tags.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// An IMDSv2 client with short timeouts, so that a machine without instance metadata fails in
/// seconds. `endpoint` overrides the address; `None` follows the SDK
/// (`AWS_EC2_METADATA_SERVICE_ENDPOINT`, the profile, else `http://169.254.169.254`).
pub fn imds_client(endpoint: Option<&str>) -> Result<imds::Client, VpcError> {
    let mut builder = imds::Client::builder()
        .max_attempts(2)
        .connect_timeout(IMDS_REQUEST_TIMEOUT)
        .read_timeout(IMDS_REQUEST_TIMEOUT)
        .operation_attempt_timeout(IMDS_OPERATION_TIMEOUT)
        .operation_timeout(IMDS_OPERATION_TIMEOUT);
    if let Some(endpoint) = endpoint {
        builder = builder
            .endpoint(endpoint)
            .map_err(|err| VpcError::ImdsEndpoint {
                endpoint: endpoint.to_owned(),
                reason: err.to_string(),
            })?;
    }
    Ok(builder.build())
}

/// Finds the cluster's VPC: `explicit` (`--aws-vpc-id`) when given, else the one VPC matching
/// every tag in `tags` (`--aws-vpc-tags`) when there are any, else this instance's VPC from
/// `imds`. Neither EC2 nor IMDS is called when an earlier source decides.
pub async fn resolve_vpc_id(
    explicit: Option<&str>,
    tags: &BTreeMap<String, String>,
    ec2: &aws_sdk_ec2::Client,
    imds: &imds::Client,
) -> Result<ResolvedVpc, VpcError> {
    if let Some(id) = explicit {
        let id = id.trim();
        if id.is_empty() {
            return Err(VpcError::EmptyId);
        }
        return Ok(ResolvedVpc {
            id: id.to_owned(),
            source: VpcSource::Flag,
        });
    }
    if !tags.is_empty() {
        let id = vpc_by_tags(ec2, tags).await?;
        return Ok(ResolvedVpc {
            id,
            source: VpcSource::Tags(render_tags(tags)),
        });
    }
    match tokio::time::timeout(IMDS_LOOKUP_TIMEOUT, vpc_from_metadata(imds)).await {
        Ok(found) => found,
        Err(_) => Err(VpcError::ImdsTimeout {
            timeout: IMDS_LOOKUP_TIMEOUT,
        }),
    }
}

/// The ID of the one VPC carrying every tag in `tags` (not empty).
pub async fn vpc_by_tags(
    ec2: &aws_sdk_ec2::Client,
    tags: &BTreeMap<String, String>,
) -> Result<String, VpcError> {
    let filters = tags
        .iter()
        .map(|(key, value)| {
            Filter::builder()
                .name(format!("tag:{key}"))
                .values(value)
                .build()
        })
        .collect::<Vec<_>>();
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = ec2
            .describe_vpcs()
            .set_filters(Some(filters.clone()))
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|err| VpcError::DescribeVpcs {
                tags: render_tags(tags),
                message: sdk_message(&err),
            })?;
        ids.extend(
            page.vpcs()
                .iter()
                .filter_map(|vpc| vpc.vpc_id())
                .map(str::to_owned),
        );
        match page.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_owned()),
            _ => break,
        }
    }
    ids.sort();
    ids.dedup();
    match <[String; 1]>::try_from(ids) {
        Ok([id]) => Ok(id),
        Err(ids) => Err(VpcError::TagMatchCount {
            tags: render_tags(tags),
            count: ids.len(),
            ids,
        }),
    }
}

/// This instance's VPC: the VPC of the interface whose MAC `meta-data/mac` names.
pub async fn vpc_from_metadata(imds: &imds::Client) -> Result<ResolvedVpc, VpcError> {
    let mac = imds_read(imds, "the instance's MAC address", IMDS_MAC_PATH.to_owned()).await?;
    let id = imds_read(imds, "the VPC of its interface", imds_vpc_path(&mac)).await?;
    Ok(ResolvedVpc {
        id,
        source: VpcSource::InstanceMetadata { mac },
    })
}

/// One trimmed, non-empty IMDS value.
async fn imds_read(
    imds: &imds::Client,
    what: &'static str,
    path: String,
) -> Result<String, VpcError> {
    match imds.get(path.clone()).await {
        Ok(value) => {
            let value = value.as_ref().trim();
            if value.is_empty() {
                Err(VpcError::Imds {
                    what,
                    path,
                    reason: "the answer is empty".to_owned(),
                })
            } else {
                Ok(value.to_owned())
            }
        }
        Err(err) => Err(VpcError::Imds {
            what,
            path,
            reason: imds_reason(&err),
        }),
    }
}

/// Why an IMDS read failed, without the raw response the SDK's text carries for HTTP errors.
fn imds_reason(err: &imds::client::error::ImdsError) -> String {
    match err {
        imds::client::error::ImdsError::ErrorResponse(answer) => {
            let status = answer.response().status().as_u16();
            match status {
                404 => "IMDS answered 404 (not found)".to_owned(),
                403 => "IMDS answered 403 (instance metadata is disabled)".to_owned(),
                _ => format!("IMDS answered HTTP {status}"),
            }
        }
        other => error_chain(other),
    }
}

/// An AWS error as `Code: message` when AWS answered with one, else the error chain.
fn sdk_message<E>(err: &aws_sdk_ec2::error::SdkError<E>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => error_chain(err),
    }
}

/// An error and its sources, `outer: inner: ...`, skipping a source whose text its parent
/// already ends with.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !part.is_empty() && !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests;
