"""Video tokenizers: the interface, weight-free stand-ins and the Wan2.1 VAE."""

from cosmos_train.tokenizers.base import VideoTokenizer
from cosmos_train.tokenizers.standin import IdentityTokenizer, PoolingTokenizer
from cosmos_train.tokenizers.wan21 import WAN21_LATENT_MEAN, WAN21_LATENT_STD, Wan21VAE, WanVAEModel

__all__ = [
    "VideoTokenizer",
    "IdentityTokenizer",
    "PoolingTokenizer",
    "Wan21VAE",
    "WanVAEModel",
    "WAN21_LATENT_MEAN",
    "WAN21_LATENT_STD",
]
