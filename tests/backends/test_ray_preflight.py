"""Choosing the backend: settings checked, an unreachable cluster refused at session start."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from igmu_audit import _imports
from igmu_audit.backends import make_backend, run_block
from igmu_audit.backends.local import LocalBackend
from igmu_audit.backends.ray_preflight import planned_actors, ray_problems
from igmu_audit.config import load_config
from igmu_audit.errors import ConfigError, MissingDependencyError
from igmu_audit.preflight import check_inputs


def closed_port() -> int:
    """A local port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_local_is_the_default_and_needs_nothing(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    assert config.backend == "local"
    assert isinstance(make_backend(config), LocalBackend)
    assert run_block(config) == {"name": "local"}
    check_inputs(config)  # no cluster is contacted


@pytest.mark.parametrize(
    ("cli", "message"),
    [
        (
            {"backend": "spark"},
            r"--igmu-backend: expected one of local, ray but got 'spark'",
        ),
        ({"ray_actors": "0"}, r"--igmu-ray-actors: expected an integer in \[1, 4096\]"),
        ({"ray_actors": "1.5"}, r"--igmu-ray-actors: expected an integer"),
    ],
)
def test_bad_backend_settings_name_the_flag(
    tmp_path: Path, cli: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path, cli=cli)


def test_an_unreachable_cluster_is_one_clear_error_before_anything_runs(
    tmp_path: Path,
) -> None:
    address = f"127.0.0.1:{closed_port()}"
    config = load_config(tmp_path, cli={"backend": "ray", "ray_address": address})
    with pytest.raises(ConfigError) as info:
        check_inputs(config)
    text = str(info.value)
    assert f"`ray_address:` (set by command line) {address!r}" in text
    assert "no Ray cluster reachable (ConnectionRefusedError" in text
    assert "--igmu-backend local" in text


def test_the_plugin_refuses_the_run_and_replaces_the_record(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    address = f"127.0.0.1:{closed_port()}"
    result = pytester.runpytest_inprocess(
        "--igmu-backend=ray", f"--igmu-ray-address={address}", "--igmu-record=r.json",
        "-p", "no:cacheprovider",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*igmu-audit: `ray_address:`*no Ray cluster reachable*"]
    )
    assert '"verdict": "error"' in (pytester.path / "r.json").read_text(
        encoding="utf-8"
    )


def test_without_ray_installed_the_extra_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_imports, "is_available", lambda module: module != "ray")
    config = load_config(tmp_path, cli={"backend": "ray"})
    (problem,) = ray_problems(config)
    assert "requires the 'ray' package: pip install 'igmu-audit[ray]'" in problem
    with pytest.raises(
        MissingDependencyError, match=r"pip install 'igmu-audit\[ray\]'"
    ):
        make_backend(config)


def test_actors_default_to_the_clusters_slots_shared_by_the_workers(
    tmp_path: Path,
) -> None:
    config = load_config(tmp_path, cli={"backend": "ray"})
    assert planned_actors(config, {"GPU": 8.0, "CPU": 64.0}, workers=2) == 4
    assert planned_actors(config, {"CPU": 6.0}, workers=1) == 6
    assert planned_actors(config, {"CPU": 1.0}, workers=4) == 1
    two_cpus = load_config(tmp_path, spec=_spec(tmp_path, "ray_actor_cpus: 2"))
    assert planned_actors(two_cpus, {"CPU": 6.0}, workers=1) == 3
    fixed = load_config(tmp_path, cli={"ray_actors": "5"})
    assert planned_actors(fixed, {"GPU": 8.0}, workers=2) == 5


def _spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "audit.yaml"
    path.write_text(text + "\n", encoding="utf-8")
    return path
