"""blocks: and repeat: expand to plain layers before validation; errors name block, use and argument."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archcalc import analyze, load_spec
from archcalc.load import expanded_data
from archcalc.load.blocks import uses_blocks
from archcalc.load.exprs import eval_int
from archcalc.load.limits import MAX_LAYERS
from archcalc.errors import SpecError

BOTTLENECK = {
    "params": ["filters", {"stride": 1}],
    "layers": [
        {"type": "conv", "name": "conv1", "filters": "$filters", "kernel": 1, "bias": False},
        {"type": "conv", "name": "conv2", "filters": "$filters", "kernel": 3, "stride": "$stride", "padding": 1},
        {"type": "conv", "name": "conv3", "filters": "$filters * 4", "kernel": 1},
        {"type": "conv", "name": "proj", "inputs": "input", "filters": "$filters * 4", "kernel": 1,
         "stride": "$stride"},
        {"type": "add", "name": "add", "inputs": ["conv3", "proj"]},
    ],
}


def spec(layers, blocks=None, **extra):
    data = {"name": "t", "input": [16, 16, 8], "layers": layers, **extra}
    if blocks is not None:
        data["blocks"] = blocks
    return data


def names_and_inputs(data):
    return [(l["name"], list(l["inputs"])) for l in expanded_data(data)["layers"]]


def test_block_names_are_paths_and_inputs_resolve_inside_the_block():
    got = names_and_inputs(spec([{"type": "conv", "name": "stem", "filters": 8, "kernel": 1},
                                 {"block": "bottleneck", "name": "res2a", "args": {"filters": 4}}],
                                {"bottleneck": BOTTLENECK}))
    assert got == [("stem", ["input"]), ("res2a/conv1", ["stem"]), ("res2a/conv2", ["res2a/conv1"]),
                   ("res2a/conv3", ["res2a/conv2"]), ("res2a/proj", ["stem"]),
                   ("res2a/add", ["res2a/conv3", "res2a/proj"])]


def test_args_arithmetic_defaults_and_vars():
    data = spec([{"block": "bottleneck", "name": "b", "args": {"filters": "$k * 2"}}], {"bottleneck": BOTTLENECK},
                vars={"k": 3})
    layers = {l.name: l for l in load_spec(data).layers}
    assert layers["b/conv1"].filters == 6 and layers["b/conv3"].filters == 24 and layers["b/conv2"].stride == (1, 1)
    assert {l.name: l for l in load_spec(data, set_vars={"k": 5}).layers}["b/conv3"].filters == 40


def test_repeat_of_a_block_names_iterations_and_chains_them():
    got = names_and_inputs(spec([{"repeat": 2, "name": "res3", "block": "bottleneck", "args": {"filters": 2}}],
                                {"bottleneck": BOTTLENECK}))
    assert got[0] == ("res3.1/conv1", ["input"])
    assert ("res3.2/conv1", ["res3.1/add"]) in got and ("res3.2/proj", ["res3.1/add"]) in got


def test_inline_repeat_with_index_start_and_one_layer_bodies_take_the_iteration_name():
    data = spec([{"repeat": 3, "name": "conv", "start": 2, "index": "i",
                  "layers": [{"type": "conv", "filters": "$i * 2", "kernel": 1}]},
                 {"type": "global_avgpool", "inputs": "conv"}])
    net = load_spec(data)
    assert [(l.name, getattr(l, "filters", None)) for l in net.layers] == [
        ("conv2", 4), ("conv3", 6), ("conv4", 8), ("global_avgpool1", None)]
    assert net.layers[-1].inputs == ("conv4",)


def test_use_name_means_its_last_layer_and_expect_applies_there():
    data = spec([{"block": "b", "name": "x", "args": {"w": 3}, "expect": [16, 16, 3]},
                 {"block": "b", "name": "y", "inputs": "input", "args": {"w": 5}},
                 {"type": "concat", "name": "cat", "inputs": ["x", "y"]}],
                {"b": {"params": ["w"], "layers": [{"type": "conv", "name": "c", "filters": "$w", "kernel": 1},
                                                   {"type": "activation", "name": "r", "function": "relu"}]}})
    r = analyze(load_spec(data))
    assert r.row("cat").inputs == ("x/r", "y/r") and r.row("cat").output_shape == (16, 16, 8)
    assert r.row("x/r").expect.ok and r.row("y/c").inputs == ("input",)


def test_nested_blocks():
    blocks = {"inner": {"params": ["f"], "layers": [{"type": "conv", "name": "c", "filters": "$f", "kernel": 1}]},
              "outer": {"params": ["f"], "layers": [{"block": "inner", "name": "a", "args": {"f": "$f"}},
                                                     {"block": "inner", "name": "b", "args": {"f": "$f + 1"}},
                                                     {"type": "add", "name": "sum", "inputs": ["a", "b/c"]}]}}
    got = names_and_inputs(spec([{"block": "outer", "name": "o", "args": {"f": 4}}], blocks))
    assert got == [("o/a/c", ["input"]), ("o/b/c", ["o/a/c"]), ("o/sum", ["o/a/c", "o/b/c"])]


def test_spec_without_blocks_is_untouched():
    data = spec([{"type": "conv", "filters": 2, "kernel": 1}])
    assert not uses_blocks(data) and expanded_data(data)["layers"] == [{**data["layers"][0], "name": "conv1", "inputs": ["input"]}]


# --- errors ------------------------------------------------------------------------------------

def error(data):
    with pytest.raises(SpecError) as info:
        load_spec(data)
    return str(info.value)


def test_unknown_block():
    msg = error(spec([{"block": "botleneck", "name": "u", "args": {"filters": 2}}], {"bottleneck": BOTTLENECK}))
    assert "unknown block 'botleneck'" in msg and "did you mean 'bottleneck'" in msg and "use 'u'" in msg


def test_missing_and_unknown_arguments():
    msg = error(spec([{"block": "bottleneck", "name": "u"}], {"bottleneck": BOTTLENECK}))
    assert "missing argument 'filters' of block 'bottleneck'" in msg and "use 'u'" in msg
    msg = error(spec([{"block": "bottleneck", "name": "u", "args": {"filtres": 2}}], {"bottleneck": BOTTLENECK}))
    assert "has no parameter 'filtres'" in msg and "did you mean 'filters'" in msg and "field 'args.filtres'" in msg


def test_recursion_between_blocks():
    blocks = {"a": {"layers": [{"block": "b"}]}, "b": {"layers": [{"block": "a"}]}}
    msg = error(spec([{"block": "a", "name": "top"}], blocks))
    assert "block 'a' uses itself (a -> b -> a)" in msg


def test_expansion_too_large(monkeypatch):
    assert MAX_LAYERS == 200_000
    monkeypatch.setattr("archcalc.load.blocks.MAX_LAYERS", 5_000)  # the same check, reached faster
    msg = error(spec([{"repeat": 10**9, "name": "r", "layers": [
        {"repeat": 1000, "name": "s", "layers": [{"type": "dropout"}]}]}]))
    assert "more than 5,000 layers" in msg and "check the repeat counts" in msg


@pytest.mark.parametrize("text, fragment", [
    ("$f ** 2", "only + - * //"), ("$f / 2", "use //"), ("$f + __import__('os')", "not an integer expression"),
    ("$f * (1", "not a well-formed"), ("$g + 1", "unknown name $g"), ("$f // 0", "division by zero"),
])
def test_bad_expressions(text, fragment):
    blocks = {"b": {"params": ["f"], "layers": [{"type": "conv", "filters": text, "kernel": 1}]}}
    assert fragment in error(spec([{"block": "b", "name": "u", "args": {"f": 4}}], blocks))


def test_eval_int():
    assert eval_int("($a + 1) * 4 // 3 - -2", {"a": 5}) == 10
    with pytest.raises(ValueError):
        eval_int("$a * 2", {"a": "64"})
    with pytest.raises(ValueError):
        eval_int("9" * 20, {})


def test_inputs_inside_a_block_must_name_the_block_layers():
    blocks = {"b": {"layers": [{"type": "conv", "name": "c", "filters": 2, "kernel": 1, "inputs": "stem"}]}}
    msg = error(spec([{"type": "conv", "name": "stem", "filters": 2, "kernel": 1}, {"block": "b", "name": "u"}],
                     blocks))
    assert "inputs names 'stem', which is neither a layer of the block nor 'input'" in msg
    blocks = {"b": {"layers": [{"type": "conv", "name": "c", "filters": 2, "kernel": 1, "inputs": "d"},
                               {"type": "conv", "name": "d", "filters": 2, "kernel": 1}]}}
    assert "comes later in the block" in error(spec([{"block": "b", "name": "u"}], blocks))


def test_validation_error_inside_a_block_names_the_expanded_layer():
    blocks = {"b": {"params": ["k"], "layers": [{"type": "conv", "name": "c", "filters": 2, "kernel": "$k"}]}}
    msg = error(spec([{"block": "b", "name": "res2a", "args": {"k": 0}}], blocks))
    assert "layer 0 (res2a/c) from block 'b' (used as 'res2a'), field 'kernel': kernel must be >= 1" in msg


def test_concat_of_unequal_spatial_sizes_is_rejected_with_the_layer_named():
    data = spec([{"type": "conv", "name": "a", "filters": 4, "kernel": 3},
                 {"type": "conv", "name": "b", "inputs": "input", "filters": 4, "kernel": 1},
                 {"type": "concat", "name": "joined", "inputs": ["a", "b"]}])
    with pytest.raises(SpecError) as info:
        analyze(load_spec(data))
    msg = str(info.value)
    assert "layer 2 (joined)" in msg and "a: 14x14x4, b: 16x16x4" in msg


def test_add_of_unequal_channels_in_a_block_is_rejected_with_the_expanded_name():
    blocks = {"res": {"layers": [{"type": "conv", "name": "c", "filters": 16, "kernel": 1},
                                 {"type": "add", "name": "add", "inputs": ["c", "input"]}]}}
    with pytest.raises(SpecError) as info:
        analyze(load_spec(spec([{"block": "res", "name": "res2a"}], blocks)))
    msg = str(info.value)
    assert "(res2a/add)" in msg and "add needs inputs of one shape" in msg and "16x16x16" in msg and "16x16x8" in msg


# --- property: a repeat expands to the same analysis as the written-out layers --------------------

layer_st = st.one_of(
    st.builds(lambda f, k: {"type": "conv", "filters": f, "kernel": k, "padding": "same"},
              st.integers(1, 6), st.sampled_from([1, 3])),
    st.just({"type": "batchnorm"}),
    st.just({"type": "activation", "function": "relu"}),
    st.builds(lambda f: {"type": "conv", "filters": f, "kernel": 1, "bias": False}, st.integers(1, 6)),
)


@settings(max_examples=40, deadline=None)
@given(body=st.lists(layer_st, min_size=1, max_size=4), times=st.integers(1, 4), side=st.integers(3, 9))
def test_repeat_equals_written_out_layers(body, times, side):
    head = {"name": "p", "input": [side, side, 3], "rounding": "floor"}
    repeated = load_spec({**head, "layers": [{"repeat": times, "name": "r", "layers": body}]})
    written = load_spec({**head, "layers": [dict(layer) for _ in range(times) for layer in body]})
    a, b = analyze(repeated), analyze(written)
    assert a.totals == b.totals
    assert [(r.type, r.output_shape, r.params, r.macs, r.receptive_field) for r in a.rows] == \
           [(r.type, r.output_shape, r.params, r.macs, r.receptive_field) for r in b.rows]


@settings(max_examples=25, deadline=None)
@given(filters=st.lists(st.integers(1, 8), min_size=1, max_size=4))
def test_block_uses_equal_written_out_layers(filters):
    blocks = {"b": {"params": ["f"], "layers": [{"type": "conv", "name": "c", "filters": "$f * 2", "kernel": 3,
                                                 "padding": 1},
                                                {"type": "add", "name": "s", "inputs": ["c", "c"]}]}}
    head = {"name": "p", "input": [8, 8, 3]}
    used = load_spec({**head, "blocks": blocks,
                      "layers": [{"block": "b", "name": f"u{i}", "args": {"f": f}} for i, f in enumerate(filters)]})
    plain = []
    for i, f in enumerate(filters):
        plain += [{"type": "conv", "name": f"u{i}/c", "filters": f * 2, "kernel": 3, "padding": 1},
                  {"type": "add", "name": f"u{i}/s", "inputs": [f"u{i}/c", f"u{i}/c"]}]
    assert used == load_spec({**head, "layers": plain})
