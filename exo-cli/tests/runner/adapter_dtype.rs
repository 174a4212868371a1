//! `--save-dtype` for LoRA: by default the adapter in OUT is f32 (as trained); with
//! `--save-dtype bf16` it is stored in bf16, as the f32 adapter rounded, its checkpoints stay
//! f32, and `exo sample` and `exo merge` read it.

use std::collections::BTreeMap;

use exo_core::DType;
use exo_lm::weights::{HostData, read_safetensors};

use crate::common::{BACKENDS, demo, ok, s, scratch, sft_model, stored_dtypes};

const ADAPTER: &str = "adapter_model.safetensors";

/// A file's tensors as f32 values, by name.
fn tensors(path: &std::path::Path) -> BTreeMap<String, Vec<f32>> {
    read_safetensors(path)
        .expect("adapter weights")
        .into_iter()
        .map(|(name, t)| match t.data {
            HostData::F32(v) => (name, v),
            other => panic!("{name}: {other:?}"),
        })
        .collect()
}

#[test]
fn a_lora_adapter_is_saved_as_save_dtype_and_merges() {
    let demo = demo();
    for backend in BACKENDS {
        let root = scratch(&format!("lora-save-dtype-{backend}"));
        let train = |name: &str, flags: &[&str]| {
            let out = root.join(name);
            let mut args = vec!["train", "--model"];
            let (sft, data, out_s) = (s(sft_model(backend)), s(&demo.join("scored.json")), s(&out));
            args.extend([sft.as_str(), "--data", &data, "--out", &out_s]);
            args.extend(["--max-steps", "2", "--batch-prompts", "4", "--lr", "1e-2"]);
            args.extend(["--backend", backend, "--lora-r", "4"]);
            args.extend(["--lora-targets", "q_proj,v_proj"]);
            args.extend(flags);
            ok(&args);
            out
        };
        let f32_out = train("f32", &[]);
        assert_eq!(
            stored_dtypes(&f32_out.join(ADAPTER)),
            ["F32".to_owned()].into()
        );
        let out = train("bf16", &["--save-dtype", "bf16"]);
        assert_eq!(
            stored_dtypes(&out.join(ADAPTER)),
            ["BF16".to_owned()].into(),
            "{backend}"
        );
        // Checkpoints keep the adapter as trained, for --resume.
        assert_eq!(
            stored_dtypes(&out.join("checkpoint-2").join(ADAPTER)),
            ["F32".to_owned()].into()
        );
        // The same run: the bf16 file holds the f32 adapter rounded to bf16.
        let (want, got) = (tensors(&f32_out.join(ADAPTER)), tensors(&out.join(ADAPTER)));
        assert_eq!(want.len(), got.len());
        for ((wn, w), (gn, g)) in want.iter().zip(&got) {
            assert_eq!(wn, gn);
            let rounded: Vec<f64> = w.iter().map(|&x| DType::BF16.round(f64::from(x))).collect();
            let g: Vec<f64> = g.iter().map(|&x| f64::from(x)).collect();
            assert_eq!(g, rounded, "{backend}: {gn}");
        }
        ok(&[
            "sample",
            "--model",
            &s(&out),
            "--prompts",
            &s(&demo.join("prompts-eval.jsonl")),
            "-k",
            "1",
            "--max-new-tokens",
            "4",
            "--out",
            &s(&root.join("samples.json")),
            "--backend",
            backend,
        ]);
        let merged = root.join("merged");
        ok(&["merge", "--adapter", &s(&out), "--out", &s(&merged)]);
        assert!(merged.join("model.safetensors").is_file());
    }
}
