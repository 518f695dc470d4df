"""The second zoo (issue 11) written by hand in PyTorch, independent of archcalc and of torchvision's code.

Each builder returns an nn.Module taking NCHW input (token ids [batch, L] for textcnn_kim_rand).
torchvision is used only to check the parameter count of each twin against the builder of the same
name (weights=None, nothing downloaded): `python tests/case_studies/torch_zoo.py` prints both, the
batchnorm running statistics, the exact MACs and the output shape.

`count` follows archcalc's conventions: sum(p.numel()) = trainable params, batchnorm running mean and
variance = non-trainable, MACs of conv (output elements * kernel volume * C_in/groups), transposed conv
(input elements * F/groups * kernel volume, fvcore's rule) and linear (output elements * in_features,
so a Linear applied at every position counts once per position).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F


def conv_bn(c_in: int, c_out: int, kernel: int | tuple[int, int], stride: int = 1, groups: int = 1,
            act: type[nn.Module] | None = nn.ReLU, eps: float = 1e-5,
            padding: int | tuple[int, int] | None = None) -> nn.Sequential:
    """Conv without bias, batchnorm, optional activation; padding (k - 1)//2 per axis unless given."""
    ks = (kernel, kernel) if isinstance(kernel, int) else kernel
    pad = padding if padding is not None else ((ks[0] - 1) // 2, (ks[1] - 1) // 2)
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, ks, stride, pad, groups=groups, bias=False),
                               nn.BatchNorm2d(c_out, eps=eps)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class Residual(nn.Module):
    """body(x) + x when the shapes allow it, else body(x)."""

    def __init__(self, body: nn.Module, use: bool) -> None:
        super().__init__()
        self.body, self.use = body, use

    def forward(self, x):
        y = self.body(x)
        return y + x if self.use else y


class SqueezeExcite(nn.Module):
    """Global average pool, 1x1 conv down, act, 1x1 conv up, gate, multiply the input by the gate."""

    def __init__(self, c: int, squeeze: int, act: type[nn.Module], gate: type[nn.Module]) -> None:
        super().__init__()
        self.fc1, self.act = nn.Conv2d(c, squeeze, 1), act()
        self.fc2, self.gate = nn.Conv2d(squeeze, c, 1), gate()

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        return x * self.gate(self.fc2(self.act(self.fc1(s))))


def classifier_head(c: int, hidden: list[nn.Module], classes: int = 1000) -> nn.Sequential:
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), *hidden, nn.Linear(c, classes))


# ---------------------------------------------------------------- MobileNetV2 (Sandler et al. 2018, Table 2)

