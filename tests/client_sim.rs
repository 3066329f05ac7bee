//! Client ↔ simulator round trips: every answer the client must type right.

use std::time::{Duration, Instant};

use cdn_unblock::client::{Answer, FaultKind, unix_now};
use cdn_unblock::credentials::Secret;
use cdn_unblock::sim::{Faults, Outcome, SimConfig};

use crate::support::*;

fn code(answer: &Answer) -> String {
    answer.code().unwrap_or_else(|| "ok".into())
}

#[tokio::test]
async fn success_splits_success_and_fail_urls() {
    let sim = start_sim(sim_config()).await;
    let client = client_for(&sim, sim_credentials());
    let sent = urls(&[
        "https://img.example.com/a.jpg",
        "http://img.example.com/__fail__/b.png",
        "https://img.example.com/c d?x=1&y=ü",
    ]);
    let Answer::Success(s) = client.enable_caches(&sent, Some("2021-06-01")).await else {
        panic!("not a success")
    };
    assert_eq!(s.success_urls, [sent[0].clone(), sent[2].clone()]);
    assert_eq!(s.fail_urls, [sent[1].clone()]);
    assert!(s.task_id.is_some() && s.request_id.is_some());
    let calls = sim.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].outcome, Outcome::Ok);
    // The URLs arrive exactly as given, byte for byte.
    assert_eq!(calls[0].urls, sent);
    assert_eq!(calls[0].task_id, s.task_id);
    assert_eq!(calls[0].secret_id, "AKIDsimulator");
    assert_eq!(calls[0].action, "EnableCaches");
    sim.stop().await;
}

#[tokio::test]
async fn every_refusal_comes_back_typed() {
    let sim = start_sim(SimConfig {
        token: Some(Secret::new("tok")),
        ..sim_config()
    })
    .await;
    let good = || cdn_unblock::credentials::Credentials {
        token: Some(Secret::new("tok")),
        ..sim_credentials()
    };
    let one = urls(&["https://a.example.com/x"]);

    let ok = client_for(&sim, good()).enable_caches(&one, None).await;
    assert_eq!(code(&ok), "ok");

    let mut wrong_key = good();
    wrong_key.secret_key = Secret::new("not-the-key");
    let a = client_for(&sim, wrong_key).enable_caches(&one, None).await;
    assert_eq!(code(&a), "AuthFailure.SignatureFailure");
    let Answer::Error(e) = &a else { panic!() };
    assert!(e.request_id.is_some());

    let mut unknown = good();
    unknown.secret_id = "AKIDsomeoneelse".into();
    let a = client_for(&sim, unknown).enable_caches(&one, None).await;
    assert_eq!(code(&a), "AuthFailure.SecretIdNotFound");

    for skew in [-400, 400] {
        let a = client_for(&sim, good())
            .enable_caches_at(&one, None, unix_now() + skew)
            .await;
        assert_eq!(code(&a), "AuthFailure.SignatureExpire", "skew {skew}");
    }
    // Within the 300 s window is fine.
    let a = client_for(&sim, good())
        .enable_caches_at(&one, None, unix_now() - 200)
        .await;
    assert_eq!(code(&a), "ok");

    let mut wrong_token = good();
    wrong_token.token = Some(Secret::new("nope"));
    let a = client_for(&sim, wrong_token)
        .enable_caches(&one, None)
        .await;
    assert_eq!(code(&a), "AuthFailure.TokenFailure");
    let a = client_for(&sim, sim_credentials())
        .enable_caches(&one, None)
        .await;
    assert_eq!(code(&a), "AuthFailure.TokenFailure", "missing token");

    let c = client_for(&sim, good());
    let many: Vec<String> = (0..101)
        .map(|i| format!("https://a.example.com/{i}"))
        .collect();
    assert_eq!(
        code(&c.enable_caches(&many, None).await),
        "InvalidParameter.CdnParamError"
    );
    assert_eq!(code(&c.enable_caches(&many[..100], None).await), "ok");
    assert_eq!(
        code(&c.enable_caches(&urls(&["a.example.com/x"]), None).await),
        "InvalidParameter.CdnParamError"
    );
    assert_eq!(
        code(&c.enable_caches::<String>(&[], None).await),
        "InvalidParameter.CdnParamError"
    );
    assert_eq!(
        code(&c.enable_caches(&one, Some("01/06/2021")).await),
        "InvalidParameter.CdnStatInvalidDate"
    );
    let rejected = c
        .enable_caches(
            &urls(&[
                "https://a.example.com/x",
                "https://__reject__.example.com/y",
            ]),
            None,
        )
        .await;
    assert_eq!(code(&rejected), "ResourceNotFound.CdnHostNotExists");
    sim.stop().await;
}

#[tokio::test]
async fn a_token_is_refused_where_none_is_expected() {
    let sim = start_sim(sim_config()).await;
    let mut creds = sim_credentials();
    creds.token = Some(Secret::new("stray"));
    let a = client_for(&sim, creds)
        .enable_caches(&urls(&["https://a/x"]), None)
        .await;
    assert_eq!(code(&a), "AuthFailure.TokenFailure");
    sim.stop().await;
}

