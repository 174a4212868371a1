//! [`HostTensor`]: a checkpoint tensor decoded into host memory.

use safetensors::Dtype;

/// A tensor's values on the host, widened to `f32` (from f32, f16, bf16) or kept as `f64`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum HostData {
    /// From an `F32`, `F16` or `BF16` tensor (the conversion is exact).
    F32(Vec<f32>),
    /// From an `F64` tensor.
    F64(Vec<f64>),
}

/// A decoded checkpoint tensor: shape and row-major values.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    /// The shape.
    pub shape: Vec<usize>,
    /// The values, row-major.
    pub data: HostData,
}

impl HostTensor {
    /// Decodes little-endian safetensors bytes of `dtype`. `None` for a dtype that is not a
    /// float type exo-lm reads (f32, f16, bf16, f64) or bytes of the wrong length.
    pub(crate) fn decode(dtype: Dtype, shape: &[usize], bytes: &[u8]) -> Option<Self> {
        let count: usize = shape.iter().product();
        let data = match dtype {
            Dtype::F32 => HostData::F32(
                bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
            ),
            Dtype::F16 => HostData::F32(
                bytes
                    .chunks_exact(2)
                    .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                    .collect(),
            ),
            Dtype::BF16 => HostData::F32(
                bytes
                    .chunks_exact(2)
                    .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                    .collect(),
            ),
            Dtype::F64 => HostData::F64(
                bytes
                    .chunks_exact(8)
                    .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                    .collect(),
            ),
            _ => return None,
        };
        let len = match &data {
            HostData::F32(v) => v.len(),
            HostData::F64(v) => v.len(),
        };
        (len == count && bytes.len() == count * dtype.bitsize() / 8).then(|| Self {
            shape: shape.to_vec(),
            data,
        })
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        match &self.data {
            HostData::F32(v) => v.len(),
            HostData::F64(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
