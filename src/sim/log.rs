//! The simulator's call log: one JSON line per request, and optionally the
//! same records in memory for tests.

use std::fs::File;
use std::io::{LineWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// What became of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Processed and answered.
    Ok,
    /// Processed, then answered late (`--p-slow`).
    Slow,
    /// Refused by a rule (auth, version, action, body, reject marker).
    Refused,
    /// Refused by the rate limit; not processed.
    Throttled,
    /// Injected `InternalError.CdnSystemError`; not processed.
    Internal,
    /// Injected HTTP 500; not processed.
    Http500,
    /// Injected HTTP 502; not processed.
    Http502,
    /// Injected dropped connection; not processed.
    Drop,
    /// Injected non-JSON body; not processed.
    Garbage,
}

impl Outcome {
    /// Whether the API acted on the call's URLs.
    pub fn processed(self) -> bool {
        matches!(self, Outcome::Ok | Outcome::Slow)
    }
}

/// One line of the log. The keys are those `simulate --help` promises:
/// `time`, `SecretId`, `action`, `outcome`, `URLs`, `TaskId`, `RequestId`,
/// plus `elapsed_ms`, `code` and `date`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// Arrival time, RFC 3339 UTC with microseconds.
    pub time: String,
    /// Arrival, in milliseconds since the simulator started (monotonic).
    pub elapsed_ms: f64,
    #[serde(rename = "SecretId")]
    pub secret_id: String,
    pub action: String,
    pub outcome: Outcome,
    /// The error code answered, if any.
    pub code: Option<String>,
    #[serde(rename = "URLs")]
    pub urls: Vec<String>,
    /// The call's `Date`, if it sent one.
    pub date: Option<String>,
    #[serde(rename = "TaskId")]
    pub task_id: Option<String>,
    #[serde(rename = "RequestId")]
    pub request_id: Option<String>,
}

/// Where records go: a file, memory, both or neither.
#[derive(Clone, Default)]
pub struct CallLog {
    file: Option<Arc<Mutex<LineWriter<File>>>>,
    memory: Option<Arc<Mutex<Vec<CallRecord>>>>,
}

impl CallLog {
    pub fn open(path: Option<&Path>, record: bool) -> anyhow::Result<CallLog> {
        let file = match path {
            Some(p) => {
                let f = File::create(p)
                    .map_err(|e| anyhow::anyhow!("cannot create --log {}: {e}", p.display()))?;
                Some(Arc::new(Mutex::new(LineWriter::new(f))))
            }
            None => None,
        };
        let memory = record.then(|| Arc::new(Mutex::new(Vec::new())));
        Ok(CallLog { file, memory })
    }

    pub fn write(&self, record: CallRecord) {
        if let Some(file) = &self.file {
            let mut line = serde_json::to_vec(&record).expect("a record serialises");
            line.push(b'\n');
            if let Err(e) = file.lock().expect("log lock").write_all(&line) {
                tracing::warn!("cannot write the call log: {e}");
            }
        }
        if let Some(memory) = &self.memory {
            memory.lock().expect("log lock").push(record);
        }
    }

    pub fn records(&self) -> Vec<CallRecord> {
        self.memory
            .as_ref()
            .map(|m| m.lock().expect("log lock").clone())
            .unwrap_or_default()
    }

    pub fn flush(&self) {
        if let Some(file) = &self.file {
            let _ = file.lock().expect("log lock").flush();
        }
    }
}

/// The most calls that arrived within any window `[t, t + width_ms)`:
/// what a strict sliding-window rate limit sees. `times_ms` are arrival
/// times in milliseconds ([`CallRecord::elapsed_ms`]), in any order.
pub fn busiest_window(times_ms: &[f64], width_ms: f64) -> usize {
    let mut times = times_ms.to_vec();
    times.sort_by(f64::total_cmp);
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..times.len() {
        while times[hi] - times[lo] >= width_ms {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

/// Now, as RFC 3339 UTC with microseconds.
pub fn rfc3339_now() -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(format)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busiest_window_counts_arrivals_less_than_a_width_apart() {
        assert_eq!(busiest_window(&[], 1000.0), 0);
        assert_eq!(busiest_window(&[0.0, 500.0, 999.9], 1000.0), 3);
        // Exactly one second apart: no longer in the same window.
        assert_eq!(busiest_window(&[0.0, 500.0, 1000.0], 1000.0), 2);
        assert_eq!(
            busiest_window(&[1000.0, 0.0, 500.0, 1200.0, 1300.0], 1000.0),
            4
        );
    }
}
