"""milvus_rag.ray.quiet without a Ray runtime: what a job switches off, and back."""

from __future__ import annotations

import logging
import os

import pytest
import ray.data

from milvus_rag.ray.quiet import RAY_DATA_LOGGER, output_to_file, quiet_job


def test_quiet_job_turns_ray_data_down_and_restores_it() -> None:
    ctx = ray.data.DataContext.get_current()
    logger = logging.getLogger(RAY_DATA_LOGGER)
    before = (ctx.enable_progress_bars, ctx.enable_operator_progress_bars, logger.level)
    ctx.enable_progress_bars = True
    try:
        with quiet_job():
            assert not ctx.enable_progress_bars and not ctx.enable_operator_progress_bars
            assert logger.level == logging.ERROR
        assert ctx.enable_progress_bars and logger.level == before[2]
        with quiet_job(verbose=True):  # asked for: as it is
            assert ctx.enable_progress_bars and logger.level == before[2]
    finally:
        ctx.enable_progress_bars, ctx.enable_operator_progress_bars, _ = before


def test_output_to_file_hides_fd_output_and_keeps_it_only_on_failure(
    capfd: pytest.CaptureFixture[str],
) -> None:
    with output_to_file("t"):
        os.write(2, b"C++ says hello\n")
        os.write(1, b"so does stdout\n")
    assert capfd.readouterr() == ("", "")
    with pytest.raises(RuntimeError), output_to_file("t"):
        os.write(2, b"why it failed\n")
        raise RuntimeError("boom")
    err = capfd.readouterr().err
    log = err.split(" is in ")[1].strip()
    with open(log) as f:
        assert f.read() == "why it failed\n"
    os.unlink(log)


def test_a_job_summary_shows_a_small_rate_with_its_digits() -> None:
    from milvus_rag.ray.pipeline import IngestResult

    assert IngestResult(118, 118, 118, 61.3).summary().endswith("in 61.3 s (1.9 rows/s)")
    assert IngestResult(0, 0, 118, 5.2).summary().endswith("118 in the collection) in 5.2 s")
