import socket

from pytest_ascend_oss.server import liveness
from pytest_ascend_oss.server.launcher import Endpoint


def test_how_a_process_ended_is_said_plainly():
    assert liveness.how_it_ended(1) == "exited with code 1"
    assert liveness.how_it_ended(-9) == "killed by SIGKILL (signal 9; the OOM killer sends it too)"
    assert liveness.how_it_ended(-15) == "killed by SIGTERM (signal 15)"


def test_an_attached_server_whose_health_stops_answering_is_down(monkeypatch):
    monkeypatch.setattr(liveness, "HEALTH_PAUSE_S", 0.01)
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    story = liveness.down_reason(Endpoint(f"http://127.0.0.1:{port}", "m"), None)
    assert story.startswith(f"server died: http://127.0.0.1:{port}/health: ConnectError")
    assert "3 times" in story and "its log is on its host" in story
