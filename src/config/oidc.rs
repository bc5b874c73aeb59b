//! OpenID Connect sign-in: the providers, and whether their users land on
//! the account with the same verified e-mail address.

use super::parse::named;
use crate::domain::oidc::{LinkByEmail, OidcProviders};
use std::time::Duration;

/// How long one call to an OpenID Connect provider may take, connecting included.
pub const OIDC_HTTP_TIMEOUT: Duration = Duration::from_secs(5);

settings_group! {
    #[command(next_help_heading = "OpenID Connect")]
    pub struct OidcSettings {
        /// OpenID Connect providers for social login, by name (comma-separated); each needs
        /// OIDC_<NAME>_ISSUER, OIDC_<NAME>_CLIENT_ID and OIDC_<NAME>_CLIENT_SECRET.
        // Its messages name the variable at fault (OIDC_<NAME>_…) themselves.
        oidc_providers: OidcProviders = "" => |text: &str| OidcProviders::parse(text, |name| std::env::var(name).ok()),

        /// Whether a provider's sign-in with a verified e-mail lands on the user with that address: never or verified.
        oidc_link_by_email: LinkByEmail = "never" => named(LinkByEmail::parse),

        /// Internal: how long one call to an OpenID Connect provider may take.
        internal oidc_http_timeout: Duration = OIDC_HTTP_TIMEOUT,
    }
}
