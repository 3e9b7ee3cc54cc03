//! `serve`: the admission webhook against a real cluster, with `/metrics`, `/live` and `/ready`.

pub mod launch;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use contract::cluster::ClusterView;
use model::group_check::ModelGroupCheck;
use prometheus_client::registry::Registry;
use webhook::admission::Admission;
use webhook::metrics::WebhookMetrics;
use webhook::server::{self, TlsSettings};

use crate::cli::ServeArgs;
use aws_io::target_groups::Elbv2TargetGroupLookup;
use controller::cache_view::AdmissionView;

/// Why `serve` stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot build a Kubernetes client: {0}")]
    Client(#[from] kube::Error),
    #[error(transparent)]
    Webhook(#[from] server::ServerError),
    #[error(transparent)]
    Controllers(#[from] crate::serve::launch::LaunchError),
    #[error("cannot listen for health probes on {addr}: {source}")]
    ProbeBind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot listen for metrics on {addr}: {source}")]
    MetricsBind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

#[derive(Clone)]
struct Admin {
    registry: Arc<Registry>,
    ready: Arc<AtomicBool>,
}

/// Run until SIGINT/SIGTERM.
pub async fn serve(args: ServeArgs) -> Result<(), ServeError> {
    let unknown_gates = args.controller.unknown_feature_gates();
    if !unknown_gates.is_empty() {
        tracing::warn!(gates = ?unknown_gates, "feature gates accepted but without effect in this controller");
    }
    for warning in args.reconcile.startup_warnings() {
        tracing::warn!("{warning}");
    }
    let client = kube::Client::try_default().await?;

    let mut registry = Registry::default();
    let metrics = Arc::new(WebhookMetrics::register(&mut registry));
    // The reconciling controllers (when --cluster-name is set); `stop` ends them on shutdown.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    // Type-erased: the launch future (AWS configuration loading) is too deep for layout queries.
    let launch: std::pin::Pin<Box<dyn Future<Output = _> + Send + '_>> = Box::pin(
        crate::serve::launch::launch(client.clone(), &args, &mut registry, stopped),
    );
    let launched = launch.await?;
    let mut webhook_config = webhook::admission::WebhookConfig {
        enable_pod_readiness_gate_inject: args.reconcile.enable_pod_readiness_gate_inject,
        ..args.controller.webhook_config()
    };
    if let Some(launched) = &launched {
        // The VPC the controllers resolved (maybe from tags or instance metadata).
        webhook_config.vpc_id = Some(launched.vpc_id.clone());
    }
    let (controllers, elector, clients, model_facts) = match launched {
        Some(l) => (
            Some(l.controllers),
            l.elector,
            l.clients,
            Some(l.model_facts),
        ),
        None => {
            // Webhook only: the TargetGroupBinding webhooks still describe target groups.
            (
                None,
                None,
                aws_io::AwsClients::from_env(&args.reconcile.aws_settings()).await,
                None,
            )
        }
    };
    // With the controllers running, the webhooks read their caches; otherwise their own.
    let (cluster, webhook_view): (Arc<dyn ClusterView>, Option<AdmissionView>) = match &controllers
    {
        Some(controllers) => (Arc::new(controllers.admission_view()), None),
        None => {
            let (view, watches) = controller::webhook_watches::start(client);
            tokio::spawn(watches);
            (Arc::new(view.clone()), Some(view))
        }
    };
    // With the controllers (and so the model's facts), the Ingress webhook builds the whole
    // group of an incoming Ingress.
    let group_check = match (&controllers, model_facts) {
        (Some(controllers), Some(facts)) => Some(Arc::new(ModelGroupCheck {
            objects: controllers.group_objects(),
            facts,
        })
            as Arc<dyn contract::group_check::GroupCheck>),
        _ => None,
    };
    let admission = Admission {
        cluster,
        target_groups: Arc::new(Elbv2TargetGroupLookup::new(clients)),
        config: Arc::new(webhook_config),
        group_check,
    };
    let tls = TlsSettings {
        cert_dir: args.webhook_cert_dir.clone(),
        cert_file: args.webhook_cert_file.clone(),
        key_file: args.webhook_key_file.clone(),
        ..TlsSettings::default()
    };
    let addr = std::net::SocketAddr::new(args.webhook_bind_addr, args.webhook_bind_port);
    let bound = server::bind(addr, tls).await?;
    tracing::info!(addr = %bound.local_addr(), "webhook listening");

    let ready = Arc::new(AtomicBool::new(false));
    let admin = Admin {
        registry: Arc::new(registry),
        ready: ready.clone(),
    };
    let admin_listener = tokio::net::TcpListener::bind(args.metrics_bind_addr)
        .await
        .map_err(|source| ServeError::MetricsBind {
            addr: args.metrics_bind_addr,
            source,
        })?;
    let admin_router = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/live", get(|| async { "ok" }))
        .route("/ready", get(readiness))
        .with_state(admin);
    tokio::spawn(async move {
        if let Err(error) = axum::serve(admin_listener, admin_router).await {
            tracing::error!(%error, "admin server stopped");
        }
    });
    spawn_health_probes(args.reconcile.health_probe_bind_addr, ready.clone()).await?;
    tokio::spawn(async move {
        if let Some(controllers) = &controllers {
            controllers.wait_ready().await;
        }
        if let Some(view) = &webhook_view {
            view.wait_ready().await;
        }
        ready.store(true, Ordering::Release);
        tracing::info!("caches synced; ready");
    });

    bound
        .serve(
            webhook::server::router(admission, metrics),
            shutdown_signal(),
        )
        .await;
    stop.send_replace(true);
    // Hand the lease over before exiting, so the next replica leads at once instead of
    // waiting for it to expire.
    if let Some(elector) = elector
        && tokio::time::timeout(RELEASE_TIMEOUT, elector)
            .await
            .is_err()
    {
        tracing::warn!("the lease was not released within {RELEASE_TIMEOUT:?}; it will expire");
    }
    Ok(())
}

/// How long shutdown waits for the lease to be released.
const RELEASE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Upstream's probe endpoints on `--health-probe-bind-addr`: `/healthz` always, `/readyz` once
/// the caches are synced and the webhook is bound.
async fn spawn_health_probes(
    addr: std::net::SocketAddr,
    ready: Arc<AtomicBool>,
) -> Result<(), ServeError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::ProbeBind { addr, source })?;
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let ready = ready.load(Ordering::Acquire);
                async move {
                    if ready {
                        (StatusCode::OK, "ready")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "caches not synced")
                    }
                }
            }),
        );
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "health probe server stopped");
        }
    });
    Ok(())
}

async fn metrics_text(State(admin): State<Admin>) -> impl IntoResponse {
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &admin.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        ),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain")],
            error.to_string(),
        ),
    }
}

async fn readiness(State(admin): State<Admin>) -> (StatusCode, &'static str) {
    if admin.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "caches not synced")
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
