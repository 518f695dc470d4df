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

def _cellwise(fn):
    """fn(value, alpha) applied to every cell (through `_each` below)."""
    return lambda x, alpha=None: _each(x, lambda v: fn(v, alpha))


def _each(x, fn):
    x = np.asarray(x, dtype=np.float64)
    return np.array([fn(float(v)) for v in x.ravel()]).reshape(x.shape)


def _relu6(v):
    return min(max(v, 0.0), 6.0)


def _gelu(v, approximate):
    if approximate == "tanh":
        return 0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))
    return 0.5 * v * (1 + math.erf(v / math.sqrt(2)))


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
    "relu": _cellwise(lambda v, a: max(0.0, v)),
    "leaky_relu": _cellwise(lambda v, a: v if v >= 0 else a * v),
    "elu": _cellwise(lambda v, a: v if v >= 0 else a * (math.exp(v) - 1)),
    "sigmoid": _cellwise(lambda v, a: 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))),
    "tanh": _cellwise(lambda v, a: math.tanh(v)),
    "softmax": _softmax,
    "linear": _cellwise(lambda v, a: v),
    "relu6": _cellwise(lambda v, a: _relu6(v)),
    "hardsigmoid": _cellwise(lambda v, a: _relu6(v + 3) / 6),
    "hardswish": _cellwise(lambda v, a: v * _relu6(v + 3) / 6),
    "silu": _cellwise(lambda v, a: v / (1 + math.exp(-v)) if v > -700 else 0.0),
    "gelu": _cellwise(_gelu),
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
    return add_broadcast(xs)


def _avgpool_twin(row, xs, p):
    kernel, stride, pads, dilation, out_spatial = _geometry(row)
    if row.layer.count_include_pad:
        return avgpool_include_pad(xs[0], kernel, stride, pads, dilation, out_spatial)
    return avgpool(xs[0], kernel, stride, pads, dilation, out_spatial)


TWINS = {
    "conv": _conv_twin,
    "maxpool": _pool_twin(maxpool),
    "avgpool": _avgpool_twin,
    "global_avgpool": _global_twin(lambda cells: sum(cells) / len(cells)),
    "global_maxpool": _global_twin(max),
    "dense": _dense_twin,
    "flatten": lambda row, xs, p: np.asarray(xs[0], dtype=np.float64).reshape(len(xs[0]), -1),
    "dropout": lambda row, xs, p: np.asarray(xs[0], dtype=np.float64),
    "lrn": lambda row, xs, p: lrn(xs[0], row.layer.size, row.layer.k, row.layer.alpha, row.layer.beta,
                                  row.layer.alpha_over_n),
    "batchnorm": lambda row, xs, p: batchnorm(xs[0], p["gamma"], p["beta"], p["moving_mean"],
                                              p["moving_variance"], row.layer.eps),
    "activation": lambda row, xs, p: activate(xs[0], row.layer.function, row.layer.setting),
    "add": _add_twin,
    "concat": _concat_twin,
    "adaptive_avgpool": lambda row, xs, p: adaptive_avgpool(xs[0], row.layer.output),
    "adaptive_maxpool": lambda row, xs, p: adaptive_maxpool(xs[0], row.layer.output),
    "layernorm": lambda row, xs, p: layernorm(xs[0], p["gamma"], p["beta"], row.layer.eps),
    "scale": lambda row, xs, p: scale(xs[0], p["gamma"], p.get("beta")),
    "multiply": lambda row, xs, p: multiply(xs),
}


def forward(report, x, params):
    """The whole net through the twins above, in float64: {layer name: output}."""
    x = np.asarray(x)
    values = {"input": x if x.dtype.kind in "iu" else x.astype(np.float64)}  # token ids stay ints
    for row in report.rows:
        values[row.name] = TWINS[row.type](row, [values[r] for r in row.inputs], params.get(row.name, {}))
    return values


# ----------------------------------------------------------------------------
# modern kinds (issue 11)


def _positions(shape):
    return itertools.product(*(range(n) for n in shape))


