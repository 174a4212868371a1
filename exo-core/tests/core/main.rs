//! exo-core's integration tests: golden values, the oracle against finite differences, the
//! causal shift of `sequence_logps`, and the forward suite on the ndarray backend.

mod adamw_slices;
mod family_golden;
mod golden;
mod ndarray_suite;
mod oracle_properties;
mod sequence;
