//! Kubernetes' success and failure thresholds.
//!
//! The kubelet's prober worker keeps the last raw result and how many times in a row it came;
//! it changes the reported result only when a failure has come `failureThreshold` times in a
//! row or a success `successThreshold` times in a row. This is the same rule, plus the status
//! (pass or warn) of the success that is shown while the check counts as passing.

use crate::Status;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Judge {
    last_raw: Option<bool>,
    run: u32,
    /// The status reported: `Fail` while judged failing, the latest success's status
    /// otherwise.
    judged: Status,
}

impl Judge {
    pub(crate) fn new(initial: Status) -> Self {
        Judge {
            last_raw: None,
            run: 0,
            judged: initial,
        }
    }

    /// The number of times in a row the latest raw result (success or failure) has come.
    pub(crate) fn run(&self) -> u32 {
        self.run
    }

    /// Takes one raw result; returns the judged status after it.
    pub(crate) fn observe(
        &mut self,
        raw: Status,
        success_threshold: u32,
        failure_threshold: u32,
    ) -> Status {
        let success = raw.is_success();
        if self.last_raw == Some(success) {
            self.run = self.run.saturating_add(1);
        } else {
            self.last_raw = Some(success);
            self.run = 1;
        }
        if success {
            if self.judged.is_success() || self.run >= success_threshold {
                // Already passing: show the latest success's pass or warn at once.
                self.judged = raw;
            }
        } else if self.run >= failure_threshold {
            self.judged = Status::Fail;
        }
        self.judged
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::{Fail as F, Pass as P, Warn as W};

    /// The kubelet's rule, written as in `pkg/kubelet/prober/worker.go`, over booleans.
    fn kubelet(initial: bool, raws: &[bool], st: u32, ft: u32) -> Vec<bool> {
        let (mut last, mut run, mut result) = (None, 0_u32, initial);
        raws.iter()
            .map(|&raw| {
                if last == Some(raw) {
                    run += 1;
                } else {
                    last = Some(raw);
                    run = 1;
                }
                if !((!raw && run < ft) || (raw && run < st)) {
                    result = raw;
                }
                result
            })
            .collect()
    }

    fn ours(initial: Status, raws: &[Status], st: u32, ft: u32) -> Vec<Status> {
        let mut judge = Judge::new(initial);
        raws.iter().map(|&raw| judge.observe(raw, st, ft)).collect()
    }

    #[test]
    fn flapping_sequences_get_the_kubelets_verdicts() {
        /// (initial, raw sequence, successThreshold, failureThreshold, expected verdicts)
        type Case = (Status, &'static [Status], u32, u32, &'static [Status]);
        let cases: &[Case] = &[
            // failureThreshold 3: two failures are tolerated, the third flips.
            (P, &[F, F, P, F, F, F, P], 1, 3, &[P, P, P, P, P, F, P]),
            // successThreshold 2 (readiness): one success among failures is not enough.
            (F, &[P, F, P, P, F, P], 2, 1, &[F, F, F, P, F, F]),
            // Strict alternation never reaches either threshold of 2: stays as it began.
            (P, &[F, P, F, P, F, P], 2, 2, &[P, P, P, P, P, P]),
            (F, &[P, F, P, F, P, F], 2, 2, &[F, F, F, F, F, F]),
            // Thresholds of 1 follow every result.
            (F, &[P, F, P], 1, 1, &[P, F, P]),
            // A warning is a success; it shows at once while passing.
            (P, &[W, P, F, W], 1, 1, &[W, P, F, W]),
        ];
        for (initial, raws, st, ft, expected) in cases {
            let got = ours(*initial, raws, *st, *ft);
            assert_eq!(&got, expected, "raws {raws:?} st {st} ft {ft}");
            let k = kubelet(
                initial.is_success(),
                &raws.iter().map(|s| s.is_success()).collect::<Vec<_>>(),
                *st,
                *ft,
            );
            let ours_bool: Vec<bool> = got.iter().map(|s| s.is_success()).collect();
            assert_eq!(ours_bool, k, "raws {raws:?} st {st} ft {ft}");
        }
    }

    #[test]
    fn agrees_with_the_kubelet_on_every_short_sequence() {
        for st in 1..=3 {
            for ft in 1..=3 {
                for bits in 0_u32..(1 << 8) {
                    let raws: Vec<bool> = (0..8).map(|i| bits & (1 << i) != 0).collect();
                    for initial in [true, false] {
                        let statuses: Vec<Status> =
                            raws.iter().map(|&ok| if ok { P } else { F }).collect();
                        let got: Vec<bool> = ours(if initial { P } else { F }, &statuses, st, ft)
                            .iter()
                            .map(|s| s.is_success())
                            .collect();
                        assert_eq!(got, kubelet(initial, &raws, st, ft), "{raws:?} {st} {ft}");
                    }
                }
            }
        }
    }
}
