//! `import-django`: a Django project's users and live tokens, copied so that
//! nobody signs in again and no password is reset.
//!
//! Users are read a batch at a time; each batch, with the tokens of its
//! users from every token table that exists, is written in one transaction
//! (rolled back under `--dry-run`, so a dry run checks exactly what a real
//! one would write). Re-running is safe: a user whose name is taken is
//! skipped (or, with `--update`, updated), and a token whose digest is
//! already stored is not written again.

use crate::db::django::{self, DjangoToken, DjangoUser, DRF_TABLE, KNOX_TABLE, MULTITOKEN_TABLE};
use crate::db::events::What;
use crate::db::schema::users as users_table;
use crate::db::{tokens, users, AnyConnection};
use crate::domain::django_password::{self, Refusal};
use crate::domain::event::{Actor, EventKind, EventSource};
use crate::domain::oidc::Via;
use crate::domain::username::lookup_key;
use crate::domain::{ClientName, Timestamp, TokenDigest, TokenPolicy, Username};
use crate::service::Error;
use diesel::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

const BATCH: i64 = 1000;

/// Who becomes an admin here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Admins {
    Superuser,
    Staff,
    None,
}

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub dry_run: bool,
    pub update: bool,
    pub admins: Admins,
    pub drf_client: ClientName,
    pub policy: TokenPolicy,
}

/// What an import did, or under `--dry-run` would do.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub dry_run: bool,
    pub users_imported: u64,
    pub users_skipped: u64,
    pub users_updated: u64,
    /// Kept hashes by Django algorithm; `unusable` for `!…`, `unsupported`
    /// for the formats made unusable here.
    pub hashes: BTreeMap<&'static str, u64>,
    /// Tokens written, by table.
    pub tokens: BTreeMap<&'static str, u64>,
    /// Token tables that do not exist in the source.
    pub tables_missing: Vec<&'static str>,
    /// Things not imported, each with why.
    pub not_imported: BTreeMap<String, u64>,
    /// The Django names of the users skipped because they exist here.
    pub skipped: Vec<String>,
}

impl Report {
    fn not_imported(&mut self, why: impl Into<String>) {
        *self.not_imported.entry(why.into()).or_default() += 1;
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dry_run {
            writeln!(f, "dry run: nothing was written")?;
        }
        writeln!(
            f,
            "users: {} imported, {} skipped, {} updated",
            self.users_imported, self.users_skipped, self.users_updated
        )?;
        for (algorithm, count) in &self.hashes {
            writeln!(f, "password hashes {algorithm}: {count}")?;
        }
        for (table, count) in &self.tokens {
            writeln!(f, "tokens from {table}: {count}")?;
        }
        for table in &self.tables_missing {
            writeln!(f, "tokens from {table}: no such table")?;
        }
        for (why, count) in &self.not_imported {
            writeln!(f, "not imported: {count} {why}")?;
        }
        for username in &self.skipped {
            writeln!(f, "skipped: {username} (exists)")?;
        }
        Ok(())
    }
}

/// Why an import could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read the Django database: {0}")]
    Unreadable(String),
    #[error("not a Django database: it has no auth_user table")]
    NotDjango,
    #[error(transparent)]
    Ours(#[from] Error),
}

/// How a batch's transaction ended without committing.
enum Uncommitted {
    Failed(Error),
    /// A dry run: the batch was written, counted and rolled back.
    DryRun(Box<Report>),
}

impl From<diesel::result::Error> for Uncommitted {
    fn from(error: diesel::result::Error) -> Self {
        Uncommitted::Failed(error.into())
    }
}

impl From<Error> for Uncommitted {
    fn from(error: Error) -> Self {
        Uncommitted::Failed(error)
    }
}

