from .cached import CachedDataset
from .fast_pipeline import (
                            FastColorJitter,
                            FastGaussianBlur,
                            FastLoadImageFromFile,
                            FastRandomFlip,
                            FastRandomGrayscale,
                            FastRandomResizedCrop,
)
from .folder import IMAGE_EXTENSIONS, CustomDataset, ImageNet
from .lighting import FloatLighting
from .loading import CheckedLoadImageFromFile, SafeLoadImageFromFile, decode_rgb
from .samplers import (
                       InfiniteResumableSampler,
                       ResumableSampler,
                       SeededIndex,
                       SeedSampleRNG,
                       sample_seed,
                       seed_sample_rngs,
)

__all__ = [
    'IMAGE_EXTENSIONS', 'CachedDataset', 'CheckedLoadImageFromFile', 'CustomDataset', 'FastColorJitter',
    'FastGaussianBlur', 'FastLoadImageFromFile', 'FastRandomFlip', 'FastRandomGrayscale', 'FastRandomResizedCrop',
    'FloatLighting', 'ImageNet', 'InfiniteResumableSampler', 'ResumableSampler', 'SafeLoadImageFromFile',
    'SeededIndex', 'SeedSampleRNG', 'decode_rgb', 'sample_seed', 'seed_sample_rngs']
