//! `--lora-adapter DIR`: training continues from a saved adapter (exo's or PEFT's layout) on its
//! base. The policy starts as base + adapter (its log-probs differ from the base's, and equal
//! those of the same adapter used as `--ref`), the reference stays the base unless `--ref`
//! names the adapter, the adapter's r, α and targets carry over, and the base is untouched.

use std::path::{Path, PathBuf};

use crate::common::{BACKENDS, demo, jsonl, ok, run, s, scratch, sft_model};

/// `exo train` on the demo's scored data for one step (or `steps`), with `flags`.
fn train(backend: &'static str, out: &Path, steps: &str, flags: &[&str]) -> serde_json::Value {
    let (model, data, out_s) = (
        s(sft_model(backend)),
        s(&demo().join("scored.json")),
        s(out),
    );
    let mut args = vec!["train", "--model", &model, "--data", &data, "--out", &out_s];
    args.extend(["--max-steps", steps, "--batch-prompts", "4", "--lr", "1e-2"]);
    args.extend(["--backend", backend]);
    args.extend(flags);
    ok(&args);
    jsonl(&out.join("metrics.jsonl"))[0].clone()
}

fn metric(line: &serde_json::Value, name: &str) -> f64 {
    line[name]
        .as_f64()
        .unwrap_or_else(|| panic!("{name} missing in {line}"))
}

fn adapter_config(dir: &Path) -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(dir.join("adapter_config.json")).expect("adapter_config.json"),
    )
    .expect("adapter config JSON")
}

#[test]
fn training_continues_from_an_adapter() {
    for backend in BACKENDS {
        let root = scratch(&format!("lora-adapter-{backend}"));
        let base_weights =
            std::fs::read(sft_model(backend).join("model.safetensors")).expect("base weights");
        let adapter: PathBuf = root.join("adapter");
        let lora = [
            "--lora-r",
            "4",
            "--lora-alpha",
            "16",
            "--lora-targets",
            "q_proj,v_proj",
        ];
        train(backend, &adapter, "3", &lora);
        let a = s(&adapter);

        // Fresh adapters leave the model as the base: the policy's log-probs at step 1.
        let fresh = train(backend, &root.join("fresh"), "1", &lora);
        let cont = root.join("continued");
        let continued = train(backend, &cont, "1", &["--lora-adapter", &a]);
        let against = train(
            backend,
            &root.join("against-adapter"),
            "1",
            &["--lora-adapter", &a, "--ref", &a],
        );
        for name in ["logps/chosen", "logps/rejected"] {
            let (f, c, r) = (
                metric(&fresh, name),
                metric(&continued, name),
                metric(&against, name),
            );
            // The policy is base + adapter, whatever the reference.
            assert!(
                (c - r).abs() <= 1e-5 * c.abs().max(1.0),
                "{backend}: {name} {c} vs {r}"
            );
            assert!(
                (c - f).abs() > 1e-3,
                "{backend}: {name}: the adapter changed nothing ({c} vs base {f})"
            );
        }
        // Against the base (the default --ref), the adapter's trained rewards show; against itself
        // the policy's implicit rewards are 0 at the first step.
        let margin = |line: &serde_json::Value| {
            metric(line, "rewards/chosen").abs() + metric(line, "rewards/rejected").abs()
        };
        assert!(margin(&against) < 1e-5, "{backend}: {against}");
        assert!(margin(&continued) > 1e-4, "{backend}: {continued}");

        // The adapter's settings carry over; its weights moved on; the base did not.
        let (before, after) = (adapter_config(&adapter), adapter_config(&cont));
        for key in ["r", "lora_alpha", "target_modules"] {
            assert_eq!(before[key], after[key], "{backend}: {key}");
        }
        assert_ne!(
            std::fs::read(adapter.join("adapter_model.safetensors")).expect("adapter"),
            std::fs::read(cont.join("adapter_model.safetensors")).expect("continued adapter"),
            "{backend}: the adapter did not train"
        );
        assert_eq!(
            std::fs::read(sft_model(backend).join("model.safetensors")).expect("base weights"),
            base_weights,
            "{backend}: the base model changed"
        );
    }
}

#[test]
fn lora_adapter_errors_name_the_flag() {
    let backend = BACKENDS[0];
    let root = scratch("lora-adapter-errors");
    let (model, data) = (s(sft_model(backend)), s(&demo().join("scored.json")));
    let out = s(&root.join("out"));
    let base = ["train", "--model", &model, "--data", &data, "--out", &out];
    let fails = |extra: &[&str], want: &str| {
        let mut args = base.to_vec();
        args.extend(extra);
        let output = run(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{extra:?} succeeded");
        assert!(stderr.contains(want), "{extra:?}: {stderr}");
    };
    // Not an adapter: the model folder itself.
    fails(
        &["--lora-adapter", &model],
        "not a LoRA adapter folder (no adapter_config.json)",
    );
    // An adapter's settings come from the adapter.
    let adapter = root.join("adapter");
    std::fs::create_dir_all(&adapter).expect("mkdir");
    fails(
        &["--lora-adapter", &s(&adapter), "--lora-r", "4"],
        "--lora-adapter cannot be used with --lora-r",
    );
    // A model folder given as --model when it is an adapter points to --lora-adapter.
    let trained = root.join("trained");
    ok(&[
        "train",
        "--model",
        &model,
        "--data",
        &data,
        "--out",
        &s(&trained),
        "--max-steps",
        "1",
        "--batch-prompts",
        "4",
        "--backend",
        backend,
        "--lora-r",
        "2",
    ]);
    let mut args = vec!["train", "--model"];
    let t = s(&trained);
    args.extend([t.as_str(), "--data", &data, "--out", &out]);
    let output = run(&args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--lora-adapter"), "{stderr}");
}
