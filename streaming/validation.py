"""The event contract (`playlist2vec.events`) as Spark column expressions over raw Kafka rows.

JSON is parsed to VARIANT rather than with `from_json`, because `from_json` silently turns a
number into a string for a string field; `schema_of_variant` names each value's JSON type, so
every rule of `events.parse_event` is checked exactly, in the same order and with the same
reason text (the unit test compares the two on the same inputs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from playlist2vec.events import MAX_TRACK_CHARS, MAX_TRACKS

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

# The reasons, shared with `events.parse_event` word for word (except that a JSON parse
# error carries no parser message here).
BAD_TOMBSTONE = "tombstone without a decimal pid key"
BAD_JSON = "bad JSON"
NOT_OBJECT = "event is not a JSON object"
BAD_PID = "pid missing or not an integer"
NEGATIVE_PID = "pid is negative"
KEY_MISMATCH = "key does not match pid"
BAD_MODIFIED_AT = "modified_at missing or not an integer"
BAD_NAME = "name missing or not a string"
BAD_TRACKS = "tracks missing or not a list"
TOO_MANY_TRACKS = f"more than {MAX_TRACKS} tracks"
BAD_TRACK = f"a track is not a string of at most {MAX_TRACK_CHARS} characters"
BAD_COLLABORATIVE = "collaborative is not a boolean"
BAD_FOLLOWERS = "num_followers is not an integer"
BAD_TRACK_META = "track_meta is not a list of objects"

# JSON integers that fit a long; larger ones and 1.0 come out DECIMAL/DOUBLE and are refused.
_INT = "BIGINT"
_ABSENT = ("NULL", "VOID")  # key missing, or JSON null

EVENT_COLUMNS = ("pid", "modified_at", "deleted", "name", "tracks", "collaborative",
                 "num_followers", "track_meta")


def _field(doc: Column, name: str) -> Column:
    from pyspark.sql import functions as F

    return F.try_variant_get(doc, f"$.{name}", "variant")


def _type(value: Column) -> Column:
    """The JSON type name of a variant value; "NULL" when the value is missing."""
    from pyspark.sql import functions as F

    return F.coalesce(F.schema_of_variant(value), F.lit("NULL"))


def _is_falsy(value: Column) -> Column:
    """Python truthiness of a JSON value, as `body.get("track_meta") or []` tests it."""
    from pyspark.sql import functions as F

    kind = _type(value)
    return (
        kind.isin(*_ABSENT)
        | ((kind == "BOOLEAN") & ~F.try_variant_get(value, "$", "boolean"))
        | ((kind == _INT) | kind.startswith("DECIMAL") | (kind == "DOUBLE"))
        & (F.try_variant_get(value, "$", "double") == 0)
        | ((kind == "STRING") & (F.try_variant_get(value, "$", "string") == ""))
        | (kind == "OBJECT<>")
        | (kind.startswith("ARRAY") & (F.size(F.try_variant_get(value, "$", "array<variant>")) == 0))
    )


def _elements(value: Column) -> Column:
    from pyspark.sql import functions as F

    return F.try_variant_get(value, "$", "array<variant>")


def _reason(key: Column, text: Column, doc: Column, f: dict[str, Column]) -> Column:
    """The first rule a non-tombstone event breaks, or null (`f`: the body's fields as variants)."""
    from pyspark.sql import functions as F

    pid = F.try_variant_get(f["pid"], "$", "bigint")
    tracks, meta = f["tracks"], f["track_meta"]
    track_ok = lambda t: (_type(t) == "STRING") & (  # noqa: E731
        F.char_length(F.try_variant_get(t, "$", "string")) <= MAX_TRACK_CHARS)
    return (
        F.when(~F.is_valid_utf8(text) | doc.isNull(), BAD_JSON)
        .when(~_type(doc).startswith("OBJECT"), NOT_OBJECT)
        .when(_type(f["pid"]) != _INT, BAD_PID)
        .when(pid < 0, NEGATIVE_PID)
        .when(key.isNotNull() & (key != F.encode(pid.cast("string"), "UTF-8")), KEY_MISMATCH)
        .when(_type(f["modified_at"]) != _INT, BAD_MODIFIED_AT)
        .when(_is_true(f["deleted"]), None)
        .when(_type(f["name"]) != "STRING", BAD_NAME)
        .when(~_type(tracks).startswith("ARRAY"), BAD_TRACKS)
        .when(F.size(_elements(tracks)) > MAX_TRACKS, TOO_MANY_TRACKS)
        .when(~F.forall(_elements(tracks), track_ok), BAD_TRACK)
        .when(~_type(f["collaborative"]).isin("BOOLEAN", *_ABSENT), BAD_COLLABORATIVE)
        .when(~_type(f["num_followers"]).isin(_INT, *_ABSENT), BAD_FOLLOWERS)
        .when(~_is_falsy(meta) & ~(_type(meta).startswith("ARRAY") & F.forall(
            _elements(meta), lambda m: _type(m).startswith("OBJECT"))), BAD_TRACK_META)
    )


def _is_true(value: Column) -> Column:
    """JSON `true` (and not a string or number that would cast to it)."""
    from pyspark.sql import functions as F

    return F.coalesce((_type(value) == "BOOLEAN") & F.try_variant_get(value, "$", "boolean"), F.lit(False))


def validate(raw: DataFrame) -> DataFrame:
    """Kafka rows (key, value, partition, offset, timestamp) -> the same plus `reason` and the event.

    `reason` is null for a valid event, whose fields are then in EVENT_COLUMNS (`track_meta`
    as JSON text, `deleted` true for a tombstone or `"deleted": true`); a tombstone takes its
    record timestamp in whole seconds as `modified_at`, like `events.parse_event`.

    Three projections, so the JSON is parsed once per event and each field extracted once
    (Spark does not merge projections that would repeat such expensive expressions).
    """
    from pyspark.sql import functions as F

    kafka = ("key", "value", "partition", "offset", "timestamp")
    parsed = raw.select(*kafka, F.col("value").cast("string").alias("_text"))
    parsed = parsed.select(*kafka, "_text", F.try_parse_json("_text").alias("_doc"))
    fields = parsed.select(*kafka, "_text", "_doc",
                           *(_field(F.col("_doc"), name).alias(f"_{name}") for name in EVENT_COLUMNS))
    f = {name: F.col(f"_{name}") for name in EVENT_COLUMNS}
    key, tombstone = F.col("key"), F.col("value").isNull()
    key_text = key.cast("string")
    key_pid = F.when(key_text.rlike("^[0-9]+$"), key_text.try_cast("bigint"))
    reason = F.when(tombstone, F.when(key_pid.isNull(), BAD_TOMBSTONE)).otherwise(
        _reason(key, F.col("_text"), F.col("_doc"), f))
    return fields.select(
        *kafka,
        reason.alias("reason"),
        F.when(tombstone, key_pid).otherwise(F.try_variant_get(f["pid"], "$", "bigint")).alias("pid"),
        F.when(tombstone, F.col("timestamp").cast("long"))
        .otherwise(F.try_variant_get(f["modified_at"], "$", "bigint")).alias("modified_at"),
        (tombstone | _is_true(f["deleted"])).alias("deleted"),
        F.try_variant_get(f["name"], "$", "string").alias("name"),
        F.try_variant_get(f["tracks"], "$", "array<string>").alias("tracks"),
        F.try_variant_get(f["collaborative"], "$", "boolean").alias("collaborative"),
        F.try_variant_get(f["num_followers"], "$", "bigint").alias("num_followers"),
        F.to_json(f["track_meta"]).alias("track_meta"),
    )
