from pathlib import Path

import pytest

from pytest_ascend_oss.settings import OPTIONS, SettingsError, resolve

NO_CLI = {opt.name: None for opt in OPTIONS}


def test_defaults_without_any_source():
    s = resolve(NO_CLI, {}, environ={})
    assert s.mode == "embedded"
    assert s.results_dir == Path("results")
    assert s.startup_timeout == 1800.0
    assert s.sources["startup_timeout"] == "default"


@pytest.mark.parametrize(
    "cli, env, ini, expected, source",
    [
        ("10", "20", "30", 10.0, "command line --startup-timeout"),
        (None, "20", "30", 20.0, "environment ASCEND_OSS_STARTUP_TIMEOUT"),
        (None, None, "30", 30.0, "ini ascend_oss_startup_timeout"),
        (None, None, None, 1800.0, "default"),
    ],
)
def test_precedence_cli_env_ini_default(cli, env, ini, expected, source):
    environ = {"ASCEND_OSS_STARTUP_TIMEOUT": env} if env else {}
    s = resolve({**NO_CLI, "startup_timeout": cli}, {"startup_timeout": ini}, environ)
    assert s.startup_timeout == expected
    assert s.sources["startup_timeout"] == source


def test_bad_value_names_option_source_and_value():
    with pytest.raises(SettingsError,
                       match=r"--ctx '-5' \(from environment ASCEND_OSS_CTX\): must be a posit"):
        resolve(NO_CLI, {}, {"ASCEND_OSS_CTX": "-5"})


def test_guide_endpoint_url_is_reduced_to_the_server_root():
    s = resolve({**NO_CLI, "base_url": "http://127.0.0.1:8000/v1/chat/completions"}, {}, {})
    assert s.base_url == "http://127.0.0.1:8000"
    assert s.mode == "attach"


def test_attach_and_launch_exclude_each_other():
    with pytest.raises(SettingsError, match="exclude each other"):
        resolve({**NO_CLI, "base_url": "http://h:1", "server_cmd": "vllm serve m"}, {}, {})


def test_api_key_from_vllm_env_and_never_public():
    s = resolve(NO_CLI, {}, {"VLLM_API_KEY": "sekrit"})
    assert s.api_key.reveal() == "sekrit"
    assert "sekrit" not in repr(s) and str(s.api_key) == "<hidden>" and f"{s.api_key}" == "<hidden>"
    assert s.public()["api_key"] == "<set>"


def test_bad_api_key_value_is_not_echoed():
    with pytest.raises(SettingsError) as err:
        resolve({**NO_CLI, "startup_timeout": "x"}, {}, {"ASCEND_OSS_API_KEY": "sekrit"})
    assert "sekrit" not in str(err.value)


def test_settings_fields_and_defaults_are_the_option_table():
    """One source of truth: every option is a Settings field with the option's default."""
    from dataclasses import fields

    from pytest_ascend_oss.settings import Settings, default

    declared = {f.name: f.default for f in fields(Settings) if f.name != "sources"}
    assert declared == {opt.name: opt.default for opt in OPTIONS}
    assert default("niah_depths") == Settings().niah_depths


def test_cli_defaults_come_from_the_option_table_and_the_suite():
    from pytest_ascend_oss.cli import build_parser
    from pytest_ascend_oss.settings import default
    from pytest_ascend_oss.suites.long_context import cases
    from pytest_ascend_oss.thresholds import DEFAULT_PROFILE

    niah = build_parser().parse_args(["long-context", "--api-url", "http://x"])
    assert niah.depths == default("niah_depths") and niah.max_tokens == default("niah_max_tokens")
    assert niah.needle == cases.GUIDE_NEEDLE and niah.profile == DEFAULT_PROFILE
    assert niah.variants is None and niah.max_context_len is None  # the profile's, at run time
    verify = build_parser().parse_args(["verify-precision", "--npu-url", "http://x",
                                        "--record", "b.json"])
    assert verify.max_tokens == default("precision_max_tokens")


