//! `cdn-unblock simulate`: a local stand-in for the `EnableCaches` API.
//!
//! It verifies TC3 signatures from the request as received, session
//! tokens, clock skew, the version and action, a strict sliding one-second
//! rate window per SecretId, and the body; it answers like the API (HTTP 200,
//! the `Response` envelope), with configurable latency, `FailUrls`, whole-call
//! refusals and injected gateway faults. Tests start it in-process on
//! `127.0.0.1:0`; `demo` uses it; users rehearse runbooks on it.
//!
//! - [`rules`]: the API's checks, in the API's order.
//! - [`faults`]: the seeded dice for latency and injected faults.
//! - [`log`]: one JSON line per request.
//!
//! The server owns its accept loop (hyper, with the axum router as the
//! service) so that a "dropped connection" fault can close a connection
//! without writing a byte.

pub mod faults;
pub mod log;
pub mod rules;

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::credentials::Secret;
pub use faults::{Fault, Faults};
pub use log::{CallRecord, Outcome};
use rules::{Received, Refusal};

/// The simulator's settings; `simulate`'s options map onto these one to one.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub listen: SocketAddr,
    pub secret_id: String,
    pub secret_key: Secret,
    /// When set, `X-TC-Token` must equal it; when not, no token may be sent.
    pub token: Option<Secret>,
    /// Calls accepted per SecretId in any sliding one-second window; 0 = unlimited.
    pub qps: u32,
    pub throttle_code: String,
    pub max_urls: usize,
    /// URLs containing it come back in `FailUrls`.
    pub fail_marker: String,
    /// A call holding a URL that contains it is refused whole with `reject_code`.
    pub reject_marker: String,
    pub reject_code: String,
    /// Uniform latency added to every answer, in milliseconds (inclusive).
    pub latency_ms: (u64, u64),
    pub faults: Faults,
    /// How late a `slow` answer comes (after the call was processed).
    pub slow_ms: u64,
    pub seed: Option<u64>,
    /// One JSON line per request.
    pub log: Option<PathBuf>,
    /// Keep every [`CallRecord`] in memory too (tests read them back).
    pub record: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9100)),
            secret_id: "AKIDsimulator".into(),
            secret_key: Secret::new("simulator-secret"),
            token: None,
            qps: 40,
            throttle_code: "UnauthorizedOperation.OperationTooOften".into(),
            max_urls: 100,
            fail_marker: "__fail__".into(),
            reject_marker: "__reject__".into(),
            reject_code: "ResourceNotFound.CdnHostNotExists".into(),
            latency_ms: (0, 0),
            faults: Faults::default(),
            slow_ms: 35_000,
            seed: None,
            log: None,
            record: false,
        }
    }
}

/// The strict sliding window: a call at `t` is accepted when fewer than
/// `qps` calls were accepted in `(t - 1 s, t]`. Refused calls do not count.
#[derive(Debug, Default)]
struct RateWindow {
    accepted: HashMap<String, VecDeque<Instant>>,
}

impl RateWindow {
    fn admit(&mut self, qps: u32, secret_id: &str, now: Instant) -> bool {
        if qps == 0 {
            return true;
        }
        let window = self.accepted.entry(secret_id.to_string()).or_default();
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            window.pop_front();
        }
        if window.len() < qps as usize {
            window.push_back(now);
            true
        } else {
            false
        }
    }
}

struct Sim {
    config: SimConfig,
    started: Instant,
    dice: Mutex<faults::Dice>,
    window: Mutex<RateWindow>,
    tasks: AtomicU64,
    log: log::CallLog,
}

/// A running simulator.
pub struct SimHandle {
    addr: SocketAddr,
    shutdown: CancellationToken,
    join: JoinHandle<()>,
    log: log::CallLog,
}

impl SimHandle {
    /// The address it listens on (the real port when started on port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT`, ready for `--endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every call so far, in arrival order (only with `record`).
    pub fn calls(&self) -> Vec<CallRecord> {
        self.log.records()
    }

    /// Stop accepting, let answers in progress finish (up to 5 s), and return.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.join.await;
        self.log.flush();
    }

    /// Resolves when the server has stopped.
    pub async fn wait(self) {
        let _ = self.join.await;
        self.log.flush();
    }

    /// A token that stops the server when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}

