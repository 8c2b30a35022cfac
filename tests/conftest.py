"""Settings shared by every test module."""

import torch

# The tests use small tensors, for which a second intra-op thread costs more
# in synchronisation than it gains; several test modules also run at once
# under pytest-xdist. Benchmarks choose their own thread counts.
torch.set_num_threads(1)
