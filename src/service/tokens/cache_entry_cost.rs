//! What a cached check really costs in memory, against what the cache
//! charges for it under `TOKEN_CACHE_MIB`. Measured as the growth of the
//! resident set of a process of its own (this test binary run again for
//! this one test), so the allocator's rounding and headers, the `Arc`, the
//! cache's slots and its ghost entries are all in the figure.

use super::*;

const CHILD: &str = "MULTITOKEN_MEASURE_CACHE_ENTRY";
const MARK: &str = "cache entry cost:";

/// Filled three times over, so that evictions and ghosts are counted.
const ENTRIES: u64 = 50_000;

/// The tests' cached row, with an id, client and user of its own for
/// `index` (three clients a user) and no scopes.
fn owner(index: u64) -> TokenOwner {
    let user = index / 3 + 1;
    TokenOwner {
        token_id: i64::try_from(index).unwrap_or(i64::MAX),
        client: ["web", "ios", "cli"][usize::try_from(index % 3).unwrap_or(0)].to_owned(),
        scopes: String::new(),
        user_id: i64::try_from(user).unwrap_or(i64::MAX),
        username: format!("user{user:06}"),
        email: format!("user{user:06}@example.com"),
        ..super::derived_tests::owner()
    }
}

fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Fills a cache and prints the resident growth and the charge per entry.
fn measure() {
    let Some(before) = resident_kib() else {
        return;
    };
    let metrics = Metrics::new().unwrap_or_else(|e| panic!("{e}"));
    let limits = CacheLimits {
        ttl: Duration::from_secs(60),
        max_entries: ENTRIES,
        max_bytes: ENTRIES * 4096,
    };
    let lease = Arc::new(Lease::new(Duration::from_secs(1), metrics.clone()));
    let cache = TokenCache::new(limits, lease, metrics);
    cache.inner.listening.store(true, Ordering::SeqCst);
    let mut charged = 0;
    for index in 0..3 * ENTRIES {
        let mut digest = [0; 32];
        digest[..8].copy_from_slice(&index.to_le_bytes());
        let owner = owner(index);
        charged += Entry::bytes_of(&owner);
        // A clone, as the check caches one: each text allocated to its length.
        cache.insert(cache.generation(), TokenDigest(digest), owner.clone());
    }
    let after = resident_kib().unwrap_or(before);
    let held = cache.inner.entries.len() as u64;
    println!(
        "{MARK} {} {} {held}",
        (after.saturating_sub(before) * 1024) / held.max(1),
        charged / (3 * ENTRIES),
    );
}

#[test]
fn an_entry_costs_no_more_memory_than_the_cache_charges_for_it() {
    if std::env::var_os(CHILD).is_some() {
        return measure();
    }
    let Ok(this) = std::env::current_exe() else {
        return;
    };
    let name = "service::tokens::cache::entry_cost::an_entry_costs_no_more_memory_than_the_cache_charges_for_it";
    let output = std::process::Command::new(this)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let Some((_, line)) = stdout.split_once(MARK) else {
        assert!(resident_kib().is_none(), "nothing measured: {stdout}");
        return;
    };
    let line = line.lines().next().unwrap_or_default();
    let figures: Vec<u64> = line
        .split_whitespace()
        .filter_map(|figure| figure.parse().ok())
        .collect();
    let [measured, charged, held] = figures[..] else {
        panic!("unreadable: {line}");
    };
    eprintln!("{held} entries held: {measured} bytes each measured, {charged} charged");
    assert!(held > ENTRIES / 2, "{held} entries held of {ENTRIES}");
    assert!(
        measured <= charged,
        "an entry costs {measured} bytes, the cache charges {charged}"
    );
}