def conv_transpose(x, w, b, stride, pads, output_padding=None, dilation=None, groups=1, out_spatial=None):
    """Each input cell scatters x[n, i, c] * w[u, f, c] to output i*s + u*d - p_before, filter g*F_g + f."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    rank = x.ndim - 2
    kernel, spatial = w.shape[:rank], x.shape[1:-1]
    dilation = dilation or (1,) * rank
    output_padding = output_padding or (0,) * rank
    if out_spatial is None:
        out_spatial = tuple((n - 1) * s - p0 - p1 + d * (f - 1) + op + 1 for n, f, s, (p0, p1), op, d
                            in zip(spatial, kernel, stride, pads, output_padding, dilation))
    f_g, c_in = w.shape[-2], w.shape[-1]
    c_g = c_in // groups
    z = np.zeros((x.shape[0], *out_spatial, f_g * groups))
    for n in range(x.shape[0]):
        for i in _positions(spatial):
            for u in _positions(kernel):
                o = tuple(ii * s + uu * d - p0 for ii, uu, s, d, (p0, _) in zip(i, u, stride, dilation, pads))
                if not all(0 <= q < m for q, m in zip(o, out_spatial)):
                    continue
                for c in range(c_in):
                    g = c // c_g
                    for f in range(f_g):
                        z[(n, *o, g * f_g + f)] += x[(n, *i, c)] * w[(*u, f, c)]
    if b is not None:
        z += np.asarray(b, dtype=np.float64)
    return z


def upsample(x, scale, mode="nearest"):
    """y[i] = x[floor(i/s)] (nearest), or the multilinear blend of the 2^rank neighbours of
    src = max((i + 0.5)/s - 0.5, 0) per axis (bilinear, align_corners=False)."""
    x = np.asarray(x, dtype=np.float64)
    spatial = x.shape[1:-1]
    out_spatial = tuple(n * s for n, s in zip(spatial, scale))
    y = np.zeros((x.shape[0], *out_spatial, x.shape[-1]))
    for n in range(x.shape[0]):
        for i in _positions(out_spatial):
            if mode == "nearest":
                y[(n, *i)] = x[(n, *(ii // s for ii, s in zip(i, scale)))]
                continue
            corners = []
            for ii, s, m in zip(i, scale, spatial):
                src = max((ii + 0.5) / s - 0.5, 0.0)
                lo = math.floor(src)
                corners.append(((lo, 1 - (src - lo)), (min(lo + 1, m - 1), src - lo)))
            for choice in itertools.product(*corners):
                weight = math.prod(wt for _, wt in choice)
                y[(n, *i)] += weight * x[(n, *(p for p, _ in choice))]
    return y


def pad(x, pads, value=0.0):
    """A larger array of ``value`` with x written at offset (before, ...)."""
    x = np.asarray(x, dtype=np.float64)
    shape = tuple(n + p0 + p1 for n, (p0, p1) in zip(x.shape[1:-1], pads))
    y = np.full((x.shape[0], *shape, x.shape[-1]), float(value))
    for n in range(x.shape[0]):
        for i in _positions(x.shape[1:-1]):
            y[(n, *(ii + p0 for ii, (p0, _) in zip(i, pads)))] = x[(n, *i)]
    return y


def crop(x, crops):
    """y[i] = x[i + before], for n - before - after cells per axis."""
    x = np.asarray(x, dtype=np.float64)
    shape = tuple(n - c0 - c1 for n, (c0, c1) in zip(x.shape[1:-1], crops))
    y = np.zeros((x.shape[0], *shape, x.shape[-1]))
    for n in range(x.shape[0]):
        for i in _positions(shape):
            y[(n, *i)] = x[(n, *(ii + c0 for ii, (c0, _) in zip(i, crops)))]
    return y


def take_slice(x, axis, start, stop):
    """The cells start, start+1, ..., stop-1 of ``axis`` (without the batch axis), copied one by one."""
    x = np.asarray(x, dtype=np.float64)
    np_axis = axis + 1 if axis >= 0 else x.ndim + axis
    picked = [np.take(x, j, axis=np_axis) for j in range(x.shape[np_axis]) if start <= j < stop]
    return np.stack(picked, axis=np_axis)


def channel_shuffle(x, groups):
    """Output channel j*G + g is input channel g*(C/G) + j."""
    x = np.asarray(x, dtype=np.float64)
    per = x.shape[-1] // groups
    y = np.zeros_like(x)
    for g in range(groups):
        for j in range(per):
            y[..., j * groups + g] = x[..., g * per + j]
    return y


def _adaptive(x, output, reduce):
    x = np.asarray(x, dtype=np.float64)
    spatial = x.shape[1:-1]
    y = np.zeros((x.shape[0], *output, x.shape[-1]))
    for n in range(x.shape[0]):
        for i in _positions(output):
            box = tuple(range(ii * m // o, -(-(ii + 1) * m // o)) for ii, m, o in zip(i, spatial, output))
            for c in range(x.shape[-1]):
                y[(n, *i, c)] = reduce([x[(n, *p, c)] for p in itertools.product(*box)])
    return y


def adaptive_avgpool(x, output):
    """Mean over rows floor(i*N/out) .. ceil((i+1)*N/out) - 1 of each axis."""
    return _adaptive(x, output, lambda cells: sum(cells) / len(cells))


def adaptive_maxpool(x, output):
    """Max over the same windows as adaptive_avgpool."""
    return _adaptive(x, output, max)


def avgpool_include_pad(x, kernel, stride, pads, dilation=None, out_spatial=None):
    """Sum of the window's input cells / the number of its taps inside input + padding (PyTorch count_include_pad)."""
    sums = _pool(x, kernel, stride, pads, dilation, out_spatial, sum)
    dilation = dilation or (1,) * len(kernel)
    bounds = [(-p0, n + p1) for n, (p0, p1) in zip(np.shape(x)[1:-1], pads)]
    divisor = np.zeros(sums.shape[1:-1])
    for i in _positions(divisor.shape):
        for u in _positions(kernel):
            q = [ii * s + uu * d - p0 for ii, uu, s, d, (p0, _) in zip(i, u, stride, dilation, pads)]
            divisor[i] += all(lo <= qq < hi for qq, (lo, hi) in zip(q, bounds))
    return sums / divisor[..., None]


