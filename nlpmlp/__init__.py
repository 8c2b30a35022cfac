"""A small Transformer encoder whose feed-forward sublayers are foundations MLPs."""

__version__ = "0.1.0"
