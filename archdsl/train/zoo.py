"""Small hand-written networks for tests, benchmarks and examples of the training loop
(what the compiler will emit for the corresponding .arch specs)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class LeNet5(nn.Module):
    """LeNet-5 (LeCun et al. 1998) with ReLU and max pooling; input 1 x 32 x 32."""

    def __init__(self, classes: int = 10, channels: int = 1):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 6, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, 6, 14, 14)
            nn.Conv2d(6, 16, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, 16, 5, 5)
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


class TinyCNN(nn.Module):
    """conv-relu-pool, conv-relu, 2x2 adaptive pool, linear. Optional embedding output (center loss)."""

    def __init__(
        self,
        channels: int = 1,
        classes: int = 10,
        width: int = 8,
        bn: bool = False,
        embedding: int = 0,
        dropout: float = 0.0,
    ):
        super().__init__()
        norm = (lambda c: nn.BatchNorm2d(c)) if bn else (lambda c: nn.Identity())
        self.features = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1),
            norm(width),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            norm(2 * width),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),  # (B, 8 * width)
        )
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()
        self.embedding = embedding
        if embedding:
            self.embed = nn.Linear(8 * width, embedding)
            self.fc = nn.Linear(embedding, classes)
        else:
            self.fc = nn.Linear(8 * width, classes)

    def forward(self, x):
        h = self.drop(self.features(x))
        if self.embedding:
            e = self.embed(h)
            return {"logits": self.fc(F.relu(e)), "embedding": e}
        return self.fc(h)


class EmbedNet(nn.Module):
    """One image -> an embedding (Siamese / triplet networks share it across images)."""

    def __init__(self, channels: int = 1, dim: int = 16, width: int = 8):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
            nn.Linear(8 * width, dim),
        )

    def forward(self, x):
        return self.body(x)


class SiameseSigmoid(nn.Module):
    """Two images -> probability that they show the same class (shared tower, |e1 - e2|)."""

    def __init__(self, channels: int = 1, dim: int = 16, width: int = 8):
        super().__init__()
        self.tower = EmbedNet(channels, dim, width)
        self.head = nn.Linear(dim, 1)

    def forward(self, a, b):
        d = (self.tower(a) - self.tower(b)).abs()
        return torch.sigmoid(self.head(d))


class TinyUNet(nn.Module):
    """A two-level U-Net. ``valid=True`` uses unpadded convolutions (the output is smaller than
    the input, as in Ronneberger et al.) so targets must be centre-cropped."""

    def __init__(self, channels: int = 3, classes: int = 4, width: int = 8, valid: bool = False):
        super().__init__()
        p = 0 if valid else 1
        self.valid = valid

        def block(i, o):
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=p), nn.ReLU(), nn.Conv2d(o, o, 3, padding=p), nn.ReLU())

        self.down = block(channels, width)
        self.pool = nn.MaxPool2d(2)
        self.mid = block(width, 2 * width)
        self.up = nn.ConvTranspose2d(2 * width, width, 2, stride=2)
        self.dec = block(2 * width, width)
        self.out = nn.Conv2d(width, classes, 1)

    def forward(self, x):
        d = self.down(x)
        u = self.up(self.mid(self.pool(d)))
        if self.valid:  # crop the skip to the upsampled size
            dh, dw = (d.shape[-2] - u.shape[-2]) // 2, (d.shape[-1] - u.shape[-1]) // 2
            d = d[..., dh : dh + u.shape[-2], dw : dw + u.shape[-1]]
        return self.out(self.dec(torch.cat([d, u], dim=1)))


class MultiTaskNet(nn.Module):
    """Shared encoder; outputs ``class`` (3), ``mask`` (4 x H x W) and ``box`` (4)."""

    def __init__(self, channels: int = 3, width: int = 8):
        super().__init__()
        self.enc = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1), nn.ReLU()
        )
        self.seg = nn.Conv2d(width, 4, 1)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Flatten())
        self.cls = nn.Linear(16 * width, 3)
        self.box = nn.Sequential(nn.Linear(16 * width, 4), nn.Sigmoid())

    def forward(self, x):
        h = self.enc(x)
        p = self.pool(h)
        return {"class": self.cls(p), "mask": self.seg(h), "box": self.box(p)}
