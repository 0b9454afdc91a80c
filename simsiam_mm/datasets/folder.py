"""Image folders: every common image format is read, and every file left out is counted and named.

mmpretrain's ``CustomDataset`` and ``ImageNet`` keep only ``.jpg .jpeg .png .ppm .bmp .pgm .tif`` and drop every
other file without a word: a folder of 94 images in which 18 were ``.webp``, ``.tiff`` or ``.gif`` trained on 76.
Registered under the same names in our scope, the classes here read every extension in :data:`IMAGE_EXTENSIONS`
(formats Pillow decodes, which :class:`~simsiam_mm.datasets.SafeLoadImageFromFile` and our ``LoadImageFromFile``
use where OpenCV cannot) and log one line for the files they still leave out::

    CustomDataset: left out 2 files that are not images under data/my_images/train (the extensions read: .bmp,
    .dib, ...): e.g. lemon/notes.txt
"""
import os.path as osp
from collections.abc import Sequence

from mmengine.logging import print_log
from mmpretrain.datasets import CustomDataset as MMPretrainCustomDataset
from mmpretrain.datasets import ImageNet as MMPretrainImageNet

from simsiam_mm.registry import DATASETS

#: Extensions of the image files a folder dataset reads: mmpretrain's list and the other raster formats Pillow
#: decodes (JPEG's other names, the PNM family, DIB, TIFF's long name, WebP, GIF: its first frame).
IMAGE_EXTENSIONS: tuple[str, ...] = ('.bmp', '.dib', '.gif', '.jfif', '.jpe', '.jpeg', '.jpg', '.pbm', '.pgm',
                                     '.png', '.pnm', '.ppm', '.tif', '.tiff', '.webp')
EXAMPLES = 3  # left-out files named in the message


def left_out_message(dataset_name: str, folder: str, examples: Sequence[str], extensions: Sequence[str],
                     count: int) -> str:
    """``<name>: left out N files that are not images under <folder> (the extensions read: ...): e.g. a.txt``."""
    shown = ', '.join(examples[:EXAMPLES]) + (', ...' if len(examples) > EXAMPLES else '')
    noun = 'file that is not an image' if count == 1 else 'files that are not images'
    return (f'{dataset_name}: left out {count} {noun} under {folder} (the extensions read: '
            f'{", ".join(sorted(extensions))}): e.g. {shown}')


class CountLeftOutMixin:
    """Count the files a folder scan rejects (``is_valid_file``) and log one line naming a few of them."""

    def is_valid_file(self, filename: str) -> bool:
        valid = super().is_valid_file(filename)
        if not valid:
            self.__dict__.setdefault('left_out_files', []).append(filename)
        return valid

    def _find_samples(self):
        self.left_out_files = []
        samples = super()._find_samples()
        if self.left_out_files:
            print_log(left_out_message(type(self).__name__, self.img_prefix, self._examples(), self.extensions,
                                       len(self.left_out_files)), logger='current')
        return samples

    def _examples(self) -> list[str]:
        """A few left-out files, as paths under the image folder (the scan gives them relative to their class)."""
        classes = sorted(getattr(self, 'folder_to_idx', None) or [''])
        examples = []
        for name in dict.fromkeys(self.left_out_files):  # unique, in scan order
            found = next((osp.join(c, name) for c in classes if osp.exists(osp.join(self.img_prefix, c, name))), name)
            examples.append(found)
            if len(examples) > EXAMPLES:
                break
        return examples


@DATASETS.register_module()
class CustomDataset(CountLeftOutMixin, MMPretrainCustomDataset):
    """mmpretrain's ``CustomDataset`` (same arguments, same samples and labels for its extensions) reading every
    extension of :data:`IMAGE_EXTENSIONS` by default and logging how many files it left out, and which."""

    def __init__(self, *args, extensions: Sequence[str] = IMAGE_EXTENSIONS, **kwargs) -> None:
        super().__init__(*args, extensions=extensions, **kwargs)


@DATASETS.register_module()
class ImageNet(CountLeftOutMixin, MMPretrainImageNet):
    """mmpretrain's ``ImageNet`` (its 1000 class names) with :data:`IMAGE_EXTENSIONS` and the left-out count."""

    IMG_EXTENSIONS = IMAGE_EXTENSIONS
