from .loading import SafeLoadImageFromFile, decode_rgb
from .samplers import ResumableSampler

__all__ = ['ResumableSampler', 'SafeLoadImageFromFile', 'decode_rgb']
