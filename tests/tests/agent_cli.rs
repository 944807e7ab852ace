//! The agent's command line as an operator meets it: config mistakes are
//! one line naming file and key, exit code 2; shipped configs parse.

use schoolwatch_tests::bin;
use std::process::Command;

fn run_with_config(text: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(bin("schoolwatch-agent"))
        .arg("--config")
        .arg(&path)
        .arg("inventory")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).replace(&path.display().to_string(), "FILE"),
    )
}

#[test]
fn unknown_key_is_one_line_naming_file_and_key_exit_2() {
    let (code, stdout, stderr) = run_with_config("[agent]\nrole = \"lab\"\nintervall = 5\n");
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert_eq!(
        stderr.trim_end(),
        "error: FILE: key `agent.intervall`: unknown field `intervall`, expected `role` (line 3, column 1)"
    );
}

#[test]
fn bad_value_names_what_is_allowed() {
    let (code, _, stderr) = run_with_config("[sample]\ninterval_secs = -5\n");
    assert_eq!(code, 2);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("key `sample.interval_secs`"), "{stderr}");
}

#[test]
fn shipped_example_config_is_valid() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("config/agent.toml")).unwrap();
    let (code, stdout, stderr) = run_with_config(&text);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("hostname"));
}

#[test]
fn zero_interval_flag_is_refused() {
    let out = Command::new(bin("schoolwatch-agent"))
        .args([
            "--config",
            "/nonexistent/x.toml",
            "sample",
            "--interval",
            "0s",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--interval"));
}
