//! Listeners, matched by port on our load balancers: create with tags, reconcile protocol,
//! TLS settings, default actions, SNI certificates, attributes and tags.
//!
//! A listener on the port is ours whether or not it carries our tags, unless it carries
//! someone else's ([`ownership`](super::ownership)): an untagged one is adopted (our tags are
//! added with the other updates), another cluster's or stack's stops the deploy with
//! [`DeployError::OwnedByOther`]. Listeners on ports the stack does not want are deleted, unless
//! they are someone else's; those are left alone and reported.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_elasticloadbalancingv2::types as elbv2;

use model::stack::{
    Action, Attribute, ListenerSpec, MutualAuthentication, Protocol, ResourceType, Stack, StackKind,
};

use super::call::Ctx;
use super::convert::{model_actions, sdk_actions, sdk_tags};
use super::diff::{FieldChange, ResourceDiff};
use super::discover::{Found, FoundListener};
use super::elbv2_tags::apply_tags;
use super::error::{DeployError, ErrorCategory, ResourceRef};
use super::fields::{attribute_fields, json, tag_fields, wanted};
use super::normal::{changed_attributes, normalize_actions};
use super::ownership::{ForeignResource, Ownership};
use super::resolve::{LISTENER_ARN, Resolver};
use super::rules::ListenerRules;
use super::tags::{TagDiff, diff_tags};

/// A target group already serves another load balancer.
const TARGET_GROUP_ASSOCIATION_LIMIT: &str = "TargetGroupAssociationLimit";

/// What the listener step leaves for the rules and the deletions.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Listeners of ours that the stack no longer has, to delete after the rules.
    pub stale: Vec<Found<elbv2::Listener>>,
    /// The rules found on each listener that stays, by listener ARN.
    pub rules: BTreeMap<String, ListenerRules>,
}

fn certificate(arn: &str) -> elbv2::Certificate {
    elbv2::Certificate::builder().certificate_arn(arn).build()
}

fn sdk_mutual_authentication(m: &MutualAuthentication) -> elbv2::MutualAuthenticationAttributes {
    elbv2::MutualAuthenticationAttributes::builder()
        .mode(&m.mode)
        .set_trust_store_arn(m.trust_store_arn.clone())
        .set_ignore_client_certificate_expiry(m.ignore_client_certificate_expiry)
        .set_advertise_trust_store_ca_names(
            m.advertise_trust_store_ca_names
                .as_deref()
                .map(elbv2::AdvertiseTrustStoreCaNamesEnum::from),
        )
        .build()
}

fn mutual_authentication_drifted(
    wanted: &MutualAuthentication,
    actual: Option<&elbv2::MutualAuthenticationAttributes>,
) -> bool {
    let Some(actual) = actual else {
        return wanted.mode != "off";
    };
    actual.mode() != Some(wanted.mode.as_str())
        || (wanted.trust_store_arn.is_some()
            && actual.trust_store_arn() != wanted.trust_store_arn.as_deref())
        || (wanted.ignore_client_certificate_expiry.is_some()
            && actual.ignore_client_certificate_expiry() != wanted.ignore_client_certificate_expiry)
        || (wanted.advertise_trust_store_ca_names.is_some()
            && actual.advertise_trust_store_ca_names().map(|a| a.as_str())
                != wanted.advertise_trust_store_ca_names.as_deref())
}

