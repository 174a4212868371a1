//! Every stage alone, on both backends: sft → sample → score → train (four objectives) → eval;
//! metrics names; the reference cache; config files; external rewards.

use crate::common::{BACKENDS, demo, header, jsonl, ok, s, scratch, sft_model, stored_dtypes};

/// TRL's names and EXO's own, on every step.
const METRICS: [&str; 15] = [
    "loss",
    "learning_rate",
    "grad_norm",
    "epoch",
    "rewards/chosen",
    "rewards/rejected",
    "rewards/accuracies",
    "rewards/margins",
    "logps/chosen",
    "logps/rejected",
    "exo/p_f_entropy",
    "exo/kl_pf_pr",
    "exo/group_reward",
    "kl/ref_policy",
    "is/reward",
];

#[test]
fn every_command_runs_alone_on_both_backends() {
    let demo = demo();
    for backend in BACKENDS {
        let root = scratch(&format!("stages-{backend}"));
        let sft = sft_model(backend);
        assert!(sft.join("checkpoint-3/optimizer.safetensors").is_file());
        assert_eq!(jsonl(&sft.join("metrics.jsonl")).len(), 3);

        let samples = root.join("samples.jsonl");
        let out = ok(&[
            "sample",
            "--model",
            &s(sft),
            "--prompts",
            &s(&demo.join("prompts-align.jsonl")),
            "-k",
            "3",
            "--max-new-tokens",
            "6",
            "--out",
            &s(&samples),
            "--backend",
            backend,
        ]);
        assert!(out.contains("× 3 completions"), "{out}");
        let records = jsonl(&samples);
        assert_eq!(records.len(), 16);
        assert_eq!(records[0]["completions"].as_array().map(Vec::len), Some(3));
        assert!(records[0].get("rewards").is_none());

        let scored = root.join("scored.json");
        ok(&[
            "score",
            "--reward",
            "sentiment",
            "--in",
            &s(&samples),
            "--out",
            &s(&scored),
        ]);
        let text = std::fs::read_to_string(&scored).expect("scored");
        let scored_records: Vec<serde_json::Value> =
            serde_json::from_str(&text).expect("a JSON array");
        assert_eq!(
            scored_records[0]["rewards"].as_array().map(Vec::len),
            Some(3)
        );
        // exo-data reads it as the official rewards format.
        ok(&["data", "inspect", &s(&scored)]);

        for objective in ["exo", "dpo", "exo-pair", "dpo-rw"] {
            let out = root.join(format!("train-{objective}"));
            let stdout = ok(&[
                "train",
                "--objective",
                objective,
                "--model",
                &s(sft),
                "--data",
                &s(&scored),
                "--out",
                &s(&out),
                "--max-steps",
                "2",
                "--batch-prompts",
                "4",
                "--lr",
                "1e-3",
                "--plot",
                "--backend",
                backend,
            ]);
            assert!(
                stdout.contains("reference log-probs: computed once"),
                "{stdout}"
            );
            for f in [
                "model.safetensors",
                "config.json",
                "tokenizer.json",
                "checkpoint-2/optimizer.safetensors",
                "loss.png",
            ] {
                assert!(out.join(f).is_file(), "{objective}: {f} missing");
            }
            // log-probs at τ = 1 unless --logit-temperature says otherwise, as TRL's.
            let state: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(out.join("checkpoint-2/trainer_state.json"))
                    .expect("trainer_state.json"),
            )
            .expect("trainer state JSON");
            assert_eq!(
                state["settings"]["command"]["logit_temperature"].as_f64(),
                Some(1.0),
                "{state}"
            );
            let lines = jsonl(&out.join("metrics.jsonl"));
            assert_eq!(lines.len(), 2);
            // Pairs carry the rewards (1, 0), so every objective reports every metric, but DPO's
            // target (1, 0) makes KL(p_f ‖ p_r) infinite: not reported.
            for name in METRICS {
                if objective == "dpo" && name == "exo/kl_pf_pr" {
                    assert!(lines[1].get(name).is_none());
                    continue;
                }
                assert!(
                    lines[1].get(name).is_some_and(serde_json::Value::is_number),
                    "{objective}: {name} missing in {}",
                    lines[1]
                );
            }
            assert_eq!(lines[1]["step"], 2);
        }
        // The reward objectives read all K; the pairwise ones read best vs worst.
        let k_exo = jsonl(&root.join("train-exo/metrics.jsonl"))[0]["exo/p_f_entropy"]
            .as_f64()
            .unwrap_or(0.0);
        let k_dpo = jsonl(&root.join("train-dpo/metrics.jsonl"))[0]["exo/p_f_entropy"]
            .as_f64()
            .unwrap_or(9.0);
        assert!(
            k_exo > 1.0 && k_dpo <= std::f64::consts::LN_2 + 1e-9,
            "entropies {k_exo} (K=3), {k_dpo} (K=2)"
        );

        let stdout = ok(&[
            "eval",
            "--model",
            &s(&root.join("train-exo")),
            "--ref",
            &s(sft),
            "--prompts",
            &s(&demo.join("prompts-eval.jsonl")),
            "-n",
            "2",
            "--max-new-tokens",
            "6",
            "--json",
            "--backend",
            backend,
            "--save-samples",
            &s(&root.join("eval")),
        ]);
        let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("eval JSON");
        for k in [
            "reward",
            "reward_se",
            "kl",
            "kl_se",
            "win_rate",
            "reference_reward",
            "prompts",
            "samples_per_prompt",
        ] {
            assert!(v.get(k).is_some(), "eval JSON lacks {k}: {v}");
        }
        assert_eq!(v["prompts"], 8);
        assert!(
            root.join("eval/policy.json").is_file() && root.join("eval/reference.json").is_file()
        );
        // Against its own scored samples as the reference: the same model, no KL.
        let stdout = ok(&[
            "eval",
            "--model",
            &s(sft),
            "--ref",
            &s(sft),
            "--prompts",
            &s(&demo.join("prompts-eval.jsonl")),
            "-n",
            "2",
            "--max-new-tokens",
            "6",
            "--json",
            "--backend",
            backend,
            "--ref-samples",
            &s(&root.join("eval/reference.json")),
        ]);
        let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("eval JSON");
        assert_eq!(v["kl"].as_f64(), Some(0.0));
        // The table form.
        let table = ok(&[
            "eval",
            "--model",
            &s(sft),
            "--ref",
            &s(sft),
            "--prompts",
            &s(&demo.join("prompts-eval.jsonl")),
            "-n",
            "1",
            "--max-new-tokens",
            "4",
            "--limit",
            "2",
            "--backend",
            backend,
        ]);
        assert!(
            table.contains("win rate") && table.contains("2 prompts × 1 samples"),
            "{table}"
        );
    }
}

