"""The scale-out path: the registered model scored by ``mlflow.pyfunc.spark_udf`` on Spark.

A local[2] session (docs/scale-out.md) scores the one-row-per-client form built in Spark
from the two contract tables, split over several partitions, and must list every client
exactly as `dropout-risk score` does. Spark needs Java 17+: the tests find it from
JAVA_HOME, ``java`` on PATH or /usr/lib/jvm, and are skipped (saying so) only when there is
no Java at all and not under CI (``make test`` installs it with ``make java``; under CI a
missing Java fails them).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from configs.config import InstrumentsConfig
from models.caseload import RISK_LIST_COLUMNS, parse_as_of, score_caseload
from pipeline.contract.validation import validate_tables
from pipeline.registry.client_rows import client_rows
from pipeline.registry.serving import RISK_LIST_SPARK_TYPE
from pipeline.registry.tracking import LoadedModel

pytestmark = pytest.mark.spark

MODEL_URI = "models:/dropout-risk@champion"
JAVA_MAJOR_NEEDED = 17  # Spark 4


def _java_home() -> Path | None:
    """The Java installation Spark should use: JAVA_HOME, else ``java`` on PATH, else the
    usual Debian/Ubuntu place. None when there is no Java at all."""
    candidates = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]))
    if java := shutil.which("java"):
        candidates.append(Path(java).resolve().parent.parent)
    candidates += sorted(Path("/usr/lib/jvm").glob("*"), reverse=True)
    for home in candidates:
        if (home / "bin" / "java").is_file():
            return home
    return None


def _java_major(home: Path) -> int:
    shown = subprocess.run(
        [str(home / "bin" / "java"), "-version"], capture_output=True, text=True, timeout=60
    ).stderr
    found = re.search(r'version "(\d+)(?:\.(\d+))?', shown)
    if not found:
        pytest.fail(f"could not read the Java version from {home / 'bin' / 'java'}: {shown!r}")
    major = int(found.group(1))
    return int(found.group(2)) if major == 1 else major  # "1.8.0" is Java 8


@pytest.fixture(scope="module")
def spark(request):
    """A small local[2] Spark session on 127.0.0.1, stopped when the module is done."""
    home = _java_home()
    if home is None:
        missing = (
            "Java is not installed (no JAVA_HOME, no `java` on PATH, nothing in /usr/lib/jvm): "
            "Spark needs Java 17+; `make java` installs Debian's headless JRE"
        )
        # CI installs it (make test runs make java): there, a missing Java is a failure
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    if (major := _java_major(home)) < JAVA_MAJOR_NEEDED:
        pytest.fail(f"Java {major} at {home}: Spark 4 needs Java {JAVA_MAJOR_NEEDED} or later")
    from pyspark.sql import SparkSession

    patch = pytest.MonkeyPatch()
    request.addfinalizer(patch.undo)
    patch.setenv("JAVA_HOME", str(home))
    # the Python workers must run this venv's interpreter (the model's packages are here)
    patch.setenv("PYSPARK_PYTHON", sys.executable)
    patch.setenv("PYSPARK_DRIVER_PYTHON", sys.executable)
    patch.setenv("SPARK_LOCAL_IP", "127.0.0.1")
    started = time.perf_counter()
    session = (
        SparkSession.builder.master("local[2]")
        .appName("dropout-risk-test")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "1g")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    request.addfinalizer(session.stop)
    session.sparkContext.setLogLevel("ERROR")
    print(f"Spark session started in {time.perf_counter() - started:.1f} s")
    return session


@pytest.fixture(scope="module")
def cohort(trained):
    """Every active client of the trained cohort and as many closed ones (400 rows), as the
    files hold them, with an as-of date ten days before the last appointment."""
    clients = pd.read_csv(trained["clients"], dtype=str, keep_default_na=False)
    sessions = pd.read_csv(trained["sessions"], dtype=str, keep_default_na=False)
    open_ = (clients["discharge_reason"] == "") & (clients["discharge_date"] == "")
    n_open = int(open_.sum())
    chosen = pd.concat([clients[open_], clients[~open_].head(max(400 - n_open, 50))])
    chosen = chosen.sample(frac=1.0, random_state=5).reset_index(drop=True)
    rows = sessions[sessions["client_id"].isin(chosen["client_id"])].reset_index(drop=True)
    last = pd.to_datetime(sessions["session_date"]).max()
    as_of = (last - pd.Timedelta(days=10)).strftime("%Y-%m-%d")
    return chosen.replace("", None), rows.replace("", None), as_of


@pytest.fixture(scope="module")
def reference(trained, cohort):
    """`dropout-risk score`'s own risk list for the same tables and as-of date."""
    clients, sessions, as_of = cohort
    model = trained["outcome"].result.model
    instruments = InstrumentsConfig.model_validate(model.feature_settings["instruments"])
    tables = validate_tables(
        clients, sessions, instruments, clients_file="clients.csv", sessions_file="sessions.csv"
    )
    version = mlflow.MlflowClient().get_model_version_by_alias("dropout-risk", "champion")
    loaded = LoadedModel(
        model=model, uri=MODEL_URI, version_label=f"dropout-risk v{version.version}"
    )
    caseload = score_caseload(tables, loaded, parse_as_of(as_of, "as_of"), details=False)
    return caseload.risk_list.set_index("client_id")


