//! The simulator's rules on hand-built requests: each one a way a client can
//! get signing wrong, checked against the code the real API answers.

use cdn_unblock::client::{Answer, parse_answer, unix_now};
use cdn_unblock::signer;

use crate::support::*;

/// A request built by hand, so each part can be made wrong on purpose.
struct Raw {
    /// Every header sent, in order.
    headers: Vec<(String, String)>,
    /// The header names declared in SignedHeaders, in the order given.
    signed: Vec<&'static str>,
    /// Replace the canonical header block (to sign something other than what is sent).
    canonical_override: Option<String>,
    body_signed: Vec<u8>,
    body_sent: Vec<u8>,
    scope_date: Option<String>,
    timestamp: i64,
    secret_key: &'static str,
    authorization_override: Option<String>,
}

impl Raw {
    fn new(host: &str) -> Raw {
        let body = br#"{"Urls":["https://a.example.com/x"]}"#.to_vec();
        let timestamp = unix_now();
        Raw {
            headers: vec![
                ("Host".into(), host.into()),
                ("Content-Type".into(), "application/json".into()),
                ("X-TC-Action".into(), "EnableCaches".into()),
                ("X-TC-Version".into(), "2018-06-06".into()),
                ("X-TC-Timestamp".into(), timestamp.to_string()),
            ],
            signed: vec!["content-type", "host"],
            canonical_override: None,
            body_signed: body.clone(),
            body_sent: body,
            scope_date: None,
            timestamp,
            secret_key: "simulator-secret",
            authorization_override: None,
        }
    }

    fn set(mut self, name: &str, value: &str) -> Raw {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.into(), value.into()));
        self
    }

    fn sent_value(&self, name: &str) -> String {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    fn authorization(&self) -> String {
        if let Some(a) = &self.authorization_override {
            return a.clone();
        }
        let canonical = self.canonical_override.clone().unwrap_or_else(|| {
            self.signed
                .iter()
                .map(|n| format!("{n}:{}\n", self.sent_value(n).trim().to_ascii_lowercase()))
                .collect()
        });
        let signed_headers = self.signed.join(";");
        let canonical_request = signer::canonical_request(
            "POST",
            "/",
            "",
            &canonical,
            &signed_headers,
            &signer::sha256_hex(&self.body_signed),
        );
        let date = self
            .scope_date
            .clone()
            .unwrap_or_else(|| signer::utc_date(self.timestamp).unwrap());
        let scope = signer::credential_scope(&date, "cdn");
        let sts = signer::string_to_sign(self.timestamp, &scope, &canonical_request);
        let keys = signer::derive_keys(self.secret_key, &date, "cdn");
        let signature = signer::signature(&keys.secret_signing, &sts);
        signer::authorization("AKIDsimulator", &scope, &signed_headers, &signature)
    }

    async fn send(self, endpoint: &str) -> Answer {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::new();
        let mut req = http
            .post(endpoint)
            .header("Authorization", self.authorization());
        for (name, value) in &self.headers {
            req = req.header(name.as_str(), value.as_str());
        }
        let resp = req.body(self.body_sent.clone()).send().await.unwrap();
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = resp.bytes().await.unwrap();
        // Every answer that is not an injected fault is JSON in HTTP 200.
        assert_eq!(status, 200);
        assert_eq!(content_type.as_deref(), Some("application/json"));
        parse_answer(status, &bytes)
    }
}

fn code(a: &Answer) -> String {
    a.code().unwrap_or_else(|| "ok".into())
}

#[tokio::test]
async fn what_the_sdks_send_is_accepted() {
    let sim = start_sim(sim_config()).await;
    let host = sim.addr().to_string();
    let ep = sim.endpoint();
    // The plain SDK form.
    assert_eq!(code(&Raw::new(&host).send(&ep).await), "ok");
    // The Python SDK's spaced JSON body and extra unsigned headers.
    let mut r = Raw::new(&host)
        .set("X-TC-Language", "zh-CN")
        .set("X-TC-RequestClient", "SDK_PYTHON_3.1.195")
        .set("X-TC-TraceId", "0b4f6b3e-0000-4000-8000-000000000000");
    r.body_signed = br#"{"Urls": ["https://a.example.com/x"], "Date": "2021-06-01"}"#.to_vec();
    r.body_sent = r.body_signed.clone();
    assert_eq!(code(&r.send(&ep).await), "ok");
    // The current doc's form: charset in the content type, x-tc-action signed.
    let mut r = Raw::new(&host).set("Content-Type", "application/json; charset=utf-8");
    r.signed = vec!["content-type", "host", "x-tc-action"];
    assert_eq!(code(&r.send(&ep).await), "ok");
    sim.stop().await;
}

