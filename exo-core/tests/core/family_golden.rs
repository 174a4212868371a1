//! Golden values for the DPO family: each loss and its gradient with respect to the policy
//! log-probs on one batch of three pairs, computed independently of the oracle by
//! `family_golden.py` (TRL's formulas written literally in mpmath at 50 digits, gradients by
//! mpmath's numerical differentiation), then reference-free inputs and the error messages for
//! missing inputs.
//!
//! ```text
//! log π_θ   = [[−12.0, −15.5], [−9.0, −11.2], [−20.0, −18.0]]
//! log π_ref = [[−12.5, −14.3], [−11.0, −13.5], [−19.0, −17.5]]     f = [[0.5, −1.2], [2.0, 2.3], [−1.0, −0.5]]
//! |y|       = [[4, 5], [3, 7], [10, 8]]
//! ```

use exo_core::objective::{
    Aot, AotPairing, Apo, BcoPair, BcoRunningMean, DiscoPop, Hinge, Ipo, NcaPair, Orpo, Robust,
    Sft, SimPo, SppoHard,
};
use exo_core::oracle::{ApoAnchor, HostGroups, Margin, SftNorm};
use exo_core::testing::Tolerance;
use exo_core::{
    AnyObjective, Cpu, DType, Dpo, Groups, NdArray, Objective, ObjectiveConfig, ObjectiveSpec,
    TensorOps,
};

const POLICY: [f64; 6] = [-12.0, -15.5, -9.0, -11.2, -20.0, -18.0];
const REFERENCE: [f64; 6] = [-12.5, -14.3, -11.0, -13.5, -19.0, -17.5];
const LENGTHS: [f64; 6] = [4.0, 5.0, 3.0, 7.0, 10.0, 8.0];

