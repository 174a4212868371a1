//! The golden values of `../shared/docs/exo-paper.md` §1.8, to 1e-9, through the oracle and
//! through the ndarray backend in f64.

use exo_core::oracle::{self, HostGroups, PairTarget};
use exo_core::testing::Tolerance;
use exo_core::{Cpu, DType, Dpo, DpoRw, Exo, ExoPair, Groups, NdArray, Objective, TensorOps};

const F: [f64; 4] = [0.5, -1.2, 2.0, 0.3];
const R: [f64; 4] = [1.0, 0.2, -0.5, 2.5];

struct CaseA {
    beta: f64,
    p_f: [f64; 4],
    p_r: [f64; 4],
    exo: f64,
    exo_grad: [f64; 4],
    dpo_rw: f64,
    dpo_rw_grad: [f64; 4],
}

const CASE_A: [CaseA; 3] = [
    CaseA {
        beta: 0.5,
        p_f: [0.224756862, 0.0960644389, 0.4758102805, 0.2033684187],
        p_r: [0.0468664604, 0.0094621752, 0.0023333437, 0.9413380208],
        exo: 2.7936116981201735,
        exo_grad: [
            -0.13776413228,
            -0.02285828265,
            0.60049760562,
            -0.43987519068,
        ],
        dpo_rw: 1.593162717773312,
        dpo_rw_grad: [0.08894520078, 0.04330113185, 0.23673846842, -0.36898480105],
    },
    CaseA {
        beta: 0.1,
        p_f: [0.2508970993, 0.2116730553, 0.2915008414, 0.2459290039],
        p_r: [3.0590e-7, 1.0262e-10, 9.3576e-14, 0.999999694],
        exo: 15.997072051131834,
        exo_grad: [-0.05970809357, 0.11536638449, 0.37225286708, -0.42791115799],
        dpo_rw: 1.4027123805574875,
        dpo_rw_grad: [0.02508967934, 0.02116730552, 0.02915008414, -0.07540706901],
    },
    CaseA {
        beta: 1.0,
        p_f: [0.1542471169, 0.0281784069, 0.691287618, 0.1262868582],
        p_r: [0.1624920246, 0.0730123731, 0.0362568715, 0.7282387308],
        exo: 1.7817416791427407,
        exo_grad: [
            -0.28286061946,
            -0.07703454098,
            0.80616950735,
            -0.44627434691,
        ],
        dpo_rw: 2.084582780585753,
        dpo_rw_grad: [
            -0.00824490771,
            -0.04483396621,
            0.65503074652,
            -0.60195187260,
        ],
    },
];

fn case_a_groups() -> exo_core::Result<HostGroups> {
    HostGroups::new(1, 4, F.to_vec(), Some(R.to_vec()))
}

fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol,
            "{what}[{i}]: got {g:.15}, want {w:.15}"
        );
    }
}

#[test]
fn exo_and_dpo_rw_match_case_a_golden_values() -> exo_core::Result<()> {
    let host = case_a_groups()?;
    let tol = Tolerance::GOLDEN.abs;
    for case in &CASE_A {
        let exo = Exo::new(case.beta, case.beta)?.oracle(&host)?;
        assert_close(
            &format!("exo loss β={}", case.beta),
            &[exo.loss],
            &[case.exo],
            tol,
        );
        assert_close(
            &format!("exo grad β={}", case.beta),
            &exo.grad,
            &case.exo_grad,
            tol,
        );
        let rw = DpoRw::new(case.beta, case.beta)?.oracle(&host)?;
        assert_close(
            &format!("dpo_rw loss β={}", case.beta),
            &[rw.loss],
            &[case.dpo_rw],
            tol,
        );
        assert_close(
            &format!("dpo_rw grad β={}", case.beta),
            &rw.grad,
            &case.dpo_rw_grad,
            tol,
        );
    }
    Ok(())
}

#[test]
fn ndarray_backend_reproduces_case_a_losses_and_distributions() -> exo_core::Result<()> {
    let host = case_a_groups()?;
    let groups = Groups::<NdArray>::from_host(&host, DType::F64, &Cpu)?;
    for case in &CASE_A {
        let exo = Exo::new(case.beta, case.beta)?.forward(&groups)?;
        assert_close("exo", &NdArray::to_f64s(&exo.loss)?, &[case.exo], 1e-9);
        // p_f and p_r are given to 10 significant digits in the docs.
        assert_close(
            "p_f",
            &NdArray::to_f64s(&exo.diagnostics.p_f)?,
            &case.p_f,
            1e-9,
        );
        assert_close(
            "p_r",
            &NdArray::to_f64s(&exo.diagnostics.p_r)?,
            &case.p_r,
            1e-9,
        );
        let rw = DpoRw::new(case.beta, case.beta)?.forward(&groups)?;
        assert_close("dpo_rw", &NdArray::to_f64s(&rw.loss)?, &[case.dpo_rw], 1e-9);
    }
    Ok(())
}

/// Case B: f_w = 1.0, f_l = −0.5.
fn pair() -> exo_core::Result<HostGroups> {
    HostGroups::new(1, 2, vec![1.0, -0.5], None)
}