@pytest.mark.parametrize("name, value, message", [
    ("base_url", "127.0.0.1:8000", "must start with http"),
    ("base_url", "http://127.0.0.1:notaport", "no valid port"),
    ("base_url", "http://127.0.0.1:99999", "no valid port"),
    ("base_url", "http://:8000", "names no host"),
    ("base_url", "http://h:1/?x=1", "no query"),
    ("niah_language", "fr", "choose one of en, zh, syllables"),
    ("niah_reasoning_effort", "extreme", "choose one of low, medium, high"),
    ("precision_endpoint", "foo", "choose one of completions, chat"),
    ("hidden_device", "gpu", "choose one of cpu, npu"),
    ("hidden_dtype", "int3", "choose one of bfloat16"),
    ("niah_lengths", "", "is empty"),
    ("niah_lengths", " , ", "is empty"),
    ("niah_depths", "10,x", "'x' is not one"),
    ("server_cmd", "", "is empty"),
    ("server_cmd", "vllm serve 'unterminated", "cannot be split"),
    ("startup_timeout", "0", "positive"),
])
def test_every_bad_value_is_a_settings_error_naming_option_and_value(name, value, message):
    flag = "--" + name.replace("_", "-")
    with pytest.raises(SettingsError, match=message) as err:
        resolve({**NO_CLI, name: value}, {}, {})
    assert str(err.value).startswith(f"{flag} {value!r} (from the command line)")


def test_choices_are_the_ones_the_suites_take():
    from pytest_ascend_oss import settings
    from pytest_ascend_oss.suites.long_context import haystack
    from pytest_ascend_oss.suites.precision import kernel_probe

    assert settings.LANGUAGES == tuple(haystack.LANGUAGES)
    assert set(settings.HIDDEN_DTYPES) <= set(kernel_probe.DTYPES)


def test_a_server_compared_with_itself_is_refused():
    with pytest.raises(SettingsError, match="compared with itself"):
        resolve({**NO_CLI, "base_url": "http://h:1/v1", "baseline_url": "http://h:1"}, {}, {})


def test_a_server_log_belongs_to_an_attached_server(tmp_path):
    with pytest.raises(SettingsError, match=r"^--server-log \(from the command line\) "
                       "names an attached server's launch log, and no --base-url is given"):
        resolve({**NO_CLI, "server_log": str(tmp_path / "vllm.log")}, {}, {})
    attached = {"base_url": "http://h:1", "server_log": str(tmp_path / "vllm.log")}
    with pytest.raises(SettingsError, match="^--server-log .*vllm.log' .*does not exist"):
        _checked(tmp_path, **attached)
    (tmp_path / "vllm.log").write_text("INFO dtype=torch.bfloat16\n")
    _checked(tmp_path, **attached)


def _checked(tmp_path, **values):
    from pytest_ascend_oss.settings import check_environment

    s = resolve({**NO_CLI, **{k: str(v) for k, v in values.items()}}, {}, {})
    check_environment(s)


@pytest.mark.parametrize("values, message", [
    ({"server_cmd": "vllmx-not-here serve /m"},
     "cannot run 'vllmx-not-here': not on PATH; activate the environment"),
    ({"server_cmd": "/nowhere/vllm serve /m"}, "not an executable file"),
    ({"thresholds": "{tmp}"}, "is not a file \\(a directory\\)"),
    ({"prompts": "{tmp}/missing.json"}, "does not exist"),
    ({"baseline": "{tmp}/missing.json"}, "does not exist"),
    ({"checkpoint": "{tmp}/file"}, "is not a directory"),
    ({"results_dir": "{tmp}/file"}, "is a file, not a directory"),
    ({"results_dir": "{tmp}/file/sub"}, "is a file, not a directory"),
    ({"record_baseline": "{tmp}/file/b.json"}, "is a file, not a directory"),
])
def test_environment_check_names_option_value_and_problem(tmp_path, values, message):
    (tmp_path / "file").write_text("x")
    values = {k: v.format(tmp=tmp_path) for k, v in values.items()}
    name = next(iter(values))
    with pytest.raises(SettingsError, match=message) as err:
        _checked(tmp_path, **values)
    assert str(err.value).startswith("--" + name.replace("_", "-"))


def test_environment_check_passes_a_usable_setup_and_creates_nothing(tmp_path):
    import sys

    _checked(tmp_path, server_cmd=f"{sys.executable} -m vllm serve /m",
             results_dir=tmp_path / "new" / "results", checkpoint=tmp_path)
    assert not (tmp_path / "new").exists()
