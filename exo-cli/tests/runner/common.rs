//! Helpers: the `exo` binary, the shared quick-demo fixture, temporary folders.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Both backends.
pub const BACKENDS: [&str; 2] = ["candle", "tch"];

/// The `exo` binary, single-threaded (so that it does not re-execute itself for `--threads`).
pub fn exo() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_exo"));
    for v in ["CANDLE_NUM_THREADS", "RAYON_NUM_THREADS", "OMP_NUM_THREADS"] {
        c.env(v, "1");
    }
    c
}

/// Runs `exo args…`, asserting success; returns stdout.
pub fn ok(args: &[&str]) -> String {
    let out = exo().args(args).output().expect("exo runs");
    assert!(
        out.status.success(),
        "exo {} failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `exo args…` and returns the output whatever the status.
pub fn run(args: &[&str]) -> Output {
    exo().args(args).output().expect("exo runs")
}

/// A fresh folder under the system temp dir, unique to this test process and `name`.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join(format!("exo-runner-{}", std::process::id()))
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The folder of one `exo demo --quick` run (candle), made once per test process.
pub fn demo() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = scratch("demo-fixture");
        let dir = root.join("demo");
        let stdout = ok(&["demo", "--quick", "--backend", "candle", "--out", &s(&dir)]);
        std::fs::write(root.join("stdout.txt"), stdout).expect("write stdout");
        dir
    })
}

/// A path as a `&str`-able string.
pub fn s(p: &Path) -> String {
    p.display().to_string()
}

/// The JSON lines of a file.
pub fn jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// An SFT model trained for a few steps on the demo data with `backend`, made once per backend.
pub fn sft_model(backend: &'static str) -> &'static Path {
    static CANDLE: OnceLock<PathBuf> = OnceLock::new();
    static TCH: OnceLock<PathBuf> = OnceLock::new();
    let cell = if backend == "candle" { &CANDLE } else { &TCH };
    cell.get_or_init(|| {
        let demo = demo();
        let out = scratch(&format!("sft-{backend}"));
        ok(&[
            "sft",
            "--model",
            &s(&demo.join("init")),
            "--from-scratch",
            "--data",
            &s(&demo.join("sft.jsonl")),
            "--out",
            &s(&out),
            "--max-steps",
            "3",
            "--batch-prompts",
            "4",
            "--lr",
            "1e-2",
            "--train-on-prompt",
            "--backend",
            backend,
        ]);
        out
    })
}

/// A safetensors file's header, tensor name → `{dtype, shape, data_offsets}`.
pub fn header(path: &Path) -> serde_json::Map<String, serde_json::Value> {
    let bytes = std::fs::read(path).expect("safetensors");
    let n = usize::try_from(u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")))
        .expect("header length");
    match serde_json::from_slice(&bytes[8..8 + n]).expect("header") {
        serde_json::Value::Object(map) => map,
        other => panic!("{}: header {other}", path.display()),
    }
}

/// The safetensors dtypes of a file (from its header).
pub fn stored_dtypes(path: &Path) -> std::collections::BTreeSet<String> {
    header(path)
        .iter()
        .filter(|(k, _)| *k != "__metadata__")
        .map(|(_, v)| v["dtype"].as_str().expect("dtype").to_owned())
        .collect()
}

/// `exo train --objective exo` of the tiny demo model (4 prompts per micro-batch, 2 micro-batches
/// per step, lr 1e-3, the reference cache beside `out`) for `steps` steps with a checkpoint every
/// `save_every`, then `extra`: the run that the stop and resume tests interrupt.
pub fn tiny_train_args(
    backend: &'static str,
    out: &Path,
    (steps, save_every): (u64, u64),
    extra: &[&str],
) -> Vec<String> {
    let demo = demo();
    let mut args: Vec<String> = [
        "train",
        "--objective",
        "exo",
        "--model",
        &s(sft_model(backend)),
        "--data",
        &s(&demo.join("scored.json")),
        "--out",
        &s(out),
        "--max-steps",
        &steps.to_string(),
        "--save-every",
        &save_every.to_string(),
        "--batch-prompts",
        "4",
        "--grad-accum",
        "2",
        "--lr",
        "1e-3",
        "--backend",
        backend,
        "--ref-cache",
        &s(&out.with_extension("cache")),
    ]
    .iter()
    .map(|a| (*a).to_owned())
    .collect();
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    args
}

/// `&str`s of `args`, for [`ok`] and [`run`].
pub fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}