@pytest.fixture(scope="module")
def score_udf(spark, cohort):
    _, _, as_of = cohort
    started = time.perf_counter()
    udf = mlflow.pyfunc.spark_udf(
        spark,
        MODEL_URI,
        result_type=RISK_LIST_SPARK_TYPE,
        env_manager="local",
        params={"as_of": as_of},
    )
    print(f"spark_udf ready in {time.perf_counter() - started:.1f} s")
    return udf


def _text_frame(spark, frame: pd.DataFrame):
    """A Spark DataFrame of text columns (as a CSV read gives), nulls where blank."""
    from pyspark.sql.types import StringType, StructField, StructType

    schema = StructType([StructField(str(c), StringType()) for c in frame.columns])
    return spark.createDataFrame(frame.astype(object).where(frame.notna(), None), schema)


def _per_client(clients, sessions, *, as_json: bool = True):
    """The one-row-per-client frame built in Spark, as docs/scale-out.md shows it."""
    from pyspark.sql import functions as F

    fields = [c for c in sessions.columns if c != "client_id"]
    # struct(session_date, ...) sorts by date; to_json leaves blank fields out
    appointments = F.sort_array(F.collect_list(F.struct(*fields)))
    by_client = sessions.groupBy("client_id").agg(
        (F.to_json(appointments) if as_json else appointments).alias("sessions")
    )
    return clients.join(by_client, on="client_id", how="left")


def _score(frame, score_udf) -> pd.DataFrame:
    """Each row's own client_id beside the model's answer for that row."""
    from pyspark.sql import functions as F

    scored = frame.select(
        F.spark_partition_id().alias("partition"),
        F.col("client_id").alias("input_client_id"),
        score_udf(F.struct(*frame.columns)).alias("risk_list"),
    )
    return scored.select("partition", "input_client_id", "risk_list.*").toPandas()


def _assert_listed_as_score_lists_them(got: pd.DataFrame, reference: pd.DataFrame):
    for row in got.itertuples(index=False):
        if row.client_id not in reference.index:  # closed episodes: not in the risk list
            assert not row.scored and pd.isna(row.risk), row.client_id
            assert row.not_scored_reason.startswith("not an active episode"), row.client_id
            continue
        want = reference.loc[row.client_id]
        assert bool(row.scored) == bool(want["scored"]), row.client_id
        if want["scored"]:
            assert abs(row.risk - want["risk"]) <= 1e-9, row.client_id
        else:
            assert pd.isna(row.risk), row.client_id
        for column in (
            "therapist_id",
            "risk_tier",
            "reason_1",
            "reason_2",
            "reason_3",
            "not_scored_reason",
            "last_attended",
            "model_version",
        ):
            assert getattr(row, column) == want[column], (row.client_id, column)
        assert row.sessions_attended == want["sessions_attended"], row.client_id


