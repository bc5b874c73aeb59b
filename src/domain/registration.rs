//! `REGISTRATION`: whether anyone may sign up with `POST /register`.

/// Whether `POST /register` is open to anyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    Open,
    Closed,
}

impl Registration {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "open" => Ok(Registration::Open),
            "closed" => Ok(Registration::Closed),
            other => Err(format!("invalid value {other:?}: expected open or closed")),
        }
    }
}
