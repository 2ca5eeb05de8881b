"""Loading user files: formats, int8 quantisations, and the report of invalid rows."""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from earth4d_gis.data import SampleSet, dequantize, load_samples, make_demo_dataset, quantize
from earth4d_gis.data.demo import metadata_frame
from earth4d_gis.errors import DataError, InputError
from earth4d_gis.geodesy import TimeSpan

N = 60


@pytest.fixture(scope="module")
def demo() -> SampleSet:
    return make_demo_dataset(N, seed=5)


def _write(tmp: Path, frame: pd.DataFrame, emb: np.ndarray | torch.Tensor, meta_name: str = "meta.csv",
           emb_name: str = "emb.pt") -> tuple[Path, Path]:  # fmt: skip
    meta, path = tmp / meta_name, tmp / emb_name
    if meta_name.endswith(".parquet"):
        frame.to_parquet(meta)
    else:
        frame.to_csv(meta, index=False)
    if emb_name.endswith(".npy"):
        np.save(path, np.asarray(emb))
    else:
        torch.save(torch.as_tensor(emb), path)
    return meta, path


def test_csv_and_pt_float(tmp_path: Path, demo: SampleSet) -> None:
    meta, emb = _write(tmp_path, metadata_frame(demo), torch.from_numpy(demo.embeddings))
    got = load_samples(meta, emb)
    assert len(got) == N and got.source == "meta.csv + emb.pt"
    np.testing.assert_array_equal(got.embeddings, demo.embeddings)
    np.testing.assert_array_equal(got.latitude, demo.latitude)
    np.testing.assert_array_equal(got.time, demo.time)


def test_parquet_and_npy_float64(tmp_path: Path, demo: SampleSet) -> None:
    frame = metadata_frame(demo)
    frame["event_date"] = pd.to_datetime(frame["event_date"])
    frame["extra"] = 1
    meta, emb = _write(tmp_path, frame, demo.embeddings.astype(np.float64), "m.parquet", "e.npy")
    got = load_samples(meta, emb)
    assert got.embeddings.dtype == np.float32
    np.testing.assert_array_equal(got.embeddings, demo.embeddings)
    np.testing.assert_array_equal(got.time, demo.time)
    np.testing.assert_array_equal(got.elevation, demo.elevation)


def test_int8_linear127(tmp_path: Path, demo: SampleSet) -> None:
    codes = quantize(demo.embeddings, "linear127")
    meta, emb = _write(tmp_path, metadata_frame(demo), torch.from_numpy(codes))
    got = load_samples(meta, emb, quantization="linear127")
    np.testing.assert_array_equal(got.embeddings, codes.astype(np.float32) / np.float32(127.0))


def test_int8_aef_formula_and_nodata(tmp_path: Path, demo: SampleSet) -> None:
    codes = quantize(demo.embeddings, "aef")
    codes[7, 3] = -128
    meta, emb = _write(tmp_path, metadata_frame(demo), codes, emb_name="e.npy")
    with pytest.raises(DataError, match=r"1 with embedding nodata \(-128\).*row 7"):
        load_samples(meta, emb, quantization="aef")
    got = load_samples(meta, emb, quantization="aef", drop_invalid=True)
    assert len(got) == N - 1
    keep = np.arange(N) != 7
    q = codes[keep].astype(np.float64)
    np.testing.assert_allclose(got.embeddings, np.sign(q) * (q / 127.5) ** 2, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got.embeddings, demo.embeddings[keep], atol=0.02)


def test_dequantize_exact_values() -> None:
    q = np.array([-128, -127, -1, 0, 1, 64, 127], dtype=np.int8)
    aef = dequantize(q, "aef")
    assert np.isnan(aef[0])
    np.testing.assert_allclose(aef[1:], np.sign(q[1:]) * (q[1:] / 127.5) ** 2, rtol=1e-6)
    np.testing.assert_allclose(dequantize(q, "linear127"), q / 127.0, rtol=1e-6)
    assert quantize(np.array([np.nan, 0.25]), "aef").tolist() == [-128, 64]
    with pytest.raises(InputError, match="'int4'"):
        dequantize(q, "int4")


def test_int8_without_quantization_is_refused(tmp_path: Path, demo: SampleSet) -> None:
    meta, emb = _write(
        tmp_path, metadata_frame(demo), torch.from_numpy(quantize(demo.embeddings, "linear127"))
    )
    with pytest.raises(DataError, match="int8.*linear127.*aef"):
        load_samples(meta, emb)


def test_quantization_for_float_data_is_refused(tmp_path: Path, demo: SampleSet) -> None:
    meta, emb = _write(tmp_path, metadata_frame(demo), demo.embeddings)
    with pytest.raises(DataError, match="applies to int8"):
        load_samples(meta, emb, quantization="aef")


def test_row_count_mismatch(tmp_path: Path, demo: SampleSet) -> None:
    meta, emb = _write(tmp_path, metadata_frame(demo), demo.embeddings[:-2])
    with pytest.raises(DataError, match=f"meta.csv has {N} rows but embeddings emb.pt has {N - 2}"):
        load_samples(meta, emb)


