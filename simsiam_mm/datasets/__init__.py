from .fast_pipeline import (FastColorJitter, FastGaussianBlur, FastLoadImageFromFile, FastRandomFlip,
                            FastRandomGrayscale, FastRandomResizedCrop)
from .loading import SafeLoadImageFromFile, decode_rgb
from .samplers import ResumableSampler, SeededIndex, sample_seed, seed_sample_rngs

__all__ = [
    'FastColorJitter', 'FastGaussianBlur', 'FastLoadImageFromFile', 'FastRandomFlip', 'FastRandomGrayscale',
    'FastRandomResizedCrop',
    'ResumableSampler', 'SafeLoadImageFromFile', 'SeededIndex', 'decode_rgb', 'sample_seed', 'seed_sample_rngs']