/// Imports from `source` into `target`; `progress` is told how many users
/// were read so far, out of the total it is given first.
pub fn import(
    source: &mut AnyConnection,
    target: &mut AnyConnection,
    options: &ImportOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Report, ImportError> {
    let unreadable = |e: diesel::result::Error| ImportError::Unreadable(e.to_string());
    let tables: HashSet<String> = django::tables(source)
        .map_err(unreadable)?
        .into_iter()
        .collect();
    if !tables.contains("auth_user") {
        return Err(ImportError::NotDjango);
    }
    let mut report = Report {
        dry_run: options.dry_run,
        ..Report::default()
    };
    let token_tables: Vec<&'static str> = [DRF_TABLE, MULTITOKEN_TABLE, KNOX_TABLE]
        .into_iter()
        .filter(|table| {
            let exists = tables.contains(*table);
            if !exists {
                report.tables_missing.push(table);
            }
            exists
        })
        .collect();
    let total = u64::try_from(django::count_users(source).map_err(unreadable)?).unwrap_or(0);
    progress(0, total);
    let now = Timestamp::now();
    // Names taken earlier in this run: a dry run rolls each batch back, and
    // Django's case-sensitive names may clash once case is ignored.
    let mut taken: HashSet<String> = HashSet::new();
    let mut after = 0;
    let mut read = 0;
    loop {
        let batch = django::users_after(source, after, BATCH).map_err(unreadable)?;
        let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
            break;
        };
        let (first_id, last_id) = (first.id, last.id);
        let mut batch_tokens = Vec::new();
        for table in &token_tables {
            let rows = django::tokens_of_users(source, table, first_id, last_id, now.millis())
                .map_err(unreadable)?;
            batch_tokens.push((*table, rows));
        }
        let written = crate::db::transaction::<_, Uncommitted, _>(target, |conn| {
            let mut batch_report = Report::default();
            let ours = write_users(conn, &batch, options, &mut taken, &mut batch_report)?;
            for (table, rows) in &batch_tokens {
                write_tokens(conn, table, rows, &ours, options, now, &mut batch_report)?;
            }
            match options.dry_run {
                true => Err(Uncommitted::DryRun(Box::new(batch_report))),
                false => Ok(batch_report),
            }
        });
        let batch_report = match written {
            Ok(written) => written,
            Err(Uncommitted::DryRun(written)) => *written,
            Err(Uncommitted::Failed(error)) => return Err(error.into()),
        };
        merge(&mut report, batch_report);
        after = last_id;
        read += batch.len() as u64;
        progress(read, total);
    }
    Ok(report)
}

fn merge(into: &mut Report, from: Report) {
    into.users_imported += from.users_imported;
    into.users_skipped += from.users_skipped;
    into.users_updated += from.users_updated;
    for (key, count) in from.hashes {
        *into.hashes.entry(key).or_default() += count;
    }
    for (key, count) in from.tokens {
        *into.tokens.entry(key).or_default() += count;
    }
    for (key, count) in from.not_imported {
        *into.not_imported.entry(key).or_default() += count;
    }
    into.skipped.extend(from.skipped);
}

/// The hash to store for a Django one, and how to count it: by algorithm
/// when kept, else by why it was made unusable.
fn kept_hash(encoded: &str) -> (String, &'static str) {
    if django_password::is_unusable(encoded) {
        return (encoded.to_owned(), "unusable");
    }
    let why = match django_password::check(encoded) {
        Ok(algorithm) => return (encoded.to_owned(), algorithm.name()),
        Err(refusal) => match refusal {
            Refusal::Unsupported => "unsupported (now unusable)",
            Refusal::Malformed => "malformed (now unusable)",
            Refusal::Pbkdf2Iterations => "pbkdf2 over 5,000,000 iterations (now unusable)",
            Refusal::BcryptCost => "bcrypt cost over 16 (now unusable)",
            Refusal::Argon2Memory => "argon2 memory over 256 MiB (now unusable)",
            Refusal::Argon2Time => "argon2 time over 10 (now unusable)",
            Refusal::Argon2Lanes => "argon2 lanes over 16 (now unusable)",
            Refusal::ScryptMemory => "scrypt memory over 256 MiB (now unusable)",
            Refusal::ScryptParallelism => "scrypt p over 16 (now unusable)",
        },
    };
    // Django's unusable-password marker: no password can match it.
    ("!unsupported".to_owned(), why)
}

