//! `NEW_DEVICE_MAIL`: a mail to the user when a client name they never
//! signed in on before (as far as the security events go back) signs in,
//! so that a stolen password used from a new device does not go unseen.

use crate::db::users::{self, User};
use crate::domain::event::EventSource;
use crate::domain::{ClientName, Timestamp};
use crate::service::shared::outbox::{deliverable, queue_for_users, Mail};
use crate::service::tokens::IssuedToken;
use crate::service::Services;

pub const NEW_DEVICE_SUBJECT: &str = "New sign-in to your account";
/// The outbox's name for these mails.
const MAIL_KIND: &str = "new-device";

/// Tells the owner of `issued` when it was their first sign-in on its
/// client, whatever proved who they are (a password, a provider).
pub async fn tell_if_new(services: &Services, issued: &IssuedToken, source: &EventSource) {
    if issued.new_device {
        tell_user(services, issued.user_id, &issued.client, source).await;
    }
}

/// Queues the mail when the setting is on and the user has an address. A
/// mail that cannot be queued is logged: the sign-in stands.
async fn tell_user(services: &Services, user_id: i64, client: &ClientName, source: &EventSource) {
    if !services.settings.accounts.new_device_mail {
        return;
    }
    let (client, source) = (client.as_str().to_owned(), source.clone());
    let queued = queue_for_users(
        services,
        MAIL_KIND,
        move |conn| {
            let user = users::by_id(conn, user_id)?;
            Ok(user
                .into_iter()
                .filter(|user| !user.email.is_empty())
                .collect())
        },
        |user: &User| user.id,
        move |found| new_device_mail(found, &client, &source, Timestamp::now()),
    )
    .await;
    if let Err(error) = queued {
        log::warn!("new-device mail for user {user_id} not queued: {error}");
    }
}

fn new_device_mail(
    found: &[User],
    client: &str,
    source: &EventSource,
    at: Timestamp,
) -> Result<Mail, String> {
    let user = found.first().ok_or("no user to mail")?;
    let to = deliverable(&user.email)?;
    let from = source
        .ip
        .map_or_else(|| "an unknown address".to_owned(), |ip| ip.to_string());
    // The user agent is the client's own words: one line of printable text.
    let agent: String = source
        .user_agent
        .as_deref()
        .unwrap_or("none given")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let lines = [
        format!(
            "A device that never signed in to your account ({}) before did so just now.",
            user.username
        ),
        String::new(),
        format!("Client: {client}"),
        format!("From: {from}"),
        format!("User agent: {agent}"),
        format!("At: {}", at.to_rfc3339()),
        String::new(),
        "If this was you, there is nothing to do. If it was not, change your password:".to_owned(),
        "that signs every device out.".to_owned(),
        String::new(),
    ];
    Ok(Mail {
        to,
        subject: NEW_DEVICE_SUBJECT.to_owned(),
        text: lines.join("\r\n"),
    })
}
