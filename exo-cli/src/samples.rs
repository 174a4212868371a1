//! The official EXO K-sample files: `{"prompt", "completions": [...]}` per prompt as written by
//! `exo sample` (the official `inference_sft.sh` output), and with `"rewards": [...]` after
//! `exo score` (the official `*/rw` training format, which `exo train` and `exo data inspect`
//! read). A `.jsonl` file holds one record per line; anything else is one JSON array, indented
//! by 4 as the official code writes it.

use std::path::Path;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// One prompt with its K completions and, once scored, their rewards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KSamples {
    /// The prompt.
    pub prompt: String,
    /// The completions (text after the prompt; plain concatenation gives the full text).
    pub completions: Vec<String>,
    /// One reward per completion, once scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewards: Option<Vec<f64>>,
}

fn is_jsonl(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "jsonl")
}

/// Writes `records` to `path` (JSON Lines for `.jsonl`, else a JSON array), atomically.
///
/// # Errors
/// If the file cannot be written.
pub fn write(path: &Path, records: &[KSamples]) -> anyhow::Result<()> {
    let text = if is_jsonl(path) {
        let mut s = String::new();
        for r in records {
            s.push_str(&serde_json::to_string(r)?);
            s.push('\n');
        }
        s
    } else {
        let mut buf = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut ser = serde_json::Serializer::with_formatter(&mut buf, formatter);
        records.serialize(&mut ser)?;
        buf.push(b'\n');
        String::from_utf8(buf)?
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    exo_lm::weights::write_atomic(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Reads a K-sample file (JSON array or JSON Lines, whatever the extension).
///
/// # Errors
/// On a syntax error or a record of another shape (with its line or index), or records with
/// different numbers of completions or rewards that do not match them.
pub fn read(path: &Path) -> anyhow::Result<Vec<KSamples>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let shown = path.display();
    let records: Vec<KSamples> = if text.trim_start().starts_with('[') {
        let values: Vec<serde_json::Value> = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{shown}:{}: {e}", e.line()))?;
        values
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                serde_json::from_value(v).map_err(|e| {
                    anyhow::anyhow!(
                        "{shown}: record {}: {e} (expected {{\"prompt\", \"completions\"}})",
                        i + 1
                    )
                })
            })
            .collect::<anyhow::Result<_>>()?
    } else {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            out.push(serde_json::from_str(line).map_err(|e| {
                anyhow::anyhow!(
                    "{shown}:{}: {e} (expected {{\"prompt\", \"completions\"}})",
                    i + 1
                )
            })?);
        }
        out
    };
    let Some(first) = records.first() else {
        bail!("{shown}: no records");
    };
    let k = first.completions.len();
    for (i, r) in records.iter().enumerate() {
        if r.completions.len() != k || k == 0 {
            bail!(
                "{shown}: record {} has {} completions, the first {k} (every record needs the same K ≥ 1)",
                i + 1,
                r.completions.len()
            );
        }
        if let Some(rw) = &r.rewards
            && rw.len() != k
        {
            bail!(
                "{shown}: record {} has {} rewards for {k} completions",
                i + 1,
                rw.len()
            );
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_layouts_round_trip() -> anyhow::Result<()> {
        let dir = std::env::temp_dir().join(format!("exo-samples-{}", std::process::id()));
        let records = vec![
            KSamples {
                prompt: "The film".into(),
                completions: vec![" was good.".into(), " was bad.".into()],
                rewards: None,
            },
            KSamples {
                prompt: "I".into(),
                completions: vec![" loved it.".into(), " hated it.".into()],
                rewards: Some(vec![0.5, -0.5]),
            },
        ];
        for name in ["s.json", "s.jsonl"] {
            let path = dir.join(name);
            write(&path, &records)?;
            assert_eq!(read(&path)?, records);
        }
        let text = std::fs::read_to_string(dir.join("s.json"))?;
        assert!(text.starts_with("[\n    {\n        \"prompt\""), "{text}");
        std::fs::write(dir.join("bad.jsonl"), "{\"prompt\": \"x\"}\n")?;
        let err = read(&dir.join("bad.jsonl"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("bad.jsonl:1:"), "{err}");
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
