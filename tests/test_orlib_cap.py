"""The OR-Library ``cap`` reader: token stream, capacity word, per-unit costs, published optima."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from optiserv.data import CostMatrix, Instance
from optiserv.datasets.orlib_cap import (
    cap_instance_path,
    read_cap,
    read_cap_optima,
    read_optima,
)
from optiserv.exceptions import DataError


def _costs(instance: Instance) -> CostMatrix:
    assert instance.costs is not None
    return instance.costs


def _shared_folder() -> Path | None:
    for root in (Path(__file__).resolve().parents[2] / "shared", Path("/work/shared")):
        folder = root / "benchmarks" / "orlib_cap"
        if folder.is_dir():
            return folder
    return None


CAP_FOLDER = _shared_folder()
needs_data = pytest.mark.skipif(
    CAP_FOLDER is None,
    reason="the shared OR-Library folder (shared/benchmarks/orlib_cap) is not available",
)

# A 2-warehouse, 3-customer file. Customer 2's cost row wraps over two lines and customer 3's
# demand shares a line with customer 2's last cost: only the token order matters.
SMALL = """ 2 3
 10 100.
 capacity 50.5
 4 8.0 12.0
 5 10.0
 5.0 2 6.0 0.5
"""


def _write(tmp_path: Path, text: str, name: str = "tiny.txt") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# ---------------------------------------------------------------------- synthetic files
def test_small_file_maps_customers_to_demand_and_warehouses_to_sites(tmp_path: Path) -> None:
    instance = read_cap(_write(tmp_path, SMALL))
    assert instance.name == "tiny"
    assert instance.n_demand == 3
    assert instance.n_sites == 2
    assert instance.demand.ids.tolist() == [1, 2, 3]
    assert instance.sites.ids.tolist() == [1, 2]
    np.testing.assert_array_equal(instance.weight("demand"), [4, 5, 2])
    np.testing.assert_array_equal(instance.sites.cost, [100.0, 50.5])
    np.testing.assert_array_equal(instance.sites.capacity, [10.0, np.inf])
    # per unit: c_ij / d_j
    np.testing.assert_allclose(_costs(instance).dense(), [[2.0, 3.0], [2.0, 1.0], [3.0, 0.25]])
    assert _costs(instance).unit == "unit"


def test_per_unit_costs_times_demand_give_the_file_costs(tmp_path: Path) -> None:
    instance = read_cap(_write(tmp_path, SMALL))
    total = instance.weight()[:, np.newaxis] * _costs(instance).dense()
    np.testing.assert_allclose(total, [[8.0, 12.0], [10.0, 5.0], [6.0, 0.5]])


def test_line_breaks_do_not_matter(tmp_path: Path) -> None:
    one_line = read_cap(_write(tmp_path, " ".join(SMALL.split()), "flat.txt"))
    wrapped = read_cap(_write(tmp_path, "\n".join(SMALL.split()), "tall.txt"))
    np.testing.assert_array_equal(_costs(one_line).dense(), _costs(wrapped).dense())
    np.testing.assert_array_equal(one_line.weight(), wrapped.weight())


def test_capacity_argument_replaces_every_capacity(tmp_path: Path) -> None:
    instance = read_cap(_write(tmp_path, SMALL), capacity=7)
    np.testing.assert_array_equal(instance.sites.capacity, [7.0, 7.0])


def test_zero_demand_keeps_the_customer_with_weight_zero(tmp_path: Path) -> None:
    text = " 2 2\n 5 1.\n 5 1.\n 0 0.0 0.0\n 3 3.0 6.0\n"
    instance = read_cap(_write(tmp_path, text))
    assert instance.n_demand == 2
    np.testing.assert_array_equal(instance.weight(), [0.0, 3.0])
    np.testing.assert_array_equal(_costs(instance).dense(), [[0.0, 0.0], [1.0, 2.0]])


def test_zero_demand_with_positive_costs_warns_and_keeps_the_raw_costs(tmp_path: Path) -> None:
    text = " 2 2\n 5 1.\n 5 1.\n 0 4.0 9.0\n 3 3.0 6.0\n"
    with pytest.warns(UserWarning, match="zero demand but positive costs"):
        instance = read_cap(_write(tmp_path, text))
    np.testing.assert_array_equal(_costs(instance).dense()[0], [4.0, 9.0])
    assert instance.weight()[0] == 0.0


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (" 2 3\n 10 100.\n", "needs 15 tokens; the file has 4"),
        (SMALL + " 7\n", "needs 15 tokens; the file has 16"),
        (SMALL.replace("5.0 2", "5.0 two"), "customer demand or cost must be numbers"),
        (SMALL.replace("10 100.", "10 -100."), "opening cost must be non-negative"),
        (SMALL.replace(" 2 3\n", " 2 x\n"), "number of customers n must be an integer"),
        ("", "expected the header"),
    ],
)
def test_malformed_files_raise_data_errors(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(DataError, match=match):
        read_cap(_write(tmp_path, text))


def test_negative_capacity_argument_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="capacity must be a non-negative number"):
        read_cap(_write(tmp_path, SMALL), capacity=-1)


def test_read_optima_strips_txt_and_rejects_duplicates(tmp_path: Path) -> None:
    path = _write(tmp_path, "cap71.txt\t\t932615.750\n\ncapa8000        19240822.449 \n")
    assert read_optima(path) == {"cap71": 932615.75, "capa8000": 19240822.449}
    with pytest.raises(DataError, match="listed twice"):
        read_optima(_write(tmp_path, "cap1 1.0\ncap1 2.0\n", "dup.txt"))
    with pytest.raises(DataError, match="expected 'name value'"):
        read_optima(_write(tmp_path, "cap1\n", "bad.txt"))


# ---------------------------------------------------------------------- the shared files
@needs_data
def test_every_shared_file_parses_with_the_published_sizes() -> None:
    assert CAP_FOLDER is not None
    files = sorted((CAP_FOLDER / "instances").glob("*.txt"))
    files += sorted((CAP_FOLDER / "capabc_capacity_variants").glob("*.txt"))
    assert len(files) == 52
    for path in files:
        instance = read_cap(path)
        if path.stem in ("capa", "capb", "capc") or path.parent.name.startswith("capabc"):
            assert (instance.n_sites, instance.n_demand) == (100, 1000)
        else:
            assert instance.n_demand == 50
            assert instance.total_weight == 58268
        assert _costs(instance).nnz == instance.n_demand * instance.n_sites


@needs_data
def test_capacity_word_reads_as_unlimited_and_variants_as_numbers() -> None:
    assert CAP_FOLDER is not None
    plain = read_cap(cap_instance_path(CAP_FOLDER, "capa"))
    variant = read_cap(cap_instance_path(CAP_FOLDER, "capa8000"))
    assert np.isinf(plain.sites.capacity).all()
    np.testing.assert_array_equal(variant.sites.capacity, 8000.0)
    np.testing.assert_array_equal(_costs(plain).data, _costs(variant).data)
    np.testing.assert_array_equal(plain.sites.cost, variant.sites.cost)
    overridden = read_cap(cap_instance_path(CAP_FOLDER, "capa"), capacity=8000)
    np.testing.assert_array_equal(overridden.sites.capacity, variant.sites.capacity)


@needs_data
def test_cap41_first_customer_matches_the_file() -> None:
    assert CAP_FOLDER is not None
    instance = read_cap(cap_instance_path(CAP_FOLDER, "cap41"))
    assert instance.weight()[0] == 146
    total = instance.weight()[0] * _costs(instance).dense()[0]
    np.testing.assert_allclose(total[:3], [6739.725, 10355.05, 7650.4], rtol=1e-12)
    assert instance.sites.cost[10] == 0.0
    np.testing.assert_array_equal(instance.sites.capacity, 5000.0)


@needs_data
def test_published_optima_tables() -> None:
    assert CAP_FOLDER is not None
    optima = read_cap_optima(CAP_FOLDER)
    assert len(optima.capacitated) == 37 + 12
    assert len(optima.uncapacitated) == 15
    assert optima.capacitated["cap41"] == 1040444.375
    assert optima.capacitated["capc7250"] == 11505767.394
    assert optima.uncapacitated["cap71"] == 932615.750
    assert optima.uncapacitated["capc"] == 11505594.329


@needs_data
def test_unknown_instance_name_is_a_data_error() -> None:
    assert CAP_FOLDER is not None
    with pytest.raises(DataError, match="no OR-Library cap instance 'cap999'"):
        cap_instance_path(CAP_FOLDER, "cap999")
