//! `--resume` after a kill between steps gives bit-identical weights (and metrics) to an
//! uninterrupted run on CPU; a non-finite loss stops the run before anything is saved.

use crate::common::{BACKENDS, demo, exo, ok, run, s, scratch, strs, tiny_train_args};

/// `exo train` of the tiny demo model for 5 steps, a checkpoint every 2.
fn train_args(backend: &'static str, out: &std::path::Path, extra: &[&str]) -> Vec<String> {
    tiny_train_args(backend, out, (5, 2), extra)
}

/// Full fine-tuning writes `model.safetensors`; LoRA writes its adapter (PEFT's layout). Mixed
/// precision resumes from the 16-bit weights, the f32 master copies in the optimiser state and
/// (f16) the loss scale in the trainer state; LoRA dropout draws the same masks again.
const RUNS: [(&str, &[&str], &str); 4] = [
    ("full", &[], "model.safetensors"),
    ("bf16", &["--dtype", "bf16"], "model.safetensors"),
    (
        "lora-f16",
        &[
            "--lora-r",
            "4",
            "--lora-targets",
            "q_proj,v_proj",
            "--lora-dropout",
            "0.1",
            "--dtype",
            "f16",
        ],
        "adapter_model.safetensors",
    ),
    (
        "lora",
        &[
            "--lora-r",
            "4",
            "--lora-alpha",
            "8",
            "--lora-targets",
            "all-linear",
        ],
        "adapter_model.safetensors",
    ),
];

#[test]
#[cfg_attr(
    not(feature = "test-hooks"),
    ignore = "needs exo built with --features test-hooks (scripts/test.sh does)"
)]
fn a_run_killed_between_steps_resumes_to_bit_identical_weights() {
    for backend in BACKENDS {
        for (name, flags, weights) in RUNS {
            killed_and_resumed(backend, name, flags, weights);
        }
    }
}

