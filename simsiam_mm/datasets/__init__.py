from .cached import CachedDataset
from .fast_pipeline import (
                            FastColorJitter,
                            FastGaussianBlur,
                            FastLoadImageFromFile,
                            FastRandomFlip,
                            FastRandomGrayscale,
                            FastRandomResizedCrop,
)
from .lighting import FloatLighting
from .loading import SafeLoadImageFromFile, decode_rgb
from .samplers import ResumableSampler, SeededIndex, SeedSampleRNG, sample_seed, seed_sample_rngs

__all__ = [
    'CachedDataset', 'FastColorJitter', 'FloatLighting', 'FastGaussianBlur', 'FastLoadImageFromFile', 'FastRandomFlip',
    'FastRandomGrayscale', 'FastRandomResizedCrop', 'ResumableSampler', 'SafeLoadImageFromFile', 'SeededIndex',
    'SeedSampleRNG', 'decode_rgb', 'sample_seed', 'seed_sample_rngs']