def test_wrong_shape(tmp_path: Path, demo: SampleSet) -> None:
    meta, emb = _write(tmp_path, metadata_frame(demo), demo.embeddings[:, :32])
    with pytest.raises(DataError, match=r"shape \[60, 32\], expected \[N, 64\]"):
        load_samples(meta, emb)


def test_missing_column(tmp_path: Path, demo: SampleSet) -> None:
    meta, emb = _write(tmp_path, metadata_frame(demo).drop(columns=["elevation_m"]), demo.embeddings)
    with pytest.raises(DataError, match="lacks column.*elevation_m"):
        load_samples(meta, emb)


def test_missing_files_and_unknown_formats(tmp_path: Path, demo: SampleSet) -> None:
    meta, emb = _write(tmp_path, metadata_frame(demo), demo.embeddings)
    with pytest.raises(DataError, match="does not exist"):
        load_samples(tmp_path / "nope.csv", emb)
    other = tmp_path / "meta.xlsx"
    other.write_text("x")
    with pytest.raises(DataError, match="neither CSV"):
        load_samples(other, emb)


def _bad_frame(demo: SampleSet) -> pd.DataFrame:
    frame = metadata_frame(demo).astype({"latitude": object, "event_date": object})
    frame.loc[3, "event_date"] = "2019-13-45"
    frame.loc[4, "event_date"] = "not a date"
    frame.loc[9, "latitude"] = np.nan
    frame.loc[11, "latitude"] = 95.5
    frame.loc[12, "latitude"] = -91.0
    frame.loc[13, "latitude"] = "abc"
    frame.loc[20, "event_date"] = "1650-06-01"
    return frame


def test_invalid_rows_are_reported_with_counts_reasons_and_examples(tmp_path: Path, demo: SampleSet) -> None:
    emb = demo.embeddings.copy()
    emb[30, 0] = np.nan
    meta, path = _write(tmp_path, _bad_frame(demo), emb)
    with pytest.raises(DataError) as info:
        load_samples(meta, path)
    message = str(info.value)
    assert "\n" not in message
    assert f"8 of {N} rows are invalid" in message
    assert "2 with latitude missing or not a number (row 9: nan, row 13: 'abc')" in message
    assert "2 with latitude outside [-90, 90] (row 11: 95.5, row 12: -91.0)" in message
    assert "2 with event_date missing or not a date (row 3: '2019-13-45', row 4: 'not a date')" in message
    assert "1 with event_date outside the time span 1900-01-01 .. 2100-01-01 (row 20: 1650-06-01" in message
    assert "1 with embedding not finite (NaN or inf) (row 30:" in message
    assert "drop_invalid=True" in message
    report = info.value.report
    assert {p.reason: p.count for p in report.problems}["latitude outside [-90, 90]"] == 2


def test_drop_invalid_drops_and_logs_counts(
    tmp_path: Path, demo: SampleSet, caplog: pytest.LogCaptureFixture
) -> None:
    meta, path = _write(tmp_path, _bad_frame(demo), demo.embeddings)
    with caplog.at_level(logging.INFO, logger="earth4d_gis.data"):
        got = load_samples(meta, path, drop_invalid=True)
    assert len(got) == N - 7
    dropped = {3, 4, 9, 11, 12, 13, 20}
    keep = np.array([i for i in range(N) if i not in dropped])
    np.testing.assert_array_equal(got.embeddings, demo.embeddings[keep])
    np.testing.assert_array_equal(got.latitude, demo.latitude[keep])
    assert "dropping 2 rows with latitude outside [-90, 90]" in caplog.text
    assert f"dropped 7 of {N} rows" in caplog.text


def test_time_span_and_max_samples(tmp_path: Path, demo: SampleSet) -> None:
    meta, path = _write(tmp_path, metadata_frame(demo), demo.embeddings)
    with pytest.raises(DataError, match="outside the time span 2020-01-01 .. 2100-01-01"):
        load_samples(meta, path, time_span=TimeSpan("2020-01-01", "2100-01-01"))
    subset = load_samples(meta, path, max_samples=10)
    assert len(subset) == 10
    rows = np.flatnonzero(np.isin(demo.latitude, subset.latitude))
    assert np.all(np.diff(rows) > 0)
    np.testing.assert_array_equal(load_samples(meta, path, max_samples=10).latitude, subset.latitude)


class _RunsCode:
    def __reduce__(self) -> tuple:
        return (os.makedirs, ("/tmp/earth4d-pwned-by-test",))


def test_pickle_with_code_is_refused(tmp_path: Path, demo: SampleSet) -> None:
    meta, _ = _write(tmp_path, metadata_frame(demo), demo.embeddings)
    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as fh:
        pickle.dump(_RunsCode(), fh, protocol=2)
    with pytest.raises(DataError, match="not a trusted tensor file and was not loaded"):
        load_samples(meta, evil)
    assert not os.path.exists("/tmp/earth4d-pwned-by-test")
    torch.save({"embeddings": torch.zeros(N, 64)}, tmp_path / "dict.pt")
    with pytest.raises(DataError, match="holds a dict, not a tensor"):
        load_samples(meta, tmp_path / "dict.pt")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="refused"):
        load_samples(meta, tmp_path / "obj.npy")
