//! A stage's command, typed: the subcommand and its flags' values. The stage runs the arguments
//! these values give, deserialised exactly as a `--config` file's are
//! ([`crate::config_file::parse_with`]); the same flags, written as text, are the stage's line
//! in `commands.sh`, and a test checks that parsing that line gives the same arguments.

use std::path::Path;

use clap::CommandFactory;

use crate::cli::{Cli, Command};
use crate::config_file::{self, ParseError};
use crate::run::backend::{Compute, DEFAULT_LOGIT_CHUNK, Logits};

/// One stage's `exo` command.
#[derive(Debug, Clone)]
pub(crate) struct StageCommand {
    sub: &'static str,
    flags: Vec<(&'static str, toml::Value)>,
}

impl StageCommand {
    /// `exo <sub>` with no flags yet.
    pub(crate) fn new(sub: &'static str) -> Self {
        Self {
            sub,
            flags: Vec::new(),
        }
    }

    /// Sets the long flag `flag` (without its dashes) to `value`.
    pub(crate) fn set(mut self, flag: &'static str, value: impl Into<toml::Value>) -> Self {
        self.flags.push((flag, value.into()));
        self
    }

    /// Sets a flag that takes no value.
    pub(crate) fn on(self, flag: &'static str) -> Self {
        self.set(flag, true)
    }

    /// Sets a flag to a path.
    pub(crate) fn path(self, flag: &'static str, path: &Path) -> Self {
        self.set(flag, path.display().to_string())
    }

    /// Sets a flag to a count.
    pub(crate) fn count(self, flag: &'static str, n: impl TryInto<i64>) -> Self {
        // Counts of a demo run are far below 2^63.
        self.set(flag, n.try_into().unwrap_or(i64::MAX))
    }

    /// The `--backend/--device/--threads/--kernels` flags of `compute`, and the batch layout's
    /// levers when switched off (the defaults need no flag).
    pub(crate) fn compute(mut self, compute: &Compute) -> Self {
        self = self
            .set("backend", compute.backend.name())
            .set("device", compute.device.to_string())
            .count("threads", compute.threads)
            .set("kernels", compute.kernels.name());
        if compute.logits != Logits::default() {
            let name = clap::ValueEnum::to_possible_value(&compute.logits)
                .map_or_else(String::new, |v| v.get_name().to_owned());
            self = self.set("logits", name);
        }
        if compute.logit_chunk != DEFAULT_LOGIT_CHUNK {
            self = self.count("logit-chunk", compute.logit_chunk);
        }
        if !compute.shared_prompts {
            self = self.on("no-shared-prompts");
        }
        if !compute.packing {
            self = self.on("no-packing");
        }
        if !compute.segment_attention {
            self = self.on("no-segment-attention");
        }
        self
    }

    /// The command's arguments, from the typed values.
    ///
    /// # Errors
    /// If a flag does not exist or refuses its value (a bug of the demo).
    pub(crate) fn args(&self) -> anyhow::Result<Command> {
        let root = Cli::command();
        let command = root
            .find_subcommand(self.sub)
            .ok_or_else(|| anyhow::anyhow!("internal: no command `exo {}`", self.sub))?;
        let raw = self
            .flags
            .iter()
            .map(|(flag, value)| ((*flag).to_owned(), value.clone()));
        let entries = config_file::entries(command, raw, "exo demo")?;
        let argv = ["exo", self.sub].map(std::ffi::OsString::from);
        match config_file::parse_with(&argv, &entries, "exo demo") {
            Ok(cli) => Ok(cli.command),
            Err(ParseError::Other(e)) => Err(e.context("internal")),
            Err(ParseError::Clap(e)) => Err(anyhow::anyhow!(
                "internal: {}",
                e.render()
                    .to_string()
                    .lines()
                    .next()
                    .unwrap_or("bad arguments")
            )),
        }
    }

    /// The command line (without `exo`), for `commands.sh`: a flag with a short form is
    /// written short (`-k 4`).
    pub(crate) fn argv(&self) -> Vec<String> {
        let root = Cli::command();
        let command = root.find_subcommand(self.sub);
        let name = |flag: &str| {
            command
                .and_then(|c| c.get_arguments().find(|a| a.get_long() == Some(flag)))
                .and_then(clap::Arg::get_short)
                .map_or_else(|| format!("--{flag}"), |short| format!("-{short}"))
        };
        let mut argv = vec![self.sub.to_owned()];
        for (flag, value) in &self.flags {
            match value {
                toml::Value::Boolean(false) => {}
                toml::Value::Boolean(true) => argv.push(name(flag)),
                toml::Value::String(s) => argv.extend([name(flag), s.clone()]),
                other => argv.extend([name(flag), other.to_string()]),
            }
        }
        argv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_in_commands_sh_parses_to_the_arguments_the_stage_runs() -> anyhow::Result<()> {
        let compute = Compute {
            backend: exo_backend::BackendKind::Candle,
            device: exo_backend::DeviceSpec::Cpu,
            threads: 1,
            kernels: crate::run::backend::Kernels::Portable,
            logits: Logits::Chunked,
            logit_chunk: 7,
            dtype: crate::run::backend::Precision::F32,
            shared_prompts: true,
            packing: false,
            segment_attention: false,
        };
        let stages = [
            StageCommand::new("train")
                .set("objective", "exo-pair")
                .path("model", Path::new("./sft"))
                .path("data", Path::new("./scored.json"))
                .path("out", Path::new("./run"))
                .set("beta-pi", 0.1 + 0.2)
                .set("lr", 1e-4 / 3.0)
                .set("lr-schedule", "constant")
                .count("max-steps", 40_u64)
                .on("plot")
                .compute(&compute),
            StageCommand::new("sample")
                .path("model", Path::new("./sft"))
                .path("prompts", Path::new("./p.jsonl"))
                .path("out", Path::new("./s.json"))
                .count("num-completions", 4_usize)
                .set("temperature", 0.8),
            StageCommand::new("score")
                .set("reward", "sentiment")
                .path("in", Path::new("./s.json"))
                .path("out", Path::new("./r.json")),
        ];
        for stage in stages {
            let typed = toml::Value::try_from(stage.args()?)?;
            let argv = std::iter::once("exo".to_owned()).chain(stage.argv());
            let parsed = match config_file::parse(argv.map(Into::into).collect()) {
                Ok(cli) => toml::Value::try_from(cli.command)?,
                Err(e) => anyhow::bail!("{e:?}"),
            };
            assert_eq!(typed, parsed, "{:?}", stage.argv());
        }
        Ok(())
    }
}
