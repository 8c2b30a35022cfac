"""Settings shared by every test module."""

import torch

# The tests use small tensors, so a second intra-op thread costs more in
# synchronisation than it gains. pytest-xdist also runs two test processes at
# once. Benchmarks choose their own thread counts.
torch.set_num_threads(1)