/// (name, loss, ∂loss/∂ log π_θ), from `golden.py` (see the module docs).
const GOLDEN: [(&str, f64, [f64; 6]); 19] = [
    (
        "dpo_norm",
        0.6513639490083385,
        [
            -0.014770883866134081,
            0.011816707092907264,
            -0.019879914000283348,
            0.008519963142978577,
            -0.006744789377928771,
            0.008430986722410964,
        ],
    ),
    (
        "ipo",
        22.864329086356765,
        [
            -0.7725,
            0.618,
            -1.035978835978836,
            0.4439909297052154,
            -0.3358333333333333,
            0.4197916666666667,
        ],
    ),
    (
        "ipo_sum",
        23.076666666666668,
        [
            -2.2,
            2.2,
            -3.533333333333333,
            3.533333333333333,
            -3.6666666666666665,
            3.6666666666666665,
        ],
    ),
    (
        "hinge",
        0.85,
        [
            -0.16666666666666666,
            0.16666666666666666,
            -0.16666666666666666,
            0.16666666666666666,
            -0.16666666666666666,
            0.16666666666666666,
        ],
    ),
    (
        "robust",
        0.6694915544084525,
        [
            -0.026364513085299413,
            0.026364513085299413,
            -0.028027759029465124,
            0.028027759029465124,
            -0.028194357660584788,
            0.028194357660584788,
        ],
    ),
    (
        "nca_pair",
        1.4630570380471077,
        [
            -0.02612254144521714,
            0.02952864114785038,
            0.016097977990834553,
            0.06329257641242592,
            -0.0722814994671303,
            0.03648529159285016,
        ],
    ),
    (
        "bco_pair",
        1.4317525958280477,
        [
            -0.08541623274736838,
            0.04817508289583267,
            -0.05530203797197231,
            0.11676119041232882,
            -0.11499574685460208,
            0.060977401498199885,
        ],
    ),
    (
        "sppo_hard",
        5.476666666666667,
        [
            -0.3333333333333333,
            -0.13333333333333333,
            0.6666666666666666,
            2.2,
            -1.3333333333333333,
            0.3333333333333333,
        ],
    ),
    (
        "apo_zero",
        0.960300787174523,
        [
            -0.04102234712293306,
            0.038130706742776216,
            -0.03276865554024697,
            0.030442347330705263,
            -0.03916728536693242,
            0.04102234712293306,
        ],
    ),
    (
        "apo_down",
        1.023271650689841,
        [
            0.006060210229628885,
            0.03496213689330417,
            -0.008664512239343523,
            0.041433167779590496,
            -0.001855061756000643,
            0.04102234712293306,
        ],
    ),
    (
        "aot",
        0.6817344917716304,
        [
            -0.012500693750702,
            0.012500693750702,
            -0.013000044437334485,
            0.013000044437334485,
            -0.013749913216140344,
            0.013749913216140344,
        ],
    ),
    (
        "aot_unpaired",
        0.6786178387138845,
        [
            -0.015834027084035335,
            0.016500005555333343,
            -0.016916647918354014,
            0.016916647918354014,
            -0.016500005555333343,
            0.015834027084035335,
        ],
    ),
    (
        "discopop",
        0.6819716634057651,
        [
            -0.07123581123465965,
            0.07123581123465965,
            -0.03564537474319936,
            0.03564537474319936,
            -0.08435001578858302,
            0.08435001578858302,
        ],
    ),
    (
        "simpo",
        1.6279072279663773,
        [
            -0.09574041946860982,
            0.07659233557488787,
            -0.21431751349496975,
            0.0918503629264156,
            -0.03333333333333333,
            0.041666666666666664,
        ],
    ),
    (
        "orpo",
        2.5106281728201854,
        [
            -0.06297856865537872,
            0.0033075396392082484,
            -0.0685104430873866,
            0.004942769694325251,
            -0.0604791408569991,
            0.0020002620731335596,
        ],
    ),
    (
        "orpo_seq",
        2.765530133604499,
        [
            -0.08748837257694736,
            0.0033075396392082484,
            -0.120798024786733,
            0.004942769694325251,
            -0.034988944778567725,
            0.0020002620731335596,
        ],
    ),
    (
        "sft",
        2.411764705882353,
        [
            -0.058823529411764705,
            0.0,
            -0.058823529411764705,
            0.0,
            -0.058823529411764705,
            0.0,
        ],
    ),
    (
        "sft_seq",
        2.6666666666666665,
        [
            -0.08333333333333333,
            0.0,
            -0.1111111111111111,
            0.0,
            -0.03333333333333333,
            0.0,
        ],
    ),
    (
        "mpo",
        3.2306343549945202,
        [
            -0.07427626834788728,
            0.015336294567586829,
            -0.0753579544310314,
            0.017248304032006914,
            -0.07598998790120325,
            0.016916614596350875,
        ],
    ),
];

fn input() -> exo_core::Result<HostGroups> {
    HostGroups::from_logps(3, 2, POLICY.to_vec(), REFERENCE.to_vec(), None)?
        .with_lengths(LENGTHS.to_vec())
}

