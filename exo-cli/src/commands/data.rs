//! `exo data inspect FILE`: what exo would read from a data file, and everything wrong with it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use exo_data::{
    ChatTemplate, Container, DEFAULT_MAX_RECORD_BYTES, DropReason, Example, Fit, LengthSummary,
    OverLength, ReadOptions, Reader, Record, Schema, Tokenizer, TokenizerConfig, Truncation,
    TruncationMode,
};

/// Arguments of `exo data`.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// What to do with the data.
    #[command(subcommand)]
    pub command: DataCommand,
}

/// The `exo data` subcommands.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Detect a data file's format, count and measure its records, and list every problem with
    /// its line. Exits 0 only when the file is clean.
    Inspect(InspectArgs),
}

/// Arguments of `exo data inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The data file: JSON Lines, a JSON array or Parquet (detected from its content).
    pub file: PathBuf,
    /// A Hugging Face tokenizer.json, for token lengths, truncation counts and the first record
    /// as the model sees it. A tokenizer_config.json next to it is read too.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// The tokenizer_config.json (special tokens, chat template), when not next to tokenizer.json.
    #[arg(long)]
    pub tokenizer_config: Option<PathBuf>,
    /// Longest row (prompt + completion) in tokens.
    #[arg(long)]
    pub max_length: Option<usize>,
    /// Longest prompt in tokens.
    #[arg(long)]
    pub max_prompt_length: Option<usize>,
    /// Which end of an over-long prompt survives: keep-end or keep-start.
    #[arg(long, default_value_t = TruncationMode::KeepEnd)]
    pub truncation: TruncationMode,
    /// Count over-long records as dropped instead of truncated.
    #[arg(long)]
    pub drop_over_length: bool,
    /// Force the container: jsonl, json or parquet.
    #[arg(long)]
    pub container: Option<Container>,
    /// Force the record shape: preference, implicit-prompt, conversational, hh, rewards or sft.
    #[arg(long)]
    pub schema: Option<Schema>,
    /// A line (JSONL) or element (JSON array) over this many bytes is an error.
    #[arg(long, default_value_t = DEFAULT_MAX_RECORD_BYTES)]
    pub max_record_bytes: usize,
    /// Treat warnings (identical chosen and rejected) as errors for the exit code.
    #[arg(long)]
    pub strict: bool,
}

/// Runs `exo data`.
pub fn run(args: &DataArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        DataCommand::Inspect(a) => inspect(a),
    }
}

fn load_tokenizer(
    args: &InspectArgs,
) -> anyhow::Result<(Option<Tokenizer>, Option<Arc<ChatTemplate>>)> {
    if let Some(path) = &args.tokenizer {
        let tok = match &args.tokenizer_config {
            Some(config) => Tokenizer::from_files(path, Some(config)),
            None => Tokenizer::from_file(path),
        }
        .context("loading the tokenizer")?;
        let chat = tok.chat_template();
        return Ok((Some(tok), chat));
    }
    let Some(config_path) = &args.tokenizer_config else {
        return Ok((None, None));
    };
    let config = TokenizerConfig::from_file(config_path).context("loading the tokenizer config")?;
    let chat = match &config.chat_template {
        Some(t) => Some(Arc::new(
            ChatTemplate::new(
                t.clone(),
                config.bos_token.clone(),
                config.eos_token.clone(),
            )
            .map_err(|kind| anyhow::anyhow!("{}: {kind}", config_path.display()))?,
        )),
        None => None,
    };
    Ok((None, chat))
}

/// What inspecting a file found.
#[derive(Default)]
struct Findings {
    read: usize,
    usable: usize,
    errors: Vec<String>,
    warnings: Vec<String>,
    prompt_lens: Vec<usize>,
    completion_lens: Vec<usize>,
    row_lens: Vec<usize>,
    truncated: usize,
    dropped: Vec<(DropReason, usize)>,
    first: Option<Example>,
}

impl Findings {
    fn drop(&mut self, reason: DropReason) {
        match self.dropped.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += 1,
            None => self.dropped.push((reason, 1)),
        }
    }
}

