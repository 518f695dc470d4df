"""Plain, obviously-right twins of the kernels in ``archcalc.engine.kernels``.

Loops over output positions, written straight from the formulas (seed 004:
z[i, j, k] = b[k] + sum_{u, v, k'} x[i*s + u, j*s + v, k'] * w[u, v, k', k]),
generalised to padding, dilation, groups and 1-3 spatial axes.  Padding is never
materialised: a tap that falls outside the input simply contributes nothing.
Slow on purpose; the tests hold the fast kernels to these.  `TWINS` has one entry per layer kind (keyed by the
`type` tag, as `archcalc.layers.REGISTRY` and `engine.forward.KERNELS`), and `forward` runs a whole net on them.
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def _taps(i, kernel, stride, dilation, pads, spatial):
    """Input positions read by output position i, or None for taps outside the input."""
    for u in itertools.product(*(range(f) for f in kernel)):
        pos = tuple(ii * s + uu * d - p0 for ii, uu, s, d, (p0, _) in zip(i, u, stride, dilation, pads))
        inside = all(0 <= q < n for q, n in zip(pos, spatial))
        yield u, (pos if inside else None)


def conv(x, w, b, stride, pads, dilation=None, groups=1, out_spatial=None):
    """z[n, i, k] = b[k] + sum_{u, k'} x[n, i*s + u*d - p, g*C_g + k'] * w[u, k', k], in float64."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    rank = x.ndim - 2
    kernel, spatial = w.shape[:rank], x.shape[1:-1]
    dilation = dilation or (1,) * rank
    c_g, filters = w.shape[-2], w.shape[-1]
    f_g = filters // groups
    if out_spatial is None:
        out_spatial = tuple((n + p0 + p1 - d * (f - 1) - 1) // s + 1
                            for n, f, s, (p0, p1), d in zip(spatial, kernel, stride, pads, dilation))
    z = np.zeros((x.shape[0], *out_spatial, filters))
    for n in range(x.shape[0]):
        for i in itertools.product(*(range(o) for o in out_spatial)):
            for k in range(filters):
                g = k // f_g
                total = 0.0
                for u, pos in _taps(i, kernel, stride, dilation, pads, spatial):
                    if pos is None:
                        continue
                    for kk in range(c_g):
                        total += x[(n, *pos, g * c_g + kk)] * w[(*u, kk, k)]
                z[(n, *i, k)] = total
    if b is not None:
        z += np.asarray(b, dtype=np.float64)
    return z


def _pool(x, kernel, stride, pads, dilation, out_spatial, reduce):
    x = np.asarray(x, dtype=np.float64)
    rank = x.ndim - 2
    spatial = x.shape[1:-1]
    dilation = dilation or (1,) * rank
    if out_spatial is None:
        out_spatial = tuple((n + p0 + p1 - d * (f - 1) - 1) // s + 1
                            for n, f, s, (p0, p1), d in zip(spatial, kernel, stride, pads, dilation))
    y = np.zeros((x.shape[0], *out_spatial, x.shape[-1]))
    for n in range(x.shape[0]):
        for i in itertools.product(*(range(o) for o in out_spatial)):
            for c in range(x.shape[-1]):
                cells = [x[(n, *pos, c)] for _, pos in _taps(i, kernel, stride, dilation, pads, spatial)
                         if pos is not None]
                y[(n, *i, c)] = reduce(cells)
    return y


def maxpool(x, kernel, stride, pads, dilation=None, out_spatial=None):
    """Largest input cell of each window; padded cells are not candidates."""
    return _pool(x, kernel, stride, pads, dilation, out_spatial, max)


def avgpool(x, kernel, stride, pads, dilation=None, out_spatial=None):
    """Mean of the input cells of each window; padded cells are not counted."""
    return _pool(x, kernel, stride, pads, dilation, out_spatial, lambda cells: sum(cells) / len(cells))


def lrn(x, size=5, k=2.0, alpha=1e-4, beta=0.75, alpha_over_n=False):
    """b_c = a_c / (k + alpha * sum_{c'=c-size//2}^{c+(size-1)//2} a_{c'}^2)^beta."""
    x = np.asarray(x, dtype=np.float64)
    channels = x.shape[-1]
    a = alpha / size if alpha_over_n else alpha
    y = np.zeros_like(x)
    for c in range(channels):
        lo, hi = max(0, c - size // 2), min(channels - 1, c + (size - 1) // 2)
        total = sum(x[..., cc] ** 2 for cc in range(lo, hi + 1))
        y[..., c] = x[..., c] / (k + a * total) ** beta
    return y


def batchnorm(x, gamma, beta, moving_mean, moving_variance, eps=1e-3):
    """gamma * (x - mean) / sqrt(var + eps) + beta, channel by channel."""
    x = np.asarray(x, dtype=np.float64)
    gamma, beta, moving_mean, moving_variance = (None if a is None else np.asarray(a, dtype=np.float64)
                                                 for a in (gamma, beta, moving_mean, moving_variance))
    y = np.zeros_like(x)
    for c in range(x.shape[-1]):
        g = 1.0 if gamma is None else gamma[c]
        bb = 0.0 if beta is None else beta[c]
        y[..., c] = g * (x[..., c] - moving_mean[c]) / math.sqrt(moving_variance[c] + eps) + bb
    return y


def dense(x, w, b):
    """y[n, j] = b[j] + sum_i flat(x)[n, i] * W[i, j], flattening channels-last."""
    x = np.asarray(x, dtype=np.float64).reshape(x.shape[0], -1)
    w = np.asarray(w, dtype=np.float64)
    y = np.zeros((x.shape[0], w.shape[1]))
    for n in range(x.shape[0]):
        for j in range(w.shape[1]):
            y[n, j] = sum(x[n, i] * w[i, j] for i in range(x.shape[1]))
    if b is not None:
        y += b
    return y


# --- activations, written from their definitions, one value at a time -------------------------

def _each(fn):
    def apply(x, alpha=None):
        x = np.asarray(x, dtype=np.float64)
        return np.vectorize(lambda v: fn(float(v), alpha), otypes=[np.float64])(x) if x.size else x.copy()
    return apply


def _softmax(x, alpha=None):
    x = np.asarray(x, dtype=np.float64)
    y = np.zeros_like(x)
    for index in itertools.product(*(range(n) for n in x.shape[:-1])):
        row = x[index]
        top = max(row)
        e = [math.exp(v - top) for v in row]
        y[index] = [v / sum(e) for v in e]
    return y


ACTIVATIONS = {
    "relu": _each(lambda v, a: max(0.0, v)),
    "leaky_relu": _each(lambda v, a: v if v >= 0 else a * v),
    "elu": _each(lambda v, a: v if v >= 0 else a * (math.exp(v) - 1)),
    "sigmoid": _each(lambda v, a: 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))),
    "tanh": _each(lambda v, a: math.tanh(v)),
    "softmax": _softmax,
    "linear": _each(lambda v, a: v),
}


