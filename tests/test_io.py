"""Reading user tables and files into an Instance: round trips and every user mistake."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer
from shapely.geometry import LineString

from optiserv.data import Instance, SiteStatus
from optiserv.data.io import (
    instance_from_frames,
    instance_from_geodataframes,
    read_instance_csv,
)
from optiserv.exceptions import DataError

DEMAND_CSV = """\
id,x,y,weight,weight_aged_70,name
d1,0,0,10,2,farm
d2,1000,0,20,5,village
d3,2000,500,30,0,village
"""
SITES_CSV = """\
id,x,y,fixed,forbidden,capacity,cost
s1,500,0,1,0,100,5
s2,1500,0,0,0,,7
s3,3000,0,0,1,50,
"""
COSTS_CSV = """\
demand_id,site_id,cost
d1,s1,500
d2,s1,500
d2,s2,510.5
d3,s3,inf
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {
        "demand": write(tmp_path, "demand_in.csv", DEMAND_CSV),
        "sites": write(tmp_path, "sites_in.csv", SITES_CSV),
        "costs": write(tmp_path, "costs_in.csv", COSTS_CSV),
    }


# ---------------------------------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------------------------------
def test_csv_round_trip(files: dict[str, Path]) -> None:
    instance = read_instance_csv(files["demand"], files["sites"])
    assert isinstance(instance, Instance)
    assert instance.name == "demand_in"
    assert instance.demand.ids.tolist() == ["d1", "d2", "d3"]
    np.testing.assert_array_equal(
        instance.demand.coordinates, [[0, 0], [1000, 0], [2000, 500]]
    )
    # weight first, then weight_<group>; the text column 'name' is ignored
    assert instance.demand.weight_names == ["weight", "weight_aged_70"]
    np.testing.assert_array_equal(instance.weight(), [10, 20, 30])
    np.testing.assert_array_equal(instance.weight("weight_aged_70"), [2, 5, 0])
    assert instance.sites.ids.tolist() == ["s1", "s2", "s3"]
    assert instance.sites.status.tolist() == [
        SiteStatus.FIXED,
        SiteStatus.CANDIDATE,
        SiteStatus.FORBIDDEN,
    ]
    np.testing.assert_array_equal(instance.sites.capacity, [100, np.inf, 50])
    np.testing.assert_array_equal(instance.sites.cost, [5, 7, 0])
    assert instance.costs is None
    assert instance.metric == "euclidean"


def test_costs_file_replaces_distances_and_missing_pairs_are_unreachable(
    files: dict[str, Path],
) -> None:
    instance = read_instance_csv(files["demand"], files["sites"], files["costs"])
    assert instance.costs is not None
    expected = np.full((3, 3), np.inf)
    expected[0, 0] = 500
    expected[1, 0] = 500
    expected[1, 1] = 510.5
    np.testing.assert_array_equal(instance.costs.dense(), expected)


def test_integer_ids_stay_integers_and_leading_zeros_stay_text(tmp_path: Path) -> None:
    demand = write(tmp_path, "d.csv", "id,x,y,weight\n7,0,0,1\n12,1,1,1\n")
    sites = write(tmp_path, "s.csv", "id,x,y\n007,0,0\n8,1,1\n")
    costs = write(tmp_path, "c.csv", "demand_id,site_id,cost\n7,007,1\n12,8,2\n")
    instance = read_instance_csv(demand, sites, costs)
    assert instance.demand.ids.tolist() == [7, 12]
    assert instance.sites.ids.tolist() == ["007", "8"]
    np.testing.assert_array_equal(instance.costs.dense(), [[1, np.inf], [np.inf, 2]])


