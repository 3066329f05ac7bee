//! TC3-HMAC-SHA256, Tencent Cloud's API 3.0 signature, as pure functions.
//!
//! Nothing here reads a clock or does I/O: the timestamp is an argument, so
//! the published test vectors (`../shared/reference/tencentcloud-api.md` §7)
//! pin every intermediate value. The client signs with [`sign`]; the
//! simulator rebuilds the canonical request from the request *as received*
//! with the same small building blocks ([`canonical_headers`],
//! [`canonical_request`], [`string_to_sign`], [`derive_keys`]).
//!
//! ```text
//! CanonicalRequest = METHOD \n URI \n QUERY \n CanonicalHeaders \n SignedHeaders \n hex(sha256(body))
//! StringToSign     = "TC3-HMAC-SHA256" \n timestamp \n date/service/tc3_request \n hex(sha256(CanonicalRequest))
//! key              = HMAC(HMAC(HMAC("TC3"+SecretKey, date), service), "tc3_request")
//! Signature        = hex(HMAC(key, StringToSign))
//! ```

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::credentials::Credentials;

/// The algorithm name that opens the `Authorization` header.
pub const ALGORITHM: &str = "TC3-HMAC-SHA256";
/// The credential scope's terminator.
pub const TERMINATOR: &str = "tc3_request";
/// The service every CDN endpoint signs for (`cdn.tencentcloudapi.com` and
/// `cdn.intl.tencentcloudapi.com` alike).
pub const SERVICE: &str = "cdn";
/// The Content-Type the official SDKs send and sign for POST.
pub const CONTENT_TYPE_JSON: &str = "application/json";

type HmacSha256 = Hmac<Sha256>;

/// Lowercase hex SHA-256 of `data` (`HashedRequestPayload`, `HashedCanonicalRequest`).
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Raw HMAC-SHA256 of `msg` under `key`.
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// The timestamp could not be turned into a UTC calendar date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("timestamp {0} is outside the supported calendar range")]
pub struct BadTimestamp(pub i64);

/// The UTC date (`YYYY-MM-DD`) of a Unix timestamp: the credential scope's date.
///
/// Not the local date: 1551113065 is 2019-02-26 in UTC+8 but 2019-02-25 in UTC,
/// and the API wants the latter.
pub fn utc_date(timestamp: i64) -> Result<String, BadTimestamp> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::OffsetDateTime::from_unix_timestamp(timestamp)
        .ok()
        .filter(|t| (0..=9999).contains(&t.year()))
        .and_then(|t| t.date().format(format).ok())
        .ok_or(BadTimestamp(timestamp))
}

/// `date/service/tc3_request`.
pub fn credential_scope(date: &str, service: &str) -> String {
    format!("{date}/{service}/{TERMINATOR}")
}

/// `CanonicalHeaders` and `SignedHeaders` built from the headers to sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalHeaders {
    /// Each `lowercase(name):lowercase(trim(value))\n`, sorted by name.
    pub canonical: String,
    /// The lowercase names, sorted, joined with `;`.
    pub signed: String,
}

/// Canonicalise `(name, value)` pairs: names and values lowercased, values
/// trimmed, sorted by name.
pub fn canonical_headers(headers: &[(&str, &str)]) -> CanonicalHeaders {
    let mut lines: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_ascii_lowercase()))
        .collect();
    lines.sort();
    let canonical = lines
        .iter()
        .map(|(name, value)| format!("{name}:{value}\n"))
        .collect();
    let signed = lines
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(";");
    CanonicalHeaders { canonical, signed }
}

/// The canonical request. `canonical_headers` already ends in `\n`, so the
/// result holds a blank line before `signed_headers`.
pub fn canonical_request(
    method: &str,
    uri: &str,
    query: &str,
    canonical_headers: &str,
    signed_headers: &str,
    hashed_payload: &str,
) -> String {
    format!("{method}\n{uri}\n{query}\n{canonical_headers}\n{signed_headers}\n{hashed_payload}")
}

/// The string to sign for a canonical request.
pub fn string_to_sign(timestamp: i64, scope: &str, canonical_request: &str) -> String {
    let hashed = sha256_hex(canonical_request.as_bytes());
    format!("{ALGORITHM}\n{timestamp}\n{scope}\n{hashed}")
}

