//! Argon2id hashing, kept off the async workers and bounded.
//!
//! Each hash holds ~19 MiB for ~20 ms of a core, so at most one runs per core
//! and a bounded number wait; beyond that, logins are turned away with a 503
//! rather than letting a flood starve token checks or exhaust memory.
//!
//! A stored hash chooses what checking it costs, so one whose cost is over
//! the bounds (an imported Django hash, or a tampered one of ours) is never
//! started: it is checked as an unusable password is, against the dummy
//! hash, and fails in the time any failure takes. A job whose request has
//! gone (the client left, or the server stopped waiting at shutdown) is
//! dropped from the queue without running. Failed checks answer no sooner
//! than the [`AnswerFloor`].
//!
//! Hashes run on threads of their own, one per permitted hash, never on the
//! shared blocking pool: glibc keeps a freed 19 MiB block in the arena of the
//! thread that freed it, so hashes spread over a hundred blocking threads
//! held gigabytes (measured with `benches/flood.rs`), while a few dedicated
//! threads reuse the same blocks.

use super::answer_floor::AnswerFloor;
use crate::db::AnyConnection;
use crate::domain::django_password::{self, DjangoAlgorithm};
use crate::domain::Password;
use crate::service::Error;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, Semaphore};

/// OWASP's recommended argon2id parameters: 19 MiB, 2 passes, 1 lane.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

thread_local! {
    /// argon2's working memory (19 MiB with our parameters), allocated on
    /// a thread's first hash and reused by every hash on it until the
    /// thread lets it go (see [`release_memory`]).
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
    /// On a hashing thread, its pool's count of threads holding memory,
    /// changed as the memory is taken and given back.
    static HOLDING_COUNT: RefCell<Option<Arc<AtomicUsize>>> = const { RefCell::new(None) };
}

fn count_holding(change: impl FnOnce(&AtomicUsize)) {
    HOLDING_COUNT.with(|count| {
        if let Some(count) = count.borrow().as_ref() {
            change(count);
        }
    });
}

/// Blocks (1 KiB each) reserved for a thread's working memory: more than
/// glibc's largest mmap threshold (32 MiB on 64-bit), so that the block is
/// always mmapped and freeing it returns it to the system. A block of
/// exactly 19 MiB would be mmapped the first time, but its free would raise
/// glibc's threshold past it, and from then on every freed block would stay
/// in the thread's arena. Only the pages argon2 touches become resident.
const RESERVED_BLOCKS: usize = 33 * 1024;

