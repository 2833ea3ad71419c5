"""Does a seed-batched (grouped) convolution round member k the same as that member alone?

    python benchmarks/repro_conv_probe.py

The DCGAN models run S seeds as one grouped convolution (``groups=S``). For each layer shape of
the MNIST DCGAN (batch 32, one thread), count the output elements of each member that differ
between ``groups=3`` and the member's own ``groups=1`` convolution. Forward only.
"""

import torch
import torch.nn.functional as F

torch.set_num_threads(1)
g = torch.Generator().manual_seed(0)
B, S = 32, 3


def probe(name, cin, cout, H, transposed=False):
    x = torch.randn(B, S * cin, H, H, generator=g)
    rows = cin if transposed else cout
    w = torch.randn(S * rows, cout if transposed else cin, 4, 4, generator=g) * 0.05
    b = torch.zeros(S * cout)
    if transposed:
        def f(x, w, b, groups):
            return F.conv_transpose2d(x, w, b, 2, 1, groups=groups)
    else:
        def f(x, w, b, groups):
            return F.conv2d(x, w, b, 2, 1, groups=groups)
    full = f(x, w, b, S)
    diffs = []
    for k in range(S):
        alone = f(x[:, k * cin:(k + 1) * cin].contiguous(), w[k * rows:(k + 1) * rows].contiguous(), b[:cout], 1)
        diffs.append(int((full[:, k * cout:(k + 1) * cout] != alone).sum()))
    print(f"| {name} | {diffs} | {full[:, :cout].numel()} |")


print("| layer | elements differing per member (groups=3 vs alone) | elements per member |")
print("|---|---|---|")
probe("D conv1 1->64, 28x28", 1, 64, 28)
probe("D conv2 64->128, 14x14", 64, 128, 14)
probe("G up1 128->64, 7x7 (transposed)", 128, 64, 7, True)
probe("G up2 64->1, 14x14 (transposed; MNIST)", 64, 1, 14, True)
probe("G up2 64->3, 14x14 (transposed; stacked MNIST)", 64, 3, 14, True)
probe("a conv 64->1, 14x14 (for comparison)", 64, 1, 14)
