from .batch_augment import BatchAugDataPreprocessor
from .data_preprocessor import SimSiamDataPreprocessor
from .heads import SimSiamHead, SimSiamPredictor
from .losses import NegativeCosineSimilarity, collapse_std
from .multi_stage import MultiStageLinearHead, ResNetAllStages
from .necks import SimSiamProjector
from .simsiam import SimSiam

__all__ = ['SimSiam', 'SimSiamProjector', 'SimSiamPredictor', 'SimSiamHead', 'NegativeCosineSimilarity',
           'collapse_std', 'ResNetAllStages', 'MultiStageLinearHead', 'SimSiamDataPreprocessor',
           'BatchAugDataPreprocessor']