#[tokio::test]
async fn signing_mistakes_fail_the_signature() {
    let sim = start_sim(sim_config()).await;
    let host = sim.addr().to_string();
    let ep = sim.endpoint();

    // A body changed after signing.
    let mut r = Raw::new(&host);
    r.body_sent = br#"{"Urls":["https://evil.example.com/x"]}"#.to_vec();
    assert_eq!(code(&r.send(&ep).await), "AuthFailure.SignatureFailure");

    // A scope date that is not the UTC date of the timestamp (the UTC+8 mistake),
    // even though the signature is consistent with it.
    let mut r = Raw::new(&host);
    r.scope_date = Some(signer::utc_date(r.timestamp + 86_400).unwrap());
    assert_eq!(code(&r.send(&ep).await), "AuthFailure.SignatureFailure");

    // SignedHeaders not sorted.
    let mut r = Raw::new(&host);
    r.signed = vec!["host", "content-type"];
    assert_eq!(code(&r.send(&ep).await), "AuthFailure.SignatureFailure");

    // SignedHeaders not lowercase.
    let mut r = Raw::new(&host);
    r.signed = vec!["Content-Type", "host"];
    assert_eq!(code(&r.send(&ep).await), "AuthFailure.SignatureFailure");

    // SignedHeaders without host.
    let mut r = Raw::new(&host);
    r.signed = vec!["content-type"];
    assert_eq!(code(&r.send(&ep).await), "AuthFailure.SignatureFailure");

    // A signed header that was never sent.
    let mut r = Raw::new(&host);
    r.signed = vec!["content-type", "host", "x-tc-region"];
    assert_eq!(code(&r.send(&ep).await), "AuthFailure.SignatureFailure");

    // The action value signed as sent ("EnableCaches") instead of lowercased.
    let mut r = Raw::new(&host);
    r.signed = vec!["content-type", "host", "x-tc-action"];
    r.canonical_override = Some(format!(
        "content-type:application/json\nhost:{host}\nx-tc-action:EnableCaches\n"
    ));
    assert_eq!(code(&r.send(&ep).await), "AuthFailure.SignatureFailure");

    // Signed for one action value, sent with another.
    let mut r = Raw::new(&host);
    r.signed = vec!["content-type", "host", "x-tc-action"];
    r.canonical_override = Some(format!(
        "content-type:application/json\nhost:{host}\nx-tc-action:disablecaches\n"
    ));
    assert_eq!(code(&r.send(&ep).await), "AuthFailure.SignatureFailure");

    // The Host signed without its port.
    let mut r = Raw::new(&host);
    r.canonical_override = Some("content-type:application/json\nhost:127.0.0.1\n".into());
    assert_eq!(code(&r.send(&ep).await), "AuthFailure.SignatureFailure");

    // A content type signed other than sent.
    let mut r = Raw::new(&host);
    r.canonical_override = Some(format!(
        "content-type:application/json; charset=utf-8\nhost:{host}\n"
    ));
    assert_eq!(code(&r.send(&ep).await), "AuthFailure.SignatureFailure");

    // The wrong key.
    let mut r = Raw::new(&host);
    r.secret_key = "guess";
    assert_eq!(code(&r.send(&ep).await), "AuthFailure.SignatureFailure");
    sim.stop().await;
}

#[tokio::test]
async fn the_checks_come_in_the_apis_order() {
    let sim = start_sim(sim_config()).await;
    let host = sim.addr().to_string();
    let ep = sim.endpoint();

    let mut r = Raw::new(&host);
    r.authorization_override = Some("Bearer something".into());
    assert_eq!(code(&r.send(&ep).await), "AuthFailure.InvalidAuthorization");
    let mut r = Raw::new(&host);
    r.authorization_override =
        Some("TC3-HMAC-SHA256 Credential=AKIDsimulator/2020-01-01/cdn, Signature=00".into());
    assert_eq!(code(&r.send(&ep).await), "AuthFailure.InvalidAuthorization");

    // An unknown SecretId is reported before a stale clock.
    let mut r = Raw::new(&host);
    r.timestamp -= 1000;
    let ts = r.timestamp.to_string();
    r = r.set("X-TC-Timestamp", &ts);
    let mut wrong_id = r.authorization();
    wrong_id = wrong_id.replace("Credential=AKIDsimulator/", "Credential=AKIDnobody/");
    r.authorization_override = Some(wrong_id);
    assert_eq!(code(&r.send(&ep).await), "AuthFailure.SecretIdNotFound");

    // A stale clock is reported before a bad signature.
    let mut r = Raw::new(&host);
    r.timestamp -= 400;
    let ts = r.timestamp.to_string();
    r = r.set("X-TC-Timestamp", &ts);
    r.secret_key = "wrong";
    assert_eq!(code(&r.send(&ep).await), "AuthFailure.SignatureExpire");
    // Timestamps at the ends of the range are refused, not a crash.
    for extreme in [i64::MIN, i64::MAX] {
        let r = Raw::new(&host).set("X-TC-Timestamp", &extreme.to_string());
        assert_eq!(code(&r.send(&ep).await), "AuthFailure.SignatureExpire");
    }

    // Version, then action, each after the signature.
    let r = Raw::new(&host).set("X-TC-Version", "2017-03-12");
    assert_eq!(code(&r.send(&ep).await), "NoSuchVersion");
    let r = Raw::new(&host).set("X-TC-Action", "DisableCaches");
    assert_eq!(code(&r.send(&ep).await), "InvalidAction");
    // The action name is case-sensitive: a lowercase one, signed right, is not EnableCaches.
    let r = Raw::new(&host).set("X-TC-Action", "enablecaches");
    assert_eq!(code(&r.send(&ep).await), "InvalidAction");
    let mut r = Raw::new(&host).set("X-TC-Action", "ENABLECACHES");
    r.signed = vec!["content-type", "host", "x-tc-action"];
    assert_eq!(code(&r.send(&ep).await), "InvalidAction");
    // A bad version with a bad body: the version comes first.
    let mut r = Raw::new(&host).set("X-TC-Version", "1999-01-01");
    r.body_signed = br#"{"Urls":[]}"#.to_vec();
    r.body_sent = r.body_signed.clone();
    assert_eq!(code(&r.send(&ep).await), "NoSuchVersion");
    sim.stop().await;
}
