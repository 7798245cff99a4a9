//! The vocabulary of allocation: resources, their status, requests' requirements, and the
//! errors a request or a release can end with.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::ByteSize;

/// A resource's identity, unique within its manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceId(pub(crate) u64);

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

/// Whether a resource can be handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceStatus {
    /// Free to be leased.
    Ready,
    /// Leased to an owner.
    Busy,
    /// Out of service (failed validation or health); never leased again.
    Unavailable,
}

/// Metadata a resource carries and requests match against.
pub type Metadata = BTreeMap<String, String>;

/// What a request needs of a resource: every key must be present with the same value.
///
/// ```
/// use hardening_resources::Requirements;
///
/// let gpu = Requirements::new().with("gpu", "a100").with("region", "eu");
/// assert!(!gpu.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirements(Vec<(String, String)>);

impl Requirements {
    /// No requirement: any resource of the type will do.
    pub fn new() -> Self {
        Requirements(Vec::new())
    }

    /// Adds a required `key = value`.
    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.push((key.into(), value.into()));
        self
    }

    /// Whether nothing is required.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `metadata` satisfies every requirement.
    pub fn matches(&self, metadata: &Metadata) -> bool {
        self.0
            .iter()
            .all(|(k, v)| metadata.get(k).is_some_and(|have| have == v))
    }

    /// The requirements as metadata, for a factory to build a matching resource.
    pub fn as_metadata(&self) -> Metadata {
        self.0.iter().cloned().collect()
    }
}

/// A public description of one resource.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceInfo {
    /// Its identity.
    pub id: ResourceId,
    /// Its type (the pool it belongs to).
    pub kind: Arc<str>,
    /// Ready, busy or unavailable.
    pub status: ResourceStatus,
    /// What requests match against.
    pub metadata: Metadata,
    /// When it was added.
    pub created_at: Instant,
    /// When it was last returned (or added): tracked in pools with an idle timeout, where
    /// shrinking needs it, or with [`PoolConfigBuilder::track_last_use`]; `None` otherwise,
    /// since stamping it is a clock read on every return.
    ///
    /// [`PoolConfigBuilder::track_last_use`]: crate::PoolConfigBuilder::track_last_use
    pub last_used: Option<Instant>,
    /// What it counts against the memory budget.
    pub memory: ByteSize,
    /// The current lease's owner, when busy.
    pub owner: Option<Arc<str>>,
}

/// Why a request got no resource.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestError {
    /// No pool has this type.
    UnknownType {
        /// The type asked for.
        kind: String,
        /// The types the manager has.
        known: Vec<String>,
    },
    /// Nothing waited long enough to be served.
    Timeout {
        /// The type asked for.
        kind: String,
        /// How long the request waited.
        waited: Duration,
    },
    /// No resource matches the requirements and the pool cannot make one.
    NoMatch {
        /// The type asked for.
        kind: String,
        /// Why no resource can be made.
        reason: String,
    },
    /// Making a resource would exceed the memory budget and none can be freed for it.
    MemoryBudget {
        /// The type asked for.
        kind: String,
        /// What the new resource would take.
        needed: ByteSize,
        /// What resources take now.
        in_use: ByteSize,
        /// The budget.
        budget: ByteSize,
    },
    /// The manager is shutting down.
    Closed,
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::UnknownType { kind, known } => write!(
                f,
                "no resource type '{kind}'; known types: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
            RequestError::Timeout { kind, waited } => {
                write!(f, "no '{kind}' resource became free within {waited:?}")
            }
            RequestError::NoMatch { kind, reason } => {
                write!(
                    f,
                    "no '{kind}' resource matches the requirements and {reason}"
                )
            }
            RequestError::MemoryBudget {
                kind,
                needed,
                in_use,
                budget,
            } => write!(
                f,
                "a new '{kind}' resource needs {needed} but {in_use} of the {budget} memory budget is in use"
            ),
            RequestError::Closed => f.write_str("the resource manager is shut down"),
        }
    }
}

impl std::error::Error for RequestError {}

/// Why a release by id changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReleaseError {
    /// No such resource.
    UnknownResource(ResourceId),
    /// The resource is not leased.
    NotLeased(ResourceId),
    /// Someone else holds the lease.
    NotOwner {
        /// The resource.
        resource: ResourceId,
        /// Who asked to release it.
        caller: String,
    },
}

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReleaseError::UnknownResource(id) => write!(f, "no resource {id}"),
            ReleaseError::NotLeased(id) => write!(f, "resource {id} is not leased"),
            ReleaseError::NotOwner { resource, caller } => write!(
                f,
                "'{caller}' does not hold the lease on resource {resource}; only its owner can release it"
            ),
        }
    }
}

impl std::error::Error for ReleaseError {}

/// Something that happened in the manager.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ResourceEvent {
    /// A lease outlived its time to live and was reclaimed.
    LeaseExpired {
        /// The resource.
        resource: ResourceId,
        /// The type.
        kind: Arc<str>,
        /// The owner that held it too long.
        owner: Arc<str>,
    },
    /// A resource was taken out of service.
    MarkedUnavailable {
        /// The resource.
        resource: ResourceId,
        /// The type.
        kind: Arc<str>,
        /// Why.
        reason: String,
    },
    /// A resource idle past the idle timeout was removed.
    Evicted {
        /// The resource.
        resource: ResourceId,
        /// The type.
        kind: Arc<str>,
    },
    /// The factory made a resource.
    Created {
        /// The resource.
        resource: ResourceId,
        /// The type.
        kind: Arc<str>,
    },
    /// The factory failed to make a resource.
    CreateFailed {
        /// The type.
        kind: Arc<str>,
        /// The factory's error.
        error: String,
    },
}
