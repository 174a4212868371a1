//! Cross-crate integration tests for exo live in `tests/integration/`. This library only hosts the
//! README's code examples as doctests, so that they keep compiling and running.

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
