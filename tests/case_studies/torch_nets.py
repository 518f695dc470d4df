"""The case-study nets written by hand in PyTorch, independent of archcalc's specs and arithmetic.

torchvision is not used (it is not installed, and its googlenet differs from the paper).  Each builder
returns an nn.Module for a batch of NCHW (or NCL) inputs; `count` gives what archcalc reports:
sum(p.numel()) over parameters (= archcalc's trainable params), the batchnorm running statistics
(= archcalc's non-trainable params), and conv/linear multiply-accumulates counted by forward hooks.
"""

from __future__ import annotations

import torch
from torch import nn


def vgg16() -> nn.Module:
    layers: list[nn.Module] = []
    c = 3
    for filters, convs in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        for _ in range(convs):
            layers += [nn.Conv2d(c, filters, 3, padding=1), nn.ReLU()]
            c = filters
        layers.append(nn.MaxPool2d(2, 2))
    layers += [nn.Flatten(), nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Dropout(0.5),
               nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4096, 1000)]
    return nn.Sequential(*layers)


class Basic(nn.Module):
    expansion = 1

    def __init__(self, c_in: int, width: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width))
        self.shortcut = (nn.Sequential(nn.Conv2d(c_in, width, 1, stride, bias=False), nn.BatchNorm2d(width))
                         if stride != 1 or c_in != width else nn.Identity())

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, c_in: int, width: int, stride: int) -> None:
        super().__init__()
        out = width * 4
        self.body = nn.Sequential(
            nn.Conv2d(c_in, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, out, 1, bias=False), nn.BatchNorm2d(out))
        self.shortcut = (nn.Sequential(nn.Conv2d(c_in, out, 1, stride, bias=False), nn.BatchNorm2d(out))
                         if stride != 1 or c_in != out else nn.Identity())

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


def resnet(block: type, counts: tuple[int, int, int, int]) -> nn.Module:
    stages = []
    c = 64
    for i, (width, n) in enumerate(zip((64, 128, 256, 512), counts)):
        blocks = []
        for j in range(n):
            blocks.append(block(c, width, 2 if (i > 0 and j == 0) else 1))
            c = width * block.expansion
        stages.append(nn.Sequential(*blocks))
    return nn.Sequential(
        nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
        *stages, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 1000))


def resnet18() -> nn.Module:
    return resnet(Basic, (2, 2, 2, 2))


def resnet50() -> nn.Module:
    return resnet(Bottleneck, (3, 4, 6, 3))


def resnet152() -> nn.Module:
    return resnet(Bottleneck, (3, 8, 36, 3))


class Inception(nn.Module):
    def __init__(self, c_in, c1, c3r, c3, c5r, c5, pp) -> None:
        super().__init__()
        self.b1 = nn.Sequential(nn.Conv2d(c_in, c1, 1), nn.ReLU())
        self.b3 = nn.Sequential(nn.Conv2d(c_in, c3r, 1), nn.ReLU(), nn.Conv2d(c3r, c3, 3, padding=1), nn.ReLU())
        self.b5 = nn.Sequential(nn.Conv2d(c_in, c5r, 1), nn.ReLU(), nn.Conv2d(c5r, c5, 5, padding=2), nn.ReLU())
        self.bp = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(c_in, pp, 1), nn.ReLU())
        self.out_channels = c1 + c3 + c5 + pp

    def forward(self, x):
        return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], 1)


GOOGLENET_TABLE1 = {  # Szegedy et al. 2014, Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj
    "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64), "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64), "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128), "5b": (384, 192, 384, 48, 128, 128),
}


def googlenet() -> nn.Module:
    """The paper's Inception v1: LRN, 5x5 branches, ceil-mode pools, no auxiliary heads."""
    layers: list[nn.Module] = [
        nn.Conv2d(3, 64, 7, 2, 3), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True), nn.LocalResponseNorm(5),
        nn.Conv2d(64, 64, 1), nn.ReLU(), nn.Conv2d(64, 192, 3, padding=1), nn.ReLU(), nn.LocalResponseNorm(5),
        nn.MaxPool2d(3, 2, ceil_mode=True)]
    c = 192
    for key, cfg in GOOGLENET_TABLE1.items():
        module = Inception(c, *cfg)
        module.tag = key
        layers.append(module)
        c = module.out_channels
        if key in ("3b", "4e"):
            layers.append(nn.MaxPool2d(3, 2, ceil_mode=True))
    layers += [nn.AvgPool2d(7, 1), nn.Dropout(0.4), nn.Flatten(), nn.Linear(1024, 1000)]
    return nn.Sequential(*layers)


def zfnet() -> nn.Module:
    """CS231n's ZFNet on the paper's Figure 3 sizes (see specs/zfnet.yaml)."""
    return nn.Sequential(
        nn.Conv2d(3, 96, 7, 2, 1), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True), nn.LocalResponseNorm(5, k=2),
        nn.Conv2d(96, 256, 5, 2), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True), nn.LocalResponseNorm(5, k=2),
        nn.Conv2d(256, 512, 3, padding=1), nn.ReLU(), nn.Conv2d(512, 1024, 3, padding=1), nn.ReLU(),
        nn.Conv2d(1024, 512, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Flatten(), nn.Linear(512 * 6 * 6, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4096, 1000))


class TextCNN(nn.Module):
    def __init__(self, dim: int = 300, widths=(3, 4, 5), maps: int = 100, classes: int = 2) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(dim, maps, w) for w in widths)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(maps * len(widths), classes)

    def forward(self, x):  # x: [batch, 300, 56]
        return self.fc(self.drop(torch.cat([torch.relu(c(x)).amax(-1) for c in self.convs], 1)))


def textcnn_kim() -> nn.Module:
    return TextCNN()


BUILDERS = {
    "vgg16": (vgg16, (1, 3, 224, 224)),
    "resnet18": (resnet18, (1, 3, 224, 224)),
    "resnet50": (resnet50, (1, 3, 224, 224)),
    "resnet152": (resnet152, (1, 3, 224, 224)),
    "googlenet": (googlenet, (1, 3, 224, 224)),
    "zfnet": (zfnet, (1, 3, 224, 224)),
    "textcnn_kim": (textcnn_kim, (1, 300, 56)),
}


def count(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, int]:
    """Parameters (trainable), batchnorm running stats (non-trainable) and conv/linear MACs of one forward pass."""
    macs = 0

    def hook(module, inputs, output):
        nonlocal macs
        if isinstance(module, nn.Linear):
            macs += module.in_features * module.out_features
        else:  # conv: every output element takes kernel volume x input channels per group
            k = 1
            for s in module.kernel_size:
                k *= s
            macs += output.numel() * k * (module.in_channels // module.groups)

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(input_shape))
    for h in handles:
        h.remove()
    buffers = sum(b.numel() for name, b in model.named_buffers() if not name.endswith("num_batches_tracked"))
    return {"params": sum(p.numel() for p in model.parameters()), "non_trainable": buffers, "macs": macs}


if __name__ == "__main__":  # python tests/case_studies/torch_nets.py
    for name, (build, shape) in BUILDERS.items():
        print(name, count(build(), shape))
