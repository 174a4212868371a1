# Independent golden values for the DPO family: TRL's formulas written literally in mpmath
# (50 digits), gradients by mpmath's numerical differentiation. Not the oracle's code.
from mpmath import mp, mpf, log, exp, sqrt, diff
mp.dps = 50

PI  = [mpf(x) for x in ["-12.0", "-15.5", "-9.0", "-11.2", "-20.0", "-18.0"]]
REF = [mpf(x) for x in ["-12.5", "-14.3", "-11.0", "-13.5", "-19.0", "-17.5"]]
N   = [mpf(x) for x in [4, 5, 3, 7, 10, 8]]
B = 3

def sig(x): return 1/(1+exp(-x))
def logsig(x): return -log(1+exp(-x))
def relu(x): return x if x > 0 else mpf(0)

def pairs(pi):
    f = [p - r for p, r in zip(pi, REF)]
    return [(f[2*i], f[2*i+1]) for i in range(B)]

def mean(xs): return sum(xs)/len(xs)

def dpo_norm(pi, beta, eps):
    f = [p - r for p, r in zip(pi, REF)]
    out = []
    for i in range(B):
        z = beta*(f[2*i]/N[2*i] - f[2*i+1]/N[2*i+1])
        out.append(-logsig(z)*(1-eps) - logsig(-z)*eps)
    return out
def ipo(pi, beta, norm):
    f = [p - r for p, r in zip(pi, REF)]
    out = []
    for i in range(B):
        if norm: h = f[2*i]/N[2*i] - f[2*i+1]/N[2*i+1]
        else: h = f[2*i] - f[2*i+1]
        out.append((h - 1/(2*beta))**2)
    return out
def hinge(pi, beta): return [relu(1 - beta*(w-l)) for w, l in pairs(pi)]
def robust(pi, beta, eps): return [(-logsig(beta*(w-l))*(1-eps) + logsig(-beta*(w-l))*eps)/(1-2*eps) for w, l in pairs(pi)]
def nca(pi, beta): return [-logsig(beta*w) - mpf("0.5")*logsig(-beta*w) - mpf("0.5")*logsig(-beta*l) for w, l in pairs(pi)]
def bco(pi, beta, d): return [-logsig(beta*w - d) - logsig(-(beta*l - d)) for w, l in pairs(pi)]
def sppo(pi, beta): return [(w - mpf("0.5")/beta)**2 + (l + mpf("0.5")/beta)**2 for w, l in pairs(pi)]
def apo_zero(pi, beta): return [(1 - sig(beta*w)) + sig(beta*l) for w, l in pairs(pi)]
def apo_down(pi, beta): return [sig(beta*w) + (1 - sig(beta*(w - l))) for w, l in pairs(pi)]
def discopop(pi, beta, tau):
    out = []
    for w, l in pairs(pi):
        z = beta*(w - l)
        m = sig(z/tau)
        out.append(-logsig(z)*(1-m) + exp(-z)*m)
    return out
def aot(pi, beta, eps):
    d = sorted(pi[2*i] - pi[2*i+1] for i in range(B))
    e = sorted(REF[2*i] - REF[2*i+1] for i in range(B))
    return [-logsig(beta*(a-b))*(1-eps) - logsig(-beta*(a-b))*eps for a, b in zip(d, e)]
def aot_unpaired(pi, beta, eps):
    ps = pairs(pi)
    cw = sorted(w for w, _ in ps); cl = sorted(l for _, l in ps)
    return [-logsig(beta*(a-b))*(1-eps) - logsig(-beta*(a-b))*eps for a, b in zip(cw, cl)]
def simpo(pi, beta, gamma):
    out = []
    for i in range(B):
        aw, al = pi[2*i]/N[2*i], pi[2*i+1]/N[2*i+1]
        out.append(-logsig(beta*((aw - al) - gamma/beta)))
    return out
def orpo(pi, lam, tokens):
    # TRL's ORPOTrainer: one token mean of the chosen NLL over the batch; per sequence otherwise.
    nbar = mean([N[2*i] for i in range(B)])
    out = []
    for i in range(B):
        aw, al = pi[2*i]/N[2*i], pi[2*i+1]/N[2*i+1]
        lo = (aw - al) - (log(1 - exp(aw)) - log(1 - exp(al)))
        nll = -pi[2*i]/nbar if tokens else -aw
        out.append(nll + lam*(-logsig(lo)))
    return out
def sft_tokens(pi):
    tot = -sum(pi[2*i] for i in range(B)) / sum(N[2*i] for i in range(B))
    return [tot]*B   # mean over groups = tot
def sft_seq(pi): return [-pi[2*i]/N[2*i] for i in range(B)]
def mpo(pi): return [mpf("0.8")*a + mpf("0.2")*b + c for a, b, c in zip(dpo(pi, mpf("0.1")), bco(pi, mpf("0.1"), 0), sft_tokens(pi))]
def dpo(pi, beta): return [-logsig(beta*(w-l)) for w, l in pairs(pi)]

cases = [
  ("dpo_norm", lambda p: dpo_norm(p, mpf("0.5"), mpf("0.1"))),
  ("ipo", lambda p: ipo(p, mpf("0.1"), True)),
  ("ipo_sum", lambda p: ipo(p, mpf("0.1"), False)),
  ("hinge", lambda p: hinge(p, mpf("0.5"))),
  ("robust", lambda p: robust(p, mpf("0.1"), mpf("0.2"))),
  ("nca_pair", lambda p: nca(p, mpf("0.5"))),
  ("bco_pair", lambda p: bco(p, mpf("0.5"), mpf("0.3"))),
  ("sppo_hard", lambda p: sppo(p, mpf("0.5"))),
  ("apo_zero", lambda p: apo_zero(p, mpf("0.5"))),
  ("apo_down", lambda p: apo_down(p, mpf("0.5"))),
  ("aot", lambda p: aot(p, mpf("0.1"), mpf("0.1"))),
  ("aot_unpaired", lambda p: aot_unpaired(p, mpf("0.1"), mpf(0))),
  ("discopop", lambda p: discopop(p, mpf("0.5"), mpf("0.05"))),
  ("simpo", lambda p: simpo(p, mpf("2.0"), mpf("0.5"))),
  ("orpo", lambda p: orpo(p, mpf("0.1"), True)),
  ("orpo_seq", lambda p: orpo(p, mpf("0.1"), False)),
  ("sft", lambda p: sft_tokens(p)),
  ("sft_seq", lambda p: sft_seq(p)),
  ("mpo", lambda p: mpo(p)),
]
for name, fn in cases:
    loss = mean(fn(PI))
    grad = []
    for j in range(2*B):
        def g(x, j=j):
            q = list(PI); q[j] = x
            return mean(fn(q))
        grad.append(diff(g, PI[j]))
    print(f'    ("{name}", {repr(float(loss))}, [{", ".join(repr(float(x)) for x in grad)}]),')
