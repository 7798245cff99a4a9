//! The manager's state: active alerts, groups and their flush schedule, silences and the
//! recent history, with Alertmanager's flush rules. No tasks and no locks here: the manager
//! holds this behind its mutex and calls it with the time.
//!
//! Alerts and groups are held under internal ids, found through their hash (an alert's
//! fingerprint, a group's route and label values) and then compared in full, so two label
//! sets whose hashes collide stay two alerts or two groups.

use std::cmp::Reverse;
use std::collections::hash_map::Entry as MapEntry;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::hash::BuildHasherDefault;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::silence::ActiveSilence;
use super::sink::labels_text;
use super::{
    Alert, AlertCounts, AlertError, AlertState, FastMap, Fingerprint, InhibitRule, Labels,
    MAX_DURATION, Notification, PassThrough, Route, Severity, Silence, SilenceId,
};
use crate::ConfigError;

/// Raising more distinct firing alerts than the manager's limit.
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

type IdSet = HashSet<u64, BuildHasherDefault<PassThrough>>;

/// Internal ids are a counter times an odd constant: unique (the product is a bijection on
/// `u64`) and well spread for the pass-through hasher.
const fn mix(n: u64) -> u64 {
    n.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// A time `after` past `now`: the settings are bounded ([`MAX_DURATION`]), so this never
/// saturates in practice; it still never panics.
fn later(now: Instant, after: Duration) -> Instant {
    now.checked_add(after)
        .or_else(|| now.checked_add(MAX_DURATION))
        .unwrap_or(now)
}

/// The ids filed under one hash: one, unless different keys collide.
#[derive(Debug)]
enum Bucket {
    One(u64),
    Many(Vec<u64>),
}

/// Ids by hash, where a hit is only a candidate for the caller to compare in full.
#[derive(Debug, Default)]
struct Index(FastMap<Bucket>);

impl Index {
    fn find(&self, hash: u64, mut is: impl FnMut(u64) -> bool) -> Option<u64> {
        match self.0.get(&hash)? {
            Bucket::One(id) => is(*id).then_some(*id),
            Bucket::Many(ids) => ids.iter().copied().find(|&id| is(id)),
        }
    }

    fn insert(&mut self, hash: u64, id: u64) {
        match self.0.entry(hash) {
            MapEntry::Vacant(slot) => {
                slot.insert(Bucket::One(id));
            }
            MapEntry::Occupied(mut slot) => {
                let bucket = slot.get_mut();
                match bucket {
                    Bucket::One(first) => *bucket = Bucket::Many(vec![*first, id]),
                    Bucket::Many(ids) => ids.push(id),
                }
            }
        }
    }

    fn remove(&mut self, hash: u64, id: u64) {
        let MapEntry::Occupied(mut slot) = self.0.entry(hash) else {
            return;
        };
        let bucket = slot.get_mut();
        match bucket {
            Bucket::One(only) if *only == id => {
                slot.remove();
            }
            Bucket::One(_) => {}
            Bucket::Many(ids) => {
                ids.retain(|&other| other != id);
                match ids.as_slice() {
                    [] => {
                        slot.remove();
                    }
                    [only] => *bucket = Bucket::One(*only),
                    _ => {}
                }
            }
        }
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

struct Entry {
    alert: Alert,
    /// The hash it is filed under (its fingerprint).
    hash: u64,
    /// The groups that hold it.
    groups: Vec<u64>,
    /// The groups that hold a resolved copy of it for their resolve notice, after it moved to
    /// other groups (a severity change). They keep the entry until they flush.
    departed: Vec<u64>,
    /// Which resolve this is, so a stale place in the eviction queue is told from a live one.
    resolved_seq: u64,
}

impl Entry {
    fn is(&self, name: &str, labels: &Labels) -> bool {
        self.alert.name() == name && self.alert.labels() == labels
    }

    fn waiting_since(&self, seq: u64) -> bool {
        self.alert.state() == AlertState::Resolved && self.resolved_seq == seq
    }
}

struct Group {
    route: usize,
    /// The hash it is filed under (its route and label values).
    hash: u64,
    labels: Labels,
    alerts: IdSet,
    /// Resolved copies of alerts that left for other groups, with their ids: the group's
    /// sinks are told they resolved, if the group told them they fired.
    departed: Vec<(u64, Alert)>,
    next_flush: Instant,
    notified: Option<Notified>,
}

impl Group {
    fn is_empty(&self) -> bool {
        self.alerts.is_empty() && self.departed.is_empty()
    }

    fn told_firing(&self, id: u64) -> bool {
        self.notified
            .as_ref()
            .is_some_and(|n| n.firing.binary_search_by_key(&id, |&(id, _)| id).is_ok())
    }
}

/// The last notice a group sent: when, and which alerts it told were firing, at which
/// severity (sorted by id).
struct Notified {
    at: Instant,
    firing: Vec<(u64, Severity)>,
}

/// For each inhibition rule, the firing source alerts by their `equal` label values: the
/// first one's id and how many there are (so an alert never mutes itself).
type InhibitionIndex = Vec<HashMap<Vec<String>, (u64, u32)>>;

pub(crate) struct Store {
    alerts: FastMap<Entry>,
    by_fingerprint: Index,
    groups: FastMap<Group>,
    group_index: Index,
    flushes: BinaryHeap<Reverse<(Instant, u64)>>,
    silences: Vec<ActiveSilence>,
    next_silence: u64,
    max_silences: usize,
    history: VecDeque<Alert>,
    history_limit: usize,
    max_alerts: usize,
    firing: usize,
    next_id: u64,
    /// Resolved alerts waiting for their notice, oldest first, as (id, resolve number);
    /// places of alerts since gone or fired again are skipped, and pruned.
    resolved: VecDeque<(u64, u64)>,
    /// Resolved alerts dropped before their notice to make room for a firing one.
    evicted: u64,
    /// Every hash is masked with this: `0` in tests makes every key collide.
    hash_mask: u64,
}

impl Store {
    pub(crate) fn new(max_alerts: usize, history_limit: usize, max_silences: usize) -> Self {
        Store {
            alerts: FastMap::default(),
            by_fingerprint: Index::default(),
            groups: FastMap::default(),
            group_index: Index::default(),
            flushes: BinaryHeap::new(),
            silences: Vec::new(),
            next_silence: 1,
            max_silences,
            history: VecDeque::with_capacity(history_limit.min(1024)),
            history_limit,
            max_alerts,
            firing: 0,
            next_id: 1,
            resolved: VecDeque::new(),
            evicted: 0,
            hash_mask: u64::MAX,
        }
    }

    fn new_id(&mut self) -> u64 {
        let id = mix(self.next_id);
        self.next_id += 1;
        id
    }

    fn find_alert(&self, hash: u64, name: &str, labels: &Labels) -> Option<u64> {
        let alerts = &self.alerts;
        self.by_fingerprint.find(hash, |id| {
            alerts.get(&id).is_some_and(|e| e.is(name, labels))
        })
    }

    /// Fires `alert`, or updates it if it fires already. A new alert, one firing again, and
    /// one whose severity changed are routed: they join a group in every route that takes
    /// them, and leave the groups of routes that no longer do (which are told the old alert
    /// resolved). The alert must be valid.
    ///
    /// A new alert beyond the limit first makes room by dropping the oldest resolved alert
    /// still waiting for its notice; only when every held alert fires is it refused.
    pub(crate) fn raise(
        &mut self,
        routes: &[Route],
        alert: Alert,
        now: Instant,
    ) -> Result<Raised, Full> {
        let hash = alert.fingerprint().0 & self.hash_mask;
        let mut raised = Raised::default();
        if let Some(id) = self.find_alert(hash, alert.name(), alert.labels()) {
            let Some(entry) = self.alerts.get_mut(&id) else {
                return Ok(raised);
            };
            let was_firing = entry.alert.state() == AlertState::Firing;
            let changed = entry.alert.severity() != alert.severity();
            let before = changed.then(|| entry.alert.clone());
            entry.alert.update_from(alert);
            if was_firing && !changed {
                return Ok(raised);
            }
            if !was_firing {
                // Resolved but still held, waiting for its resolve notice: a new episode.
                entry.alert.set_firing(SystemTime::now());
                self.firing += 1;
                raised.fired = Some(entry.alert.severity());
            }
            self.route(routes, id, before, now, &mut raised);
            return Ok(raised);
        }
        if self.alerts.len() >= self.max_alerts && !self.evict_resolved() {
            return Err(Full);
        }
        let mut alert = alert;
        alert.set_firing(SystemTime::now());
        raised.fired = Some(alert.severity());
        let id = self.new_id();
        self.alerts.insert(
            id,
            Entry {
                alert,
                hash,
                groups: Vec::new(),
                departed: Vec::new(),
                resolved_seq: 0,
            },
        );
        self.by_fingerprint.insert(hash, id);
        self.firing += 1;
        self.route(routes, id, None, now, &mut raised);
        Ok(raised)
    }

    /// Puts the alert in a group of every route that takes it now, creating groups as
    /// needed, and takes it out of the groups it was in that no longer fit; those keep
    /// `before` (resolved) for their resolve notice.
    fn route(
        &mut self,
        routes: &[Route],
        id: u64,
        before: Option<Alert>,
        now: Instant,
        raised: &mut Raised,
    ) {
        let mask = self.hash_mask;
        let Store {
            alerts,
            groups,
            group_index,
            flushes,
            next_id,
            ..
        } = self;
        let Some(entry) = alerts.get_mut(&id) else {
            return;
        };
        let mut targets = Vec::with_capacity(1);
        for_each_route(routes, &entry.alert, |index| {
            let route = &routes[index];
            let alert = &entry.alert;
            let hash = route.group_id(index, alert) & mask;
            let found = group_index.find(hash, |gid| {
                groups
                    .get(&gid)
                    .is_some_and(|g| g.route == index && route.is_group_of(&g.labels, alert))
            });
            let gid = found.unwrap_or_else(|| {
                let gid = mix(*next_id);
                *next_id += 1;
                let at = later(now, route.group_wait);
                flushes.push(Reverse((at, gid)));
                raised.new_flush = Some(raised.new_flush.map_or(at, |t| t.min(at)));
                groups.insert(
                    gid,
                    Group {
                        route: index,
                        hash,
                        labels: route.group_labels(alert),
                        alerts: IdSet::default(),
                        departed: Vec::new(),
                        next_flush: at,
                        notified: None,
                    },
                );
                group_index.insert(hash, gid);
                gid
            });
            if let Some(group) = groups.get_mut(&gid) {
                group.alerts.insert(id);
                if !group.departed.is_empty() {
                    group.departed.retain(|(other, _)| *other != id);
                }
            }
            targets.push(gid);
        });
        entry.departed.retain(|gid| !targets.contains(gid));
        for &gid in &entry.groups {
            if targets.contains(&gid) {
                continue;
            }
            let Some(group) = groups.get_mut(&gid) else {
                continue;
            };
            group.alerts.remove(&id);
            if let Some(before) = &before {
                let mut gone = before.clone();
                if gone.state() != AlertState::Resolved {
                    gone.set_resolved(SystemTime::now());
                }
                group.departed.push((id, gone));
                entry.departed.push(gid);
            }
        }
        entry.groups = targets;
    }

    /// Drops the oldest resolved alert still waiting for its notice (the notice is lost, and
    /// counted); returns whether there was one.
    fn evict_resolved(&mut self) -> bool {
        while let Some((id, seq)) = self.resolved.pop_front() {
            if !self.alerts.get(&id).is_some_and(|e| e.waiting_since(seq)) {
                continue;
            }
            let Some(entry) = self.alerts.remove(&id) else {
                continue;
            };
            self.by_fingerprint.remove(entry.hash, id);
            for gid in entry.groups.iter().chain(&entry.departed) {
                if let Some(group) = self.groups.get_mut(gid) {
                    group.alerts.remove(&id);
                    group.departed.retain(|(other, _)| *other != id);
                    if group.is_empty() {
                        self.remove_group(*gid);
                    }
                }
            }
            self.evicted += 1;
            self.remember(entry.alert);
            return true;
        }
        false
    }

    /// Removes a group at once (its place in the flush schedule goes stale and is skipped).
    fn remove_group(&mut self, gid: u64) {
        if let Some(group) = self.groups.remove(&gid) {
            self.group_index.remove(group.hash, gid);
        }
        if self.flushes.len() > 2 * self.groups.len() + 64 {
            let groups = &self.groups;
            self.flushes
                .retain(|Reverse((at, gid))| groups.get(gid).is_some_and(|g| g.next_flush == *at));
        }
    }

    fn remember(&mut self, alert: Alert) {
        if self.history_limit == 0 {
            return;
        }
        if self.history.len() == self.history_limit {
            self.history.pop_front();
        }
        self.history.push_back(alert);
    }

    /// Resolves a firing alert; returns its severity, or `None` if it was not firing.
    pub(crate) fn resolve(&mut self, name: &str, labels: &Labels) -> Option<Severity> {
        let hash = Fingerprint::of(name, labels).0 & self.hash_mask;
        let id = self.find_alert(hash, name, labels)?;
        let seq = self.next_id;
        let entry = self.alerts.get_mut(&id)?;
        if entry.alert.state() != AlertState::Firing {
            return None;
        }
        self.next_id += 1;
        entry.alert.set_resolved(SystemTime::now());
        entry.resolved_seq = seq;
        let severity = entry.alert.severity();
        self.firing -= 1;
        self.resolved.push_back((id, seq));
        let waiting = self.alerts.len() - self.firing;
        if self.resolved.len() > 2 * waiting + 64 {
            let alerts = &self.alerts;
            self.resolved
                .retain(|(id, seq)| alerts.get(id).is_some_and(|e| e.waiting_since(*seq)));
        }
        Some(severity)
    }

    pub(crate) fn is_firing(&self, alert: &Alert) -> bool {
        let hash = alert.fingerprint().0 & self.hash_mask;
        self.find_alert(hash, alert.name(), alert.labels())
            .and_then(|id| self.alerts.get(&id))
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

    /// Drops the silences that have ended.
    fn purge_silences(&mut self, now: Instant) {
        self.silences.retain(|s| s.ends > now);
    }

    /// Holds a silence, unless the manager holds its limit of silences already (those that
    /// have ended do not count).
    pub(crate) fn add_silence(
        &mut self,
        silence: Silence,
        now: Instant,
    ) -> Result<SilenceId, AlertError> {
        self.purge_silences(now);
        if self.silences.len() >= self.max_silences {
            return Err(AlertError::TooManySilences {
                limit: self.max_silences,
            });
        }
        let starts = silence.starts_at.unwrap_or(now);
        let ends = starts.checked_add(silence.duration).ok_or_else(|| {
            ConfigError::new(
                "starts_at",
                "a start whose end tokio's clock cannot hold",
                "a start within a few centuries of now",
            )
        })?;
        let id = SilenceId(self.next_silence);
        self.next_silence += 1;
        self.silences.push(ActiveSilence {
            id,
            starts,
            ends,
            silence,
        });
        Ok(id)
    }

    pub(crate) fn expire_silence(&mut self, id: SilenceId) -> bool {
        let before = self.silences.len();
        self.silences.retain(|s| s.id != id);
        self.silences.len() != before
    }

    pub(crate) fn silences(&mut self, now: Instant) -> Vec<super::SilenceView> {
        self.purge_silences(now);
        let wall = SystemTime::now();
        self.silences.iter().map(|s| s.view(now, wall)).collect()
    }

    /// Flushes every group that is due: decides, as Alertmanager does, whether the group has
    /// news for its sinks, builds the notice, and drops the alerts that resolved. Returns each
    /// notice with the index of its route.
    ///
    /// News is an alert firing that the last notice did not tell of, or told of at another
    /// severity; every alert having stopped firing; (with `send_resolved`) an alert the last
    /// notice told was firing having resolved or left the group; or `repeat_interval` passed.
    pub(crate) fn flush(
        &mut self,
        routes: &[Route],
        receivers: &[Arc<str>],
        inhibit: &[InhibitRule],
        now: Instant,
    ) -> Vec<(usize, Arc<Notification>)> {
        self.purge_silences(now);
        let mut notices = Vec::new();
        let mut index: Option<InhibitionIndex> = None;
        while let Some(&Reverse((at, gid))) = self.flushes.peek() {
            if at > now {
                break;
            }
            self.flushes.pop();
            let Some(group) = self.groups.get_mut(&gid) else {
                continue;
            };
            if group.next_flush != at {
                continue;
            }
            let route = &routes[group.route];
            let index = index.get_or_insert_with(|| inhibition_index(&self.alerts, inhibit));
            let mut firing: Vec<(u64, Severity)> = Vec::new();
            let mut resolved: Vec<&Alert> = Vec::new();
            let mut gone = Vec::new();
            for &id in &group.alerts {
                let Some(entry) = self.alerts.get(&id) else {
                    continue;
                };
                let is_firing = entry.alert.state() == AlertState::Firing;
                if !is_firing {
                    gone.push(id);
                }
                if muted(&entry.alert, id, &self.silences, inhibit, index, now) {
                    continue;
                }
                if is_firing {
                    firing.push((id, entry.alert.severity()));
                } else if group.told_firing(id) {
                    // Only alerts the sinks were told fired get a resolve notice.
                    resolved.push(&entry.alert);
                }
            }
            let departed = std::mem::take(&mut group.departed);
            for (id, alert) in &departed {
                if group.told_firing(*id) && !muted(alert, *id, &self.silences, inhibit, index, now)
                {
                    resolved.push(alert);
                }
            }
            firing.sort_unstable();
            let news = match &group.notified {
                None => !firing.is_empty(),
                Some(last) => {
                    firing.iter().any(|f| last.firing.binary_search(f).is_err())
                        || (firing.is_empty() && !last.firing.is_empty())
                        || (route.send_resolved && !resolved.is_empty())
                        || (!firing.is_empty()
                            && now.saturating_duration_since(last.at) >= route.repeat_interval)
                }
            };
            if news {
                let mut alerts: Vec<Alert> = firing
                    .iter()
                    .filter_map(|(id, _)| self.alerts.get(id).map(|e| e.alert.clone()))
                    .collect();
                alerts.sort_by_key(Alert::fingerprint);
                if route.send_resolved {
                    resolved.sort_by_key(|a| a.fingerprint());
                    alerts.extend(resolved.into_iter().cloned());
                }
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
            for id in &gone {
                group.alerts.remove(id);
            }
            let empty = group.is_empty();
            if !empty {
                group.next_flush = later(now, route.group_interval);
                self.flushes.push(Reverse((group.next_flush, gid)));
            }
            for id in gone {
                self.release(id, gid, false);
            }
            for (id, _) in departed {
                self.release(id, gid, true);
            }
            if empty {
                self.remove_group(gid);
            }
        }
        notices
    }

    /// A group let go of an alert (or of its departed copy); a resolved alert no group holds
    /// moves to the history.
    fn release(&mut self, id: u64, gid: u64, departed: bool) {
        let Some(entry) = self.alerts.get_mut(&id) else {
            return;
        };
        if departed {
            entry.departed.retain(|&g| g != gid);
        } else {
            entry.groups.retain(|&g| g != gid);
        }
        if entry.alert.state() != AlertState::Resolved
            || !entry.groups.is_empty()
            || !entry.departed.is_empty()
        {
            return;
        }
        if let Some(entry) = self.alerts.remove(&id) {
            self.by_fingerprint.remove(entry.hash, id);
            self.remember(entry.alert);
        }
    }

    /// The firing alerts with why each is muted, if it is.
    pub(crate) fn active(
        &mut self,
        inhibit: &[InhibitRule],
        now: Instant,
    ) -> Vec<(Alert, Vec<SilenceId>, bool)> {
        self.purge_silences(now);
        let index = inhibition_index(&self.alerts, inhibit);
        self.alerts
            .iter()
            .filter(|(_, e)| e.alert.state() == AlertState::Firing)
            .map(|(&id, e)| {
                let silenced_by = self
                    .silences
                    .iter()
                    .filter(|s| s.mutes(&e.alert, now))
                    .map(|s| s.id)
                    .collect();
                let inhibited = inhibited(&e.alert, id, inhibit, &index);
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

    pub(crate) fn sizes(&mut self, now: Instant) -> AlertCounts {
        self.purge_silences(now);
        AlertCounts {
            firing: self.firing,
            resolved_waiting: self.alerts.len() - self.firing,
            groups: self.groups.len(),
            group_members: self
                .groups
                .values()
                .map(|g| g.alerts.len() + g.departed.len())
                .sum(),
            silences: self.silences.len(),
            history: self.history.len(),
            evicted: self.evicted,
            scheduled_flushes: self.flushes.len(),
            resolved_queue: self.resolved.len(),
            index_entries: self.by_fingerprint.len() + self.group_index.len(),
        }
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
            let mut sources: HashMap<Vec<String>, (u64, u32)> = HashMap::new();
            for (&id, entry) in alerts {
                if entry.alert.state() == AlertState::Firing && rule.is_source(&entry.alert) {
                    let slot = sources
                        .entry(rule.equal_values(&entry.alert))
                        .or_insert((id, 0));
                    slot.1 += 1;
                }
            }
            sources
        })
        .collect()
}

fn inhibited(alert: &Alert, id: u64, inhibit: &[InhibitRule], index: &InhibitionIndex) -> bool {
    inhibit.iter().zip(index).any(|(rule, sources)| {
        !sources.is_empty()
            && rule.is_target(alert)
            && sources
                .get(&rule.equal_values(alert))
                .is_some_and(|&(first, count)| count > 1 || first != id)
    })
}

fn muted(
    alert: &Alert,
    id: u64,
    silences: &[ActiveSilence],
    inhibit: &[InhibitRule],
    index: &InhibitionIndex,
    now: Instant,
) -> bool {
    silences.iter().any(|s| s.mutes(alert, now)) || inhibited(alert, id, inhibit, index)
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
        let mut store = Store::new(100, 2, 10);
        let start = Instant::now();
        for i in 0..3 {
            store.raise(&routes, alert("A", i), start).unwrap();
        }
        assert_eq!(sizes(&mut store), (3, 1, 1, 0));
        let sent = store.flush(&routes, &receivers, &[], start + Duration::from_secs(30));
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].1.alerts().len(), 3);
        for i in 0..3 {
            let a = alert("A", i);
            assert!(store.resolve(a.name(), a.labels()).is_some());
            assert!(
                store.resolve(a.name(), a.labels()).is_none(),
                "already resolved"
            );
        }
        assert_eq!(store.history().len(), 2, "bounded by the limit");
        let sent = store.flush(&routes, &receivers, &[], start + Duration::from_secs(330));
        assert_eq!(sent[0].1.resolved().count(), 3);
        // Nothing is left but the bounded history.
        assert_eq!(sizes(&mut store), (0, 0, 0, 2));
        assert_eq!(store.sizes(start).index_entries, 0);
        assert_eq!(store.firing_count(), 0);
    }

    /// Alerts, groups, scheduled flushes, history.
    fn sizes(store: &mut Store) -> (usize, usize, usize, usize) {
        let s = store.sizes(Instant::now());
        (
            s.firing + s.resolved_waiting,
            s.groups,
            s.scheduled_flushes,
            s.history,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn the_limit_refuses_new_alerts_but_not_updates() {
        let routes = routes();
        let mut store = Store::new(2, 10, 10);
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
        let mut store = Store::new(10, 10, 10);
        let raised = store.raise(&routes, critical_db, Instant::now()).unwrap();
        assert_eq!(raised.fired, Some(Severity::Critical));
        assert_eq!(store.groups().count(), 2);
    }

    /// The notices as `(group labels, [alert{labels} state])`, sorted.
    fn seen(sent: &[(usize, Arc<Notification>)]) -> Vec<(String, Vec<String>)> {
        let mut seen: Vec<(String, Vec<String>)> = sent
            .iter()
            .map(|(_, n)| {
                let alerts = n
                    .alerts()
                    .iter()
                    .map(|a| format!("{}{} {}", a.name(), labels_text(a.labels()), a.state()))
                    .collect();
                (labels_text(n.group_labels()), alerts)
            })
            .collect();
        seen.sort();
        seen
    }

    #[tokio::test(start_paused = true)]
    async fn colliding_hashes_never_merge_alerts_or_groups() {
        let receivers: Vec<Arc<str>> = vec!["default".into()];
        for group_by in [&["alertname"][..], &["..."][..]] {
            let routes = vec![
                Route::builder("default")
                    .group_by(group_by.iter().copied())
                    .group_wait(Duration::from_secs(30))
                    .build()
                    .unwrap(),
            ];
            let mut store = Store::new(100, 10, 10);
            // Every alert's fingerprint and every group's hash is the same.
            store.hash_mask = 0;
            let start = Instant::now();
            for (name, i) in [("A", 0), ("A", 1), ("B", 0)] {
                store.raise(&routes, alert(name, i), start).unwrap();
            }
            let a0 = alert("A", 0);
            assert!(store.resolve(a0.name(), a0.labels()).is_some());
            assert!(store.is_firing(&alert("A", 1)));
            assert!(!store.is_firing(&a0));
            let sent = store.flush(&routes, &receivers, &[], start + Duration::from_secs(30));
            let (a, b) = if group_by == ["alertname"] {
                ("{alertname=\"A\"}", "{alertname=\"B\"}")
            } else {
                (
                    "{alertname=\"A\", instance=\"1\", severity=\"warning\"}",
                    "{alertname=\"B\", instance=\"0\", severity=\"warning\"}",
                )
            };
            assert_eq!(
                seen(&sent),
                [
                    (a.to_string(), vec!["A{instance=\"1\"} firing".to_string()]),
                    (b.to_string(), vec!["B{instance=\"0\"} firing".to_string()]),
                ]
            );
            // A resolve of one colliding alert leaves the others firing.
            let b0 = alert("B", 0);
            assert!(store.resolve(b0.name(), b0.labels()).is_some());
            let sent = store.flush(&routes, &receivers, &[], start + Duration::from_secs(330));
            assert_eq!(
                seen(&sent),
                [(
                    b.to_string(),
                    vec!["B{instance=\"0\"} resolved".to_string()]
                )]
            );
            assert_eq!(sizes(&mut store), (1, 1, 1, 2));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn inhibition_holds_when_every_fingerprint_collides() {
        let routes = vec![
            Route::builder("d")
                .group_wait(Duration::ZERO)
                .build()
                .unwrap(),
        ];
        let inhibit = vec![
            InhibitRule::new(
                [Matcher::equal("alertname", "Down").unwrap()],
                [Matcher::equal("alertname", "Slow").unwrap()],
                ["service"],
            )
            .unwrap(),
        ];
        let mut store = Store::new(10, 10, 10);
        store.hash_mask = 0;
        let now = Instant::now();
        let service =
            |name: &str, s: &str| Alert::new(name, Severity::Warning).with_label("service", s);
        for alert in [
            service("Down", "db"),
            service("Slow", "db"),
            service("Slow", "api"),
        ] {
            store.raise(&routes, alert, now).unwrap();
        }
        let mut muted: Vec<(String, bool)> = store
            .active(&inhibit, now)
            .into_iter()
            .map(|(a, _, inhibited)| {
                (
                    format!("{}{}", a.name(), labels_text(a.labels())),
                    inhibited,
                )
            })
            .collect();
        muted.sort();
        assert_eq!(
            muted,
            [
                ("Down{service=\"db\"}".to_string(), false),
                ("Slow{service=\"api\"}".to_string(), false),
                ("Slow{service=\"db\"}".to_string(), true),
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn evictions_free_everything_and_stale_bookkeeping_is_pruned() {
        // Every alert its own group: evicting a resolved alert empties its group at once.
        let routes = vec![
            Route::builder("d")
                .group_by(["..."])
                .group_wait(Duration::from_secs(30))
                .build()
                .unwrap(),
        ];
        let mut store = Store::new(100, 10, 10);
        let now = Instant::now();
        for i in 0..10_000 {
            let a = alert("A", i);
            store.raise(&routes, a.clone(), now).unwrap();
            store.resolve(a.name(), a.labels()).unwrap();
            // A second episode and resolve leave a stale place in the eviction queue.
            store.raise(&routes, a.clone(), now).unwrap();
            store.resolve(a.name(), a.labels()).unwrap();
        }
        let s = store.sizes(now);
        assert_eq!((s.firing, s.resolved_waiting, s.groups), (0, 100, 100));
        assert_eq!(s.evicted, 9_900);
        assert!(s.scheduled_flushes <= 2 * 100 + 64, "{s:?}");
        assert!(s.resolved_queue <= 2 * 100 + 64, "{s:?}");
        assert_eq!(s.index_entries, 200);
        assert_eq!(s.history, 10);
    }

    #[tokio::test(start_paused = true)]
    async fn silences_are_capped_and_ended_ones_purged_on_insert() {
        let mut store = Store::new(10, 10, 2);
        let now = Instant::now();
        let silence = |secs| {
            Silence::builder()
                .matcher(Matcher::equal("a", "b").unwrap())
                .duration(Duration::from_secs(secs))
                .build()
                .unwrap()
        };
        store.add_silence(silence(10), now).unwrap();
        store.add_silence(silence(20), now).unwrap();
        assert_eq!(
            store.add_silence(silence(10), now),
            Err(AlertError::TooManySilences { limit: 2 })
        );
        // The first has ended by 10 s: no flush ran, yet it no longer counts.
        let later = now + Duration::from_secs(10);
        assert!(store.add_silence(silence(10), later).is_ok());
        assert_eq!(store.sizes(later).silences, 2);
    }
}
