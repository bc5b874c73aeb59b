//! Users and their accounts: registration, passwords (change, reset, rules,
//! Django's hashes), e-mail verification, two-factor, usernames, the account
//! throttles, importing a Django project.

mod account_throttles;
mod django_import;
mod django_passwords;
mod django_project;
mod email_verification;
mod hosted_pages;
mod password_change;
mod password_reset;
mod registration;
mod two_factor;
mod usernames;
