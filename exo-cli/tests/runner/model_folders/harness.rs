//! Running one case: a copy of the demo's model folder, edited, given to `exo` under
//! `/usr/bin/time`, and the assertions on its failure and its bounds.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::Value;

use crate::common::{demo, s, scratch};

/// The bounds of the catalogue: CPU seconds and peak RSS in KiB.
pub(super) const LIMIT_SECS: f64 = 5.0;
pub(super) const LIMIT_KIB: u64 = 1024 * 1024;
/// The bounds of the absurd-config cases.
pub(super) const ABSURD_SECS: f64 = 1.0;
pub(super) const ABSURD_KIB: u64 = 200 * 1024;
/// A wall-clock bound against hangs, whatever the load.
const WALL_SECS: f64 = 30.0;

/// Edits `config.json` in place.
pub(super) fn edit_config(dir: &Path, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) {
    let path = dir.join("config.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(config.as_object_mut().unwrap());
    std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
}

/// Edits `tokenizer_config.json` in place.
pub(super) fn edit_tokenizer_config(
    dir: &Path,
    edit: impl FnOnce(&mut serde_json::Map<String, Value>),
) {
    let path = dir.join("tokenizer_config.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(config.as_object_mut().unwrap());
    std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
}

/// A fresh copy of the demo's SFT model folder (its files, not its checkpoints) for `case`.
pub(super) fn model_copy(case: &str) -> PathBuf {
    let from = demo().join("sft");
    let dir = scratch(&format!("model-folders/{case}"));
    for name in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ] {
        std::fs::copy(from.join(name), dir.join(name)).unwrap();
    }
    dir
}

/// What one run of `exo` did.
struct Measured {
    success: bool,
    stderr: String,
    cpu_secs: f64,
    wall_secs: f64,
    max_rss_kib: u64,
}

/// Runs `exo args…` under `/usr/bin/time`, single-threaded, and measures it (the stats go
/// next to the case's folder `dir`).
fn measure(dir: &Path, args: &[String]) -> Measured {
    let time = Path::new("/usr/bin/time");
    assert!(
        time.is_file(),
        "/usr/bin/time is missing: install the Debian package `time` (scripts/test.sh does)"
    );
    let stats = dir.with_extension("time.txt");
    let mut cmd = Command::new(time);
    cmd.args(["-f", "%M %U %S", "-o"])
        .arg(&stats)
        .arg(env!("CARGO_BIN_EXE_exo"))
        .args(args);
    for v in ["CANDLE_NUM_THREADS", "RAYON_NUM_THREADS", "OMP_NUM_THREADS"] {
        cmd.env(v, "1");
    }
    let started = Instant::now();
    let out = cmd.output().expect("exo runs under /usr/bin/time");
    let wall_secs = started.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(&stats).expect("/usr/bin/time wrote its stats");
    // `/usr/bin/time` prefixes "Command exited with non-zero status N" on a line of its own.
    let last = text.lines().last().expect("a stats line");
    let fields: Vec<&str> = last.split_whitespace().collect();
    let max_rss_kib = fields[0].parse().expect("%M");
    let cpu_secs = fields[1].parse::<f64>().expect("%U") + fields[2].parse::<f64>().expect("%S");
    Measured {
        success: out.status.success(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        cpu_secs,
        wall_secs,
        max_rss_kib,
    }
}

/// Asserts that `exo args` fails with one line naming all of `needles`, within the bounds.
pub(super) fn fails(
    case: &str,
    dir: &Path,
    args: &[String],
    needles: &[&str],
    secs: f64,
    kib: u64,
) {
    let m = measure(dir, args);
    let cmd = args.join(" ");
    let err = m.stderr.trim_end();
    assert!(!m.success, "{case}: exo {cmd} succeeded");
    assert_eq!(err.lines().count(), 1, "{case}: exo {cmd}:\n{err}");
    assert!(err.starts_with("exo: error: "), "{case}: {err}");
    for needle in needles {
        assert!(err.contains(needle), "{case}: expected {needle:?} in {err}");
    }
    assert!(
        m.cpu_secs < secs,
        "{case}: {:.2} s of CPU time (limit {secs} s)",
        m.cpu_secs
    );
    assert!(m.wall_secs < WALL_SECS, "{case}: {:.1} s wall", m.wall_secs);
    assert!(
        m.max_rss_kib < kib,
        "{case}: peak RSS {} KiB (limit {kib} KiB)",
        m.max_rss_kib
    );
    eprintln!(
        "{case}: {:.2} s CPU, {:.2} s wall, {} MiB peak RSS: {err}",
        m.cpu_secs,
        m.wall_secs,
        m.max_rss_kib / 1024
    );
}

/// `exo sample` on the model folder `dir`, with `prompts` (the demo's when `None`).
pub(super) fn sample_args(dir: &Path, prompts: Option<&Path>) -> Vec<String> {
    let prompts = prompts.map_or_else(|| demo().join("prompts-eval.jsonl"), Path::to_path_buf);
    vec![
        "sample".into(),
        "--model".into(),
        s(dir),
        "--prompts".into(),
        s(&prompts),
        "--out".into(),
        s(&dir.join("out").join("samples.json")),
        "--backend".into(),
        "candle".into(),
    ]
}

/// `exo sft --from-scratch` on the model folder `dir` with the demo's SFT data.
pub(super) fn from_scratch_args(dir: &Path) -> Vec<String> {
    vec![
        "sft".into(),
        "--from-scratch".into(),
        "--model".into(),
        s(dir),
        "--data".into(),
        s(&demo().join("sft.jsonl")),
        "--out".into(),
        s(&dir.join("out")),
        "--backend".into(),
        "candle".into(),
    ]
}

/// One case: a copy of the model folder, corrupted by `corrupt`, given to `exo sample`.
pub(super) fn sample_case(case: &str, corrupt: impl FnOnce(&Path), needles: &[&str]) {
    let dir = model_copy(case);
    corrupt(&dir);
    fails(
        case,
        &dir,
        &sample_args(&dir, None),
        needles,
        LIMIT_SECS,
        LIMIT_KIB,
    );
}