/// Bind and start serving in the background.
pub async fn start(config: SimConfig) -> anyhow::Result<SimHandle> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr()?;
    let log = log::CallLog::open(config.log.as_deref(), config.record)?;
    let sim = Arc::new(Sim {
        dice: Mutex::new(faults::Dice::new(config.seed)),
        started: Instant::now(),
        window: Mutex::new(RateWindow::default()),
        tasks: AtomicU64::new(0),
        log: log.clone(),
        config,
    });
    let shutdown = CancellationToken::new();
    let join = tokio::spawn(serve(listener, sim, shutdown.clone()));
    Ok(SimHandle {
        addr,
        shutdown,
        join,
        log,
    })
}

/// Marks a response the connection must be dropped for instead of answered.
#[derive(Debug, Clone, Copy)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("injected fault: connection dropped")
    }
}

impl std::error::Error for DropConnection {}

async fn serve(listener: TcpListener, sim: Arc<Sim>, shutdown: CancellationToken) {
    let router = axum::Router::new().fallback(handle).with_state(sim);
    let graceful = GracefulShutdown::new();
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let router = router.clone();
            async move {
                let response = router
                    .oneshot(req.map(Body::new))
                    .await
                    .unwrap_or_else(|e: Infallible| match e {});
                if response.extensions().get::<DropConnection>().is_some() {
                    Err(DropConnection)
                } else {
                    Ok(response)
                }
            }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
}

/// The largest body the API takes (POST with signature v3: 10 MB).
const MAX_BODY: usize = 10 * 1024 * 1024;

async fn handle(State(sim): State<Arc<Sim>>, request: Request) -> Response {
    let arrived = Instant::now();
    let now_unix = unix_seconds();
    let (parts, body) = request.into_parts();
    let (fault, latency, request_id) = {
        let mut dice = sim.dice.lock().expect("dice lock");
        let fault = dice.fault(&sim.config.faults);
        let latency = dice.latency(sim.config.latency_ms);
        (fault, latency, dice.request_id())
    };
    let mut record = CallRecord {
        time: log::rfc3339_now(),
        elapsed_ms: arrived.duration_since(sim.started).as_secs_f64() * 1000.0,
        secret_id: rules::claimed_secret_id(&parts.headers).unwrap_or_default(),
        action: parts
            .headers
            .get("x-tc-action")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string(),
        outcome: Outcome::Ok,
        code: None,
        urls: Vec::new(),
        date: None,
        task_id: None,
        request_id: None,
    };
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => {
            // Log what was asked for, even if the call is refused or throttled.
            record.urls = rules::requested_urls(&b);
            b
        }
        Err(_) => {
            record.outcome = Outcome::Refused;
            let refusal = Refusal::new(
                "RequestSizeLimitExceeded",
                "The request body is larger than 10 MB.",
            );
            return sim.answer_error(record, refusal, request_id, latency).await;
        }
    };

    // Gateway faults happen in front of the API: nothing is checked or processed.
    match fault {
        Some(Fault::Http500) | Some(Fault::Http502) => {
            let status = if fault == Some(Fault::Http500) {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::BAD_GATEWAY
            };
            record.outcome = if status == StatusCode::BAD_GATEWAY {
                Outcome::Http502
            } else {
                Outcome::Http500
            };
            sim.log.write(record);
            tokio::time::sleep(latency).await;
            return (
                status,
                [(header::CONTENT_TYPE, "text/html")],
                format!("<html><body><h1>{status}</h1></body></html>"),
            )
                .into_response();
        }
        Some(Fault::Drop) => {
            record.outcome = Outcome::Drop;
            sim.log.write(record);
            tokio::time::sleep(latency).await;
            let mut response = StatusCode::OK.into_response();
            response.extensions_mut().insert(DropConnection);
            return response;
        }
        Some(Fault::Garbage) => {
            record.outcome = Outcome::Garbage;
            sim.log.write(record);
            tokio::time::sleep(latency).await;
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/html")],
                "<html><body>upstream hiccup</body></html>",
            )
                .into_response();
        }
        _ => {}
    }

    let received = Received {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        body: &body,
    };
    let secret_id = match rules::authenticate(&sim.config, &received, now_unix) {
        Ok(id) => id,
        Err(refusal) => {
            record.outcome = Outcome::Refused;
            return sim.answer_error(record, refusal, request_id, latency).await;
        }
    };
    let admitted =
        sim.window
            .lock()
            .expect("window lock")
            .admit(sim.config.qps, &secret_id, arrived);
    if !admitted {
        record.outcome = Outcome::Throttled;
        let refusal = Refusal::new(
            &sim.config.throttle_code,
            format!(
                "The request frequency exceeds the limit ({} calls per second per account).",
                sim.config.qps
            ),
        );
        return sim.answer_error(record, refusal, request_id, latency).await;
    }
    if fault == Some(Fault::Internal) {
        record.outcome = Outcome::Internal;
        let refusal = Refusal::new(
            "InternalError.CdnSystemError",
            "Internal system error (injected fault).",
        );
        return sim.answer_error(record, refusal, request_id, latency).await;
    }
    let call = match rules::parse_body(&sim.config, &body) {
        Ok(c) => c,
        Err(refusal) => {
            record.outcome = Outcome::Refused;
            return sim.answer_error(record, refusal, request_id, latency).await;
        }
    };
    record.date = call.date.clone();
    if let Some(bad) = call
        .urls
        .iter()
        .find(|u| u.contains(&sim.config.reject_marker))
    {
        record.outcome = Outcome::Refused;
        let refusal = Refusal::new(
            &sim.config.reject_code,
            format!("The domain of `{bad}` is not in this account."),
        );
        return sim.answer_error(record, refusal, request_id, latency).await;
    }
    let (fail, success): (Vec<String>, Vec<String>) = call
        .urls
        .into_iter()
        .partition(|u| u.contains(&sim.config.fail_marker));
    let task_id = sim.task_id();
    record.task_id = Some(task_id.clone());
    record.request_id = Some(request_id.clone());
    let slow = fault == Some(Fault::Slow);
    record.outcome = if slow { Outcome::Slow } else { Outcome::Ok };
    sim.log.write(record);
    tokio::time::sleep(latency).await;
    if slow {
        tokio::time::sleep(Duration::from_millis(sim.config.slow_ms)).await;
    }
    json_response(json!({
        "Response": {
            "RequestId": request_id,
            "CacheOptResult": { "SuccessUrls": success, "FailUrls": fail },
            "TaskId": task_id,
        }
    }))
}