#[test]
fn the_reference_cache_is_reused_and_invalidated_by_any_change() {
    let demo = demo();
    let root = scratch("cache");
    let cache = root.join("cache");
    let sft = sft_model("candle");
    let train = |data: &std::path::Path, model: &std::path::Path, out: &str, extra: &[&str]| {
        let mut args = vec![
            "train".to_owned(),
            "--model".into(),
            s(model),
            "--data".into(),
            s(data),
            "--out".into(),
            s(&root.join(out)),
            "--ref-cache".into(),
            s(&cache),
            "--max-steps".into(),
            "1".into(),
            "--batch-prompts".into(),
            "4".into(),
            "--backend".into(),
            "candle".into(),
        ];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(&args)
    };
    let files = || std::fs::read_dir(&cache).map(|d| d.count()).unwrap_or(0);
    let data = demo.join("scored.json");
    assert!(train(&data, sft, "a", &[]).contains("computed once"));
    assert!(train(&data, sft, "b", &[]).contains("cached"));
    assert_eq!(files(), 1);
    // Another objective on the same rows (pairs are other rows than groups of K).
    assert!(train(&data, sft, "c", &["--objective", "dpo"]).contains("computed once"));
    assert!(train(&data, sft, "d", &["--objective", "exo-pair"]).contains("cached"));
    // Changed data: one reward edited.
    let mut records: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&data).expect("data")).expect("json");
    records[0]["rewards"][0] = serde_json::json!(0.123_456);
    let edited = root.join("edited.json");
    std::fs::write(&edited, serde_json::to_string(&records).expect("json")).expect("write");
    assert!(train(&edited, sft, "e", &[]).contains("computed once"));
    // Changed settings (τ; the default is 1) and a changed model.
    assert!(train(&data, sft, "f", &["--logit-temperature", "0.8"]).contains("computed once"));
    assert!(train(&data, &root.join("a"), "g", &[]).contains("computed once"));
    assert_eq!(files(), 5);
}