#[test]
fn exo_pair_matches_case_b_golden_values() -> exo_core::Result<()> {
    let host = pair()?;
    let official_eps = 4.539_786_870_243_439_5e-5;
    let rows = [
        (
            ExoPair::new(0.1, 1e-3)?,
            2.5055165554778718,
            -0.16797225263357723,
            6.906754778648554,
        ),
        (
            ExoPair::new(0.1, official_eps)?,
            3.935404374473752,
            -0.24487002157737986,
            10.0,
        ),
        (
            ExoPair::official(0.1)?,
            3.9353589755745353,
            -0.244870021815,
            10.0,
        ),
        (
            ExoPair::new(0.1, 0.1)?,
            0.43138845722278607,
            -0.0508937996371637,
            2.1972245773362196,
        ),
        (
            ExoPair::new(0.5, 1e-3)?,
            1.589347571162828,
            -0.6707630220433227,
            6.906754778648554,
        ),
        (
            ExoPair::official(0.5)?,
            2.580726026512715,
            -1.00776434597,
            10.0,
        ),
    ];
    for (objective, loss, grad_w, margin) in rows {
        let out = objective.oracle(&host)?;
        let what = format!("{objective:?}");
        assert_close(&what, &[out.loss], &[loss], 1e-9);
        assert_close(&what, &out.grad, &[grad_w, -grad_w], 1e-9);
        assert_close(&what, &[objective.target_margin()], &[margin], 1e-9);
        let groups = Groups::<NdArray>::from_host(&host, DType::F64, &Cpu)?;
        assert_close(
            &what,
            &NdArray::to_f64s(&objective.forward(&groups)?.loss)?,
            &[loss],
            1e-9,
        );
    }
    Ok(())
}

#[test]
fn dpo_matches_case_b_golden_values() -> exo_core::Result<()> {
    let host = pair()?;
    for (beta, loss, grad_w) in [
        (0.1, 0.6209570477895321, -0.04625701546562505),
        (0.5, 0.38687100611489994, -0.1604106504123035),
    ] {
        let out = Dpo::new(beta)?.oracle(&host)?;
        assert_close("dpo loss", &[out.loss], &[loss], 1e-9);
        assert_close("dpo grad", &out.grad, &[grad_w, -grad_w], 1e-9);
    }
    Ok(())
}

#[test]
fn official_log_labels_shift_the_loss_but_not_the_gradient() -> exo_core::Result<()> {
    // (0, −10) unnormalised equals ε = 1/(1 + e^{10}), minus log(1 + e^{−10}).
    let host = pair()?;
    let eps = 1.0 / (1.0 + 10f64.exp());
    let smoothed = ExoPair::new(0.1, eps)?.oracle(&host)?;
    let official = ExoPair::official(0.1)?.oracle(&host)?;
    assert_close(
        "shift",
        &[smoothed.loss - official.loss],
        &[(-10f64).exp().ln_1p()],
        1e-15,
    );
    assert_close("grad", &official.grad, &smoothed.grad, 1e-15);
    assert!(matches!(
        ExoPair::official(0.1)?.target(),
        PairTarget::LogLabels { loser: -10.0, .. }
    ));
    Ok(())
}

#[test]
fn the_pairwise_stationary_point_is_the_target_margin() -> exo_core::Result<()> {
    // dL/dz = σ(z)σ(−z)(z − z*): zero exactly at Δ = z*/β.
    let objective = ExoPair::new(0.5, 1e-3)?;
    let delta = objective.target_margin() / 0.5;
    let out = oracle::exo_pair(
        &HostGroups::new(1, 2, vec![delta, 0.0], None)?,
        0.5,
        objective.target(),
    )?;
    assert_close("grad at z*", &out.grad, &[0.0, 0.0], 1e-15);
    Ok(())
}

#[test]
fn hyper_parameters_are_validated_with_clear_errors() {
    let msg = |r: exo_core::Result<Exo>| r.err().map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(
        msg(Exo::new(0.0, 1.0)),
        "invalid hyper-parameter beta_pi = 0: must be finite and > 0"
    );
    assert_eq!(
        msg(Exo::new(1.0, f64::NAN)),
        "invalid hyper-parameter beta_r = NaN: must be finite and > 0"
    );
    assert!(ExoPair::new(0.1, 0.0).is_err());
    assert!(ExoPair::new(0.1, 1.0).is_err());
    assert!(Dpo::with_label_smoothing(0.1, 0.6).is_err());
    assert!(DpoRw::new(-1.0, 1.0).is_err());
}

#[test]
fn objectives_reject_inputs_of_the_wrong_kind() -> exo_core::Result<()> {
    let no_rewards = HostGroups::new(1, 3, vec![0.0; 3], None)?;
    let err = Exo::new(1.0, 1.0)?
        .oracle(&no_rewards)
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("exo: needs rewards for every completion; none were given")
    );
    let groups = Groups::<NdArray>::from_host(&no_rewards, DType::F64, &Cpu)?;
    let err = Dpo::new(0.1)?.forward(&groups).err().map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("dpo: is pairwise and needs K = 2 (chosen, rejected), got K = 3")
    );
    let one_column = NdArray::from_f64s(&[0.0, 1.0], &[2, 1], DType::F64, &Cpu)?;
    assert!(Groups::<NdArray>::new(one_column, None).is_err());
    Ok(())
}
