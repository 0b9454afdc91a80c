"""What a converter did to each key, printed as counts so no weight crosses a format border silently."""
from dataclasses import dataclass, field

from torch import Tensor

from simsiam_mm.errors import ConversionError  # noqa: F401  (defined with the package's other errors; re-exported)


@dataclass
class ConversionReport:
    """Keys a conversion carried over, skipped on purpose, did not recognise, or created.

    - ``converted``: (source key, target key) pairs written to the output.
    - ``skipped``: (source key, reason) for keys deliberately left out (neck/head for a backbone-only format, BN
      ``num_batches_tracked`` for detectron2, a bias folded into a running mean, ...).
    - ``unexpected``: source keys the converter does not recognise; a conversion fails on them unless told otherwise.
    - ``added``: (target key, reason) for keys the target format needs but the source lacks (torchvision's ``fc``,
      the official frozen projector bias written as zeros).

    Examples:
        >>> report = ConversionReport('demo')
        >>> report.converted.append(('backbone.conv1.weight', 'conv1.weight'))
        >>> report.summary()
        '[demo] converted: 1, skipped: 0, unexpected: 0, added: 0'
    """

    name: str
    converted: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    added: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        return (f'[{self.name}] converted: {len(self.converted)}, skipped: {len(self.skipped)}, '
                f'unexpected: {len(self.unexpected)}, added: {len(self.added)}')

    def details(self, max_lines: int = 10) -> str:
        """The summary plus the skipped, unexpected and added keys (grouped by reason, at most ``max_lines`` each)."""
        lines = [self.summary()]
        by_reason: dict[str, list[str]] = {}
        for key, reason in self.skipped:
            by_reason.setdefault(reason, []).append(key)
        for reason, keys in by_reason.items():
            lines.append(f'  skipped {len(keys)} ({reason}): {_abbrev(keys, max_lines)}')
        if self.unexpected:
            lines.append(f'  unexpected {len(self.unexpected)}: {_abbrev(self.unexpected, max_lines)}')
        for key, reason in self.added:
            lines.append(f'  added {key} ({reason})')
        return '\n'.join(lines)

    def check_unexpected(self, source: str, allow_unexpected: bool = False) -> None:
        if self.unexpected and not allow_unexpected:
            raise ConversionError(
                f'{source}: {len(self.unexpected)} key(s) this converter does not recognise: '
                f'{_abbrev(self.unexpected, 5)} (pass allow_unexpected / --allow-unexpected to drop them)')


def check_shape(source: str, key: str, value: Tensor, expected: tuple[int, ...], target: str) -> None:
    """Fail with the key and both shapes when ``value`` does not have the ``expected`` shape of ``target``."""
    if tuple(value.shape) != tuple(expected):
        raise ConversionError(
            f'{source}: shape mismatch for {key}: {tuple(value.shape)} in the checkpoint, {tuple(expected)} expected '
            f'by {target}')


def _abbrev(keys: list[str], n: int) -> str:
    return ', '.join(keys[:n]) + (f', ... ({len(keys) - n} more)' if len(keys) > n else '')
