//! The targets of `alb` target groups: an IngressGroup's frontend NLB forwards each of its
//! listeners to a target group of target type `alb`, in which the group's ALB itself is the one
//! target (its ARN, on one of its listener ports: the stack's `albTargets`).
//!
//! This step runs once the load balancers and their listeners are in place, since AWS refuses
//! to register an ALB on a port it has no listener on yet:
//!
//! 1. every `alb` target group of ours that the stack no longer has is emptied first (its
//!    targets deregistered), as upstream does, before its listener, its load balancer or the
//!    ALB go;
//! 2. for each `alb` target group of the stack, what is registered is read
//!    (`DescribeTargetHealth`; not for a target group this run created, which has none), targets
//!    that are not wanted are deregistered, and wanted ones that are missing registered. A target
//!    that is draining counts as gone.
//!
//! A registration AWS refuses (the ALB listener on that port does not exist yet, or not for AWS
//! yet) does not stop the deploy: everything else, deletions included, is done, and the deploy
//! then fails with [`DeployError::TargetNotReady`] (category `not_ready`), so that the
//! controller tries again later, as upstream requeues after 15 s.
//!
//! What a deploy confirmed (read, or registered itself) is remembered by the deployer for
//! [`DeployConfig::alb_target_recheck_interval`](super::DeployConfig): within it, an unchanged
//! re-sync makes no call at all for these targets; after it, the targets are read again, so
//! that a change made outside the controller is repaired. Dry runs always read. In a dry run
//! the changes show as a `targets` field of the target group's decision.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_sdk_elasticloadbalancingv2::types as elbv2;

use model::stack::{ResourceType, Stack, TargetType};

use super::call::Ctx;
use super::diff::{FieldChange, is_placeholder};
use super::discover::Found;
use super::error::{DeployError, ErrorCategory, ResourceRef};
use super::resolve::{Resolver, TG_ARN};

/// One registered (or wanted) target: a load balancer ARN and a port.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    pub id: String,
    pub port: i32,
}

impl Target {
    fn sdk(&self) -> elbv2::TargetDescription {
        elbv2::TargetDescription::builder()
            .id(&self.id)
            .port(self.port)
            .build()
    }
}

/// The targets as a field value: `arn:port`, comma-separated, sorted.
fn show(targets: &BTreeSet<Target>) -> String {
    targets
        .iter()
        .map(|t| format!("{}:{}", t.id, t.port))
        .collect::<Vec<_>>()
        .join(",")
}

/// The targets the deployer last confirmed in each `alb` target group (by its ARN), and when.
#[derive(Debug, Default)]
pub struct Registrations {
    confirmed: Mutex<BTreeMap<String, (BTreeSet<Target>, Instant)>>,
}

impl Registrations {
    /// Whether `targets` are what the target group was confirmed to hold less than `ttl` ago.
    fn holds(&self, tg_arn: &str, targets: &BTreeSet<Target>, ttl: Duration) -> bool {
        self.confirmed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tg_arn)
            .is_some_and(|(held, at)| held == targets && at.elapsed() < ttl)
    }

    /// Records what the target group holds now; records older than `ttl` (of target groups
    /// deleted outside the deployer, say) are dropped.
    fn confirm(&self, tg_arn: &str, targets: BTreeSet<Target>, ttl: Duration) {
        let mut confirmed = self
            .confirmed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        confirmed.retain(|_, (_, at)| at.elapsed() < ttl);
        confirmed.insert(tg_arn.to_owned(), (targets, Instant::now()));
    }

    fn forget(&self, tg_arn: &str) {
        self.confirmed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(tg_arn);
    }
}

/// What is registered in a target group and not draining.
async fn registered(
    ctx: &Ctx<'_>,
    what: &ResourceRef,
    tg_arn: &str,
) -> Result<BTreeSet<Target>, DeployError> {
    let out = ctx
        .read("DescribeTargetHealth", what, || {
            ctx.clients
                .elbv2
                .describe_target_health()
                .target_group_arn(tg_arn)
                .send()
        })
        .await?;
    Ok(out
        .target_health_descriptions()
        .iter()
        .filter(|d| {
            d.target_health().and_then(|h| h.state())
                != Some(&elbv2::TargetHealthStateEnum::Draining)
        })
        .filter_map(|d| {
            let target = d.target()?;
            Some(Target {
                id: target.id()?.to_owned(),
                port: target.port()?,
            })
        })
        .collect())
}

