//! `exo rm` and the reward model in the rest of the pipeline: training on a separable set
//! (loss falls, accuracy rises) on both backends, a checkpoint in transformers' layout, and
//! `exo score|eval --reward-model` feeding `exo train`.

use crate::common::{BACKENDS, demo, jsonl, ok, run, s, scratch, sft_model};

/// Pairs a reward model can separate: the chosen completion ends in "!", the rejected in ".".
fn separable_pairs(path: &std::path::Path) {
    let prompts = [
        "The movie",
        "This film",
        "The plot",
        "The acting",
        "What a",
        "The story",
    ];
    let lines: Vec<String> = (0..24)
        .map(|i| {
            let p = prompts[i % prompts.len()];
            serde_json::json!({
                "prompt": p,
                "chosen": format!(" was {} fun!", ["so", "very", "quite"][i % 3]),
                "rejected": format!(" was {} fun.", ["so", "very", "quite"][(i + 1) % 3]),
            })
            .to_string()
        })
        .collect();
    std::fs::write(path, lines.join("\n")).expect("write pairs");
}

#[test]
fn a_reward_model_trains_scores_and_evaluates_on_both_backends() {
    for backend in BACKENDS {
        let root = scratch(&format!("rm-{backend}"));
        let sft = sft_model(backend);
        let pairs = root.join("pairs.jsonl");
        separable_pairs(&pairs);
        let rm = root.join("rm");
        let stdout = ok(&[
            "rm",
            "--model",
            &s(sft),
            "--data",
            &s(&pairs),
            "--out",
            &s(&rm),
            "--max-steps",
            "24",
            "--batch-prompts",
            "8",
            "--lr",
            "1e-3",
            "--backend",
            backend,
        ]);
        assert!(
            stdout.contains("exo rm: 24 steps on 24 records"),
            "{stdout}"
        );
        let lines = jsonl(&rm.join("metrics.jsonl"));
        let metric = |i: usize, name: &str| lines[i][name].as_f64().unwrap_or(f64::NAN);
        let mean = |range: std::ops::Range<usize>, name: &str| {
            range.clone().map(|i| metric(i, name)).sum::<f64>() / range.len() as f64
        };
        let (first, last) = (mean(0..3, "loss"), mean(21..24, "loss"));
        assert!(last < 0.5 * first, "{backend}: loss {first} → {last}");
        let (acc0, acc1) = (mean(0..3, "accuracy"), mean(21..24, "accuracy"));
        assert!(
            acc1 >= 0.95 && acc1 > acc0,
            "{backend}: accuracy {acc0} → {acc1}"
        );
        assert!(lines[23]["margin"].as_f64().is_some_and(|m| m > 0.0));

        // transformers' layout: a Llama sequence classifier with one label and a pad token.
        let config: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(rm.join("config.json")).expect("config.json"),
        )
        .expect("config JSON");
        assert_eq!(config["architectures"][0], "LlamaForSequenceClassification");
        assert_eq!(config["id2label"].as_object().map(|m| m.len()), Some(1));
        assert!(config["pad_token_id"].is_u64(), "{config}");
        assert!(rm.join("tokenizer.json").is_file());

        // It scores the pairs as it was trained to, and scored samples train a policy.
        let scored = root.join("scored.json");
        let samples = demo().join("samples.json");
        let out = ok(&[
            "score",
            "--reward-model",
            &s(&rm),
            "--in",
            &s(&samples),
            "--out",
            &s(&scored),
            "--backend",
            backend,
        ]);
        assert!(out.contains("by reward model"), "{out}");
        let records: Vec<serde_json::Value> =
            serde_json::from_str(&std::fs::read_to_string(&scored).expect("scored")).expect("JSON");
        assert!(records.iter().all(|r| {
            r["rewards"]
                .as_array()
                .is_some_and(|v| v.iter().all(|x| x.as_f64().is_some_and(f64::is_finite)))
        }));
        let policy = root.join("exo");
        ok(&[
            "train",
            "--objective",
            "exo",
            "--model",
            &s(sft),
            "--data",
            &s(&scored),
            "--out",
            &s(&policy),
            "--max-steps",
            "2",
            "--batch-prompts",
            "4",
            "--backend",
            backend,
        ]);
        let eval = ok(&[
            "eval",
            "--model",
            &s(&policy),
            "--ref",
            &s(sft),
            "--prompts",
            &s(&demo().join("prompts-eval.jsonl")),
            "-n",
            "1",
            "--limit",
            "3",
            "--max-new-tokens",
            "5",
            "--reward-model",
            &s(&rm),
            "--json",
            "--backend",
            backend,
        ]);
        let v: serde_json::Value = serde_json::from_str(eval.trim()).expect("eval JSON");
        assert!(
            v["reward_fn"]
                .as_str()
                .is_some_and(|r| r.contains("reward model")),
            "{v}"
        );

        // A causal LM is no reward model, and one score has no labels.
        let (samples_arg, never) = (s(&samples), s(&root.join("never.json")));
        let fails_with = |extra: &[&str], message: &str| {
            let mut args = vec![
                "score",
                "--in",
                samples_arg.as_str(),
                "--out",
                never.as_str(),
            ];
            args.extend_from_slice(extra);
            let output = run(&args);
            let err = String::from_utf8_lossy(&output.stderr);
            assert!(!output.status.success() && err.contains(message), "{err}");
        };
        fails_with(&["--reward-model", &s(sft)], "is not a reward model");
        fails_with(
            &["--reward-model", &s(&rm), "--reward-label", "1"],
            "has one score",
        );
        assert!(!root.join("never.json").exists());
    }
}
