from .cached import CachedDataset
from .fast_pipeline import (
                            FastColorJitter,
                            FastGaussianBlur,
                            FastLoadImageFromFile,
                            FastRandomFlip,
                            FastRandomGrayscale,
                            FastRandomResizedCrop,
)
from .loading import SafeLoadImageFromFile, decode_rgb
from .samplers import (
                       InfiniteResumableSampler,
                       ResumableSampler,
                       SeededIndex,
                       SeedSampleRNG,
                       sample_seed,
                       seed_sample_rngs,
)

__all__ = [
    'CachedDataset', 'FastColorJitter', 'FastGaussianBlur', 'FastLoadImageFromFile', 'FastRandomFlip',
    'FastRandomGrayscale', 'FastRandomResizedCrop', 'InfiniteResumableSampler', 'ResumableSampler',
    'SafeLoadImageFromFile', 'SeededIndex', 'SeedSampleRNG', 'decode_rgb', 'sample_seed', 'seed_sample_rngs']
