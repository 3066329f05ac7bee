//! One `EnableCaches` call: build the body, sign it, send it, type the answer.
//!
//! The client holds one `reqwest::Client` (rustls, connection pool shared by
//! every call) and never retries: it turns whatever came back into an
//! [`Answer`] (success, API error, or gateway fault) and leaves the decision
//! to [`crate::retry`]. Every call is signed afresh with the current time.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use url::Url;

use crate::credentials::Credentials;
use crate::signer;

/// The API action this tool calls.
pub const ACTION: &str = "EnableCaches";
/// The CDN API version.
pub const VERSION: &str = "2018-06-06";
/// The China-site endpoint (the default).
pub const DEFAULT_ENDPOINT: &str = "https://cdn.tencentcloudapi.com";
/// The international-site endpoint.
pub const INTL_ENDPOINT: &str = "https://cdn.intl.tencentcloudapi.com";

/// Where calls go: a parsed endpoint URL and the `Host` header it implies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    url: Url,
    host: String,
}

/// Why an `--endpoint` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("`{0}` is not a URL (expected e.g. {DEFAULT_ENDPOINT})")]
    NotAUrl(String),
    #[error("`{0}`: the scheme must be https (or http to a loopback host such as 127.0.0.1)")]
    Scheme(String),
    #[error(
        "`{0}`: plain http is allowed only to loopback hosts (127.0.0.1, ::1, localhost); use https"
    )]
    PlainHttp(String),
    #[error("`{0}`: an endpoint has no user, password, query or fragment")]
    Extra(String),
}

impl Endpoint {
    /// Parse and check an endpoint: `https://` anywhere, `http://` only to loopback.
    pub fn parse(raw: &str) -> Result<Endpoint, EndpointError> {
        let url = Url::parse(raw).map_err(|_| EndpointError::NotAUrl(raw.to_string()))?;
        let host_str = url
            .host_str()
            .ok_or_else(|| EndpointError::NotAUrl(raw.to_string()))?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(host_str) => {}
            "http" => return Err(EndpointError::PlainHttp(raw.to_string())),
            _ => return Err(EndpointError::Scheme(raw.to_string())),
        }
        if !url.username().is_empty()
            || url.password().is_some()
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return Err(EndpointError::Extra(raw.to_string()));
        }
        // `Url::port` is None for the scheme's default port, which is exactly
        // when the Host header carries no `:port`.
        let host = match url.port() {
            Some(port) => format!("{host_str}:{port}"),
            None => host_str.to_string(),
        };
        Ok(Endpoint { url, host })
    }

    /// The `Host` header value, signed exactly as sent.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The request path, `/` for the API.
    pub fn path(&self) -> &str {
        self.url.path()
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.url.as_str())
    }
}

fn is_loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// Everything a [`Client`] needs.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub endpoint: Endpoint,
    pub credentials: Credentials,
    /// Sent as `X-TC-Region` when set (EnableCaches needs none).
    pub region: Option<String>,
    /// `X-TC-Language`: `en-US` so error messages in reports are English.
    pub language: Option<String>,
    /// Per call: connect, send and read the whole answer.
    pub timeout: Duration,
}

/// The JSON body of an `EnableCaches` call.
#[derive(Debug, Serialize)]
pub struct Body<'a, U: Serialize> {
    #[serde(rename = "Urls")]
    pub urls: &'a [U],
    #[serde(rename = "Date", skip_serializing_if = "Option::is_none")]
    pub date: Option<&'a str>,
}

/// A processed call: the URLs the API accepted and refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Success {
    pub success_urls: Vec<String>,
    pub fail_urls: Vec<String>,
    pub task_id: Option<String>,
    pub request_id: Option<String>,
}

/// The API processed the call and refused it (`Response.Error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
}

/// What kind of gateway or network fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// An HTTP status other than 200.
    Http(u16),
    /// The call did not finish within the timeout.
    Timeout,
    /// No connection could be made.
    Connect,
    /// The connection failed while sending or reading.
    Transport,
    /// HTTP 200, but the body is not the `{"Response": …}` envelope.
    InvalidBody,
}

/// The call's fate is unknown: the API may or may not have processed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    /// What happened, for the report's `error_message`.
    pub message: String,
}

