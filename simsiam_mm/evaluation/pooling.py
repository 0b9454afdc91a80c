"""The reference's fixed average-pooling windows for the five ResNet-50 outputs feature1..feature5.

Source: mmselfsup 0.x, ``mmselfsup/models/utils/multi_pooling.py``, ``MultiPooling.POOL_PARAMS['resnet50']`` with
``pool_type='specified'``. The reference uses them in both places that pool per-stage features, and so does this
project: the VOC07 (low-shot) SVM feature extraction (``tools/analysis/voc_svm.py``; mmselfsup 0.x
``tools/benchmarks/classification/svm_voc07/extract.py``, whose extractor pools with ``pool_type='specified'``) and
the per-stage linear heads (:class:`~simsiam_mm.evaluation.MultiStageLinearHead`; mmselfsup 0.x
``_base_/models/resnet50_multihead.py`` ``MultiClsHead(pool_type='specified')``).

At the protocol's 224 px input the stages are 112, 56, 28, 14 and 7 px wide (feature1 = the stem before the
max-pool), and the windows pool them to 12, 6, 4, 3, 2 px: 9216 / 9216 / 8192 / 9216 / 8192 dimensions for ResNet-50.
They are not adaptive pooling to those sizes: the windows overlap, and feature1's is padded.
"""
from torch import Tensor, nn

# mmselfsup 0.x mmselfsup/models/utils/multi_pooling.py POOL_PARAMS['resnet50'], feature1..feature5.
SPECIFIED_POOL_PARAMS: tuple[dict[str, int], ...] = (
    dict(kernel_size=10, stride=10, padding=4),
    dict(kernel_size=16, stride=8, padding=0),
    dict(kernel_size=13, stride=5, padding=0),
    dict(kernel_size=8, stride=3, padding=0),
    dict(kernel_size=6, stride=1, padding=0),
)
PROTOCOL_INPUT_SIZE = 224  # the side of the images the windows were chosen for (VOC07 SVM, per-stage linear)
RESNET_STAGE_STRIDES = (2, 4, 8, 16, 32)  # feature1 (stem, before the max-pool), res2..res5


def pooled_side(side: int, kernel_size: int, stride: int | None = None, padding: int = 0) -> int:
    """The output side of ``nn.AvgPool2d(kernel_size, stride, padding)`` (``ceil_mode=False``; the stride defaults
    to the kernel size, as there) on a ``side`` map.

    Examples:
        >>> pooled_side(112, **SPECIFIED_POOL_PARAMS[0])
        12
    """
    return (side + 2 * padding - kernel_size) // (stride or kernel_size) + 1


def stage_sides(input_size: int = PROTOCOL_INPUT_SIZE) -> tuple[int, ...]:
    """Sides of a ResNet's feature1..feature5 maps for a square ``input_size`` image (112, 56, 28, 14, 7 at 224)."""
    return tuple(-(-input_size // s) for s in RESNET_STAGE_STRIDES)  # each stride-2 step rounds up


# (12, 6, 4, 3, 2): what the windows give at the protocol's input size.
SPECIFIED_POOL_SIZES: tuple[int, ...] = tuple(
    pooled_side(side, **p) for side, p in zip(stage_sides(), SPECIFIED_POOL_PARAMS))


def stage_pool(stage: int) -> nn.AvgPool2d:
    """The reference pooling of feature``stage`` (1..5).

    Examples:
        >>> stage_pool(5)
        AvgPool2d(kernel_size=6, stride=1, padding=0)
    """
    if not 1 <= stage <= len(SPECIFIED_POOL_PARAMS):
        raise ValueError(f'stage {stage} outside feature1..feature{len(SPECIFIED_POOL_PARAMS)}')
    return nn.AvgPool2d(**SPECIFIED_POOL_PARAMS[stage - 1])


def check_pool_input(x: Tensor, pool: nn.AvgPool2d, name: str) -> None:
    """Raise ``ValueError`` when the feature map ``x`` (NxCxHxW) is smaller than ``pool``'s window allows."""
    k, p = pool.kernel_size, pool.padding
    k, p = (k if isinstance(k, int) else k[0]), (p if isinstance(p, int) else p[0])
    if min(x.shape[-2:]) + 2 * p < k:
        raise ValueError(f'{name} is {x.shape[-2]}x{x.shape[-1]} px, smaller than its reference pooling window '
                         f'(kernel {k}, padding {p}): the windows are set for {PROTOCOL_INPUT_SIZE} px input images '
                         f'(stages {stage_sides()} px wide); use images of that size')
