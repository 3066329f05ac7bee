//! API credentials, and the one type that holds a secret.
//!
//! [`Secret`] has no `Display`, and its `Debug` prints `[redacted]`, so a
//! secret cannot reach a log line, a report, an error message or a panic by
//! accident: the only way out is [`Secret::expose`], called where a request
//! is signed or a token header is set.

use std::fmt;

/// A string that must never be printed: a SecretKey or a session token.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for signing and for the `X-TC-Token` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A SecretId with its SecretKey, and a session token for temporary credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Not a secret (it names the key), but only its first characters are ever shown.
    pub secret_id: String,
    pub secret_key: Secret,
    /// Sent as `X-TC-Token` when present (STS or CVM-role credentials).
    pub token: Option<Secret>,
}

impl Credentials {
    /// The SecretId cut to its first 8 characters, for plans and logs.
    pub fn id_prefix(&self) -> String {
        let prefix: String = self.secret_id.chars().take(8).collect();
        format!("{prefix}…")
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("secret_id", &self.id_prefix())
            .field("secret_key", &self.secret_key)
            .field("token", &self.token)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_key_or_the_token() {
        let c = Credentials {
            secret_id: "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE".into(),
            secret_key: Secret::new("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"),
            token: Some(Secret::new("session-token-value")),
        };
        let shown = format!("{c:?} {c:#?}");
        assert!(!shown.contains("Gu5t9x"), "{shown}");
        assert!(!shown.contains("session-token-value"), "{shown}");
        assert!(
            !shown.contains("AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"),
            "{shown}"
        );
        assert!(shown.contains("AKIDz8kr…"), "{shown}");
    }
}
