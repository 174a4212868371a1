//! `sequence_logps`: the causal shift, masking and temperature, by hand.

use exo_core::{Cpu, DType, NdArray, TensorOps, sequence_logps};

fn log_softmax(row: &[f64]) -> Vec<f64> {
    let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lse = max + row.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
    row.iter().map(|v| v - lse).collect()
}

#[test]
fn logits_at_t_score_the_token_at_t_plus_one() -> exo_core::Result<()> {
    // One sequence, T = 3, V = 3: ids = [2, 0, 1]. Position 0 is the prompt, 1 and 2 are scored.
    let logits = [0.1, 0.2, 0.3, 1.0, -1.0, 0.5, 2.0, 0.0, 0.0];
    let ids = [2, 0, 1];
    let mask = [0.0, 1.0, 1.0];
    let t = NdArray::from_f64s(&logits, &[1, 3, 3], DType::F64, &Cpu)?;
    let i = NdArray::index_from_i64s(&ids, &[1, 3], &Cpu)?;
    let m = NdArray::from_f64s(&mask, &[1, 3], DType::F64, &Cpu)?;
    let got = NdArray::to_f64s(&sequence_logps::<NdArray>(&t, &i, &m, 1.0)?)?;
    // Token 1 (id 0) is predicted by the logits at position 0, token 2 (id 1) by position 1.
    let want = log_softmax(&logits[0..3])[0] + log_softmax(&logits[3..6])[1];
    assert!((got[0] - want).abs() < 1e-14, "{} vs {want}", got[0]);
    // The last position's logits predict nothing: changing them changes nothing.
    let mut changed = logits;
    changed[6..9].copy_from_slice(&[-5.0, 9.0, 3.0]);
    let t2 = NdArray::from_f64s(&changed, &[1, 3, 3], DType::F64, &Cpu)?;
    assert_eq!(
        NdArray::to_f64s(&sequence_logps::<NdArray>(&t2, &i, &m, 1.0)?)?,
        got
    );
    Ok(())
}

#[test]
fn temperature_divides_the_logits_and_masked_positions_add_nothing() -> exo_core::Result<()> {
    let logits = [1.0, 2.0, 0.5, -1.0, 3.0, 0.0];
    let t = NdArray::from_f64s(&logits, &[2, 1, 3], DType::F64, &Cpu)?;
    let t = NdArray::reshape(&t, &[1, 2, 3])?;
    let i = NdArray::index_from_i64s(&[0, 1], &[1, 2], &Cpu)?;
    let on = NdArray::from_f64s(&[0.0, 1.0], &[1, 2], DType::F64, &Cpu)?;
    let off = NdArray::from_f64s(&[1.0, 0.0], &[1, 2], DType::F64, &Cpu)?;
    let tau = 0.8;
    let scaled: Vec<f64> = logits[0..3].iter().map(|l| l / tau).collect();
    let got = NdArray::to_f64s(&sequence_logps::<NdArray>(&t, &i, &on, tau)?)?;
    assert!((got[0] - log_softmax(&scaled)[1]).abs() < 1e-14);
    // mask[0] is ignored (no prediction for the first token), so this sums nothing.
    assert_eq!(
        NdArray::to_f64s(&sequence_logps::<NdArray>(&t, &i, &off, tau)?)?,
        [0.0]
    );
    Ok(())
}

#[test]
fn bad_shapes_ids_and_temperatures_are_errors() -> exo_core::Result<()> {
    let t = NdArray::from_f64s(&[0.0; 6], &[1, 2, 3], DType::F64, &Cpu)?;
    let m = NdArray::from_f64s(&[1.0, 1.0], &[1, 2], DType::F64, &Cpu)?;
    let bad_id = NdArray::index_from_i64s(&[0, 3], &[1, 2], &Cpu)?;
    assert!(sequence_logps::<NdArray>(&t, &bad_id, &m, 1.0).is_err());
    let ids = NdArray::index_from_i64s(&[0, 1], &[1, 2], &Cpu)?;
    assert!(sequence_logps::<NdArray>(&t, &ids, &m, 0.0).is_err());
    let short_mask = NdArray::from_f64s(&[1.0], &[1, 1], DType::F64, &Cpu)?;
    let err = sequence_logps::<NdArray>(&t, &ids, &short_mask, 1.0)
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("sequence_logps: shapes [1, 2, 3] and [1, 1] do not match")
    );
    Ok(())
}
