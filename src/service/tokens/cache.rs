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
use crate::db::cache_instances;
use crate::db::notifications::{self, Eviction, Heard};
use crate::db::tokens::{self, TokenOwner};
use crate::db::AnyConnection;
use crate::domain::{Timestamp, TokenDigest};
use crate::metrics::Metrics;
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
}

/// What an entry costs in memory besides its texts, in bytes: its shared
/// allocation (the `Entry` and the `Arc`'s counts) and the cache's slot
/// for it (key, pointer, links, its share of the index and of the ghosts
/// that remember evicted keys). Measured (`cache_entry_cost.rs`): a full
/// cache under churn grows by 525 bytes an entry whose texts take 96, so
/// this charges 560 for it.
pub const ENTRY_BYTES: u64 = 464;

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
        Entry::bytes_of(&entry.owner).max(self.floor)
    }
}

/// A touch that is due, waiting for the next batch.
#[derive(Debug, Clone, Copy)]
pub struct PendingTouch {
    pub token_id: i64,
    pub digest: TokenDigest,
    pub used_at: Timestamp,
    pub expires_at: Timestamp,
    pub touched_before: Timestamp,
    /// Where the use came from, when known.
    pub from: Option<std::net::IpAddr>,
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
    pending: Mutex<HashMap<i64, PendingTouch>>,
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
        });
        inner.entries.insert(digest, entry);
        if self.generation() != generation {
            inner.entries.remove(&digest);
        }
    }

    /// Records a due touch, and shows it in the cached entry at once (so
    /// that it is not due again, and `expires_at` is the slid one).
    pub fn touch(&self, touch: PendingTouch) {
        let inner = &self.inner;
        if let Ok(mut pending) = inner.pending.lock() {
            pending.entry(touch.token_id).or_insert(touch);
        }
        if let Some(entry) = inner.entries.peek(&touch.digest) {
            let mut owner = entry.owner.clone();
            owner.last_used_at = touch.used_at.millis();
            owner.expires_at = owner.expires_at.max(touch.expires_at.millis());
            let updated = Arc::new(Entry {
                owner,
                cached_at: entry.cached_at,
            });
            // Only over the entry just read: an eviction in between wins.
            let _ = inner.entries.replace(touch.digest, updated, true);
        }
    }

    /// The expiry a waiting touch gives the token, if one waits.
    pub fn pending_expiry(&self, token_id: i64) -> Option<Timestamp> {
        let pending = self.inner.pending.lock().ok()?;
        pending.get(&token_id).map(|touch| touch.expires_at)
    }

    /// Writes every waiting touch, in statements of up to 1,000 tokens. On
    /// failure the touches are dropped and their entries evicted, so that
    /// no entry shows an expiry the database does not have.
    pub fn flush_touches(&self, conn: &mut AnyConnection) -> Result<usize, diesel::result::Error> {
        let touches: Vec<PendingTouch> = match self.inner.pending.lock() {
            Ok(mut pending) => pending.drain().map(|(_, touch)| touch).collect(),
            Err(_) => return Ok(0),
        };
        let mut written = 0;
        for batch in touches.chunks(1000) {
            let rows: Vec<tokens::TouchRow> = batch
                .iter()
                .map(|touch| tokens::TouchRow {
                    token_id: touch.token_id,
                    used_at: touch.used_at.millis(),
                    expires_at: touch.expires_at.millis(),
                    touched_before: touch.touched_before.millis(),
                    ip: touch.from,
                })
                .collect();
            match tokens::touch_batch(conn, &rows) {
                Ok(count) => written += count,
                Err(error) => {
                    for touch in &touches {
                        self.inner.entries.remove(&touch.digest);
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
