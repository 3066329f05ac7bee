//! API credentials, and the one type that holds a secret.
//!
//! [`Secret`] has no `Display`, and its `Debug` prints `[redacted]`, so a
//! secret cannot reach a log line, a report, an error message or a panic by
//! accident: the only way out is [`Secret::expose`], called where a request
//! is signed or a token header is set.

use std::fmt;
use std::path::{Path, PathBuf};

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

/// So a command-line option can hold a secret without ever showing it in
/// `Debug` (`simulate --secret-key`).
impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
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

/// Where the credentials file is named.
pub const ENV_CREDENTIALS_FILE: &str = "TENCENTCLOUD_CREDENTIALS_FILE";

/// No usable credentials: exit 2, naming what to set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error(
        "no credentials found: set {ENV_SECRET_ID} and {ENV_SECRET_KEY} (plus TENCENTCLOUD_SESSION_TOKEN for temporary keys), or put secret_id and secret_key in the [{profile}] section of {file}; or pass --dry-run to try without calls"
    )]
    Missing { profile: String, file: String },
    #[error("{present} is set but {missing} is not: set both")]
    Half {
        present: &'static str,
        missing: &'static str,
    },
    #[error("{file}: {problem}")]
    File { file: String, problem: String },
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

/// The credentials file: `$TENCENTCLOUD_CREDENTIALS_FILE`, else
/// `~/.tencentcloud/credentials`.
pub fn credentials_file(get: &impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(path) = var(get, ENV_CREDENTIALS_FILE) {
        return Some(PathBuf::from(path));
    }
    var(get, "HOME").map(|home| Path::new(&home).join(".tencentcloud").join("credentials"))
}

/// Credentials from the INI file's `[profile]` section (`secret_id`,
/// `secret_key`, optional `token`), read like the official SDKs: values
/// trimmed, `#` and `;` comment lines skipped, quotes kept as written.
/// `Ok(None)` when the file does not exist.
pub fn from_file(path: &Path, profile: &str) -> Result<Option<Credentials>, CredentialsError> {
    let shown = path.display().to_string();
    let problem = |problem: String| CredentialsError::File {
        file: shown.clone(),
        problem,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(problem(format!("cannot read it: {e}"))),
    };
    warn_if_shared(path);
    let options = ini::ParseOption {
        enabled_quote: false,
        enabled_escape: false,
        ..ini::ParseOption::default()
    };
    // The parser's own message may quote the line, which may hold a key: say where only.
    let ini = ini::Ini::load_from_str_opt(&text, options).map_err(|e| {
        problem(format!(
            "not an INI file (line {}, column {})",
            e.line, e.col
        ))
    })?;
    let Some(section) = ini.section(Some(profile)) else {
        let profiles: Vec<&str> = ini.sections().flatten().collect();
        return Err(problem(format!(
            "there is no [{profile}] section (sections: {})",
            if profiles.is_empty() {
                "none".to_string()
            } else {
                profiles.join(", ")
            }
        )));
    };
    let get = |key: &str| section.get(key).map(str::trim).filter(|v| !v.is_empty());
    match (get("secret_id"), get("secret_key")) {
        (Some(id), Some(key)) => Ok(Some(Credentials {
            secret_id: id.to_string(),
            secret_key: Secret::new(key),
            token: get("token").map(Secret::new),
        })),
        (id, _) => Err(problem(format!(
            "the [{profile}] section needs both secret_id and secret_key ({} is missing)",
            if id.is_none() {
                "secret_id"
            } else {
                "secret_key"
            }
        ))),
    }
}

/// Warn when other users could read the file.
fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    event = "credentials",
                    "{} is readable by other users (mode {mode:o}): run `chmod 600 {}`",
                    path.display(),
                    path.display()
                );
            }
        }
    }
}

