//! What one token and one connection may hold: their shares of the memory
//! budget, and the token's connections, requests in flight and exports.
//!
//! A request body is reserved whole before it is read, from the
//! connection's share, then the token's, then the global budget, always in
//! that order (so waiters never wait in a cycle), and released when its
//! answer has been written ([`Reserved`]). A connection can thus hold at
//! most its share, a token at most its share, and everyone else keeps the
//! rest of the budget.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, Semaphore};

use crate::limits::Limits;

fn permits(bytes: u64) -> usize {
    usize::try_from(bytes)
        .unwrap_or(usize::MAX)
        .min(Semaphore::MAX_PERMITS)
}

/// One token's quotas, shared by all its sessions.
pub(crate) struct TokenQuota {
    /// Bytes of request bodies its connections hold.
    pub memory: Semaphore,
    /// Its requests in flight.
    pub requests: Semaphore,
    /// Its authenticated connections.
    pub connections: AtomicU32,
    /// Its exports running.
    pub exports: Semaphore,
}

/// The quotas of every token seen, by token id (a token's entry lives as
/// long as the server: their number is the token file's).
#[derive(Default)]
pub(crate) struct Quotas {
    tokens: Mutex<HashMap<String, Arc<TokenQuota>>>,
}

impl Quotas {
    pub fn of(&self, token_id: &str, l: &Limits) -> Arc<TokenQuota> {
        let mut m = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(token_id.to_string())
            .or_insert_with(|| {
                Arc::new(TokenQuota {
                    memory: Semaphore::new(permits(l.token_memory_bytes)),
                    requests: Semaphore::new(l.max_requests_per_token as usize),
                    connections: AtomicU32::new(0),
                    exports: Semaphore::new(l.max_exports_per_token as usize),
                })
            })
            .clone()
    }
}

impl TokenQuota {
    /// Counts one more connection unless the token has `max`; the guard
    /// counts it off.
    pub fn connect(self: &Arc<Self>, max: u32) -> Option<Connected> {
        let r = self
            .connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            });
        r.ok().map(|_| Connected(self.clone()))
    }
}

/// A token's connection, counted while alive.
pub(crate) struct Connected(Arc<TokenQuota>);

