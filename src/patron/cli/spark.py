"""`patron spark score`: `patron score` with the feature and decision SQL run on Apache Spark."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from patron.cli.context import console, emit, parse_as_of, state
from patron.cli.score import _choice, _print
from patron.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

spark_app = typer.Typer(
    help="Scoring on Apache Spark, for stores that outgrow one machine (docs/scale.md).",
    no_args_is_help=True,
)


@spark_app.command("score")
def score(
    ctx: typer.Context,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="YYYY-MM-DD or an ISO datetime (default: now).")
    ] = None,
    horizon_days: Annotated[int, typer.Option("--horizon-days", min=1, max=3650)] = 90,
    model: Annotated[str, typer.Option("--model", help="bgnbd, pnbd or auto.")] = "auto",
    master: Annotated[
        str, typer.Option("--master", help="Spark master: local[*], spark://host:7077, yarn.")
    ] = "local[*]",
    shuffle_partitions: Annotated[
        int | None,
        typer.Option("--shuffle-partitions", min=1, help="spark.sql.shuffle.partitions."),
    ] = None,
    work: Annotated[
        Path | None,
        typer.Option(
            "--work",
            help="Folder for the Parquet store and results, reachable by Spark's executors "
            "(kept); default: a temporary folder, removed after the run.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Score every customer as `patron score` does, the bulk SQL on Spark; same run stored."""
    if model not in ("bgnbd", "pnbd", "auto"):
        raise typer.BadParameter("choose bgnbd, pnbd or auto", param_hint="--model")
    from patron.scale.scoring import score_on_spark  # heavy: imported when the command runs

    cli = state(ctx)
    when = parse_as_of(as_of) if as_of else None
    with (
        _folder(work) as folder,
        _session(master, shuffle_partitions) as spark,
        console.status("scoring customers on Spark…"),
    ):
        outcome = score_on_spark(
            engine=cli.engine,
            spark=spark,
            work=folder,
            as_of=when,
            horizon_days=horizon_days,
            model=_choice(model),
        )
    emit(outcome.as_dict(), as_json=as_json, human=lambda: _print(outcome))


@contextmanager
def _folder(work: Path | None) -> Iterator[Path]:
    if work is not None:
        yield work
        return
    with tempfile.TemporaryDirectory(prefix="patron-spark-") as folder:
        yield Path(folder)


@contextmanager
def _session(master: str, shuffle_partitions: int | None) -> Iterator[SparkSession]:
    """A Spark session, stopped after the run; a plain error when Spark cannot start."""
    try:
        from patron.scale.spark import spark_session

        spark = spark_session(master, shuffle_partitions=shuffle_partitions)
    except ImportError as exc:
        raise ConfigError("Spark is not installed: pip install 'patron[spark]'") from exc
    except RuntimeError as exc:  # pyspark's "Java gateway process exited" and the like
        raise ConfigError(f"Spark did not start ({exc}); is Java 17 on the PATH?") from exc
    try:
        yield spark
    finally:
        spark.stop()


def register(app: typer.Typer) -> None:
    """Attach the `spark` group to the root app."""
    app.add_typer(spark_app, name="spark")
