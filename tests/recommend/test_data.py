"""Loaders, the item index, sessions in CSR form and the time split."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shoptrack.recommend.algorithms.data import (
    Clicks,
    ItemIndex,
    Sessions,
    read_diginetica,
    read_retailrocket,
    read_session_rec,
    split_last,
)


def test_item_index_maps_keys_both_ways_and_unknown_is_minus_one() -> None:
    index = ItemIndex.from_keys(np.array([30, 10, 20, 10]))
    assert index.keys.tolist() == [10, 20, 30]
    assert index.lookup([20, 99, 10, 31]).tolist() == [1, -1, 0, -1]
    assert index.key_of([2, 0]).tolist() == [30, 10]


def test_item_index_with_string_keys() -> None:
    index = ItemIndex.from_keys(np.array(["sku-b", "sku-a"]))
    assert index.lookup(["sku-a", "nope", "sku-b"]).tolist() == [0, -1, 1]
    assert ItemIndex.from_keys(np.array([], dtype=np.int64)).lookup([1]).tolist() == [-1]


def test_sessions_group_sort_and_drop_unknown_items_then_short_sessions() -> None:
    clicks = Clicks(
        session_keys=np.array([7, 5, 7, 5, 9, 9]),
        item_keys=np.array([100, 200, 300, 100, 999, 100]),
        times=np.array([50.0, 10.0, 40.0, 20.0, 60.0, 70.0]),
    )
    index = ItemIndex.from_keys(np.array([100, 200, 300]))
    s = Sessions.from_clicks(clicks, index, min_length=2)
    # Session 9 loses its unknown click and, left with one, is dropped; 5 starts before 7.
    assert s.keys.tolist() == [5, 7]
    assert s.offsets.tolist() == [0, 2, 4]
    assert index.key_of(s.items).tolist() == [200, 100, 300, 100]
    assert s.times.tolist() == [10.0, 20.0, 40.0, 50.0]
    assert s.end_times.tolist() == [20.0, 50.0]
    assert s.session_of_click().tolist() == [0, 0, 1, 1]


def test_equal_times_keep_file_order() -> None:
    clicks = Clicks(np.array([1, 1, 1]), np.array([3, 1, 2]), np.array([5.0, 5.0, 5.0]))
    s = Sessions.from_clicks(clicks, ItemIndex.from_keys(clicks.item_keys))
    assert s.items.tolist() == [2, 0, 1]


def test_split_last_by_seconds_and_fraction_never_cuts_a_session() -> None:
    clicks = Clicks(
        session_keys=np.array([1, 1, 2, 2, 3, 3]),
        item_keys=np.array([1, 2, 1, 2, 1, 2]),
        times=np.array([0.0, 10.0, 5.0, 100.0, 95.0, 200.0]),
    )
    train, test = split_last(clicks, seconds=150.0)
    assert sorted(set(test.session_keys.tolist())) == [2, 3]
    assert set(train.session_keys.tolist()) == {1}
    train, test = split_last(clicks, fraction=1 / 3)
    assert set(test.session_keys.tolist()) == {3}
    assert len(train) + len(test) == len(clicks)


def test_read_session_rec(tmp_path: Path) -> None:
    path = tmp_path / "clicks.txt"
    big = 2**60 + 1  # not representable as a float
    path.write_text(
        f"SessionId\tItemId\tTime\n3\t214716935\t1396437466.94\n3\t{big}\t1396438212.3\n"
    )
    clicks = read_session_rec(path)
    assert clicks.session_keys.tolist() == [3, 3]
    assert clicks.item_keys.tolist() == [214716935, big]
    assert clicks.times[0] == 1396437466.94


def test_read_diginetica_adds_the_timeframe_to_the_day(tmp_path: Path) -> None:
    path = tmp_path / "views.csv"
    path.write_text(
        "session_id;user_id;item_id;timeframe;eventdate\n"
        "1;NA;81766;526309;2016-05-09\n"
        "1;NA;31331;1031018;2016-05-09\n"
    )
    clicks = read_diginetica(path)
    assert clicks.item_keys.tolist() == [81766, 31331]
    assert clicks.times[0] == 1462752000.0 + 526.309


def test_read_retailrocket_cuts_sessions_at_30_minutes_and_keeps_views(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    rows = [
        "timestamp,visitorid,event,itemid,transactionid,datetime",
        "1000000,7,view,1,,x",
        "1060000,7,view,2,,x",  # one minute later: same session
        "1070000,7,addtocart,2,,x",  # not a view
        "4000000,7,view,3,,x",  # ~49 minutes later: a new session
        "1000000,8,view,1,,x",  # another visitor
    ]
    path.write_text("\n".join(rows) + "\n")
    clicks = read_retailrocket(path)
    assert clicks.item_keys.tolist() == [1, 2, 3, 1]
    sessions = clicks.session_keys.tolist()
    assert sessions[0] == sessions[1] != sessions[2] != sessions[3]
