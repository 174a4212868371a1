//! The registry: every objective of the catalog, one line each, in the order of the docs.
//!
//! An objective is one folder, `objective/<folder>/`:
//!
//! * `mod.rs`: the loss (struct, constructor, [`Objective`](super::Objective) impl, the maths and
//!   shapes in its docs) and its catalog entry, a `const <name>: Entry<_>` per catalog name (name,
//!   aliases, formula, source, input, hyper-parameters, and how to build it from an
//!   [`ObjectiveConfig`](super::ObjectiveConfig));
//! * `oracle.rs`: its f64 oracle with the closed-form gradient (re-exported as
//!   `exo_core::oracle::*`);
//! * `cases.rs` (feature `testing`): its proptest strategies and its registration in the property
//!   suite, the hidden macro `exo_core::<folder>!`: which strategies to draw from and which
//!   properties hold (shift invariance, permutation invariance, the gradient at initialisation,
//!   and the tests that are its own).
//!
//! A line of the table reads `folder name Kind => Variant(Type)`: the folder; the catalog name
//! (the CLI's, checked at compile time against the entry's `info.name`; also the name of the
//! objective's test module in the property suite); the [`ObjectiveKind`](super::ObjectiveKind)
//! variant; and the [`AnyObjective`](super::AnyObjective) variant holding `Type`. A line naming
//! `Variant` without `(Type)` shares the variant (and the folder) of the line that declares it:
//! one struct, two catalog names.
//!
//! Generated from this table: the folders' `mod` declarations and the re-export of each struct
//! as `exo_core::objective::Type` (`objective/mod.rs`); `ObjectiveKind` with `ALL`, `from_name`,
//! `build` and `info`, and `AnyObjective` with its dispatch (`objective/catalog.rs`); the oracle
//! re-exports (`oracle/mod.rs`); and one test module per line in the property suite
//! ([`forward_suite!`](crate::forward_suite), [`autodiff_suite!`](crate::autodiff_suite),
//! `oracle_suite!`).

/// The registry's table, handed to `$callback` after `$args`: `$callback! { $($args)* table }`.
#[doc(hidden)]
#[macro_export]
macro_rules! __objectives {
    ($callback:path $(, $($args:tt)*)?) => {
        $callback! { $($($args)*)?
            // folder   name          Kind           AnyObjective
            exo         exo           Exo         => Exo(Exo),
            exo_pair    exo_pair      ExoPair     => ExoPair(ExoPair),
            dpo         dpo           Dpo         => Dpo(Dpo),
            dpo         dpo_norm      DpoNorm     => Dpo,
            dpo_rw      dpo_rw        DpoRw       => DpoRw(DpoRw),
            ipo         ipo           Ipo         => Ipo(Ipo),
            ipo         ipo_sum       IpoSum      => Ipo,
            hinge       hinge         Hinge       => Hinge(Hinge),
            robust      robust        Robust      => Robust(Robust),
            nca         nca_pair      NcaPair     => NcaPair(NcaPair),
            bco         bco_pair      BcoPair     => BcoPair(BcoPair),
            sppo        sppo_hard     SppoHard    => SppoHard(SppoHard),
            aot         aot           Aot         => Aot(Aot),
            aot         aot_unpaired  AotUnpaired => Aot,
            apo         apo_zero      ApoZero     => Apo(Apo),
            apo         apo_down      ApoDown     => Apo,
            discopop    discopop      DiscoPop    => DiscoPop(DiscoPop),
            simpo       simpo         SimPo       => SimPo(SimPo),
            orpo        orpo          Orpo        => Orpo(Orpo),
            orpo        orpo_seq      OrpoSeq     => Orpo,
            sft         sft           Sft         => Sft(Sft),
            sft         sft_seq       SftSeq      => Sft,
        }
    };
}
