//! The PostgreSQL token-check cache: recently accepted checks kept in
//! memory, bounded in entries and bytes, keyed by digest, so that a check is
//! a lookup here instead of a round trip to the database.
//!
//! It is only as good as its invalidation, so it serves nothing unless the
//! listening connection is up (every write that ends or changes a token or
//! its user announces it: see `db::notifications`) and this instance holds
//! a lease, proof that it has applied every announcement lately (see
//! [`super::revocation_sync`]), and empties itself whenever that connection
//! is lost. An entry is also dropped after
//! `TOKEN_CACHE_TTL`, and one whose expiry has passed is read again.
//!
//! A check read from the database is cached only if nothing was evicted
//! while it was being read: an eviction heard in between may be for it.
//!
//! Touches (last use, sliding expiry) wait here and are written in batches,
//! one statement each, by [`TokenCache::flush_touches`].

use super::revocation_sync::Lease;
use super::touch_writes::Touch;
use crate::db::cache_instances;
use crate::db::notifications::{self, Eviction, Heard};
use crate::db::tokens::{self, TokenOwner};
use crate::db::AnyConnection;
use crate::domain::principal::Principal;
use crate::domain::{Scopes, Timestamp, TokenDigest};
use crate::metrics::Metrics;
use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the cache is built with.
#[derive(Debug, Clone, Copy)]
pub struct CacheLimits {
    pub ttl: Duration,
    pub max_entries: u64,
    pub max_bytes: u64,
}

#[derive(Debug)]
struct Entry {
    owner: TokenOwner,
    cached_at: Instant,
    /// What a caller makes of the entry for every check it serves (forward
    /// auth's identity headers), made by the first: see [`TokenCache::derived`].
    derived: Option<Derived>,
}

/// A value made from a cached entry, of the type its caller chose, and
/// what it costs in memory.
#[derive(Debug, Clone)]
struct Derived {
    value: Arc<dyn Any + Send + Sync>,
    bytes: u64,
}

/// What an entry costs in memory besides its texts, in bytes: its shared
/// allocation (the `Entry` and the `Arc`'s counts) and the cache's slot
/// for it (key, pointer, links, its share of the index and of the ghosts
/// that remember evicted keys), the slot of a derived value included (the
/// value itself is charged when made). Measured (`cache_entry_cost.rs`): a
/// full cache under churn grows by 562 bytes an entry whose texts take 96
/// (525 before entries had that slot), so this charges 592 for it.
pub const ENTRY_BYTES: u64 = 496;

impl Entry {
    /// What caching `owner` costs, texts included, as the allocator
    /// rounds each one (a header of 8 bytes, then blocks of 16, 32 at least).
    fn bytes_of(owner: &TokenOwner) -> u64 {
        let heap = |text: &str| match text.len() as u64 {
            0 => 0,
            len => (len + 8).next_multiple_of(16).max(32),
        };
        ENTRY_BYTES
            + heap(&owner.client)
            + heap(&owner.scopes)
            + heap(&owner.username)
            + heap(&owner.email)
            + owner.dpop_jkt.as_deref().map_or(0, heap)
    }
}

/// Weighs an entry by its bytes, but never under `floor` (the byte budget
/// over the entry budget), so that both bounds hold at once.
#[derive(Debug, Clone)]
struct Weight {
    floor: u64,
}

impl quick_cache::Weighter<TokenDigest, Arc<Entry>> for Weight {
    fn weight(&self, _: &TokenDigest, entry: &Arc<Entry>) -> u64 {
        let derived = entry.derived.as_ref().map_or(0, |derived| derived.bytes);
        (Entry::bytes_of(&entry.owner) + derived).max(self.floor)
    }
}

struct Inner {
    entries: quick_cache::sync::Cache<TokenDigest, Arc<Entry>, Weight>,
    ttl: Duration,
    /// Bumped by every eviction heard and every change of the listener's state.
    generation: AtomicU64,
    listening: AtomicBool,
    /// Whether the listener's loss has been logged since it last listened:
    /// it retries twice a second while the database is down.
    loss_logged: AtomicBool,
    lease: Arc<Lease>,
    /// Due touches by token id, each with its key's digest (to evict the
    /// entry if the write fails).
    pending: Mutex<HashMap<i64, (TokenDigest, Touch)>>,
    metrics: Metrics,
}

#[derive(Clone)]
pub struct TokenCache {
    inner: Arc<Inner>,
}

/// Touches are written at least this often (by `jobs::write_touches`,
/// started beside the listener, [`TokenCache::listen`]).
pub const FLUSH_EVERY: Duration = Duration::from_millis(1000);

