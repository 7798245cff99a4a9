//! The bulkhead's permit protocol under every interleaving loom finds: never more than the
//! limit at once, and no waiter stranded in the queue while a slot is free.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p hardening-resources --release --test loom`
//! (`cargo xtask ci` does).
#![cfg(loom)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

use hardening_resources::loom_bulkhead::{Admitted, LoomBulkhead};
use loom::sync::Arc;
use loom::thread;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

#[test]
fn a_release_crossing_a_queueing_call_never_strands_it() {
    model(|| {
        let bulkhead = Arc::new(LoomBulkhead::new(1, 4));
        assert!(matches!(bulkhead.admit(0), Admitted::Now));
        let releaser = {
            let bulkhead = Arc::clone(&bulkhead);
            thread::spawn(move || bulkhead.release())
        };
        let outcome = bulkhead.admit(0);
        releaser.join().unwrap();
        match outcome {
            Admitted::Now => {}
            Admitted::Queued(ticket) => {
                assert!(
                    LoomBulkhead::is_admitted(&ticket),
                    "the slot was freed, so the queued call must hold it: {ticket:?}, in flight {}, queued {}",
                    bulkhead.in_flight(),
                    bulkhead.queued()
                );
            }
            Admitted::Refused => panic!("a queue place was free"),
        }
        assert_eq!(bulkhead.in_flight(), 1);
        assert_eq!(bulkhead.queued(), 0);
    });
}

#[test]
fn never_more_than_the_limit() {
    model(|| {
        let bulkhead = Arc::new(LoomBulkhead::new(1, 0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let bulkhead = Arc::clone(&bulkhead);
                thread::spawn(move || {
                    if matches!(bulkhead.admit(0), Admitted::Now) {
                        assert!(bulkhead.in_flight() <= 1);
                        bulkhead.release();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(bulkhead.in_flight(), 0);
    });
}
