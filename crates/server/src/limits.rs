//! Fair limits: what one user or one source address may hold, beside the global
//! backstops, so that no single client can take the service away from the others.
//!
//! - [`Quota`]: at most N of something (connections, event streams, argon2 checks) per key
//!   (a user name, or a source address from [`source_key`]), released when the guard drops.
//! - [`WorkSlots`]: the blocking threads that run queries. Each user may run a few at a
//!   time and waits in a FIFO queue for more; every request also takes one of the global
//!   slots, so one user's slow queries never hold all of them.
//! - [`AuthThrottle`]: password guessing. Failures are counted per address and per user
//!   name; past a few free ones, each further failure doubles the time during which that
//!   address gets `429` without a password check. A user name under attack from many
//!   addresses is blocked the same way, but only for the addresses that have failed for
//!   it and never logged in as it: its owner, logging in from elsewhere, is not delayed.
//! - [`RefusalLog`]: a refusal is logged once per cause per interval, with the count of
//!   the others, not once per connection.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The key a source address is counted under: the address itself for IPv4, its /64
/// network for IPv6 (one host can use a whole /64), and the IPv4 address of an
/// IPv4-mapped IPv6 address.
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut s = v6.segments();
                s[4..].fill(0);
                IpAddr::V6(s.into())
            }
        },
    }
}

/// At most `per_key` of something per key.
pub struct Quota<K> {
    per_key: usize,
    held: Mutex<HashMap<K, usize>>,
}

/// One unit of a [`Quota`], given back on drop.
pub struct QuotaGuard<K: Hash + Eq> {
    quota: Arc<Quota<K>>,
    key: K,
}

impl<K: Hash + Eq + Clone> Quota<K> {
    /// A quota of `per_key` (at least 1) per key.
    pub fn new(per_key: usize) -> Arc<Quota<K>> {
        Arc::new(Quota {
            per_key: per_key.max(1),
            held: Mutex::new(HashMap::new()),
        })
    }

    /// The limit per key.
    pub fn per_key(&self) -> usize {
        self.per_key
    }

    /// One unit for `key`, or `None` when `key` holds all of its share.
    pub fn try_acquire(self: &Arc<Self>, key: &K) -> Option<QuotaGuard<K>> {
        let mut held = lock(&self.held);
        let n = held.entry(key.clone()).or_insert(0);
        if *n >= self.per_key {
            return None;
        }
        *n += 1;
        Some(QuotaGuard {
            quota: self.clone(),
            key: key.clone(),
        })
    }

    /// How many units `key` holds.
    pub fn held(&self, key: &K) -> usize {
        lock(&self.held).get(key).copied().unwrap_or(0)
    }
}

impl<K: Hash + Eq> Drop for QuotaGuard<K> {
    fn drop(&mut self) {
        let mut held = lock(&self.quota.held);
        if let Some(n) = held.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.key);
            }
        }
    }
}

/// A FIFO queue per key in front of a shared pool: each key may hold `per_key` of the
/// pool's `total` permits at once and waits for more in arrival order.
pub struct WorkSlots<K> {
    total: Arc<Semaphore>,
    per_key: usize,
    queues: Mutex<HashMap<K, Arc<Semaphore>>>,
}

/// The two permits of a running request.
pub struct WorkPermit {
    _own: OwnedSemaphorePermit,
    _shared: OwnedSemaphorePermit,
}

/// How many idle per-key queues are kept before they are swept.
const IDLE_QUEUES: usize = 1024;

impl<K: Hash + Eq + Clone> WorkSlots<K> {
    /// `total` permits, at most `per_key` (at most `total`) for any one key.
    pub fn new(total: usize, per_key: usize) -> WorkSlots<K> {
        let total = total.max(1);
        WorkSlots {
            total: Arc::new(Semaphore::new(total)),
            per_key: per_key.clamp(1, total),
            queues: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for `key`'s turn and a shared permit.
    pub async fn acquire(&self, key: &K) -> WorkPermit {
        let queue = {
            let mut queues = lock(&self.queues);
            if queues.len() > IDLE_QUEUES {
                // Nobody holds or waits for an idle queue's semaphore but this map.
                let per_key = self.per_key;
                queues.retain(|_, q| Arc::strong_count(q) > 1 || q.available_permits() != per_key);
            }
            queues
                .entry(key.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_key)))
                .clone()
        };
        // Neither semaphore is ever closed.
        let own = queue.acquire_owned().await.expect("never closed");
        let shared = self
            .total
            .clone()
            .acquire_owned()
            .await
            .expect("never closed");
        WorkPermit {
            _own: own,
            _shared: shared,
        }
    }
}