fn killed_and_resumed(backend: &'static str, name: &str, flags: &[&str], weights: &str) {
    let root = scratch(&format!("resume-{backend}-{name}"));
    let straight = root.join("straight");
    ok(&strs(&train_args(backend, &straight, flags)));

    // Killed right after step 3 (its update done, its metrics line written, no checkpoint
    // since step 2): resuming redoes step 3 from checkpoint-2.
    let killed = root.join("killed");
    let out = run(&strs(&train_args(
        backend,
        &killed,
        &[flags, &["--abort-after-step", "3"]].concat(),
    )));
    assert_eq!(
        out.status.code(),
        Some(137),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(killed.join("checkpoint-2").is_dir() && !killed.join("checkpoint-4").exists());
    assert!(!killed.join(weights).exists());
    let resume = s(&killed);
    let stdout = ok(&strs(&train_args(
        backend,
        &killed,
        &[flags, &["--resume", &resume]].concat(),
    )));
    assert!(stdout.contains("resumed from step 2"), "{stdout}");

    let a = std::fs::read(straight.join(weights)).expect("weights");
    let b = std::fs::read(killed.join(weights)).expect("weights");
    assert!(
        a == b,
        "{backend} {name}: resumed weights differ from the uninterrupted run's"
    );
    let ma = std::fs::read_to_string(straight.join("metrics.jsonl")).expect("metrics");
    let mb = std::fs::read_to_string(killed.join("metrics.jsonl")).expect("metrics");
    assert_eq!(ma, mb, "{backend} {name}: metrics differ");
    assert_eq!(
        std::fs::read(straight.join("checkpoint-5/optimizer.safetensors")).expect("opt"),
        std::fs::read(killed.join("checkpoint-5/optimizer.safetensors")).expect("opt"),
    );
}

/// The same with a real `SIGKILL` from outside, at whatever point the run has reached once its
/// first checkpoint exists (between steps, or in the middle of writing a later checkpoint):
/// resuming from the last complete checkpoint still ends with the uninterrupted run's weights.
#[test]
fn a_run_sigkilled_from_outside_resumes_to_bit_identical_weights() {
    let backend = "candle";
    let root = scratch("sigkill");
    let steps = ["--max-steps", "30"];
    let straight = root.join("straight");
    ok(&strs(&train_args(backend, &straight, &steps)));

    let killed = root.join("killed");
    let mut child = exo()
        .args(train_args(backend, &killed, &steps))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("exo starts");
    let started = std::time::Instant::now();
    while !killed.join("checkpoint-2").is_dir() {
        assert!(
            child.try_wait().expect("wait").is_none(),
            "the run ended before its first checkpoint"
        );
        assert!(
            started.elapsed().as_secs() < 120,
            "no checkpoint-2 after 2 minutes"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let seen = std::time::Instant::now();
    child.kill().expect("SIGKILL");
    let waited = seen.elapsed();
    let status = child.wait().expect("wait");
    assert!(
        !status.success(),
        "the run finished before the kill: {status}"
    );
    assert!(
        !killed.join("model.safetensors").exists(),
        "the killed run wrote its final weights"
    );

    let stdout = ok(&strs(&train_args(
        backend,
        &killed,
        &[&steps[..], &["--resume", &s(&killed)]].concat(),
    )));
    let resumed = stdout
        .lines()
        .find(|l| l.contains("resumed from step"))
        .unwrap_or_else(|| panic!("no resume line in {stdout}"));
    eprintln!(
        "killed {} ms after checkpoint-2 appeared; {resumed}",
        waited.as_millis()
    );
    let a = std::fs::read(straight.join("model.safetensors")).expect("weights");
    let b = std::fs::read(killed.join("model.safetensors")).expect("weights");
    assert!(
        a == b,
        "resumed weights differ from the uninterrupted run's"
    );
}

#[test]
#[cfg_attr(
    not(feature = "test-hooks"),
    ignore = "needs exo built with --features test-hooks (scripts/test.sh does)"
)]
fn sft_resumes_too_and_refuses_other_settings() {
    let demo = demo();
    let root = scratch("resume-sft");
    let args = |out: &std::path::Path, extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "sft",
            "--model",
            &s(&demo.join("init")),
            "--from-scratch",
            "--data",
            &s(&demo.join("sft.jsonl")),
            "--out",
            &s(out),
            "--max-steps",
            "4",
            "--save-every",
            "1",
            "--save-total-limit",
            "0",
            "--batch-prompts",
            "4",
            "--lr",
            "1e-2",
            "--backend",
            "candle",
        ]
        .iter()
        .map(|x| (*x).to_owned())
        .collect();
        a.extend(extra.iter().map(|x| (*x).to_owned()));
        a
    };
    let straight = root.join("straight");
    ok(&strs(&args(&straight, &[])));
    assert_eq!(
        (1..=4)
            .filter(|i| straight.join(format!("checkpoint-{i}")).is_dir())
            .count(),
        4
    );
    // A fresh run into a folder with checkpoints is refused, unless --overwrite.
    let again = run(&strs(&args(&straight, &[])));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        !again.status.success() && err.contains("--overwrite"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    ok(&strs(&args(
        &straight,
        &["--overwrite", "--max-steps", "2"],
    )));
    assert!(!straight.join("checkpoint-4").exists());
    ok(&strs(&args(&straight, &["--overwrite"])));
    let killed = root.join("killed");
    assert_eq!(
        run(&strs(&args(&killed, &["--abort-after-step", "2"])))
            .status
            .code(),
        Some(137)
    );
    ok(&strs(&args(
        &killed,
        &["--resume", &s(&killed.join("checkpoint-2"))],
    )));
    assert!(
        std::fs::read(straight.join("model.safetensors")).ok()
            == std::fs::read(killed.join("model.safetensors")).ok()
    );
    // Other settings, or another command's checkpoint, are refused in one line.
    let out = run(&strs(&args(
        &root.join("other"),
        &["--resume", &s(&killed), "--lr", "5e-3"],
    )));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("settings differ"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn a_non_finite_loss_stops_before_the_update_and_saves_nothing() {
    let root = scratch("nan");
    let out_dir = root.join("run");
    // An absurd learning rate: step 1's update is huge but finite; step 2's loss is not.
    let out = run(&strs(&train_args(
        "candle",
        &out_dir,
        &["--lr", "1e30", "--save-every", "1"],
    )));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("not finite") && err.contains("not applied"),
        "{err}"
    );
    assert!(err.contains("checkpoint-1"), "{err}");
    assert!(
        !out_dir.join("checkpoint-2").exists(),
        "a non-finite step reached a checkpoint"
    );
    assert!(!out_dir.join("model.safetensors").exists());
}
