import pickle
import traceback

import pytest

from pytest_ascend_oss.secret import Secret, redact_text, secret_or_none
from pytest_ascend_oss.transport.http import auth_headers, sync_client


def test_a_secret_never_shows_itself():
    key = Secret("S3CRET")
    shown = [str(key), repr(key), f"{key}", f"{key!r}", f"{key:>20}", str([key]),
             str({"api_key": key}), "{}".format(key)]  # noqa: UP032
    assert all("S3CRET" not in s for s in shown) and "<hidden>" in shown[0]
    assert key.reveal() == "S3CRET" and bool(key) and key == Secret("S3CRET")


def test_a_secret_is_not_pickled():
    with pytest.raises(TypeError):
        pickle.dumps(Secret("S3CRET"))


def test_a_traceback_with_locals_shows_no_key():
    def fails(api_key):
        raise RuntimeError("boom")

    key = Secret("S3" + "CRET".lower().upper())  # not one literal: tracebacks quote source
    try:
        fails(key)
    except RuntimeError as exc:
        text = "".join(traceback.TracebackException.from_exception(
            exc, capture_locals=True).format())
    assert "api_key = <hidden>" in text and "S3CRET" not in text


def test_the_header_is_the_one_place_the_value_goes():
    assert auth_headers(Secret("S3CRET")) == {"Authorization": "Bearer S3CRET"}
    assert auth_headers(None) == {} and secret_or_none("") is None
    with sync_client("http://127.0.0.1:1", Secret("S3CRET")) as http:
        assert "S3CRET" not in repr(http.headers)  # httpx hides Authorization itself


@pytest.mark.parametrize("text", [
    "Authorization: Bearer S3CRET",
    "vllm serve /m --api-key S3CRET --port 1",
    "vllm serve /m --api-key=S3CRET",
    "vllm serve /m --api-key 'S3CRET'",
    "non-default args: {'api_key': ['S3CRET'], 'port': 1}",
    "api_key=S3CRET",
])
def test_log_lines_and_commands_are_redacted(text):
    assert "S3CRET" not in redact_text(text) and "<hidden>" in redact_text(text)


def test_redaction_keeps_what_is_not_a_key():
    line = "non-default args: {'api_key': None, 'model': '/models/gpt-oss-20b'}"
    assert redact_text(line) == line
    assert redact_text("the key is S3CRET", Secret("S3CRET")) == "the key is <hidden>"
