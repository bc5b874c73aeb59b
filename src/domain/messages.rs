//! The one home of the contract's wire texts: every message a client can read
//! in a response body (API.md), DRF's words where the contract keeps them.
//! They live together so that a changed text is one diff, reviewed against
//! the contract; limits and names that are not messages stay with their rules.

// Any field (DRF's words).
pub const REQUIRED: &str = "This field is required.";
pub const NOT_A_STRING: &str = "Not a valid string.";
/// Django REST Framework's words for a NUL in a text field. PostgreSQL
/// cannot store one in text, so it is refused before any query.
pub const NULL_CHARACTERS: &str = "Null characters are not allowed.";

// A list field (DRF's `ListField` words).
pub const EMPTY_LIST: &str = "This list may not be empty.";
/// DRF's words for a value that is not a list, naming the Python type it read.
pub fn not_a_list(kind: &str) -> String {
    format!("Expected a list of items but got type \"{kind}\".")
}
/// DRF's words for a list longer than its `max_length`.
pub fn too_many_elements(max: usize) -> String {
    format!("Ensure this field has no more than {max} elements.")
}

// A username.
pub const INVALID_USERNAME: &str =
    "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.";
pub const USERNAME_TOO_LONG: &str = "Ensure this field has no more than 150 characters.";

// An e-mail address.
pub const INVALID_EMAIL: &str = "Enter a valid email address.";

// A token's scopes.
pub const INVALID_SCOPES: &str =
    "Enter valid scopes: 1-64 letters, digits, ':', '.', '_' or '-' each, separated by spaces.";

// A new password (Django's validators).
pub const TOO_SHORT: &str = "This password is too short. It must contain at least 8 characters.";
pub const ENTIRELY_NUMERIC: &str = "This password is entirely numeric.";
pub const TOO_COMMON: &str = "This password is too common.";
pub const SIMILAR_TO_USERNAME: &str = "The password is too similar to the username.";
pub const SIMILAR_TO_EMAIL: &str = "The password is too similar to the email address.";

// A client name.
pub const INVALID_CLIENT: &str =
    "Enter a valid client name: 1-64 letters, digits, '.', '_' or '-'.";

// A form or query value.
pub const NOT_A_BOOLEAN: &str = "Must be a valid boolean.";

/// A form or query value whose percent-decoded bytes are not UTF-8. They
/// are refused, not replaced: replacing would make different byte strings
/// (passwords typed in a legacy encoding) one and the same.
pub const INVALID_UTF8: &str = "Not a valid string: the value is not UTF-8.";

// The console session's CSRF check.
pub const CSRF_FAILED: &str = "CSRF Failed: CSRF token missing or incorrect.";

// `POST /login`.
/// The answer of `POST /login` to wrong credentials in the body.
pub const BAD_CREDENTIALS: &str = "Unable to log in with provided credentials.";

// The events filter.
pub const UNKNOWN_TYPE: &str = "Select a valid event type.";
pub const NOT_A_USER_ID: &str = "A valid integer is required.";

// `/admin/users`.
pub const BLANK: &str = "This field may not be blank.";

// Sign-in with a provider.
/// The contract's answer to any failed check.
pub const PROVIDER_REFUSED: &str = "Unable to log in with the provider.";

// Two-factor authentication.
pub const INVALID_CODE: &str = "Invalid code.";
pub const INVALID_PASSWORD: &str = "Invalid password.";
pub const ALREADY_ENABLED: &str = "Two-factor authentication is already enabled.";
pub const NOT_ENABLED: &str = "Two-factor authentication is not enabled.";
pub const NOT_SET_UP: &str =
    "Two-factor authentication is not being set up: start with /2fa/totp/setup.";
pub const DISABLED: &str = "Two-factor authentication is off.";
pub const REQUIRED_FOR_ADMINS: &str = "Two-factor authentication is required for administrators.";

// Sign-in with a password.
pub const EMAIL_NOT_VERIFIED: &str = "E-mail is not verified.";

// Tokens.
pub const TOO_MANY_CLIENTS: &str = "Maximum number of clients per user exceeded.";

// Registration.
pub const REGISTRATION_CLOSED: &str = "Registration is closed.";

// Password reset.
pub const RESET_SENT: &str = "Password reset e-mail has been sent.";
pub const RESET_DONE: &str = "Password has been reset with the new password.";
pub const INVALID_VALUE: &str = "Invalid value";

// E-mail verification.
/// The `detail` of both endpoints' success, as dj-rest-auth answers.
pub const OK: &str = "ok";
pub const INVALID_KEY: &str = "Invalid value";

// Managing users.
pub const USERNAME_TAKEN: &str = "A user with that username already exists.";
pub const CANNOT_DEACTIVATE_SELF: &str = "You cannot deactivate your own account.";
pub const CANNOT_DEMOTE_SELF: &str = "You cannot remove your own admin rights.";
pub const CANNOT_DEACTIVATE_LAST_ADMIN: &str = "You cannot deactivate the last active admin.";
pub const CANNOT_DEMOTE_LAST_ADMIN: &str =
    "You cannot remove the admin rights of the last active admin.";

// Password change.
pub const WRONG_OLD_PASSWORD: &str = "Your old password was entered incorrectly.";
pub const PASSWORD_CHANGED: &str = "New password has been saved.";

// Why a request is not authenticated (DRF's words).
pub const NOT_AUTHENTICATED: &str = "Authentication credentials were not provided.";
pub const NO_CREDENTIALS_IN_HEADER: &str = "Invalid token header. No credentials provided.";
pub const TOKEN_CONTAINS_SPACES: &str =
    "Invalid token header. Token string should not contain spaces.";
pub const TOKEN_INVALID_CHARACTERS: &str =
    "Invalid token header. Token string should not contain invalid characters.";
pub const INVALID_TOKEN: &str = "Invalid token.";
/// A secret scanning report whose signature is missing, bad or by a key we do not know.
pub const INVALID_SIGNATURE: &str = "Invalid signature.";
pub const TOKEN_EXPIRED: &str = "Token has expired.";
pub const USER_INACTIVE: &str = "User inactive or deleted.";
/// A DPoP proof missing for a bound key, or one that does not hold.
pub const INVALID_DPOP_PROOF: &str = "Invalid DPoP proof.";
/// A sign-in without a proof by a client of `DPOP_REQUIRED_CLIENTS`.
pub const DPOP_REQUIRED: &str = "This client must sign in with a DPoP proof.";

// The fixed `detail` of the other errors.
pub const PERMISSION_DENIED: &str = "You do not have permission to perform this action.";
pub const NOT_FOUND: &str = "Not found.";
pub const INVALID_PAGE: &str = "Invalid page.";
pub const SERVICE_UNAVAILABLE: &str = "Service temporarily unavailable, try again later.";
pub const SERVER_ERROR: &str = "A server error occurred.";
pub const BAD_BASIC_CREDENTIALS: &str = "Invalid username/password.";
pub const REQUEST_TOO_LARGE: &str = "Request body too large.";