fn objective(name: &str) -> exo_core::Result<exo_core::Mixture> {
    let single = |o: AnyObjective| Ok(exo_core::Mixture::single(o));
    match name {
        "dpo_norm" => single(AnyObjective::Dpo(Dpo::with_margin(
            0.5,
            0.1,
            Margin::LengthNormalised,
        )?)),
        "ipo" => single(AnyObjective::Ipo(Ipo::new(0.1)?)),
        "ipo_sum" => single(AnyObjective::Ipo(Ipo::summed(0.1)?)),
        "hinge" => single(AnyObjective::Hinge(Hinge::new(0.5)?)),
        "robust" => single(AnyObjective::Robust(Robust::new(0.1, 0.2)?)),
        "nca_pair" => single(AnyObjective::NcaPair(NcaPair::new(0.5)?)),
        "bco_pair" => single(AnyObjective::BcoPair(BcoPair::new(0.5, 0.3)?)),
        "sppo_hard" => single(AnyObjective::SppoHard(SppoHard::new(0.5)?)),
        "apo_zero" => single(AnyObjective::Apo(Apo::new(0.5, ApoAnchor::Zero)?)),
        "apo_down" => single(AnyObjective::Apo(Apo::new(0.5, ApoAnchor::Down)?)),
        "aot" => single(AnyObjective::Aot(Aot::new(0.1, 0.1, AotPairing::Paired)?)),
        "aot_unpaired" => single(AnyObjective::Aot(Aot::new(0.1, 0.0, AotPairing::Unpaired)?)),
        "discopop" => single(AnyObjective::DiscoPop(DiscoPop::new(0.5, 0.05)?)),
        "simpo" => single(AnyObjective::SimPo(SimPo::new(2.0, 0.5, 0.0)?)),
        "orpo" => single(AnyObjective::Orpo(Orpo::new(0.1)?)),
        "orpo_seq" => single(AnyObjective::Orpo(Orpo::with_nll(0.1, SftNorm::Sequence)?)),
        "sft" => single(AnyObjective::Sft(Sft::new(SftNorm::Tokens))),
        "sft_seq" => single(AnyObjective::Sft(Sft::new(SftNorm::Sequence))),
        // MPO (TRL's example mixture), through the spec parser with TRL's defaults.
        _ => "sigmoid:0.8,bco_pair:0.2,sft:1"
            .parse::<ObjectiveSpec>()?
            .build(&ObjectiveConfig::default()),
    }
}

fn assert_close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            Tolerance::GOLDEN.close(g, w, 1.0),
            "{what}[{i}]: got {g:.15}, want {w:.15}"
        );
    }
}

#[test]
fn family_matches_golden_values_on_oracle_and_ndarray() -> exo_core::Result<()> {
    let host = input()?;
    let groups = Groups::<NdArray>::from_host(&host, DType::F64, &Cpu)?;
    for (name, loss, grad) in GOLDEN {
        let objective = objective(name)?;
        let out = objective.oracle(&host)?;
        assert_close(&format!("{name} oracle loss"), &[out.loss], &[loss]);
        assert_close(&format!("{name} oracle grad"), &out.grad, &grad);
        let forward = NdArray::to_f64s(&objective.forward(&groups)?.loss)?;
        assert_close(&format!("{name} ndarray loss"), &forward, &[loss]);
    }
    Ok(())
}

/// TRL's loss names mean TRL's losses: `ipo` and `orpo` built from the catalog with the default
/// hyper-parameters (β = λ = 0.1, TRL's) give the golden values of TRL's formulas.
#[test]
fn trl_names_build_trls_losses() -> exo_core::Result<()> {
    let host = input()?;
    for name in ["ipo", "orpo", "ipo_sum", "orpo_seq", "ipo_norm"] {
        let built = name
            .parse::<ObjectiveSpec>()?
            .build(&ObjectiveConfig::default())?;
        let golden = if name == "ipo_norm" { "ipo" } else { name };
        let (_, loss, grad) = GOLDEN
            .iter()
            .find(|(n, ..)| *n == golden)
            .copied()
            .unwrap_or_else(|| panic!("no golden value for {golden}"));
        let out = built.oracle(&host)?;
        assert_close(&format!("{name} (catalog) loss"), &[out.loss], &[loss]);
        assert_close(&format!("{name} (catalog) grad"), &out.grad, &grad);
    }
    Ok(())
}