impl Drop for Connected {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Bytes reserved from a connection's share, its token's share and the
/// global budget; given back when dropped.
pub(crate) struct Reserved<'a> {
    from: [&'a Semaphore; 3],
    bytes: u32,
}

impl<'a> Reserved<'a> {
    /// Waits until `bytes` are free in each of `from` (the connection's,
    /// the token's, the global budget, in that order); `None` once one of
    /// them is closed.
    pub async fn wait(from: [&'a Semaphore; 3], bytes: u32) -> Option<Reserved<'a>> {
        // Guards until all three are held: a wait cancelled half way (a
        // timeout) gives back what it had.
        let a = from[0].acquire_many(bytes).await.ok()?;
        let b = from[1].acquire_many(bytes).await.ok()?;
        let c = from[2].acquire_many(bytes).await.ok()?;
        a.forget();
        b.forget();
        c.forget();
        Some(Reserved { from, bytes })
    }
}

impl Reserved<'_> {
    /// Gives back all but `bytes`.
    pub fn shrink(&mut self, bytes: u32) {
        if bytes < self.bytes {
            for s in self.from {
                s.add_permits((self.bytes - bytes) as usize);
            }
            self.bytes = bytes;
        }
    }
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        if self.bytes > 0 {
            for s in self.from {
                s.add_permits(self.bytes as usize);
            }
        }
    }
}

/// Connections not yet authenticated, oldest first, with their IP
/// addresses. There are at most `max`, and at most `per_ip` from one
/// address ([`source`]: an IPv6 /64 is one): a new one evicts its address's oldest if its address has
/// `per_ip`, else the oldest of all if there are `max`. Connections that
/// never say `Hello` can thus delay a real client's handshake by at most
/// the time `max` newer attempts take to arrive, never refuse it; and
/// from one address they only ever evict their own.
pub(crate) struct Unauthenticated {
    max: usize,
    per_ip: usize,
    next: AtomicU64,
    queue: Mutex<VecDeque<Waiting>>,
}

/// The source an address is counted as: an IPv4 address (also written
/// as IPv4-mapped IPv6) itself, an IPv6 address by its /64 prefix (one
/// host commonly has a whole /64).
fn source(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

/// One unauthenticated connection: its id, address and eviction signal.
struct Waiting {
    id: u64,
    ip: IpAddr,
    evict: Arc<Notify>,
}

impl Unauthenticated {
    pub fn new(max: u32, per_ip: u32) -> Unauthenticated {
        Unauthenticated {
            max: (max as usize).max(1),
            per_ip: (per_ip as usize).max(1),
            next: AtomicU64::new(0),
            queue: Mutex::new(VecDeque::new()),
        }
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Waiting>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a new connection from `ip`, evicting its address's oldest
    /// or the oldest of all as needed; returns whether one was evicted.
    /// The pending connection ends its handshake when its
    /// [`Pending::evicted`] fires.
    pub fn enter(self: &Arc<Self>, ip: IpAddr) -> (Pending, bool) {
        let ip = source(ip);
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let evict = Arc::new(Notify::new());
        let mut q = self.lock();
        let mut evicted = false;
        if q.iter().filter(|w| w.ip == ip).count() >= self.per_ip
            && let Some(i) = q.iter().position(|w| w.ip == ip)
            && let Some(w) = q.remove(i)
        {
            w.evict.notify_one();
            evicted = true;
        }
        while q.len() >= self.max {
            if let Some(w) = q.pop_front() {
                w.evict.notify_one();
                evicted = true;
            }
        }
        q.push_back(Waiting {
            id,
            ip,
            evict: evict.clone(),
        });
        let p = Pending {
            id,
            notify: evict,
            all: self.clone(),
        };
        (p, evicted)
    }
}

/// A connection counted as unauthenticated until dropped.
pub(crate) struct Pending {
    id: u64,
    notify: Arc<Notify>,
    all: Arc<Unauthenticated>,
}

impl Pending {
    /// Resolves once a newer connection evicted this one.
    pub async fn evicted(&self) {
        self.notify.notified().await;
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let mut q = self.all.lock();
        if let Some(i) = q.iter().position(|w| w.id == self.id) {
            q.remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test may unwrap")]

    use super::*;

    /// Whether `wait` is still waiting 20 ms on (it is then dropped).
    async fn still_waiting<T>(wait: impl std::future::Future<Output = T>) -> bool {
        tokio::time::timeout(std::time::Duration::from_millis(20), wait)
            .await
            .is_err()
    }

    #[tokio::test]
    async fn reservations_come_back_and_shares_bound_each_holder() {
        let (conn, token, global) = (Semaphore::new(10), Semaphore::new(15), Semaphore::new(100));
        let a = Reserved::wait([&conn, &token, &global], 8).await.unwrap();
        // The connection's share is spent: a second body waits for it.
        assert!(still_waiting(Reserved::wait([&conn, &token, &global], 4)).await);
        assert_eq!(conn.available_permits(), 2);
        // A waiter cancelled after its connection's share gives it back.
        let other = Semaphore::new(10);
        assert!(still_waiting(Reserved::wait([&other, &token, &global], 9)).await);
        assert_eq!(other.available_permits(), 10);
        assert_eq!(token.available_permits(), 7);
        let mut a = a;
        a.shrink(3);
        assert_eq!(conn.available_permits(), 7);
        drop(a);
        assert_eq!(
            [
                conn.available_permits(),
                token.available_permits(),
                global.available_permits()
            ],
            [10, 15, 100]
        );
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    async fn was_evicted(p: &Pending) -> bool {
        !still_waiting(p.evicted()).await
    }

    #[tokio::test]
    async fn a_new_unauthenticated_connection_evicts_the_oldest() {
        let u = Arc::new(Unauthenticated::new(2, 2));
        let (a, e1) = u.enter(A);
        let (b, e2) = u.enter(B);
        assert!(!e1 && !e2);
        let (c, e3) = u.enter(B);
        assert!(e3);
        assert_eq!(u.len(), 2);
        // The oldest was told; the others were not.
        assert!(was_evicted(&a).await);
        assert!(!was_evicted(&b).await);
        drop(c);
        assert_eq!(u.len(), 1);
        drop((a, b));
        assert_eq!(u.len(), 0);
    }

    #[test]
    fn addresses_count_as_their_source() {
        let v6 = |s: &str| IpAddr::V6(s.parse().unwrap());
        assert_eq!(
            source(v6("2001:db8:1:2:aaaa::1")),
            source(v6("2001:db8:1:2::ffff"))
        );
        assert_ne!(source(v6("2001:db8:1:2::1")), source(v6("2001:db8:1:3::1")));
        assert_eq!(source(v6("::ffff:10.0.0.1")), A);
        assert_ne!(source(A), source(B));
    }

    #[tokio::test]
    async fn one_address_evicts_only_its_own() {
        let u = Arc::new(Unauthenticated::new(8, 3));
        let (b, _) = u.enter(B);
        let mut from_a = Vec::new();
        for i in 0..50 {
            let (p, evicted) = u.enter(A);
            assert_eq!(evicted, i >= 3, "attempt {i}");
            from_a.push(p);
        }
        // A holds its 3 newest; B's is untouched.
        assert_eq!(u.len(), 4);
        assert!(!was_evicted(&b).await);
        assert!(was_evicted(&from_a[46]).await);
        assert!(!was_evicted(&from_a[47]).await);
    }

    #[test]
    fn a_token_has_at_most_its_connections() {
        let q = Quotas::default();
        let t = q.of("t", &Limits::default());
        let a = t.connect(2).unwrap();
        let _b = t.connect(2).unwrap();
        assert!(t.connect(2).is_none());
        drop(a);
        assert!(t.connect(2).is_some());
    }
}
