//! Cross-crate integration tests: the three backends against each other, the autodiff contract
//! every backend must keep, and the README's objective table against exo-core's catalog.

mod autodiff_contract;
mod backends_agree;
mod catalog;
