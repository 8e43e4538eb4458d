"""Tunnel graffiti detection: dataset tools, training, edge runtime and review service.

Subsystems are imported lazily by the CLI so that the edge runtime never pulls in torch.
"""

__version__ = "0.1.0"
