//! SHA-256 fingerprints of models, data and settings: the keys of the reference log-prob cache
//! and the consistency checks of `--resume`.

use std::io::Read;
use std::path::Path;

use anyhow::Context;
use exo_lm::lora::{ADAPTER_CONFIG_FILE, read_adapter_config};
use sha2::{Digest, Sha256};

/// An incremental fingerprint.
#[derive(Debug, Clone, Default)]
pub struct Fingerprint(Sha256);

impl Fingerprint {
    /// An empty fingerprint.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a labelled byte string (length-prefixed, so that concatenations cannot collide).
    pub fn bytes(&mut self, label: &str, bytes: &[u8]) -> &mut Self {
        for part in [label.as_bytes(), bytes] {
            self.0.update((part.len() as u64).to_le_bytes());
            self.0.update(part);
        }
        self
    }

    /// Adds a labelled string.
    pub fn str(&mut self, label: &str, s: &str) -> &mut Self {
        self.bytes(label, s.as_bytes())
    }

    /// Adds token ids.
    pub fn ids(&mut self, label: &str, ids: &[u32]) -> &mut Self {
        let bytes: Vec<u8> = ids.iter().flat_map(|i| i.to_le_bytes()).collect();
        self.bytes(label, &bytes)
    }

    /// Adds floats by their bits.
    pub fn f64s(&mut self, label: &str, values: &[f64]) -> &mut Self {
        let bytes: Vec<u8> = values
            .iter()
            .flat_map(|v| v.to_bits().to_le_bytes())
            .collect();
        self.bytes(label, &bytes)
    }

    /// Adds a file's contents.
    ///
    /// # Errors
    /// If the file cannot be read.
    pub fn file(&mut self, label: &str, path: &Path) -> anyhow::Result<&mut Self> {
        let mut file =
            std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        self.0.update((label.len() as u64).to_le_bytes());
        self.0.update(label.as_bytes());
        self.0.update(len.to_le_bytes());
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = file
                .read(&mut buf)
                .with_context(|| format!("reading {}", path.display()))?;
            if n == 0 {
                break;
            }
            self.0.update(&buf[..n]);
        }
        Ok(self)
    }

    /// The hex digest.
    pub fn hex(&self) -> String {
        self.0
            .clone()
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// The fingerprint of a checkpoint folder's weights and config (`config.json`, the safetensors
/// files and the shard index), in a fixed order; for a LoRA adapter folder, its
/// `adapter_config.json` and weights and its base model's fingerprint.
///
/// # Errors
/// If the folder cannot be listed or a file read.
pub fn model_fingerprint(dir: &Path) -> anyhow::Result<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n == "config.json"
                || n == exo_lm::weights::INDEX_FILE
                || n == ADAPTER_CONFIG_FILE
                || n.ends_with(".safetensors")
        })
        .filter(|n| n != "optimizer.safetensors")
        .collect();
    names.sort();
    let mut fp = Fingerprint::new();
    for name in &names {
        fp.file(name, &dir.join(name))?;
    }
    // An adapter folder computes with its base: the base's files are part of it.
    let adapter = dir.join(ADAPTER_CONFIG_FILE);
    if adapter.is_file()
        && !dir.join("config.json").is_file()
        && let (_, Some(base)) = read_adapter_config(&adapter)?
    {
        let base = super::hub::model_location(&base)
            .map_err(|e| anyhow::anyhow!("the base model of {}: {e}", adapter.display()))?;
        fp.str("base", &model_fingerprint(&base)?);
    }
    Ok(fp.hex())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_lengths_separate_inputs() {
        let a = Fingerprint::new().str("a", "bc").hex();
        let b = Fingerprint::new().str("ab", "c").hex();
        assert_ne!(a, b);
        assert_eq!(a, Fingerprint::new().str("a", "bc").hex());
        assert_eq!(a.len(), 64);
    }
}
