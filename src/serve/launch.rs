//! Starting the controllers for `serve`: the real AWS backends, the VPC facts, leader
//! election, and the controllers of [`controller::manager`].

use std::sync::Arc;

use kube::Client;
use tokio::sync::watch;

use controller::FIELD_MANAGER;
use controller::backend_sg::BackendSecurityGroup;
use controller::manager::{Backends, ControllerSettings, Controllers, start};
use controller::metrics::ControllerMetrics;

/// Why the controllers could not start.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error(transparent)]
    Vpc(#[from] aws_io::vpc::VpcError),
}

/// The namespace this pod runs in: `POD_NAMESPACE`, else the service account's, else `default`.
pub fn pod_namespace() -> String {
    std::env::var("POD_NAMESPACE")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace").ok()
        })
        .map(|ns| ns.trim().to_owned())
        .filter(|ns| !ns.is_empty())
        .unwrap_or_else(|| "default".to_owned())
}

/// This replica's identity: `POD_NAME`, else `HOSTNAME`, else a fixed name.
pub fn pod_name() -> String {
    std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| FIELD_MANAGER.to_owned())
}

/// The running controllers and what launching them resolved.
pub struct Launched {
    pub controllers: Controllers,
    /// The cluster's VPC (from the flag, tags or instance metadata): the webhook's default
    /// TargetGroupBinding `vpcID` too.
    pub vpc_id: String,
    /// The leader election task; it ends once `stop` is set and the lease is released.
    pub elector: Option<tokio::task::JoinHandle<()>>,
    /// The AWS clients (the webhooks describe target groups with them too).
    pub clients: aws_io::AwsClients,
    /// The facts the model builds with (the Ingress webhook's group check reads them too).
    pub model_facts: Arc<std::sync::RwLock<model::ClusterFacts>>,
}

