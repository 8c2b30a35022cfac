r"""Optimizers of the course: SGD, AdaGrad, RMSProp, Adam and AdamW.

Two forms of each, with torch.optim's arithmetic:

- pure update rules on NumPy arrays and torch tensors, here and in
  :mod:`foundations.optim.functional`: ``w, state = adam(w, g, state)``;
- ``torch.optim.Optimizer`` subclasses in :mod:`foundations.optim.torch`
  (imported on demand, so ``import foundations.optim`` does not load torch).

:mod:`foundations.optim.study` compares them on shared test problems.
"""

from foundations.optim.functional import (
    AdaGradState,
    AdamState,
    RMSPropState,
    SGDState,
    adagrad,
    adam,
    adamw,
    rmsprop,
    sgd,
)

__all__ = [
    "AdaGradState",
    "AdamState",
    "RMSPropState",
    "SGDState",
    "adagrad",
    "adam",
    "adamw",
    "rmsprop",
    "sgd",
]
