//! Process signals: SIGTERM and SIGINT ask the server to stop, SIGHUP to reload its TLS
//! certificate. [`Signals::install`] is the binary's first act, so a signal that arrives while
//! the server is still starting is caught and handled (a clean exit), never the default action
//! that kills the process.

#[cfg(unix)]
use tokio::signal::unix::{signal, Signal, SignalKind};

/// What a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Stop,
    Reload,
}

/// The process's handlers for SIGTERM, SIGINT and SIGHUP, registered when built.
#[cfg(unix)]
pub struct Signals {
    terminate: Signal,
    interrupt: Signal,
    hangup: Signal,
}

#[cfg(unix)]
impl Signals {
    /// Registers the handlers now (needs a tokio runtime context). From this moment these
    /// signals are queued for [`Signals::next`] instead of ending the process.
    pub fn install() -> std::io::Result<Self> {
        Ok(Signals {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// The next signal received (including one that arrived before this call).
    pub async fn next(&mut self) -> Request {
        tokio::select! {
            _ = self.terminate.recv() => Request::Stop,
            _ = self.interrupt.recv() => Request::Stop,
            _ = self.hangup.recv() => Request::Reload,
        }
    }
}

/// Elsewhere only Ctrl-C is known: it stops the server.
#[cfg(not(unix))]
pub struct Signals;

#[cfg(not(unix))]
impl Signals {
    pub fn install() -> std::io::Result<Self> {
        Ok(Signals)
    }

    pub async fn next(&mut self) -> Request {
        let _ = tokio::signal::ctrl_c().await;
        Request::Stop
    }
}

impl Signals {
    /// Waits for a stop request; reload requests that come first are passed to `reload`.
    pub async fn until_stop(&mut self, mut reload: impl FnMut()) {
        loop {
            match self.next().await {
                Request::Stop => return,
                Request::Reload => reload(),
            }
        }
    }
}