/// The listener's own settings (not its SNI certificates or attributes) that drifted; any of
/// them means one `ModifyListener`.
pub fn listener_changes(
    spec: &ListenerSpec,
    actions: &[Action],
    listener: &elbv2::Listener,
) -> Vec<FieldChange> {
    let mut out = Vec::new();
    wanted(
        &mut out,
        "protocol",
        Some(spec.protocol.as_str()),
        listener.protocol().map(|p| p.as_str()),
    );
    wanted(
        &mut out,
        "sslPolicy",
        spec.ssl_policy.as_deref(),
        listener.ssl_policy(),
    );
    wanted(
        &mut out,
        "certificates.default",
        spec.certificates
            .first()
            .map(|c| c.certificate_arn.as_str()),
        listener
            .certificates()
            .first()
            .and_then(|a| a.certificate_arn()),
    );
    let wanted_actions = normalize_actions(actions);
    let actual_actions = model_actions(listener.default_actions()).map(|a| normalize_actions(&a));
    if actual_actions.as_deref() != Some(&wanted_actions[..]) {
        out.push(FieldChange::new(
            "defaultActions",
            Some(
                actual_actions
                    .map(|a| json(&a))
                    .unwrap_or_else(|| "(not expressible in the model)".to_owned()),
            ),
            Some(json(&wanted_actions)),
        ));
    }
    if !spec.alpn_policy.is_empty() && listener.alpn_policy() != spec.alpn_policy.as_slice() {
        out.push(FieldChange::values(
            "alpnPolicy",
            listener.alpn_policy().join(","),
            spec.alpn_policy.join(","),
        ));
    }
    if let Some(m) = &spec.mutual_authentication {
        let actual = listener.mutual_authentication();
        if mutual_authentication_drifted(m, actual) {
            out.push(FieldChange::new(
                "mutualAuthentication.mode",
                actual.and_then(|a| a.mode()).map(str::to_owned),
                Some(m.mode.clone()),
            ));
        }
    }
    out
}

fn takes_certificates(protocol: Protocol) -> bool {
    matches!(protocol, Protocol::Https | Protocol::Tls)
}

/// Brings the stack's listeners in line. `load_balancers` are the ARNs of the stack's load
/// balancers, `network` those of them that are network load balancers (their listeners have
/// no rules); `found` the listeners that exist on them. Listeners are matched by load balancer
/// and port: an IngressGroup's ALB and its frontend NLB may both listen on port 80.
pub async fn sync(
    ctx: &Ctx<'_>,
    stack: &Stack,
    found: Vec<FoundListener>,
    load_balancers: &BTreeSet<String>,
    network: &BTreeSet<String>,
    resolver: &mut Resolver,
) -> Result<Outcome, DeployError> {
    let mut outcome = Outcome::default();
    let mut remaining = found;
    for (id, resource) in &stack.resources.listeners {
        let spec = &resource.spec;
        let what = ResourceRef::new(ResourceType::Listener, id.as_str());
        let lb_arn = resolver.token(&spec.load_balancer_arn, &what, "loadBalancerARN")?;
        if !load_balancers.contains(&lb_arn) {
            return Err(DeployError::invalid(
                &what,
                "loadBalancerARN",
                format!("{lb_arn} is not a load balancer of this stack"),
            ));
        }
        let actions = resolver.actions(&spec.default_actions, &what, "defaultActions")?;
        let on_network = network.contains(&lb_arn);
        let position = remaining.iter().position(|f| {
            f.listener.item.load_balancer_arn() == Some(lb_arn.as_str())
                && f.listener.item.port() == Some(i32::from(spec.port))
        });
        let arn = match position.map(|i| remaining.remove(i)) {
            Some(existing) => {
                let cluster = ctx.config.cluster_name.as_str();
                if let Ownership::Foreign(owner) = ctx.ownership(&existing.listener.tags) {
                    return Err(DeployError::OwnedByOther {
                        resource: what,
                        existing: format!(
                            "the listener on port {} ({})",
                            spec.port, existing.listener.arn
                        ),
                        owner: Box::new(owner),
                        cluster: cluster.to_owned(),
                        stack: ctx.stack_id.to_owned(),
                    });
                }
                let listener = &existing.listener;
                let update = plan_update(ctx, id, spec, &actions, &what, listener).await?;
                ctx.decided(ResourceDiff::existing(
                    &what,
                    &listener.arn,
                    update.fields.clone(),
                ));
                if !ctx.dry_run() {
                    apply_update(ctx, spec, &actions, &what, &listener.arn, &update).await?;
                }
                if !on_network {
                    outcome.rules.insert(
                        existing.listener.arn.clone(),
                        ListenerRules {
                            port: spec.port,
                            rules: existing.rules,
                        },
                    );
                }
                existing.listener.arn
            }
            None => {
                let arn = match ctx.deciding_create(&what, Vec::new()) {
                    Some(placeholder) => placeholder,
                    None => create(ctx, id, spec, &lb_arn, &actions, &what, on_network).await?,
                };
                if !on_network {
                    outcome.rules.insert(
                        arn.clone(),
                        ListenerRules {
                            port: spec.port,
                            rules: Vec::new(),
                        },
                    );
                }
                arn
            }
        };
        resolver.set(ResourceType::Listener, id, LISTENER_ARN, arn);
    }
    // Listeners nobody asked for: ours (tagged or not) go, anyone else's stay.
    for found in remaining {
        let listener = found.listener;
        match ctx.ownership(&listener.tags) {
            Ownership::Foreign(owner) => ctx.left_alone(ForeignResource {
                resource: port_ref(&listener),
                aws_id: listener.arn,
                owner,
            }),
            Ownership::Ours | Ownership::Unclaimed => outcome.stale.push(listener),
        }
    }
    Ok(outcome)
}

