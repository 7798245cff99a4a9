//! Supervised recovery: recoverable services, their registry, and the manager that brings
//! them back.

pub(crate) mod event;
pub(crate) mod ladder;
pub(crate) mod manager;
pub(crate) mod registry;
pub(crate) mod service;
