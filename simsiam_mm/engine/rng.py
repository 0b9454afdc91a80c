"""Capture and restore every random number generator a training step draws from (python, numpy, torch, CUDA).

A checkpoint that stores these, together with the data order, lets a killed run continue with exactly the random
augmentations the uninterrupted run would have drawn. The states are stored as plain python containers and tensors
(no numpy arrays) so ``torch.load(weights_only=True)`` reads them without extra allow-listed globals.
"""
import random

import numpy as np
import torch
import torch.distributed as dist


def get_rng_state() -> dict:
    """The current generator states of this process.

    Examples:
        >>> state = get_rng_state()
        >>> a = torch.rand(1); set_rng_state(state); torch.equal(a, torch.rand(1))
        True
    """
    kind, keys, pos, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    state = dict(
        python=random.getstate(),  # (version, tuple of 625 ints, gauss_next)
        numpy=(kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached_gaussian)),
        torch=torch.get_rng_state(),
    )
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`get_rng_state` returned."""
    random.setstate(_to_tuple(state['python']))
    kind, keys, pos, has_gauss, cached_gaussian = state['numpy']
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached_gaussian))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available() and len(state['cuda']) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state['cuda'])


def gather_rng_states() -> list[dict]:
    """The generator states of every rank, in rank order (a collective: call it on all ranks)."""
    state = get_rng_state()
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [state]
    states: list = [None] * dist.get_world_size()
    dist.all_gather_object(states, state)
    return states


def _to_tuple(x):
    """``random.setstate`` wants tuples; a checkpoint round trip may hand back lists."""
    return tuple(_to_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x
