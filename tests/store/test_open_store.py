"""``open_store``: what ``--store`` / ``AGENTLIGHTNING_STORE`` mean, and the Trainer's default store."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentlightning import Trainer
from agentlightning.store import SqliteLightningStore, open_store
from agentlightning.store.postgres import PostgresLightningStore
from agentlightning.testing.postgres import TemporaryPostgres


def test_a_path_opens_sqlite(tmp_path: Path) -> None:
    with open_store(tmp_path / "a.db") as store:
        assert isinstance(store, SqliteLightningStore) and store.path == str(tmp_path / "a.db")
    assert (tmp_path / "a.db").exists()


def test_sqlite_urls_take_sqlalchemys_slashes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with open_store("sqlite:///rel.db") as store:
        assert isinstance(store, SqliteLightningStore) and store.path == "rel.db"
    with open_store(f"sqlite:///{tmp_path}/abs.db") as store:
        assert isinstance(store, SqliteLightningStore) and store.path == f"{tmp_path}/abs.db"
    with pytest.raises(ValueError, match="three slashes"):
        open_store("sqlite://rel.db")


def test_no_target_reads_the_environment_then_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AGENTLIGHTNING_STORE", str(tmp_path / "env.db"))
    with open_store() as store:
        assert isinstance(store, SqliteLightningStore) and store.path == str(tmp_path / "env.db")
    monkeypatch.delenv("AGENTLIGHTNING_STORE")
    with open_store() as store:
        assert isinstance(store, SqliteLightningStore)
    assert (tmp_path / ".agentlightning" / "store.db").exists()


@pytest.mark.parametrize("target", ["redis://localhost:6379/0", "mysql://u@h/db", "  "])
def test_an_unsupported_target_is_refused_with_the_accepted_forms(target: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"postgresql://|empty") as info:
        open_store(target)
    assert "file path" in str(info.value)


def test_the_trainers_default_store_follows_agentlightning_store(
    postgres_server: TemporaryPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTLIGHTNING_STORE", postgres_server.dsn())
    store = Trainer().store
    try:
        assert isinstance(store, PostgresLightningStore)
    finally:
        store.close()
