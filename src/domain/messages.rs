//! The one home of the contract's wire texts: every message a client can read
//! in a response body (API.md), DRF's words where the contract keeps them.
//! They live together so that a changed text is one diff, reviewed against
//! the contract; limits and names that are not messages stay with their rules.

// domain/validation.rs
pub const REQUIRED: &str = "This field is required.";
pub const NOT_A_STRING: &str = "Not a valid string.";
/// Django REST Framework's words for a NUL in a text field. PostgreSQL
/// cannot store one in text, so it is refused before any query.
pub const NULL_CHARACTERS: &str = "Null characters are not allowed.";

// domain/username.rs
pub const INVALID_USERNAME: &str =
    "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.";
pub const USERNAME_TOO_LONG: &str = "Ensure this field has no more than 150 characters.";

// domain/email.rs
pub const INVALID_EMAIL: &str = "Enter a valid email address.";

// domain/scope.rs
pub const INVALID_SCOPES: &str =
    "Enter valid scopes: 1-64 letters, digits, ':', '.', '_' or '-' each, separated by spaces.";

// domain/password.rs
pub const TOO_SHORT: &str = "This password is too short. It must contain at least 8 characters.";
pub const ENTIRELY_NUMERIC: &str = "This password is entirely numeric.";
pub const TOO_COMMON: &str = "This password is too common.";
pub const SIMILAR_TO_USERNAME: &str = "The password is too similar to the username.";
pub const SIMILAR_TO_EMAIL: &str = "The password is too similar to the email address.";

// domain/client_name.rs
pub const INVALID_CLIENT: &str =
    "Enter a valid client name: 1-64 letters, digits, '.', '_' or '-'.";

// http/body.rs
pub const NOT_A_BOOLEAN: &str = "Must be a valid boolean.";

// http/auth.rs
pub const CSRF_FAILED: &str = "CSRF Failed: CSRF token missing or incorrect.";

// http/error.rs
/// The answer of `POST /login` to wrong credentials in the body.
pub const BAD_CREDENTIALS: &str = "Unable to log in with provided credentials.";

// routes/events.rs
pub const UNKNOWN_TYPE: &str = "Select a valid event type.";
pub const NOT_A_USER_ID: &str = "A valid integer is required.";

// routes/admin.rs
pub const BLANK: &str = "This field may not be blank.";

// http/body.rs
/// A form or query value whose percent-decoded bytes are not UTF-8. They
/// are refused, not replaced: replacing would make different byte strings
/// (passwords typed in a legacy encoding) one and the same.
pub const INVALID_UTF8: &str = "Not a valid string: the value is not UTF-8.";