def layernorm(x, gamma, beta, eps=1e-6):
    """At each position: (x_c - mean) / sqrt(mean of squared deviations + eps) * gamma_c + beta_c."""
    x = np.asarray(x, dtype=np.float64)
    y = np.zeros_like(x)
    channels = x.shape[-1]
    for pos in _positions(x.shape[:-1]):
        v = [x[(*pos, c)] for c in range(channels)]
        mean = sum(v) / channels
        var = sum((a - mean) ** 2 for a in v) / channels
        for c in range(channels):
            g = 1.0 if gamma is None else gamma[c]
            bb = 0.0 if beta is None else beta[c]
            y[(*pos, c)] = g * (v[c] - mean) / math.sqrt(var + eps) + bb
    return y


def scale(x, gamma, beta=None):
    """gamma_c * x_c (+ beta_c), channel by channel."""
    x = np.asarray(x, dtype=np.float64)
    y = np.zeros_like(x)
    for c in range(x.shape[-1]):
        y[..., c] = gamma[c] * x[..., c] + (0.0 if beta is None else beta[c])
    return y


def embedding(ids, table):
    """Row ids[n, l] of the table, for every token."""
    ids = np.asarray(ids)
    table = np.asarray(table, dtype=np.float64)
    y = np.zeros((*ids.shape, table.shape[1]))
    for pos in _positions(ids.shape):
        y[pos] = table[int(ids[pos])]
    return y


def _elementwise(xs, op):
    """Each output cell combines, per input, the cell at the same index with size-1 axes read at 0."""
    xs = [np.asarray(x, dtype=np.float64) for x in xs]
    rank = max(x.ndim for x in xs)
    xs = [x.reshape(x.shape[0], *(1,) * (rank - x.ndim), *x.shape[1:]) for x in xs]
    shape = tuple(max(sizes) for sizes in zip(*(x.shape for x in xs)))
    y = np.zeros(shape)
    for pos in _positions(shape):
        values = [x[tuple(p if m > 1 else 0 for p, m in zip(pos, x.shape))] for x in xs]
        acc = values[0]
        for v in values[1:]:
            acc = op(acc, v)
        y[pos] = acc
    return y


def multiply(xs):
    """Product of the inputs with NumPy broadcasting on each sample's shape."""
    return _elementwise(xs, lambda a, b: a * b)


