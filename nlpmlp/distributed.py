r"""Training in several processes: ``torchrun`` and DistributedDataParallel.

``torchrun --nproc_per_node=W -m nlpmlp train ...`` starts $W$ processes
and gives each its place through the environment variables ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK``. ``process_group`` reads them, joins the
process group and leaves it at the end, also after an error. The processes
use gloo on the CPU; when CUDA is available, process ``LOCAL_RANK`` uses
that GPU and NCCL. A single process, without torchrun, trains on the CPU.

``--batch-size`` is the global batch $B$. Every process draws the same
batch of step $s$ and keeps the rows $r, r + W, r + 2W, \dots$ of it
(``nlpmlp.data.shard_rows``), so $B$ must be a multiple of $W$. The loss of
one process on the whole batch is the mean over its $N$ target tokens.
The rows of process $r$ contain the targets $T_r$, and it minimizes

$$
L_r = \frac{W}{N} \sum_{n \in T_r} \ell_n ,
$$

and DistributedDataParallel averages the gradients over the processes, so

$$
\frac{1}{W} \sum_{r=1}^{W} \nabla L_r
= \nabla \frac{1}{N} \sum_{n=1}^{N} \ell_n ,
$$

the gradient of one process on the whole batch. Masked LM chooses a random
number of targets per row, so $|T_r|$ differs between processes, and the
mean of each process's own mean loss would weigh their targets unequally.

Only rank 0 writes the run directory, logs at the INFO level, shows the
progress bar and evaluates; the others wait for it at the next step.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from nlpmlp.errors import ConfigError, NlpmlpError

__all__ = [
    "SINGLE_PROCESS",
    "DistributedContext",
    "all_gather",
    "all_reduce_sum",
    "check_batch_size",
    "context_from_environment",
    "loss_weight",
    "process_group",
    "process_seed",
    "share_from_main",
    "wrap_model",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
_DROPOUT_STREAM = 2  # keeps process seeds distinct from nlpmlp.data's streams 0, 1


@dataclass(frozen=True)
class DistributedContext:
    """The place of this process among the training processes."""

    rank: int = 0  # 0 .. world_size - 1; rank 0 writes the run directory
    world_size: int = 1  # number of training processes
    local_rank: int = 0  # rank among the processes of this machine
    device: str = "cpu"  # torch device of the model and the batches

    @property
    def is_main(self) -> bool:
        """Whether this process writes files, logs and evaluates."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        """Whether there are other processes to synchronize with."""
        return self.world_size > 1


SINGLE_PROCESS = DistributedContext()


def context_from_environment(
    environment: Mapping[str, str] | None = None,
) -> DistributedContext:
    """Read the launch variables of torchrun; a single process when none is set.

    Raises
    ------
    ConfigError
        If only some of ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` are set,
        or their values are not a valid place among the processes.
    """
    environment = os.environ if environment is None else environment
    given = [name for name in _LAUNCH_VARIABLES if name in environment]
    if not given:
        return SINGLE_PROCESS
    if len(given) < len(_LAUNCH_VARIABLES):
        missing = [name for name in _LAUNCH_VARIABLES if name not in given]
        raise ConfigError(
            f"environment variables {', '.join(given)} are set but "
            f"{', '.join(missing)} not; start several processes with torchrun, "
            "which sets all three"
        )
    rank, world_size, local_rank = (
        _integer_variable(environment, name) for name in _LAUNCH_VARIABLES
    )
    if world_size < 1 or not 0 <= rank < world_size or local_rank < 0:
        raise ConfigError(
            f"invalid torchrun environment: RANK={rank}, WORLD_SIZE={world_size}, "
            f"LOCAL_RANK={local_rank}; expected 0 <= RANK < WORLD_SIZE and "
            "LOCAL_RANK >= 0"
        )
    device = _device(world_size, local_rank)
    return DistributedContext(rank, world_size, local_rank, device)


@contextmanager
def process_group(
    environment: Mapping[str, str] | None = None,
) -> Iterator[DistributedContext]:
    """Join the process group of torchrun for the duration of the block.

    Without torchrun, or with one process, there is no group to join and the
    block runs as a single process. The group is destroyed when the block
    ends, also by an exception, so no process waits for a peer that has
    gone.
    """
    context = context_from_environment(environment)
    if not context.is_distributed:
        yield context
        return
    backend = "nccl" if context.device.startswith("cuda") else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(context.device)
    dist.init_process_group(backend, rank=context.rank, world_size=context.world_size)
    logger.debug(
        "rank %d of %d joined the %s group", context.rank, context.world_size, backend
    )
    try:
        yield context
    finally:
        dist.destroy_process_group()


def check_batch_size(batch_size: int, context: DistributedContext) -> None:
    """Raise ``ConfigError`` unless the processes can split the global batch."""
    if batch_size % context.world_size:
        raise ConfigError(
            f"--batch-size {batch_size} is the global batch and must be a multiple "
            f"of the {context.world_size} processes; give a multiple of "
            f"{context.world_size}"
        )


def loss_weight(n_local: int, n_targets: int, context: DistributedContext) -> float:
    r"""Return $W |T_r| / N$, the factor from this process's mean loss to $L_r$.

    Parameters
    ----------
    n_local : int
        $|T_r|$, the targets in this process's rows.
    n_targets : int
        $N$, the targets of the whole batch (at least 1).
    context : DistributedContext
        Gives $W$, the number of processes.
    """
    return n_local * context.world_size / n_targets


def wrap_model(model: nn.Module, context: DistributedContext) -> nn.Module:
    """Return ``model`` in DistributedDataParallel, or itself in one process.

    The feed-forward sublayers are ``torch.autograd.Function``s that take
    their weights as inputs, so autograd accumulates into the parameters
    and DDP's gradient hooks fire as for built-in layers.
    """
    if not context.is_distributed:
        return model
    device_ids = [context.local_rank] if context.device.startswith("cuda") else None
    return DistributedDataParallel(model, device_ids=device_ids)


def all_reduce_sum(values: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    """Sum ``values`` over the processes, in place, and return them."""
    if context.is_distributed:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def all_gather(value: T, context: DistributedContext) -> list[T]:
    """Return ``value`` of every process, in rank order (picklable values)."""
    if not context.is_distributed:
        return [value]
    values: list[Any] = [None] * context.world_size
    dist.all_gather_object(values, value)
    return values


def share_from_main(compute: Callable[[], T], context: DistributedContext) -> T:
    """Run ``compute`` on rank 0 alone and return its result on every rank.

    An ``NlpmlpError`` of ``compute`` is raised on every rank with the same
    message, so all processes stop with the same one-line error in place of
    waiting for rank 0. Any other exception is raised on rank 0 with its
    traceback, and the other ranks raise ``RuntimeError``.
    """
    if not context.is_distributed:
        return compute()
    outcome: list[Any] = [None]
    failure: BaseException | None = None
    if context.is_main:
        try:
            outcome = [("value", compute())]
        except NlpmlpError as error:
            outcome = [("error", error)]
        except BaseException as error:
            outcome, failure = [("failed", None)], error
    dist.broadcast_object_list(outcome, src=0)
    kind, payload = outcome[0]
    if failure is not None:
        raise failure
    if kind == "error":
        raise payload
    if kind == "failed":
        raise RuntimeError("rank 0 failed while preparing the run; see its error")
    return payload


def process_seed(seed: int, step: int, rank: int) -> int:
    """Return the seed of process ``rank``'s dropout draws from step ``step`` on.

    Each process seeds torch's global generator with its own value, so that
    no two processes draw the same dropout masks for their rows.
    """
    entropy = (seed, _DROPOUT_STREAM, step, rank)
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def _integer_variable(environment: Mapping[str, str], name: str) -> int:
    text = environment[name]
    try:
        return int(text)
    except ValueError:
        raise ConfigError(
            f"environment variable {name}={text!r} is not an integer"
        ) from None


def _device(world_size: int, local_rank: int) -> str:
    if world_size == 1 or not torch.cuda.is_available():
        return "cpu"
    # NOTE: the CUDA path (NCCL, one GPU per process) has not been run in
    # this project's tests, which have only CPUs.
    if local_rank >= torch.cuda.device_count():
        raise ConfigError(
            f"LOCAL_RANK {local_rank} has no GPU: this machine has "
            f"{torch.cuda.device_count()}; start at most that many processes "
            "per machine"
        )
    return f"cuda:{local_rank}"