/// The three derived keys. They are as good as the secret key for a day, so
/// `Debug` does not show them.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeys {
    /// `HMAC("TC3" + SecretKey, date)`
    pub secret_date: [u8; 32],
    /// `HMAC(secret_date, service)`
    pub secret_service: [u8; 32],
    /// `HMAC(secret_service, "tc3_request")`: the key that signs.
    pub secret_signing: [u8; 32],
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKeys([redacted])")
    }
}

/// Derive the signing key for `date` and `service`.
pub fn derive_keys(secret_key: &str, date: &str, service: &str) -> SigningKeys {
    let secret_date = hmac_sha256(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let secret_service = hmac_sha256(&secret_date, service.as_bytes());
    let secret_signing = hmac_sha256(&secret_service, TERMINATOR.as_bytes());
    SigningKeys {
        secret_date,
        secret_service,
        secret_signing,
    }
}

/// `hex(HMAC(secret_signing, string_to_sign))`.
pub fn signature(secret_signing: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(hmac_sha256(secret_signing, string_to_sign.as_bytes()))
}

/// The `Authorization` header value.
pub fn authorization(
    secret_id: &str,
    scope: &str,
    signed_headers: &str,
    signature: &str,
) -> String {
    format!(
        "{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"
    )
}

/// What to sign: the parts of an HTTP request that enter the canonical request.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// `POST` for every call this tool makes.
    pub method: &'a str,
    /// Always `/` for API 3.0.
    pub uri: &'a str,
    /// Empty for POST.
    pub query: &'a str,
    /// The headers to sign, exactly as they are sent (`content-type` and
    /// `host` at least).
    pub headers: &'a [(&'a str, &'a str)],
    /// The exact body bytes.
    pub payload: &'a [u8],
}

/// Every value the signature is made of, so tests can check each step.
#[derive(Debug, Clone)]
pub struct Signed {
    pub hashed_payload: String,
    pub canonical_request: String,
    pub hashed_canonical_request: String,
    pub string_to_sign: String,
    pub date: String,
    pub credential_scope: String,
    pub signed_headers: String,
    pub keys: SigningKeys,
    pub signature: String,
    pub authorization: String,
}

/// Sign `request` at `timestamp` (Unix seconds, also sent as `X-TC-Timestamp`).
pub fn sign(
    request: &Request<'_>,
    credentials: &Credentials,
    service: &str,
    timestamp: i64,
) -> Result<Signed, BadTimestamp> {
    let date = utc_date(timestamp)?;
    let keys = derive_keys(credentials.secret_key.expose(), &date, service);
    Ok(sign_with_keys(
        request,
        &credentials.secret_id,
        keys,
        date,
        service,
        timestamp,
    ))
}

/// [`sign`] with the derived keys already at hand: they depend only on the
/// secret key, the date and the service, so a client keeps them for the day.
/// `date` must be `utc_date(timestamp)`.
pub fn sign_with_keys(
    request: &Request<'_>,
    secret_id: &str,
    keys: SigningKeys,
    date: String,
    service: &str,
    timestamp: i64,
) -> Signed {
    let hashed_payload = sha256_hex(request.payload);
    let headers = canonical_headers(request.headers);
    let canonical_request = canonical_request(
        request.method,
        request.uri,
        request.query,
        &headers.canonical,
        &headers.signed,
        &hashed_payload,
    );
    let hashed_canonical_request = sha256_hex(canonical_request.as_bytes());
    let credential_scope = credential_scope(&date, service);
    let string_to_sign = string_to_sign(timestamp, &credential_scope, &canonical_request);
    let signature = signature(&keys.secret_signing, &string_to_sign);
    let authorization = authorization(secret_id, &credential_scope, &headers.signed, &signature);
    Signed {
        hashed_payload,
        canonical_request,
        hashed_canonical_request,
        string_to_sign,
        date,
        credential_scope,
        signed_headers: headers.signed,
        keys,
        signature,
        authorization,
    }
}

#[cfg(test)]
mod tests {
    //! Known-answer tests: the vectors of `reference/tencentcloud-api.md` §7.
    use super::*;
    use crate::credentials::Secret;

