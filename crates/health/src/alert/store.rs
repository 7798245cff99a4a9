//! The manager's state: active alerts, groups and their flush schedule, silences and the
//! recent history, with Alertmanager's flush rules. No tasks and no locks here: the manager
//! holds this behind its mutex and calls it with the time.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;
use std::time::SystemTime;

use tokio::time::Instant;

use super::silence::ActiveSilence;
use super::sink::labels_text;
use super::{
    Alert, AlertState, FastMap, Fingerprint, InhibitRule, Labels, Notification, Route, Severity,
    Silence, SilenceId,
};

/// Raising more distinct alerts than the manager's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full;

/// What a raise changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Raised {
    /// The alert started firing (it is new, or it had resolved).
    pub(crate) fired: Option<Severity>,
    /// The earliest first flush of a group this raise created.
    pub(crate) new_flush: Option<Instant>,
}

struct Entry {
    alert: Alert,
    /// How many groups still hold it; a resolved alert leaves the store when none do.
    groups: u32,
}

struct Group {
    route: usize,
    labels: Labels,
    alerts: Vec<u64>,
    next_flush: Instant,
    notified: Option<Notified>,
}

/// The last notice a group sent: when, and which alerts it told were firing (sorted).
struct Notified {
    at: Instant,
    firing: Vec<u64>,
}

/// For each inhibition rule, the firing source alerts by the hash of their `equal` labels:
/// the first one's fingerprint and how many there are (so an alert never mutes itself).
type InhibitionIndex = Vec<FastMap<(u64, u32)>>;

pub(crate) struct Store {
    alerts: FastMap<Entry>,
    groups: FastMap<Group>,
    flushes: BinaryHeap<Reverse<(Instant, u64)>>,
    silences: Vec<ActiveSilence>,
    next_silence: u64,
    history: VecDeque<Alert>,
    history_limit: usize,
    max_alerts: usize,
    firing: usize,
}

impl Store {
    pub(crate) fn new(max_alerts: usize, history_limit: usize) -> Self {
        Store {
            alerts: FastMap::default(),
            groups: FastMap::default(),
            flushes: BinaryHeap::new(),
            silences: Vec::new(),
            next_silence: 1,
            history: VecDeque::with_capacity(history_limit.min(1024)),
            history_limit,
            max_alerts,
            firing: 0,
        }
    }

    /// Fires `alert` (or updates it, if it fires already). A new alert joins a group in every
    /// route that takes it. The alert must be valid.
    pub(crate) fn raise(
        &mut self,
        routes: &[Route],
        alert: Alert,
        now: Instant,
    ) -> Result<Raised, Full> {
        let fp = alert.fingerprint().0;
        if let Some(entry) = self.alerts.get_mut(&fp) {
            let was = entry.alert.state();
            entry.alert.update_from(alert);
            if was == AlertState::Firing {
                return Ok(Raised::default());
            }
            // Resolved but still in its groups, waiting for its resolve notice: a new episode.
            entry.alert.set_firing(SystemTime::now());
            self.firing += 1;
            return Ok(Raised {
                fired: Some(entry.alert.severity()),
                new_flush: None,
            });
        }
        if self.alerts.len() >= self.max_alerts {
            return Err(Full);
        }
        let mut alert = alert;
        alert.set_firing(SystemTime::now());
        let mut raised = Raised {
            fired: Some(alert.severity()),
            new_flush: None,
        };
        let mut groups = 0;
        let (groups_map, flushes) = (&mut self.groups, &mut self.flushes);
        for_each_route(routes, &alert, |index| {
            let route = &routes[index];
            let id = route.group_id(index, &alert);
            let group = groups_map.entry(id).or_insert_with(|| {
                let at = now + route.group_wait;
                flushes.push(Reverse((at, id)));
                raised.new_flush = Some(raised.new_flush.map_or(at, |t| t.min(at)));
                Group {
                    route: index,
                    labels: route.group_labels(&alert),
                    alerts: Vec::new(),
                    next_flush: at,
                    notified: None,
                }
            });
            group.alerts.push(fp);
            groups += 1;
        });
        self.alerts.insert(fp, Entry { alert, groups });
        self.firing += 1;
        Ok(raised)
    }