fn inspect(args: &InspectArgs) -> anyhow::Result<ExitCode> {
    let (tokenizer, chat) = load_tokenizer(args)?;
    let mut options = ReadOptions::default().with_max_record_bytes(args.max_record_bytes);
    options.container = args.container;
    options.schema = args.schema;
    options.chat_template = chat;
    let mut truncation = Truncation::default()
        .with_mode(args.truncation)
        .with_over_length(if args.drop_over_length {
            OverLength::Drop
        } else {
            OverLength::Truncate
        });
    truncation.max_length = args.max_length;
    truncation.max_prompt_length = args.max_prompt_length;

    let mut reader = Reader::open(&args.file, &options)?;
    let mut f = Findings::default();
    for item in reader.by_ref() {
        f.read += 1;
        let example = match item {
            Ok(e) => e,
            Err(e) if e.is_warning() => {
                f.warnings.push(e.to_string());
                continue;
            }
            Err(e) => {
                f.errors.push(e.to_string());
                continue;
            }
        };
        f.warnings
            .extend(example.warnings.iter().map(ToString::to_string));
        if let Some(tok) = &tokenizer {
            match tok.encode(&example, &truncation) {
                Ok(enc) => {
                    f.prompt_lens.push(enc.prompt_len);
                    f.completion_lens.extend(&enc.completion_lens);
                    let longest = enc.completion_lens.iter().max().copied().unwrap_or(0);
                    f.row_lens.push(enc.prompt_len + longest);
                    match enc.fit {
                        Fit::Truncated => f.truncated += 1,
                        Fit::Dropped(reason) => f.drop(reason),
                        _ => {}
                    }
                }
                Err(e) => {
                    f.errors.push(e.to_string());
                    continue;
                }
            }
        }
        f.usable += 1;
        if f.first.is_none() {
            f.first = Some(example);
        }
    }
    report(&reader, tokenizer.as_ref(), &truncation, &f)?;
    let clean = f.errors.is_empty() && f.usable > 0 && (!args.strict || f.warnings.is_empty());
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn report(
    reader: &Reader,
    tokenizer: Option<&Tokenizer>,
    truncation: &Truncation,
    f: &Findings,
) -> anyhow::Result<()> {
    println!("file:      {}", reader.path().display());
    match reader.schema() {
        Some(schema) => println!("format:    {}, {schema}", reader.container()),
        None => println!("format:    {}, record shape unknown", reader.container()),
    }
    println!(
        "records:   {} usable, {} with errors, {} warnings ({} read)",
        f.usable,
        f.errors.len(),
        f.warnings.len(),
        f.read
    );
    match reader.k() {
        Some(1) => println!("K:         1 (sft: one completion per prompt)"),
        Some(k) => println!("K:         {k} completions per prompt"),
        None => println!("K:         unknown (no usable record)"),
    }
    match tokenizer {
        None => println!(
            "tokens:    give --tokenizer for token lengths, truncation and the model's view"
        ),
        Some(tok) => {
            let s = tok.special_tokens();
            let name = |id: u32| tok.tokens(&[id]).remove(0);
            let bos = match (s.bos, s.add_bos) {
                (Some(b), true) => format!("bos {} added once", name(b)),
                _ => "no bos added".to_owned(),
            };
            println!(
                "tokenizer: {bos}, eos {} appended once, pad {}",
                name(s.eos),
                name(s.pad)
            );
            lengths_table(f);
            limits(truncation, f);
        }
    }
    if let Some(first) = &f.first {
        println!();
        first_record(first, tokenizer, truncation)?;
    }
    println!();
    println!("errors ({}):", f.errors.len());
    for e in &f.errors {
        println!("  {e}");
    }
    println!("warnings ({}):", f.warnings.len());
    for w in &f.warnings {
        println!("  {w}");
    }
    if f.usable == 0 {
        println!("no usable record");
    }
    Ok(())
}

fn lengths_table(f: &Findings) {
    println!(
        "tokens:    {:<24}{:>7}{:>7}{:>7}{:>7}{:>7}{:>9}",
        "", "min", "p50", "p90", "p99", "max", "mean"
    );
    for (label, values) in [
        ("prompt", &f.prompt_lens),
        ("completion", &f.completion_lens),
        ("prompt + longest compl.", &f.row_lens),
    ] {
        let mut values = values.clone();
        if let Some(s) = LengthSummary::new(&mut values) {
            println!(
                "           {label:<24}{:>7}{:>7}{:>7}{:>7}{:>7}{:>9.1}",
                s.min, s.p50, s.p90, s.p99, s.max, s.mean
            );
        }
    }
}

fn limits(t: &Truncation, f: &Findings) {
    let show = |x: Option<usize>| x.map_or_else(|| "none".to_owned(), |n| n.to_string());
    let policy = match t.over_length {
        OverLength::Drop => "drop",
        OverLength::Refuse => "refuse",
        _ => "truncate",
    };
    println!(
        "limits:    max_length {}, max_prompt_length {}, {}, over-length records: {policy}",
        show(t.max_length),
        show(t.max_prompt_length),
        t.mode
    );
    let dropped: usize = f.dropped.iter().map(|(_, n)| n).sum();
    println!(
        "           {} records would be truncated, {dropped} dropped",
        f.truncated
    );
    for (reason, n) in &f.dropped {
        println!("             {n} dropped: {reason}");
    }
}

fn first_record(ex: &Example, tokenizer: Option<&Tokenizer>, t: &Truncation) -> anyhow::Result<()> {
    let labels: Vec<String> = match &ex.record {
        Record::Pair(_) => vec!["chosen".into(), "rejected".into()],
        Record::Group(g) => g
            .rewards()
            .iter()
            .enumerate()
            .map(|(i, r)| format!("completion {i}, reward {r}"))
            .collect(),
        _ => vec!["completion".into()],
    };
    let Some(tok) = tokenizer else {
        println!("first record ({}), as text:", ex.origin);
        println!("  prompt: {:?}", ex.record.prompt());
        for (label, c) in labels.iter().zip(ex.record.completions()) {
            println!("  {label}: {c:?}");
        }
        return Ok(());
    };
    let enc = tok.encode(ex, t)?;
    let note = match enc.fit {
        Fit::Truncated => ", truncated",
        Fit::Dropped(_) => ", dropped",
        _ => "",
    };
    println!("first record ({}), as the model sees it{note}:", ex.origin);
    let show = |ids: &[u32]| -> anyhow::Result<String> { Ok(format!("{:?}", tok.decode(ids)?)) };
    println!(
        "  prompt ({} tokens): {}",
        enc.group.prompt.len(),
        show(&enc.group.prompt)?
    );
    for (label, c) in labels.iter().zip(&enc.group.completions) {
        println!("  {label} ({} tokens): {}", c.len(), show(c)?);
    }
    println!(
        "  tokens of the first row: {}",
        tok.tokens(&enc.group.row(0).unwrap_or_default()).join(" ")
    );
    Ok(())
}
