"""The pytest11 entry point: options, ini keys, the ``igmu`` marker, the report header.

Loaded by every pytest run in an environment where igmu-audit is installed, including
runs that audit nothing, so it imports no torch / diffusers / open_clip: the fixtures
and assertions import them on first use.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from igmu_audit.config import load_config
from igmu_audit.context import TestContext, current_test
from igmu_audit.errors import ConfigError
from igmu_audit.session import AuditSession, activate
from igmu_audit.stash import audit_session_key, previous_session_key, test_context_key

pytest_plugins = ["igmu_audit.load_errors", "igmu_audit.fixtures"]

#: (flag, schema key, argparse keywords); one table drives the options and their mapping
OPTIONS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    (
        "--igmu-spec",
        "spec",
        {
            "metavar": "YAML",
            "help": "audit spec YAML file (lowest-precedence settings)",
        },
    ),
    (
        "--igmu-model",
        "model",
        {
            "metavar": "PATH",
            "help": "the unlearned model: diffusers folder, single file or hub id",
        },
    ),
    (
        "--igmu-original",
        "original",
        {"metavar": "PATH", "help": "the original model, same forms as --igmu-model"},
    ),
    (
        "--igmu-device",
        "devices",
        {
            "metavar": "DEV",
            "help": "auto, cpu, cuda:N or a comma list (one per xdist worker)",
        },
    ),
    (
        "--igmu-seeds",
        "seeds",
        {"metavar": "SEEDS", "help": "seeds: '0-3', '0,1,5' or a count"},
    ),
    ("--igmu-steps", "steps", {"metavar": "N", "help": "denoising steps"}),
    (
        "--igmu-guidance",
        "guidance_scale",
        {"metavar": "G", "help": "classifier-free guidance scale"},
    ),
    (
        "--igmu-resolution",
        "resolution",
        {"metavar": "HxW", "help": "image size, e.g. 512 or 512x768"},
    ),
    (
        "--igmu-dtype",
        "dtype",
        {"metavar": "DTYPE", "help": "float32, float16 or bfloat16"},
    ),
    (
        "--igmu-batch-size",
        "batch_size",
        {"metavar": "N", "help": "images per pipeline call"},
    ),
    (
        "--igmu-cache-dir",
        "cache_dir",
        {"metavar": "DIR", "help": "generation cache folder"},
    ),
    (
        "--igmu-evidence-dir",
        "evidence_dir",
        {"metavar": "DIR", "help": "evidence folder"},
    ),
    (
        "--igmu-detector",
        "detector",
        {"metavar": "NAME", "help": "detector name or profile"},
    ),
    (
        "--igmu-profile",
        "profile",
        {"metavar": "NAME", "help": "settings profile, e.g. ci"},
    ),
    (
        "--igmu-record",
        "record",
        {"metavar": "PATH", "help": "write the run's JSON verdict record (atomically)"},
    ),
    (
        "--igmu-backend",
        "backend",
        {
            "metavar": "NAME",
            "help": "generate locally (default) or on a Ray cluster: local, ray",
        },
    ),
    (
        "--igmu-ray-address",
        "ray_address",
        {
            "metavar": "ADDR",
            "help": "Ray cluster address (host:port, ray://host:10001, auto)",
        },
    ),
    (
        "--igmu-ray-actors",
        "ray_actors",
        {
            "metavar": "N",
            "help": "Ray generation actors (default: one per GPU / CPU slot)",
        },
    ),
)
#: run-splitting options that are not audit settings (not in the config schema)
SHARD_OPTION = ("--igmu-shard", {"dest": "igmu_shard", "default": None, "metavar": "K/N",
                                 "help": "run only shard K of N (tests split by a hash of their id), e.g. 1/2"})  # fmt: skip
FLAGS = (
    (
        "--igmu-no-cache",
        "use_cache",
        False,
        "generate every image afresh and cache nothing",
    ),
    (
        "--igmu-allow-pickle",
        "allow_pickle",
        True,
        "allow pickle checkpoints (loaded with weights_only=True)",
    ),
)
#: run-level knobs also settable as pytest ini keys (``-o igmu_device=cpu`` works)
INI_KEYS = ("spec", "model", "original", "devices", "seeds", "steps", "guidance_scale",
            "resolution", "dtype", "batch_size", "cache_dir", "evidence_dir", "detector",
            "backend", "ray_address", "ray_actors")  # fmt: skip


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register ``--igmu-*`` options and ``igmu_*`` ini keys."""
    group = parser.getgroup(
        "igmu-audit", "igmu-audit: audits of unlearned text-to-image models"
    )
    for flag, key, kwargs in OPTIONS:
        group.addoption(flag, dest=f"igmu_{key}", default=None, **kwargs)
    for flag, key, value, help_text in FLAGS:
        group.addoption(
            flag,
            dest=f"igmu_{key}",
            action="store_const",
            const=value,
            default=None,
            help=help_text,
        )
    group.addoption(SHARD_OPTION[0], **SHARD_OPTION[1])
    for key in INI_KEYS:
        parser.addini(
            f"igmu_{key}",
            f"igmu-audit {key} (see --help for --igmu-*)",
            type="string",
            default="",
        )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Merge the configuration once per process and keep it in the stash.

    Runs first so an unusable ``--alluredir`` is a usage error, not allure-pytest's crash.
    """
    if not hasattr(config, "workerinput"):
        from igmu_audit.reporting.preflight import check_allure

        check_allure(config)
    config.addinivalue_line(
        "markers",
        "igmu(task=None, concept=None, **thresholds): igmu-audit settings for one audit test",
    )
    cli = {key: config.getoption(f"igmu_{key}") for _, key, _ in OPTIONS}
    cli.update({key: config.getoption(f"igmu_{key}") for _, key, _, _ in FLAGS})
    spec = cli.pop("spec")
    ini = {key: config.getini(f"igmu_{key}") for key in INI_KEYS}
    try:
        audit_config = load_config(
            config.rootpath,
            cli=cli,
            ini=ini,
            spec=spec,
            invocation_dir=config.invocation_params.dir,
        )
        listing = config.getoption("help", False) or config.getoption(
            "collectonly", False
        )
        if not hasattr(config, "workerinput") and not listing:
            from igmu_audit.preflight import check_inputs

            check_inputs(audit_config)
    except ConfigError as exc:
        _refuse_record(config, f"igmu-audit: {exc}")
        raise pytest.UsageError(f"igmu-audit: {exc}") from None
    worker = getattr(config, "workerinput", {}).get("workerid")
    if worker is not None:
        from igmu_audit.devices import pin_worker_gpu

        pin_worker_gpu(audit_config.devices, worker)
    else:
        from igmu_audit.reporting.collector import VerdictCollector

        config.pluginmanager.register(VerdictCollector(config), "igmu-audit-verdicts")
    from igmu_audit.prompts.profiles import load_profile

    load_profile(
        audit_config.profile,
        hypothesis_profile=config.getoption("hypothesis_profile", None),
    )
    if config.getoption("allure_report_dir", None):
        config.pluginmanager.import_plugin("igmu_audit.reporting.allure_plugin")
    from igmu_audit.reporting import progress

    config.pluginmanager.register(progress.activate(config), "igmu-audit-progress")
    session = AuditSession(audit_config, worker_id=worker)
    config.stash[audit_session_key] = session
    config.stash[previous_session_key] = activate(session)


def _refuse_record(config: pytest.Config, reason: str) -> None:
    """A run refused at configuration still replaces its ``--igmu-record``: no stale PASS."""
    path = config.getoption("igmu_record", None)
    if path and not hasattr(config, "workerinput"):
        from pathlib import Path

        from igmu_audit.reporting.preflight import refusal_record

        refusal_record(Path(config.invocation_params.dir) / path, reason)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    """``--igmu-shard K/N``: keep this job's share of the tests, deselect the rest."""
    text = config.getoption("igmu_shard", None)
    if not text:
        return
    from igmu_audit.sharding import parse_shard, split

    try:
        index, total = parse_shard(text)
    except ConfigError as exc:
        raise pytest.UsageError(f"igmu-audit: {exc}") from None
    kept, dropped = split(items, [item.nodeid for item in items], index, total)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_unconfigure(config: pytest.Config) -> None:
    """Restore the enclosing session, so nested in-process runs (pytester) leave no trace."""
    if previous_session_key in config.stash:
        activate(config.stash[previous_session_key])
    started = (
        config.stash[audit_session_key].__dict__.get("backend")
        if audit_session_key in config.stash
        else None
    )
    if started is not None:
        started.close()  # Ray actors go back to the cluster when the run ends
    reporter = config.pluginmanager.get_plugin("igmu-audit-progress")
    if reporter is not None:
        from igmu_audit.reporting.progress import deactivate

        deactivate(reporter)