/// Writes the batch's users; returns Django user id -> our user id and
/// whether the user is active, for the users imported or updated.
fn write_users(
    conn: &mut AnyConnection,
    batch: &[DjangoUser],
    options: &ImportOptions,
    taken: &mut HashSet<String>,
    report: &mut Report,
) -> Result<HashMap<i64, (i64, bool)>, Error> {
    let mut ours = HashMap::new();
    for user in batch {
        let Ok(name) = Username::parse(&user.username) else {
            report.not_imported("users whose username multitoken does not accept");
            continue;
        };
        let key = lookup_key(name.as_str());
        let is_admin = match options.admins {
            Admins::Superuser => user.is_superuser,
            Admins::Staff => user.is_superuser || user.is_staff,
            Admins::None => false,
        };
        let (hash, counted) = kept_hash(&user.password);
        let existing = users::credentials_by_key(conn, &key)?;
        match existing {
            Some(existing) if options.update => {
                // A hash already replaced by a sign-in here is kept: it is
                // newer than Django's.
                let replace_hash = !existing.password_hash.starts_with("$argon2");
                // As any change of address here: unverified, and the links
                // mailed to the old one spent.
                users::set_email(conn, existing.id, &user.email)?;
                diesel::update(users_table::table.find(existing.id))
                    .set((
                        users_table::is_active.eq(user.is_active),
                        users_table::is_admin.eq(is_admin),
                        users_table::created_at.eq(user.date_joined),
                        users_table::last_login_at.eq(user.last_login),
                    ))
                    .execute(conn)?;
                // As any deactivation here: the user's tokens go too, so
                // none comes back to life on a reactivation.
                if !user.is_active {
                    users::set_active(conn, existing.id, false)?;
                }
                if replace_hash {
                    diesel::update(users_table::table.find(existing.id))
                        .set(users_table::password_hash.eq(&hash))
                        .execute(conn)?;
                    *report.hashes.entry(counted).or_default() += 1;
                }
                record_import(conn, existing.id, "updated")?;
                report.users_updated += 1;
                ours.insert(user.id, (existing.id, user.is_active));
            }
            Some(_) => {
                report.users_skipped += 1;
                report.skipped.push(user.username.clone());
            }
            None if !taken.insert(key.clone()) => {
                report.not_imported("users whose name differs from another's only in case");
            }
            None => {
                let created = users::insert(
                    conn,
                    &users::NewUser {
                        username: name.as_str(),
                        username_key: &key,
                        password_hash: &hash,
                        email: &user.email,
                        is_active: user.is_active,
                        is_admin,
                        is_service: false,
                        created_at: user.date_joined,
                    },
                )?;
                if let Some(last_login) = user.last_login {
                    diesel::update(users_table::table.find(created.id))
                        .set(users_table::last_login_at.eq(last_login))
                        .execute(conn)?;
                }
                *report.hashes.entry(counted).or_default() += 1;
                record_import(conn, created.id, "created")?;
                report.users_imported += 1;
                ours.insert(user.id, (created.id, user.is_active));
            }
        }
        taken.insert(key);
    }
    Ok(ours)
}

/// The `imported` event of a user the import created or updated (the
/// import runs at the command line).
fn record_import(conn: &mut AnyConnection, user_id: i64, how: &str) -> Result<(), Error> {
    let what = What::to_user(EventKind::Imported, user_id).detail(how);
    let source = EventSource::without_request(Actor::Cli);
    crate::service::shared::events::record(conn, &source, what, Timestamp::now())
}

/// Writes the tokens of one table, numbering multitoken's and knox's
/// clients per user by age.
fn write_tokens(
    conn: &mut AnyConnection,
    table: &'static str,
    rows: &[DjangoToken],
    ours: &HashMap<i64, (i64, bool)>,
    options: &ImportOptions,
    now: Timestamp,
    report: &mut Report,
) -> Result<(), Error> {
    let prefix = match table {
        MULTITOKEN_TABLE => "multitoken",
        _ => "knox",
    };
    let mut numbered: HashMap<i64, u32> = HashMap::new();
    for row in rows {
        let Some(&(user_id, active)) = ours.get(&row.user_id) else {
            report.not_imported(format!("tokens of {table} whose user was not imported"));
            continue;
        };
        // Django refuses them, and here they would come back to life if the
        // user were reactivated (multitoken's own deactivation deletes them).
        if !active {
            report.not_imported(format!("tokens of {table} whose user is inactive"));
            continue;
        }
        let client = match table {
            DRF_TABLE => options.drf_client.as_str().to_owned(),
            _ => {
                let n = numbered.entry(row.user_id).or_default();
                *n += 1;
                format!("{prefix}-{n}")
            }
        };
        let digest = match table {
            KNOX_TABLE => TokenDigest::of_knox_digest(&row.secret),
            _ => TokenDigest::of(&row.secret),
        };
        if tokens::digest_exists(conn, digest.as_bytes())? {
            continue;
        }
        let expires_at = match row.expiry {
            Some(expiry) => expiry,
            None => options.policy.expiry(now, now).millis(),
        };
        let new = tokens::NewToken {
            dpop_jkt: None,
            user_id,
            client: &client,
            digest: digest.as_bytes(),
            created_at: now.millis(),
            last_used_at: now.millis(),
            expires_at,
            user_agent: None,
            scopes: "",
            via: &Via::Import.to_stored(),
            last_ip: None,
        };
        match tokens::id_for_client(conn, user_id, &client)? {
            Some((existing, _, _)) if options.update => {
                tokens::replace(conn, existing, &new)?;
            }
            Some(_) => {
                report.not_imported(format!(
                    "tokens of {table} whose client the user already has here"
                ));
                continue;
            }
            None => {
                tokens::insert(conn, &new)?;
            }
        }
        *report.tokens.entry(table).or_default() += 1;
    }
    Ok(())
}