    /// Resolves a firing alert; returns its severity, or `None` if it was not firing.
    pub(crate) fn resolve(&mut self, fingerprint: Fingerprint) -> Option<Severity> {
        let entry = self.alerts.get_mut(&fingerprint.0)?;
        if entry.alert.state() != AlertState::Firing {
            return None;
        }
        entry.alert.set_resolved(SystemTime::now());
        self.firing -= 1;
        Some(entry.alert.severity())
    }

    pub(crate) fn is_firing(&self, fingerprint: Fingerprint) -> bool {
        self.alerts
            .get(&fingerprint.0)
            .is_some_and(|e| e.alert.state() == AlertState::Firing)
    }

    #[cfg_attr(
        not(feature = "metrics"),
        allow(dead_code, reason = "read for the active-alerts gauge")
    )]
    pub(crate) fn firing_count(&self) -> usize {
        self.firing
    }

    /// When the next group flush is due.
    pub(crate) fn next_flush(&self) -> Option<Instant> {
        self.flushes.peek().map(|Reverse((at, _))| *at)
    }

    pub(crate) fn add_silence(&mut self, silence: Silence, now: Instant) -> SilenceId {
        let id = SilenceId(self.next_silence);
        self.next_silence += 1;
        let starts = silence.starts_at.unwrap_or(now);
        self.silences.push(ActiveSilence {
            id,
            starts,
            ends: starts + silence.duration,
            silence,
        });
        id
    }

    pub(crate) fn expire_silence(&mut self, id: SilenceId) -> bool {
        let before = self.silences.len();
        self.silences.retain(|s| s.id != id);
        self.silences.len() != before
    }

    pub(crate) fn silences(&self, now: Instant) -> Vec<super::SilenceView> {
        let wall = SystemTime::now();
        self.silences
            .iter()
            .filter(|s| s.ends > now)
            .map(|s| s.view(now, wall))
            .collect()
    }

    /// Flushes every group that is due: decides, as Alertmanager does, whether the group has
    /// news for its sinks, builds the notice, and drops the alerts that resolved. Returns each
    /// notice with the index of its route.
    pub(crate) fn flush(
        &mut self,
        routes: &[Route],
        receivers: &[Arc<str>],
        inhibit: &[InhibitRule],
        now: Instant,
    ) -> Vec<(usize, Arc<Notification>)> {
        self.silences.retain(|s| s.ends > now);
        let mut notices = Vec::new();
        let mut index: Option<InhibitionIndex> = None;
        while let Some(&Reverse((at, id))) = self.flushes.peek() {
            if at > now {
                break;
            }
            self.flushes.pop();
            let Some(group) = self.groups.get_mut(&id) else {
                continue;
            };
            if group.next_flush != at {
                continue;
            }
            let route = &routes[group.route];
            let index = index.get_or_insert_with(|| inhibition_index(&self.alerts, inhibit));
            let mut firing = Vec::new();
            let mut resolved = Vec::new();
            let mut gone = Vec::new();
            for &fp in &group.alerts {
                let Some(entry) = self.alerts.get(&fp) else {
                    continue;
                };
                let is_firing = entry.alert.state() == AlertState::Firing;
                if !is_firing {
                    gone.push(fp);
                }
                if muted(&entry.alert, &self.silences, inhibit, index, now) {
                    continue;
                }
                if is_firing {
                    firing.push(fp);
                } else if group
                    .notified
                    .as_ref()
                    .is_some_and(|n| n.firing.binary_search(&fp).is_ok())
                {
                    // Only alerts the sinks were told fired get a resolve notice.
                    resolved.push(fp);
                }
            }
            firing.sort_unstable();
            resolved.sort_unstable();
            let news = match &group.notified {
                None => !firing.is_empty(),
                Some(last) => {
                    firing
                        .iter()
                        .any(|fp| last.firing.binary_search(fp).is_err())
                        || (firing.is_empty() && !last.firing.is_empty())
                        || (route.send_resolved && !resolved.is_empty())
                        || (!firing.is_empty()
                            && now.saturating_duration_since(last.at) >= route.repeat_interval)
                }
            };
            if news {
                let sent_resolved: &[u64] = if route.send_resolved { &resolved } else { &[] };
                let alerts: Vec<Alert> = firing
                    .iter()
                    .chain(sent_resolved)
                    .filter_map(|fp| self.alerts.get(fp).map(|e| e.alert.clone()))
                    .collect();
                if !alerts.is_empty() {
                    notices.push((
                        group.route,
                        Arc::new(Notification {
                            receiver: Arc::clone(&receivers[group.route]),
                            group_key: format!(
                                "{}:{}",
                                receivers[group.route],
                                labels_text(&group.labels)
                            ),
                            group_labels: group.labels.clone(),
                            alerts,
                        }),
                    ));
                }
                group.notified = Some(Notified { at: now, firing });
            }
            if !gone.is_empty() {
                let alerts = &self.alerts;
                group.alerts.retain(|fp| {
                    alerts
                        .get(fp)
                        .is_some_and(|e| e.alert.state() == AlertState::Firing)
                });
            }
            let empty = group.alerts.is_empty();
            if !empty {
                group.next_flush = now + route.group_interval;
                self.flushes.push(Reverse((group.next_flush, id)));
            }
            for fp in gone {
                self.release(fp);
            }
            if empty {
                self.groups.remove(&id);
            }
        }
        notices
    }

    /// One group let go of a resolved alert; the last one moves it to the history.
    fn release(&mut self, fp: u64) {
        let Some(entry) = self.alerts.get_mut(&fp) else {
            return;
        };
        entry.groups = entry.groups.saturating_sub(1);
        if entry.groups > 0 {
            return;
        }
        if let Some(entry) = self.alerts.remove(&fp) {
            if self.history_limit == 0 {
                return;
            }
            if self.history.len() == self.history_limit {
                self.history.pop_front();
            }
            self.history.push_back(entry.alert);
        }
    }

    /// The firing alerts with why each is muted, if it is.
    pub(crate) fn active(
        &self,
        inhibit: &[InhibitRule],
        now: Instant,
    ) -> Vec<(Alert, Vec<SilenceId>, bool)> {
        let index = inhibition_index(&self.alerts, inhibit);
        self.alerts
            .values()
            .filter(|e| e.alert.state() == AlertState::Firing)
            .map(|e| {
                let silenced_by = self
                    .silences
                    .iter()
                    .filter(|s| s.mutes(&e.alert, now))
                    .map(|s| s.id)
                    .collect();
                let inhibited = inhibited(&e.alert, inhibit, &index);
                (e.alert.clone(), silenced_by, inhibited)
            })
            .collect()
    }

    /// Resolved alerts, oldest first: those gone from every group, then those still waiting
    /// for their group's flush; at most the history limit.
    pub(crate) fn history(&self) -> Vec<Alert> {
        let mut waiting: Vec<Alert> = self
            .alerts
            .values()
            .filter(|e| e.alert.state() == AlertState::Resolved)
            .map(|e| e.alert.clone())
            .collect();
        waiting.sort_by_key(Alert::ended_at);
        let mut all: Vec<Alert> = self.history.iter().cloned().chain(waiting).collect();
        let excess = all.len().saturating_sub(self.history_limit);
        all.drain(..excess);
        all
    }

    /// Every group: its route, labels, alert count, and whether it has sent a notice.
    pub(crate) fn groups(&self) -> impl Iterator<Item = (usize, &Labels, usize, bool)> {
        self.groups
            .values()
            .map(|g| (g.route, &g.labels, g.alerts.len(), g.notified.is_some()))
    }

    #[cfg(test)]
    fn sizes(&self) -> (usize, usize, usize, usize) {
        (
            self.alerts.len(),
            self.groups.len(),
            self.flushes.len(),
            self.history.len(),
        )
    }
}