impl Fault {
    /// The report's `error_code` for this fault: `Http.502`, `Transport.Timeout`, …
    pub fn code(&self) -> String {
        match self.kind {
            FaultKind::Http(status) => format!("Http.{status}"),
            FaultKind::Timeout => "Transport.Timeout".into(),
            FaultKind::Connect => "Transport.Connect".into(),
            FaultKind::Transport => "Transport.Error".into(),
            FaultKind::InvalidBody => "Response.Invalid".into(),
        }
    }
}

/// The typed answer to one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Success(Success),
    Error(ApiError),
    Fault(Fault),
}

impl Answer {
    /// The error code this answer would put in a report row (`None` for success).
    pub fn code(&self) -> Option<String> {
        match self {
            Answer::Success(_) => None,
            Answer::Error(e) => Some(e.code.clone()),
            Answer::Fault(f) => Some(f.code()),
        }
    }
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "Response")]
    response: ResponseBody,
}

#[derive(Deserialize)]
struct ResponseBody {
    #[serde(rename = "Error")]
    error: Option<ErrorBody>,
    #[serde(rename = "RequestId")]
    request_id: Option<String>,
    #[serde(rename = "CacheOptResult")]
    result: Option<CacheOptResult>,
    #[serde(rename = "TaskId")]
    task_id: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(rename = "Code")]
    code: String,
    #[serde(rename = "Message", default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct CacheOptResult {
    #[serde(rename = "SuccessUrls")]
    success_urls: Option<Vec<String>>,
    #[serde(rename = "FailUrls")]
    fail_urls: Option<Vec<String>>,
}

/// Type an HTTP answer. Pure, so every shape of body is unit-tested.
pub fn parse_answer(status: u16, body: &[u8]) -> Answer {
    if status != 200 {
        return Answer::Fault(Fault {
            kind: FaultKind::Http(status),
            message: format!("HTTP {status}: {}", snippet(body)),
        });
    }
    let envelope: Envelope = match serde_json::from_slice(body) {
        Ok(e) => e,
        Err(e) => {
            return Answer::Fault(Fault {
                kind: FaultKind::InvalidBody,
                message: format!("not the API's JSON envelope ({e}): {}", snippet(body)),
            });
        }
    };
    let r = envelope.response;
    if let Some(error) = r.error {
        return Answer::Error(ApiError {
            code: one_line(&error.code),
            message: one_line(error.message.as_deref().unwrap_or("")),
            request_id: r.request_id.as_deref().map(one_line),
        });
    }
    let (success_urls, fail_urls) = match r.result {
        Some(res) => (
            res.success_urls.unwrap_or_default(),
            res.fail_urls.unwrap_or_default(),
        ),
        None => (Vec::new(), Vec::new()),
    };
    // Everything from the server that reaches a report row stays on one line.
    let task_id = match r.task_id {
        Some(serde_json::Value::String(s)) => Some(one_line(&s)),
        Some(serde_json::Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    };
    Answer::Success(Success {
        success_urls,
        fail_urls,
        task_id,
        request_id: r.request_id.as_deref().map(one_line),
    })
}

/// The first 200 characters of a body, on one line, for an error message.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut cut: String = text.chars().take(200).collect();
    if text.chars().count() > 200 {
        cut.push('…');
    }
    let cut = one_line(&cut);
    if cut.is_empty() {
        "empty body".into()
    } else {
        cut
    }
}

/// Newlines and other control characters become spaces, so a report row stays one line.
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// The current Unix time in seconds, for `X-TC-Timestamp`.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Sends signed `EnableCaches` calls. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    config: ClientConfig,
    /// The signing key of the day (it changes when the UTC date does).
    keys: std::sync::Mutex<Option<(String, signer::SigningKeys)>>,
}

