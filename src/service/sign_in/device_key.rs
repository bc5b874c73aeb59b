//! What a sign-in asks for besides the proof of who the user is: the key
//! for a device (client, scopes, DPoP binding) and what the device presents
//! with it (a second factor, its earlier device proofs). A password login,
//! a provider's ID token and a registration that signs in all ask for the
//! same key under the same rules, so it is one value, checked and turned
//! into a grant in one place.

use crate::config::Settings;
use crate::domain::event::EventSource;
use crate::domain::{ClientName, Scopes};
use crate::service::tokens::{self, Grant};
use crate::service::Error;

/// The key a device asks for: replacing the one the (user, client) pair had.
#[derive(Debug)]
pub struct DeviceKey {
    pub client: ClientName,
    /// Already valid; checked against `ALLOWED_SCOPES` by [`DeviceKey::check`].
    pub scopes: Scopes,
    /// The thumbprint of the DPoP key the request proved it holds.
    pub dpop_jkt: Option<String>,
}

impl DeviceKey {
    /// The settings' rules on the key asked for (`ALLOWED_SCOPES`, the
    /// clients that must bind theirs to DPoP): checked before anything of
    /// the user is, so that a refused key costs no password check nor
    /// throttle count.
    pub fn check(&self, settings: &Settings) -> Result<(), Error> {
        tokens::check_allowed_scopes(settings, &self.scopes)?;
        self.check_binding(settings)
    }

    /// The DPoP rule alone, for a registration, whose scopes are checked
    /// with its other fields so that every problem is reported at once.
    pub fn check_binding(&self, settings: &Settings) -> Result<(), Error> {
        tokens::check_dpop_required(settings, &self.client, self.dpop_jkt.is_some())
    }

    /// The grant that issues this key, recorded as asked from `source`.
    pub fn grant(self, source: &EventSource) -> Grant<'_> {
        Grant {
            client: self.client,
            scopes: self.scopes,
            source,
            dpop_jkt: self.dpop_jkt,
        }
    }
}

/// The device a sign-in is for: the key it asks for and what it presents
/// besides the proof of identity, the same for every way to sign in.
#[derive(Debug)]
pub struct SignInDevice {
    pub key: DeviceKey,
    /// The second factor, when the user has two-factor on: a TOTP code or a
    /// recovery code.
    pub otp: Option<String>,
    /// Device proofs presented, as sent (see `throttle::Guess`): a valid one
    /// of the user counts failures against itself instead of the username.
    pub device_proofs: Vec<String>,
}

impl SignInDevice {
    /// A device as its request's body describes it; the key is bound to
    /// DPoP afterwards (`key.dpop_jkt`), as the proof is read from headers.
    pub fn unbound(
        client: ClientName,
        scopes: Scopes,
        otp: Option<String>,
        device_proofs: Vec<String>,
    ) -> Self {
        Self {
            key: DeviceKey {
                client,
                scopes,
                dpop_jkt: None,
            },
            otp,
            device_proofs,
        }
    }
}
