"""Video tokenizers: the interface, weight-free stand-ins and the Wan2.1 VAE."""

from cosmos_train.tokenizers.base import VideoTokenizer
from cosmos_train.tokenizers.standin import IdentityTokenizer, PoolingTokenizer

__all__ = ["VideoTokenizer", "IdentityTokenizer", "PoolingTokenizer"]