def test_costs_ids_with_spaces_and_blank_ids(tmp_path: Path, files: dict[str, Path]) -> None:
    spaced = write(tmp_path, "spaced_costs.csv", "demand_id,site_id,cost\nd1 ,s1  ,5\nd2,s2,6\n")
    instance = read_instance_csv(files["demand"], files["sites"], spaced)
    assert instance.costs.dense()[0, 0] == 5 and instance.costs.dense()[1, 1] == 6
    blank = write(tmp_path, "blank_costs.csv", "demand_id,site_id,cost\nd1,s1,5\n,s2,6\n")
    expected = r"blank_costs\.csv': column 'demand_id': missing ids at line 3"
    with pytest.raises(DataError, match=expected):
        read_instance_csv(files["demand"], files["sites"], blank)


def test_costs_frame_with_integer_and_float_ids() -> None:
    demand = pd.DataFrame({"id": [10, 20], "x": [0.0, 1.0], "y": [0.0, 0.0], "weight": [1, 1]})
    sites = pd.DataFrame({"id": [1, 2], "x": [0.0, 1.0], "y": [0.0, 0.0]})
    integer = pd.DataFrame({"demand_id": [10, 20], "site_id": [2, 1], "cost": [3.0, 4.0]})
    floats = pd.DataFrame({"demand_id": [10.0, 20.0], "site_id": [2.0, np.nan], "cost": [3, 4]})
    dense = instance_from_frames(demand, sites, costs=integer).costs.dense()
    np.testing.assert_array_equal(dense, [[np.inf, 3], [4, np.inf]])
    with pytest.raises(DataError, match=r"costs table: column 'site_id': missing ids at row 1"):
        instance_from_frames(demand, sites, costs=floats)
    unknown = integer.assign(site_id=[2, 3])
    with pytest.raises(DataError, match=r"column 'site_id': ids not in the sites table: 3"):
        instance_from_frames(demand, sites, costs=unknown)


def test_status_column_words_and_numbers(tmp_path: Path) -> None:
    demand = write(tmp_path, "d.csv", "id,x,y,weight\n1,0,0,1\n")
    sites = write(
        tmp_path, "s.csv", "id,x,y,status\na,0,0,Fixed\nb,1,0,forbidden\nc,2,0,\nd,3,0,2\n"
    )
    instance = read_instance_csv(demand, sites)
    assert instance.sites.status.tolist() == [1, 2, 0, 2]


def test_semicolon_file_with_decimal_comma_and_bom(tmp_path: Path) -> None:
    demand = tmp_path / "d.csv"
    demand.write_bytes("\ufeffid;x;y;weight\n1;0,5;0;2,25\n\n2;3;4;1\n".encode())
    sites = write(tmp_path, "s.csv", "id\tx\ty\nA\t0\t0\n")
    instance = read_instance_csv(demand, sites)
    np.testing.assert_array_equal(instance.demand.coordinates, [[0.5, 0], [3, 4]])
    np.testing.assert_array_equal(instance.weight(), [2.25, 1])


def test_explicit_weight_columns(tmp_path: Path) -> None:
    demand = write(tmp_path, "d.csv", "id,x,y,people,old\n1,0,0,5,1\n")
    sites = write(tmp_path, "s.csv", "id,x,y\nA,0,0\n")
    instance = read_instance_csv(demand, sites, weights=("old", "people"))
    assert instance.demand.weight_names == ["old", "people"]
    assert instance.total_weight == 1


def test_frames_round_trip_with_other_column_names() -> None:
    demand = pd.DataFrame(
        {"code": [3, 1, 2], "east": [0.0, 10.0, 20.0], "north": [0, 0, 5], "pop": [1, 2, 3]}
    )
    sites = pd.DataFrame(
        {"code": ["x", "y"], "east": [5.0, 15.0], "north": [0.0, 0.0], "fixed": [True, False]}
    )
    costs = pd.DataFrame({"demand_id": [3, 2], "site_id": ["y", "x"], "cost": [4.0, 0.0]})
    instance = instance_from_frames(
        demand, sites, x="east", y="north", id="code", weights=["pop"], crs="EPSG:3006",
        costs=costs,
    )
    assert instance.demand.ids.tolist() == [3, 1, 2]
    assert instance.crs == "EPSG:3006"
    assert instance.sites.fixed.tolist() == [True, False]
    dense = instance.costs.dense()
    assert dense[0, 1] == 4.0 and dense[2, 0] == 0.0  # an explicit zero is kept
    assert np.isinf(dense[1]).all()