/// How password guessing is slowed down.
#[derive(Clone, Copy, Debug)]
pub struct ThrottleLimits {
    /// Failures from one address before it is throttled.
    pub free_per_address: u32,
    /// Failures for one user name (from any address) before it is throttled.
    pub free_per_user: u32,
    /// The first block; each further failure doubles it.
    pub first_block: Duration,
    /// The longest block.
    pub max_block: Duration,
    /// Failures older than this (since the last one) are forgotten.
    pub forget_after: Duration,
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        ThrottleLimits {
            free_per_address: 10,
            free_per_user: 20,
            first_block: Duration::from_secs(1),
            max_block: Duration::from_secs(300),
            forget_after: Duration::from_secs(900),
        }
    }
}

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    blocked_until: Option<Instant>,
}

impl Failures {
    fn blocked(&self, now: Instant) -> Option<Duration> {
        self.blocked_until
            .filter(|&t| t > now)
            .map(|t| t.saturating_duration_since(now))
    }

    /// Counts one more failure; past `free`, blocks for a doubling time.
    fn add(&mut self, now: Instant, free: u32, limits: &ThrottleLimits) {
        if now.saturating_duration_since(self.last) > limits.forget_after {
            self.count = 0;
        }
        self.count = self.count.saturating_add(1);
        self.last = now;
        if self.count > free {
            let doublings = (self.count - free - 1).min(20);
            let block = limits
                .first_block
                .saturating_mul(1 << doublings)
                .min(limits.max_block);
            self.blocked_until = Some(now + block);
        }
    }
}

/// Most entries kept in each table; beyond, forgotten entries go first, then unblocked
/// ones (a flood of random names or addresses must not grow memory without bound).
const THROTTLE_ENTRIES: usize = 65_536;
/// Addresses remembered per user (as having failed, as having logged in).
const ADDRESSES_PER_USER: usize = 256;

#[derive(Default)]
struct Tables {
    by_address: HashMap<IpAddr, Failures>,
    by_user: HashMap<String, Failures>,
    /// Per user, the addresses that failed to log in as it lately: a block on the user
    /// name applies to them.
    failed_from: HashMap<String, AddressLog>,
    /// Per user, the addresses that logged in as it lately: a block on the user name
    /// never applies to them.
    known: HashMap<String, AddressLog>,
}

/// Recent addresses, at most [`ADDRESSES_PER_USER`], the oldest forgotten first.
#[derive(Default)]
struct AddressLog(Vec<(IpAddr, Instant)>);

impl AddressLog {
    fn add(&mut self, ip: IpAddr, now: Instant) {
        self.0.retain(|(a, _)| *a != ip);
        if self.0.len() >= ADDRESSES_PER_USER {
            self.0.remove(0);
        }
        self.0.push((ip, now));
    }

    fn has(&self, ip: IpAddr, now: Instant, within: Duration) -> bool {
        (self.0.iter()).any(|(a, at)| *a == ip && now.saturating_duration_since(*at) <= within)
    }
}

fn log_address(logs: &mut HashMap<String, AddressLog>, user: &str, ip: IpAddr, now: Instant) {
    if logs.len() >= THROTTLE_ENTRIES && !logs.contains_key(user) {
        logs.clear();
    }
    logs.entry(user.to_owned()).or_default().add(ip, now);
}

/// Why an attempt is refused without a password check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Throttled {
    /// Too many failures from this address.
    Address(Duration),
    /// Too many failures for this user name, from addresses it was not used from.
    User(Duration),
}

