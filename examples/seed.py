"""The seed example: a 2x2 input and a 2x2 kernel through ConvTranspose2d with several settings.

Run: python examples/seed.py
"""

import numpy as np

from convtranspose import ConvTranspose2d

x = np.array([[[[0.0, 1.0], [2.0, 3.0]]]], dtype=np.float32)
kernel = np.array([[[[1.1, 2.2], [3.3, 4.4]]]], dtype=np.float32)

settings = {
    "stride 1": dict(),
    "stride (1, 2)": dict(stride=(1, 2)),
    "dilation 2": dict(dilation=2),
    "padding 1": dict(padding=1),
    "stride 2, padding 1, output_padding 1": dict(stride=2, padding=1, output_padding=1),
}

for title, kwargs in settings.items():
    layer = ConvTranspose2d(1, 1, kernel_size=2, bias=False, **kwargs)
    layer.weight = kernel
    y = layer(x)
    print(f"{layer!r}   # {title}")
    print(np.array2string(y[0, 0], precision=2, suppress_small=True), end="\n\n")
