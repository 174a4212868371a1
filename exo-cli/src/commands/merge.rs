//! `exo merge`: fold a LoRA adapter (PEFT's layout) into its base model and write a plain
//! Hugging Face model folder, as `peft`'s `merge_and_unload()` + `save_pretrained` do.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use exo_lm::lora::{ADAPTER_CONFIG_FILE, read_adapter_config};
use exo_lm::{Mode, ModelOps};

use crate::run::backend::{BackendJob, BackendKind, Compute, dispatch};
use crate::run::hub::model_location;
use crate::run::model::{copy_tokenizer_files, load_model};

/// Arguments of `exo merge`.
#[derive(Debug, Args)]
#[command(args_override_self = true)]
pub struct MergeArgs {
    /// The base model folder or model ID [default: the adapter's base_model_name_or_path].
    #[arg(long, value_name = "DIR", value_parser = model_location)]
    pub base: Option<PathBuf>,
    /// The adapter folder (adapter_config.json and adapter_model.safetensors, from exo or PEFT).
    #[arg(long, value_name = "DIR")]
    pub adapter: PathBuf,
    /// Where to write the merged model (config.json, model.safetensors, the tokenizer files).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Merges the adapter and writes the model; returns the base folder used.
///
/// # Errors
/// If a folder is not what it should be, or a file cannot be read or written.
pub fn execute(args: &MergeArgs) -> anyhow::Result<PathBuf> {
    let config = args.adapter.join(ADAPTER_CONFIG_FILE);
    if !config.is_file() {
        bail!(
            "{} is not a LoRA adapter folder: it has no {ADAPTER_CONFIG_FILE}",
            args.adapter.display()
        );
    }
    let base = match &args.base {
        Some(dir) => dir.clone(),
        None => match read_adapter_config(&config)?.1 {
            Some(name) => model_location(&name)
                .map_err(|e| anyhow::anyhow!("the base model of {}: {e}", config.display()))?,
            None => bail!("{} names no base model: give --base DIR", config.display()),
        },
    };
    let job = Merge {
        base: &base,
        adapter: &args.adapter,
        out: &args.out,
    };
    dispatch(&Compute::cpu(BackendKind::default_for_build()), job)?;
    let tokenizer = [&args.adapter, &base]
        .into_iter()
        .map(|d| d.join("tokenizer.json"))
        .find(|p| p.is_file());
    if let Some(tokenizer) = tokenizer {
        copy_tokenizer_files(&tokenizer, &args.out)?;
    }
    Ok(base)
}

struct Merge<'a> {
    base: &'a Path,
    adapter: &'a Path,
    out: &'a Path,
}

impl BackendJob for Merge<'_> {
    type Output = ();
    type Error = anyhow::Error;

    fn run<B: ModelOps>(self, device: &B::Device) -> anyhow::Result<()> {
        let model = load_model::<B>(self.base, device, Mode::Frozen)?
            .load_adapter(self.adapter)
            .with_context(|| format!("loading the adapter {}", self.adapter.display()))?;
        model
            .merged()?
            .save_pretrained(self.out)
            .with_context(|| format!("writing the merged model to {}", self.out.display()))?;
        Ok(())
    }
}

/// Runs `exo merge` and says what it wrote.
///
/// # Errors
/// As [`execute`].
pub fn run(args: &MergeArgs) -> anyhow::Result<ExitCode> {
    let base = execute(args)?;
    println!(
        "merged {} into {}: {}",
        args.adapter.display(),
        base.display(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