impl Throttled {
    /// How long until another attempt is accepted.
    pub fn retry_after(self) -> Duration {
        match self {
            Throttled::Address(d) | Throttled::User(d) => d,
        }
    }
}

/// Counts authentication failures per address and per user name.
pub struct AuthThrottle {
    limits: ThrottleLimits,
    tables: Mutex<Tables>,
}

fn prune<K: Hash + Eq>(map: &mut HashMap<K, Failures>, now: Instant, forget: Duration) {
    if map.len() < THROTTLE_ENTRIES {
        return;
    }
    map.retain(|_, f| now.saturating_duration_since(f.last) <= forget);
    if map.len() >= THROTTLE_ENTRIES {
        map.retain(|_, f| f.blocked(now).is_some());
    }
    if map.len() >= THROTTLE_ENTRIES {
        map.clear();
    }
}

impl AuthThrottle {
    /// A throttle with these limits.
    pub fn new(limits: ThrottleLimits) -> AuthThrottle {
        AuthThrottle {
            limits,
            tables: Mutex::new(Tables::default()),
        }
    }

    /// Whether an attempt from `source` (a [`source_key`]) as `user` may be checked now.
    pub fn check(&self, source: IpAddr, user: &str, now: Instant) -> Result<(), Throttled> {
        let t = lock(&self.tables);
        if let Some(d) = t.by_address.get(&source).and_then(|f| f.blocked(now)) {
            return Err(Throttled::Address(d));
        }
        if let Some(d) = t.by_user.get(user).and_then(|f| f.blocked(now)) {
            let forget = self.limits.forget_after;
            let seen = |logs: &HashMap<String, AddressLog>| {
                logs.get(user).is_some_and(|l| l.has(source, now, forget))
            };
            if seen(&t.failed_from) && !seen(&t.known) {
                return Err(Throttled::User(d));
            }
        }
        Ok(())
    }

    /// Records a failed check.
    pub fn failed(&self, source: IpAddr, user: &str, now: Instant) {
        let mut t = lock(&self.tables);
        let limits = self.limits;
        let fresh = Failures {
            count: 0,
            last: now,
            blocked_until: None,
        };
        prune(&mut t.by_address, now, limits.forget_after);
        (t.by_address.entry(source).or_insert(fresh)).add(now, limits.free_per_address, &limits);
        prune(&mut t.by_user, now, limits.forget_after);
        (t.by_user.entry(user.to_owned()).or_insert(fresh)).add(now, limits.free_per_user, &limits);
        log_address(&mut t.failed_from, user, source, now);
    }

    /// Records a successful check: `source` is now known for `user`. Failure counts are
    /// not reset (an attacker with one valid account must not be able to wipe its record
    /// by logging in between guesses); they are forgotten with time.
    pub fn succeeded(&self, source: IpAddr, user: &str, now: Instant) {
        log_address(&mut lock(&self.tables).known, user, source, now);
    }
}

/// Logs refusals once per cause per interval: the first at once, the rest as a count
/// with the next one after the interval.
pub struct RefusalLog {
    interval: Duration,
    causes: Mutex<HashMap<&'static str, (Instant, u64)>>,
}

