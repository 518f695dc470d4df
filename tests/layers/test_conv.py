"""conv: padding forms, dilation, groups, depthwise, 1-D and 3-D inputs (exact shapes, params, MACs)."""


import archcalc


def analyze(input_shape, *layers, **top):
    return archcalc.analyze(archcalc.load_spec({"input": input_shape, "layers": list(layers), **top}))



def test_padding_forms():
    conv = {"type": "conv", "filters": 2, "kernel": 3}
    assert analyze([8, 6, 1], {**conv, "padding": [1, 0]}).rows[0].output_shape == (8, 4, 2)
    assert analyze([8, 6, 1], {**conv, "padding": [[0, 1], [2, 0]]}).rows[0].output_shape == (7, 6, 2)
    assert analyze([8, 6, 1], {**conv, "padding": "valid"}).rows[0].output_shape == (6, 4, 2)
    assert analyze([8, 7, 1], {**conv, "kernel": [3, 1], "stride": [1, 2]}).rows[0].output_shape == (6, 4, 2)


def test_dilation_and_groups():
    r = analyze([9, 9, 8], {"type": "conv", "filters": 16, "kernel": 3, "dilation": 2, "groups": 4})
    row = r.rows[0]
    assert row.output_shape == (5, 5, 16)
    assert row.params == 3 * 3 * (8 // 4) * 16 + 16
    assert row.macs == 5 * 5 * 16 * 9 * 2
    assert row.receptive_field.size == (5, 5)


def test_depthwise_conv():
    r = analyze([14, 14, 32], {"type": "conv", "filters": 32, "kernel": 3, "padding": 1, "groups": 32, "bias": False})
    assert r.rows[0].params == 288
    assert r.rows[0].macs == 14 * 14 * 32 * 9


def test_one_dimensional_text_cnn():
    r = analyze([56, 300], {"type": "conv", "filters": 100, "kernel": 3, "activation": "relu"},
                {"type": "global_maxpool"}, {"type": "dense", "units": 2})
    assert r.rows[0].output_shape == (54, 100)
    assert r.rows[0].params == 3 * 300 * 100 + 100
    assert r.rows[0].receptive_field.size == (3,)
    assert r.rows[1].output_shape == (100,)
    assert r.rows[2].params == 202


def test_three_dimensional_conv_and_pool():
    r = analyze([16, 112, 112, 3], {"type": "conv", "filters": 64, "kernel": 3, "padding": 1},
                {"type": "maxpool", "kernel": [1, 2, 2]}, {"type": "global_avgpool"})
    assert r.rows[0].output_shape == (16, 112, 112, 64)
    assert r.rows[0].params == 27 * 3 * 64 + 64
    assert r.rows[1].output_shape == (16, 56, 56, 64)
    assert r.rows[1].receptive_field.size == (3, 4, 4)
    assert r.rows[2].output_shape == (64,)
