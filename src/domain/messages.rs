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

// service/sign_in/oidc/mod.rs
/// The contract's answer to any failed check.
pub const PROVIDER_REFUSED: &str = "Unable to log in with the provider.";

// service/sign_in/two_factor.rs
pub const INVALID_CODE: &str = "Invalid code.";
pub const INVALID_PASSWORD: &str = "Invalid password.";
pub const ALREADY_ENABLED: &str = "Two-factor authentication is already enabled.";
pub const NOT_ENABLED: &str = "Two-factor authentication is not enabled.";
pub const NOT_SET_UP: &str =
    "Two-factor authentication is not being set up: start with /2fa/totp/setup.";
pub const DISABLED: &str = "Two-factor authentication is off.";
pub const REQUIRED_FOR_ADMINS: &str = "Two-factor authentication is required for administrators.";

// service/sign_in/credentials.rs
pub const EMAIL_NOT_VERIFIED: &str = "E-mail is not verified.";

// service/tokens/mod.rs
pub const TOO_MANY_CLIENTS: &str = "Maximum number of clients per user exceeded.";

// service/accounts/registration.rs
pub const REGISTRATION_CLOSED: &str = "Registration is closed.";

// service/accounts/password_reset.rs
pub const RESET_SENT: &str = "Password reset e-mail has been sent.";
pub const RESET_DONE: &str = "Password has been reset with the new password.";
pub const INVALID_VALUE: &str = "Invalid value";

// service/accounts/email_verification.rs
/// The `detail` of both endpoints' success, as dj-rest-auth answers.
pub const OK: &str = "ok";
pub const INVALID_KEY: &str = "Invalid value";

// service/accounts/users.rs
pub const USERNAME_TAKEN: &str = "A user with that username already exists.";
pub const CANNOT_DEACTIVATE_SELF: &str = "You cannot deactivate your own account.";
pub const CANNOT_DEMOTE_SELF: &str = "You cannot remove your own admin rights.";
pub const CANNOT_DEACTIVATE_LAST_ADMIN: &str = "You cannot deactivate the last active admin.";
pub const CANNOT_DEMOTE_LAST_ADMIN: &str =
    "You cannot remove the admin rights of the last active admin.";

// service/accounts/password_change.rs
pub const WRONG_OLD_PASSWORD: &str = "Your old password was entered incorrectly.";
pub const PASSWORD_CHANGED: &str = "New password has been saved.";
