//! The hidden-input catalogue for model folders (issue 17): the demo's SFT model folder, copied
//! and corrupted one way per case, given to `exo sample` (or `exo sft --from-scratch`). Each
//! case asserts a non-zero exit, exactly one line on stderr starting `exo: error:` with the
//! expected words, and bounds on time and peak RSS, measured by running the binary under
//! `/usr/bin/time` (Debian package `time`; `scripts/test.sh` installs it when missing).
//!
//! Time is measured as CPU time (user + system): on a loaded machine (CI, or two cores shared by
//! several builds) the wall time of even `exo --version` is dominated by waiting for a core and
//! for libtorch's shared libraries, which says nothing about the work exo does. The wall time
//! is bounded too, loosely (30 s), so that a hang still fails.
//!
//! NaN or infinite weights are refused (not warned about): such a checkpoint can neither be
//! sampled from nor trained, and the error names the tensor and the first bad index.

mod harness;
mod tensors;

mod config;
mod files;
mod safetensors;
mod shards;