/// Frees this thread's working memory, if it holds any.
fn release_memory() {
    let released = MEMORY.with(|memory| std::mem::take(&mut *memory.borrow_mut()));
    if released.capacity() > 0 {
        count_holding(|count| {
            count.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

fn holds_memory() -> bool {
    MEMORY.with(|memory| memory.borrow().capacity() > 0)
}

/// argon2 of `password` and `salt` into `out`, in this thread's memory.
fn argon2_into(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> argon2::Result<()> {
    MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        let blocks = argon2.params().block_count();
        if memory.len() < blocks {
            let reserved = blocks.max(RESERVED_BLOCKS);
            if memory.capacity() < reserved {
                if memory.capacity() == 0 {
                    count_holding(|count| {
                        count.fetch_add(1, Ordering::SeqCst);
                    });
                }
                *memory = Vec::with_capacity(reserved);
            }
            memory.resize(blocks, Block::default());
        }
        argon2.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
    })
}

pub fn hash_blocking(password: &Password) -> Result<String, Error> {
    let fail =
        |e: &dyn std::fmt::Display| Error::internal(format!("hashing a password failed: {e}"));
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(|e| fail(&e))?;
    let argon2 = argon2();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2_into(&argon2, password.expose().as_bytes(), salt_bytes, &mut out)
        .map_err(|e| fail(&e))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon2.params()).map_err(|e| fail(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| fail(&e))?),
    };
    Ok(hash.to_string())
}

/// Whether `stored` is a hash some password can match and that may be
/// checked: ours, or one of the Django formats kept by `import-django`,
/// each within the bounds on its cost.
pub fn is_verifiable(stored: &str) -> bool {
    match stored.starts_with("$argon2") {
        true => ours_within_bounds(stored),
        false => django_password::check(stored).is_ok(),
    }
}

/// Ours are written with fixed parameters; one read back with others was
/// not written here, and gets the bounds of Django's argon2.
fn ours_within_bounds(phc: &str) -> bool {
    PasswordHash::new(phc)
        .ok()
        .and_then(|hash| Params::try_from(&hash).ok())
        .is_some_and(|params| {
            django_password::argon2_within_bounds(params.m_cost(), params.t_cost(), params.p_cost())
                .is_ok()
        })
}

/// Whether `stored` is a Django hash that a successful login replaces.
pub fn needs_rehash(stored: &str) -> bool {
    DjangoAlgorithm::of(stored).is_some()
}

/// Verifies against our PHC string or a Django hash; a malformed stored
/// hash, or one over the bounds, verifies as false without any hashing.
pub fn verify_blocking(password: &Password, phc: &str) -> bool {
    if DjangoAlgorithm::of(phc).is_some() {
        return django_password::verify(password.expose(), phc);
    }
    if !ours_within_bounds(phc) {
        return false;
    }
    let verify = || -> Option<bool> {
        let hash = PasswordHash::new(phc).ok()?;
        let expected = hash.hash?;
        let algorithm = Algorithm::try_from(hash.algorithm).ok()?;
        let version = match hash.version {
            Some(version) => Version::try_from(version).ok()?,
            None => Version::default(),
        };
        let params = Params::try_from(&hash).ok()?;
        let mut salt = [0u8; 64];
        let salt = hash.salt?.decode_b64(&mut salt).ok()?;
        let mut out = vec![0u8; expected.len()];
        let argon2 = Argon2::new(algorithm, version, params);
        argon2_into(&argon2, password.expose().as_bytes(), salt, &mut out).ok()?;
        // Output's equality is constant-time.
        Some(Output::new(&out).ok()? == expected)
    };
    verify().unwrap_or(false)
}

type Job = Box<dyn FnOnce() + Send>;

/// How long a hashing thread keeps its working memory without a job: a
/// burst of logins reuses it, a server that then only checks tokens gives
/// it back.
pub const MEMORY_KEPT_WHEN_IDLE: Duration = Duration::from_secs(10);

/// A fixed set of threads that run hashing jobs one at a time each; they
/// end when the last handle to the pool is dropped.
struct HashingThreads {
    jobs: mpsc::Sender<Job>,
    /// How many of the threads hold their working memory now.
    holding_memory: Arc<AtomicUsize>,
}

impl HashingThreads {
    fn start(count: usize, keep_memory: Duration) -> Result<Self, Error> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let holding_memory = Arc::new(AtomicUsize::new(0));
        for n in 0..count {
            let queue = queue.clone();
            let holding = holding_memory.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || run_jobs(&queue, holding, keep_memory))
                .map_err(|e| Error::internal(format!("cannot start a hashing thread: {e}")))?;
        }
        Ok(HashingThreads {
            jobs,
            holding_memory,
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            // Nobody waits for the answer any more: the work is not started.
            if !done.is_closed() {
                let _ = done.send(work());
            }
        });
        self.jobs
            .send(job)
            .map_err(|_| Error::internal("hashing threads stopped"))?;
        result
            .await
            .map_err(|_| Error::internal("a hashing job was dropped"))
    }
}

