#![allow(missing_docs, clippy::unwrap_used)]
use exo_bench::memory::{reset_peak, resident};
use tch::Tensor;
fn main() {
    tch::set_num_threads(1);
    let chunk: i64 = std::env::args().nth(1).unwrap().parse().unwrap();
    let (n, t, v) = (16i64, 256i64, 32000i64);
    let logits =
        Tensor::randn([n, t, v], (tch::Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
    let ids = (Tensor::arange(n * t, (tch::Kind::Int64, tch::Device::Cpu)) * 7919i64)
        .remainder(v)
        .view([n, t]);
    reset_peak().unwrap();
    let before = resident().unwrap().rss_kib;
    let mut sizes = vec![];
    let mut s = 0;
    while s < t - 1 {
        sizes.push(chunk.min(t - 1 - s));
        s += chunk;
    }
    sizes.push(1);
    let pieces = logits.split_with_sizes(sizes.as_slice(), 1);
    let tgt = ids.narrow(1, 1, t - 1);
    let mut outs = vec![];
    let mut s = 0;
    for p in &pieces[..pieces.len() - 1] {
        let l = p.size()[1];
        outs.push(
            p.gather(-1, &tgt.narrow(1, s, l).unsqueeze(-1), false)
                .squeeze_dim(-1)
                - p.logsumexp([-1i64].as_slice(), false),
        );
        s += l;
    }
    let tot = Tensor::cat(&outs, 1).sum(None::<tch::Kind>);
    let _ = f64::try_from(&tot).unwrap();
    let fwd = (resident().unwrap().peak_kib - before) / 1024;
    let g = Tensor::run_backward(&[&tot], &[&logits], false, false);
    let _ = f64::try_from(g[0].sum(None::<tch::Kind>)).unwrap();
    println!(
        "chunk {chunk}: fwd {fwd} MiB, bwd {} MiB",
        (resident().unwrap().peak_kib - before) / 1024
    );
}