def pytest_report_header(config: pytest.Config) -> str | None:
    """One line with what differs from the defaults (hypothesis' show_changed idiom)."""
    if audit_session_key not in config.stash:
        return None
    from igmu_audit.reporting.terminal import header_line

    return header_line(config.stash[audit_session_key].config, config.rootpath)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Check ``@pytest.mark.igmu`` keywords against the schema before the test runs."""
    from igmu_audit.config.schema import TASKS, closest
    from igmu_audit.settings import marker_keys

    marker = item.get_closest_marker("igmu")
    if marker is None:
        return
    if marker.args:
        raise pytest.UsageError(
            f"{item.nodeid}: @pytest.mark.igmu takes keywords only, got {marker.args!r}"
        )
    accepted = marker_keys()  # one row per setting in igmu_audit/settings.py
    for key, value in marker.kwargs.items():
        if key not in accepted:
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.igmu({key}=...): unknown keyword{closest(key, accepted)} "
                f"(accepted: {', '.join(accepted)})"
            )
        if key == "task" and value not in TASKS:
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.igmu(task=...): expected one of {', '.join(TASKS)} but got {value!r}"
            )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Let assertions see the running test (node id, marker thresholds) through a ContextVar."""
    marker = item.get_closest_marker("igmu")
    context = TestContext(item.nodeid, dict(marker.kwargs) if marker else {})
    item.stash[test_context_key] = context
    token = current_test.set(context)
    try:
        return (yield)
    finally:
        current_test.reset(token)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach each audit's explanation as a report section and the gate's facts for the controller."""
    from igmu_audit.reporting.testreport import annotate

    report = yield
    context = item.stash.get(test_context_key, None)
    results = context.results if context is not None and call.when == "call" else []
    if results:
        from igmu_audit.reporting.plots import write_interval_plots

        text = "\n\n".join("\n".join(r.explain(verbose=True)) for r in results)
        report.sections.append(("igmu-audit", text))
        write_interval_plots(results)
    annotate(item, call, report, results)
    return report


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """The controller draws the run's verdict matrix into the evidence folder."""
    record = getattr(
        session.config.pluginmanager.get_plugin("igmu-audit-verdicts"), "record", None
    )
    if record and record["audits"] and audit_session_key in session.config.stash:
        from igmu_audit.reporting.outcome import WORDS
        from igmu_audit.reporting.plots import write_matrix

        write_matrix(
            session.config.stash[audit_session_key].evidence_root,
            record["audits"],
            WORDS,
        )
