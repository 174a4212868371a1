//! End-to-end: `exo toy` on every backend, its JSON, its plot and its errors.

// Test helpers outside #[test] fns may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn exo() -> Command {
    Command::new(env!("CARGO_BIN_EXE_exo"))
}

fn json_of(backend: &str, steps: &str) -> serde_json::Value {
    let out = exo()
        .args(["toy", "--backend", backend, "--steps", steps, "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn toy_json_has_both_fits_with_every_field_and_backends_agree() {
    // 300 steps keeps the test quick; the full 4000-step claims are unit tests of the fit.
    let reference = json_of("ndarray", "300");
    for backend in ["candle", "tch"] {
        let other = json_of(backend, "300");
        for objective in ["exo", "dpo_rw"] {
            for field in [
                "mu",
                "sigma",
                "loss",
                "expected_reward",
                "reverse_kl",
                "forward_kl",
            ] {
                let a = reference[objective][field].as_f64().unwrap();
                let b = other[objective][field].as_f64().unwrap();
                assert!(
                    (a - b).abs() < 1e-9,
                    "{backend} {objective}.{field}: {a} vs {b}"
                );
            }
        }
    }
}

#[test]
fn toy_writes_png_and_svg_plots() {
    let dir = std::env::temp_dir().join(format!("exo-toy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, magic) in [("fit.png", &b"\x89PNG"[..]), ("fit.svg", &b"<svg"[..])] {
        let path = dir.join(name);
        let out = exo()
            .args(["toy", "--steps", "50", "--plot"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            bytes.windows(magic.len()).take(64).any(|w| w == magic),
            "{name} has no {magic:?}"
        );
    }
    // Nothing but the two plots: the temporary files were renamed.
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["fit.png", "fit.svg"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_toy_arguments_fail_with_one_clear_line() {
    for args in [
        &["--init", "1"][..],
        &["--init", "0,-1"],
        &["--lr", "0"],
        &["--lr", "nan"],
        &["--plot", "fit.txt"],
        &["--backend", "jax"],
    ] {
        let out = exo().arg("toy").args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("exo: error"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_diverging_learning_rate_is_reported_not_printed_as_numbers() {
    let out = exo()
        .args(["toy", "--lr", "1e6", "--steps", "20"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("not finite"), "{stderr}");
}
