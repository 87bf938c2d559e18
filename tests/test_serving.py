"""Following the registry: the served set, its shadows, promotions, failures, waiting."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from volstream.model.registry import ModelRegistry
from volstream.model.serving import RegistryFollower
from volstream.settings import DeviceSettings, ModelSettings


def follower(registry: Path, failures: list[str] | None = None) -> RegistryFollower:
    settings = ModelSettings(registry=registry, follow_seconds=0.01)
    failed = failures if failures is not None else []
    return RegistryFollower(settings, DeviceSettings(device="cpu"), on_failure=failed.append)


def copy_version(registry: Path, name: str, as_name: str) -> None:
    shutil.copytree(registry / name, registry / as_name)
    metadata = (registry / as_name / "model.json").read_text().replace(name, as_name)
    (registry / as_name / "model.json").write_text(metadata)


@pytest.fixture
def registry(small_registry: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "models"
    shutil.copytree(small_registry, copy)
    return copy


def test_the_baseline_is_scored_in_shadow_beside_the_model(registry: Path) -> None:
    models = follower(registry).load()
    version = ModelRegistry(registry).current().name
    assert models.names == ((version, "model"), (version, "baseline"))


def test_a_promotion_and_a_challenger_are_followed(registry: Path) -> None:
    store = ModelRegistry(registry)
    first = store.current().name
    copy_version(registry, first, "v-second")
    watcher = follower(registry)
    models = watcher.load()
    assert watcher.poll(models) is None  # nothing changed
    store.set_shadow("v-second")
    time.sleep(0.02)
    models = watcher.poll(models)
    assert models is not None
    assert models.names == ((first, "model"), (first, "baseline"), ("v-second", "model"))
    store.promote("v-second")  # the challenger becomes the champion: no longer in shadow
    time.sleep(0.02)
    models = watcher.poll(models)
    assert models is not None
    assert models.names == (("v-second", "model"), ("v-second", "baseline"))
    assert store.shadow_name() is None


def test_a_version_that_fails_to_load_leaves_the_old_one_serving(
    registry: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = ModelRegistry(registry)
    first = store.current().name
    copy_version(registry, first, "v-broken")
    (registry / "v-broken" / "model.txt").write_text("not a model")
    failures: list[str] = []
    watcher = follower(registry, failures)
    models = watcher.load()
    store.promote("v-broken")
    time.sleep(0.02)
    with caplog.at_level("ERROR"):
        assert watcher.poll(models) is None
        time.sleep(0.02)
        assert watcher.poll(models) is None  # said once, not at every look
    assert len(failures) == 1 and "v-broken" in failures[0]
    assert [r.message for r in caplog.records if "did not load" in r.message][0].endswith(
        f"still serving {first}/model, shadow {first}/baseline"
    )


def test_a_service_started_before_any_model_waits_for_one(registry: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    watcher = follower(empty)
    stop = threading.Event()
    found = []
    waiting = threading.Thread(target=lambda: found.append(watcher.wait(stop)))
    waiting.start()
    time.sleep(0.3)
    assert not found
    shutil.copytree(registry, empty, dirs_exist_ok=True)
    waiting.join(10)
    assert found and found[0] is not None
    assert found[0].served.info.version == ModelRegistry(empty).current().name
