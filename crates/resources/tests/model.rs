//! Random sequences of requests, drops, releases by id (by the owner and by strangers),
//! failures and clean-ups against a plain model: no resource is ever leased twice, none is
//! lost, and the manager's counts agree with the model's after every step.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

use std::collections::BTreeMap;

use hardening_resources::{
    Lease, NewResource, PoolConfig, Requirements, ResourceId, ResourceManager, ResourceStatus,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Owner `o` asks for any resource, or for one of colour `c`.
    Request {
        owner: u8,
        colour: Option<u8>,
    },
    /// Drop the i-th lease held.
    Drop(usize),
    /// Release the i-th lease's resource by id, as its owner or as a stranger.
    Release {
        index: usize,
        as_owner: bool,
    },
    /// The i-th lease's resource failed.
    Fail(usize),
    /// Add a resource of colour `c`.
    Add(u8),
    Maintain,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..4, proptest::option::of(0u8..3)).prop_map(|(owner, colour)| Op::Request { owner, colour }),
        3 => any::<usize>().prop_map(Op::Drop),
        3 => (any::<usize>(), any::<bool>()).prop_map(|(index, as_owner)| Op::Release { index, as_owner }),
        1 => any::<usize>().prop_map(Op::Fail),
        2 => (0u8..3).prop_map(Op::Add),
        1 => Just(Op::Maintain),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Model {
    Ready,
    Busy,
    Retiring,
    Gone,
}

fn check(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let manager: ResourceManager<u8> = ResourceManager::builder().build().unwrap();
    manager
        .add_pool("r", PoolConfig::builder().max(6).build().unwrap(), None)
        .unwrap();
    // Per resource: its colour and the model's view of it.
    let mut model: BTreeMap<ResourceId, (u8, Model)> = BTreeMap::new();
    let mut held: Vec<(Lease<u8>, String)> = Vec::new();
    let in_service = |m: &BTreeMap<ResourceId, (u8, Model)>| {
        m.values()
            .filter(|(_, s)| matches!(s, Model::Ready | Model::Busy))
            .count()
    };
    for (step, op) in ops.into_iter().enumerate() {
        match op {
            Op::Add(colour) => {
                let added = manager.add_resource(
                    "r",
                    NewResource::new(colour).with("colour", colour.to_string()),
                );
                if in_service(&model) >= 6 {
                    prop_assert!(added.is_err(), "step {step}: the pool is full");
                } else {
                    model.insert(added.unwrap(), (colour, Model::Ready));
                }
            }
            Op::Request { owner, colour } => {
                let req = colour.map_or(Requirements::new(), |c| {
                    Requirements::new().with("colour", c.to_string())
                });
                let owner = format!("owner-{owner}");
                let expect = model
                    .iter()
                    .any(|(_, (c, s))| *s == Model::Ready && colour.is_none_or(|want| want == *c));
                match manager.try_request("r", owner.as_str(), &req) {
                    Ok(Some(lease)) => {
                        prop_assert!(
                            expect,
                            "step {step}: granted with nothing ready in the model"
                        );
                        let entry = model.get_mut(&lease.id()).expect("known resource");
                        prop_assert_eq!(entry.1, Model::Ready, "step {}: leased twice", step);
                        prop_assert!(
                            colour.is_none_or(|c| c == entry.0),
                            "step {step}: wrong colour"
                        );
                        prop_assert_eq!(*lease, entry.0);
                        entry.1 = Model::Busy;
                        held.push((lease, owner));
                    }
                    Ok(None) => prop_assert!(!expect, "step {step}: refused with a ready match"),
                    Err(_) => prop_assert!(!expect, "step {step}: error with a ready match"),
                }
            }
            Op::Drop(i) if !held.is_empty() => {
                let (lease, _) = held.remove(i % held.len());
                let id = lease.id();
                drop(lease);
                let entry = model.get_mut(&id).unwrap();
                entry.1 = if entry.1 == Model::Retiring {
                    Model::Gone
                } else {
                    Model::Ready
                };
            }
            Op::Release { index, as_owner } if !held.is_empty() => {
                let i = index % held.len();
                let id = held[i].0.id();
                if as_owner {
                    manager.release(id, &held[i].1).unwrap();
                    let (lease, _) = held.remove(i);
                    let entry = model.get_mut(&id).unwrap();
                    entry.1 = if entry.1 == Model::Retiring {
                        Model::Gone
                    } else {
                        Model::Ready
                    };
                    // The released lease's own drop must change nothing now.
                    drop(lease);
                } else {
                    prop_assert!(manager.release(id, "stranger").is_err());
                }
            }
            Op::Fail(i) if !held.is_empty() => {
                let id = held[i % held.len()].0.id();
                manager.mark_unavailable(id, "failed").unwrap();
                model.get_mut(&id).unwrap().1 = Model::Retiring;
            }
            Op::Maintain => {
                manager.maintain();
                model.retain(|_, (_, s)| *s != Model::Gone);
            }
            _ => {}
        }
        // The manager and the model agree on every resource.
        let real: BTreeMap<ResourceId, ResourceStatus> = manager
            .resources("r")
            .into_iter()
            .map(|r| (r.id, r.status))
            .collect();
        let expected: BTreeMap<ResourceId, ResourceStatus> = model
            .iter()
            .map(|(id, (_, s))| {
                let status = match s {
                    Model::Ready => ResourceStatus::Ready,
                    Model::Busy | Model::Retiring => ResourceStatus::Busy,
                    Model::Gone => ResourceStatus::Unavailable,
                };
                (*id, status)
            })
            .collect();
        prop_assert_eq!(&real, &expected, "step {}", step);
        let stats = &manager.stats()[0];
        prop_assert_eq!(
            stats.busy,
            held.len(),
            "step {}: every busy resource is held once",
            step
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn never_granted_twice_never_lost(ops in proptest::collection::vec(op(), 1..120)) {
        check(ops)?;
    }
}
