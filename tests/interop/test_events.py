"""Event subscriptions over HTTP: `GET /events?query=<event WQL>` as JSON lines or
Server-Sent Events, behind the CIM-XML server's Basic auth.

The server here sends keep-alives every 0.5 s (`--event-keep-alive`) and allows 4 streams
(`--max-event-streams`), so idleness and the limit can be seen quickly. Streams are read
by a thread per stream into a queue, so no test can hang on a read.
"""

import base64
import http.client
import json
import queue
import re
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse

import pytest

from conftest import ADMIN, PLAIN, ROOT, conn, start_server, stop_server

PROCESSES = ("SELECT * FROM __InstanceOperationEvent WITHIN 1 "
             "WHERE TargetInstance ISA 'Win32_Process'")
LOGONS = ("SELECT * FROM __InstanceCreationEvent WITHIN 5 "
          "WHERE TargetInstance ISA 'Win32_LogonSession'")
# Matches nothing: a stream that stays idle.
NOTHING = LOGONS + " AND TargetInstance.LogonId = 'never'"
KEEP_ALIVE = 0.5
MAX_STREAMS = 4


@pytest.fixture(scope="module")
def events_server(tmp_path_factory):
    d = tmp_path_factory.mktemp("events")
    s = start_server(d, ["--header-timeout", "3", "--event-keep-alive", str(KEEP_ALIVE),
                         "--max-event-streams", str(MAX_STREAMS)], name="events")
    yield s
    code = stop_server(s)
    assert code == 0, "graceful shutdown on SIGTERM exits 0 (log: %s)" % s.log.read_text()[-2000:]


def basic(creds):
    return "Basic " + base64.b64encode(("%s:%s" % creds).encode()).decode()


class Stream:
    """One GET /events; for a 200, a thread puts each line (bytes, `\\n` kept) on `lines`
    and None at the end."""

    def __init__(self, server, query, creds=ADMIN, sse=False, scheme="http", params=None,
                 method="GET", path="/events"):
        if query is not None:
            params = dict(params or {}, query=query)
        target = path + ("?" + urllib.parse.urlencode(params) if params else "")
        if scheme == "https":
            ctx = ssl.create_default_context(cafile=server.cert)
            self.conn = http.client.HTTPSConnection("127.0.0.1", server.https_port,
                                                    context=ctx, timeout=30)
        else:
            self.conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=30)
        headers = {}
        if creds:
            headers["Authorization"] = basic(creds)
        if sse:
            headers["Accept"] = "text/event-stream"
        self.opened = time.monotonic()
        self.conn.request(method, target, headers=headers)
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.headers = {k.lower(): v for k, v in self.response.getheaders()}
        self.local_port = self.conn.sock.getsockname()[1]
        self.lines = queue.Queue()
        self.body = None
        self.reader = None
        if self.status == 200:
            self.reader = threading.Thread(target=self._read, daemon=True)
            self.reader.start()
        else:
            self.body = self.response.read()
            self.conn.close()

    def _read(self):
        try:
            while True:
                line = self.response.readline()
                if not line:
                    break
                self.lines.put(line)
        except (OSError, ValueError, http.client.HTTPException):
            pass
        self.lines.put(None)

    def error(self):
        return json.loads(self.body)

    def line(self, timeout):
        """The next line, or None at the end; raises queue.Empty after `timeout`."""
        return self.lines.get(timeout=timeout)

    def events(self, seconds, until=None):
        """JSON events (NDJSON; blank keep-alive lines skipped) for up to `seconds`, or
        until `until(event)` holds for one."""
        got = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.line(left)
            except queue.Empty:
                break
            if line is None:
                break
            if not line.strip():
                continue
            event = json.loads(line)
            got.append(event)
            if until and until(event):
                break
        return got

    def close(self):
        """Goes away abruptly, as a client that is killed does."""
        sock = self.conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        # The reader sees the end and stops before the connection object is torn down.
        if self.reader is not None:
            self.reader.join(timeout=5)
        self.conn.close()


def stream_closed_in_log(server, port, reason, timeout=5.0):
    pattern = re.compile(r"event stream closed peer=127\.0\.0\.1:%d .*reason=\"%s\""
                         % (port, re.escape(reason)))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pattern.search(server.log.read_text()):
            return True
        time.sleep(0.1)
    return False


def target_pid(event):
    return (event.get("TargetInstance") or {}).get("ProcessId")


def test_needs_authentication(events_server):
    for creds in (None, (ADMIN[0], "wrong"), ("nobody", "x")):
        s = Stream(events_server, LOGONS, creds=creds)
        assert s.status == 401
        assert s.headers["www-authenticate"].startswith("Basic realm=")
        assert s.error()["error"] == "WBEM_E_ACCESS_DENIED"