async fn deregister(
    ctx: &Ctx<'_>,
    what: &ResourceRef,
    tg_arn: &str,
    targets: &BTreeSet<Target>,
) -> Result<(), DeployError> {
    let targets: Vec<elbv2::TargetDescription> = targets.iter().map(Target::sdk).collect();
    ctx.mutate("DeregisterTargets", what, || {
        ctx.clients
            .elbv2
            .deregister_targets()
            .target_group_arn(tg_arn)
            .set_targets(Some(targets.clone()))
            .send()
    })
    .await?;
    Ok(())
}

async fn register(
    ctx: &Ctx<'_>,
    what: &ResourceRef,
    tg_arn: &str,
    targets: &BTreeSet<Target>,
) -> Result<(), DeployError> {
    let targets: Vec<elbv2::TargetDescription> = targets.iter().map(Target::sdk).collect();
    ctx.mutate("RegisterTargets", what, || {
        ctx.clients
            .elbv2
            .register_targets()
            .target_group_arn(tg_arn)
            .set_targets(Some(targets.clone()))
            .send()
    })
    .await?;
    Ok(())
}

/// Whether a refused registration is one that a later try may get through: AWS refused the
/// target itself (no ALB listener on the port yet, the ALB not known yet), not our rights,
/// a quota, or the call.
fn not_ready(err: &DeployError) -> bool {
    matches!(
        err.category(),
        ErrorCategory::Validation | ErrorCategory::NotFound | ErrorCategory::Conflict
    )
}

