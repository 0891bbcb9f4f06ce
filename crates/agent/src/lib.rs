//! The credential agent: assumes a service role, keeps the temporary credentials in memory
//! only, refreshes them early, and serves them to any AWS SDK over the container-credentials
//! HTTP protocol (`AWS_CONTAINER_CREDENTIALS_FULL_URI` + `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`).
//!
//! - [`config`]: the role, session name, duration, tags, validated against STS's rules;
//! - [`cache`]: the single-flight cache and its refresher, over a [`source::CredentialSource`]
//!   (STS in [`sts`], fakes in tests) and a [`clock::Clock`];
//! - [`server`]: the HTTP endpoint and health routes; [`token`]: its authorization token;
//! - [`exec`]: the agent for one command; [`probe`]: a health check for shell-less images.
#![forbid(unsafe_code)]

pub mod cache;
pub mod clock;
pub mod config;
pub mod credentials;
pub mod exec;
pub mod metrics;
pub mod probe;
pub mod server;
pub mod source;
pub mod sts;
pub mod token;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use crate::cache::{CredentialCache, RefreshPolicy};
pub use crate::clock::{Clock, ManualClock, SystemClock};
use crate::server::{Endpoint, Limits, Routes};
use crate::source::CredentialSource;
use crate::token::TokenFile;

/// Where the agent listens.
#[derive(Debug, Clone)]
pub struct ListenConfig {
    /// The credentials endpoint. Port 0 picks a free one ([`Agent::addr`] says which).
    pub addr: SocketAddr,
    /// Serve credentials on a non-loopback address. Anyone who can reach it and holds the
    /// token gets the role's credentials, so this must be asked for explicitly.
    pub allow_non_loopback: bool,
    /// An extra listener with only `/healthz`, `/readyz` and `/metrics`, for probes that
    /// come from outside the pod's network namespace (kubelet's do).
    pub health_addr: Option<SocketAddr>,
    pub limits: Limits,
}

impl ListenConfig {
    /// A free port on 127.0.0.1, no health listener, default limits: the agent for one
    /// command (`agent exec`).
    pub fn ephemeral_loopback() -> Self {
        ListenConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            allow_non_loopback: false,
            health_addr: None,
            limits: Limits::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(
        "{addr} is not a loopback address; the credentials endpoint listens on 127.0.0.1 or ::1 \
         unless --allow-non-loopback is given (the health listener may use any address)"
    )]
    NotLoopback { addr: SocketAddr },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Token(#[from] token::TokenError),
}

/// A running agent: the refresher and the listeners.
pub struct Agent {
    cache: Arc<CredentialCache>,
    addr: SocketAddr,
    health_addr: Option<SocketAddr>,
    token: TokenFile,
    stop: watch::Sender<bool>,
    refresher: JoinHandle<()>,
    listeners: Vec<JoinHandle<()>>,
}

impl Agent {
    /// Binds the listeners, writes or reads the token, and starts the refresher, which makes
    /// its first AssumeRole at once. Returns without waiting for credentials.
    pub async fn start<S: CredentialSource>(
        source: S,
        clock: Arc<dyn Clock>,
        listen: &ListenConfig,
        token_path: Option<&Path>,
        token_group_readable: bool,
        policy: RefreshPolicy,
    ) -> Result<Agent, AgentError> {
        if !listen.addr.ip().is_loopback() && !listen.allow_non_loopback {
            return Err(AgentError::NotLoopback { addr: listen.addr });
        }
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| AgentError::Bind { addr, source })
        };
        let listener = bind(listen.addr).await?;
        let health = match listen.health_addr {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let local = |l: &TcpListener, fallback: SocketAddr| l.local_addr().unwrap_or(fallback);
        let addr = local(&listener, listen.addr);
        let health_addr = health
            .as_ref()
            .zip(listen.health_addr)
            .map(|(l, a)| local(l, a));
        let token = token::load_or_create(token_path, token_group_readable)?;

        let cache = CredentialCache::new(clock);
        let refresher = tokio::spawn(cache.clone().run_refresher(source, policy));
        let endpoint = Arc::new(Endpoint {
            cache: cache.clone(),
            token: token::ExpectedToken::clone_of(&token.expected),
            limits: listen.limits.clone(),
        });
        let (stop, stopped) = watch::channel(false);
        let mut listeners = vec![tokio::spawn(server::serve(
            listener,
            endpoint.clone(),
            Routes::All,
            stopped.clone(),
        ))];
        if let Some(health) = health {
            listeners.push(tokio::spawn(server::serve(
                health,
                endpoint,
                Routes::HealthOnly,
                stopped,
            )));
        }
        Ok(Agent {
            cache,
            addr,
            health_addr,
            token,
            stop,
            refresher,
            listeners,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn health_addr(&self) -> Option<SocketAddr> {
        self.health_addr
    }

    /// The value for `AWS_CONTAINER_CREDENTIALS_FULL_URI`.
    pub fn credentials_url(&self) -> String {
        format!("http://{}{}", self.addr, server::CREDENTIALS_PATH)
    }

    /// The value for `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`.
    pub fn token_path(&self) -> &Path {
        &self.token.path
    }

    pub fn token_created(&self) -> bool {
        self.token.created
    }

    pub fn cache(&self) -> &Arc<CredentialCache> {
        &self.cache
    }

    /// Waits (real time) for the first valid credentials; on timeout, the last error.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), String> {
        match self.cache.wait_valid(timeout).await {
            Some(_) => Ok(()),
            None => Err(self
                .cache
                .status()
                .last_error
                .map(|e| e.message)
                .unwrap_or_else(|| format!("no answer from STS within {}s", timeout.as_secs()))),
        }
    }

    /// Stops accepting, lets requests in flight finish, stops the refresher, and removes the
    /// token file if the agent created it.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for listener in self.listeners {
            let _ = listener.await;
        }
        self.refresher.abort();
        let _ = self.refresher.await;
        drop(self.token);
    }
}
