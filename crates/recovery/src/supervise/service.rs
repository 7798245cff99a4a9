//! The trait a service implements to be supervised.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

/// How a service says it is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServiceStatus {
    /// Working.
    Healthy,
    /// Working, with reduced capacity or features. Counts as up.
    Degraded,
    /// Not working.
    Unhealthy,
    /// Not running (before `initialize`, after `shutdown`).
    Stopped,
}

impl ServiceStatus {
    /// Whether the service is up: healthy or degraded.
    pub fn is_up(self) -> bool {
        matches!(self, ServiceStatus::Healthy | ServiceStatus::Degraded)
    }
}

/// Why a service's lifecycle step or recovery action failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    message: String,
}

impl ServiceError {
    /// An error with this message.
    pub fn new(message: impl fmt::Display) -> Self {
        ServiceError {
            message: message.to_string(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ServiceError {}

/// A service the [`RecoveryManager`](crate::RecoveryManager) can bring back.
///
/// The trait is object-safe, through [`async_trait`](crate::async_trait) (re-exported by this
/// crate): services live in a [`ServiceRegistry`](crate::ServiceRegistry) as
/// `Arc<dyn Recoverable>`. Put `#[async_trait]` on your impl and write the methods as
/// `async fn`.
///
/// The manager runs a ladder of [`Action`](crate::Action)s: a named action becomes a call to
/// [`recover`](Self::recover) with its name (the service decides what "reconnect" or
/// "clear_cache" means, and fails names it does not know), `Reinitialize` calls
/// [`initialize`](Self::initialize), and `Restart` calls [`shutdown`](Self::shutdown) then
/// `initialize`. After each action that returns `Ok`, it asks [`status`](Self::status): only
/// a service that is up counts as recovered.
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use hardening_recovery::{Recoverable, ServiceError, ServiceStatus, async_trait};
///
/// struct Cache {
///     connected: AtomicBool,
/// }
///
/// #[async_trait]
/// impl Recoverable for Cache {
///     async fn initialize(&self) -> Result<(), ServiceError> {
///         self.connected.store(true, Ordering::SeqCst);
///         Ok(())
///     }
///     async fn shutdown(&self) -> Result<(), ServiceError> {
///         self.connected.store(false, Ordering::SeqCst);
///         Ok(())
///     }
///     async fn status(&self) -> ServiceStatus {
///         if self.connected.load(Ordering::SeqCst) {
///             ServiceStatus::Healthy
///         } else {
///             ServiceStatus::Unhealthy
///         }
///     }
///     async fn recover(&self, action: &str) -> Result<(), ServiceError> {
///         match action {
///             "reconnect" => self.initialize().await,
///             other => Err(ServiceError::new(format!("no action named {other}"))),
///         }
///     }
/// }
/// ```
#[async_trait]
pub trait Recoverable: Send + Sync + 'static {
    /// Starts the service.
    async fn initialize(&self) -> Result<(), ServiceError>;

    /// Stops the service.
    async fn shutdown(&self) -> Result<(), ServiceError>;

    /// How the service is doing now. Keep it quick: the manager runs it under the action
    /// timeout.
    async fn status(&self) -> ServiceStatus;

    /// Runs the recovery action named `action`.
    async fn recover(&self, action: &str) -> Result<(), ServiceError>;
}

#[async_trait]
impl<S: Recoverable + ?Sized> Recoverable for Arc<S> {
    async fn initialize(&self) -> Result<(), ServiceError> {
        (**self).initialize().await
    }
    async fn shutdown(&self) -> Result<(), ServiceError> {
        (**self).shutdown().await
    }
    async fn status(&self) -> ServiceStatus {
        (**self).status().await
    }
    async fn recover(&self, action: &str) -> Result<(), ServiceError> {
        (**self).recover(action).await
    }
}

#[async_trait]
impl<S: Recoverable + ?Sized> Recoverable for Box<S> {
    async fn initialize(&self) -> Result<(), ServiceError> {
        (**self).initialize().await
    }
    async fn shutdown(&self) -> Result<(), ServiceError> {
        (**self).shutdown().await
    }
    async fn status(&self) -> ServiceStatus {
        (**self).status().await
    }
    async fn recover(&self, action: &str) -> Result<(), ServiceError> {
        (**self).recover(action).await
    }
}
