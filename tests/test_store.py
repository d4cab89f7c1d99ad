"""Trajectory store: schema, validation on read (one error naming column and row), atomic writes."""

import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from disa_bench.errors import UserError
from disa_bench.store.schema import REQUIRED, read_store, write_store


def _row(i=0, **kw):
    r = {"prompt_id": f"p{i // 2}", "task": "countdown", "prompt": "Use 1 2 3 to make 6:", "completion": " 1+2+3=6",
         "completion_ids": [5, 6, 1], "behavior_logprobs": [-0.1, -0.2, -0.3], "proposal_logprob": -0.6,
         "ref_logprob": -0.7, "num_tokens": 3, "reward": 1.0, "truncated": False, "proposal_model": "m",
         "temperature": 1.0, "seed": 0}
    r.update(kw)
    return r


def test_roundtrip_keeps_schema_and_extra_columns(tmp_path):
    rows = [_row(i, strategy=f"s{i}") for i in range(4)]
    write_store(tmp_path / "s.parquet", rows)
    t = read_store(tmp_path / "s.parquet")
    assert t.num_rows == 4
    assert set(REQUIRED) <= set(t.column_names) and "strategy" in t.column_names
    assert t.schema.field("completion_ids").type == pa.list_(pa.int32())
    assert t.schema.field("behavior_logprobs").type == pa.list_(pa.float32())
    assert t.schema.metadata[b"disa_bench_schema"] == b"1"
    assert [x for x in tmp_path.iterdir()] == [tmp_path / "s.parquet"]  # no temp files left


@pytest.mark.parametrize("col", ["ref_logprob", "proposal_logprob"])
def test_nan_or_inf_logprob_names_column_and_row(tmp_path, col):
    rows = [_row(i) for i in range(3)]
    rows[2][col] = math.nan
    with pytest.raises(UserError, match=rf"column '{col}' row 2"):
        write_store(tmp_path / "s.parquet", rows)
    assert not (tmp_path / "s.parquet").exists()


def test_bad_behavior_logprob_and_reward_range(tmp_path):
    rows = [_row(i) for i in range(3)]
    rows[1]["behavior_logprobs"] = [-0.1, float("inf"), -0.3]
    with pytest.raises(UserError, match=r"'behavior_logprobs' row 1"):
        write_store(tmp_path / "a.parquet", rows)
    rows = [_row(i) for i in range(3)]
    rows[0]["reward"] = 2.0
    with pytest.raises(UserError, match=r"'reward' row 0 is 2.0 \(expected within \[0.0, 1.0\]\)"):
        write_store(tmp_path / "b.parquet", rows)


def _write_raw(path, rows, drop=None, cast=None):
    from disa_bench.store.schema import schema

    t = pa.Table.from_pylist(rows, schema=schema())
    if drop:
        t = t.drop(drop)
    if cast:
        name, typ = cast
        t = t.set_column(t.column_names.index(name), name, t.column(name).cast(typ))
    pq.write_table(t, path)


def test_missing_and_mistyped_columns_on_read(tmp_path):
    rows = [_row(i) for i in range(2)]
    _write_raw(tmp_path / "m.parquet", rows, drop=["ref_logprob"])
    with pytest.raises(UserError, match=r"missing column 'ref_logprob'"):
        read_store(tmp_path / "m.parquet")
    _write_raw(tmp_path / "t.parquet", rows, cast=("reward", pa.string()))
    with pytest.raises(UserError, match=r"column 'reward' has type string, expected double"):
        read_store(tmp_path / "t.parquet")


def test_corrupt_file_and_length_mismatch(tmp_path):
    (tmp_path / "c.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(UserError, match="not a readable Parquet"):
        read_store(tmp_path / "c.parquet")
    rows = [_row(i) for i in range(2)]
    rows[1]["num_tokens"] = 5
    with pytest.raises(UserError, match=r"row 1: num_tokens=5"):
        write_store(tmp_path / "l.parquet", rows)
    with pytest.raises(UserError, match="does not exist"):
        read_store(tmp_path / "nope.parquet")
