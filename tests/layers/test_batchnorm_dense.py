"""batchnorm (Keras's trainable split) and dense (a multi-axis input is flattened)."""


import archcalc


def analyze(input_shape, *layers, **top):
    return archcalc.analyze(archcalc.load_spec({"input": input_shape, "layers": list(layers), **top}))



def test_batchnorm_params_split_like_keras():
    r = analyze([8, 8, 3], {"type": "conv", "filters": 16, "kernel": 3, "bias": False},
                {"type": "batchnorm"}, {"type": "activation", "function": "relu"})
    bn = r.rows[1]
    assert (bn.params, bn.trainable_params, bn.non_trainable_params) == (64, 32, 32)
    assert (r.totals.params, r.totals.trainable_params, r.totals.non_trainable_params) == (432 + 64, 432 + 32, 32)


def test_dense_flattens_a_multi_axis_input():
    r = analyze([6, 6, 256], {"type": "dense", "units": 4096})
    assert r.rows[0].params == 6 * 6 * 256 * 4096 + 4096
    assert r.rows[0].macs == 6 * 6 * 256 * 4096