/// The credentials to sign with. Without `--profile`: the environment, then
/// the file's `[default]` section. With `--profile`: that section of the
/// file (the environment is then ignored, so a profile always means what it
/// says).
pub fn resolve(
    get: impl Fn(&str) -> Option<String>,
    profile: Option<&str>,
) -> Result<Credentials, CredentialsError> {
    let file = credentials_file(&get);
    // A file named on purpose that is not there is a mistake to point at.
    let named = get(ENV_CREDENTIALS_FILE).is_some_and(|v| !v.trim().is_empty());
    let absent = |path: &Path, profile: &str| CredentialsError::File {
        file: path.display().to_string(),
        problem: if named {
            format!("{ENV_CREDENTIALS_FILE} names this file, but it does not exist")
        } else {
            format!("it does not exist, so --profile {profile} cannot be read from it")
        },
    };
    let missing = |profile: &str| CredentialsError::Missing {
        profile: profile.to_string(),
        file: file
            .as_ref()
            .map(|f| f.display().to_string())
            .unwrap_or_else(|| "~/.tencentcloud/credentials".into()),
    };
    match profile {
        None => {
            if let Some(c) = from_env(&get)? {
                return Ok(c);
            }
            let Some(path) = &file else {
                return Err(missing("default"));
            };
            from_file(path, "default")?.ok_or_else(|| {
                if named {
                    absent(path, "default")
                } else {
                    missing("default")
                }
            })
        }
        Some(profile) => {
            if var(&get, ENV_SECRET_ID).is_some() {
                tracing::warn!(
                    event = "credentials",
                    "--profile {profile} given: ignoring {ENV_SECRET_ID} and {ENV_SECRET_KEY}"
                );
            }
            let Some(path) = &file else {
                return Err(missing(profile));
            };
            from_file(path, profile)?.ok_or_else(|| absent(path, profile))
        }
    }
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
        let c = resolve(
            env(&[(ENV_SECRET_ID, "AKIDx"), (ENV_SECRET_KEY, " key ")]),
            None,
        )
        .unwrap();
        assert_eq!(c.secret_id, "AKIDx");
        assert_eq!(c.secret_key.expose(), "key");
        assert_eq!(c.token, None);
        for name in ENV_TOKENS {
            let c = resolve(
                env(&[
                    (ENV_SECRET_ID, "AKIDx"),
                    (ENV_SECRET_KEY, "k"),
                    (name, "tok"),
                ]),
                None,
            )
            .unwrap();
            assert_eq!(c.token.unwrap().expose(), "tok", "{name}");
        }
        // The first name wins.
        let c = resolve(
            env(&[
                (ENV_SECRET_ID, "AKIDx"),
                (ENV_SECRET_KEY, "k"),
                ("TENCENTCLOUD_SECURITY_TOKEN", "third"),
                ("TENCENTCLOUD_SESSION_TOKEN", "first"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(c.token.unwrap().expose(), "first");
    }

    #[test]
    fn missing_or_half_credentials_name_the_variables() {
        let e = resolve(env(&[]), None).unwrap_err();
        assert!(e.to_string().contains(ENV_SECRET_ID) && e.to_string().contains(ENV_SECRET_KEY));
        let e = resolve(
            env(&[(ENV_SECRET_ID, "AKIDx"), (ENV_SECRET_KEY, "  ")]),
            None,
        )
        .unwrap_err();
        assert_eq!(
            e,
            CredentialsError::Half {
                present: ENV_SECRET_ID,
                missing: ENV_SECRET_KEY
            }
        );
        // The error never carries a secret.
        let e = resolve(env(&[(ENV_SECRET_KEY, "supersecret")]), None).unwrap_err();
        assert!(!e.to_string().contains("supersecret"));
    }

    fn file(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("credentials");
        std::fs::write(&path, text).unwrap();
        path
    }

    const FILE: &str = "# keys\n[default]\nsecret_id = AKIDfile\nsecret_key = filekey \n\n; other\n[prod]\nsecret_id=AKIDprod\nsecret_key=\"quoted\"\ntoken = prodtoken\n";

    #[test]
    fn reads_the_credentials_file_like_the_sdks() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(dir.path(), FILE);
        let c = from_file(&path, "default").unwrap().unwrap();
        assert_eq!(
            (c.secret_id.as_str(), c.secret_key.expose()),
            ("AKIDfile", "filekey")
        );
        assert!(c.token.is_none());
        let c = from_file(&path, "prod").unwrap().unwrap();
        // Quotes are kept, as the official SDKs keep them.
        assert_eq!(c.secret_key.expose(), "\"quoted\"");
        assert_eq!(c.token.unwrap().expose(), "prodtoken");
        let e = from_file(&path, "staging").unwrap_err().to_string();
        assert!(
            e.contains("[staging]") && e.contains("default, prod"),
            "{e}"
        );
        assert_eq!(
            from_file(&dir.path().join("none"), "default").unwrap(),
            None
        );
        let half = file(dir.path(), "[default]\nsecret_id = AKIDx\n");
        let e = from_file(&half, "default").unwrap_err().to_string();
        assert!(e.contains("secret_key is missing"), "{e}");
        let bad = file(dir.path(), "[default\nsecret_key = topsecret\n");
        let e = from_file(&bad, "default").unwrap_err().to_string();
        assert!(!e.contains("topsecret"), "{e}");
    }

    #[test]
    fn environment_first_then_the_file_and_a_profile_means_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(dir.path(), FILE);
        let path = path.to_str().unwrap();
        let both = [
            (ENV_SECRET_ID, "AKIDenv"),
            (ENV_SECRET_KEY, "envkey"),
            (ENV_CREDENTIALS_FILE, path),
        ];
        assert_eq!(resolve(env(&both), None).unwrap().secret_id, "AKIDenv");
        assert_eq!(
            resolve(env(&[(ENV_CREDENTIALS_FILE, path)]), None)
                .unwrap()
                .secret_id,
            "AKIDfile"
        );
        assert_eq!(
            resolve(env(&both), Some("prod")).unwrap().secret_id,
            "AKIDprod"
        );
        // ~/.tencentcloud/credentials when the variable is not set.
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join(".tencentcloud")).unwrap();
        std::fs::write(home.join(".tencentcloud/credentials"), FILE).unwrap();
        let c = resolve(env(&[("HOME", home.to_str().unwrap())]), None).unwrap();
        assert_eq!(c.secret_id, "AKIDfile");
        // Nothing anywhere: the message names the variables and the file.
        let e = resolve(env(&[("HOME", "/nonexistent")]), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(ENV_SECRET_ID) && e.contains("/nonexistent/.tencentcloud/credentials"),
            "{e}"
        );
        let e = resolve(env(&[("HOME", "/nonexistent")]), Some("prod"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("--profile prod"), "{e}");
        // A file named by the variable that is not there: said plainly,
        // unless the environment's keys made the file unneeded.
        let gone = dir.path().join("gone");
        let gone = gone.to_str().unwrap();
        for profile in [None, Some("prod")] {
            let e = resolve(env(&[(ENV_CREDENTIALS_FILE, gone)]), profile)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(gone)
                    && e.contains(ENV_CREDENTIALS_FILE)
                    && e.contains("does not exist"),
                "{e}"
            );
        }
        let keys_and_gone = [
            (ENV_SECRET_ID, "AKIDenv"),
            (ENV_SECRET_KEY, "envkey"),
            (ENV_CREDENTIALS_FILE, gone),
        ];
        assert_eq!(
            resolve(env(&keys_and_gone), None).unwrap().secret_id,
            "AKIDenv"
        );
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
