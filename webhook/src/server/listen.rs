//! The TLS listener: accept, handshake, serve HTTP/1.1 or HTTP/2, shut down gracefully.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use super::tls::{self, CertReloader, TlsError, TlsSettings};

/// What the server grants one client: how long it may take for its TLS handshake and for its
/// request headers, and how many connections are served at once (further ones wait in the
/// listen backlog until one ends). The body deadline is the router's ([`super::router_with_limits`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// A client that has not finished the TLS handshake by then is dropped.
    pub handshake_timeout: Duration,
    /// An HTTP/1.1 client that has not sent its request headers by then is dropped.
    pub header_read_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(30),
            // The API server opens a handful per replica; this bounds memory (a connection
            // holds TLS and HTTP buffers, some tens of KiB) against anything else.
            max_connections: 1024,
        }
    }
}
/// HTTP/2 keep-alive pings on otherwise idle connections.
const HTTP2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// How long shutdown waits for requests in flight before dropping their connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Pause after an accept error that is not about one connection (e.g. out of file descriptors).
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// Why the webhook server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("webhook serving certificate: {0}")]
    Tls(#[from] TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A listening socket with its certificate loaded; [`BoundServer::serve`] starts answering.
pub struct BoundServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    reloader: CertReloader,
    acceptor: TlsAcceptor,
    ready: watch::Sender<bool>,
    limits: ServerLimits,
}

/// Load the serving certificate and listen on `addr` (port 0 picks a free port).
///
/// Fails when the certificate cannot be loaded, so a misconfigured pod never reports ready.
pub async fn bind(addr: SocketAddr, settings: TlsSettings) -> Result<BoundServer, ServerError> {
    let reloader = CertReloader::load(settings, tls::crypto_provider())?;
    let acceptor = TlsAcceptor::from(Arc::new(reloader.server_config()?));
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| ServerError::Bind { addr, source })?;
    let (ready, _) = watch::channel(false);
    Ok(BoundServer {
        listener,
        local_addr,
        reloader,
        acceptor,
        ready,
        limits: ServerLimits::default(),
    })
}

/// Bind `addr` and serve `router` over TLS until `shutdown` completes.
pub async fn serve(
    addr: SocketAddr,
    settings: TlsSettings,
    router: Router,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    bind(addr, settings).await?.serve(router, shutdown).await;
    Ok(())
}

impl BoundServer {
    /// Serve with `limits` instead of the defaults.
    pub fn with_limits(mut self, limits: ServerLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The address actually bound (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `true` while the server accepts connections: from the start of [`BoundServer::serve`]
    /// until shutdown begins. Feed it to the `/ready` probe.
    pub fn ready(&self) -> watch::Receiver<bool> {
        self.ready.subscribe()
    }

    /// Answer requests with `router` until `shutdown` completes, then stop accepting, let
    /// requests in flight finish (up to a grace period) and return. Certificate reloads run
    /// for as long as this does.
    pub async fn serve(self, router: Router, shutdown: impl Future<Output = ()> + Send) {
        let BoundServer {
            listener,
            local_addr,
            reloader,
            acceptor,
            ready,
            limits,
        } = self;
        let reload = AbortOnDrop(tokio::spawn(reloader.run()));
        let builder = Arc::new(http_builder(limits.header_read_timeout));
        let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
        let service = TowerToHyperService::new(router);
        let graceful = GracefulShutdown::new();

        ready.send_replace(true);
        tracing::info!(%local_addr, "admission webhook listening");
        tokio::pin!(shutdown);
        loop {
            // A free connection slot first: at the cap, new clients wait in the backlog.
            let slot = tokio::select! {
                biased;
                () = &mut shutdown => break,
                slot = Arc::clone(&slots).acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => break,
                },
            };
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        tokio::spawn(serve_connection(
                            stream,
                            peer,
                            acceptor.clone(),
                            limits.handshake_timeout,
                            Arc::clone(&builder),
                            service.clone(),
                            graceful.watcher(),
                            slot,
                        ));
                    }
                    Err(error) => {
                        tracing::warn!(%error, "accepting a webhook connection failed");
                        tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                    }
                },
            }
        }

        ready.send_replace(false);
        drop(listener);
        drop(reload);
        tracing::info!(
            connections = graceful.count(),
            "admission webhook shutting down"
        );
        if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("admission webhook connections still open after the grace period");
        }
    }
}

fn http_builder(header_read_timeout: Duration) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(HTTP2_KEEP_ALIVE_INTERVAL);
    builder
}

/// Handshake, then serve HTTP on one connection until the client closes it or shutdown; the
/// connection's slot is given back when this returns.
#[allow(clippy::too_many_arguments)]
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
    builder: Arc<auto::Builder<TokioExecutor>>,
    service: TowerToHyperService<Router>,
    watcher: Watcher,
    _slot: OwnedSemaphorePermit,
) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%peer, %error, "cannot set TCP_NODELAY");
    }
    let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "webhook TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "webhook TLS handshake timed out");
            return;
        }
    };
    let connection = builder.serve_connection(TokioIo::new(tls), service);
    if let Err(error) = watcher.watch(connection).await {
        tracing::debug!(%peer, %error, "webhook connection ended with an error");
    }
}

/// Aborts the task when dropped, so the certificate poller stops with the server.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
