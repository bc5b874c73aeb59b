//! Queries of the admin API and the console: finding users by part of their
//! name or address a page at a time, and changing a user's flags.

use super::schema::{tokens, users};
use super::users::User;
use super::AnyConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;

#[diesel::declare_sql_function]
extern "SQL" {
    fn lower(text: Text) -> Text;
}

/// A `LIKE` pattern matching `needle` anywhere, with `\` escaping the
/// wildcards a needle may contain.
fn contains_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

type ContainsText<Column> = diesel::dsl::Escape<diesel::dsl::Like<Column, String>>;
type Matching =
    diesel::dsl::Or<ContainsText<users::username_key>, ContainsText<lower<users::email>>>;

/// Users whose username or e-mail contains `search`, without regard to case.
fn matching(search: &str) -> Matching {
    let pattern = contains_pattern(search);
    users::username_key
        .like(pattern.clone())
        .escape('\\')
        .or(lower(users::email).like(pattern).escape('\\'))
}

pub fn count_matching(conn: &mut AnyConnection, search: &str) -> QueryResult<i64> {
    users::table
        .filter(matching(search))
        .count()
        .get_result(conn)
}

/// Up to `limit` users matching `search` from `offset`, by id.
pub fn page_matching(
    conn: &mut AnyConnection,
    search: &str,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<User>> {
    users::table
        .filter(matching(search))
        .order(users::id)
        .offset(offset)
        .limit(limit)
        .select(User::as_select())
        .load(conn)
}

pub fn set_email(conn: &mut AnyConnection, user_id: i64, email: &str) -> QueryResult<usize> {
    diesel::update(users::table.find(user_id))
        .set(users::email.eq(email))
        .execute(conn)
}

pub fn set_admin(conn: &mut AnyConnection, user_id: i64, is_admin: bool) -> QueryResult<usize> {
    diesel::update(users::table.find(user_id))
        .set(users::is_admin.eq(is_admin))
        .execute(conn)
}

/// Activates or deactivates; deactivating also revokes every token.
/// Returns how many tokens were revoked.
pub fn set_active(conn: &mut AnyConnection, user_id: i64, is_active: bool) -> QueryResult<usize> {
    diesel::update(users::table.find(user_id))
        .set(users::is_active.eq(is_active))
        .execute(conn)?;
    if is_active {
        Ok(0)
    } else {
        diesel::delete(tokens::table.filter(tokens::user_id.eq(user_id))).execute(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_patterns_escape_wildcards_and_ignore_case() {
        assert_eq!(contains_pattern(""), "%%");
        assert_eq!(contains_pattern("Alice"), "%alice%");
        assert_eq!(contains_pattern("a_b%c\\d"), "%a\\_b\\%c\\\\d%");
    }
}
