//! The API's rules, checked on a request as it was received.
//!
//! The order is the contract (issue #2): the `Authorization` header's form,
//! the SecretId, clock skew, the credential scope and SignedHeaders, the
//! signature, the token, `X-TC-Version`, `X-TC-Action`, then (in the
//! server) the rate limit, then the body. The signature is verified by
//! rebuilding the canonical request from what arrived: the method, the path,
//! the headers the client *declared* in SignedHeaders with their received
//! values, and the body bytes. Nothing of the client's own code path runs.

use std::collections::BTreeSet;

use axum::http::HeaderMap;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::SimConfig;
use crate::signer;

/// The API refused the call: `{"Response":{"Error":{Code,Message}}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: String,
    pub message: String,
}

impl Refusal {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Refusal {
            code: code.to_string(),
            message: message.into(),
        }
    }
}

/// The request as it arrived, borrowed from the HTTP layer.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// The parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization<'a> {
    pub secret_id: &'a str,
    pub date: &'a str,
    pub service: &'a str,
    pub terminator: &'a str,
    pub signed_headers: &'a str,
    pub signature: &'a str,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `TC3-HMAC-SHA256 Credential=ID/DATE/SERVICE/tc3_request, SignedHeaders=a;b, Signature=hex`
pub fn parse_authorization(value: &str) -> Option<Authorization<'_>> {
    let rest = value.strip_prefix(signer::ALGORITHM)?.strip_prefix(' ')?;
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (key, val) = part.trim().split_once('=')?;
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => return None,
        };
        if slot.replace(val).is_some() {
            return None;
        }
    }
    let mut scope = credential?.split('/');
    let (secret_id, date, service, terminator) =
        (scope.next()?, scope.next()?, scope.next()?, scope.next()?);
    let (signed_headers, signature) = (signed_headers?, signature?);
    if scope.next().is_some()
        || secret_id.is_empty()
        || signed_headers.is_empty()
        || signature.is_empty()
    {
        return None;
    }
    Some(Authorization {
        secret_id,
        date,
        service,
        terminator,
        signed_headers,
        signature,
    })
}

/// The SecretId a request claims, for the log, when its header parses.
pub fn claimed_secret_id(headers: &HeaderMap) -> Option<String> {
    header(headers, "authorization")
        .and_then(parse_authorization)
        .map(|a| a.secret_id.to_string())
}

/// Every check before the rate limit. Returns the caller's SecretId.
pub fn authenticate(cfg: &SimConfig, req: &Received<'_>, now: i64) -> Result<String, Refusal> {
    let auth = header(req.headers, "authorization")
        .and_then(parse_authorization)
        .ok_or_else(|| {
            Refusal::new(
                "AuthFailure.InvalidAuthorization",
                "Authorization is missing or not of the form `TC3-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.",
            )
        })?;
    if auth.secret_id != cfg.secret_id {
        return Err(Refusal::new(
            "AuthFailure.SecretIdNotFound",
            "The SecretId is not found, please ensure that your SecretId is correct.",
        ));
    }
    let timestamp: i64 = header(req.headers, "x-tc-timestamp")
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| {
            Refusal::new(
                "MissingParameter",
                "The request is missing a valid X-TC-Timestamp (Unix seconds).",
            )
        })?;
    if now.abs_diff(timestamp) > 300 {
        return Err(Refusal::new(
            "AuthFailure.SignatureExpire",
            format!(
                "Signature expired. Timestamp is {timestamp}, server time is {now}: more than 300 s apart."
            ),
        ));
    }
    check_scope(&auth, timestamp)?;
    let signed = check_signed_headers(auth.signed_headers, req.headers)?;
    verify_signature(cfg, req, &auth, &signed, timestamp)?;
    check_token(cfg, req.headers)?;
    match header(req.headers, "x-tc-version") {
        Some(crate::client::VERSION) => {}
        other => {
            return Err(Refusal::new(
                "NoSuchVersion",
                format!(
                    "The API version `{}` does not exist for cdn.",
                    other.unwrap_or("")
                ),
            ));
        }
    }
    match header(req.headers, "x-tc-action") {
        Some(crate::client::ACTION) => {}
        other => {
            return Err(Refusal::new(
                "InvalidAction",
                format!("The action `{}` does not exist.", other.unwrap_or("")),
            ));
        }
    }
    Ok(auth.secret_id.to_string())
}

fn signature_failure(why: impl std::fmt::Display) -> Refusal {
    Refusal::new(
        "AuthFailure.SignatureFailure",
        format!("The provided credentials could not be validated: {why}."),
    )
}