/// Calls `take` with the index of every route that takes the alert: the first that matches,
/// and the ones after it while matched routes say continue; the default route (the last)
/// when no other matches.
fn for_each_route(routes: &[Route], alert: &Alert, mut take: impl FnMut(usize)) {
    let Some((_, specific)) = routes.split_last() else {
        return;
    };
    let mut matched = false;
    for (index, route) in specific.iter().enumerate() {
        if route.takes(alert) {
            take(index);
            matched = true;
            if !route.continue_matching {
                return;
            }
        }
    }
    if !matched {
        take(routes.len() - 1);
    }
}

fn inhibition_index(alerts: &FastMap<Entry>, inhibit: &[InhibitRule]) -> InhibitionIndex {
    inhibit
        .iter()
        .map(|rule| {
            let mut sources: FastMap<(u64, u32)> = FastMap::default();
            for (fp, entry) in alerts {
                if entry.alert.state() == AlertState::Firing && rule.is_source(&entry.alert) {
                    let slot = sources
                        .entry(rule.equal_hash(&entry.alert))
                        .or_insert((*fp, 0));
                    slot.1 += 1;
                }
            }
            sources
        })
        .collect()
}

fn inhibited(alert: &Alert, inhibit: &[InhibitRule], index: &InhibitionIndex) -> bool {
    inhibit.iter().zip(index).any(|(rule, sources)| {
        rule.is_target(alert)
            && sources
                .get(&rule.equal_hash(alert))
                .is_some_and(|&(first, count)| count > 1 || first != alert.fingerprint().0)
    })
}

