//! # cdn-unblock
//!
//! Unblocks CDN URLs in bulk through Tencent Cloud's `EnableCaches` API
//! (CDN API version 2018-06-06): signed calls, a local simulator of the API
//! for rehearsals and tests, and (next) the rate-limited, resumable `run` job.
//!
//! # Layout
//!
//! - [`cli`]: clap types → validated configuration.
//! - [`credentials`]: [`credentials::Secret`] (never printed) and API keys.
//! - [`signer`]: TC3-HMAC-SHA256 as pure functions, pinned by the published vectors.
//! - [`client`]: one signed `EnableCaches` call → a typed [`client::Answer`].
//! - [`sim`]: `cdn-unblock simulate`, the local stand-in for the API.
//! - [`app`]: the commands wired to the runtime, signals and exit codes.

pub mod app;
pub mod cli;
pub mod client;
pub mod credentials;
pub mod signer;
pub mod sim;

pub use app::main;