    const TS: i64 = 1551113065;
    const DOC_PAYLOAD: &str =
        r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
    const DOC_CONTENT_TYPE: &str = "application/json; charset=utf-8";

    fn creds(id: &str, key: &str) -> Credentials {
        Credentials {
            secret_id: id.to_string(),
            secret_key: Secret::new(key),
            token: None,
        }
    }

    fn hex32(s: &str) -> [u8; 32] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    #[test]
    fn tv1_current_doc_example_signing_x_tc_action() {
        let headers = [
            ("Content-Type", DOC_CONTENT_TYPE),
            ("Host", "cvm.tencentcloudapi.com"),
            ("X-TC-Action", "DescribeInstances"),
        ];
        let request = Request {
            method: "POST",
            uri: "/",
            query: "",
            headers: &headers,
            payload: DOC_PAYLOAD.as_bytes(),
        };
        let key = "*".repeat(32);
        let id = format!("AKID{}", "*".repeat(32));
        let s = sign(&request, &creds(&id, &key), "cvm", TS).unwrap();
        assert_eq!(
            s.hashed_payload,
            "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        assert_eq!(
            s.canonical_request,
            "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\nx-tc-action:describeinstances\n\ncontent-type;host;x-tc-action\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        assert_eq!(
            s.hashed_canonical_request,
            "7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84"
        );
        assert_eq!(
            s.string_to_sign,
            "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84"
        );
        assert_eq!(
            s.keys.secret_date,
            hex32("da98fb70dcf6b112dc21038d1eeeb3a95c74b4dcb12c1131f864f6066bd02be0")
        );
        assert_eq!(
            s.keys.secret_service,
            hex32("8d70cbefb03939f929db64d32dc2ba89b1095620119fe3e050e2b18c5bd2752f")
        );
        assert_eq!(
            s.keys.secret_signing,
            hex32("b596b923aad85185e2d1f6659d2a062e0a86731226e021e61bfe06f7ed05f5af")
        );
        assert_eq!(
            s.signature,
            "10b1a37a7301a02ca19a647ad722d5e43b4b3cff309d421d85b46093f6ab6c4f"
        );
        assert_eq!(
            s.authorization,
            "TC3-HMAC-SHA256 Credential=AKID********************************/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host;x-tc-action, Signature=10b1a37a7301a02ca19a647ad722d5e43b4b3cff309d421d85b46093f6ab6c4f"
        );
    }

