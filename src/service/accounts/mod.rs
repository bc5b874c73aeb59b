//! Users and their accounts: signing up ([`registration`]), what a user
//! changes of their own (password, e-mail verification, reset by mail),
//! what admins do to other users ([`admin`], [`users`]) and the import of a
//! Django project's users ([`django_import`]).
//!
//! The top of the service layer: it may use `sign_in` (a password change
//! is checked like a login), `tokens` and `shared`; nothing below imports it.

pub mod admin;
pub mod bootstrap;
pub mod django_import;
pub mod email_verification;
pub mod password_change;
pub mod password_reset;
pub mod registration;
pub mod users;