def test_frame_errors_name_the_table() -> None:
    demand = pd.DataFrame({"id": [1, 2], "x": [0.0, np.nan], "y": [0.0, 0.0], "weight": [1, 1]})
    sites = pd.DataFrame({"id": [1], "x": [0.0], "y": [0.0]})
    with pytest.raises(DataError, match=r"demand table: column 'x': NaN .* ids 2"):
        instance_from_frames(demand, sites)


# ---------------------------------------------------------------------------------------------
# GeoDataFrames
# ---------------------------------------------------------------------------------------------
LON = [18.0686, 17.6389, 13.0038, 20.2630]
LAT = [59.3293, 59.8586, 55.6050, 63.8258]


def geo_frames(crs: str = "EPSG:4326") -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    demand = gpd.GeoDataFrame(
        {"id": ["sthlm", "upps", "malmo", "umea"], "weight": [4.0, 3.0, 2.0, 1.0]},
        geometry=gpd.points_from_xy(LON, LAT),
        crs="EPSG:4326",
    ).to_crs(crs)
    sites = gpd.GeoDataFrame(
        {"id": [1, 2], "status": ["fixed", "candidate"]},
        geometry=gpd.points_from_xy([18.0, 15.0], [59.0, 57.0]),
        crs="EPSG:4326",
    ).to_crs(crs)
    return demand, sites


def test_geographic_input_is_projected_to_sweref99_tm() -> None:
    demand, sites = geo_frames()
    instance = instance_from_geodataframes(demand, sites)
    transformer = Transformer.from_crs("EPSG:4326", "EPSG:3006", always_xy=True)
    x, y = transformer.transform(LON, LAT)
    np.testing.assert_allclose(instance.demand.coordinates, np.column_stack([x, y]), atol=1e-3)
    assert instance.crs == "EPSG:3006"
    assert instance.metric == "euclidean"
    assert instance.sites.fixed.tolist() == [True, False]
    assert instance.demand.ids.tolist() == ["sthlm", "upps", "malmo", "umea"]


def test_haversine_keeps_longitude_latitude_even_from_a_projected_input() -> None:
    instance = instance_from_geodataframes(*geo_frames(), metric="haversine")
    np.testing.assert_allclose(instance.demand.coordinates, np.column_stack([LON, LAT]))
    assert instance.crs == "EPSG:4326" and instance.metric == "haversine"
    projected = instance_from_geodataframes(*geo_frames("EPSG:3006"), metric="haversine")
    np.testing.assert_allclose(projected.demand.coordinates, np.column_stack([LON, LAT]))


def test_projected_input_can_be_kept_as_is() -> None:
    demand, sites = geo_frames("EPSG:3006")
    instance = instance_from_geodataframes(demand, sites, target_crs=None)
    np.testing.assert_allclose(instance.demand.coordinates[:, 0], demand.geometry.x)
    assert instance.crs == "EPSG:3006"


def test_crs_mismatch_names_both() -> None:
    demand, _ = geo_frames()
    _, sites = geo_frames("EPSG:3006")
    with pytest.raises(DataError, match=r"EPSG:4326.*EPSG:3006"):
        instance_from_geodataframes(demand, sites)


def test_missing_crs_and_degree_target_are_errors() -> None:
    demand, sites = geo_frames()
    with pytest.raises(DataError, match="sites table: the GeoDataFrame has no CRS"):
        instance_from_geodataframes(demand, sites.set_crs(None, allow_override=True))
    with pytest.raises(DataError, match="not in metres"):
        instance_from_geodataframes(demand, sites, target_crs="EPSG:4326")
    with pytest.raises(DataError, match="geographic"):
        instance_from_geodataframes(demand, sites, target_crs=None)


