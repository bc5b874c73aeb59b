//! What other services use to check a token: forward auth, introspection,
//! reverse proxies, JWT access tokens and their verifiers, a Django resource
//! server.

mod client_snippets;
mod dpop_proxies;
mod forward_auth;
mod forward_auth_identity;
mod generated_clients;
mod guide_samples;
mod introspection;
mod jwt;
mod jwt_verifiers;
mod leaked_keys;
mod proxies;
mod resource_server;
mod webhooks;