@pytest.mark.parametrize("query,error,at", [
    ("SELECT * FRM __InstanceCreationEvent WITHIN 1 WHERE TargetInstance ISA 'Win32_Process'",
     "WBEM_E_INVALID_SYNTAX", "FRM"),
    ("SELECT * FROM __InstanceCreationEvent WITHIN 1 WHERE TargetInstance ISA 'Win32_Nope'",
     "WBEM_E_INVALID_CLASS", "'Win32_Nope'"),
    ("SELECT * FROM Win32_Process", "WBEM_E_INVALID_QUERY_TYPE", None),
    # An event class nobody provides: WMI's INVALID_CLASS, before the missing WITHIN.
    ("SELECT * FROM Win32_ProcessStartTrace", "WBEM_E_INVALID_CLASS", "Win32_ProcessStartTrace"),
])
def test_bad_queries_are_400_with_a_json_error(events_server, query, error, at):
    s = Stream(events_server, query)
    assert s.status == 400
    assert s.headers["content-type"] == "application/json"
    e = s.error()
    assert e["error"] == error, e
    assert e["code"] == {"WBEM_E_INVALID_SYNTAX": 0x80041021, "WBEM_E_INVALID_CLASS": 0x80041010,
                         "WBEM_E_INVALID_QUERY_TYPE": 0x80041018}[error]
    assert e["message"]
    assert e["offset"] == (query.index(at) if at else None), e


def test_request_errors(events_server):
    s = Stream(events_server, None)
    assert s.status == 400 and s.error()["error"] == "WBEM_E_INVALID_PARAMETER"
    assert "query" in s.error()["message"]
    s = Stream(events_server, LOGONS, params={"namespace": "root/nowhere"})
    assert s.status == 400 and s.error()["error"] == "WBEM_E_INVALID_NAMESPACE"
    s = Stream(events_server, LOGONS, method="POST")
    assert s.status == 405 and s.headers["allow"] == "GET"
    s = Stream(events_server, "SELECT * FROM __InstanceCreationEvent WITHIN 1 WHERE " + "x" * 9000)
    assert s.status == 414
    # CIM-XML keeps its own rules: GET elsewhere is still 405.
    s = Stream(events_server, LOGONS, path="/cimom")
    assert s.status == 405


def test_process_events_arrive(events_server):
    """A process started after the headers arrive is reported created, then deleted."""
    s = Stream(events_server, PROCESSES)
    try:
        assert s.status == 200
        assert s.headers["content-type"] == "application/x-ndjson"
        assert s.headers["transfer-encoding"] == "chunked"
        assert s.headers["x-linmgmt-watching"].startswith("Win32_Process")
        assert "polls every 1 s" in s.headers["x-linmgmt-watching"]
        child = subprocess.Popen(["sleep", "2"])
        started = time.monotonic()
        got = s.events(5, until=lambda e: target_pid(e) == child.pid)
        created = [e for e in got if target_pid(e) == child.pid]
        assert created, "no event for pid %d in %d events" % (child.pid, len(got))
        assert created[0]["__CLASS"] == "__InstanceCreationEvent", created[0]
        assert created[0]["TargetInstance"]["__CLASS"] == "Win32_Process"
        assert time.monotonic() - started < 5
        child.wait()
        ended = time.monotonic()
        got = s.events(5, until=lambda e: target_pid(e) == child.pid
                       and e["__CLASS"] == "__InstanceDeletionEvent")
        deleted = [e for e in got if target_pid(e) == child.pid
                   and e["__CLASS"] == "__InstanceDeletionEvent"]
        assert deleted, "no deletion event for pid %d" % child.pid
        assert time.monotonic() - ended < 5
    finally:
        s.close()


def test_server_sent_events_over_https(events_server):
    s = Stream(events_server, PROCESSES, sse=True, scheme="https")
    try:
        assert s.status == 200
        assert s.headers["content-type"].startswith("text/event-stream")
        # Long enough for a poll to see it, should the kernel's process events be missing.
        child = subprocess.Popen(["sleep", "2"])
        # Blocks of `field: value` lines, ended by a blank line.
        block, found = [], None
        deadline = time.monotonic() + 5
        while found is None and time.monotonic() < deadline:
            try:
                line = s.line(deadline - time.monotonic())
            except queue.Empty:
                break
            assert line is not None, "the stream ended"
            assert line.endswith(b"\n")
            line = line.decode().rstrip("\n")
            if line:
                block.append(line)
                continue
            if not all(b.startswith(":") for b in block):  # comments are keep-alives
                fields = [b.split(": ", 1) for b in block]
                assert [f[0] for f in fields] == ["event", "data"], block
                data = json.loads(fields[1][1])
                assert fields[0][1] == data["__CLASS"]
                if target_pid(data) == child.pid:
                    found = fields[0][1]
            block = []
        child.kill()
        child.wait()
        assert found == "__InstanceCreationEvent"
    finally:
        s.close()


