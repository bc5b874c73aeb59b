//! What the JSON API and the console share, and no business rule: the HTTP
//! error type and its one `ResponseError`, the authentication extractors,
//! the console's cookie session and CSRF, the device proof's cookie, what a request says about its
//! client, body decoding, and the middleware every request passes.

pub mod access_log;
pub mod auth;
pub mod body;
pub mod device_proof;
pub mod dpop;
pub mod error;
pub mod middleware;
pub mod request;
pub mod session;

pub use error::ApiError;
