//! Reading one user by id, for whichever columns a use case needs.

/// The user `$id` as `$row`, one of the structs that say what a use case
/// needs of a user (`User`, `ResetUser`, `VerifyingUser`, `LinkedUser`),
/// or `None`: each of them is read by id the same way, so it is written
/// once. Evaluates to a `QueryResult<Option<$row>>`.
macro_rules! one_user_by_id {
    ($conn:expr, $row:ty, $id:expr) => {
        $crate::db::schema::users::table
            .find($id)
            .select(<$row>::as_select())
            .first($conn)
            .optional()
    };
}
pub(super) use one_user_by_id;