/// A found listener as a resource of ours: by its resource ID tag, else by its port.
fn position_ref(ctx: &Ctx<'_>, listener: &Found<elbv2::Listener>) -> ResourceRef {
    match ctx.resource_id(&listener.tags) {
        Some(id) => ResourceRef::new(ResourceType::Listener, id),
        None => port_ref(listener),
    }
}

/// A found listener named by its port, as our resource IDs spell it.
fn port_ref(listener: &Found<elbv2::Listener>) -> ResourceRef {
    let port = listener.item.port().map(|p| p.to_string());
    ResourceRef::new(ResourceType::Listener, port.unwrap_or_default())
}

async fn create(
    ctx: &Ctx<'_>,
    id: &str,
    spec: &ListenerSpec,
    lb_arn: &str,
    actions: &[Action],
    what: &ResourceRef,
    on_network: bool,
) -> Result<String, DeployError> {
    let tags = ctx.desired_tags(&spec.tags, id);
    let default_actions = sdk_actions(actions, what)?;
    // An NLB (a Service's, or an IngressGroup's frontend NLB) replaced a moment ago may still
    // hold the target groups its successor's listeners forward to (an NLB's target group
    // serves one load balancer): waited out.
    let transient: &[&str] = if ctx.kind == StackKind::Service || on_network {
        &[TARGET_GROUP_ASSOCIATION_LIMIT]
    } else {
        &[]
    };
    let out = ctx
        .mutate_until_free(
            "CreateListener",
            what,
            transient,
            ctx.config.target_group_delete_timeout,
            ctx.config.in_use_retry_interval,
            || {
                ctx.clients
                    .elbv2
                    .create_listener()
                    .load_balancer_arn(lb_arn)
                    .port(i32::from(spec.port))
                    .protocol(elbv2::ProtocolEnum::from(spec.protocol.as_str()))
                    .set_ssl_policy(spec.ssl_policy.clone())
                    .set_certificates(
                        spec.certificates
                            .first()
                            .map(|c| vec![certificate(&c.certificate_arn)]),
                    )
                    .set_default_actions(Some(default_actions.clone()))
                    .set_alpn_policy(
                        (!spec.alpn_policy.is_empty()).then(|| spec.alpn_policy.clone()),
                    )
                    .set_mutual_authentication(
                        spec.mutual_authentication
                            .as_ref()
                            .map(sdk_mutual_authentication),
                    )
                    .set_tags(Some(sdk_tags(&tags)))
                    .send()
            },
        )
        .await?;
    let arn = out
        .listeners()
        .first()
        .and_then(|l| l.listener_arn())
        .map(str::to_owned)
        .ok_or_else(|| {
            DeployError::invalid(what, "listenerARN", "CreateListener returned no listener")
        })?;
    ctx.created(what, &arn);
    let sni: Vec<&str> = spec
        .certificates
        .iter()
        .skip(1)
        .map(|c| c.certificate_arn.as_str())
        .collect();
    if !sni.is_empty() {
        add_certificates(ctx, what, &arn, &sni).await?;
    }
    let attributes = changed_attributes(&spec.listener_attributes, &BTreeMap::new());
    if !attributes.is_empty() {
        modify_attributes(ctx, what, &arn, &attributes).await?;
    }
    Ok(arn)
}