fn check_scope(auth: &Authorization<'_>, timestamp: i64) -> Result<(), Refusal> {
    let date = signer::utc_date(timestamp).map_err(signature_failure)?;
    if auth.date != date {
        return Err(signature_failure(format_args!(
            "the credential scope date `{}` is not the UTC date of X-TC-Timestamp ({date})",
            auth.date
        )));
    }
    if auth.service != signer::SERVICE {
        return Err(signature_failure(format_args!(
            "the credential scope service `{}` is not `cdn`",
            auth.service
        )));
    }
    if auth.terminator != signer::TERMINATOR {
        return Err(signature_failure(format_args!(
            "the credential scope must end in `tc3_request`, not `{}`",
            auth.terminator
        )));
    }
    Ok(())
}

/// SignedHeaders must be lowercase, sorted, unique, include `content-type`
/// and `host`, and name headers that were sent.
fn check_signed_headers<'a>(
    signed_headers: &'a str,
    headers: &HeaderMap,
) -> Result<Vec<&'a str>, Refusal> {
    let names: Vec<&str> = signed_headers.split(';').collect();
    if names
        .iter()
        .any(|n| n.is_empty() || *n != n.to_ascii_lowercase())
    {
        return Err(signature_failure("SignedHeaders must be lowercase"));
    }
    if !names.windows(2).all(|w| w[0] < w[1]) {
        return Err(signature_failure(
            "SignedHeaders must be sorted and without repeats",
        ));
    }
    let set: BTreeSet<&str> = names.iter().copied().collect();
    if !set.contains("content-type") || !set.contains("host") {
        return Err(signature_failure(
            "SignedHeaders must include content-type and host",
        ));
    }
    if let Some(missing) = names.iter().find(|n| !headers.contains_key(**n)) {
        return Err(signature_failure(format_args!(
            "signed header `{missing}` was not sent"
        )));
    }
    Ok(names)
}

fn verify_signature(
    cfg: &SimConfig,
    req: &Received<'_>,
    auth: &Authorization<'_>,
    signed: &[&str],
    timestamp: i64,
) -> Result<(), Refusal> {
    let mut pairs = Vec::with_capacity(signed.len());
    for name in signed {
        let value = header(req.headers, name)
            .ok_or_else(|| signature_failure(format_args!("header `{name}` is not ASCII")))?;
        pairs.push((*name, value));
    }
    let canonical = signer::canonical_headers(&pairs);
    let canonical_request = signer::canonical_request(
        req.method,
        req.path,
        req.query,
        &canonical.canonical,
        &canonical.signed,
        &signer::sha256_hex(req.body),
    );
    let scope = signer::credential_scope(auth.date, auth.service);
    let string_to_sign = signer::string_to_sign(timestamp, &scope, &canonical_request);
    let keys = signer::derive_keys(cfg.secret_key.expose(), auth.date, auth.service);
    let provided = hex::decode(auth.signature).map_err(|_| signature_failure("bad signature"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&keys.secret_signing).expect("any key length");
    mac.update(string_to_sign.as_bytes());
    mac.verify_slice(&provided)
        .map_err(|_| signature_failure("the signature does not match"))
}

fn check_token(cfg: &SimConfig, headers: &HeaderMap) -> Result<(), Refusal> {
    let sent = header(headers, "x-tc-token").filter(|t| !t.is_empty());
    let ok = match (&cfg.token, sent) {
        (Some(expected), Some(sent)) => expected.expose() == sent,
        (None, None) => true,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Refusal::new(
            "AuthFailure.TokenFailure",
            "The token is missing, wrong or expired for these temporary credentials.",
        ))
    }
}

/// A call that passed every check: what it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub urls: Vec<String>,
    pub date: Option<String>,
}

/// The body: `Urls`, a non-empty list of at most `max_urls` http(s) strings,
/// an optional `Date`, nothing else.
pub fn parse_body(cfg: &SimConfig, body: &[u8]) -> Result<Call, Refusal> {
    let param = |msg: String| Refusal::new("InvalidParameter.CdnParamError", msg);
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| param(format!("The request body is not JSON: {e}.")))?;
    let Value::Object(map) = value else {
        return Err(param("The request body must be a JSON object.".into()));
    };
    let urls = match map.get("Urls") {
        None => {
            return Err(Refusal::new(
                "MissingParameter",
                "The request is missing the required parameter `Urls`.",
            ));
        }
        Some(Value::Array(items)) => items,
        Some(_) => return Err(param("`Urls` must be a list of strings.".into())),
    };
    if urls.is_empty() {
        return Err(param("`Urls` must not be empty.".into()));
    }
    if urls.len() > cfg.max_urls {
        return Err(param(format!(
            "`Urls` holds {} URLs; at most {} are allowed per call.",
            urls.len(),
            cfg.max_urls
        )));
    }
    let mut list = Vec::with_capacity(urls.len());
    for (i, item) in urls.iter().enumerate() {
        let Value::String(url) = item else {
            return Err(param(format!("`Urls.{i}` is not a string.")));
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(param(format!(
                "`Urls.{i}` must start with http:// or https://."
            )));
        }
        list.push(url.clone());
    }
    if let Some(unknown) = map.keys().find(|k| *k != "Urls" && *k != "Date") {
        return Err(Refusal::new(
            "UnknownParameter",
            format!("The parameter `{unknown}` is not recognized."),
        ));
    }
    let date = match map.get("Date") {
        None => None,
        Some(Value::String(d)) if is_date(d) => Some(d.clone()),
        Some(_) => {
            return Err(Refusal::new(
                "InvalidParameter.CdnStatInvalidDate",
                "`Date` must be a date written YYYY-MM-DD.",
            ));
        }
    };
    Ok(Call { urls: list, date })
}