def add_broadcast(xs):
    """Sum of the inputs with NumPy broadcasting on each sample's shape."""
    return _elementwise(xs, lambda a, b: a + b)


def relu6(x):
    """min(max(0, x), 6), cell by cell."""
    return ACTIVATIONS["relu6"](x)


def hardsigmoid(x):
    """relu6(x + 3) / 6, cell by cell."""
    return ACTIVATIONS["hardsigmoid"](x)


def hardswish(x):
    """x * relu6(x + 3) / 6, cell by cell."""
    return ACTIVATIONS["hardswish"](x)


def silu(x):
    """x / (1 + e^-x), cell by cell."""
    return ACTIVATIONS["silu"](x)


def gelu(x, approximate="none"):
    """x/2 * (1 + erf(x / sqrt 2)) by math.erf, or the tanh form, cell by cell."""
    return ACTIVATIONS["gelu"](x, approximate)


# --- twins of issue 11's structural kinds: (row, inputs, params) -> float64 output --------------------------

def _conv_transpose_twin(row, xs, p):
    from ..layers.fields import DEFAULT_ALPHA

    axes, layer = row.axes, row.layer
    z = conv_transpose(xs[0], p["weight"], p.get("bias"), tuple(a.s for a in axes), tuple((a.pb, a.pa) for a in axes),
                       layer.output_padding, tuple(a.d for a in axes), layer.groups, tuple(a.out for a in axes))
    return activate(z, layer.activation, DEFAULT_ALPHA.get(layer.activation or ""))


def _crop_twin(row, xs, p):
    from ..layers.crop import row_crops

    return crop(xs[0], row_crops(row))


TWINS.update({
    "conv_transpose": _conv_transpose_twin,
    "upsample": lambda row, xs, p: upsample(xs[0], row.layer.scale, row.layer.mode),
    "pad": lambda row, xs, p: pad(xs[0], row.layer.padding, row.layer.value),
    "crop": _crop_twin,
    "slice": lambda row, xs, p: take_slice(xs[0], row.layer.axis, row.layer.start, row.layer.stop),
    "channel_shuffle": lambda row, xs, p: channel_shuffle(xs[0], row.layer.groups),
    "embedding": lambda row, xs, p: embedding(xs[0], p["weight"]),
})


# ----------------------------------------------------------------------------
# depthwise and grouped convolution (issue 16)


def conv_depthwise(x, w, b, stride, pads, dilation=None, out_spatial=None):
    """z[n, i, c*M + m] = b[c*M + m] + sum_u x[n, i*s + u*d - p, c] * w[u, 0, c*M + m], channel by channel."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    rank = x.ndim - 2
    kernel, spatial = w.shape[:rank], x.shape[1:-1]
    dilation = dilation or (1,) * rank
    mult = w.shape[-1] // x.shape[-1]
    if out_spatial is None:
        out_spatial = tuple((n + p0 + p1 - d * (f - 1) - 1) // s + 1
                            for n, f, s, (p0, p1), d in zip(spatial, kernel, stride, pads, dilation))
    z = np.zeros((x.shape[0], *out_spatial, w.shape[-1]))
    for n in range(x.shape[0]):
        for i in _positions(out_spatial):
            for k in range(w.shape[-1]):
                z[(n, *i, k)] = sum(x[(n, *pos, k // mult)] * w[(*u, 0, k)]
                                    for u, pos in _taps(i, kernel, stride, dilation, pads, spatial) if pos is not None)
    if b is not None:
        z += np.asarray(b, dtype=np.float64)
    return z


def conv_grouped(x, w, b, stride, pads, dilation=None, groups=1, out_spatial=None):
    """Group by group: the plain convolution of channels g*C_g .. (g+1)*C_g - 1 with filters g*F_g .. (g+1)*F_g - 1."""
    x = np.asarray(x, dtype=np.float64)
    c_g, f_g = w.shape[-2], w.shape[-1] // groups
    parts = [conv(x[..., g * c_g:(g + 1) * c_g], w[..., g * f_g:(g + 1) * f_g], None, stride, pads, dilation, 1,
                  out_spatial) for g in range(groups)]
    z = np.concatenate(parts, axis=-1)
    if b is not None:
        z += np.asarray(b, dtype=np.float64)
    return z