def test_keep_alives_while_idle(events_server):
    for sse, expected in ((False, b"\n"), (True, b": keep-alive\n")):
        s = Stream(events_server, NOTHING, sse=sse)
        try:
            assert s.status == 200
            seen, deadline = [], time.monotonic() + 4.2
            while time.monotonic() < deadline:
                try:
                    line = s.line(deadline - time.monotonic())
                except queue.Empty:
                    break
                assert line is not None, "the stream ended while idle"
                seen.append(line)
            # Longer than the header timeout (3 s): an open stream is not an idle connection.
            keep_alives = [l for l in seen if l == expected]
            assert len(keep_alives) >= 5, seen
            if sse:
                assert all(l in (b": keep-alive\n", b"\n") for l in seen), seen
        finally:
            s.close()


def test_vanished_clients_end_their_streams(events_server):
    for _ in range(MAX_STREAMS + 2):
        s = Stream(events_server, PROCESSES)
        assert s.status == 200
        s.close()
        assert stream_closed_in_log(events_server, s.local_port, "client gone")
    assert conn(events_server).EnumerateInstanceNames("Win32_LogonSession")
    s = Stream(events_server, LOGONS)
    assert s.status == 200
    s.close()


def test_stream_limit(events_server):
    open_streams = [Stream(events_server, LOGONS) for _ in range(MAX_STREAMS)]
    try:
        assert [s.status for s in open_streams] == [200] * MAX_STREAMS
        extra = Stream(events_server, LOGONS)
        assert extra.status == 503
        assert extra.error()["error"] == "WBEM_E_QUOTA_VIOLATION"
        # CIM-XML is not affected.
        assert conn(events_server).EnumerateInstanceNames("Win32_LogonSession")
    finally:
        for s in open_streams:
            s.close()
    for s in open_streams:
        assert stream_closed_in_log(events_server, s.local_port, "client gone")
    s = Stream(events_server, LOGONS)
    assert s.status == 200
    s.close()


def test_user_role_sees_only_its_own_processes(events_server):
    """lmalice (role user) watches processes as root does; root's `sleep` reaches only
    root's stream."""
    admin = Stream(events_server, PROCESSES)
    user = Stream(events_server, PROCESSES, creds=PLAIN)
    try:
        assert (admin.status, user.status) == (200, 200)
        child = subprocess.Popen(["sleep", "2"])
        child.wait()
        got = admin.events(6, until=lambda e: target_pid(e) == child.pid
                           and e["__CLASS"] == "__InstanceDeletionEvent")
        assert any(target_pid(e) == child.pid for e in got)
        # The user's stream had the same scans; a second more for good measure.
        seen = user.events(1.5)
        assert not [e for e in seen if target_pid(e) == child.pid], seen
    finally:
        admin.close()
        user.close()


def test_shutdown_ends_streams(tmp_path):
    s = start_server(tmp_path, ["--event-keep-alive", "60"], name="events-shutdown")
    try:
        stream = Stream(s, LOGONS, sse=True)
        assert stream.status == 200
        started = time.monotonic()
        code = stop_server(s)
        assert code == 0
        assert time.monotonic() - started < 8, "shutdown does not wait for event streams"
        # The body ends cleanly (the last chunk), not with a reset.
        assert stream.line(5) is None
        assert re.search(r"event stream closed .*reason=\"server shutdown\"", s.log.read_text())
    finally:
        stop_server(s)


def test_without_the_host_there_are_no_events(tmp_path):
    mof = ROOT / "crates/engine/test_data/instances.mof"
    s = start_server(tmp_path, ["--instances", str(mof)], name="events-nohost")
    try:
        stream = Stream(s, PROCESSES)
        assert stream.status == 501
        assert stream.error()["error"] == "WBEM_E_NOT_SUPPORTED"
    finally:
        assert stop_server(s) == 0


def test_a_filter_on_the_events_own_class(events_server):
    """The common "created or deleted" filter, `__Class` of the event itself in WHERE: a
    process gives its creation and its deletion, and nothing else is sent for it."""
    query = ("SELECT * FROM __InstanceOperationEvent WITHIN 1 WHERE (__Class = "
             "'__InstanceCreationEvent' OR __Class = '__InstanceDeletionEvent') "
             "AND TargetInstance ISA 'Win32_Process'")
    s = Stream(events_server, query)
    try:
        assert s.status == 200
        child = subprocess.Popen(["sleep", "1"])
        child.wait()
        got = s.events(6, until=lambda e: target_pid(e) == child.pid
                       and e["__CLASS"] == "__InstanceDeletionEvent")
        mine = [e["__CLASS"] for e in got if target_pid(e) == child.pid]
        assert mine == ["__InstanceCreationEvent", "__InstanceDeletionEvent"], mine
        assert {e["__CLASS"] for e in got} <= {"__InstanceCreationEvent",
                                               "__InstanceDeletionEvent"}
    finally:
        s.close()
