//! Administration: the admin API, its guards, and the ops console (over HTTP
//! and in a browser).

mod browser;
mod console;
mod console_dashboard;
mod console_events;
mod console_sessions;
mod console_users;
mod guards;
mod users;