#[test]
fn reference_free_objectives_need_only_the_policy() -> exo_core::Result<()> {
    let full = input()?;
    let free =
        HostGroups::reference_free(3, 2, POLICY.to_vec(), None)?.with_lengths(LENGTHS.to_vec())?;
    let policy = NdArray::from_f64s(&POLICY, &[6], DType::F64, &Cpu)?;
    let lengths = NdArray::from_f64s(&LENGTHS, &[6], DType::F64, &Cpu)?;
    let groups = Groups::<NdArray>::reference_free(&policy, 2, None)?.with_lengths(&lengths)?;
    for name in ["simpo", "orpo", "orpo_seq", "sft", "sft_seq"] {
        let objective = objective(name)?;
        assert!(!objective.needs_reference(), "{name}");
        assert!(
            objective.needs_policy_logps() && objective.needs_lengths(),
            "{name}"
        );
        let (a, b) = (objective.oracle(&full)?, objective.oracle(&free)?);
        assert_close(name, &[a.loss], &[b.loss]);
        assert_close(name, &a.grad, &b.grad);
        let forward = NdArray::to_f64s(&objective.forward(&groups)?.loss)?;
        assert_close(name, &forward, &[a.loss]);
    }
    for name in ["dpo_norm", "ipo", "ipo_sum", "aot", "mpo"] {
        assert!(objective(name)?.needs_reference(), "{name}");
    }
    Ok(())
}

#[test]
fn missing_inputs_name_the_objective_and_what_it_needs() -> exo_core::Result<()> {
    let f_only = HostGroups::new(3, 2, vec![0.5, -1.2, 2.0, 2.3, -1.0, -0.5], None)?;
    let message = |name: &str| -> exo_core::Result<String> {
        Ok(objective(name)?
            .oracle(&f_only)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default())
    };
    assert_eq!(
        message("simpo")?,
        "simpo: needs the policy's log-probs (log π_θ(y|x)); none were given"
    );
    assert_eq!(
        message("ipo")?,
        "ipo: needs completion lengths in tokens; none were given"
    );
    assert_eq!(
        message("aot")?,
        "aot: needs the policy's log-probs (log π_θ(y|x)); none were given"
    );
    let no_reference = HostGroups::reference_free(3, 2, POLICY.to_vec(), None)?;
    let err = objective("aot")?
        .oracle(&no_reference)
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("aot: needs the reference's log-probs (log π_ref(y|x)); none were given")
    );
    // The same errors from the backends' forward pass.
    let groups = Groups::<NdArray>::from_host(&f_only, DType::F64, &Cpu)?;
    let err = objective("orpo")?
        .forward(&groups)
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("orpo: needs the policy's log-probs (log π_θ(y|x)); none were given")
    );
    // ORPO needs probabilities below 1.
    let certain =
        HostGroups::reference_free(1, 2, vec![0.0, -1.0], None)?.with_lengths(vec![1.0, 1.0])?;
    let err = objective("orpo")?
        .oracle(&certain)
        .err()
        .map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.starts_with("orpo: needs policy log-probs below 0")));
    assert!(
        HostGroups::new(1, 2, vec![0.0; 2], None)?
            .with_lengths(vec![1.0, 0.5])
            .is_err()
    );
    Ok(())
}

#[test]
fn bco_delta_follows_the_running_mean_of_batch_rewards() -> exo_core::Result<()> {
    // TRL 0.x: update the running mean with the batch's mean implied reward, then use it as δ.
    let bco = BcoPair::new(0.5, 0.0)?;
    let groups = Groups::<NdArray>::from_host(&input()?, DType::F64, &Cpu)?;
    let batch_mean = bco.reward_mean(&groups)?;
    let f = [0.5, -1.2, 2.0, 2.3, -1.0, -0.5];
    assert_close(
        "β mean f",
        &[batch_mean],
        &[0.5 * f.iter().sum::<f64>() / 6.0],
    );
    let mut running = BcoRunningMean::new();
    running.update(&[batch_mean])?;
    running.update(&[1.0])?;
    let shifted = bco.with_delta(running.mean())?;
    assert_close("δ", &[shifted.delta()], &[(batch_mean + 1.0) / 2.0]);
    assert!(bco.with_delta(f64::NAN).is_err());
    Ok(())
}
