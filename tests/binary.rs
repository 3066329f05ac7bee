//! The built binary, as a user runs it: help, exit codes, stdin.

use assert_cmd::Command;

use crate::support::*;

pub fn bin() -> Command {
    let mut cmd = Command::cargo_bin("cdn-unblock").unwrap();
    for var in [
        "TENCENTCLOUD_SECRET_ID",
        "TENCENTCLOUD_SECRET_KEY",
        "TENCENTCLOUD_SESSION_TOKEN",
        "TENCENTCLOUD_TOKEN",
        "TENCENTCLOUD_SECURITY_TOKEN",
        "TENCENTCLOUD_CREDENTIALS_FILE",
        "RUST_LOG",
        "NO_COLOR",
    ] {
        cmd.env_remove(var);
    }
    // No credentials file from the machine running the tests.
    cmd.env("HOME", "/nonexistent-home");
    cmd
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn help_teaches_the_commands_and_the_exit_codes() {
    let out = bin().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["run", "simulate", "demo"] {
        assert!(text.contains(word), "{text}");
    }
    let out = bin().args(["run", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for word in [
        "--report",
        "--resume",
        "--dry-run",
        "--qps",
        "--batch-size",
        "Exit codes",
        "TENCENTCLOUD_SECRET_ID",
        "Examples",
    ] {
        assert!(text.contains(word), "missing {word}");
    }
    let out = bin().arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("cdn-unblock "));
}

#[test]
fn missing_credentials_exit_2_naming_the_variables() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .current_dir(dir.path())
        .args(["run", "-"])
        .write_stdin("https://a.example.com/x\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(
        err.contains("TENCENTCLOUD_SECRET_ID") && err.contains("TENCENTCLOUD_SECRET_KEY"),
        "{err}"
    );
    // Nothing was written.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn bad_options_and_setup_problems_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["run", "--qps", "50", "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("over 40"));

    let out = bin()
        .current_dir(dir.path())
        .args(["run", "--dry-run", "missing.csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("missing.csv"));

    std::fs::write(dir.path().join("r.csv"), "x").unwrap();
    let out = bin()
        .current_dir(dir.path())
        .args(["run", "--dry-run", "-o", "r.csv"])
        .write_stdin("https://a.example.com/x\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("already exists"));
}

#[test]
fn dry_run_from_stdin_exits_0_or_1_and_prints_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .current_dir(dir.path())
        .args(["run", "--dry-run", "-o", "ok.csv"])
        .write_stdin("https://a.example.com/1\n# comment\n\nhttps://a.example.com/2\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(err.contains("records") && err.contains("ok.csv"), "{err}");
    let rows = read_report(&dir.path().join("ok.csv"));
    assert_eq!(rows.len(), 2);
    assert_eq!(&*rows[0].source, "-");
    assert_eq!(rows[1].line, 4);

    let out = bin()
        .current_dir(dir.path())
        .args(["run", "--dry-run", "-o", "bad.csv"])
        .write_stdin("https://a.example.com/1\nnot a url\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[tokio::test]
async fn stdin_to_the_simulator_with_credentials_from_the_environment() {
    let sim = start_sim(sim_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let endpoint = sim.endpoint();
    let path = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        bin()
            .current_dir(&path)
            .env("TENCENTCLOUD_SECRET_ID", "AKIDsimulator")
            .env("TENCENTCLOUD_SECRET_KEY", "simulator-secret")
            .args([
                "run",
                "--endpoint",
                &endpoint,
                "-o",
                "r.jsonl",
                "--log-format",
                "json",
                "--summary-json",
                "s.json",
            ])
            .write_stdin(many_urls(120).join("\n"))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let rows = read_report(&dir.path().join("r.jsonl"));
    assert_eq!(rows.len(), 120);
    // Log lines are JSON; the key never shows up anywhere.
    for line in err.lines().filter(|l| l.starts_with('{')) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(
            v.get("level").is_some() && v.get("event").is_some(),
            "{line}"
        );
    }
    assert!(!err.contains("simulator-secret"));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("s.json")).unwrap()).unwrap();
    assert_eq!(summary["ok"], 120);
    assert_eq!(summary["exit_code"], 0);
    assert_eq!(sim.calls().len(), 2);
    sim.stop().await;
}

#[tokio::test]
async fn a_wrong_key_exits_3() {
    let sim = start_sim(sim_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let endpoint = sim.endpoint();
    let path = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        bin()
            .current_dir(&path)
            .env("TENCENTCLOUD_SECRET_ID", "AKIDsimulator")
            .env("TENCENTCLOUD_SECRET_KEY", "not-the-key")
            .args(["run", "--endpoint", &endpoint, "-o", "r.csv"])
            .write_stdin("https://a.example.com/x\n")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = stderr_of(&out);
    assert!(err.contains("SecretKey does not match"), "{err}");
    assert!(!err.contains("not-the-key"));
    sim.stop().await;
}
