//! # exo-bench
//!
//! Benchmarks of exo side by side with PyTorch (issue 7): criterion benches of the objectives and
//! of `sequence_logps` (`cargo bench -p exo-bench`), and the `exo-bench` binary, which trains the
//! same Llama models on the same data in exo-candle, exo-tch and a PyTorch eager reference
//! (`bench/torch_ref.py`: `transformers` + the same loss in torch) and reports tokens/s, peak
//! memory, the fraction of the machine's GEMM peak, and `sequence_logps`'s memory beyond the
//! logits. `scripts/bench.sh` runs it; `bench/README.md` has the latest results.
//!
//! | module | job |
//! | --- | --- |
//! | [`workload`] | the two model sizes, the objectives, the shared batch |
//! | [`train`] | the timed training loop on any backend |
//! | [`gemm`] | the f32 matrix-product rate |
//! | [`logps_mem`] | `sequence_logps`'s peak memory beyond the logits |
//! | [`memory`] | resident memory from `/proc/self/status` |
//! | [`results`] | the records workers print |
//! | [`report`] | ratios, targets, JSON and Markdown |
//! | [`orchestrate`] | one fresh worker process per measurement, then the report |

pub mod gemm;
pub mod logps_mem;
pub mod memory;
pub mod orchestrate;
pub mod report;
pub mod results;
pub mod train;
pub mod workload;
