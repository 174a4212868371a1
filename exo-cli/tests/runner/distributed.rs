//! Data-parallel runs under `mpirun -np 2` (exo built with `--features mpi`; scripts/test.sh
//! builds the tests so): two processes with B/2 records each equal one process with B — losses
//! at every step and the final weights to 1e-6 relative in f32, 1e-12 in f64, on both backends,
//! for a reward objective (exo), a pairwise one (dpo), a reference-free one (simpo), with
//! gradient accumulation, and for SFT's token mean; a rank killed with `kill -9` stops the world
//! within a bounded time, and `--resume` with the same world size finishes bit for bit.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use exo_lm::weights::HostData;

use crate::common::{BACKENDS, demo, exo, jsonl, s, scratch, sft_model};

/// `mpirun -np N exo args…` (one thread per process, as root where the tests run as root).
fn mpirun(np: usize, args: &[&str]) -> Output {
    let exe = exo();
    let mut c = Command::new("mpirun");
    c.args(["--oversubscribe", "-np", &np.to_string()])
        .arg(exe.get_program())
        .args(args)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    for (k, v) in exe.get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    c.output()
        .expect("mpirun runs (scripts/test.sh installs Open MPI)")
}

fn mpi_ok(np: usize, args: &[&str]) -> String {
    let out = mpirun(np, args);
    assert!(
        out.status.success(),
        "mpirun -np {np} exo {} failed ({}): {}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn single_ok(args: &[&str]) -> String {
    let out = exo().args(args).output().expect("exo runs");
    assert!(
        out.status.success(),
        "exo {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every tensor of two safetensors files, as f64s by name.
fn weights(path: &Path) -> Vec<(String, Vec<f64>)> {
    let mut all: Vec<(String, Vec<f64>)> = exo_lm::weights::read_safetensors(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_iter()
        .map(|(name, t)| {
            let values = match t.data {
                HostData::F32(v) => v.into_iter().map(f64::from).collect(),
                HostData::F64(v) => v,
                other => panic!("{name}: unexpected data {other:?}"),
            };
            (name, values)
        })
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

/// The relative difference `‖a − b‖₂ / ‖a‖₂` of each tensor, the largest over tensors, and the
/// tensor's name.
fn max_relative(a: &[(String, Vec<f64>)], b: &[(String, Vec<f64>)]) -> (f64, String) {
    assert_eq!(a.len(), b.len(), "the same tensors");
    let mut worst = (0.0_f64, String::new());
    for ((na, va), (nb, vb)) in a.iter().zip(b) {
        assert_eq!(na, nb);
        assert_eq!(va.len(), vb.len(), "{na}");
        let norm = va.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-300);
        let diff = va
            .iter()
            .zip(vb)
            .map(|(x, y)| (x - y) * (x - y))
            .sum::<f64>()
            .sqrt();
        if diff / norm > worst.0 {
            worst = (diff / norm, na.clone());
        }
    }
    worst
}

/// The per-step values of `key` in OUT/metrics.jsonl.
fn series(out: &Path, key: &str) -> Vec<f64> {
    jsonl(&out.join("metrics.jsonl"))
        .iter()
        .map(|m| m[key].as_f64().unwrap_or(f64::NAN))
        .collect()
}

fn relative(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(1e-30)
}

/// One process with `batch` records per micro-batch against 2 with `batch / 2`.
fn compare(name: &str, args: &[&str], batch: usize, tolerance: f64) {
    let root = scratch(&format!("dp-{name}"));
    let (one, two) = (root.join("one"), root.join("two"));
    let whole = batch.to_string();
    let half = (batch / 2).to_string();
    single_ok(&[args, &["--out", &s(&one), "--batch-prompts", &whole]].concat());
    let stdout = mpi_ok(
        2,
        &[args, &["--out", &s(&two), "--batch-prompts", &half]].concat(),
    );
    assert!(
        stdout.contains("data-parallel over 2 processes (mpi)"),
        "{stdout}"
    );
    let (a, b) = (series(&one, "loss"), series(&two, "loss"));
    assert_eq!(a.len(), b.len(), "{name}: steps");
    for (step, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(
            relative(*x, *y) <= tolerance,
            "{name}: step {} loss {x} (1 process) vs {y} (2 processes)",
            step + 1
        );
    }
    let file = "model.safetensors";
    let (worst, tensor) = max_relative(&weights(&one.join(file)), &weights(&two.join(file)));
    assert!(
        worst <= tolerance,
        "{name}: final weights differ by {worst:e} relative in {tensor} (tolerance {tolerance:e})"
    );
    // Rank 0 alone wrote: one metrics line per step, one copy of every file.
    assert!(!two.join("metrics.jsonl.tmp").exists());
    eprintln!("{name}: largest relative difference of the final weights {worst:e} ({tensor})");
}

#[test]
#[cfg_attr(
    not(feature = "mpi"),
    ignore = "needs exo built with --features mpi (scripts/test.sh does)"
)]
fn two_processes_with_half_batches_equal_one_process() {
    let demo = demo();
    let scored = s(&demo.join("scored.json"));
    for backend in BACKENDS {
        let model = s(sft_model(backend));
        for (dtype, tolerance) in [("f32", 1e-6), ("f64", 1e-12)] {
            for (objective, accum) in [("exo", "1"), ("dpo", "2"), ("simpo", "1"), ("exo", "2")] {
                let args = [
                    "train",
                    "--objective",
                    objective,
                    "--model",
                    &model,
                    "--data",
                    &scored,
                    "--max-steps",
                    "3",
                    "--grad-accum",
                    accum,
                    // AdamW's first steps move each weight by about lr · sign(g): where a
                    // gradient is near 0, the last-bit difference between one batch's sum and
                    // two halves' can change its update by up to 2 lr, so the weights' relative
                    // difference grows with lr (1.2e-6 at lr 1e-3 in f32, candle, exo).
                    "--lr",
                    "1e-4",
                    "--backend",
                    backend,
                    "--dtype",
                    dtype,
                    "--save-dtype",
                    dtype,
                    "--quiet",
                ];
                compare(
                    &format!("{backend}-{dtype}-{objective}-accum{accum}"),
                    &args,
                    4,
                    tolerance,
                );
            }
            // SFT's loss is a mean over tokens: each rank's share is weighted by its tokens.
            let sft = s(&demo.join("sft.jsonl"));
            let args = [
                "sft",
                "--model",
                &model,
                "--data",
                &sft,
                "--max-steps",
                "3",
                "--lr",
                "1e-4",
                "--backend",
                backend,
                "--dtype",
                dtype,
                "--save-dtype",
                dtype,
                "--quiet",
            ];
            compare(&format!("{backend}-{dtype}-sft"), &args, 4, tolerance);
            // A reward model (Bradley–Terry on best vs worst of each group; a seeded new head).
            let args = [
                "rm",
                "--model",
                &model,
                "--data",
                &scored,
                "--max-steps",
                "2",
                "--lr",
                "1e-4",
                "--backend",
                backend,
                "--dtype",
                dtype,
                "--save-dtype",
                dtype,
                "--quiet",
            ];
            compare(&format!("{backend}-{dtype}-rm"), &args, 4, tolerance);
        }
    }
}

#[test]
#[cfg_attr(
    not(all(feature = "mpi", feature = "test-hooks")),
    ignore = "needs exo built with --features mpi,test-hooks (scripts/test.sh does)"
)]
fn a_rank_killed_stops_the_world_and_resume_finishes_bit_for_bit() {
    let demo = demo();
    for backend in BACKENDS {
        let root = scratch(&format!("dp-kill-{backend}"));
        let (straight, killed) = (root.join("straight"), root.join("killed"));
        let model = s(sft_model(backend));
        let scored = s(&demo.join("scored.json"));
        let args = |out: &Path| -> Vec<String> {
            [
                "train",
                "--objective",
                "exo",
                "--model",
                &model,
                "--data",
                &scored,
                "--out",
                &s(out),
                "--max-steps",
                "5",
                "--save-every",
                "2",
                "--batch-prompts",
                "2",
                "--lr",
                "1e-3",
                "--backend",
                backend,
                "--quiet",
                "--ref-cache",
                &s(&root.join("cache")),
            ]
            .iter()
            .map(|a| (*a).to_owned())
            .collect()
        };
        let strs = |v: &[String]| v.iter().map(String::clone).collect::<Vec<String>>();
        let straight_args = strs(&args(&straight));
        mpi_ok(
            2,
            &straight_args.iter().map(String::as_str).collect::<Vec<_>>(),
        );

        // Rank 1 is killed (`kill -9` of itself) right after step 3's update: mpirun must stop
        // rank 0, which waits for it in step 4's all-reduce, and say which rank died.
        let mut killed_args = strs(&args(&killed));
        killed_args.extend(["--abort-after-step".to_owned(), "3".to_owned()]);
        let started = Instant::now();
        let out = mpirun(
            2,
            &killed_args.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        let took = started.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{stderr}");
        assert!(
            took < Duration::from_secs(60),
            "the world took {took:?} to stop"
        );
        assert!(
            format!("{stdout}{stderr}").contains("rank 1"),
            "the launcher names the rank: {stdout}{stderr}"
        );
        assert!(killed.join("checkpoint-2").is_dir() && !killed.join("checkpoint-4").exists());
        assert!(!killed.join("model.safetensors").exists());

        // A rank whose work fails (an error, not a kill) stops the others too, with its line.
        let failed = root.join("failed");
        let mut failed_args = strs(&args(&failed));
        failed_args.extend(["--fail-after-step".to_owned(), "1".to_owned()]);
        let started = Instant::now();
        let out = mpirun(
            2,
            &failed_args.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(started.elapsed() < Duration::from_secs(60));
        assert!(
            stderr.contains("exo: error: rank 1 of 2: test hook: failing after step 1"),
            "{stderr}"
        );

        // Another world size is refused with the size to use.
        let mut resume_args = strs(&args(&killed));
        resume_args.extend(["--resume".to_owned(), s(&killed)]);
        let resume: Vec<&str> = resume_args.iter().map(String::as_str).collect();
        let single = exo().args(&resume).output().expect("exo runs");
        let message = String::from_utf8_lossy(&single.stderr);
        assert!(
            !single.status.success() && message.contains("mpirun -np 2"),
            "{message}"
        );
        let stdout = mpi_ok(2, &resume);
        assert!(stdout.contains("resumed from step 2"), "{stdout}");
        let a = std::fs::read(straight.join("model.safetensors")).expect("weights");
        let b = std::fs::read(killed.join("model.safetensors")).expect("weights");
        assert!(
            a == b,
            "{backend}: resumed weights differ from the straight run's"
        );
        assert_eq!(
            series(&straight, "loss"),
            series(&killed, "loss"),
            "{backend}: metrics"
        );
    }
}

#[test]
#[cfg_attr(
    not(feature = "mpi"),
    ignore = "needs exo built with --features mpi (scripts/test.sh does)"
)]
fn single_process_commands_refuse_a_world_of_several() {
    let out = mpirun(2, &["objectives"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("`exo objectives` runs in one process; it was started as 2"),
        "{stderr}"
    );
}

#[test]
#[cfg_attr(
    not(feature = "mpi"),
    ignore = "needs exo built with --features mpi (scripts/test.sh does)"
)]
fn sampling_and_evaluation_split_over_processes_give_one_process_results() {
    let demo = demo();
    for backend in BACKENDS {
        let root = scratch(&format!("dp-sample-{backend}"));
        let model = s(sft_model(backend));
        let prompts = s(&demo.join("prompts-align.jsonl"));
        // 16 prompts in batches of 3: 6 batches, the last one short, split 3 + 3.
        let args = |out: &Path| -> Vec<String> {
            [
                "sample",
                "--model",
                &model,
                "--prompts",
                &prompts,
                "-k",
                "2",
                "--max-new-tokens",
                "8",
                "--batch-prompts",
                "3",
                "--seed",
                "11",
                "--backend",
                backend,
                "--out",
                &s(out),
            ]
            .iter()
            .map(|a| (*a).to_owned())
            .collect()
        };
        let (one, two) = (root.join("one.json"), root.join("two.json"));
        let a = args(&one);
        single_ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
        let b = args(&two);
        let stdout = mpi_ok(2, &b.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(
            stdout.matches("exo sample:").count(),
            1,
            "rank 0 alone reports: {stdout}"
        );
        assert_eq!(
            std::fs::read(&one).expect("one"),
            std::fs::read(&two).expect("two"),
            "{backend}: the samples differ"
        );

        let eval = [
            "eval",
            "--model",
            &model,
            "--ref",
            &model,
            "--prompts",
            &s(&demo.join("prompts-eval.jsonl")),
            "--max-new-tokens",
            "8",
            "-n",
            "3",
            "--backend",
            backend,
            "--json",
        ];
        let single = single_ok(&eval);
        let world = mpi_ok(2, &eval);
        assert_eq!(single, world, "{backend}: eval");
    }
}