impl TokenCache {
    pub fn new(limits: CacheLimits, lease: Arc<Lease>, metrics: Metrics) -> Self {
        let max_entries = limits.max_entries.max(1);
        let floor = (limits.max_bytes / max_entries).max(1);
        let estimated = usize::try_from(max_entries.min(1 << 20)).unwrap_or(1 << 20);
        TokenCache {
            inner: Arc::new(Inner {
                entries: quick_cache::sync::Cache::with_weighter(
                    estimated,
                    limits.max_bytes.max(floor),
                    Weight { floor },
                ),
                ttl: limits.ttl,
                generation: AtomicU64::new(0),
                listening: AtomicBool::new(false),
                loss_logged: AtomicBool::new(false),
                lease,
                pending: Mutex::new(HashMap::new()),
                metrics,
            }),
        }
    }

    /// The cached check of `digest`, if the cache may serve at all (it
    /// listens, and holds a lease) and the entry is younger than the TTL.
    pub fn get(&self, digest: &TokenDigest) -> Option<TokenOwner> {
        let inner = &self.inner;
        if !inner.listening.load(Ordering::SeqCst) || !inner.lease.holds() {
            return None;
        }
        let found = inner
            .entries
            .get(digest)
            .filter(|entry| entry.cached_at.elapsed() < inner.ttl);
        inner.metrics.token_cache_lookup(found.is_some());
        found.map(|entry| entry.owner.clone())
    }

    /// `make()`, made once for the entry `principal` was read from and kept
    /// with it (charged `bytes` of the cache's budget), so that every check
    /// the entry serves shares it; `None` when no entry holds exactly what
    /// `principal` shows (not cached, or replaced since), as what is derived
    /// must be `principal`'s own.
    pub fn derived<T: Any + Send + Sync>(
        &self,
        principal: &Principal,
        make: impl FnOnce() -> T,
        bytes: impl FnOnce(&T) -> u64,
    ) -> Option<Arc<T>> {
        let inner = &self.inner;
        let generation = self.generation();
        let entry = inner.entries.peek(&principal.digest)?;
        if !shows(&entry.owner, principal) {
            return None;
        }
        if let Some(derived) = &entry.derived {
            // Another caller's type: theirs stays, this one is not kept.
            return derived.value.clone().downcast::<T>().ok();
        }
        let made = Arc::new(make());
        // A new entry, not the old one changed: the cache weighs an entry
        // again when it leaves, and must find the weight it was charged.
        let updated = Arc::new(Entry {
            owner: entry.owner.clone(),
            cached_at: entry.cached_at,
            derived: Some(Derived {
                bytes: bytes(&made),
                value: made.clone(),
            }),
        });
        // Over the entry just read only, as in `insert`: an eviction wins.
        if inner
            .entries
            .replace(principal.digest, updated, true)
            .is_ok()
            && self.generation() != generation
        {
            inner.entries.remove(&principal.digest);
        }
        Some(made)
    }