    #[test]
    fn tv2_older_doc_example_sdk_style_signed_headers() {
        let headers = [
            ("Content-Type", DOC_CONTENT_TYPE),
            ("Host", "cvm.tencentcloudapi.com"),
        ];
        let request = Request {
            method: "POST",
            uri: "/",
            query: "",
            headers: &headers,
            payload: DOC_PAYLOAD.as_bytes(),
        };
        let c = creds(
            "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
            "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
        );
        let s = sign(&request, &c, "cvm", TS).unwrap();
        assert_eq!(
            s.hashed_payload,
            "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        assert_eq!(
            s.canonical_request,
            "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\ncontent-type;host\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        assert_eq!(
            s.hashed_canonical_request,
            "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
        assert_eq!(
            s.string_to_sign,
            "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
        assert_eq!(
            s.keys.secret_signing,
            hex32("ac658d5dde49e9bfdd14e04e062f66b05d9f637d44b8a8d845327d4a77f666b1")
        );
        assert_eq!(
            s.signature,
            "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
        assert_eq!(
            s.authorization,
            "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
        // The 2021–2023 revision's masked key, widely copied in third-party tests.
        let masked = creds(
            "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
            "Gu5t9xGARNpq86cd98joQYCN3*******",
        );
        let s = sign(&request, &masked, "cvm", TS).unwrap();
        assert_eq!(
            s.signature,
            "2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
        );
    }

    #[test]
    fn tv3_enable_caches_as_the_python_sdk_sends_it() {
        let headers = [
            ("Content-Type", CONTENT_TYPE_JSON),
            ("Host", "cdn.tencentcloudapi.com"),
        ];
        let body = r#"{"Urls": ["https://example.com/a.jpg", "http://example.com/b.png"], "Date": "2021-06-01"}"#;
        let request = Request {
            method: "POST",
            uri: "/",
            query: "",
            headers: &headers,
            payload: body.as_bytes(),
        };
        let c = creds(
            "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
            "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
        );
        let s = sign(&request, &c, SERVICE, TS).unwrap();
        assert_eq!(
            s.hashed_payload,
            "f75aa7bdbf76a487786b2d34ee68851e9c0de7581b432f72ac0492d09c7ed1a4"
        );
        assert_eq!(
            s.canonical_request,
            "POST\n/\n\ncontent-type:application/json\nhost:cdn.tencentcloudapi.com\n\ncontent-type;host\nf75aa7bdbf76a487786b2d34ee68851e9c0de7581b432f72ac0492d09c7ed1a4"
        );
        assert_eq!(
            s.hashed_canonical_request,
            "f59be0ee350911ef80da286aa1db42bd8d6e30b2fe629340bd666a6d80c1ef52"
        );
        assert_eq!(
            s.string_to_sign,
            "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cdn/tc3_request\nf59be0ee350911ef80da286aa1db42bd8d6e30b2fe629340bd666a6d80c1ef52"
        );
        assert_eq!(
            s.keys.secret_signing,
            hex32("128f1ed54d2aeefeebc6805149202700e7b181916b4999718b865d906ec04ba2")
        );
        assert_eq!(
            s.signature,
            "e31122932fd43896faa723af1daef6228698ed123d08a52a83311fa884caa3ec"
        );
        assert_eq!(
            s.authorization,
            "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cdn/tc3_request, SignedHeaders=content-type;host, Signature=e31122932fd43896faa723af1daef6228698ed123d08a52a83311fa884caa3ec"
        );
    }

    #[test]
    fn tv3_intl_host_with_a_compact_body() {
        let headers = [
            ("Content-Type", CONTENT_TYPE_JSON),
            ("Host", "cdn.intl.tencentcloudapi.com"),
        ];
        let body = r#"{"Urls":["https://example.com/a.jpg","http://example.com/b.png"]}"#;
        let request = Request {
            method: "POST",
            uri: "/",
            query: "",
            headers: &headers,
            payload: body.as_bytes(),
        };
        let c = creds(
            "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
            "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
        );
        let s = sign(&request, &c, SERVICE, TS).unwrap();
        assert_eq!(
            s.hashed_payload,
            "dbe6a2fa3ef880c584a59c04876c154a140e803d5bef87558861fa75349a5f35"
        );
        assert_eq!(
            s.hashed_canonical_request,
            "9950244113a912635ac0612fef9daa5fb706d6970adde88d0b016c918da67615"
        );
        assert_eq!(
            s.signature,
            "7d346d94e5bcad5c5c567cd0d7b7b09c0c4f2c63f3a8724bfd8b1c964520476a"
        );
    }

    #[test]
    fn scope_date_is_the_utc_date_not_the_local_one() {
        // 2019-02-26 00:44:25 in UTC+8 is still the 25th in UTC.
        assert_eq!(utc_date(1551113065).unwrap(), "2019-02-25");
        assert_eq!(utc_date(0).unwrap(), "1970-01-01");
        assert_eq!(utc_date(1551139199).unwrap(), "2019-02-25");
        assert_eq!(utc_date(1551139200).unwrap(), "2019-02-26");
        assert!(utc_date(i64::MAX).is_err());
    }

    #[test]
    fn canonical_headers_sort_lowercase_and_trim() {
        let h = canonical_headers(&[
            ("Host", " Example.COM:8080 "),
            ("Content-Type", "application/json"),
        ]);
        assert_eq!(
            h.canonical,
            "content-type:application/json\nhost:example.com:8080\n"
        );
        assert_eq!(h.signed, "content-type;host");
    }

    #[test]
    fn signing_keys_debug_is_redacted() {
        let keys = derive_keys("top-secret", "2019-02-25", "cdn");
        let shown = format!("{keys:?}");
        assert!(!shown.contains(&hex::encode(keys.secret_signing)));
        assert!(shown.contains("redacted"));
    }
}
