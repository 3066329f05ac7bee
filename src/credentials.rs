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

/// The environment variables read, in order.
pub const ENV_SECRET_ID: &str = "TENCENTCLOUD_SECRET_ID";
pub const ENV_SECRET_KEY: &str = "TENCENTCLOUD_SECRET_KEY";
/// Session-token variables, first found wins (SDK docs, tccli, Terraform).
pub const ENV_TOKENS: [&str; 3] = [
    "TENCENTCLOUD_SESSION_TOKEN",
    "TENCENTCLOUD_TOKEN",
    "TENCENTCLOUD_SECURITY_TOKEN",
];

/// No usable credentials: exit 2, naming what to set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error(
        "no credentials found: set {ENV_SECRET_ID} and {ENV_SECRET_KEY} (plus TENCENTCLOUD_SESSION_TOKEN for temporary keys), or pass --dry-run to try without calls"
    )]
    Missing,
    #[error("{present} is set but {missing} is not: set both")]
    Half {
        present: &'static str,
        missing: &'static str,
    },
}

/// A variable's value, trimmed; unset and blank are the same.
fn var(get: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    let value = get(name)?;
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return None;
    }
    if trimmed.len() != value.len() {
        tracing::warn!(
            event = "credentials",
            "{name} has spaces around it; they were ignored"
        );
    }
    Some(trimmed.to_string())
}

/// Credentials from the environment, if any are set. `get` reads a
/// variable (`std::env::var(..).ok()` outside tests).
pub fn from_env(
    get: impl Fn(&str) -> Option<String>,
) -> Result<Option<Credentials>, CredentialsError> {
    let id = var(&get, ENV_SECRET_ID);
    let key = var(&get, ENV_SECRET_KEY);
    let (secret_id, secret_key) = match (id, key) {
        (Some(id), Some(key)) => (id, key),
        (None, None) => return Ok(None),
        (Some(_), None) => {
            return Err(CredentialsError::Half {
                present: ENV_SECRET_ID,
                missing: ENV_SECRET_KEY,
            });
        }
        (None, Some(_)) => {
            return Err(CredentialsError::Half {
                present: ENV_SECRET_KEY,
                missing: ENV_SECRET_ID,
            });
        }
    };
    let token = ENV_TOKENS
        .iter()
        .find_map(|name| var(&get, name))
        .map(Secret::new);
    Ok(Some(Credentials {
        secret_id,
        secret_key: Secret::new(secret_key),
        token,
    }))
}

/// The credentials to sign with: the environment first.
pub fn resolve(get: impl Fn(&str) -> Option<String>) -> Result<Credentials, CredentialsError> {
    from_env(get)?.ok_or(CredentialsError::Missing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn reads_the_environment_and_each_token_name() {
        let c = resolve(env(&[(ENV_SECRET_ID, "AKIDx"), (ENV_SECRET_KEY, " key ")])).unwrap();
        assert_eq!(c.secret_id, "AKIDx");
        assert_eq!(c.secret_key.expose(), "key");
        assert_eq!(c.token, None);
        for name in ENV_TOKENS {
            let c = resolve(env(&[
                (ENV_SECRET_ID, "AKIDx"),
                (ENV_SECRET_KEY, "k"),
                (name, "tok"),
            ]))
            .unwrap();
            assert_eq!(c.token.unwrap().expose(), "tok", "{name}");
        }
        // The first name wins.
        let c = resolve(env(&[
            (ENV_SECRET_ID, "AKIDx"),
            (ENV_SECRET_KEY, "k"),
            ("TENCENTCLOUD_SECURITY_TOKEN", "third"),
            ("TENCENTCLOUD_SESSION_TOKEN", "first"),
        ]))
        .unwrap();
        assert_eq!(c.token.unwrap().expose(), "first");
    }

    #[test]
    fn missing_or_half_credentials_name_the_variables() {
        let e = resolve(env(&[])).unwrap_err();
        assert!(e.to_string().contains(ENV_SECRET_ID) && e.to_string().contains(ENV_SECRET_KEY));
        let e = resolve(env(&[(ENV_SECRET_ID, "AKIDx"), (ENV_SECRET_KEY, "  ")])).unwrap_err();
        assert_eq!(
            e,
            CredentialsError::Half {
                present: ENV_SECRET_ID,
                missing: ENV_SECRET_KEY
            }
        );
        // The error never carries a secret.
        let e = resolve(env(&[(ENV_SECRET_KEY, "supersecret")])).unwrap_err();
        assert!(!e.to_string().contains("supersecret"));
    }

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
