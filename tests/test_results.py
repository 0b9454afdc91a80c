"""Results out of the docs (issue 23): per-iteration series as CSV in results/, summaries that name them, figures
redrawn from both; the docs' data stays small."""
import json
from pathlib import Path

import pytest

from simsiam_mm.errors import DataError
from simsiam_mm.results import columns, read_series, series_entry, series_file, write_series

from conftest import REPO

DOCS_DATA_LIMIT = 300 * 1024  # bytes of JSON + CSV under docs/ (issue 23)


def test_series_round_trip_and_cut_file_named(tmp_path):
    rows = [dict(iter=i, loss=-0.1234567 * i, sec=0.5) for i in range(1, 4)]
    path = write_series(tmp_path / 'a/run.csv', columns(rows, dict(iter=None, loss=5, sec=None)))
    assert path.read_text().splitlines()[:2] == ['iter,loss,sec', '1,-0.12346,0.5']
    assert read_series(path) == dict(iter=[1, 2, 3], loss=[-0.12346, -0.24691, -0.37037], sec=[0.5] * 3)
    path.write_text(path.read_text() + '4,-0.4')  # a killed writer's last line
    with pytest.raises(DataError, match=r'run\.csv:5: 2 values for 3 columns'):
        read_series(path)
    with pytest.raises(DataError, match='does not exist'):
        read_series(tmp_path / 'gone.csv')


def test_series_entry_is_relative_to_the_summary(tmp_path):
    summary = tmp_path / 'docs/x/run.json'
    entry = series_entry(tmp_path / 'results/x/run.csv', summary.parent)
    assert entry == '../../results/x/run.csv'
    assert series_file(summary, entry).resolve() == (tmp_path / 'results/x/run.csv').resolve()


def _series_entries(data):
    """Every ``series`` entry in a summary: its own, its runs', a collection's (tuning.json)."""
    if isinstance(data, dict):
        if isinstance(data.get('series'), str):
            yield data['series']
        for value in data.values():
            yield from _series_entries(value)
    elif isinstance(data, list):
        for value in data:
            yield from _series_entries(value)


def test_docs_hold_no_data_dumps():
    """JSON + CSV under docs/ within the budget, and every summary's series file is in the repository."""
    files = [p for p in (REPO / 'docs').rglob('*') if p.suffix in ('.json', '.csv')]
    total = sum(p.stat().st_size for p in files)
    assert total <= DOCS_DATA_LIMIT, sorted((p.stat().st_size, str(p)) for p in files)[-5:]
    named = 0
    for p in files:
        for entry in _series_entries(json.loads(p.read_text()) if p.suffix == '.json' else None):
            path = series_file(p, entry)
            assert path.is_file() and REPO / 'results' in path.resolve().parents, (p, entry)
            named += 1
    assert named >= 10  # the short recipe (6), its tuning runs, the collapse evidence (2 x 2)


@pytest.mark.slow  # draws a figure (matplotlib import ~2-5 s)
def test_learning_evidence_figure_redrawn_from_summary_and_series(tmp_path):
    from simsiam_mm.plots import from_summary
    summary = json.loads((REPO / 'docs/short_recipe/cifar10_seed0.json').read_text())
    series = read_series(series_file(REPO / 'docs/short_recipe/cifar10_seed0.json', summary['series']))
    assert series['iter'][-1] == summary['knn'][-1]['iter']
    path = write_series(tmp_path / 'results/run.csv', {k: v[:50] for k, v in series.items()})
    (tmp_path / 'docs').mkdir()
    (tmp_path / 'docs/run.json').write_text(json.dumps(dict(summary, series=series_entry(path, tmp_path / 'docs'))))
    out = from_summary(tmp_path / 'docs/run.json')
    assert out == tmp_path / 'docs/run.png' and out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    (tmp_path / 'docs/other.json').write_text('{"figure": "pie"}')
    with pytest.raises(DataError, match='other.json: not a summary with a figure'):
        from_summary(tmp_path / 'docs/other.json')


def test_plot_curves_reads_a_partial_last_line_and_names_a_bad_one(tmp_path, capsys):
    import importlib.util
    spec = importlib.util.spec_from_file_location('plot_curves', REPO / 'tools/analysis/plot_curves.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    good = '{"loss": -0.5, "step": 1}\n{"loss": -0.6, "step": 2}\n'
    path = Path(tmp_path / 'scalars.json')
    path.write_text(good + '{"loss": -0.')
    assert tool.load_scalars([path]) == {'loss': [(1, -0.5), (2, -0.6)]}
    assert f'{path}:3: partial last line skipped' in capsys.readouterr().err
    path.write_text('{"loss": -0.5, "step": 1}\n{"loss" -0.6}\n{"loss": -0.7, "step": 3}\n')
    with pytest.raises(DataError, match=r'scalars\.json:2: not a JSON record'):
        tool.load_scalars([path])