def activate(x, function, alpha=None):
    return x if function is None else ACTIVATIONS[function](x, alpha)


# --- one twin per layer kind: (analysed row, inputs, that layer's params) -> float64 output ----------

def _geometry(row):
    axes = row.axes
    return (tuple(a.f for a in axes), tuple(a.s for a in axes), tuple((a.pb, a.pa) for a in axes),
            tuple(a.d for a in axes), tuple(a.out for a in axes))


def _conv_twin(row, xs, p):
    from ..layers.fields import DEFAULT_ALPHA

    kernel, stride, pads, dilation, out_spatial = _geometry(row)
    z = conv(xs[0], p["weight"], p.get("bias"), stride, pads, dilation, row.layer.groups, out_spatial)
    fn = row.layer.activation
    return activate(z, fn, DEFAULT_ALPHA.get(fn or ""))


def _pool_twin(reduce):
    def twin(row, xs, p):
        kernel, stride, pads, dilation, out_spatial = _geometry(row)
        return reduce(xs[0], kernel, stride, pads, dilation, out_spatial)
    return twin


def _global_twin(reduce):
    def twin(row, xs, p):
        x = np.asarray(xs[0], dtype=np.float64)
        y = np.zeros((x.shape[0], x.shape[-1]))
        for n in range(x.shape[0]):
            for c in range(x.shape[-1]):
                y[n, c] = reduce(list(x[n, ..., c].ravel()))
        return y
    return twin


def _dense_twin(row, xs, p):
    from ..layers.fields import DEFAULT_ALPHA

    fn = row.layer.activation
    return activate(dense(xs[0], p["weight"], p.get("bias")), fn, DEFAULT_ALPHA.get(fn or ""))


def _concat_twin(row, xs, p):
    """Written out: each output cell copied from the input whose range along the axis holds it."""
    xs = [np.asarray(x, dtype=np.float64) for x in xs]
    axis = row.layer.axis % (xs[0].ndim - 1) + 1
    y = np.zeros((xs[0].shape[0], *row.output_shape))
    offset = 0
    for x in xs:
        for index in itertools.product(*(range(n) for n in x.shape)):
            target = list(index)
            target[axis] += offset
            y[tuple(target)] = x[index]
        offset += x.shape[axis]
    return y


def _add_twin(row, xs, p):
    y: np.ndarray = np.zeros(np.asarray(xs[0]).shape)
    for index in itertools.product(*(range(size) for size in y.shape)):
        y[index] = sum(float(x[index]) for x in xs)
    return y


TWINS = {
    "conv": _conv_twin,
    "maxpool": _pool_twin(maxpool),
    "avgpool": _pool_twin(avgpool),
    "global_avgpool": _global_twin(lambda cells: sum(cells) / len(cells)),
    "global_maxpool": _global_twin(max),
    "dense": _dense_twin,
    "flatten": lambda row, xs, p: np.asarray(xs[0], dtype=np.float64).reshape(len(xs[0]), -1),
    "dropout": lambda row, xs, p: np.asarray(xs[0], dtype=np.float64),
    "lrn": lambda row, xs, p: lrn(xs[0], row.layer.size, row.layer.k, row.layer.alpha, row.layer.beta,
                                  row.layer.alpha_over_n),
    "batchnorm": lambda row, xs, p: batchnorm(xs[0], p["gamma"], p["beta"], p["moving_mean"],
                                              p["moving_variance"], row.layer.eps),
    "activation": lambda row, xs, p: activate(xs[0], row.layer.function, row.layer.slope),
    "add": _add_twin,
    "concat": _concat_twin,
}


def forward(report, x, params):
    """The whole net through the twins above, in float64: {layer name: output}."""
    values = {"input": np.asarray(x, dtype=np.float64)}
    for row in report.rows:
        values[row.name] = TWINS[row.type](row, [values[r] for r in row.inputs], params.get(row.name, {}))
    return values