def test_non_point_geometries_are_refused_with_their_ids() -> None:
    demand, sites = geo_frames()
    sites.loc[1, "geometry"] = LineString([(15, 57), (16, 58)])
    with pytest.raises(DataError, match=r"sites table: column 'geometry': only Point.*2 "):
        instance_from_geodataframes(demand, sites)


# ---------------------------------------------------------------------------------------------
# Every user mistake: a DataError naming the file, the column and the offending ids
# ---------------------------------------------------------------------------------------------
def replaced(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


BAD_INPUTS = {
    # case: (which file, its new text, fragments the message must contain)
    "missing demand column": (
        "demand", DEMAND_CSV.replace(",weight,", ",people,"), ["'weight'"]
    ),
    "missing site column": ("sites", SITES_CSV.replace("id,x,y", "id,x,northing"), ["'y'"]),
    "non-numeric coordinate": (
        "demand", replaced(DEMAND_CSV, "d2,1000", "d2,1OOO"), ["'x'", "'d2'", "1OOO"]
    ),
    "NaN coordinate": ("sites", replaced(SITES_CSV, "s2,1500,0", "s2,1500,nan"), ["'y'", "'s2'"]),
    "infinite coordinate": (
        "demand", replaced(DEMAND_CSV, "d3,2000", "d3,inf"), ["'x'", "'d3'", "inf"]
    ),
    "missing coordinate": ("demand", replaced(DEMAND_CSV, "d1,0,0", "d1,,0"), ["'x'", "'d1'"]),
    "negative weight": (
        "demand", replaced(DEMAND_CSV, "d2,1000,0,20", "d2,1000,0,-20"), ["'weight'", "'d2'", "-20"]
    ),
    "negative extra weight": (
        "demand", replaced(DEMAND_CSV, "30,0,", "30,-1,"), ["'weight_aged_70'", "'d3'"]
    ),
    "non-numeric weight": (
        "demand", replaced(DEMAND_CSV, "d1,0,0,10", "d1,0,0,ten"), ["'weight'", "'d1'", "ten"]
    ),
    "duplicate demand ids": ("demand", replaced(DEMAND_CSV, "d3,", "d1,"), ["'id'", "'d1'"]),
    "duplicate site ids": ("sites", replaced(SITES_CSV, "s3,", "s2,"), ["'id'", "'s2'"]),
    "missing id": ("demand", replaced(DEMAND_CSV, "d2,", ","), ["'id'", "line 3"]),
    "fixed not 0/1": (
        "sites", replaced(SITES_CSV, "s2,1500,0,0", "s2,1500,0,2"), ["'fixed'", "'s2'"]
    ),
    "forbidden not 0/1": (
        "sites", replaced(SITES_CSV, "s3,3000,0,0,1", "s3,3000,0,0,yes"), ["'forbidden'", "'s3'"]
    ),
    "fixed and forbidden": (
        "sites", replaced(SITES_CSV, "s1,500,0,1,0", "s1,500,0,1,1"), ["'forbidden'", "'s1'"]
    ),
    "every site forbidden": (
        "sites",
        "id,x,y,forbidden\ns1,0,0,1\ns2,1,1,1\n",
        ["'forbidden'", "every site is forbidden"],
    ),
    "unknown status": (
        "sites", "id,x,y,status\ns1,0,0,open\ns2,1,1,fixed\n", ["'status'", "'s1'", "open"]
    ),
    "negative capacity": (
        "sites", replaced(SITES_CSV, ",100,5", ",-100,5"), ["'capacity'", "'s1'", "-100"]
    ),
    "negative opening cost": ("sites", replaced(SITES_CSV, ",,7", ",,-7"), ["'cost'", "'s2'"]),
    "costs name an unknown demand id": (
        "costs", replaced(COSTS_CSV, "d3,s3", "d9,s3"), ["'demand_id'", "'d9'", "demand file"]
    ),
    "costs name an unknown site id": (
        "costs", replaced(COSTS_CSV, "d1,s1", "d1,s7"), ["'site_id'", "'s7'", "sites file"]
    ),
    "duplicate pair in costs": (
        "costs", COSTS_CSV + "d2,s2,600\n", ["'demand_id', 'site_id'", "'d2'", "'s2'"]
    ),
    "negative cost": (
        "costs", replaced(COSTS_CSV, "d2,s2,510.5", "d2,s2,-5"), ["'cost'", "'d2'", "'s2'", "-5"]
    ),
    "non-numeric cost": (
        "costs", replaced(COSTS_CSV, "d2,s2,510.5", "d2,s2,far"), ["'cost'", "'d2'", "far"]
    ),
    "NaN cost": ("costs", replaced(COSTS_CSV, "d2,s2,510.5", "d2,s2,NaN"), ["'cost'", "'s2'"]),
    "missing cost column": ("costs", "demand_id,site_id,minutes\nd1,s1,3\n", ["'cost'"]),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_names_file_column_and_ids(
    case: str, tmp_path: Path, files: dict[str, Path]
) -> None:
    role, text, fragments = BAD_INPUTS[case]
    bad = write(tmp_path, f"bad_{role}_file.csv", text)
    paths = {**files, role: bad}
    with pytest.raises(DataError) as raised:
        read_instance_csv(paths["demand"], paths["sites"], paths["costs"])
    message = str(raised.value)
    assert "bad_" + role + "_file.csv" in message, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert "\n" not in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "is empty"),
        ("id,x,y,weight\n", "has no rows"),
        ("id,x,x,weight\n1,0,0,1\n", "column 'x' appears more than once"),
        ('id,x,y,weight\n1,0,0,1\n2,0,0,1,9,9\n', "not a valid CSV file"),
    ],
)
def test_broken_files_name_the_file(
    text: str, fragment: str, tmp_path: Path, files: dict[str, Path]
) -> None:
    bad = write(tmp_path, "broken_demand.csv", text)
    with pytest.raises(DataError, match=fragment) as raised:
        read_instance_csv(bad, files["sites"])
    assert "broken_demand.csv" in str(raised.value)


