//! Prompt files for `exo sample` and `exo eval`: any data file exo-data reads (its records'
//! prompts: SFT, preference, K-sample files, Parquet, ...), JSON objects holding only a
//! `"prompt"` (JSON Lines or an array) — a string, or TRL's prompt-only conversational form, a
//! list of `{"role", "content"}` messages rendered with the model's chat template and the
//! generation prompt, as TRL's online trainers do —, or a `.txt` file with one prompt per line.

use std::path::Path;

use anyhow::{Context, bail};
use exo_data::{ReadOptions, Reader};

/// The prompts of `path`, in file order (duplicates kept).
///
/// # Errors
/// If the file cannot be read, a record is malformed (with its line), or there is no prompt.
pub fn read(path: &Path, options: &ReadOptions) -> anyhow::Result<Vec<String>> {
    let prompts = if path.extension().is_some_and(|e| e == "txt") {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect()
    } else if let Some(prompts) = prompt_only(path, options)? {
        prompts
    } else {
        let reader =
            Reader::open(path, options).with_context(|| format!("reading {}", path.display()))?;
        let mut out = Vec::new();
        for item in reader {
            match item {
                Ok(example) => out.push(example.record.prompt().to_owned()),
                Err(e) if e.is_warning() => {}
                Err(e) => bail!("{e}"),
            }
        }
        out
    };
    if prompts.is_empty() {
        bail!("{}: no prompts", path.display());
    }
    Ok(prompts)
}

/// The prompts of a file whose first JSON object has a `"prompt"` (a string or a list of
/// messages) and no completion field; `None` for any other file.
fn prompt_only(path: &Path, options: &ReadOptions) -> anyhow::Result<Option<Vec<String>>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(None); // binary (Parquet): exo-data's reader
    };
    let trimmed = text.trim_start();
    let values: Vec<(usize, serde_json::Value)> = if trimmed.starts_with('[') {
        match serde_json::from_str::<Vec<serde_json::Value>>(trimmed) {
            Ok(v) => v.into_iter().enumerate().map(|(i, v)| (i + 1, v)).collect(),
            Err(_) => return Ok(None),
        }
    } else {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str(line) {
                Ok(v) => out.push((i + 1, v)),
                Err(_) => return Ok(None),
            }
        }
        out
    };
    let completion_fields = [
        "completion",
        "completions",
        "chosen",
        "rejected",
        "messages",
    ];
    let Some((_, first)) = values.first() else {
        return Ok(None);
    };
    let is_prompt_only = first
        .get("prompt")
        .is_some_and(|p| p.is_string() || p.is_array())
        && completion_fields.iter().all(|f| first.get(f).is_none());
    if !is_prompt_only {
        return Ok(None);
    }
    values
        .into_iter()
        .map(|(at, v)| match v.get("prompt") {
            Some(serde_json::Value::String(p)) => Ok(p.clone()),
            Some(serde_json::Value::Array(messages)) => {
                let Some(template) = &options.chat_template else {
                    bail!(
                        "{}:{at}: field \"prompt\": a conversational prompt, but the model has \
                         no chat template (give a tokenizer_config.json with a chat_template)",
                        path.display()
                    );
                };
                template
                    .render(messages, true)
                    .map_err(|e| anyhow::anyhow!("{}:{at}: field \"prompt\": {e}", path.display()))
            }
            _ => bail!(
                "{}:{at}: field \"prompt\": expected a string or a list of messages",
                path.display()
            ),
        })
        .collect::<anyhow::Result<Vec<_>>>()
        .map(Some)
}