/// A hashing thread's life: run jobs as they come, and free the working
/// memory once no job has come for `keep_memory`. Only one thread at a
/// time waits on the queue, the others wait for its lock; so the wait is a
/// fraction of `keep_memory`, and a thread that gives the lock up yields,
/// so that each gets its turn to see its own idleness.
fn run_jobs(queue: &Mutex<mpsc::Receiver<Job>>, holding: Arc<AtomicUsize>, keep_memory: Duration) {
    HOLDING_COUNT.with(|count| *count.borrow_mut() = Some(holding));
    let mut last_job = Instant::now();
    let release_if_idle = |last_job: Instant| {
        if holds_memory() && last_job.elapsed() >= keep_memory {
            release_memory();
        }
    };
    loop {
        let next = match queue.lock() {
            Ok(queue) => {
                release_if_idle(last_job);
                queue.recv_timeout(keep_memory / 4)
            }
            Err(_) => return,
        };
        match next {
            Ok(job) => {
                job();
                last_job = Instant::now();
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                release_if_idle(last_job);
                std::thread::yield_now();
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[derive(Clone)]
pub struct PasswordHasher {
    threads: Arc<HashingThreads>,
    running: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
    /// Verified against when the user does not exist, so that an unknown
    /// username costs the same time as a wrong password.
    dummy_hash: Arc<str>,
    floor: Arc<AnswerFloor>,
}

impl PasswordHasher {
    pub fn new(parallel: usize, max_waiting: usize) -> Result<Self, Error> {
        Self::keeping_memory(parallel, max_waiting, MEMORY_KEPT_WHEN_IDLE)
    }

    /// As [`PasswordHasher::new`], with the threads' idle memory kept for `keep_memory`.
    pub fn keeping_memory(
        parallel: usize,
        max_waiting: usize,
        keep_memory: Duration,
    ) -> Result<Self, Error> {
        let dummy_hash =
            hash_blocking(&Password::new("dummy password that matches nothing".into()))?;
        // The dummy hash ran on this thread, which hashes nothing else.
        release_memory();
        Ok(PasswordHasher {
            threads: Arc::new(HashingThreads::start(parallel.max(1), keep_memory)?),
            running: Arc::new(Semaphore::new(parallel.max(1))),
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting,
            dummy_hash: dummy_hash.into(),
            floor: Arc::default(),
        })
    }

    /// Verifies `password` against `phc`, or against the dummy hash when there
    /// is no user or no password can match (an unusable one, or one over
    /// the bounds), always spending one verification; a failure answers no
    /// sooner than the floor.
    pub async fn verify(&self, password: Password, phc: Option<String>) -> Result<bool, Error> {
        let phc = phc.filter(|phc| is_verifiable(phc));
        let found = phc.is_some();
        let django = phc.clone().filter(|phc| needs_rehash(phc));
        let phc = phc.unwrap_or_else(|| self.dummy_hash.to_string());
        let (matches, took) = self
            .run(move || {
                let started = Instant::now();
                let matches = verify_blocking(&password, &phc);
                (matches, started.elapsed())
            })
            .await?;
        let matched = found && matches;
        if !matched {
            if let Some(django) = django {
                self.floor.observe(&django, took);
            }
            tokio::time::sleep(self.floor.get().saturating_sub(took)).await;
        }
        Ok(matched)
    }

    /// Measures the floor of failed checks from the Django hashes stored
    /// now; run once at start, before serving. Returns how many were timed.
    pub fn measure_floor(&self, conn: &mut AnyConnection) -> Result<usize, Error> {
        self.floor.measure(conn)
    }

    /// How soon a failed check answers at the earliest.
    pub fn floor(&self) -> Duration {
        self.floor.get()
    }

    /// Whether the queue is full, so that a login can be turned away before
    /// it costs any database work. Only a hint: the bound itself is enforced
    /// when the work is queued.
    pub fn is_saturated(&self) -> bool {
        self.waiting.load(Ordering::SeqCst) >= self.max_waiting
    }

    /// How many hashing threads hold their working memory now.
    pub fn threads_holding_memory(&self) -> usize {
        self.threads.holding_memory.load(Ordering::SeqCst)
    }

    pub async fn hash(&self, password: Password) -> Result<String, Error> {
        self.run(move || hash_blocking(&password)).await?
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        let queued = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _leave_queue = DecrementOnDrop(&self.waiting);
        if queued >= self.max_waiting {
            return Err(Error::unavailable("too many password checks waiting"));
        }
        let _permit = self
            .running
            .acquire()
            .await
            .map_err(|e| Error::Internal(Box::new(e)))?;
        self.threads.run(work).await
    }
}

struct DecrementOnDrop<'a>(&'a AtomicUsize);

impl Drop for DecrementOnDrop<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_salted_argon2id_phc_strings_that_verify() {
        let password = Password::new("correct horse".into());
        let first = hash_blocking(&password).unwrap_or_default();
        let second = hash_blocking(&password).unwrap_or_default();
        assert!(
            first.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{first}"
        );
        assert_ne!(first, second);
        assert!(verify_blocking(&password, &first));
        assert!(!verify_blocking(
            &Password::new("wrong horse".into()),
            &first
        ));
        assert!(!verify_blocking(&password, "not a hash"));
    }

    #[test]
    fn hashes_agree_with_the_argon2_crates_own_phc_hashing_and_verifying() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let password = Password::new("correct horse".into());
        let salt = SaltString::generate(&mut OsRng);
        let theirs = argon2()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .unwrap_or_default();
        assert!(verify_blocking(&password, &theirs));
        assert!(!verify_blocking(&Password::new("wrong".into()), &theirs));
        let ours = hash_blocking(&password).unwrap_or_default();
        let parsed = PasswordHash::new(&ours);
        assert!(parsed.is_ok_and(|hash| argon2()
            .verify_password(password.expose().as_bytes(), &hash)
            .is_ok()));
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies_even_with_the_dummy_password() {
        let Ok(hasher) = PasswordHasher::new(1, 4) else {
            panic!("hasher")
        };
        let dummy = Password::new("dummy password that matches nothing".into());
        assert!(matches!(hasher.verify(dummy, None).await, Ok(false)));
    }

    #[test]
    fn django_hashes_verify_and_are_marked_for_rehashing_and_ours_are_not() {
        let django = "argon2$argon2i$v=19$m=512,t=2,p=2$YXJnb24yaXNhbHQxMjM$BcoK1H4plyvBIDrlMQDP5g";
        let password = Password::new("correct horse é".into());
        assert!(verify_blocking(&password, django));
        assert!(!verify_blocking(&Password::new("wrong".into()), django));
        assert!(is_verifiable(django) && needs_rehash(django));
        let ours = hash_blocking(&password).unwrap_or_default();
        assert!(is_verifiable(&ours) && !needs_rehash(&ours));
        for never in ["!unusable", "md5$salt$hash", ""] {
            assert!(!is_verifiable(never) && !needs_rehash(never), "{never}");
        }
    }

    #[tokio::test]
    async fn an_unusable_password_never_verifies() {
        let Ok(hasher) = PasswordHasher::new(1, 4) else {
            panic!("hasher")
        };
        let dummy = Password::new("dummy password that matches nothing".into());
        let unusable = Some("!abvKlYvBBvZxbRJQYEyczrYdhsFUFRc8znsUJE6k".to_owned());
        assert!(matches!(hasher.verify(dummy, unusable).await, Ok(false)));
    }

    /// An imported user's wrong password, an unknown name and a native
    /// user's wrong password all answer no sooner than the floor, which the
    /// imported user's failed check set (L5 of the third review). A bound
    /// from below, so it cannot flake; `--nocapture` shows the times.
    #[tokio::test]
    async fn failed_checks_answer_no_sooner_than_the_costliest_imported_hash_took() {
        let Ok(hasher) = PasswordHasher::new(1, 4) else {
            panic!("hasher")
        };
        let wrong = || Password::new("wrong horse".into());
        let timed = |phc: Option<String>| {
            let hasher = hasher.clone();
            async move {
                let started = Instant::now();
                let verified = hasher.verify(wrong(), phc).await;
                assert!(matches!(verified, Ok(false)));
                started.elapsed()
            }
        };
        // bcrypt at Django's cost 12: ten times the dummy's argon2.
        let imported = "bcrypt$$2b$12$40I85C/95y6r9SAWloEzueoD06fHfHv/nttCxBHL.wFjsVygNnX1i";
        let ours = hash_blocking(&Password::new("correct horse".into())).unwrap_or_default();
        let unknown_before = timed(None).await;
        let first = timed(Some(imported.into())).await;
        let floor = hasher.floor();
        assert!(
            floor > Duration::ZERO && first >= floor,
            "{first:?} {floor:?}"
        );
        let unknown = timed(None).await;
        let native = timed(Some(ours)).await;
        let over_the_bounds = timed(Some("bcrypt$$2b$31$x".into())).await;
        for (what, took) in [
            ("an unknown name", unknown),
            ("a native user", native),
            ("a hash over the bounds", over_the_bounds),
        ] {
            assert!(took >= floor, "{what}: {took:?} < {floor:?}");
        }
        println!(
            "unknown name before any imported check {unknown_before:?}; imported bcrypt 12 \
             {first:?} (floor {floor:?}); then unknown {unknown:?}, native {native:?}, \
             over the bounds {over_the_bounds:?}"
        );
    }

    #[tokio::test]
    async fn past_the_queue_bound_work_is_refused_with_503() {
        let Ok(hasher) = PasswordHasher::new(1, 0) else {
            panic!("hasher")
        };
        let result = hasher.hash(Password::new("whatever123".into())).await;
        assert!(matches!(result, Err(Error::Unavailable(_))));
        assert!(hasher.is_saturated());
    }

    #[tokio::test]
    async fn a_queue_with_room_is_not_saturated_and_hashes_verify_on_the_threads() {
        let Ok(hasher) = PasswordHasher::new(2, 4) else {
            panic!("hasher")
        };
        assert!(!hasher.is_saturated());
        let password = Password::new("correct horse".into());
        let Ok(phc) = hasher.hash(password.clone()).await else {
            panic!("hash")
        };
        assert!(matches!(hasher.verify(password, Some(phc)).await, Ok(true)));
    }

    #[tokio::test]
    async fn idle_threads_give_their_memory_back_and_busy_ones_reuse_it() {
        let Ok(hasher) = PasswordHasher::keeping_memory(2, 8, Duration::from_millis(300)) else {
            panic!("hasher")
        };
        assert_eq!(hasher.threads_holding_memory(), 0, "nothing hashed yet");
        let password = Password::new("correct horse".into());
        let Ok(phc) = hasher.hash(password.clone()).await else {
            panic!("hash")
        };
        assert_eq!(hasher.threads_holding_memory(), 1, "the thread that hashed");
        // Jobs closer together than the idle time keep it.
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert!(matches!(
                hasher.verify(password.clone(), Some(phc.clone())).await,
                Ok(true)
            ));
            assert!(hasher.threads_holding_memory() >= 1);
        }
        let released = async {
            while hasher.threads_holding_memory() > 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        assert!(
            tokio::time::timeout(Duration::from_secs(5), released)
                .await
                .is_ok(),
            "still {} thread(s) holding memory",
            hasher.threads_holding_memory()
        );
        assert!(
            matches!(hasher.verify(password, Some(phc)).await, Ok(true)),
            "and hashes again"
        );
    }
}