/// Starts leader election and the controllers for `serve`, with the real AWS backends; `None`
/// when `--cluster-name` is empty (the process then only serves the webhook). `stop` ends the
/// election (releasing the lease) and the workers.
pub async fn launch(
    client: Client,
    args: &crate::cli::ServeArgs,
    registry: &mut prometheus_client::registry::Registry,
    stop: watch::Receiver<bool>,
) -> Result<Option<Launched>, LaunchError> {
    use aws_io::adapters::{AwsRegistrar, ModelBuilder};
    use aws_io::{AwsClients, DeployConfig, Deployer};

    let controller = &args.controller;
    let reconcile = &args.reconcile;
    if controller.cluster_name.is_empty() {
        tracing::warn!("--cluster-name is empty: controllers disabled, serving the webhook only");
        return Ok(None);
    }
    let clients = AwsClients::from_env(&reconcile.aws_settings()).await;
    clients.calls().register(registry);
    let vpc_tags = aws_io::vpc::tag_map(&controller.aws_vpc_tags)?;
    let imds = aws_io::vpc::imds_client(None)?;
    let vpc = aws_io::vpc::resolve_vpc_id(
        controller.aws_vpc_id.as_deref(),
        &vpc_tags,
        &clients.ec2,
        &imds,
    )
    .await?;
    tracing::info!(vpc_id = %vpc.id, source = %vpc.source, "using the cluster's VPC");
    let vpc_id = vpc.id;

    let mut facts = controller.model_facts(vpc_id.clone());
    facts.default_tags = reconcile.default_tags.iter().cloned().collect();
    facts.disable_restricted_sg_rules = reconcile.disable_restricted_sg_rules;
    facts.enable_backend_security_group = reconcile.enable_backend_security_group;
    // Found or created when a build first needs it, released when the last group goes.
    let backend_security_group = reconcile.enable_backend_security_group.then(|| {
        match reconcile.backend_security_group.as_deref() {
            Some(id) => BackendSecurityGroup::given(id),
            None => aws_io::backend_sg::managed(
                clients.clone(),
                controller.cluster_name.clone(),
                vpc_id.clone(),
                facts.default_tags.clone(),
            ),
        }
    });
    let allowed_cas = reconcile.allowed_certificate_authority_arns.clone();
    for error in aws_io::live_facts::load_all(&clients, &allowed_cas, &mut facts).await {
        tracing::warn!(%error, "cannot read the VPC and certificate facts; builds needing them fail until the next refresh");
    }
    let mut deploy_config = DeployConfig::new(controller.cluster_name.clone(), vpc_id.clone());
    deploy_config.external_managed_tags = facts.external_managed_tags.clone();
    deploy_config.enable_wafv2 = reconcile.enable_wafv2;
    deploy_config.enable_waf = reconcile.enable_waf;
    deploy_config.enable_shield = reconcile.enable_shield;
    let networking = controller::networking::NetworkingManager::with_target_eni_tags(
        Arc::new(aws_io::networking::AwsTargetSecurityGroups::new(
            &clients,
            deploy_config.vpc_id.clone(),
            controller.cluster_name.clone(),
        )),
        controller.cluster_name.clone(),
        !reconcile.disable_restricted_sg_rules,
        reconcile
            .service_target_eni_security_group_tags
            .iter()
            .cloned()
            .collect(),
    );
    let deployer = Deployer::new(clients.clone(), deploy_config);
    // Both builders take a stack's existing load balancer from the deployer's resync snapshot
    // when they can, instead of reading it.
    let builder = ModelBuilder::new(facts)
        .with_existing_load_balancers(clients.clone())
        .with_prefetched(deployer.clone());
    let builder = match &backend_security_group {
        Some(provider) => builder.with_backend_security_group(provider.clone()),
        None => builder,
    };
    let model_facts = builder.facts();
    // Services become NLBs unless `EnableServiceController=false`; both builders share the
    // facts (one refresh serves both).
    let selection = controller.service_selection();
    let service_builder = model_facts
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .features
        .enable_service_controller
        .then(|| {
            let builder = aws_io::service_builder::ServiceModelBuilder::new(
                model_facts.clone(),
                selection.clone(),
            )
            .with_existing_load_balancers(clients.clone())
            .with_prefetched(deployer.clone());
            let builder = match &backend_security_group {
                Some(provider) => builder.with_backend_security_group(provider.clone()),
                None => builder,
            };
            Arc::new(builder) as Arc<dyn controller::backends::ServiceStackBuilder>
        });
    if service_builder.is_none() {
        tracing::info!("EnableServiceController=false: Services are not turned into NLBs");
    }
    // Subnets, security groups and certificates are read again every few minutes: tagging a
    // subnet or issuing a certificate needs no restart.
    {
        let clients = clients.clone();
        let shared = model_facts.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let period = aws_io::live_facts::FACTS_TTL;
            let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {
                        aws_io::live_facts::refresh(&clients, &allowed_cas, &shared).await;
                    }
                    () = async { let _ = stop.wait_for(|s| *s).await; } => return,
                }
            }
        });
    }
    let registrar = AwsRegistrar::new(clients.clone()).with_fresh_target_groups(&deployer);
    let backends = Backends {
        builder: Arc::new(builder),
        deployer: Arc::new(deployer),
        registrar: Arc::new(registrar),
        service_builder,
        networking: Some(networking),
        backend_security_group,
    };

    let identity = pod_name();
    let mut elector_task = None;
    let leader = if reconcile.enable_leader_election {
        let namespace = reconcile
            .leader_election_namespace
            .clone()
            .unwrap_or_else(pod_namespace);
        let settings = controller::leader::LeaseSettings::new(
            reconcile.leader_election_id.clone(),
            namespace,
            identity.clone(),
        );
        let (elector, leader) = controller::leader::LeaderElector::new(client.clone(), settings);
        let mut stop = stop.clone();
        elector_task = Some(tokio::spawn(elector.run(async move {
            let _ = stop.wait_for(|s| *s).await;
        })));
        leader
    } else {
        controller::leader::always_leader()
    };

    // Mutating AWS calls go out only while this replica leads: losing the lease stops them at
    // once, even in the middle of a deploy.
    clients.calls().gate_writes(leader.clone());
    let settings = ControllerSettings {
        ingress_class: controller.ingress_class.clone(),
        sync_period: reconcile.sync_period,
        ingress_concurrency: reconcile.ingress_max_concurrent_reconciles,
        binding_concurrency: reconcile.targetgroupbinding_max_concurrent_reconciles,
        service_concurrency: reconcile.service_max_concurrent_reconciles,
        service_selection: selection,
        instance: identity,
        watch_namespace: reconcile
            .watch_namespace
            .clone()
            .filter(|ns| !ns.is_empty()),
        binding_backoff: controller::backoff::BackoffPolicy {
            max: reconcile.targetgroupbinding_max_exponential_backoff_delay,
            ..controller::backoff::BackoffPolicy::default()
        },
        ..ControllerSettings::default()
    };
    let metrics = ControllerMetrics::register(registry);
    let (controllers, run) = start(client, leader, backends, settings, metrics);
    tokio::spawn(run);
    let handle = controllers.clone();
    let mut stop = stop;
    tokio::spawn(async move {
        let _ = stop.wait_for(|s| *s).await;
        handle.shutdown();
    });
    Ok(Some(Launched {
        controllers,
        vpc_id,
        elector: elector_task,
        clients,
        model_facts,
    }))
}
