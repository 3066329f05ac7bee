//! Before a large run at a terminal: what is about to happen, and a chance
//! to say no.
//!
//! Only when a person is there to answer (stdin and stderr are terminals),
//! only for more than [`LARGE`] URLs, and never with `--yes`, `--dry-run` or
//! when stdin carries the URLs. A cron job never sees a prompt.

use std::io::{BufRead, Write};

use crate::stats::human_duration;

/// More URLs than this, and a person at a terminal is asked first.
pub const LARGE: u64 = 1_000;

/// What a run is about to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Input records (lines of the input files, less CSV headers), or `None`
    /// when the URLs stream from stdin.
    pub urls: Option<u64>,
    pub inputs: String,
    pub batch_size: usize,
    pub qps: u32,
    pub endpoint: String,
    /// The SecretId's first characters only.
    pub secret_id: String,
    pub report: String,
    pub resume: bool,
}

impl Plan {
    /// Calls at least (before retries and splits).
    pub fn calls(&self) -> Option<u64> {
        self.urls.map(|n| n.div_ceil(self.batch_size as u64))
    }

    /// The plan, as shown before the question.
    pub fn render(&self) -> String {
        let mut out = String::new();
        match (self.urls, self.calls()) {
            (Some(urls), Some(calls)) => {
                out.push_str(&format!(
                    "About to unblock {} URLs from {}{}\n",
                    thousands(urls),
                    self.inputs,
                    if self.resume {
                        " (resuming: those already ok are skipped)"
                    } else {
                        ""
                    }
                ));
                out.push_str(&format!(
                    "  calls      {} of up to {} URLs, at {} calls/s: about {}\n",
                    thousands(calls),
                    self.batch_size,
                    self.qps,
                    human_duration(calls as f64 / self.qps as f64)
                ));
            }
            _ => out.push_str("About to unblock the URLs streaming from stdin\n"),
        }
        out.push_str(&format!("  endpoint   {}\n", self.endpoint));
        out.push_str(&format!("  SecretId   {}\n", self.secret_id));
        out.push_str(&format!("  report     {}\n", self.report));
        out
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Show the plan on `out` and read the answer from `input`: true for `y` or `yes`.
pub fn confirm(plan: &Plan, input: &mut impl BufRead, out: &mut impl Write) -> bool {
    let _ = write!(out, "{}Proceed? [y/N] ", plan.render());
    let _ = out.flush();
    let mut answer = String::new();
    if input.read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(urls: Option<u64>) -> Plan {
        Plan {
            urls,
            inputs: "blocked.csv".into(),
            batch_size: 100,
            qps: 40,
            endpoint: "https://cdn.intl.tencentcloudapi.com/".into(),
            secret_id: "AKIDz8kr…".into(),
            report: "unblock.csv".into(),
            resume: false,
        }
    }

    #[test]
    fn the_plan_says_how_many_how_long_where_and_as_whom() {
        let text = plan(Some(200_000)).render();
        assert!(text.contains("200,000 URLs from blocked.csv"), "{text}");
        assert!(
            text.contains("2,000 of up to 100 URLs, at 40 calls/s: about 50.0s"),
            "{text}"
        );
        assert!(text.contains("cdn.intl.tencentcloudapi.com"));
        assert!(text.contains("AKIDz8kr…"));
        assert!(text.contains("unblock.csv"));
        assert!(plan(None).render().contains("streaming from stdin"));
    }

    #[test]
    fn only_yes_means_yes() {
        for (answer, yes) in [
            ("y\n", true),
            ("YES\n", true),
            (" yes \n", true),
            ("\n", false),
            ("n\n", false),
            ("", false),
            ("maybe\n", false),
        ] {
            let mut out = Vec::new();
            assert_eq!(
                confirm(&plan(Some(5000)), &mut answer.as_bytes(), &mut out),
                yes,
                "{answer:?}"
            );
            assert!(String::from_utf8(out).unwrap().ends_with("Proceed? [y/N] "));
        }
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(10_000_000), "10,000,000");
    }
}