impl Client {
    pub fn new(config: ClientConfig) -> Result<Client, reqwest::Error> {
        // reqwest is built without a bundled crypto provider: use ring's.
        // Installing twice is harmless (the second call reports the first).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("cdn-unblock/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(30))
            // Every attempt must pass the rate limiter and be counted: no
            // retries behind our back, and a signed call never follows a
            // redirect to another host.
            .retry(reqwest::retry::never())
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Client {
            http,
            config,
            keys: std::sync::Mutex::new(None),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// One call, signed now. `urls` are strings (`String`, `&str`).
    pub async fn enable_caches<U: Serialize + Sync>(
        &self,
        urls: &[U],
        date: Option<&str>,
    ) -> Answer {
        self.enable_caches_at(urls, date, unix_now()).await
    }

    /// One call, signed for `timestamp` (tests use it to play a skewed clock).
    pub async fn enable_caches_at<U: Serialize + Sync>(
        &self,
        urls: &[U],
        date: Option<&str>,
        timestamp: i64,
    ) -> Answer {
        let body = serde_json::to_vec(&Body { urls, date }).expect("a list of strings serialises");
        let endpoint = &self.config.endpoint;
        let headers = [
            ("Content-Type", signer::CONTENT_TYPE_JSON),
            ("Host", endpoint.host()),
        ];
        let request = signer::Request {
            method: "POST",
            uri: endpoint.path(),
            query: "",
            headers: &headers,
            payload: &body,
        };
        let date = match signer::utc_date(timestamp) {
            Ok(d) => d,
            Err(e) => {
                return Answer::Fault(Fault {
                    kind: FaultKind::Transport,
                    message: format!("cannot sign: {e}"),
                });
            }
        };
        let keys = {
            let mut cached = self.keys.lock().expect("keys lock");
            match &*cached {
                Some((day, keys)) if *day == date => keys.clone(),
                _ => {
                    let credentials = &self.config.credentials;
                    let keys = signer::derive_keys(
                        credentials.secret_key.expose(),
                        &date,
                        signer::SERVICE,
                    );
                    *cached = Some((date.clone(), keys.clone()));
                    keys
                }
            }
        };
        let signed = signer::sign_with_keys(
            &request,
            &self.config.credentials.secret_id,
            keys,
            date,
            signer::SERVICE,
            timestamp,
        );
        let mut builder = self
            .http
            .post(endpoint.url().clone())
            .timeout(self.config.timeout)
            .header("Host", endpoint.host())
            .header("Content-Type", signer::CONTENT_TYPE_JSON)
            .header("Authorization", signed.authorization)
            .header("X-TC-Action", ACTION)
            .header("X-TC-Version", VERSION)
            .header("X-TC-Timestamp", timestamp.to_string());
        if let Some(region) = &self.config.region {
            builder = builder.header("X-TC-Region", region);
        }
        if let Some(token) = &self.config.credentials.token {
            builder = builder.header("X-TC-Token", token.expose());
        }
        if let Some(language) = &self.config.language {
            builder = builder.header("X-TC-Language", language);
        }
        let response = match builder.body(body).send().await {
            Ok(r) => r,
            Err(e) => return Answer::Fault(transport_fault(&e)),
        };
        let status = response.status().as_u16();
        match response.bytes().await {
            Ok(bytes) => parse_answer(status, &bytes),
            Err(e) => Answer::Fault(transport_fault(&e)),
        }
    }
}

fn transport_fault(e: &reqwest::Error) -> Fault {
    let kind = if e.is_timeout() {
        FaultKind::Timeout
    } else if e.is_connect() {
        FaultKind::Connect
    } else {
        FaultKind::Transport
    };
    // The full cause chain: "error sending request …: connection closed …".
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    Fault {
        kind,
        message: one_line(&message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_host_carries_the_port_only_when_not_default() {
        let e = Endpoint::parse("https://cdn.tencentcloudapi.com").unwrap();
        assert_eq!(e.host(), "cdn.tencentcloudapi.com");
        assert_eq!(e.path(), "/");
        let e = Endpoint::parse("https://cdn.intl.tencentcloudapi.com:443/").unwrap();
        assert_eq!(e.host(), "cdn.intl.tencentcloudapi.com");
        let e = Endpoint::parse("http://127.0.0.1:9100").unwrap();
        assert_eq!(e.host(), "127.0.0.1:9100");
        let e = Endpoint::parse("http://[::1]:9100/").unwrap();
        assert_eq!(e.host(), "[::1]:9100");
        let e = Endpoint::parse("http://localhost:80").unwrap();
        assert_eq!(e.host(), "localhost");
    }

    #[test]
    fn endpoint_refuses_plain_http_off_loopback_and_odd_urls() {
        assert!(matches!(
            Endpoint::parse("http://cdn.tencentcloudapi.com"),
            Err(EndpointError::PlainHttp(_))
        ));
        assert!(matches!(
            Endpoint::parse("ftp://127.0.0.1"),
            Err(EndpointError::Scheme(_))
        ));
        assert!(matches!(
            Endpoint::parse("cdn.tencentcloudapi.com"),
            Err(EndpointError::NotAUrl(_))
        ));
        assert!(matches!(
            Endpoint::parse("https://u:p@cdn.tencentcloudapi.com"),
            Err(EndpointError::Extra(_))
        ));
    }

    #[test]
    fn body_is_compact_and_omits_a_missing_date() {
        let urls = vec!["https://a/x".to_string(), "http://b/y?q=1".to_string()];
        let b = serde_json::to_string(&Body {
            urls: &urls,
            date: None,
        })
        .unwrap();
        assert_eq!(b, r#"{"Urls":["https://a/x","http://b/y?q=1"]}"#);
        let b = serde_json::to_string(&Body {
            urls: &urls[..1],
            date: Some("2021-06-01"),
        })
        .unwrap();
        assert_eq!(b, r#"{"Urls":["https://a/x"],"Date":"2021-06-01"}"#);
    }

    #[test]
    fn parses_the_documented_success() {
        let body = br#"{"Response":{"RequestId":"r-1","CacheOptResult":{"FailUrls":["http://b"],"SuccessUrls":["http://a"]},"TaskId":"1632627566746100176"}}"#;
        assert_eq!(
            parse_answer(200, body),
            Answer::Success(Success {
                success_urls: vec!["http://a".into()],
                fail_urls: vec!["http://b".into()],
                task_id: Some("1632627566746100176".into()),
                request_id: Some("r-1".into()),
            })
        );
    }

    #[test]
    fn tolerates_null_and_missing_success_fields() {
        for body in [
            br#"{"Response":{"RequestId":"r","CacheOptResult":null,"TaskId":null}}"#.as_slice(),
            br#"{"Response":{"RequestId":"r"}}"#,
            br#"{"Response":{"RequestId":"r","CacheOptResult":{"SuccessUrls":null,"FailUrls":null}}}"#,
            br#"{"Response":{"RequestId":"r","CacheOptResult":{}}}"#,
        ] {
            let Answer::Success(s) = parse_answer(200, body) else {
                panic!("not a success: {}", String::from_utf8_lossy(body));
            };
            assert!(s.success_urls.is_empty() && s.fail_urls.is_empty() && s.task_id.is_none());
            assert_eq!(s.request_id.as_deref(), Some("r"));
        }
        let Answer::Success(s) = parse_answer(200, br#"{"Response":{"TaskId":42}}"#) else {
            panic!()
        };
        assert_eq!(s.task_id.as_deref(), Some("42"));
        assert_eq!(s.request_id, None);
    }

    #[test]
    fn parses_an_api_error() {
        let body = br#"{"Response":{"Error":{"Code":"AuthFailure.SignatureFailure","Message":"bad\nsignature"},"RequestId":"r-2"}}"#;
        assert_eq!(
            parse_answer(200, body),
            Answer::Error(ApiError {
                code: "AuthFailure.SignatureFailure".into(),
                message: "bad signature".into(),
                request_id: Some("r-2".into()),
            })
        );
    }

    #[test]
    fn what_the_server_says_stays_on_one_line() {
        let body =
            br#"{"Response":{"Error":{"Code":"Odd\nCode","Message":"m"},"RequestId":"r\r\n2"}}"#;
        let Answer::Error(e) = parse_answer(200, body) else {
            panic!()
        };
        assert_eq!(
            (e.code.as_str(), e.request_id.as_deref()),
            ("Odd Code", Some("r  2"))
        );
        let body = br#"{"Response":{"RequestId":"r\n3","TaskId":"t\n1"}}"#;
        let Answer::Success(s) = parse_answer(200, body) else {
            panic!()
        };
        assert_eq!(
            (s.task_id.as_deref(), s.request_id.as_deref()),
            (Some("t 1"), Some("r 3"))
        );
    }

    #[test]
    fn gateway_faults_are_faults() {
        let a = parse_answer(502, b"<html>Bad Gateway</html>");
        assert_eq!(a.code().as_deref(), Some("Http.502"));
        let a = parse_answer(200, b"<html>oops</html>");
        assert_eq!(a.code().as_deref(), Some("Response.Invalid"));
        let a = parse_answer(200, br#"{"Result":{}}"#);
        assert_eq!(a.code().as_deref(), Some("Response.Invalid"));
        let a = parse_answer(200, br#"{"Response":{"Error":{"Message":"no code"}}}"#);
        assert_eq!(a.code().as_deref(), Some("Response.Invalid"));
        let a = parse_answer(200, b"");
        assert!(matches!(
            a,
            Answer::Fault(Fault {
                kind: FaultKind::InvalidBody,
                ..
            })
        ));
    }
}
