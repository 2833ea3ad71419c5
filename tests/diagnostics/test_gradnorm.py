import torch
from torch import nn

from ganeval.diagnostics.gradnorm import grad_norms, layer_groups


def test_norms_equal_vector_norm_of_each_grad_for_a_plain_module():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    net(torch.randn(16, 4)).square().mean().backward()
    groups = layer_groups(net)
    assert [name for name, _ in groups] == ["0", "2"]
    norms = grad_norms(groups, seeds=None)
    per_layer = [torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in layer.parameters()]))
                 for layer in (net[0], net[2])]
    total = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in net.parameters()]))
    assert torch.allclose(norms[0], torch.stack([total, *per_layer]), rtol=1e-6)


def test_seed_batched_norms_are_per_seed():
    g = torch.randn(3, 5, 7)
    p = nn.Parameter(torch.zeros(3, 5, 7))
    norms = grad_norms([("layer", [p])], seeds=3, grads=[g])
    assert torch.allclose(norms[:, 0], torch.linalg.vector_norm(g.reshape(3, -1), dim=1))