async fn add_certificates(
    ctx: &Ctx<'_>,
    what: &ResourceRef,
    arn: &str,
    certificates: &[&str],
) -> Result<(), DeployError> {
    let certs: Vec<elbv2::Certificate> = certificates.iter().map(|c| certificate(c)).collect();
    ctx.mutate("AddListenerCertificates", what, || {
        ctx.clients
            .elbv2
            .add_listener_certificates()
            .listener_arn(arn)
            .set_certificates(Some(certs.clone()))
            .send()
    })
    .await?;
    Ok(())
}

async fn modify_attributes(
    ctx: &Ctx<'_>,
    what: &ResourceRef,
    arn: &str,
    attributes: &[Attribute],
) -> Result<(), DeployError> {
    let attributes: Vec<elbv2::ListenerAttribute> = attributes
        .iter()
        .map(|a| {
            elbv2::ListenerAttribute::builder()
                .key(&a.key)
                .value(&a.value)
                .build()
        })
        .collect();
    ctx.mutate("ModifyListenerAttributes", what, || {
        ctx.clients
            .elbv2
            .modify_listener_attributes()
            .listener_arn(arn)
            .set_attributes(Some(attributes.clone()))
            .send()
    })
    .await?;
    Ok(())
}

/// The SNI (non-default) certificates of a listener.
async fn sni_certificates(
    ctx: &Ctx<'_>,
    what: &ResourceRef,
    arn: &str,
) -> Result<BTreeSet<String>, DeployError> {
    let mut out = BTreeSet::new();
    let mut marker: Option<String> = None;
    loop {
        let page = ctx
            .read("DescribeListenerCertificates", what, || {
                ctx.clients
                    .elbv2
                    .describe_listener_certificates()
                    .listener_arn(arn)
                    .set_marker(marker.clone())
                    .send()
            })
            .await?;
        out.extend(
            page.certificates()
                .iter()
                .filter(|c| c.is_default() != Some(true))
                .filter_map(|c| c.certificate_arn().map(str::to_owned)),
        );
        match page.next_marker() {
            Some(next) if !next.is_empty() => marker = Some(next.to_owned()),
            _ => break,
        }
    }
    Ok(out)
}

/// What an existing listener needs.
#[derive(Default)]
struct Update {
    /// Its own settings drifted: one `ModifyListener` with all of them.
    modify: bool,
    add_certificates: Vec<String>,
    remove_certificates: Vec<String>,
    attributes: Vec<Attribute>,
    tags: TagDiff,
    fields: Vec<FieldChange>,
}

/// Works out what an existing listener needs (reads only).
async fn plan_update(
    ctx: &Ctx<'_>,
    id: &str,
    spec: &ListenerSpec,
    actions: &[Action],
    what: &ResourceRef,
    listener: &Found<elbv2::Listener>,
) -> Result<Update, DeployError> {
    let arn = listener.arn.as_str();
    let mut update = Update::default();
    let own = listener_changes(spec, actions, &listener.item);
    update.modify = !own.is_empty();
    update.fields.extend(own);

    if takes_certificates(spec.protocol) {
        let actual = sni_certificates(ctx, what, arn).await?;
        let default = spec
            .certificates
            .first()
            .map(|c| c.certificate_arn.as_str());
        let wanted: BTreeSet<&str> = spec
            .certificates
            .iter()
            .skip(1)
            .map(|c| c.certificate_arn.as_str())
            .filter(|c| Some(*c) != default)
            .collect();
        update.add_certificates = wanted
            .iter()
            .filter(|c| !actual.contains(**c))
            .map(|c| (*c).to_owned())
            .collect();
        update.remove_certificates = actual
            .iter()
            .filter(|c| !wanted.contains(c.as_str()) && Some(c.as_str()) != default)
            .cloned()
            .collect();
        let added = update
            .add_certificates
            .iter()
            .map(|c| FieldChange::new("certificates", None, Some(c.clone())));
        let removed = update
            .remove_certificates
            .iter()
            .map(|c| FieldChange::new("certificates", Some(c.clone()), None));
        update.fields.extend(added.chain(removed));
    }

    if !spec.listener_attributes.is_empty() {
        let out = ctx
            .read("DescribeListenerAttributes", what, || {
                ctx.clients
                    .elbv2
                    .describe_listener_attributes()
                    .listener_arn(arn)
                    .send()
            })
            .await?;
        let actual: BTreeMap<String, String> = out
            .attributes()
            .iter()
            .filter_map(|a| {
                Some((
                    a.key()?.to_owned(),
                    a.value().unwrap_or_default().to_owned(),
                ))
            })
            .collect();
        update.attributes = changed_attributes(&spec.listener_attributes, &actual);
        update
            .fields
            .extend(attribute_fields(&update.attributes, &actual));
    }

    let tags = ctx.desired_tags(&spec.tags, id);
    update.tags = diff_tags(&tags, &listener.tags, &ctx.config.external_managed_tags);
    update
        .fields
        .extend(tag_fields(&update.tags, &listener.tags));
    Ok(update)
}