#[test]
fn a_config_file_sets_flags_and_the_command_line_wins() {
    let demo = demo();
    let root = scratch("config");
    let config = root.join("exo.toml");
    std::fs::write(
        &config,
        format!(
            "backend = \"candle\"\n[train]\nmodel = \"{}\"\ndata = \"{}\"\nmax_steps = 3\nbatch-prompts = 4\nlr = 1e-3\nobjective = \"dpo\"\n[eval]\nn = 7\n",
            s(sft_model("candle")),
            s(&demo.join("scored.json")),
        ),
    )
    .expect("config");
    let out = root.join("run");
    let stdout = ok(&[
        "train",
        "--config",
        &s(&config),
        "--out",
        &s(&out),
        "--max-steps",
        "2",
    ]);
    assert!(stdout.contains("--objective dpo"), "{stdout}");
    assert_eq!(
        jsonl(&out.join("metrics.jsonl")).len(),
        2,
        "the command line's --max-steps wins"
    );
}

#[test]
fn an_external_reward_program_scores_samples() {
    let demo = demo();
    let root = scratch("reward-cmd");
    let out = root.join("scored.jsonl");
    // Reward = length of the JSON line: any program that reads lines and prints numbers works.
    ok(&[
        "score",
        "--in",
        &s(&demo.join("samples.json")),
        "--out",
        &s(&out),
        "--reward-cmd",
        "while IFS= read -r line; do echo ${#line}; done",
    ]);
    let records = jsonl(&out);
    assert!(records.iter().all(|r| {
        r["rewards"]
            .as_array()
            .is_some_and(|v| v.iter().all(|x| x.as_f64().unwrap_or(0.0) > 20.0))
    }));
}

/// `--logits counted|chunked|all` and `--gradient-checkpointing` (alone and with the chunked
/// head) train to the same losses and gradient norms (SFT and EXO, both backends; chunks of 5
/// rows leave a short last chunk).
#[test]
fn every_logit_layout_and_checkpointing_train_the_same() {
    let demo = demo();
    let root = scratch("logit-layouts");
    for backend in BACKENDS {
        let sft = sft_model(backend);
        let runs = [
            ("counted", vec!["--logits", "counted"]),
            ("chunked", vec!["--logits", "chunked", "--logit-chunk", "5"]),
            ("all", vec!["--logits", "all"]),
            ("checkpointed", vec!["--gradient-checkpointing"]),
            (
                "chunked checkpointed",
                vec![
                    "--logits",
                    "chunked",
                    "--logit-chunk",
                    "5",
                    "--gradient-checkpointing",
                ],
            ),
        ];
        let mut seen: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
        for (command, data) in [("sft", "sft.jsonl"), ("train", "scored.json")] {
            for (name, flags) in &runs {
                let out = root.join(format!("{backend}-{command}-{name}"));
                let mut args = vec![
                    command,
                    "--model",
                    sft.to_str().expect("utf-8 path"),
                    "--data",
                ];
                let data = s(&demo.join(data));
                let out_s = s(&out);
                args.extend([data.as_str(), "--out", out_s.as_str()]);
                args.extend(["--max-steps", "3", "--batch-prompts", "4", "--lr", "1e-2"]);
                args.extend(["--backend", backend]);
                args.extend(flags.iter().copied());
                ok(&args);
                let curve: Vec<(f64, f64)> = jsonl(&out.join("metrics.jsonl"))
                    .iter()
                    .filter_map(|m| Some((m["loss"].as_f64()?, m["grad_norm"].as_f64()?)))
                    .collect();
                assert_eq!(curve.len(), 3, "{backend} {command} {name}: {curve:?}");
                seen.push((format!("{backend} {command} {name}"), curve));
            }
        }
        for pair in seen.chunks(runs.len()) {
            let (base_name, base) = &pair[0];
            for (name, curve) in &pair[1..] {
                for ((l, g), (bl, bg)) in curve.iter().zip(base) {
                    assert!(
                        (l - bl).abs() <= 1e-4 * bl.abs().max(1.0)
                            && (g - bg).abs() <= 1e-3 * bg.abs().max(1.0),
                        "{name} vs {base_name}: {curve:?} vs {base:?}"
                    );
                }
            }
        }
    }
}

