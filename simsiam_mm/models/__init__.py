from .batch_augment import BatchAugDataPreprocessor
from .data_preprocessor import SimSiamDataPreprocessor
from .hypothesis import AlternatingSimSiam, MovingAverageSimSiam
from .relations import SimCLRWithPredictor, SwAVWithPredictor
from .simsiam import (
                      CrossEntropySimilarity,
                      NegativeCosineSimilarity,
                      SimSiam,
                      SimSiamHead,
                      SimSiamPredictor,
                      SimSiamProjector,
                      collapse_std,
)
from .sync_bn import CPUSyncBatchNorm, convert_to_cpu_sync_bn

__all__ = ['SimSiam', 'AlternatingSimSiam', 'MovingAverageSimSiam', 'SimCLRWithPredictor', 'SwAVWithPredictor',
           'SimSiamProjector', 'SimSiamPredictor', 'SimSiamHead', 'NegativeCosineSimilarity',
           'CrossEntropySimilarity', 'collapse_std', 'CPUSyncBatchNorm', 'convert_to_cpu_sync_bn',
           'SimSiamDataPreprocessor', 'BatchAugDataPreprocessor']