def test_spark_udf_lists_every_client_as_the_score_command_does(
    spark, cohort, reference, score_udf
):
    clients, sessions, _ = cohort
    frame = _per_client(_text_frame(spark, clients), _text_frame(spark, sessions))
    frame = frame.repartition(4, "client_id")
    started = time.perf_counter()
    got = _score(frame, score_udf)
    print(f"scored {len(got)} clients on Spark in {time.perf_counter() - started:.1f} s")
    assert list(got.columns) == ["partition", "input_client_id", *RISK_LIST_COLUMNS]
    assert got["partition"].nunique() == 4  # the model saw four separate batches
    # one answer per input row, each on its own row
    assert len(got) == len(clients)
    assert (got["input_client_id"] == got["client_id"]).all()
    assert sorted(got["client_id"]) == sorted(clients["client_id"])
    assert got["rank"].isna().all()  # caseload-wide: ranked by the caller
    _assert_listed_as_score_lists_them(got, reference)
    # the test means something: scored clients, unscored active ones and closed ones
    assert got["scored"].sum() >= 100
    assert set(reference["not_scored_reason"]) >= {"", "no appointments before the as-of date"}
    assert (~got["client_id"].isin(reference.index)).sum() >= 50

    # ranking after scoring, as docs/scale-out.md shows it, gives the score command's order
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    order = Window.orderBy(F.desc("scored"), F.desc_nulls_last("risk"), F.asc("client_id"))
    listed = got[got["client_id"].isin(reference.index)][["client_id", "scored", "risk"]]
    ranked = (
        spark.createDataFrame(listed)
        .withColumn("rank", F.row_number().over(order))
        .toPandas()
        .set_index("client_id")
    )
    assert (ranked["rank"] == reference.loc[ranked.index, "rank"]).all()


def test_spark_udf_takes_appointments_as_an_array_of_structs(spark, cohort, reference, score_udf):
    clients, sessions, _ = cohort
    frame = _per_client(
        _text_frame(spark, clients), _text_frame(spark, sessions), as_json=False
    ).repartition(2)
    assert dict(frame.dtypes)["sessions"].startswith("array<struct<")
    got = _score(frame, score_udf)
    assert len(got) == len(clients) and (got["input_client_id"] == got["client_id"]).all()
    _assert_listed_as_score_lists_them(got, reference)


def test_spark_udf_lists_a_bad_row_as_not_scored_and_scores_the_others(
    spark, cohort, reference, score_udf
):
    clients, sessions, _ = cohort
    active = clients[clients["client_id"].isin(reference.index[reference["scored"]])].head(6)
    frame = client_rows(active, sessions[sessions["client_id"].isin(active["client_id"])])
    frame.loc[1, "age"] = "240"
    frame.loc[3, "sessions"] = '[{"session_date": "2024-05-09", "status": "attended"'
    got = _score(_text_frame(spark, frame).repartition(2), score_udf)
    assert len(got) == 6 and (got["input_client_id"] == got["client_id"]).all()
    got = got.set_index("client_id")
    bad_age, bad_json = frame["client_id"].iloc[1], frame["client_id"].iloc[3]
    assert not got.loc[bad_age, "scored"] and pd.isna(got.loc[bad_age, "risk"])
    assert re.match(
        rf"row rejected: request row \d+ \(client_id '{bad_age}'\), column 'age': age 240",
        got.loc[bad_age, "not_scored_reason"],
    )
    assert not got.loc[bad_json, "scored"]
    assert "column 'sessions': is not valid JSON" in got.loc[bad_json, "not_scored_reason"]
    others = got.drop(index=[bad_age, bad_json])
    assert others["scored"].all() and (others["not_scored_reason"] == "").all()
    for client, row in others.iterrows():
        assert abs(row["risk"] - reference.loc[client, "risk"]) <= 1e-9


def test_spark_udf_without_as_of_is_refused_with_the_fix(spark, cohort):
    clients, sessions, _ = cohort
    frame = _text_frame(spark, client_rows(clients.head(2), sessions.head(0)))
    from pyspark.sql import functions as F

    no_as_of = mlflow.pyfunc.spark_udf(
        spark, MODEL_URI, result_type=RISK_LIST_SPARK_TYPE, env_manager="local"
    )
    with pytest.raises(Exception, match=r"needs the as-of date as the parameter 'as_of'"):
        frame.select(no_as_of(F.struct(*frame.columns))).collect()
