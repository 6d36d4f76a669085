"""Optimizer, learning-rate schedules and the power EMA."""

from cosmos_train.optim.ema import PowerEMA, power_ema_gamma
from cosmos_train.optim.optimizers import build_adamw
from cosmos_train.optim.schedules import (
    LambdaLinearSchedule,
    LambdaWarmUpCosineSchedule,
    build_lambda_lr,
    lambda_cosine_lr,
    lambda_linear_lr,
)

__all__ = [
    "LambdaLinearSchedule",
    "LambdaWarmUpCosineSchedule",
    "PowerEMA",
    "build_adamw",
    "build_lambda_lr",
    "lambda_cosine_lr",
    "lambda_linear_lr",
    "power_ema_gamma",
]
