//! OpenID Connect sign-in: the providers, and whether their users land on
//! the account with the same verified e-mail address.

use super::parse::named;
use crate::domain::oidc::{LinkByEmail, OidcProviders};
use clap::Args;
use std::time::Duration;

/// How long one call to an OpenID Connect provider may take, connecting included.
pub const OIDC_HTTP_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "OpenID Connect")]
pub struct OidcSettings {
    /// OpenID Connect providers for social login, by name (comma-separated); each needs
    /// OIDC_<NAME>_ISSUER, OIDC_<NAME>_CLIENT_ID and OIDC_<NAME>_CLIENT_SECRET.
    // Its messages name the variable at fault (OIDC_<NAME>_…) themselves.
    #[arg(long, env = "OIDC_PROVIDERS", default_value = "", global = true,
          value_parser = |text: &str| OidcProviders::parse(text, |name| std::env::var(name).ok()))]
    pub oidc_providers: OidcProviders,

    /// Whether a provider's sign-in with a verified e-mail lands on the user with that address: never or verified.
    #[arg(long, env = "OIDC_LINK_BY_EMAIL", default_value = "never", global = true,
          value_parser = named(LinkByEmail::parse))]
    pub oidc_link_by_email: LinkByEmail,

    /// Internal: how long one call to an OpenID Connect provider may take.
    #[arg(skip = OIDC_HTTP_TIMEOUT)]
    pub oidc_http_timeout: Duration,
}