fn muted(
    alert: &Alert,
    silences: &[ActiveSilence],
    inhibit: &[InhibitRule],
    index: &InhibitionIndex,
    now: Instant,
) -> bool {
    silences.iter().any(|s| s.mutes(alert, now)) || inhibited(alert, inhibit, index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Matcher;
    use std::time::Duration;

    fn routes() -> Vec<Route> {
        vec![
            Route::builder("default")
                .group_by(["alertname"])
                .group_wait(Duration::from_secs(30))
                .group_interval(Duration::from_secs(300))
                .repeat_interval(Duration::from_secs(3600))
                .build()
                .unwrap(),
        ]
    }

    fn alert(name: &str, i: usize) -> Alert {
        Alert::new(name, Severity::Warning).with_label("instance", i.to_string())
    }

    #[tokio::test(start_paused = true)]
    async fn resolved_alerts_leave_and_empty_groups_are_pruned() {
        let routes = routes();
        let receivers: Vec<Arc<str>> = vec!["default".into()];
        let mut store = Store::new(100, 2);
        let start = Instant::now();
        for i in 0..3 {
            store.raise(&routes, alert("A", i), start).unwrap();
        }
        assert_eq!(store.sizes(), (3, 1, 1, 0));
        let sent = store.flush(&routes, &receivers, &[], start + Duration::from_secs(30));
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].1.alerts().len(), 3);
        for i in 0..3 {
            let a = alert("A", i);
            assert!(store.resolve(a.fingerprint()).is_some());
            assert!(store.resolve(a.fingerprint()).is_none(), "already resolved");
        }
        assert_eq!(store.history().len(), 2, "bounded by the limit");
        let sent = store.flush(&routes, &receivers, &[], start + Duration::from_secs(330));
        assert_eq!(sent[0].1.resolved().count(), 3);
        // Nothing is left but the bounded history.
        assert_eq!(store.sizes(), (0, 0, 0, 2));
        assert_eq!(store.firing_count(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_limit_refuses_new_alerts_but_not_updates() {
        let routes = routes();
        let mut store = Store::new(2, 10);
        let now = Instant::now();
        store.raise(&routes, alert("A", 0), now).unwrap();
        store.raise(&routes, alert("A", 1), now).unwrap();
        assert_eq!(store.raise(&routes, alert("A", 2), now), Err(Full));
        assert_eq!(
            store.raise(&routes, alert("A", 1).with_summary("again"), now),
            Ok(Raised::default())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn routes_take_the_first_match_and_continue_on_request() {
        let pager = Route::builder("pager")
            .matcher(Matcher::equal("severity", "critical").unwrap())
            .continue_matching(true)
            .build()
            .unwrap();
        let team = Route::builder("team")
            .matcher(Matcher::equal("team", "db").unwrap())
            .build()
            .unwrap();
        let routes = vec![pager, team, Route::default()];
        let taken = |alert: &Alert| {
            let mut seen = Vec::new();
            for_each_route(&routes, alert, |i| seen.push(i));
            seen
        };
        let critical_db = Alert::new("X", Severity::Critical).with_label("team", "db");
        assert_eq!(taken(&critical_db), [0, 1]);
        assert_eq!(taken(&Alert::new("X", Severity::Critical)), [0]);
        assert_eq!(taken(&Alert::new("X", Severity::Info)), [2]);
        let mut store = Store::new(10, 10);
        let raised = store.raise(&routes, critical_db, Instant::now()).unwrap();
        assert_eq!(raised.fired, Some(Severity::Critical));
        assert_eq!(store.groups().count(), 2);
    }
}
