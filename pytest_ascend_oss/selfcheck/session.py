"""The self-check of one session: the healthy run, each fault's run, and the matrix they make.

The server under test is whatever the session judges (embedded, launched or attached). Proxy
faults stand in front of it; the embedded default also gets broken variants of itself
(``faults.Fault.launched``), launched one at a time (each with its pooling twin when precision
judges it) and always stopped. A broken features variant (``Fault.variant``: the eager, a
parallel or the chunked-prefill server) is given to the suites beside the healthy server under
test, after a control run with the healthy variant launched the same way: the healthy run has
no variant servers, so the control is where those criteria are seen passing.

Precision needs a reference in every run: the user's (``--baseline``, ``--baseline-url``),
or for the embedded default the canary's float32 transformers baseline (the guide's CPU FP32
reference) at the self-check's sizes; and the server's hidden states: its pooling twin
(``pooling_url``), which proxy faults leave alone.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..report.files import write_json_atomic, write_text_atomic
from ..server.launcher import Endpoint, launch
from ..settings import Settings
from ..thresholds import Profile
from . import cells, faults, plan, proxy

HEALTHY = "healthy"
ALL_SUITES = ["smoke", "precision", "long_context", "performance", "features", "accuracy"]


# Parametrized per parallel row (tp, pp, ep): a variant fault runs its own row only
PARALLEL_CRITERION = "features::test_parallel_variant_agrees"


def control_name(fault: str) -> str:
    """The control run of a variant fault: the same variant, healthy."""
    return f"{fault}-control"


class SelfCheck:
    def __init__(self, settings: Settings, server: Endpoint, profile: Profile, tests_dir: Path,
                 checkpoint: Path | None = None, progress: Callable[[str], None] = print,
                 pooling_url: str | None = None):
        self.settings, self.server, self.profile = settings, server, profile
        self.pooling_url = pooling_url
        # The embedded server's pooling twin, started by the self-check itself when a run
        # needs it and stopped before a launched variant starts: with the variant and its own
        # twin that would be four servers (~16 GB), more than a 24 GiB CI box had free.
        self._twin = contextlib.ExitStack()
        self._twin_url: str | None = None
        self.tests_dir, self.checkpoint, self.progress = tests_dir, checkpoint, progress
        self.root = Path(settings.results_dir) / "selfcheck"
        self.cells: dict[str, cells.Cell] = {}
        self.skipped: dict[str, str] = {}   # fault -> why it did not run here
        self.started = time.monotonic()
        self._reference: list[str] | None = None

    # -- what every run gets ----------------------------------------------------------------

    def _options(self) -> list[str]:
        s = self.settings
        opts = ["--model-name", self.server.model, "--profile", self.profile.name,
                "--thresholds", str(plan.thresholds_file(self.profile,
                                                         self.root / "thresholds.toml")),
                "--niah-lengths", ",".join(map(str, plan.NIAH_LENGTHS)),
                "--niah-depths", ",".join(map(str, plan.NIAH_DEPTHS)),
                "--niah-language", s.niah_language, "--niah-max-tokens", str(s.niah_max_tokens),
                "--niah-reasoning-effort", s.niah_reasoning_effort,
                "--precision-endpoint", s.precision_endpoint]
        if s.perplexity_corpus:
            opts += ["--perplexity-corpus", s.perplexity_corpus]
        for name in ("accuracy_questions", "accuracy_benchmark", "accuracy_repeats"):
            value = getattr(s, name)
            if value is not None:  # the user's set, judged as they asked
                flag = "--" + name.replace("_", "-")
                opts += [flag, str(Path(value).resolve()) if isinstance(value, Path)
                         else str(value)]
        opts += ["--accuracy-seed", str(s.accuracy_seed)]
        if self.checkpoint is not None:  # what the server loaded: the MXFP4 row is measured
            opts += ["--checkpoint", str(Path(self.checkpoint).resolve())]
        return opts + self.reference()

    def reference(self) -> list[str]:
        """The precision reference every run is judged against, as flags (none: precision's
        criteria are not measured, and say so)."""
        if self._reference is None:
            s = self.settings
            if s.baseline:  # recorded by the user at their sizes: keep them
                self._reference = ["--baseline", str(s.baseline),
                                   "--precision-max-tokens", str(s.precision_max_tokens)]
                if s.prompts:
                    self._reference += ["--prompts", str(s.prompts)]
            elif s.baseline_url or s.mode == "embedded":
                subset = plan.prompt_subset(s.prompts, self.root / "prompts.json")
                sized = ["--prompts", str(subset),
                         "--precision-max-tokens", str(plan.PRECISION_MAX_TOKENS)]
                if s.baseline_url:
                    self._reference = ["--baseline-url", s.baseline_url, *sized]
                    if s.baseline_pooling_url:
                        self._reference += ["--baseline-pooling-url", s.baseline_pooling_url]
                else:
                    self._reference = ["--baseline", str(self._record_fp32(subset)), *sized]
            else:
                self._reference = []
        return self._reference

    def _record_fp32(self, subset: Path) -> Path:
        from ..suites.precision import run as precision

        return precision.embedded_reference(
            self.checkpoint, self.server.model, max_tokens=plan.PRECISION_MAX_TOKENS,
            prompts_path=subset, endpoint=self.settings.precision_endpoint,
            corpus=self.settings.perplexity_corpus, progress=self.progress)

    @contextlib.contextmanager
    def variants(self, *specs: tuple[str, dict]) -> Iterator[list[Endpoint]]:
        """The embedded server again, once per ``(label, changes)``, for this block only, all
        started at once (two start-ups on 2 cores take ~65 s, one after the other ~105 s) and
        all stopped at its end, or when one fails to start. ``changes``: what embedded_command
        takes (dtype, perturb, max_model_len, extra flags), ``pooling`` (the pooling twin) and
        ``ladder`` (False: the command as given or nothing; a features variant that only came
        up on a lower rung would not be that variant)."""
        stops: list[Callable[[], None]] = []
        try:
            with ThreadPoolExecutor(len(specs)) as pool:
                started = [pool.submit(self._start, label, stops, **changes)
                           for label, changes in specs]
            yield [future.result() for future in started]
        finally:
            for stop in stops:
                stop()

    @contextlib.contextmanager
    def variant(self, label: str, **changes: object) -> Iterator[Endpoint]:
        """One of ``variants``."""
        with self.variants((label, changes)) as (endpoint,):
            yield endpoint

    def _start(self, label: str, stops: list[Callable[[], None]], pooling: bool = False,
               ladder: bool = True, **embedded: object) -> Endpoint:
        from ..embedded.serve import SMALL_KV_CACHE_GIB, embedded_command
        from ..server.stack import serving_version
        from ..suites.precision.hidden import pooling_argv

        argv, env = embedded_command(log=lambda m: None, kv_cache_gib=SMALL_KV_CACHE_GIB,
                                     **embedded)
        if pooling:
            argv = pooling_argv(argv, serving_version(None))  # this Python's vLLM
        _, endpoint = launch(argv, self.root / label, self.settings.startup_timeout, env=env,
                             api_key=self.settings.api_key,
                             on_start=lambda proc: stops.append(proc.stop),  # before waiting
                             progress=lambda m: self.progress(f"{label}: {m}"), ladder=ladder)
        return endpoint

    # -- the runs ---------------------------------------------------------------------------

    def _healthy_twin(self) -> str | None:
        """The server's pooling twin: the user's (or the plugin's), else the embedded one."""
        if self.pooling_url or self.settings.mode != "embedded":
            return self.pooling_url
        if self._twin_url is None:
            self._twin_url = self._twin.enter_context(
                self.variant("pooling-twin", pooling=True)).base_url
        return self._twin_url

    def close(self) -> None:
        """Stop the pooling twin the self-check started (if any)."""
        self._twin.close()
        self._twin_url = None

    def _run(self, fault: str, url: str, suites: list[str], pooling_url: str | None,
             log: Path | None, extra: tuple[str, ...] = (), only: tuple[str, ...] = ()
             ) -> cells.Cell:
        """One cell; ``log``: the launch log of the engine behind ``url`` (the rows that read
        what it loaded are judged only with it); ``extra``: more plugin flags (a variant's
        URL); ``only``: as cells.run."""
        pooled = ["--pooling-url", pooling_url] if pooling_url and "precision" in suites else []
        logged = ["--server-log", str(Path(log).resolve())] if log else []
        judged = ("test_served_dtype_is_bf16",) if log else ()
        if fault == HEALTHY and self._judged_here("features::test_context_131k"):
            judged += ("test_context_131k",)
        cell = cells.run(fault, url, suites, self.tests_dir, self.root / fault,
                         self._options() + pooled + logged + list(extra),
                         self.settings.api_key, self.progress, judged=judged, only=only)
        self.cells[fault] = cell
        self.write()
        return cell

    def _judged_here(self, criterion: str) -> bool:
        """Does a fault this session runs flip ``criterion``? (The healthy run then judges it,
        even where it costs minutes: the 131K grid.)"""
        embedded = self.settings.mode == "embedded"
        return any(criterion in f.flips and (embedded or not f.launched)
                   for f in faults.selected(self.settings.selfcheck_quick))

    def healthy(self) -> cells.Cell:
        if HEALTHY not in self.cells:
            self.reference()  # a recorded reference is ready before anything is timed
            self._run(HEALTHY, self.server.base_url, ALL_SUITES, self._healthy_twin(),
                      self.server.log_path)
        return self.cells[HEALTHY]

    def fault(self, name: str) -> cells.Cell | None:
        """The fault's run (None, with ``skipped[name]`` saying why, where it cannot run)."""
        if name in self.cells or name in self.skipped:
            return self.cells.get(name)
        fault = faults.BY_NAME[name]
        suites = faults.suites_of(fault)
        self.reference()
        if not fault.launched:
            delay = plan.delay_s(self.profile, name, suites)
            with proxy.serving(self.server.base_url, name, delay) as url:
                twin = self._healthy_twin() if "precision" in suites else None
                return self._run(name, url, suites, twin, self.server.log_path)
        if self.settings.mode != "embedded":
            self.skipped[name] = ("not applicable: a launched variant of the embedded default; "
                                  f"this session judges a {self.settings.mode}ed server")
            self.write()
            return None
        self.close()  # at most three servers: this one, the variant and the variant's twin
        # Features checks one by one (the whole suite is minutes, and its own variants);
        # the other suites whole, so a broken server's side effects show in the matrix.
        only = tuple(sorted({c for c in fault.flips if c.startswith("features::")}
                            | {s for s in suites if s != "features"}))
        if fault.variant:
            return self._variant_fault(fault, suites, only)
        specs = [(name, fault.launched)]
        if "precision" in suites:  # the broken weights' hidden states, from their own twin
            specs.append((f"{name}-pooling", {"pooling": True, **fault.launched}))
        with self.variants(*specs) as (broken, *twin):
            return self._run(name, broken.base_url, suites, twin[0].base_url if twin else None,
                             broken.log_path, only=only)

    def _variant_fault(self, fault: faults.Fault, suites: list[str], only: tuple[str, ...]
                       ) -> cells.Cell:
        """The control (the healthy variant) first, then the broken one, each given to the
        suites as ``--<variant>-url`` beside the healthy server under test and launched with
        the flags the acceptance run gives that variant."""
        from ..suites.features.rows import PARALLEL, variant_flags

        flags = variant_flags(fault.variant, self.profile.values["features"])
        option = f"--{fault.variant.replace('_', '-')}-url"
        if fault.variant in PARALLEL:  # the one parallel row this variant stands in for
            only = tuple(f"{c}[{fault.variant}]" if c == PARALLEL_CRITERION else c
                         for c in only)
        labels = (control_name(fault.name), fault.name)
        with self.variants((labels[0], {"ladder": False, "extra": flags}),
                           (labels[1], {"ladder": False, "extra": flags, **fault.launched})
                           ) as endpoints:
            for label, endpoint in zip(labels, endpoints, strict=True):
                cell = self._run(label, self.server.base_url, suites, None,
                                 self.server.log_path, (option, endpoint.base_url), only)
        return cell

    # -- the matrix -------------------------------------------------------------------------

    def _healthy_observed(self, fault: str | None = None) -> dict[str, str]:
        """The healthy status per criterion: the healthy run's, with the criteria the control
        runs judged (one fault's control, or every control when ``fault`` is None)."""
        healthy = self.cells.get(HEALTHY)
        base = dict(healthy.observed) if healthy else {}
        for f in faults.FAULTS:
            control = self.cells.get(control_name(f.name))
            if control is not None and fault in (None, f.name):
                base.update({n: s for n, s in control.observed.items() if n not in base})
        return base

    def verdicts(self) -> dict:
        """Per fault: the cells it must flip, caught / missed / not measured; the totals."""
        out, caught, expected, faults_caught, faults_run = {}, 0, 0, 0, 0
        for fault in faults.FAULTS:
            cell = self.cells.get(fault.name)
            if cell is None:
                continue
            base = self._healthy_observed(fault.name)
            row = {"caught": [], "missed": [], "not_measured": {}, "not_applicable": []}
            for name in fault.flips:
                seen = cell.observed.get(name, cells.NOT_MEASURED)
                if base.get(name) == cells.NOT_APPLICABLE:
                    row["not_applicable"].append(name)
                elif base.get(name) != cells.PASSED:
                    run = (control_name(fault.name) if control_name(fault.name) in self.cells
                           else "healthy run")
                    row["not_measured"][name] = f"{run}: {base.get(name, 'not run')}"
                elif seen == cells.FAILED:
                    row["caught"].append(name)
                elif seen == cells.PASSED:
                    row["missed"].append(name)
                else:
                    row["not_measured"][name] = seen if not cell.problem else cell.problem
            judged = len(row["caught"]) + len(row["missed"]) + len(row["not_measured"])
            caught, expected = caught + len(row["caught"]), expected + judged
            if judged:
                faults_run += 1
                faults_caught += len(row["caught"]) == judged
            out[fault.name] = row
        base = self._healthy_observed()
        return {"faults": out, "cells_caught": caught, "cells_expected": expected,
                "faults_caught": faults_caught, "faults_judged": faults_run,
                "detection": caught / expected if expected else None,
                "healthy_failures": sorted(n for n, s in base.items() if s == cells.FAILED),
                "healthy_passed": sum(s == cells.PASSED for s in base.values()),
                "healthy_judged": sum(s != cells.NOT_APPLICABLE for s in base.values())}

    def to_json(self) -> dict:
        return {"server": {"mode": self.settings.mode, "base_url": self.server.base_url,
                           "model": self.server.model},
                "profile": self.profile.name, "wall_s": round(time.monotonic() - self.started, 1),
                "sizes": {"niah_lengths": plan.NIAH_LENGTHS, "niah_depths": plan.NIAH_DEPTHS,
                          "requests_per_level": plan.REQUESTS_PER_LEVEL,
                          "prompt_stride": plan.PROMPT_STRIDE},
                "faults": [{"name": f.name, "does": f.does, "flips": list(f.flips),
                            "launched": f.launched} for f in faults.FAULTS],
                "cells": {name: c.to_json() for name, c in self.cells.items()},
                "skipped": self.skipped, "left_out": self.left_out(),
                "not_flipped": dict(faults.NOT_FLIPPED),
                "verdicts": self.verdicts()}

    def left_out(self) -> dict[str, str]:
        """Faults this session does not run by choice (--selfcheck-quick), and why."""
        chosen = {f.name for f in faults.selected(self.settings.selfcheck_quick)}
        return {f.name: "left out by --quick: needs a server of its own"
                for f in faults.FAULTS if f.name not in chosen}

    def write(self) -> None:
        """selfcheck.json and selfcheck.md, rewritten after every run: an interrupted
        self-check keeps what it saw."""
        from .report import markdown

        data = self.to_json()
        write_json_atomic(self.root / "selfcheck.json", data)
        write_text_atomic(self.root / "selfcheck.md", markdown(data))