#[tokio::test]
async fn throttling_answers_inside_http_200_with_the_configured_code() {
    for throttle_code in [
        "UnauthorizedOperation.OperationTooOften",
        "RequestLimitExceeded",
    ] {
        let sim = start_sim(SimConfig {
            qps: 5,
            throttle_code: throttle_code.into(),
            ..sim_config()
        })
        .await;
        let c = client_for(&sim, sim_credentials());
        let mut codes = Vec::new();
        let mut messages = Vec::new();
        for i in 0..8 {
            let answer = c.enable_caches(&[format!("https://a/{i}")], None).await;
            codes.push(code(&answer));
            if let Answer::Error(e) = answer {
                messages.push(e.message);
            }
        }
        // The message names the simulator's own limit.
        assert!(
            messages.iter().all(|m| m.contains("(5 calls per second")),
            "{messages:?}"
        );
        // Eight calls in well under a second: five pass, three are throttled.
        assert_eq!(codes.iter().filter(|c| *c == "ok").count(), 5, "{codes:?}");
        assert_eq!(
            codes.iter().filter(|c| *c == throttle_code).count(),
            3,
            "{codes:?}"
        );
        let throttled: Vec<_> = sim
            .calls()
            .into_iter()
            .filter(|c| c.outcome == Outcome::Throttled)
            .collect();
        assert_eq!(throttled.len(), 3);
        // A throttled call is not processed (the log still says what it asked for).
        assert!(
            throttled
                .iter()
                .all(|c| c.task_id.is_none() && c.urls.len() == 1)
        );
        sim.stop().await;
    }
}

async fn answer_under(faults: Faults) -> (Answer, Vec<cdn_unblock::sim::CallRecord>) {
    let sim = start_sim(SimConfig {
        faults,
        slow_ms: 2_000,
        ..sim_config()
    })
    .await;
    let c = client_with_timeout(&sim, sim_credentials(), Duration::from_millis(500));
    let a = c
        .enable_caches(&urls(&["https://a.example.com/x"]), None)
        .await;
    let calls = sim.calls();
    sim.stop().await;
    (a, calls)
}

#[tokio::test]
async fn each_injected_fault_reaches_the_client_as_what_it_is() {
    let (a, calls) = answer_under(Faults {
        http_500: 1.0,
        ..Faults::default()
    })
    .await;
    assert!(
        matches!(a, Answer::Fault(ref f) if f.kind == FaultKind::Http(500)),
        "{a:?}"
    );
    assert_eq!(calls[0].outcome, Outcome::Http500);

    let (a, calls) = answer_under(Faults {
        http_502: 1.0,
        ..Faults::default()
    })
    .await;
    assert_eq!(code(&a), "Http.502");
    assert_eq!(calls[0].outcome, Outcome::Http502);

    let (a, calls) = answer_under(Faults {
        drop: 1.0,
        ..Faults::default()
    })
    .await;
    assert!(
        matches!(a, Answer::Fault(ref f) if f.kind == FaultKind::Transport),
        "{a:?}"
    );
    assert_eq!(calls[0].outcome, Outcome::Drop);

    let (a, calls) = answer_under(Faults {
        internal: 1.0,
        ..Faults::default()
    })
    .await;
    assert_eq!(code(&a), "InternalError.CdnSystemError");
    assert_eq!(calls[0].outcome, Outcome::Internal);

    let (a, calls) = answer_under(Faults {
        garbage: 1.0,
        ..Faults::default()
    })
    .await;
    assert_eq!(code(&a), "Response.Invalid");
    assert_eq!(calls[0].outcome, Outcome::Garbage);

    // Slow: processed by the API, but the answer comes after the client gave up.
    let (a, calls) = answer_under(Faults {
        slow: 1.0,
        ..Faults::default()
    })
    .await;
    assert_eq!(code(&a), "Transport.Timeout");
    assert_eq!(calls[0].outcome, Outcome::Slow);
    assert!(calls[0].outcome.processed() && calls[0].task_id.is_some());
}

#[tokio::test]
async fn nothing_listening_is_a_connect_fault() {
    let sim = start_sim(sim_config()).await;
    let c = client_for(&sim, sim_credentials());
    sim.stop().await;
    let a = c.enable_caches(&urls(&["https://a/x"]), None).await;
    assert_eq!(code(&a), "Transport.Connect", "{a:?}");
}

#[tokio::test]
async fn latency_is_added_to_every_answer() {
    let sim = start_sim(SimConfig {
        latency_ms: (150, 150),
        ..sim_config()
    })
    .await;
    let c = client_for(&sim, sim_credentials());
    let t = Instant::now();
    assert_eq!(
        code(&c.enable_caches(&urls(&["https://a/x"]), None).await),
        "ok"
    );
    // A lower bound only: a slow machine can take longer, never shorter.
    assert!(t.elapsed() >= Duration::from_millis(150));
    sim.stop().await;
}

#[tokio::test]
async fn the_log_file_holds_one_json_line_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calls.jsonl");
    let sim = start_sim(SimConfig {
        log: Some(path.clone()),
        ..sim_config()
    })
    .await;
    let c = client_for(&sim, sim_credentials());
    c.enable_caches(&urls(&["https://a/1", "https://a/__fail__"]), None)
        .await;
    let mut bad = sim_credentials();
    bad.secret_key = Secret::new("x");
    client_for(&sim, bad)
        .enable_caches(&urls(&["https://a/2"]), None)
        .await;
    sim.stop().await;
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["outcome"], "ok");
    assert_eq!(lines[0]["SecretId"], "AKIDsimulator");
    assert_eq!(lines[0]["action"], "EnableCaches");
    assert_eq!(lines[0]["URLs"][1], "https://a/__fail__");
    assert!(lines[0]["TaskId"].is_string() && lines[0]["RequestId"].is_string());
    assert!(lines[0]["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(lines[1]["outcome"], "refused");
    assert_eq!(lines[1]["code"], "AuthFailure.SignatureFailure");
    // Secrets never reach the log.
    assert!(!text.contains("simulator-secret"));
}
