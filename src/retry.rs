//! What to do with an answer: a pure classification of every code the API
//! can send (DESIGN.md, "How a call's answer is handled"), the backoff
//! schedule, and the message that tells a user what to fix when an answer is
//! fatal.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

use crate::client::Answer;

/// The class of an answer; it decides the action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Processed: rows from `SuccessUrls` and `FailUrls`.
    Success,
    /// Over the rate limit: retry after backoff, and slow the sender down.
    Throttled,
    /// Gateway faults and the API's transient errors: retry after backoff.
    Transient,
    /// The batch holds something the API refuses: split it in halves.
    Content,
    /// Nothing more can succeed until the user fixes something: stop.
    Fatal,
    /// Anything else: the batch fails with the code, no retry.
    Other,
}

impl Class {
    /// Whether another attempt of the same batch may succeed.
    pub fn retryable(self) -> bool {
        matches!(self, Class::Throttled | Class::Transient)
    }
}

/// `code` equals `prefix` or starts with `prefix.`.
fn family(code: &str, prefix: &str) -> bool {
    code == prefix
        || code
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// Classify an API error code. Rows are matched top to bottom, first match
/// wins, so `UnauthorizedOperation.OperationTooOften` is throttled, not fatal.
pub fn classify_code(code: &str) -> Class {
    if code == "UnauthorizedOperation.OperationTooOften"
        || family(code, "RequestLimitExceeded")
        || code == "LimitExceeded.CdnHostOpTooOften"
    {
        return Class::Throttled;
    }
    if family(code, "InternalError")
        || code == "ServiceUnavailable"
        || code == "InvalidParameter.CdnInterfaceError"
    {
        return Class::Transient;
    }
    if matches!(
        code,
        "InvalidParameter.CdnParamError"
            | "InvalidParameter.CdnHostInvalidParam"
            | "InvalidParameter.CDNStatusInvalidDomain"
            | "ResourceNotFound.CdnHostNotExists"
    ) || family(code, "InvalidParameterValue")
    {
        return Class::Content;
    }
    if family(code, "AuthFailure")
        || matches!(
            code,
            "InvalidAction"
                | "ActionOffline"
                | "NoSuchVersion"
                | "UnauthorizedOperation"
                | "ResourceNotFound.CdnUserNotExists"
                | "IpInBlacklist"
                | "IpNotInWhitelist"
        )
        || code.starts_with("UnauthorizedOperation.Cdn")
        || family(code, "LimitExceeded")
    {
        return Class::Fatal;
    }
    Class::Other
}

/// Classify a whole answer: every gateway fault is transient.
pub fn classify(answer: &Answer) -> Class {
    match answer {
        Answer::Success(_) => Class::Success,
        Answer::Error(e) => classify_code(&e.code),
        Answer::Fault(_) => Class::Transient,
    }
}

/// First retry waits up to this long (full jitter: uniform in `[0, delay]`).
pub const BACKOFF_BASE: Duration = Duration::from_millis(250);
/// No retry waits longer than this.
pub const BACKOFF_CAP: Duration = Duration::from_secs(30);

/// Full jitter: a point uniformly drawn in `[0, ceiling]`, where `unit` is the draw in `[0, 1)`.
pub fn full_jitter(ceiling: Duration, unit: f64) -> Duration {
    ceiling.mul_f64(unit.clamp(0.0, 1.0))
}

/// The ceiling of the `retry`-th wait (0-based): `base · 2^retry`, capped.
pub fn backoff_ceiling(retry: u32) -> Duration {
    BACKOFF_BASE
        .saturating_mul(2u32.saturating_pow(retry.min(20)))
        .min(BACKOFF_CAP)
}

/// The waits between the attempts of one batch: exponential (backon's), with
/// full jitter, `max_attempts - 1` of them.
pub fn backoff(max_attempts: u32) -> impl backon::Backoff {
    ExponentialBuilder::default()
        .with_min_delay(BACKOFF_BASE)
        .with_max_delay(BACKOFF_CAP)
        .with_factor(2.0)
        .with_max_times(max_attempts.saturating_sub(1) as usize)
        .build()
        .map(|ceiling| full_jitter(ceiling, rand::random::<f64>()))
}

/// What the user must fix, for a fatal code.
pub fn fatal_advice(code: &str) -> &'static str {
    match code {
        "AuthFailure.SecretIdNotFound" | "AuthFailure.InvalidSecretId" => {
            "the SecretId is unknown or disabled: check TENCENTCLOUD_SECRET_ID (or secret_id in the credentials file) for typos and stray spaces"
        }
        "AuthFailure.SignatureFailure" => {
            "the SecretKey does not match the SecretId: check TENCENTCLOUD_SECRET_KEY (or secret_key in the credentials file)"
        }
        "AuthFailure.SignatureExpire" => {
            "this machine's clock is more than 5 minutes off the API's: sync it (NTP, e.g. `chronyc makestep`), then re-run with --resume"
        }
        "AuthFailure.TokenFailure" => {
            "the session token is missing, wrong or expired: fetch fresh temporary credentials (TENCENTCLOUD_SESSION_TOKEN)"
        }
        "AuthFailure.MFAFailure" => {
            "the key requires MFA, which API calls cannot provide: use another key"
        }
        "AuthFailure.UnauthorizedOperation"
        | "UnauthorizedOperation"
        | "UnauthorizedOperation.CdnCamUnauthorized"
        | "UnauthorizedOperation.CdnAccountUnauthorized" => {
            "this key is not allowed to call cdn:EnableCaches: ask an account admin to grant it in CAM"
        }
        "UnauthorizedOperation.CdnUserNoWhitelist" => {
            "this account is not on the EnableCaches whitelist (the API is in restricted beta): ask Tencent Cloud support to add it, or unblock in the console"
        }
        "UnauthorizedOperation.CdnUserIsSuspended" => {
            "the account's CDN service is suspended: settle it in the console first"
        }
        "UnauthorizedOperation.CdnUserAuthFail" | "UnauthorizedOperation.CdnUserAuthWait" => {
            "the account's CDN identity verification failed or is pending: finish it in the console"
        }
        "InvalidAction" | "ActionOffline" => {
            "the API no longer offers EnableCaches to this account (Tencent deprecated it in 2025): ask Tencent Cloud support, or unblock in the console"
        }
        "NoSuchVersion" => {
            "the endpoint does not know CDN API version 2018-06-06: check --endpoint"
        }
        "ResourceNotFound.CdnUserNotExists" => "CDN is not activated on this account",
        "IpInBlacklist" | "IpNotInWhitelist" => {
            "this machine's IP address is not allowed by the account's API access rules"
        }
        c if family(c, "LimitExceeded") => {
            "an account quota is used up (for example the daily limit): re-run with --resume when it resets, or ask for a higher quota"
        }
        _ => "the API refused these credentials or this account: see the code and message",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{ApiError, Fault, FaultKind, Success};

    #[test]
    fn every_row_of_the_design_table() {
        let cases = [
            ("UnauthorizedOperation.OperationTooOften", Class::Throttled),
            ("RequestLimitExceeded", Class::Throttled),
            ("RequestLimitExceeded.UinLimitExceeded", Class::Throttled),
            ("RequestLimitExceeded.IPLimitExceeded", Class::Throttled),
            ("LimitExceeded.CdnHostOpTooOften", Class::Throttled),
            ("InternalError", Class::Transient),
            ("InternalError.CdnSystemError", Class::Transient),
            ("InternalError.CdnDbError", Class::Transient),
            ("ServiceUnavailable", Class::Transient),
            ("InvalidParameter.CdnInterfaceError", Class::Transient),
            ("InvalidParameter.CdnParamError", Class::Content),
            ("InvalidParameter.CdnHostInvalidParam", Class::Content),
            ("InvalidParameter.CDNStatusInvalidDomain", Class::Content),
            ("ResourceNotFound.CdnHostNotExists", Class::Content),
            ("InvalidParameterValue", Class::Content),
            ("InvalidParameterValue.Foo", Class::Content),
            ("AuthFailure.SignatureFailure", Class::Fatal),
            ("AuthFailure.SignatureExpire", Class::Fatal),
            ("AuthFailure.SecretIdNotFound", Class::Fatal),
            ("AuthFailure.TokenFailure", Class::Fatal),
            ("InvalidAction", Class::Fatal),
            ("ActionOffline", Class::Fatal),
            ("NoSuchVersion", Class::Fatal),
            ("UnauthorizedOperation", Class::Fatal),
            ("UnauthorizedOperation.CdnUserNoWhitelist", Class::Fatal),
            ("UnauthorizedOperation.CdnCamUnauthorized", Class::Fatal),
            ("UnauthorizedOperation.CdnUserIsSuspended", Class::Fatal),
            ("ResourceNotFound.CdnUserNotExists", Class::Fatal),
            ("LimitExceeded", Class::Fatal),
            ("LimitExceeded.CdnPushExceedDayLimit", Class::Fatal),
            ("IpInBlacklist", Class::Fatal),
            ("IpNotInWhitelist", Class::Fatal),
            ("FailedOperation", Class::Other),
            ("InvalidParameter.CdnStatInvalidDate", Class::Other),
            ("MissingParameter", Class::Other),
            ("UnknownParameter", Class::Other),
            ("ResourceNotFound", Class::Other),
            ("InternalErrorish", Class::Other),
            ("RequestLimitExceededX", Class::Other),
            ("UnauthorizedOperation.SomethingElse", Class::Other),
        ];
        for (code, class) in cases {
            assert_eq!(classify_code(code), class, "{code}");
        }
    }

    #[test]
    fn faults_are_transient_and_success_is_success() {
        let fault = Answer::Fault(Fault {
            kind: FaultKind::Http(502),
            message: String::new(),
        });
        assert_eq!(classify(&fault), Class::Transient);
        assert_eq!(
            classify(&Answer::Success(Success::default())),
            Class::Success
        );
        let e = Answer::Error(ApiError {
            code: "ActionOffline".into(),
            message: String::new(),
            request_id: None,
        });
        assert_eq!(classify(&e), Class::Fatal);
        assert!(Class::Throttled.retryable() && Class::Transient.retryable());
        assert!(
            !Class::Content.retryable() && !Class::Fatal.retryable() && !Class::Other.retryable()
        );
    }

    #[test]
    fn backoff_is_exponential_capped_and_fully_jittered() {
        assert_eq!(backoff_ceiling(0), Duration::from_millis(250));
        assert_eq!(backoff_ceiling(1), Duration::from_millis(500));
        assert_eq!(backoff_ceiling(4), Duration::from_secs(4));
        assert_eq!(backoff_ceiling(7), Duration::from_secs(30));
        assert_eq!(backoff_ceiling(u32::MAX), Duration::from_secs(30));
        assert_eq!(full_jitter(Duration::from_secs(4), 0.0), Duration::ZERO);
        assert_eq!(
            full_jitter(Duration::from_secs(4), 0.5),
            Duration::from_secs(2)
        );
        // backon's schedule, jittered: max_attempts - 1 waits, each under its ceiling.
        let waits: Vec<Duration> = backoff(10).collect();
        assert_eq!(waits.len(), 9);
        for (i, w) in waits.iter().enumerate() {
            assert!(*w <= backoff_ceiling(i as u32), "wait {i}: {w:?}");
        }
        assert_eq!(backoff(1).count(), 0);
    }

    #[test]
    fn fatal_codes_get_advice_that_names_the_fix() {
        assert!(fatal_advice("AuthFailure.SignatureExpire").contains("clock"));
        assert!(fatal_advice("AuthFailure.SignatureFailure").contains("SecretKey"));
        assert!(fatal_advice("UnauthorizedOperation.CdnUserNoWhitelist").contains("whitelist"));
        assert!(fatal_advice("ActionOffline").contains("no longer offers"));
        assert!(fatal_advice("LimitExceeded.Daily").contains("quota"));
    }
}
