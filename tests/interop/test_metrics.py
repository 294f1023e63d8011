"""Prometheus metrics (`serve --metrics-listen`) read by a real Prometheus and checked by
promtool, against the live ssh and Samba sessions.

- `promtool check metrics` accepts the classic text format; Prometheus scrapes the
  OpenMetrics one (its `up` is 1).
- The logon-session gauge, read back through Prometheus's HTTP API, equals the number of
  Win32_LogonSession instances `linmgmt query` finds; the server-session gauge likewise.
- A real ssh login raises the logon gauge while it lasts and the logons counter (the event
  engine's own), and its logout raises the logoffs counter.
- The request counters count this test's own CIM-XML requests, and the endpoint refuses
  what it does not serve.
"""

import json
import os
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from conftest import ROOT, conn, free_port, start_server, stop_server, wait_port
from test_wsman import SshLogin, cli

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"


def need(path):
    if not os.access(path, os.X_OK):
        pytest.skip("%s is missing (tests/interop/run installs the prometheus package as root)" % path)


def scrape(port, accept=None):
    req = urllib.request.Request("http://127.0.0.1:%d/metrics" % port)
    if accept:
        req.add_header("Accept", accept)
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.headers.get("Content-Type"), r.read().decode()


@pytest.fixture(scope="module")
def metrics_server(tmp_path_factory):
    d = tmp_path_factory.mktemp("metrics")
    port = free_port()
    s = start_server(d, ["--metrics-listen", "http://127.0.0.1:%d" % port], name="metrics")
    wait_port(port, s.proc)
    s.metrics_port = port
    yield s
    assert stop_server(s) == 0


@pytest.fixture(scope="module")
def prometheus(metrics_server, tmp_path_factory):
    need(PROMETHEUS)
    d = tmp_path_factory.mktemp("prometheus")
    port = free_port()
    (d / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n  - job_name: linmgmt\n    static_configs:\n"
        "      - targets: ['127.0.0.1:%d']\n" % metrics_server.metrics_port
    )
    log = open(d / "prometheus.log", "w")
    proc = subprocess.Popen(
        [PROMETHEUS, "--config.file=%s" % (d / "prometheus.yml"), "--storage.tsdb.path=%s" % (d / "data"),
         "--web.listen-address=127.0.0.1:%d" % port, "--log.level=warn"],
        stdout=log, stderr=log,
    )
    try:
        wait_port(port, proc, timeout=30)
        api = Prometheus(port)
        # Prometheus listens before its storage is open and answers 503 until it is ready.
        deadline = time.monotonic() + 60
        while not api.ready() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert api.ready(), "Prometheus never became ready: %s" % (d / "prometheus.log").read_text()[-2000:]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and api.value('up{job="linmgmt"}') != 1:
            time.sleep(0.5)
        assert api.value('up{job="linmgmt"}') == 1, (
            "Prometheus could not scrape linmgmt: %s" % (d / "prometheus.log").read_text()[-2000:]
        )
        yield api
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


class Prometheus:
    def __init__(self, port):
        self.port = port

    def ready(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/-/ready" % self.port, timeout=5) as r:
                return r.status == 200
        except OSError:  # URLError and HTTPError (503 while starting) are OSErrors
            return False

    def query(self, expr):
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (self.port, urllib.parse.urlencode({"query": expr}))
        with urllib.request.urlopen(url, timeout=10) as r:
            answer = json.load(r)
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    def value(self, expr):
        """The value of a scalar-like query, None when it has no samples."""
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, expr, predicate, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            v = self.value(expr)
            if predicate(v) or time.monotonic() > deadline:
                return v
            time.sleep(0.5)


def count(wql):
    return len(cli(wql))


def test_promtool_accepts_the_text_format(metrics_server):
    need(PROMTOOL)
    conn(metrics_server).EnumerateInstanceNames("Win32_LogonSession")
    content_type, text = scrape(metrics_server.metrics_port)
    assert content_type.startswith("text/plain; version=0.0.4"), content_type
    assert "# EOF" not in text
    for name in ("linmgmt_logon_sessions", "linmgmt_logons_total", "linmgmt_requests_total",
                 "linmgmt_request_duration_seconds_bucket", "linmgmt_build_info"):
        assert name in text, name
    checked = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_openmetrics_when_asked(metrics_server):
    content_type, text = scrape(metrics_server.metrics_port, "application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text"), content_type
    assert text.endswith("# EOF\n")
    assert "# TYPE linmgmt_logon_sessions gauge" in text
    assert "# TYPE linmgmt_build info" in text


def test_the_endpoint_serves_only_get_metrics(metrics_server):
    port = metrics_server.metrics_port
    for path, method, status in [("/", "GET", 404), ("/wsman", "POST", 404), ("/metrics", "POST", 405)]:
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method, data=b"" if method == "POST" else None)
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        assert e.value.code == status, (path, method)


