"""The Spark session of the Spark tests."""

from __future__ import annotations

from typing import Any

import pytest

from patron.scale import spark as on_spark


@pytest.fixture
def spark() -> Any:
    """The active local Spark session, started on first use. Not stopped after each test
    (starting one takes seconds); a command under test that stops it makes the next test
    start another. The JVM ends with the test process."""
    return on_spark.spark_session("local[2]", shuffle_partitions=4)
