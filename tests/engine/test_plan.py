"""The fused inference plan (issue 16) against the layer-by-layer pass in float64: every shipped spec,
random small graphs that exercise each fusion, and the plan's structure on ResNet-50 and DenseNet-121."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import archcalc
from archcalc.engine.forward import forward as layer_by_layer, random_input
from archcalc.engine.plan import compile_plan

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted((ROOT / "specs").glob("*.yaml"))


def random_params(net, seed=0):
    """init_params with random biases and batchnorm statistics, so that folding them matters."""
    params = archcalc.init_params(net, seed)
    rng = np.random.default_rng(seed + 1)
    for entry in params.values():
        for key, value in entry.items():
            if key in ("bias", "beta", "moving_mean"):
                entry[key] = (rng.standard_normal(value.shape) * 0.1).astype(np.float32)
            elif key in ("gamma", "moving_variance"):
                entry[key] = (rng.random(value.shape) + 0.5).astype(np.float32)
    return params


def relative(got, want):
    return float(np.abs(got - want).max() / np.abs(want).max())


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_fused_plan_matches_unfused_float64_on_every_spec(path):
    net = archcalc.load_spec(path)
    params = random_params(net)
    x = random_input(net, 1, 2)  # token ids for an embedding net, else standard normal float32
    want = layer_by_layer(net, x, params, dtype="float64")
    assert relative(archcalc.forward(net, x, params), want) < 1e-4  # float32, fused
    plan = compile_plan(net, params, "float64")
    assert relative(plan.run(x), want) < 1e-12


def test_resnet50_folds_every_batchnorm_and_fuses_every_add():
    net = archcalc.load_spec(ROOT / "specs" / "resnet50.yaml")
    plan = compile_plan(net, archcalc.init_params(net))
    kinds = [step.kind for step in plan.steps]
    # 53 convs (1 stem + 16 blocks x 3 + 4 projections), each with its batchnorm, relu and add;
    # then the max pool, the global pool and the classifier run as they are
    assert kinds.count("conv") == 53 and len(kinds) == 56
    assert [step.row.type for step in plan.steps if step.kind == "layer"] == ["maxpool", "global_avgpool", "dense"]
    fused = [row.type for step in plan.steps for row in step.rows]
    assert fused.count("batchnorm") == 53 and fused.count("add") == 16 and fused.count("activation") == 49


def test_densenet121_concats_share_one_buffer_per_block():
    net = archcalc.load_spec(ROOT / "specs" / "densenet121.yaml")
    plan = compile_plan(net, archcalc.init_params(net))
    # blocks of 6, 12, 24 and 16 layers: every concat but a block's last lives in the next one's buffer
    kind = {step.name: step.kind for step in plan.steps}
    concats = {name: where for name, where in plan.placed.items() if kind[name] == "concat"}
    assert len(concats) == 5 + 11 + 23 + 15
    assert all(offset == 0 for _, offset in concats.values())
    # and every layer's conv2 (32 new channels) writes straight after the channels it read
    convs = {name: where for name, where in plan.placed.items() if kind[name] == "conv"}
    assert len(convs) == 6 + 12 + 24 + 16
    shape = {step.name: step.row.output_shape for step in plan.steps}
    for name, (parent, offset) in convs.items():
        assert shape[name][-1] == 32 and offset == shape[parent][-1] - 32
    # each conv1 folds norm2 and fuses relu2, and takes norm1+relu1 as its prologue; so does each transition's
    # conv its norm+relu; only the last norm+relu (read by the global pool) is a pass of its own
    assert sum(step.kind == "affine" for step in plan.steps) == 1
    prologues = [step for step in plan.steps if step.prologue is not None]
    assert len(prologues) == 58 + 3
    assert all([row.type for row in step.before] == ["batchnorm", "activation"] for step in prologues)


@pytest.mark.parametrize("name, gates", [("efficientnet_b0", 16), ("mobilenet_v3_small", 9)])
def test_squeeze_excitation_gates_fold_into_the_projection(name, gates):
    net = archcalc.load_spec(ROOT / "specs" / f"{name}.yaml")
    plan = compile_plan(net, archcalc.init_params(net))
    folded = [step for step in plan.steps if step.gate is not None]
    # every SE multiply (one per block that has SE) is read only by the block's 1x1 projection
    assert len(folded) == gates == sum(row.type == "multiply" for row in plan.report.rows)
    assert not any(row.type == "multiply" for step in plan.steps for row in step.rows)
    assert all(step.rows[0].layer.kernel in (1, [1, 1], (1, 1)) for step in folded)


def test_shufflenet_channel_slices_are_views_read_in_place():
    """A channel slice (ShuffleNet V2's split) is a view of the shuffle before it, not a copy: the 1x1 conv after
    it reads the channels in place."""
    net = archcalc.load_spec(ROOT / "specs" / "shufflenet_v2_x1_0.yaml")
    plan = compile_plan(net, random_params(net), report=archcalc.analyze(net))
    x = random_input(net, 2, seed=3)
    seen = {}
    plan.run(x, on_step=lambda step, y: seen.setdefault(step.name, y))
    slices = [s for s in plan.steps if s.row.type == "slice"]
    assert len(slices) == 26  # left and right of 13 blocks
    for step in slices:
        assert np.shares_memory(seen[step.name], seen[step.inputs[0]]), step.name
    want = layer_by_layer(net, x.astype(np.float64), random_params(net), dtype="float64")
    assert relative(plan.run(x), want) < 1e-4


def test_plan_keeps_its_arena_and_returns_fresh_outputs():
    net = archcalc.load_spec(ROOT / "specs" / "resnet18.yaml")
    params = random_params(net)
    plan = compile_plan(net, params)
    rng = np.random.default_rng(0)
    x1, x2 = (rng.standard_normal((2, *net.input_shape)).astype(np.float32) for _ in range(2))
    y1 = plan.run(x1)
    arena = plan.arena(2)
    y1_copy = y1.copy()
    y2 = plan.run(x2)
    assert plan.arena(2) is arena and not np.may_share_memory(y1, arena)
    np.testing.assert_array_equal(y1, y1_copy)  # the second pass did not overwrite the first's output
    np.testing.assert_allclose(y2, layer_by_layer(net, x2, params), rtol=1e-4, atol=1e-5)
    # the arena holds fewer bytes than all activations together
    report = archcalc.analyze(net)
    assert plan.arena_bytes_per_sample < 4 * report.totals.activation_elements / 2


def test_plan_alternating_batch_sizes_writes_into_the_current_arena():
    """The plan keeps each step's view of the arena per batch size; a new batch size makes a new arena, and the
    views must follow it: batch 3, then 1, then 3 again, each against the layer-by-layer pass, and every kept view
    inside the current arena (a view of a dropped arena would keep that arena alive beside the new one)."""
    net = archcalc.load_spec(ROOT / "specs" / "squeezenet1_1.yaml")  # concats written in place: views of views
    params = random_params(net)
    plan = compile_plan(net, params)
    rng = np.random.default_rng(1)
    for batch in (3, 1, 3, 2):
        x = rng.standard_normal((batch, *net.input_shape)).astype(np.float32)
        y = plan.run(x)
        assert y.shape == (batch, *plan.report.rows[-1].output_shape)
        arena = plan.arena(batch)
        assert arena.nbytes == plan.arena_bytes_per_sample * batch
        views = [v for v in plan._views[batch] if v is not None]  # the kept views lie in this arena, none in an old one
        assert views and all(np.may_share_memory(v, arena) for v in views)
        np.testing.assert_allclose(y, layer_by_layer(net, x, params), rtol=1e-4, atol=1e-5)


def test_forward_options():
    net = archcalc.load_spec(ROOT / "specs" / "lenet5.yaml")
    params = random_params(net)
    x = np.random.default_rng(0).standard_normal((3, *net.input_shape))
    plan = archcalc.compile_plan(net, params)
    fused = archcalc.forward(net, x, None, plan=plan)
    np.testing.assert_allclose(fused, archcalc.forward(net, x, params, fuse=False), rtol=1e-5, atol=1e-6)
    every = archcalc.forward(net, x, params, return_all=True)
    assert set(every) == {layer.name for layer in net.layers}
    with pytest.raises(TypeError, match="output only"):
        archcalc.forward(net, x, None, plan=plan, return_all=True)
    other = archcalc.load_spec(ROOT / "specs" / "lenet5.yaml")
    with pytest.raises(TypeError, match="another network"):
        archcalc.forward(other, x, None, plan=plan)


# --- random small graphs: every fusion and every conv kernel path --------------------------------

@st.composite
def graphs(draw):
    """A stem conv, then a few blocks: conv (plain, grouped or depthwise) -> [batchnorm] -> [activation]
    -> [add with the block input] -> [activation], sometimes a concat with the block input."""
    size = draw(st.integers(5, 9))
    channels = draw(st.sampled_from([2, 4, 6]))
    layers = [{"type": "conv", "name": "stem", "filters": channels, "kernel": 1,
               "bias": draw(st.sampled_from([True, False, "per_position"]))}]
    prev = "stem"
    for b in range(draw(st.integers(1, 3))):
        groups = draw(st.sampled_from([1, 2, channels]))  # plain, grouped, depthwise
        kernel = draw(st.sampled_from([1, 3]))
        conv = {"type": "conv", "name": f"c{b}", "inputs": prev, "filters": channels, "kernel": kernel,
                "padding": "same", "groups": groups, "bias": draw(st.booleans())}
        if draw(st.booleans()):
            conv["activation"] = draw(st.sampled_from(["relu", "tanh", "leaky_relu"]))
        layers.append(conv)
        last = conv["name"]
        if "activation" not in conv and draw(st.booleans()):
            layers.append({"type": "batchnorm", "name": f"bn{b}", "eps": 1e-3})
            last = f"bn{b}"
        if draw(st.booleans()):
            layers.append({"type": "activation", "name": f"a{b}", "function": draw(st.sampled_from(["relu", "elu"]))})
            last = f"a{b}"
        if draw(st.booleans()):
            layers.append({"type": "add", "name": f"add{b}", "inputs": [last, prev]})
            layers.append({"type": "activation", "name": f"r{b}", "function": "relu"})
            last = f"r{b}"
        if draw(st.booleans()):  # pre-activation: batchnorm [+ activation] read only by a 1x1 conv
            layers.append({"type": "batchnorm", "name": f"pre{b}", "inputs": last, "eps": 1e-3})
            if draw(st.booleans()):
                layers.append({"type": "activation", "name": f"pre_act{b}", "function": draw(st.sampled_from(["relu", "elu"]))})
            layers.append({"type": "conv", "name": f"pre_conv{b}", "filters": channels, "kernel": 1,
                           "bias": draw(st.sampled_from([True, False, "per_position"]))})
            last = f"pre_conv{b}"
        if draw(st.booleans()):  # squeeze-and-excitation: the map times a per-channel gate, then a 1x1 conv
            layers += [{"type": "global_avgpool", "name": f"sq{b}", "inputs": last},
                       {"type": "dense", "name": f"ex{b}", "units": channels, "activation": "sigmoid"},
                       {"type": "multiply", "name": f"gate{b}", "inputs": draw(st.permutations([last, f"ex{b}"]))},
                       {"type": "conv", "name": f"proj{b}", "filters": channels, "kernel": 1,
                        "bias": draw(st.sampled_from([True, False, "per_position"])),
                        "activation": draw(st.sampled_from([None, "relu"]))}]
            last = f"proj{b}"
        if draw(st.booleans()):
            cat = [prev, last]
            if draw(st.booleans()):  # a side branch: its conv writes straight into its channels of the concat
                side_groups = draw(st.sampled_from([1, channels]))  # plain or depthwise
                layers.append({"type": "conv", "name": f"side{b}", "inputs": prev,
                               "filters": side_groups * draw(st.integers(1, 2)) if side_groups > 1
                               else draw(st.integers(1, 5)),
                               "kernel": draw(st.sampled_from([1, 3])), "padding": "same", "groups": side_groups,
                               "bias": draw(st.sampled_from([True, False, "per_position"])),
                               "activation": draw(st.sampled_from([None, "relu"]))})
                cat.insert(draw(st.integers(0, 2)), f"side{b}")
            layers.append({"type": "concat", "name": f"cat{b}", "inputs": cat})
            layers.append({"type": "conv", "name": f"squeeze{b}", "filters": channels, "kernel": 1})
            last = f"squeeze{b}"
        prev = last
    layers.append({"type": "batchnorm", "name": "final_bn"})
    return {"name": "random", "input": [size, size + 1, 3], "layers": layers}


@settings(max_examples=40, deadline=None)
@given(graphs(), st.integers(0, 2**16))
def test_random_graph_fused_equals_unfused(spec, seed):
    net = archcalc.load_spec(spec)
    params = random_params(net, seed)
    x = np.random.default_rng(seed).standard_normal((2, *net.input_shape))
    want = layer_by_layer(net, x, params, dtype="float64")
    np.testing.assert_allclose(compile_plan(net, params, "float64").run(x), want, rtol=1e-10, atol=1e-10)
    # float32 with folded batchnorm: within 1e-5 of the float64 unfused pass, relative to its largest value
    assert relative(compile_plan(net, params, "float32").run(x), want) < 1e-5


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_plan_transforms_its_weights_once_and_owns_them(monkeypatch, dtype):
    """Winograd's U (and a grouped kernel's reordered weights) are computed on a plan's first pass and kept with its
    step; editing the caller's weight arrays afterwards changes nothing ("later edits are not seen")."""
    from archcalc.engine import kernels as K

    net = archcalc.load_spec({"name": "w", "input": [20, 20, 64], "layers": [
        {"type": "conv", "name": "c", "filters": 64, "kernel": 3, "padding": 1, "activation": "relu"},
        {"type": "conv", "name": "g", "filters": 64, "kernel": 3, "padding": 1, "groups": 16},
        {"type": "conv", "name": "p", "filters": 8, "kernel": 1}]})
    params = {name: {k: np.asarray(v, dtype=dtype) for k, v in entry.items()}
              for name, entry in archcalc.init_params(net, seed=2).items()}
    made: list[tuple] = []
    real = K._prepared
    monkeypatch.setattr(K, "_prepared", lambda cache, key, make: real(cache, key, lambda: made.append(key) or make()))
    plan = archcalc.compile_plan(net, params, dtype=dtype)
    x = np.random.default_rng(0).standard_normal((2, 20, 20, 64))
    first = plan.run(x)
    for name in ("c", "p"):  # the plan holds its own copies (a 1x1 conv keeps nothing prepared)
        params[name]["weight"][...] *= 2
    again = plan.run(x)
    np.testing.assert_array_equal(first, again)
    assert len(made) == len(set(made)) >= 1 and made[0][0] == "winograd"
    want = layer_by_layer(net, x, archcalc.init_params(net, seed=2), dtype="float64")
    np.testing.assert_allclose(again, want, rtol=0, atol=1e-4 * np.abs(want).max())