/// Empties the `alb` target groups of ours that are about to be deleted (see the module
/// documentation). Nothing to do in a dry run: their deletion is what it records.
pub async fn release_stale(
    ctx: &Ctx<'_>,
    stale: &[Found<elbv2::TargetGroup>],
    memory: &Registrations,
) -> Result<(), DeployError> {
    if ctx.dry_run() {
        return Ok(());
    }
    for tg in stale {
        if tg.item.target_type() != Some(&elbv2::TargetTypeEnum::Alb) || !ctx.owns(&tg.tags) {
            continue;
        }
        let what = tg.resource_ref(ctx.kind, ResourceType::TargetGroup);
        memory.forget(&tg.arn);
        let current = match registered(ctx, &what, &tg.arn).await {
            Ok(current) => current,
            Err(err) if err.category() == ErrorCategory::NotFound => continue,
            Err(err) => return Err(err),
        };
        if current.is_empty() {
            continue;
        }
        tracing::info!(
            stack = ctx.stack_id,
            target_group = %tg.arn,
            targets = %show(&current),
            "deregistering the targets of an alb target group that goes away"
        );
        match deregister(ctx, &what, &tg.arn, &current).await {
            Ok(()) => {}
            Err(err) if err.category() == ErrorCategory::NotFound => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Brings the targets of the stack's `alb` target groups in line (in a dry run: records what
/// that takes). Returns the refusal to wait out, if a registration was refused (see the
/// module documentation); other failures are returned at once.
pub async fn sync(
    ctx: &Ctx<'_>,
    stack: &Stack,
    resolver: &Resolver,
    memory: &Registrations,
) -> Result<Option<DeployError>, DeployError> {
    let ttl = ctx.config.alb_target_recheck_interval;
    let mut pending = None;
    for (id, resource) in &stack.resources.target_groups {
        let spec = &resource.spec;
        if spec.target_type != TargetType::Alb && spec.alb_targets.is_empty() {
            continue;
        }
        let what = ResourceRef::new(ResourceType::TargetGroup, id.as_str());
        let Some(tg_arn) = resolver.get(&model::stack::Ref::new(
            ResourceType::TargetGroup,
            id.as_str(),
            TG_ARN,
        )) else {
            return Err(DeployError::invalid(
                &what,
                "targetGroupARN",
                "the target group was not deployed",
            ));
        };
        let wanted = spec
            .alb_targets
            .iter()
            .map(|t| {
                Ok(Target {
                    id: resolver.token(
                        &t.load_balancer_arn,
                        &what,
                        "albTargets.loadBalancerARN",
                    )?,
                    port: i32::from(t.port),
                })
            })
            .collect::<Result<BTreeSet<_>, DeployError>>()?;
        // A target group this run creates (or would) holds nothing yet.
        let new = is_placeholder(tg_arn) || ctx.is_created(tg_arn);
        if !new && !ctx.dry_run() && memory.holds(tg_arn, &wanted, ttl) {
            continue;
        }
        let current = if new {
            BTreeSet::new()
        } else {
            registered(ctx, &what, tg_arn).await?
        };
        let unwanted: BTreeSet<Target> = current.difference(&wanted).cloned().collect();
        let missing: BTreeSet<Target> = wanted.difference(&current).cloned().collect();
        if unwanted.is_empty() && missing.is_empty() {
            memory.confirm(tg_arn, wanted, ttl);
            continue;
        }
        ctx.amend(
            &what,
            tg_arn,
            vec![FieldChange::new(
                "targets",
                (!current.is_empty()).then(|| show(&current)),
                (!wanted.is_empty()).then(|| show(&wanted)),
            )],
        );
        if ctx.dry_run() {
            continue;
        }
        memory.forget(tg_arn);
        if !unwanted.is_empty() {
            deregister(ctx, &what, tg_arn, &unwanted).await?;
        }
        if !missing.is_empty() {
            match register(ctx, &what, tg_arn, &missing).await {
                Ok(()) => {}
                Err(err) if not_ready(&err) => {
                    tracing::info!(
                        stack = ctx.stack_id,
                        target_group = tg_arn,
                        error = %err,
                        "Failed to register target, retrying after deplay"
                    );
                    if !unwanted.is_empty() {
                        ctx.modified(&what, tg_arn);
                    }
                    pending.get_or_insert(DeployError::TargetNotReady {
                        resource: what.clone(),
                        target_group_arn: tg_arn.to_owned(),
                        last: Box::new(err),
                    });
                    continue;
                }
                Err(err) => return Err(err),
            }
        }
        ctx.modified(&what, tg_arn);
        memory.confirm(tg_arn, wanted, ttl);
    }
    Ok(pending)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::Mode;
    use crate::canned_http::{CannedHttp, Scripted};
    use crate::diff::ChangeKind;
    use crate::{AwsClients, DeployConfig};
    use model::stack::{AlbTarget, Protocol, StackKind, StringToken, TargetGroupSpec};

    const TG: &str = "arn:aws:elasticloadbalancing:us-west-2:1:targetgroup/k8s-nlb/1";
    const ALB: &str = "arn:aws:elasticloadbalancing:us-west-2:1:loadbalancer/app/k8s-alb/2";
    const OLD: &str = "arn:aws:elasticloadbalancing:us-west-2:1:loadbalancer/app/k8s-old/3";
    const ID: &str = "FrontendNlb-tg-TCP-80";
    const REGISTERED: &str =
        "<RegisterTargetsResponse><RegisterTargetsResult/></RegisterTargetsResponse>";
    const DEREGISTERED: &str =
        "<DeregisterTargetsResponse><DeregisterTargetsResult/></DeregisterTargetsResponse>";
    const NO_LISTENER: &str = "<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code>\
        <Message>If the target type is ALB, the target must have at least one listener that \
        matches the target group port or any specified port overrides</Message></Error>\
        <RequestId>1</RequestId></ErrorResponse>";
    const DENIED: &str = "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>\
        <Message>not allowed</Message></Error><RequestId>1</RequestId></ErrorResponse>";

    /// A `DescribeTargetHealth` answer with these `(id, port, state)`.
    fn health(targets: &[(&str, i32, &str)]) -> &'static str {
        let members: String = targets
            .iter()
            .map(|(id, port, state)| {
                format!(
                    "<member><Target><Id>{id}</Id><Port>{port}</Port></Target>\
                     <TargetHealth><State>{state}</State></TargetHealth></member>"
                )
            })
            .collect();
        Box::leak(
            format!(
                "<DescribeTargetHealthResponse><DescribeTargetHealthResult>\
                 <TargetHealthDescriptions>{members}</TargetHealthDescriptions>\
                 </DescribeTargetHealthResult></DescribeTargetHealthResponse>"
            )
            .into_boxed_str(),
        )
    }

    fn stack() -> Stack {
        let mut stack = Stack::new("ns/ing");
        stack
            .add_target_group(
                ID,
                TargetGroupSpec {
                    name: "k8s-nlb".into(),
                    target_type: TargetType::Alb,
                    port: 80,
                    protocol: Protocol::Tcp,
                    protocol_version: None,
                    ip_address_type: None,
                    health_check_config: None,
                    target_group_attributes: vec![],
                    target_control_port: None,
                    alb_targets: vec![AlbTarget {
                        load_balancer_arn: StringToken::Literal(ALB.into()),
                        port: 80,
                    }],
                    tags: Default::default(),
                },
            )
            .unwrap();
        stack
    }

    fn resolver() -> Resolver {
        let mut resolver = Resolver::default();
        resolver.set(ResourceType::TargetGroup, ID, TG_ARN, TG);
        resolver
    }

    fn config(recheck: Duration) -> DeployConfig {
        let mut config = DeployConfig::new("c1", "vpc-1");
        config.alb_target_recheck_interval = recheck;
        config
    }

    /// One `sync` in `mode` against these answers: its result, the request bodies and what the
    /// run recorded.
    async fn run(
        mode: Mode,
        answers: Vec<(u16, &'static str)>,
        memory: &Registrations,
        recheck: Duration,
    ) -> (
        Result<Option<DeployError>, DeployError>,
        Vec<String>,
        crate::call::Changes,
        Vec<crate::ResourceDiff>,
    ) {
        let http = Scripted::answering(answers);
        let clients = AwsClients::new(&CannedHttp::sdk_config(http.clone()), &[]);
        let config = config(recheck);
        let ctx = Ctx::new(&clients, &config, StackKind::Ingress, "ns/ing", mode, None);
        let result = sync(&ctx, &stack(), &resolver(), memory).await;
        let (changes, decisions) = ctx.finish();
        (result, http.bodies(), changes, decisions)
    }

    fn encoded(arn: &str) -> String {
        arn.replace(':', "%3A").replace('/', "%2F")
    }

    const MINUTE: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn a_missing_alb_is_registered_then_trusted_until_the_recheck_interval() {
        let memory = Registrations::default();
        let (result, bodies, changes, _) = run(
            Mode::Apply,
            vec![(200, health(&[])), (200, REGISTERED)],
            &memory,
            MINUTE,
        )
        .await;
        assert!(result.unwrap().is_none());
        assert_eq!(bodies.len(), 2, "{bodies:?}");
        assert!(
            bodies[0].contains("Action=DescribeTargetHealth"),
            "{bodies:?}"
        );
        assert!(bodies[1].contains("Action=RegisterTargets"), "{bodies:?}");
        assert!(
            bodies[1].contains(&format!("Targets.member.1.Id={}", encoded(ALB)))
                && bodies[1].contains("Targets.member.1.Port=80"),
            "{bodies:?}"
        );
        assert_eq!(changes.modified.len(), 1);
        assert_eq!(changes.modified[0].resource.id, ID);

        // Within the interval: no call at all.
        let (result, bodies, changes, _) = run(Mode::Apply, vec![], &memory, MINUTE).await;
        assert!(result.unwrap().is_none());
        assert!(bodies.is_empty(), "{bodies:?}");
        assert!(changes.modified.is_empty());

        // Past it (zero): read again; registered, so nothing else.
        let (result, bodies, changes, _) = run(
            Mode::Apply,
            vec![(200, health(&[(ALB, 80, "healthy")]))],
            &memory,
            Duration::ZERO,
        )
        .await;
        assert!(result.unwrap().is_none());
        assert_eq!(bodies.len(), 1, "{bodies:?}");
        assert!(changes.modified.is_empty());
    }

    #[tokio::test]
    async fn unwanted_targets_go_before_the_alb_is_registered_and_draining_ones_are_gone() {
        let memory = Registrations::default();
        let (result, bodies, _, _) = run(
            Mode::Apply,
            vec![
                (200, health(&[(OLD, 80, "healthy"), (ALB, 80, "draining")])),
                (200, DEREGISTERED),
                (200, REGISTERED),
            ],
            &memory,
            MINUTE,
        )
        .await;
        assert!(result.unwrap().is_none());
        assert_eq!(bodies.len(), 3, "{bodies:?}");
        assert!(
            bodies[1].contains("Action=DeregisterTargets")
                && bodies[1].contains(&encoded(OLD))
                && !bodies[1].contains(&encoded(ALB)),
            "{bodies:?}"
        );
        assert!(
            bodies[2].contains("Action=RegisterTargets") && bodies[2].contains(&encoded(ALB)),
            "{bodies:?}"
        );
    }

    #[tokio::test]
    async fn a_refused_registration_is_not_ready_and_not_remembered() {
        let memory = Registrations::default();
        let (result, _, changes, _) = run(
            Mode::Apply,
            vec![(200, health(&[])), (400, NO_LISTENER)],
            &memory,
            MINUTE,
        )
        .await;
        let err = result.unwrap().expect("a refusal to wait out");
        assert_eq!(err.category(), ErrorCategory::NotReady);
        assert_eq!(err.code(), Some("ValidationError"));
        assert_eq!(
            err.resource(),
            Some(&ResourceRef::new(ResourceType::TargetGroup, ID))
        );
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "Failed to register target, retrying after deplay for target group: {TG}"
            )),
            "{text}"
        );
        assert!(text.contains("at least one listener"), "{text}");
        assert!(changes.modified.is_empty());

        // The next run reads and tries again.
        let (result, bodies, _, _) = run(
            Mode::Apply,
            vec![(200, health(&[])), (200, REGISTERED)],
            &memory,
            MINUTE,
        )
        .await;
        assert!(result.unwrap().is_none());
        assert_eq!(bodies.len(), 2);
    }

    #[tokio::test]
    async fn other_failures_stop_the_deploy_with_their_own_category() {
        let (result, _, _, _) = run(
            Mode::Apply,
            vec![(200, health(&[])), (403, DENIED)],
            &Registrations::default(),
            MINUTE,
        )
        .await;
        let err = result.unwrap_err();
        assert_eq!(err.category(), ErrorCategory::Permission, "{err}");
    }

    #[tokio::test]
    async fn a_dry_run_reads_and_records_the_targets_as_a_field() {
        let memory = Registrations::default();
        memory.confirm(
            TG,
            BTreeSet::from([Target {
                id: ALB.into(),
                port: 80,
            }]),
            MINUTE,
        );
        // A dry run reads, whatever the deployer remembers.
        let (result, bodies, changes, decisions) = run(
            Mode::DryRun,
            vec![(200, health(&[(OLD, 80, "healthy")]))],
            &memory,
            MINUTE,
        )
        .await;
        assert!(result.unwrap().is_none());
        assert_eq!(bodies.len(), 1, "{bodies:?}");
        assert!(changes.modified.is_empty());
        assert_eq!(decisions.len(), 1, "{decisions:?}");
        let diff = &decisions[0];
        assert_eq!(diff.change, ChangeKind::Modify);
        assert_eq!(diff.aws_id.as_deref(), Some(TG));
        assert_eq!(
            diff.fields,
            [FieldChange::values(
                "targets",
                format!("{OLD}:80"),
                format!("{ALB}:80")
            )]
        );
    }

    #[tokio::test]
    async fn a_stale_alb_target_group_is_emptied_before_it_goes() {
        let http = Scripted::answering(vec![
            (200, health(&[(ALB, 80, "healthy"), (OLD, 80, "draining")])),
            (200, DEREGISTERED),
        ]);
        let clients = AwsClients::new(&CannedHttp::sdk_config(http.clone()), &[]);
        let config = config(MINUTE);
        let ctx = Ctx::new(
            &clients,
            &config,
            StackKind::Ingress,
            "ns/ing",
            Mode::Apply,
            None,
        );
        let owned = ctx.desired_tags(&Default::default(), ID);
        let stale = |arn: &str, target_type: elbv2::TargetTypeEnum, tags| Found {
            item: elbv2::TargetGroup::builder()
                .target_group_arn(arn)
                .target_type(target_type)
                .build(),
            arn: arn.to_owned(),
            tags,
        };
        let found = vec![
            stale(TG, elbv2::TargetTypeEnum::Alb, owned.clone()),
            // Not an alb target group, or not ours: not read.
            stale("arn:ip", elbv2::TargetTypeEnum::Ip, owned),
            stale("arn:theirs", elbv2::TargetTypeEnum::Alb, Default::default()),
        ];
        release_stale(&ctx, &found, &Registrations::default())
            .await
            .unwrap();
        let bodies = http.bodies();
        assert_eq!(bodies.len(), 2, "{bodies:?}");
        assert!(bodies[0].contains(&format!("TargetGroupArn={}", encoded(TG))));
        assert!(
            bodies[1].contains("Action=DeregisterTargets")
                && bodies[1].contains(&encoded(ALB))
                && !bodies[1].contains(&encoded(OLD)),
            "{bodies:?}"
        );
    }
}
