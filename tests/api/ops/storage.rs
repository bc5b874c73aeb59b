//! What the storage layer promises beyond the HTTP surface.

use crate::helpers::on_both_backends;
use crate::helpers::{Backend, TestApp, TestDatabase};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use multitoken::config::Settings;
use multitoken::db::{self, AnyConnection};

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = BigInt)]
    value: i64,
}

#[derive(QueryableByName)]
struct Word {
    #[diesel(sql_type = Text)]
    value: String,
}

#[test]
fn every_pooled_sqlite_connection_has_wal_busy_timeout_and_foreign_keys() {
    let test_db = TestDatabase::create(Backend::Sqlite);
    db::migrate(&test_db.database).expect("migrate");
    let pool = db::pool(&test_db.database).expect("pool");
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut conn = pool.get().expect("pooled connection");
        let AnyConnection::Sqlite(sqlite) = &mut *conn else {
            panic!("a SQLite connection")
        };
        let number = |sqlite: &mut diesel::SqliteConnection, column: &str, pragma: &str| {
            diesel::sql_query(format!("SELECT {column} AS value FROM pragma_{pragma}"))
                .get_result::<Number>(sqlite)
                .expect(pragma)
                .value
        };
        assert_eq!(number(sqlite, "foreign_keys", "foreign_keys"), 1);
        assert_eq!(number(sqlite, "timeout", "busy_timeout"), 5000);
        let mode = diesel::sql_query("SELECT journal_mode AS value FROM pragma_journal_mode")
            .get_result::<Word>(sqlite)
            .expect("journal_mode")
            .value;
        assert_eq!(mode, "wal");
        held.push(conn);
    }
}

#[test]
fn sqlite_connections_map_the_file_and_size_their_page_cache_as_set() {
    let test_db = TestDatabase::create(Backend::Sqlite);
    db::migrate(&test_db.database).expect("migrate");
    // Neither pragma is a table-valued function: each answers a column of its name.
    #[derive(QueryableByName)]
    struct Sizes {
        #[diesel(sql_type = BigInt)]
        mmap_size: i64,
    }
    #[derive(QueryableByName)]
    struct Pages {
        #[diesel(sql_type = BigInt)]
        cache_size: i64,
    }
    let pragma = |conn: &mut AnyConnection, name: &str| {
        let AnyConnection::Sqlite(sqlite) = conn else {
            panic!("a SQLite connection")
        };
        let query = diesel::sql_query(format!("PRAGMA {name}"));
        match name {
            "mmap_size" => query.get_result::<Sizes>(sqlite).map(|s| s.mmap_size),
            _ => query.get_result::<Pages>(sqlite).map(|p| p.cache_size),
        }
        .expect(name)
    };
    let mut settings = Settings::with_database(test_db.database.clone());
    settings.database.sqlite_mmap_mib = 64;
    settings.database.sqlite_cache_mib = 3;
    let pool =
        db::pool_with(&test_db.database, settings.database.pool_options(false)).expect("pool");
    let mut conn = pool.get().expect("pooled connection");
    assert_eq!(pragma(&mut conn, "mmap_size"), 64 << 20);
    // A negative cache_size is in KiB.
    assert_eq!(pragma(&mut conn, "cache_size"), -3 * 1024);

    let pool = db::pool(&test_db.database).expect("pool with the defaults");
    let mut conn = pool.get().expect("pooled connection");
    assert_eq!(
        pragma(&mut conn, "mmap_size"),
        i64::from(db::SQLITE_MMAP_MIB) << 20
    );
    assert_eq!(
        pragma(&mut conn, "cache_size"),
        -(i64::from(db::SQLITE_CACHE_MIB) << 10)
    );
}

#[on_both_backends]
async fn deleting_a_user_deletes_its_tokens(backend: Backend) {
    use multitoken::db::schema::{tokens, users};
    let app = TestApp::spawn(backend).await;
    let alice = app.create_user("alice", "", false);
    app.create_user("bob", "", false);
    app.login("alice", "web").await;
    app.login("bob", "web").await;
    let mut conn = app.connection();
    diesel::delete(users::table.find(alice))
        .execute(&mut conn)
        .expect("delete");
    let left: Vec<i64> = tokens::table
        .select(tokens::user_id)
        .load(&mut conn)
        .expect("load");
    assert_eq!(left.len(), 1);
    assert_ne!(left[0], alice);
}
