//! # cdn-unblock
//!
//! Unblocks CDN URLs in bulk through Tencent Cloud's `EnableCaches` API
//! (CDN API version 2018-06-06): reads URL lists, sends them in batches at
//! the API's rate cap, retries what is safe to retry, and writes one report
//! row per input URL. A local simulator of the API serves the tests, the
//! demo and rehearsals.
//!
//! # Layout
//!
//! - [`app`]: the commands wired to the runtime, logging, signals and exit codes.
//! - [`cli`]: clap types → validated configuration ([`runner::RunConfig`], [`sim::SimConfig`]).
//! - [`credentials`]: [`credentials::Secret`] (never printed) and where keys come from.
//! - [`input`]: CSV / lines → validated records; [`dedup`]: fingerprints of URLs seen.
//! - [`batch`]: records → batches (size, or a second of quiet).
//! - [`limiter`]: the governor hard cap, the pacer and the adaptive rate.
//! - [`signer`]: TC3-HMAC-SHA256 as pure functions, pinned by the published vectors.
//! - [`client`]: one signed `EnableCaches` call → a typed [`client::Answer`].
//! - [`retry`]: classify an answer, the backoff schedule, advice for fatal codes.
//! - [`runner`]: the pipeline, cancellation and the summary.
//! - [`report`]: rows, CSV / JSON Lines writers; [`stats`]: counters and the summary.
//! - [`progress`]: the progress bar and the log writer that goes around it.
//! - [`sim`]: `cdn-unblock simulate`, the local stand-in for the API.
//! - [`demo`]: the sample through an in-process simulator.

pub mod app;
pub mod batch;
pub mod cli;
pub mod client;
pub mod credentials;
pub mod dedup;
pub mod demo;
pub mod input;
pub mod inspect;
pub mod limiter;
pub mod lock;
pub mod plan;
pub mod progress;
pub mod report;
pub mod resume;
pub mod retry;
pub mod runner;
pub mod signer;
pub mod sim;
pub mod stats;
pub mod validate;

pub use app::main;
