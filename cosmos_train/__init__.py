"""cosmos_train: a pure-PyTorch, Cosmos-compatible Video2World diffusion trainer driven by lazycfg.

Importing this package is cheap: submodules import torch when they are used.
"""
