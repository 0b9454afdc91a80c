from .loading import SafeLoadImageFromFile, decode_rgb
from .samplers import ResumableSampler, SeededIndex, sample_seed, seed_sample_rngs

__all__ = ['ResumableSampler', 'SafeLoadImageFromFile', 'SeededIndex', 'decode_rgb', 'sample_seed', 'seed_sample_rngs']