    /// Where reads that may be cached start from: see [`Self::insert`].
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::SeqCst)
    }

    /// Caches an accepted check read at `generation`, unless something was
    /// evicted since. The generation is looked at again after the insert:
    /// an eviction that came in between bumped it first, so either it
    /// removes this entry or this call does.
    pub fn insert(&self, generation: u64, digest: TokenDigest, owner: TokenOwner) {
        let inner = &self.inner;
        if !inner.listening.load(Ordering::SeqCst) || self.generation() != generation {
            return;
        }
        let entry = Arc::new(Entry {
            owner,
            cached_at: Instant::now(),
            derived: None,
        });
        inner.entries.insert(digest, entry);
        if self.generation() != generation {
            inner.entries.remove(&digest);
        }
    }

    /// Records a due touch, and shows it in the cached entry at once (so
    /// that it is not due again, and `expires_at` is the slid one).
    pub fn touch(&self, digest: TokenDigest, touch: Touch) {
        let inner = &self.inner;
        if let Ok(mut pending) = inner.pending.lock() {
            pending.entry(touch.token_id).or_insert((digest, touch));
        }
        if let Some(entry) = inner.entries.peek(&digest) {
            let mut owner = entry.owner.clone();
            owner.last_used_at = touch.now.millis();
            owner.expires_at = owner.expires_at.max(touch.expires_at.millis());
            // The last use and the expiry are in nothing derived.
            let updated = Arc::new(Entry {
                owner,
                cached_at: entry.cached_at,
                derived: entry.derived.clone(),
            });
            // Only over the entry just read: an eviction in between wins.
            let _ = inner.entries.replace(digest, updated, true);
        }
    }

    /// The expiry a waiting touch gives the token, if one waits.
    pub fn pending_expiry(&self, token_id: i64) -> Option<Timestamp> {
        let pending = self.inner.pending.lock().ok()?;
        pending.get(&token_id).map(|(_, touch)| touch.expires_at)
    }

    /// Writes every waiting touch, in statements of up to 1,000 tokens. On
    /// failure the touches are dropped and their entries evicted, so that
    /// no entry shows an expiry the database does not have.
    pub fn flush_touches(&self, conn: &mut AnyConnection) -> Result<usize, diesel::result::Error> {
        let touches: Vec<(TokenDigest, Touch)> = match self.inner.pending.lock() {
            Ok(mut pending) => pending.drain().map(|(_, pending)| pending).collect(),
            Err(_) => return Ok(0),
        };
        let mut written = 0;
        for batch in touches.chunks(1000) {
            let rows: Vec<tokens::TouchRow> = batch.iter().map(|(_, touch)| touch.row()).collect();
            match tokens::touch_batch(conn, &rows) {
                Ok(count) => written += count,
                Err(error) => {
                    for (digest, _) in &touches {
                        self.inner.entries.remove(digest);
                    }
                    return Err(error);
                }
            }
        }
        Ok(written)
    }

    /// Whether touches wait to be written.
    pub fn has_pending_touches(&self) -> bool {
        self.inner
            .pending
            .lock()
            .map(|pending| !pending.is_empty())
            .unwrap_or(false)
    }

    /// Evicts what this instance's own writes on `conn` announced, before
    /// their answer goes out: its next request must not be served from a
    /// stale entry, whenever its own notification arrives. Answers the
    /// number of the last announcing transaction, for the wait for the
    /// other instances ([`super::revocation_sync::RevocationSync::wait`]).
    pub fn evict_own_writes(&self, conn: &mut AnyConnection) -> Option<i64> {
        match cache_instances::take_announced(conn) {
            Ok((evicted, seq)) => {
                match notifications::parse_all(&evicted) {
                    Some(evictions) => evictions.into_iter().for_each(|e| self.evict(e)),
                    None => self.reset(),
                }
                seq
            }
            Err(error) => {
                log::warn!("token cache emptied: cannot read this connection's evictions: {error}");
                self.reset();
                Some(super::revocation_sync::UNKNOWN)
            }
        }
    }

    /// Whether, and until when, this instance may trust this cache.
    pub fn lease(&self) -> Arc<Lease> {
        self.inner.lease.clone()
    }

    fn evict(&self, eviction: Eviction) {
        let inner = &self.inner;
        inner.generation.fetch_add(1, Ordering::SeqCst);
        match eviction {
            Eviction::Token(digest) => {
                inner.entries.remove(&TokenDigest(digest));
            }
            Eviction::User(user_id) => inner
                .entries
                .retain(|_, entry| entry.owner.user_id != user_id),
        }
    }

    fn reset(&self) {
        self.inner.generation.fetch_add(1, Ordering::SeqCst);
        self.inner.entries.clear();
    }

    fn heard(&self, heard: Heard) {
        let inner = &self.inner;
        match heard {
            Heard::Listening { instance } => {
                // Entries read while nothing was heard are not trusted.
                self.reset();
                inner.lease.registered(instance);
                inner.listening.store(true, Ordering::SeqCst);
                inner.loss_logged.store(false, Ordering::SeqCst);
                inner.metrics.token_cache_listening(true);
                log::info!("token cache: listening for invalidations");
            }
            Heard::Eviction(eviction) => self.evict(eviction),
            Heard::Skipped => self.reset(),
            Heard::Current { sent } => inner.lease.renew(sent),
            Heard::Lost(reason) => {
                let was_listening = inner.listening.swap(false, Ordering::SeqCst);
                inner.lease.end();
                self.reset();
                inner.metrics.token_cache_listening(false);
                if was_listening {
                    inner.metrics.token_cache_lost();
                }
                if inner.loss_logged.swap(true, Ordering::SeqCst) {
                    log::debug!("token cache still off: {reason}");
                } else {
                    log::warn!(
                        "token cache off, checks go to the database: invalidations cannot be heard ({reason})"
                    );
                }
            }
        }
    }

    /// Listens for invalidations on its own connection to `url` for as
    /// long as the server runs.
    pub async fn listen(self, url: String) {
        let beat = self.inner.lease.heartbeat_every();
        notifications::listen(url, beat, move |heard| {
            self.heard(heard);
            true
        })
        .await;
    }
}

