//! Reading and rewriting the tensors of a safetensors file, to corrupt a copied checkpoint.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

/// One tensor of a safetensors file: dtype, shape, raw bytes.
pub(super) type Tensors = BTreeMap<String, (String, Vec<usize>, Vec<u8>)>;

/// The tensors of a safetensors file, in header order of offsets.
pub(super) fn read_tensors(path: &Path) -> Tensors {
    let bytes = std::fs::read(path).unwrap();
    let n = usize::try_from(u64::from_le_bytes(bytes[..8].try_into().unwrap())).unwrap();
    let header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let data = &bytes[8 + n..];
    let mut out = Tensors::new();
    for (name, info) in header.as_object().unwrap() {
        if name == "__metadata__" {
            continue;
        }
        let o = info["data_offsets"].as_array().unwrap();
        let (a, b) = (
            usize::try_from(o[0].as_u64().unwrap()).unwrap(),
            usize::try_from(o[1].as_u64().unwrap()).unwrap(),
        );
        let shape = info["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| usize::try_from(d.as_u64().unwrap()).unwrap())
            .collect();
        out.insert(
            name.clone(),
            (
                info["dtype"].as_str().unwrap().to_owned(),
                shape,
                data[a..b].to_vec(),
            ),
        );
    }
    out
}

/// Writes a header (as given) and the data bytes as a safetensors file.
fn write_raw(path: &Path, header: &Value, data: &[u8]) {
    let text = serde_json::to_vec(header).unwrap();
    let mut bytes = (text.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&text);
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
}

/// The header and data of `tensors`, laid out one after the other.
fn layout(tensors: &Tensors) -> (Value, Vec<u8>) {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, (dtype, shape, bytes)) in tensors {
        header.insert(
            name.clone(),
            json!({"dtype": dtype, "shape": shape, "data_offsets": [data.len(), data.len() + bytes.len()]}),
        );
        data.extend_from_slice(bytes);
    }
    (Value::Object(header), data)
}

/// Writes `tensors` as a well-formed safetensors file.
pub(super) fn write_tensors(path: &Path, tensors: &Tensors) {
    let (header, data) = layout(tensors);
    write_raw(path, &header, &data);
}

/// Edits the header of `model.safetensors` in place (the data are kept as they are).
pub(super) fn edit_header(
    dir: &Path,
    edit: impl FnOnce(&mut serde_json::Map<String, Value>, usize),
) {
    let path = dir.join("model.safetensors");
    let (header, data) = layout(&read_tensors(&path));
    let mut header = header.as_object().unwrap().clone();
    edit(&mut header, data.len());
    write_raw(&path, &Value::Object(header), &data);
}