impl RefusalLog {
    /// Logs each cause at most once per `interval`.
    pub fn new(interval: Duration) -> RefusalLog {
        RefusalLog {
            interval,
            causes: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a refusal for `cause`; returns the number of refusals to report now
    /// (this one and those held back since the last report), or `None` to stay quiet.
    pub fn note(&self, cause: &'static str, now: Instant) -> Option<u64> {
        let mut causes = lock(&self.causes);
        match causes.get_mut(cause) {
            Some((last, held)) if now.saturating_duration_since(*last) < self.interval => {
                *held += 1;
                None
            }
            Some((last, held)) => {
                let n = *held + 1;
                *last = now;
                *held = 0;
                Some(n)
            }
            None => {
                causes.insert(cause, (now, 0));
                Some(1)
            }
        }
    }

    /// Logs a refusal (at WARN) unless one for the same cause was logged lately.
    pub fn refuse(&self, cause: &'static str, detail: std::fmt::Arguments<'_>) {
        if let Some(n) = self.note(cause, Instant::now()) {
            if n == 1 {
                tracing::warn!(target: "linmgmt::limits", cause, "refused: {detail}");
            } else {
                tracing::warn!(target: "linmgmt::limits", cause, refusals = n,
                    "refused {n} times since the last report (latest: {detail})");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(source_key(a), source_key(b));
        assert_ne!(source_key(a), source_key(c));
        let mapped: IpAddr = "::ffff:127.0.0.2".parse().unwrap();
        assert_eq!(source_key(mapped), "127.0.0.2".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn quotas_are_per_key_and_released_on_drop() {
        let q = Quota::new(2);
        let a1 = q.try_acquire(&"a").unwrap();
        let _a2 = q.try_acquire(&"a").unwrap();
        assert!(q.try_acquire(&"a").is_none());
        let _b = q.try_acquire(&"b").expect("another key has its own share");
        drop(a1);
        assert_eq!(q.held(&"a"), 1);
        assert!(q.try_acquire(&"a").is_some());
    }

    #[tokio::test]
    async fn one_key_cannot_hold_every_work_slot() {
        let slots = WorkSlots::new(4, 2);
        let _x1 = slots.acquire(&"x").await;
        let _x2 = slots.acquire(&"x").await;
        // x's third request waits for x's own turn, not for the pool ...
        let third = tokio::time::timeout(Duration::from_millis(50), slots.acquire(&"x")).await;
        assert!(third.is_err());
        // ... which still has room for someone else.
        let y = tokio::time::timeout(Duration::from_millis(50), slots.acquire(&"y")).await;
        assert!(y.is_ok());
    }

    #[test]
    fn failures_block_for_doubling_times_and_spare_known_addresses() {
        let limits = ThrottleLimits {
            free_per_address: 3,
            free_per_user: 4,
            ..ThrottleLimits::default()
        };
        let t = AuthThrottle::new(limits);
        let now = Instant::now();
        let attacker: IpAddr = "127.0.0.2".parse().unwrap();
        let owner: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "127.0.0.3".parse().unwrap();
        t.succeeded(owner, "admin", now);
        for _ in 0..3 {
            assert_eq!(t.check(attacker, "admin", now), Ok(()));
            t.failed(attacker, "admin", now);
        }
        // The fourth failure blocks the address for 1 s, the fifth for 2 s.
        t.failed(attacker, "admin", now);
        assert_eq!(
            t.check(attacker, "admin", now),
            Err(Throttled::Address(Duration::from_secs(1)))
        );
        t.failed(attacker, "admin", now);
        assert_eq!(
            t.check(attacker, "admin", now),
            Err(Throttled::Address(Duration::from_secs(2)))
        );
        // Five failures for "admin" block the name for addresses that failed for it ...
        let helper: IpAddr = "127.0.0.4".parse().unwrap();
        t.failed(helper, "admin", now);
        assert_eq!(
            t.check(helper, "admin", now),
            Err(Throttled::User(Duration::from_secs(2)))
        );
        // ... not for its owner, even after a typo, nor for a first try from elsewhere.
        t.failed(owner, "admin", now);
        assert_eq!(t.check(owner, "admin", now), Ok(()));
        assert_eq!(t.check(other, "admin", now), Ok(()));
        assert_eq!(t.check(other, "someone", now), Ok(()));
        // Blocks end; old failures are forgotten.
        let later = now + Duration::from_secs(10);
        assert_eq!(t.check(attacker, "admin", later), Ok(()));
        let much_later = now + limits.forget_after + Duration::from_secs(1);
        t.failed(attacker, "admin", much_later);
        assert_eq!(t.check(attacker, "admin", much_later), Ok(()));
    }

    #[test]
    fn refusals_are_logged_once_per_cause_per_interval() {
        let log = RefusalLog::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(log.note("connections", t0), Some(1));
        for i in 0..7442 {
            assert_eq!(log.note("connections", t0 + Duration::from_millis(i)), None);
        }
        assert_eq!(log.note("contexts", t0), Some(1));
        assert_eq!(
            log.note("connections", t0 + Duration::from_secs(11)),
            Some(7443)
        );
    }
}
