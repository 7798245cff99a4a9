//! Named services and where each is in its lifecycle.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::supervise::service::{Recoverable, ServiceError, ServiceStatus};

/// Where a registered service is in its life, as the registry and the manager see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Lifecycle {
    /// Registered, not yet initialized.
    Registered,
    /// Initialized (or recovered) and believed up.
    Running,
    /// Reported failed; a recovery is pending or running.
    Recovering,
    /// The last recovery went through the whole ladder without bringing it back.
    Failed,
    /// Failed too often (past the restart intensity): no longer recovered until
    /// [`RecoveryManager::reset`](crate::RecoveryManager::reset).
    GivenUp,
    /// Shut down.
    Stopped,
}

impl Lifecycle {
    /// A short lowercase name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Registered => "registered",
            Lifecycle::Running => "running",
            Lifecycle::Recovering => "recovering",
            Lifecycle::Failed => "failed",
            Lifecycle::GivenUp => "given_up",
            Lifecycle::Stopped => "stopped",
        }
    }
}

/// The error of asking the registry about a service it does not hold, or registering one
/// twice.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryError {
    /// No service of this name is registered (as recoverable).
    UnknownService(String),
    /// A service of this name is registered already.
    Duplicate(String),
    /// A service's `initialize` or `shutdown` failed.
    Service {
        /// The service's name.
        service: String,
        /// What it said.
        error: ServiceError,
    },
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::UnknownService(name) => {
                write!(f, "no recoverable service named '{name}' is registered")
            }
            RegistryError::Duplicate(name) => {
                write!(f, "a service named '{name}' is registered already")
            }
            RegistryError::Service { service, error } => write!(f, "service '{service}': {error}"),
        }
    }
}

impl std::error::Error for RegistryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RegistryError::Service { error, .. } => Some(error),
            _ => None,
        }
    }
}

struct Entry {
    service: Arc<dyn Recoverable>,
    lifecycle: Lifecycle,
}

/// The named services that may be recovered, with their lifecycle.
///
/// Only a service registered here is recoverable: the manager refuses any other name.
///
/// ```
/// # use hardening_recovery::{Recoverable, ServiceError, ServiceStatus, async_trait};
/// # struct Db;
/// # #[async_trait]
/// # impl Recoverable for Db {
/// #     async fn initialize(&self) -> Result<(), ServiceError> { Ok(()) }
/// #     async fn shutdown(&self) -> Result<(), ServiceError> { Ok(()) }
/// #     async fn status(&self) -> ServiceStatus { ServiceStatus::Healthy }
/// #     async fn recover(&self, _: &str) -> Result<(), ServiceError> { Ok(()) }
/// # }
/// use hardening_recovery::{Lifecycle, ServiceRegistry};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), hardening_recovery::RegistryError> {
/// let registry = ServiceRegistry::new();
/// registry.register("db", Db)?;
/// assert!(registry.register("db", Db).is_err());
/// registry.initialize_all().await?;
/// assert_eq!(registry.lifecycle("db"), Some(Lifecycle::Running));
/// assert_eq!(registry.names(), ["db"]);
/// # Ok(())
/// # }
/// ```
#[derive(Default)]
pub struct ServiceRegistry {
    // A `BTreeMap` so that listings and `initialize_all` go in name order.
    entries: Mutex<BTreeMap<String, Entry>>,
}

impl fmt::Debug for ServiceRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries = self.lock();
        f.debug_map()
            .entries(entries.iter().map(|(name, e)| (name, e.lifecycle)))
            .finish()
    }
}

impl ServiceRegistry {
    /// An empty registry, ready to share.
    pub fn new() -> Arc<ServiceRegistry> {
        Arc::new(ServiceRegistry::default())
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        // Nothing in this crate panics while holding the lock; a poisoned lock still holds
        // consistent data.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `service` under `name`, in the `Registered` state.
    pub fn register(
        &self,
        name: impl Into<String>,
        service: impl Recoverable,
    ) -> Result<(), RegistryError> {
        self.register_arc(name, Arc::new(service))
    }

    /// Adds a shared `service` under `name`.
    pub fn register_arc(
        &self,
        name: impl Into<String>,
        service: Arc<dyn Recoverable>,
    ) -> Result<(), RegistryError> {
        let name = name.into();
        let mut entries = self.lock();
        if entries.contains_key(&name) {
            return Err(RegistryError::Duplicate(name));
        }
        entries.insert(
            name,
            Entry {
                service,
                lifecycle: Lifecycle::Registered,
            },
        );
        Ok(())
    }

    /// The service registered under `name`.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Recoverable>> {
        self.lock().get(name).map(|e| Arc::clone(&e.service))
    }

    /// Whether a service is registered under `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.lock().contains_key(name)
    }

    /// The registered names, in order.
    pub fn names(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// Where the service `name` is in its lifecycle.
    pub fn lifecycle(&self, name: &str) -> Option<Lifecycle> {
        self.lock().get(name).map(|e| e.lifecycle)
    }

    pub(crate) fn set_lifecycle(&self, name: &str, lifecycle: Lifecycle) {
        if let Some(entry) = self.lock().get_mut(name) {
            entry.lifecycle = lifecycle;
        }
    }

    /// Asks the service `name` for its status.
    pub async fn status(&self, name: &str) -> Result<ServiceStatus, RegistryError> {
        let service = self
            .get(name)
            .ok_or_else(|| RegistryError::UnknownService(name.to_string()))?;
        Ok(service.status().await)
    }

    /// Initializes every service in name order; stops at the first that fails.
    pub async fn initialize_all(&self) -> Result<(), RegistryError> {
        for name in self.names() {
            self.initialize(&name).await?;
        }
        Ok(())
    }

    /// Initializes the service `name`.
    pub async fn initialize(&self, name: &str) -> Result<(), RegistryError> {
        let service = self
            .get(name)
            .ok_or_else(|| RegistryError::UnknownService(name.to_string()))?;
        service
            .initialize()
            .await
            .map_err(|error| RegistryError::Service {
                service: name.to_string(),
                error,
            })?;
        self.set_lifecycle(name, Lifecycle::Running);
        Ok(())
    }

    /// Shuts every service down in reverse name order, each even if another failed; returns
    /// the failures.
    pub async fn shutdown_all(&self) -> Vec<RegistryError> {
        let mut failures = Vec::new();
        for name in self.names().into_iter().rev() {
            if let Some(service) = self.get(&name) {
                match service.shutdown().await {
                    Ok(()) => self.set_lifecycle(&name, Lifecycle::Stopped),
                    Err(error) => failures.push(RegistryError::Service {
                        service: name,
                        error,
                    }),
                }
            }
        }
        failures
    }
}
