"""Following the registry: promotions, failures that keep the old model, waiting for one."""

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


def test_a_promotion_and_a_rollback_are_followed(registry: Path) -> None:
    store = ModelRegistry(registry)
    first = store.current().name
    copy_version(registry, first, "v-second")
    watcher = follower(registry)
    served = watcher.load()
    assert watcher.poll(served) is None  # nothing changed
    store.set_shadow("v-second")  # a challenger changes nothing of what serves
    time.sleep(0.02)
    assert watcher.poll(served) is None
    store.promote("v-second")
    time.sleep(0.02)
    served = watcher.poll(served)
    assert served is not None and served.info.version == "v-second"
    assert store.shadow_name() is None  # the challenger became the champion
    store.rollback()
    time.sleep(0.02)
    served = watcher.poll(served)
    assert served is not None and served.info.version == first


def test_a_version_that_fails_to_load_leaves_the_old_one_serving(
    registry: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = ModelRegistry(registry)
    first = store.current().name
    copy_version(registry, first, "v-broken")
    (registry / "v-broken" / "model.txt").write_text("not a model")
    failures: list[str] = []
    watcher = follower(registry, failures)
    served = watcher.load()
    store.promote("v-broken")
    time.sleep(0.02)
    with caplog.at_level("ERROR"):
        assert watcher.poll(served) is None
        time.sleep(0.02)
        assert watcher.poll(served) is None  # said once, not at every look
    assert len(failures) == 1 and "v-broken" in failures[0]
    [said] = [r.message for r in caplog.records if "did not load" in r.message]
    assert said.startswith("the registry changed, but v-broken did not load")
    assert said.endswith(f"still serving {first}/model")


def test_the_current_version_cannot_be_its_own_challenger(registry: Path) -> None:
    from volstream.errors import ModelError

    store = ModelRegistry(registry)
    with pytest.raises(ModelError, match="is the current version"):
        store.set_shadow(store.current().name)


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
    assert found[0].info.version == ModelRegistry(empty).current().name