def test_missing_files_are_named(tmp_path: Path, files: dict[str, Path]) -> None:
    with pytest.raises(DataError, match=r"sites file '.*no_such_sites\.csv' does not exist"):
        read_instance_csv(files["demand"], tmp_path / "no_such_sites.csv")
    with pytest.raises(DataError, match=r"costs file .*no_costs\.csv"):
        read_instance_csv(files["demand"], files["sites"], tmp_path / "no_costs.csv")
    with pytest.raises(DataError, match="is a directory"):
        read_instance_csv(tmp_path, files["sites"])


def test_not_utf8_is_named(tmp_path: Path, files: dict[str, Path]) -> None:
    bad = tmp_path / "latin1.csv"
    bad.write_bytes("id,x,y,weight\nGävle,0,0,1\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1\.csv.*UTF-8"):
        read_instance_csv(bad, files["sites"])


def test_haversine_checks_longitude_latitude_ranges(tmp_path: Path) -> None:
    demand = write(tmp_path, "lonlat.csv", "id,x,y,weight\na,18.1,59.3,1\nb,674079,6580798,1\n")
    sites = write(tmp_path, "lonlat_sites.csv", "id,x,y\ns,18,59\n")
    with pytest.raises(DataError, match=r"lonlat\.csv': column 'x': longitude .* 'b'"):
        read_instance_csv(demand, sites, metric="haversine")
    good = write(tmp_path, "good_lonlat.csv", "id,x,y,weight\na,18.1,59.3,1\n")
    assert read_instance_csv(good, sites, metric="haversine").metric == "haversine"