/// Whether `principal` is what `owner` shows of the token and its user.
fn shows(owner: &TokenOwner, principal: &Principal) -> bool {
    owner.token_id == principal.token_id
        && owner.user_id == principal.user_id
        && owner.is_admin == principal.is_admin
        && owner.is_service == principal.is_service
        && owner.two_factor == principal.two_factor
        && owner.email_verified == principal.email_verified
        && owner.username == principal.username
        && owner.email == principal.email
        && owner.client == principal.client
        && owner.dpop_jkt == principal.dpop_jkt
        && Scopes::from_stored(&owner.scopes) == principal.scopes
}

#[cfg(test)]
#[path = "cache_entry_cost.rs"]
mod entry_cost;
/// What some work's writes on `conn` announced, evicted from this
/// instance's `cache` first if it has one; read only if `tracked` (on
/// PostgreSQL) otherwise.
pub fn own_writes(
    conn: &mut AnyConnection,
    cache: Option<&TokenCache>,
    tracked: bool,
) -> Option<i64> {
    match cache {
        Some(cache) => cache.evict_own_writes(conn),
        None if tracked => super::revocation_sync::announced(conn),
        None => None,
    }
}

#[cfg(test)]
mod derived_tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn cache() -> TokenCache {
        let metrics = Metrics::new().unwrap_or_else(|e| panic!("{e}"));
        let limits = CacheLimits {
            ttl: Duration::from_secs(60),
            // A floor per entry (bytes over entries) of 10 bytes: the
            // weight is the entry's own.
            max_entries: 100_000,
            max_bytes: 1_000_000,
        };
        let lease = Arc::new(Lease::new(Duration::from_secs(1), metrics.clone()));
        let cache = TokenCache::new(limits, lease, metrics);
        cache.inner.listening.store(true, Ordering::SeqCst);
        cache
    }

    /// A cached token's row, as the entry-cost measure varies it.
    pub(super) fn owner() -> TokenOwner {
        TokenOwner {
            token_id: 7,
            client: "web".to_owned(),
            scopes: "read:a write:b".to_owned(),
            created_at: 1_765_000_000_000,
            last_used_at: 1_765_000_000_000,
            expires_at: 1_766_000_000_000,
            user_id: 3,
            username: "alice".to_owned(),
            email: "alice@example.com".to_owned(),
            is_active: true,
            is_admin: false,
            is_service: false,
            two_factor: false,
            email_verified: true,
            dpop_jkt: None,
        }
    }

    #[test]
    fn a_derived_value_is_made_once_per_entry_and_only_for_what_it_shows() {
        let cache = cache();
        let digest = TokenDigest([1; 32]);
        let row = owner();
        let expires_at = Timestamp(row.expires_at);
        let principal = row.into_principal(digest, expires_at);
        let made = AtomicUsize::new(0);
        let derive = |principal: &Principal| {
            cache.derived(
                principal,
                || {
                    made.fetch_add(1, Ordering::SeqCst);
                    principal.username.clone()
                },
                |_| 100,
            )
        };
        assert!(derive(&principal).is_none(), "nothing cached yet");
        assert_eq!(made.load(Ordering::SeqCst), 0);

        cache.insert(cache.generation(), digest, owner());
        let weight_before = cache.inner.entries.weight();
        let first = derive(&principal).expect("made for the cached entry");
        let second = derive(&principal).expect("kept with the entry");
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(made.load(Ordering::SeqCst), 1);
        assert_eq!(
            cache.inner.entries.weight(),
            weight_before + 100,
            "what is kept is charged"
        );

        // A touch replaces the entry; what was derived goes with it.
        cache.touch(
            digest,
            Touch {
                token_id: 7,
                now: Timestamp(1_765_000_100_000),
                expires_at: Timestamp(1_766_000_100_000),
                touched_before: Timestamp(1_765_000_040_000),
                from: None,
            },
        );
        let touched = derive(&principal).expect("still kept");
        assert!(Arc::ptr_eq(&first, &touched));

        // A principal the entry does not show gets nothing from it.
        for changed in [
            Principal {
                email: "alice@example.org".to_owned(),
                ..principal.clone()
            },
            Principal {
                is_admin: true,
                ..principal.clone()
            },
            Principal {
                scopes: Scopes::from_stored("read:a"),
                ..principal.clone()
            },
            Principal {
                token_id: 8,
                ..principal.clone()
            },
        ] {
            assert!(derive(&changed).is_none(), "{changed:?}");
        }

        // Another type asked of the same entry is not kept in its place.
        let other = cache.derived(&principal, || 5_u8, |_| 1);
        assert!(other.is_none());

        cache.evict(Eviction::User(3));
        assert!(derive(&principal).is_none(), "evicted with its user");
        assert_eq!(made.load(Ordering::SeqCst), 1);
    }
}