/// `exo train --lora-r`: the output is a PEFT adapter (no full weights), the start-up lines
/// count the adapters as the trainable parameters, the base folder is untouched, `exo sample`
/// loads the adapter onto its base, and `exo merge` writes a plain model that `exo sample`
/// reads like any other.
#[test]
fn lora_trains_an_adapter_that_loads_and_merges() {
    let demo = demo();
    for backend in BACKENDS {
        let root = scratch(&format!("lora-{backend}"));
        let sft = sft_model(backend);
        let base_weights = std::fs::read(sft.join("model.safetensors")).expect("base weights");
        let out = root.join("adapter");
        let args = [
            "train",
            "--model",
            &s(sft),
            "--data",
            &s(&demo.join("scored.json")),
            "--out",
            &s(&out),
            "--max-steps",
            "3",
            "--batch-prompts",
            "4",
            "--lr",
            "1e-2",
            "--backend",
            backend,
            "--lora-r",
            "4",
            "--lora-targets",
            "all-linear",
            "--gradient-checkpointing",
        ];
        let stdout = ok(&args);
        assert!(stdout.contains("M trainable"), "{stdout}");
        assert!(out.join("adapter_config.json").is_file());
        assert!(out.join("adapter_model.safetensors").is_file());
        assert!(!out.join("model.safetensors").exists());
        assert_eq!(
            std::fs::read(sft.join("model.safetensors")).expect("base weights"),
            base_weights,
            "{backend}: the base model changed"
        );
        let samples = root.join("samples.json");
        let prompts = s(&demo.join("prompts-eval.jsonl"));
        let sample = |model: &std::path::Path, file: &std::path::Path| {
            ok(&[
                "sample",
                "--model",
                &s(model),
                "--prompts",
                &prompts,
                "-k",
                "2",
                "--max-new-tokens",
                "8",
                "--out",
                &s(file),
                "--backend",
                backend,
                "--seed",
                "3",
            ]);
        };
        sample(&out, &samples);
        let merged = root.join("merged");
        ok(&["merge", "--adapter", &s(&out), "--out", &s(&merged)]);
        assert!(
            merged.join("model.safetensors").is_file() && merged.join("tokenizer.json").is_file()
        );
        sample(&merged, &root.join("merged-samples.json"));
    }
}

