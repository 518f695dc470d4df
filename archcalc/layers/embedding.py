"""embedding: integer token ids looked up in a learned table (Kim's text CNN starting from the sentence)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..errors import ShapeError
from .base import Kind, LayerBase, Out, RFs, Row, Shapes
from .fields import Count
from .geometry import ReceptiveField, shape_text
from .working import Working, count_text


class Embedding(LayerBase):
    """Embedding: the net's input is [L] integer token ids in [0, vocab); each becomes its row of a learned
    vocab x dim table, giving [L, dim] (a 1-D map of L positions and dim channels).  params = vocab * dim; no MACs
    (a lookup)."""

    type: Literal["embedding"] = Field(description="token ids to learned vectors")
    vocab: Count = Field(description="vocabulary size: ids run from 0 to vocab - 1")
    dim: Count = Field(description="length of each token's vector (the output's channels)")


def rule(layer: Embedding, shapes: Shapes, rfs: RFs, rounding: str) -> Out:
    shape = shapes[0]
    if len(shape) != 1 or layer.inputs != ("input",):
        got = f"[{', '.join(map(str, shape))}]"
        what = "" if layer.inputs == ("input",) else f" from '{layer.inputs[0]}'"
        raise ShapeError(f"embedding needs a 1-D input of token ids [L], got {got}{what}; it reads the net's "
                         "input (input: [L])", field="inputs")
    return Out(shape=(shape[0], layer.dim), params=layer.vocab * layer.dim,
               rf=ReceptiveField((1,), (1,), (0,)))


def heading(row: Row) -> str:
    return f"vocab {count_text(row.layer.vocab)}, dim {row.layer.dim}"


def explain(row: Row, w: Working, strict: bool) -> None:
    layer = row.layer
    w.lines.append(f"each of the {row.input_shapes[0][0]} token ids (0 to {layer.vocab - 1}) becomes its row of the "
                   f"{count_text(layer.vocab)} x {layer.dim} table")
    w.lines.append(f"parameters: {count_text(layer.vocab)} * {layer.dim} = {count_text(row.params)}; MACs 0 (a lookup)")
    w.lines.append(f"output shape: {shape_text(row.output_shape)}")


def weights(row: Row) -> dict[str, tuple[int, ...]]:
    """weight (vocab, dim), Keras's and PyTorch's layout."""
    return {"weight": (row.layer.vocab, row.layer.dim)}


KIND = Kind(Embedding, rule, heading, explain, weights)