async fn apply_update(
    ctx: &Ctx<'_>,
    spec: &ListenerSpec,
    actions: &[Action],
    what: &ResourceRef,
    arn: &str,
    update: &Update,
) -> Result<(), DeployError> {
    if update.modify {
        let default_actions = sdk_actions(actions, what)?;
        ctx.mutate("ModifyListener", what, || {
            ctx.clients
                .elbv2
                .modify_listener()
                .listener_arn(arn)
                .port(i32::from(spec.port))
                .protocol(elbv2::ProtocolEnum::from(spec.protocol.as_str()))
                .set_ssl_policy(spec.ssl_policy.clone())
                .set_certificates(
                    spec.certificates
                        .first()
                        .map(|c| vec![certificate(&c.certificate_arn)]),
                )
                .set_default_actions(Some(default_actions.clone()))
                .set_alpn_policy((!spec.alpn_policy.is_empty()).then(|| spec.alpn_policy.clone()))
                .set_mutual_authentication(
                    spec.mutual_authentication
                        .as_ref()
                        .map(sdk_mutual_authentication),
                )
                .send()
        })
        .await?;
    }
    if !update.add_certificates.is_empty() {
        let add: Vec<&str> = update.add_certificates.iter().map(String::as_str).collect();
        add_certificates(ctx, what, arn, &add).await?;
    }
    if !update.remove_certificates.is_empty() {
        let remove: Vec<elbv2::Certificate> = update
            .remove_certificates
            .iter()
            .map(|c| certificate(c))
            .collect();
        ctx.mutate("RemoveListenerCertificates", what, || {
            ctx.clients
                .elbv2
                .remove_listener_certificates()
                .listener_arn(arn)
                .set_certificates(Some(remove.clone()))
                .send()
        })
        .await?;
    }
    if !update.attributes.is_empty() {
        modify_attributes(ctx, what, arn, &update.attributes).await?;
    }
    apply_tags(ctx, what, arn, &update.tags).await?;
    if !update.fields.is_empty() {
        ctx.modified(what, arn);
    }
    Ok(())
}

/// Deletes listeners of ours that the stack no longer has.
pub async fn delete(
    ctx: &Ctx<'_>,
    listeners: Vec<Found<elbv2::Listener>>,
) -> Result<(), DeployError> {
    for listener in listeners {
        let what = position_ref(ctx, &listener);
        ctx.decided(ResourceDiff::delete(&what, &listener.arn));
        if ctx.dry_run() {
            continue;
        }
        let result = ctx
            .mutate("DeleteListener", &what, || {
                ctx.clients
                    .elbv2
                    .delete_listener()
                    .listener_arn(&listener.arn)
                    .send()
            })
            .await;
        match result {
            Ok(_) => ctx.deleted(&what, &listener.arn),
            Err(err) if err.category() == ErrorCategory::NotFound => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}