/// `--dtype bf16|f16` trains on both backends with the f32 run's first loss (no update yet)
/// (and samples and evaluates)
/// to bf16 rounding, checkpoints keep the run's dtype (and f32 master copies), the final model
/// is stored as `--save-dtype` (by default the initial model's: f32 here), and f16 scales the
/// loss, skipping the steps whose scaled gradients overflow with the scale halved (forced with
/// the `test-hooks` feature's initial scale).
#[test]
fn mixed_precision_trains_checkpoints_and_saves_in_the_dtype_asked() {
    let demo = demo();
    let root = scratch("mixed-precision");
    for backend in BACKENDS {
        let sft = s(sft_model(backend));
        let data = s(&demo.join("scored.json"));
        let train = |name: &str, flags: &[&str]| {
            let out = root.join(format!("{backend}-{name}"));
            let out_s = s(&out);
            let mut args = vec!["train", "--model", &sft, "--data", &data, "--out", &out_s];
            args.extend(["--max-steps", "3", "--batch-prompts", "4", "--lr", "1e-2"]);
            args.extend(["--backend", backend]);
            args.extend(flags);
            let stdout = ok(&args);
            let metrics = jsonl(&out.join("metrics.jsonl"));
            (out, metrics, stdout)
        };
        let (_, f32_metrics, _) = train("f32", &[]);
        let first = f32_metrics[0]["loss"].as_f64().expect("loss");
        let (out, metrics, stdout) = train("bf16", &["--dtype", "bf16"]);
        assert!(stdout.contains("bf16 weights and activations"), "{stdout}");
        let loss = metrics[0]["loss"].as_f64().expect("loss");
        assert!(
            (loss - first).abs() <= 1e-2 * first.abs(),
            "{backend}: {loss} vs {first}"
        );
        assert_eq!(metrics.len(), 3);
        let checkpoint = out.join("checkpoint-3");
        assert_eq!(
            stored_dtypes(&checkpoint.join("model.safetensors")),
            ["BF16".to_owned()].into()
        );
        let optimizer = header(&checkpoint.join("optimizer.safetensors"));
        let masters = optimizer
            .keys()
            .filter(|k| k.starts_with("master."))
            .count();
        let moments = optimizer
            .keys()
            .filter(|k| k.starts_with("exp_avg."))
            .count();
        assert!(
            masters > 0 && masters == moments,
            "{backend}: {masters} master copies, {moments} moments"
        );
        assert_eq!(
            stored_dtypes(&out.join("model.safetensors")),
            ["F32".to_owned()].into()
        );

        let (out, _, _) = train("bf16-saved", &["--dtype", "bf16", "--save-dtype", "bf16"]);
        assert_eq!(
            stored_dtypes(&out.join("model.safetensors")),
            ["BF16".to_owned()].into()
        );
        let config = std::fs::read_to_string(out.join("config.json")).expect("config");
        assert!(config.contains("\"torch_dtype\": \"bfloat16\""), "{config}");

        // Sampling and evaluation in bf16: the model against itself has no KL.
        let samples = root.join(format!("{backend}-bf16-samples.json"));
        let prompts = s(&demo.join("prompts-align.jsonl"));
        let out = ok(&[
            "sample",
            "--model",
            &sft,
            "--prompts",
            &prompts,
            "-k",
            "2",
            "--max-new-tokens",
            "5",
            "--out",
            &s(&samples),
            "--backend",
            backend,
            "--dtype",
            "bf16",
        ]);
        assert!(
            out.contains("× 2 completions") && samples.is_file(),
            "{out}"
        );
        let eval = ok(&[
            "eval",
            "--model",
            &sft,
            "--ref",
            &sft,
            "--prompts",
            &prompts,
            "-n",
            "1",
            "--max-new-tokens",
            "5",
            "--limit",
            "3",
            "--json",
            "--backend",
            backend,
            "--dtype",
            "bf16",
        ]);
        let v: serde_json::Value = serde_json::from_str(eval.trim()).expect("eval JSON");
        assert_eq!(v["kl"].as_f64(), Some(0.0), "{backend}: {v}");

        // f16 at the default scale: no overflow on this model; at 2⁴⁰ every step overflows,
        // is skipped, and halves the scale.
        let (_, metrics, _) = train("f16", &["--dtype", "f16"]);
        for m in &metrics {
            assert!(
                m["grad_norm"].is_f64() && m["loss_scale"] == 65536.0,
                "{backend}: {m}"
            );
        }
        #[cfg(feature = "test-hooks")]
        {
            let (_, metrics, stdout) = train(
                "f16-overflow",
                &["--dtype", "f16", "--initial-loss-scale", "1099511627776"],
            );
            let scales: Vec<f64> = metrics
                .iter()
                .filter_map(|m| m["loss_scale"].as_f64())
                .collect();
            assert_eq!(
                scales,
                [2f64.powi(40), 2f64.powi(39), 2f64.powi(38)],
                "{backend}"
            );
            assert!(
                metrics.iter().all(|m| m["grad_norm"].is_null()),
                "{backend}: {stdout}"
            );
        }
    }
}