/// The `Urls` a body asks for, leniently (for the log): strings only.
pub fn requested_urls(body: &[u8]) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Asked {
        #[serde(rename = "Urls", default)]
        urls: Vec<Value>,
    }
    serde_json::from_slice::<Asked>(body)
        .map(|a| {
            a.urls
                .into_iter()
                .filter_map(|u| u.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn is_date(s: &str) -> bool {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, format).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_sdk_form_of_authorization() {
        let a = parse_authorization(
            "TC3-HMAC-SHA256 Credential=AKIDx/2019-02-25/cdn/tc3_request, SignedHeaders=content-type;host, Signature=abc",
        )
        .unwrap();
        assert_eq!(a.secret_id, "AKIDx");
        assert_eq!(a.date, "2019-02-25");
        assert_eq!(a.service, "cdn");
        assert_eq!(a.terminator, "tc3_request");
        assert_eq!(a.signed_headers, "content-type;host");
        assert_eq!(a.signature, "abc");
    }

    #[test]
    fn refuses_malformed_authorization() {
        for bad in [
            "",
            "TC3-HMAC-SHA256",
            "HMAC-SHA256 Credential=a/b/c/d, SignedHeaders=host, Signature=x",
            "TC3-HMAC-SHA256 Credential=a/b/c, SignedHeaders=host, Signature=x",
            "TC3-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=x",
            "TC3-HMAC-SHA256 Credential=a/b/c/d, Signature=x",
            "TC3-HMAC-SHA256 Credential=a/b/c/d, SignedHeaders=host, Signature=x, Extra=1",
            "TC3-HMAC-SHA256 Credential=a/b/c/d, SignedHeaders=host, Signature=x, Signature=y",
            "TC3-HMAC-SHA256 Credential=/b/c/d, SignedHeaders=host, Signature=x",
        ] {
            assert!(parse_authorization(bad).is_none(), "{bad}");
        }
    }

    fn cfg() -> SimConfig {
        SimConfig::default()
    }

    #[test]
    fn body_rules() {
        let c = cfg();
        let ok = parse_body(
            &c,
            br#"{"Urls":["https://a/x","http://b/y"],"Date":"2021-06-01"}"#,
        )
        .unwrap();
        assert_eq!(ok.urls, ["https://a/x", "http://b/y"]);
        assert_eq!(ok.date.as_deref(), Some("2021-06-01"));
        let code = |body: &[u8]| parse_body(&c, body).unwrap_err().code;
        assert_eq!(code(br#"{"Urls":[]}"#), "InvalidParameter.CdnParamError");
        assert_eq!(
            code(br#"{"Urls":["a.com/x"]}"#),
            "InvalidParameter.CdnParamError"
        );
        assert_eq!(
            code(br#"{"Urls":"https://a/x"}"#),
            "InvalidParameter.CdnParamError"
        );
        assert_eq!(code(br#"{"Urls":[1]}"#), "InvalidParameter.CdnParamError");
        assert_eq!(code(b"not json"), "InvalidParameter.CdnParamError");
        assert_eq!(
            code(br#"["https://a/x"]"#),
            "InvalidParameter.CdnParamError"
        );
        assert_eq!(code(br#"{}"#), "MissingParameter");
        assert_eq!(
            code(br#"{"Urls":["https://a/x"],"Foo":1}"#),
            "UnknownParameter"
        );
        assert_eq!(
            code(br#"{"Urls":["https://a/x"],"Date":"June 1"}"#),
            "InvalidParameter.CdnStatInvalidDate"
        );
        let many: Vec<String> = (0..101).map(|i| format!("https://a/{i}")).collect();
        let body = serde_json::to_vec(&serde_json::json!({ "Urls": many })).unwrap();
        assert_eq!(code(&body), "InvalidParameter.CdnParamError");
        let body = serde_json::to_vec(&serde_json::json!({ "Urls": &many[..100] })).unwrap();
        assert_eq!(parse_body(&c, &body).unwrap().urls.len(), 100);
    }
}