MOBILENET_V2_TABLE2 = [  # t (expansion), c (output channels), n (repeats), s (first stride)
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def inverted_residual(c_in: int, c_out: int, stride: int, expand: int, kernel: int = 3,
                      act: type[nn.Module] = nn.ReLU6, se: nn.Module | None = None,
                      act_dw: type[nn.Module] | None = None, eps: float = 1e-5) -> Residual:
    hidden = c_in * expand if isinstance(expand, int) and expand < 16 else expand  # MobileNetV3 gives the width
    layers: list[nn.Module] = []
    if hidden != c_in:
        layers.append(conv_bn(c_in, hidden, 1, act=act, eps=eps))
    layers.append(conv_bn(hidden, hidden, kernel, stride, groups=hidden, act=act_dw or act, eps=eps))
    if se is not None:
        layers.append(se)
    layers.append(conv_bn(hidden, c_out, 1, act=None, eps=eps))
    return Residual(nn.Sequential(*layers), stride == 1 and c_in == c_out)


def mobilenet_v2() -> nn.Module:
    layers: list[nn.Module] = [conv_bn(3, 32, 3, 2, act=nn.ReLU6)]
    c = 32
    for t, c_out, n, s in MOBILENET_V2_TABLE2:
        for i in range(n):
            layers.append(inverted_residual(c, c_out, s if i == 0 else 1, t))
            c = c_out
    layers.append(conv_bn(c, 1280, 1, act=nn.ReLU6))
    return nn.Sequential(*layers, classifier_head(1280, [nn.Dropout(0.2)]))


# ---------------------------------------------------------------- MobileNetV3-Small (Howard et al. 2019, Table 2)

MOBILENET_V3_SMALL_TABLE2 = [  # kernel, expansion size, output channels, SE, activation (RE/HS), stride
    (3, 16, 16, True, "RE", 2), (3, 72, 24, False, "RE", 2), (3, 88, 24, False, "RE", 1),
    (5, 96, 40, True, "HS", 2), (5, 240, 40, True, "HS", 1), (5, 240, 40, True, "HS", 1),
    (5, 120, 48, True, "HS", 1), (5, 144, 48, True, "HS", 1), (5, 288, 96, True, "HS", 2),
    (5, 576, 96, True, "HS", 1), (5, 576, 96, True, "HS", 1)]


def make_divisible(v: float, divisor: int = 8) -> int:
    """Round to the nearest multiple of 8, not below 8 and not more than 10 % down (the MobileNet code's rule)."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def mobilenet_v3_small() -> nn.Module:
    eps = 1e-3
    layers: list[nn.Module] = [conv_bn(3, 16, 3, 2, act=nn.Hardswish, eps=eps)]
    c = 16
    for k, exp, c_out, se, act_name, s in MOBILENET_V3_SMALL_TABLE2:
        act = nn.ReLU if act_name == "RE" else nn.Hardswish
        gate = SqueezeExcite(exp, make_divisible(exp // 4), nn.ReLU, nn.Hardsigmoid) if se else None
        layers.append(inverted_residual(c, c_out, s, exp, k, act, gate, eps=eps))
        c = c_out
    layers.append(conv_bn(c, 576, 1, act=nn.Hardswish, eps=eps))
    return nn.Sequential(*layers, classifier_head(1024, [nn.Linear(576, 1024), nn.Hardswish(), nn.Dropout(0.2)]))


# ---------------------------------------------------------------- EfficientNet-B0 (Tan & Le 2019, Table 1)

EFFICIENTNET_B0_TABLE1 = [  # expansion, kernel, stride, output channels, layers
    (1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]


def efficientnet_b0() -> nn.Module:
    layers: list[nn.Module] = [conv_bn(3, 32, 3, 2, act=nn.SiLU)]
    c = 32
    for t, k, s, c_out, n in EFFICIENTNET_B0_TABLE1:
        for i in range(n):
            se = SqueezeExcite(c * t, max(1, c // 4), nn.SiLU, nn.Sigmoid)  # squeeze to a quarter of the block input
            layers.append(inverted_residual(c, c_out, s if i == 0 else 1, t, k, nn.SiLU, se))
            c = c_out
    layers.append(conv_bn(c, 1280, 1, act=nn.SiLU))
    return nn.Sequential(*layers, classifier_head(1280, [nn.Dropout(0.2)]))


# ---------------------------------------------------------------- ShuffleNetV2 1.0x (Ma et al. 2018, Table 5)

class ShuffleUnit(nn.Module):
    """Stride 1: split channels in half, transform the second half; stride 2: two branches on the whole input.
    Then concat and channel shuffle with 2 groups."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        half = c_out // 2
        self.stride = stride
        self.branch1 = (nn.Sequential(conv_bn(c_in, c_in, 3, stride, groups=c_in, act=None), conv_bn(c_in, half, 1))
                        if stride > 1 else nn.Identity())
        first = c_in if stride > 1 else half
        self.branch2 = nn.Sequential(conv_bn(first, half, 1), conv_bn(half, half, 3, stride, groups=half, act=None),
                                     conv_bn(half, half, 1))

    def forward(self, x):
        if self.stride == 1:
            a, b = x.chunk(2, dim=1)
            y = torch.cat([a, self.branch2(b)], 1)
        else:
            y = torch.cat([self.branch1(x), self.branch2(x)], 1)
        return F.channel_shuffle(y, 2)


def shufflenet_v2_x1_0() -> nn.Module:
    layers: list[nn.Module] = [conv_bn(3, 24, 3, 2), nn.MaxPool2d(3, 2, 1)]
    c = 24
    for c_out, n in ((116, 4), (232, 8), (464, 4)):
        for i in range(n):
            layers.append(ShuffleUnit(c, c_out, 2 if i == 0 else 1))
            c = c_out
    layers.append(conv_bn(c, 1024, 1))
    return nn.Sequential(*layers, classifier_head(1024, []))


# ---------------------------------------------------------------- ConvNeXt-T (Liu et al. 2022)

class ChannelNorm(nn.Module):
    """LayerNorm over the channels at each position of an NCHW map (ConvNeXt's LayerNorm2d)."""

    def __init__(self, c: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(c, eps=eps)

    def forward(self, x):
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    """7x7 depthwise conv, layer norm, 1x1 up 4x (a Linear per position), GELU, 1x1 down, layer scale, + input."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c, eps=1e-6)
        self.up, self.down = nn.Linear(c, 4 * c), nn.Linear(4 * c, c)
        self.scale = LayerScale(c)

    def forward(self, x):
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.scale(self.down(F.gelu(self.up(self.norm(y)))))
        return x + y.permute(0, 3, 1, 2)


class LayerScale(nn.Module):
    """A learnable factor per channel (last axis), initialised to 1e-6 as in ConvNeXt."""

    def __init__(self, c: int, init: float = 1e-6) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((c,), init))

    def forward(self, x):
        return x * self.gamma


def convnext_tiny() -> nn.Module:
    layers: list[nn.Module] = [nn.Conv2d(3, 96, 4, 4), ChannelNorm(96)]
    dims, depths = (96, 192, 384, 768), (3, 3, 9, 3)
    for i, (c, n) in enumerate(zip(dims, depths)):
        if i:
            layers += [ChannelNorm(dims[i - 1]), nn.Conv2d(dims[i - 1], c, 2, 2)]
        layers += [ConvNeXtBlock(c) for _ in range(n)]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), ChannelNorm(768), nn.Flatten(), nn.Linear(768, 1000))


# ---------------------------------------------------------------- DenseNet-121 (Huang et al. 2017, Table 1)

class DenseLayer(nn.Module):
    """BN-ReLU-Conv1x1 (4k) - BN-ReLU-Conv3x3 (k), the k new maps concatenated after the input."""

    def __init__(self, c_in: int, growth: int = 32) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.BatchNorm2d(c_in), nn.ReLU(), nn.Conv2d(c_in, 4 * growth, 1, bias=False),
                                  nn.BatchNorm2d(4 * growth), nn.ReLU(),
                                  nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False))

    def forward(self, x):
        return torch.cat([x, self.body(x)], 1)


def densenet121() -> nn.Module:
    layers: list[nn.Module] = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                               nn.MaxPool2d(3, 2, 1)]
    c = 64
    for i, n in enumerate((6, 12, 24, 16)):
        for _ in range(n):
            layers.append(DenseLayer(c))
            c += 32
        if i < 3:
            layers += [nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, c // 2, 1, bias=False), nn.AvgPool2d(2, 2)]
            c //= 2
    return nn.Sequential(*layers, nn.BatchNorm2d(c), nn.ReLU(), classifier_head(c, []))


# ---------------------------------------------------------------- SqueezeNet 1.1 (Iandola et al. 2016)

class Fire(nn.Module):
    def __init__(self, c_in: int, squeeze: int, expand: int) -> None:
        super().__init__()
        self.squeeze = nn.Sequential(nn.Conv2d(c_in, squeeze, 1), nn.ReLU())
        self.e1 = nn.Sequential(nn.Conv2d(squeeze, expand, 1), nn.ReLU())
        self.e3 = nn.Sequential(nn.Conv2d(squeeze, expand, 3, padding=1), nn.ReLU())

    def forward(self, x):
        s = self.squeeze(x)
        return torch.cat([self.e1(s), self.e3(s)], 1)


def squeezenet1_1() -> nn.Module:
    def pool() -> nn.Module:
        return nn.MaxPool2d(3, 2, ceil_mode=True)
    return nn.Sequential(
        nn.Conv2d(3, 64, 3, 2), nn.ReLU(), pool(), Fire(64, 16, 64), Fire(128, 16, 64), pool(),
        Fire(128, 32, 128), Fire(256, 32, 128), pool(), Fire(256, 48, 192), Fire(384, 48, 192),
        Fire(384, 64, 256), Fire(512, 64, 256), nn.Dropout(0.5), nn.Conv2d(512, 1000, 1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten())


# ---------------------------------------------------------------- Inception v3 (Szegedy et al. 2016, Figures 5-7)

def basic(c_in: int, c_out: int, kernel: int | tuple[int, int], stride: int = 1,
          padding: int | tuple[int, int] = 0) -> nn.Sequential:
    pad = (padding, padding) if isinstance(padding, int) else padding
    return conv_bn(c_in, c_out, kernel, stride, eps=1e-3, padding=pad)


def chain(c_in: int, *convs: tuple) -> nn.Sequential:
    """Convs in a row, each given as (c_out, kernel[, stride[, padding]])."""
    out = []
    for spec in convs:
        out.append(basic(c_in, *spec))
        c_in = spec[0]
    return nn.Sequential(*out)


class Branches(nn.Module):
    """Branches on the same input, joined along channels in order."""

    def __init__(self, *branches: nn.Module) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x):
        return torch.cat([b(x) for b in self.branches], 1)


def avg_proj(c_in: int, c_out: int) -> nn.Sequential:
    """3x3/1 average pool, padding 1, padded zeros counted (count_include_pad), then a 1x1 conv."""
    return nn.Sequential(nn.AvgPool2d(3, 1, 1, count_include_pad=True), basic(c_in, c_out, 1))


def inception_a(c_in: int, pool: int) -> Branches:  # Figure 5
    return Branches(chain(c_in, (64, 1)), chain(c_in, (48, 1), (64, 5, 1, 2)),
                    chain(c_in, (64, 1), (96, 3, 1, 1), (96, 3, 1, 1)), avg_proj(c_in, pool))


def inception_b(c_in: int) -> Branches:  # grid reduction 35 -> 17
    return Branches(chain(c_in, (384, 3, 2)), chain(c_in, (64, 1), (96, 3, 1, 1), (96, 3, 2)), nn.MaxPool2d(3, 2))


def inception_c(c_in: int, c7: int) -> Branches:  # Figure 6, n = 7
    row, col = ((1, 7), 1, (0, 3)), ((7, 1), 1, (3, 0))
    return Branches(chain(c_in, (192, 1)), chain(c_in, (c7, 1), (c7, *row), (192, *col)),
                    chain(c_in, (c7, 1), (c7, *col), (c7, *row), (c7, *col), (192, *row)), avg_proj(c_in, 192))


def inception_d(c_in: int) -> Branches:  # grid reduction 17 -> 8
    return Branches(chain(c_in, (192, 1), (320, 3, 2)),
                    chain(c_in, (192, 1), (192, (1, 7), 1, (0, 3)), (192, (7, 1), 1, (3, 0)), (192, 3, 2)),
                    nn.MaxPool2d(3, 2))


class SplitTail(nn.Module):
    """A stem followed by a 1x3 and a 3x1 conv side by side (Figure 7's expanded filter bank)."""

    def __init__(self, stem: nn.Sequential, c: int) -> None:
        super().__init__()
        self.stem = stem
        self.tail = Branches(basic(c, 384, (1, 3), 1, (0, 1)), basic(c, 384, (3, 1), 1, (1, 0)))

    def forward(self, x):
        return self.tail(self.stem(x))


def inception_e(c_in: int) -> Branches:  # Figure 7
    return Branches(chain(c_in, (320, 1)), SplitTail(chain(c_in, (384, 1)), 384),
                    SplitTail(chain(c_in, (448, 1), (384, 3, 1, 1)), 384), avg_proj(c_in, 192))


def inception_v3() -> nn.Module:
    """torchvision's layout at 299x299, without the auxiliary classifier (aux_logits=False)."""
    return nn.Sequential(
        basic(3, 32, 3, 2), basic(32, 32, 3), basic(32, 64, 3, 1, 1), nn.MaxPool2d(3, 2),
        basic(64, 80, 1), basic(80, 192, 3), nn.MaxPool2d(3, 2),
        inception_a(192, 32), inception_a(256, 64), inception_a(288, 64), inception_b(288),
        inception_c(768, 128), inception_c(768, 160), inception_c(768, 160), inception_c(768, 192),
        inception_d(768), inception_e(1280), inception_e(2048),
        classifier_head(2048, [nn.Dropout(0.5)]))


# ---------------------------------------------------------------- ResNeXt-50 32x4d (Xie et al. 2017, Table 1)

class XBlock(nn.Module):
    def __init__(self, c_in: int, width: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn(c_in, width, 1), conv_bn(width, width, 3, stride, groups=32),
                                  conv_bn(width, c_out, 1, act=None))
        self.shortcut = (conv_bn(c_in, c_out, 1, stride, act=None, padding=0)
                         if stride != 1 or c_in != c_out else nn.Identity())

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


def resnext50_32x4d() -> nn.Module:
    layers: list[nn.Module] = [conv_bn(3, 64, 7, 2), nn.MaxPool2d(3, 2, 1)]
    c = 64
    for i, (width, n) in enumerate(((128, 3), (256, 4), (512, 6), (1024, 3))):
        for j in range(n):
            layers.append(XBlock(c, width, width * 2, 2 if i and not j else 1))
            c = width * 2
    return nn.Sequential(*layers, classifier_head(c, []))


# ---------------------------------------------------------------- U-Net (Ronneberger et al. 2015, Figure 1)

def double_conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3), nn.ReLU(), nn.Conv2d(c_out, c_out, 3), nn.ReLU())


def centre_crop(x, like):
    """Crop x's H and W to like's, the odd pixel after."""
    dh, dw = x.shape[2] - like.shape[2], x.shape[3] - like.shape[3]
    return x[:, :, dh // 2:x.shape[2] - (dh - dh // 2), dw // 2:x.shape[3] - (dw - dw // 2)]


class UNet(nn.Module):
    def __init__(self, c_in: int = 1, classes: int = 2) -> None:
        super().__init__()
        widths = (64, 128, 256, 512, 1024)
        self.down = nn.ModuleList()
        c = c_in
        for w in widths:
            self.down.append(double_conv(c, w))
            c = w
        self.expand = nn.ModuleList(nn.ModuleList([nn.ConvTranspose2d(w * 2, w, 2, 2), double_conv(w * 2, w)])
                                    for w in reversed(widths[:-1]))
        self.head = nn.Conv2d(64, classes, 1)

    def forward(self, x):
        skips = []
        for i, block in enumerate(self.down):
            x = block(x)
            if i < len(self.down) - 1:
                skips.append(x)
                x = F.max_pool2d(x, 2)
        for (up, convs), skip in zip(self.expand, reversed(skips)):
            x = up(x)
            x = convs(torch.cat([centre_crop(skip, x), x], 1))
        return self.head(x)


def unet() -> nn.Module:
    return UNet()


# ---------------------------------------------------------------- Kim's CNN-rand (2014)

MR_VOCABULARY = 18_765  # Kim 2014, Table 1: |V| of MR (movie reviews)


class TextCNNRand(nn.Module):
    """Randomly initialised 300-d embedding learnt with the net, then Kim's three filter widths."""

    def __init__(self, vocab: int = MR_VOCABULARY, dim: int = 300, widths=(3, 4, 5), maps: int = 100,
                 classes: int = 2) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.convs = nn.ModuleList(nn.Conv1d(dim, maps, w) for w in widths)
        self.fc = nn.Linear(maps * len(widths), classes)

    def forward(self, ids):  # ids: [batch, 56]
        x = self.embed(ids).transpose(1, 2)
        return self.fc(torch.cat([torch.relu(c(x)).amax(-1) for c in self.convs], 1))


def textcnn_kim_rand() -> nn.Module:
    return TextCNNRand()


# ---------------------------------------------------------------- registry and counting

IMAGE = (1, 3, 224, 224)
BUILDERS: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "mobilenet_v2": (mobilenet_v2, IMAGE),
    "mobilenet_v3_small": (mobilenet_v3_small, IMAGE),
    "efficientnet_b0": (efficientnet_b0, IMAGE),
    "shufflenet_v2_x1_0": (shufflenet_v2_x1_0, IMAGE),
    "convnext_tiny": (convnext_tiny, IMAGE),
    "densenet121": (densenet121, IMAGE),
    "squeezenet1_1": (squeezenet1_1, IMAGE),
    "inception_v3": (inception_v3, (1, 3, 299, 299)),
    "resnext50_32x4d": (resnext50_32x4d, IMAGE),
    "unet": (unet, (1, 1, 572, 572)),
    "textcnn_kim_rand": (textcnn_kim_rand, (1, 56)),
}

#: torchvision builder keyword arguments that give the same net (no builder for U-Net and Kim's CNN).
TORCHVISION = {name: {} for name in BUILDERS if name not in ("unet", "textcnn_kim_rand")}
TORCHVISION["inception_v3"] = {"aux_logits": False, "init_weights": False}


def example_input(shape: tuple[int, ...]) -> torch.Tensor:
    return torch.zeros(shape, dtype=torch.long) if len(shape) == 2 else torch.zeros(shape)


def count(model: nn.Module, input_shape: tuple[int, ...]) -> dict:
    """Params, batchnorm running statistics, MACs of conv/conv_transpose/linear, and the output shape."""
    macs = 0

    def hook(module, inputs, output):
        nonlocal macs
        if isinstance(module, nn.Linear):
            macs += output.numel() * module.in_features
            return
        k = 1
        for s in module.kernel_size:
            k *= s
        if isinstance(module, nn.modules.conv._ConvTransposeNd):
            macs += inputs[0].numel() * (module.out_channels // module.groups) * k
        else:
            macs += output.numel() * k * (module.in_channels // module.groups)

    kinds = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Linear)
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, kinds)]
    model.eval()
    with torch.no_grad():
        out = model(example_input(input_shape))
    for h in handles:
        h.remove()
    buffers = sum(b.numel() for name, b in model.named_buffers() if not name.endswith("num_batches_tracked"))
    return {"params": sum(p.numel() for p in model.parameters()), "non_trainable": buffers, "macs": macs,
            "output": tuple(out.shape[1:])}


def torchvision_params(name: str) -> int:
    import torchvision

    model = getattr(torchvision.models, name)(weights=None, **TORCHVISION[name])
    return sum(p.numel() for p in model.parameters())


if __name__ == "__main__":  # PYTHONPATH=. /work/venvs/torch/bin/python tests/case_studies/torch_zoo.py
    for name, (build, shape) in BUILDERS.items():
        counted = count(build(), shape)
        tv = torchvision_params(name) if name in TORCHVISION else None
        print(name, counted, "torchvision:", tv, "OK" if tv in (None, counted["params"]) else "MISMATCH")
