//! Cross-crate integration tests: the three backends against each other, and the autodiff
//! contract every backend must keep.

mod autodiff_contract;
mod backends_agree;