def test_gauges_equal_what_a_query_finds(prometheus):
    for expr, wql in [
        ("sum(linmgmt_logon_sessions) or vector(0)", "SELECT LogonId FROM Win32_LogonSession"),
        ("sum(linmgmt_server_sessions) or vector(0)", "SELECT UserName FROM Win32_ServerSession"),
    ]:
        # Sessions come and go (other tests' logins end): compare until both agree.
        for _ in range(20):
            truth = count(wql)
            seen = prometheus.wait_for(expr, lambda v, t=truth: v == t, timeout=5)
            if seen == truth:
                break
        assert seen == truth, "%s is %s, `linmgmt query` finds %d" % (expr, seen, truth)
    assert prometheus.value('sum(linmgmt_server_sessions{protocol="smb"}) or vector(0)') >= 1, \
        "the live Samba session is a server session with protocol smb"
    assert prometheus.value('sum(linmgmt_server_sessions{protocol="ssh"}) or vector(0)') >= 1


def test_an_ssh_login_raises_the_gauge_and_the_counters(prometheus, metrics_server):
    logons = 'sum(linmgmt_logons_total{logon_type="3"}) or vector(0)'
    logoffs = 'sum(linmgmt_logoffs_total{logon_type="3"}) or vector(0)'
    sessions = 'sum(linmgmt_logon_sessions{logon_type="3"}) or vector(0)'
    before = {e: prometheus.value(e) for e in (logons, logoffs)}
    login = SshLogin("lmbob", "cat /proc/self/sessionid; sleep 8")
    try:
        sid = login.session_id()
        truth = count("SELECT LogonId FROM Win32_LogonSession WHERE LogonType = 3")
        assert any(i["LogonId"] == sid for i in cli("SELECT LogonId FROM Win32_LogonSession")), sid
        seen = prometheus.wait_for(sessions, lambda v: v is not None and v >= truth)
        assert seen >= truth, "the no-pty session %s is in the logon gauge (%s < %d)" % (sid, seen, truth)
        up = prometheus.wait_for(logons, lambda v: v >= before[logons] + 1)
        assert up >= before[logons] + 1, "the logon of %s counted (%s → %s)" % (sid, before[logons], up)
    finally:
        login.close()
    down = prometheus.wait_for(logoffs, lambda v: v >= before[logoffs] + 1)
    if down < before[logoffs] + 1:
        # What tells why: every logoff series, what is left of the session, the server's log.
        left = [p for p in os.listdir("/proc") if p.isdigit() and session_of(p) == sid]
        log = [line for line in open(metrics_server.log, errors="replace").read().splitlines()
               if "WARN" in line or "ERROR" in line or "correction" in line]  # fmt: skip
        pytest.fail("the logoff of %s counted (%s → %s); logoff series %s; its processes left %s; "
                    "the server's warnings %s" % (sid, before[logoffs], down,
                                                  prometheus.query("linmgmt_logoffs_total"), left, log[-20:]))


def session_of(pid):
    try:
        with open("/proc/%s/sessionid" % pid) as f:
            return f.read().strip()
    except OSError:
        return None


def test_requests_are_counted(metrics_server, prometheus):
    c = conn(metrics_server)
    expr = 'sum(linmgmt_requests_total{protocol="cimxml",operation="EnumerateInstanceNames",result="ok"}) or vector(0)'
    before = prometheus.value(expr)
    for _ in range(3):
        c.EnumerateInstanceNames("Win32_LogonSession")
    after = prometheus.wait_for(expr, lambda v: v >= before + 3)
    assert after >= before + 3, (before, after)
    assert prometheus.value('linmgmt_build_info') == 1
    assert prometheus.value('sum(linmgmt_request_duration_seconds_count{protocol="cimxml"})') >= 3