impl Sim {
    async fn answer_error(
        &self,
        mut record: CallRecord,
        refusal: Refusal,
        request_id: String,
        latency: Duration,
    ) -> Response {
        record.code = Some(refusal.code.clone());
        record.request_id = Some(request_id.clone());
        self.log.write(record);
        tokio::time::sleep(latency).await;
        json_response(json!({
            "Response": {
                "Error": { "Code": refusal.code, "Message": refusal.message },
                "RequestId": request_id,
            }
        }))
    }

    fn task_id(&self) -> String {
        let n = self.tasks.fetch_add(1, Ordering::Relaxed);
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        format!("{ms}{:06}", n % 1_000_000)
    }
}

fn json_response(value: serde_json::Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

fn unix_seconds() -> i64 {
    crate::client::unix_now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_strict_and_sliding() {
        let mut w = RateWindow::default();
        let t0 = Instant::now();
        for i in 0..40 {
            assert!(w.admit(40, "a", t0 + Duration::from_millis(i * 10)), "{i}");
        }
        // The 41st inside the same second is refused, and does not count.
        assert!(!w.admit(40, "a", t0 + Duration::from_millis(999)));
        // Another SecretId has its own window.
        assert!(w.admit(40, "b", t0 + Duration::from_millis(999)));
        // Exactly one second after the first, the first has left the window.
        assert!(w.admit(40, "a", t0 + Duration::from_millis(1000)));
        assert!(!w.admit(40, "a", t0 + Duration::from_millis(1005)));
        assert!(w.admit(40, "a", t0 + Duration::from_millis(1010)));
        // 0 = unlimited.
        assert!((0..1000).all(|_| w.admit(0, "c", t0)));
    }
}
