"""The mathematics of a first neural-networks course, on NumPy and PyTorch.

Each submodule implements one item of the course: ``distances``, ``taylor``,
``optim``, ``activations``, ``outputs``, ``losses``, ``mlp``, ``autograd`` and
``problems``. Every function takes NumPy arrays or torch tensors and returns
the type it was given.
"""

__version__ = "0.1.0"
