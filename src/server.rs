//! A whole server in this process: the farm on its adapters and the HTTP server on a bound
//! listener. `shotfarm serve` runs it; tests and the load driver start one on `127.0.0.1:0`
//! with [`InProcess`] instead of spawning the binary and reading its banner.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use shotfarm_actors::Farm;

use crate::compose::open_farm;
use crate::config::Config;

/// How long a start waits for its local nodes to register before it announces itself anyway.
const NODES_REGISTER_WITHIN: Duration = Duration::from_secs(10);

/// A started server: its farm and the HTTP server that serves it.
pub struct Running {
    pub farm: Farm,
    pub addr: SocketAddr,
    pub server: actix_web::dev::Server,
}

/// Opens the farm and starts serving on `listener`, on the current actix system. Returns once
/// the configured local nodes have registered, so that what a banner promises (N nodes) is what
/// the API shows from the first request.
pub async fn start(config: Config, listener: TcpListener) -> anyhow::Result<Running> {
    let addr = listener.local_addr()?;
    let local_nodes: u32 = config.farm.node_groups.iter().map(|g| g.count).sum();
    let farm = open_farm(config.farm).await?;
    let deadline = Instant::now() + NODES_REGISTER_WITHIN;
    while farm.nodes().await?.len() < local_nodes as usize && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let server = shotfarm_web::server::serve(farm.clone(), config.web, listener)?;
    Ok(Running { farm, addr, server })
}

/// Serves on `config.web.server.bind` until `shutdown` completes, then stops gracefully.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let bind = config.web.server.bind.clone();
    let listener = TcpListener::bind(&bind).with_context(|| format!("cannot listen on {bind}"))?;
    let Running { server, .. } = start(config, listener).await?;
    let handle = server.handle();
    tokio::select! {
        served = server => served?,
        () = shutdown => handle.stop(true).await,
    }
    Ok(())
}

/// A server on a thread and actix system of its own, listening at [`InProcess::addr`] once
/// [`InProcess::spawn`] returns; stopped, and its thread joined, on drop.
pub struct InProcess {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl InProcess {
    /// Starts a server for `config` on `config.web.server.bind` (`127.0.0.1:0` for a free port).
    pub fn spawn(config: Config) -> anyhow::Result<Self> {
        let bind = config.web.server.bind.clone();
        let listener =
            TcpListener::bind(&bind).with_context(|| format!("cannot listen on {bind}"))?;
        let addr = listener.local_addr()?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<anyhow::Result<()>>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("shotfarm-{addr}"))
            .spawn(move || {
                actix_web::rt::System::new().block_on(async move {
                    let running = match start(config, listener).await {
                        Ok(running) => running,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    let handle = running.server.handle();
                    tokio::select! {
                        _ = running.server => {}
                        _ = stop_rx => handle.stop(false).await,
                    }
                });
            })?;
        ready_rx
            .recv()
            .context("the server thread ended before it started")??;
        Ok(Self {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
