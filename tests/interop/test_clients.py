"""The command-line clients: pywbemcli 1.4.1 (pywbemtools) and sblim-wbemcli 1.6.3."""

import os
import shutil
import subprocess
import sys

import pytest

from conftest import ADMIN, PLAIN, cli_count

PYWBEMCLI = os.path.join(os.path.dirname(sys.executable), "pywbemcli")
WBEMCLI = shutil.which("wbemcli")


def pywbemcli(server, scheme, *args, creds=ADMIN, general=(), check=True, tmp=None):
    cmd = [PYWBEMCLI, "-s", server.url(scheme), "-u", creds[0], "-p", creds[1], *general]
    if scheme == "https":
        cmd += ["--ca-certs", server.cert]
    cmd += list(args)
    env = dict(os.environ, HOME=str(server.workdir), PYWBEMCLI_TERMWIDTH="200")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=str(server.workdir),
                       env=env)
    if check:
        assert r.returncode == 0, "%s\n%s\n%s" % (" ".join(cmd), r.stdout, r.stderr)
    return r


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("pull", [["-U", "either"], ["-U", "no"], ["-U", "yes", "--pull-max-cnt", "1"]])
def test_pywbemcli_instances(server, scheme, pull):
    n = cli_count("SELECT * FROM Win32_LogonSession")
    r = pywbemcli(server, scheme, "instance", "count", "Win32_LogonSession", general=pull)
    assert "Win32_LogonSession" in r.stdout and (" %d" % n) in r.stdout, r.stdout
    r = pywbemcli(server, scheme, "-o", "mof", "instance", "enumerate", "Win32_LogonSession",
                  general=pull)
    assert r.stdout.count("instance of Win32_LogonSession") == n
    r = pywbemcli(server, scheme, "instance", "enumerate", "Win32_LogonSession", "--no",
                  general=pull)
    assert r.stdout.count("Win32_LogonSession.LogonId=") == n
    r = pywbemcli(server, scheme, "-o", "mof", "instance", "get",
                  'Win32_LogonSession.LogonId="0"', general=pull)
    assert 'LogonId = "0";' in r.stdout and "LogonType = 0;" in r.stdout
    r = pywbemcli(server, scheme, "-o", "mof", "instance", "get", "Win32_LogonSession",
                  "--key", "LogonId=0", general=pull)
    assert 'LogonId = "0";' in r.stdout
    r = pywbemcli(server, scheme, "instance", "associators", 'Win32_LogonSession.LogonId="0"',
                  general=pull)
    assert r.returncode == 0
    r = pywbemcli(server, scheme, "instance", "references", 'Win32_LogonSession.LogonId="0"',
                  "--no", general=pull)
    assert r.returncode == 0


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_pywbemcli_classes_and_server(server, scheme):
    r = pywbemcli(server, scheme, "class", "get", "Win32_LogonSession", "-n", "root/cimv2")
    assert "class Win32_LogonSession : Win32_Session" in r.stdout
    assert "[Key" in r.stdout and "LogonId;" in r.stdout
    r = pywbemcli(server, scheme, "class", "enumerate", "--no", "--di")
    assert "Win32_LogonSession" in r.stdout.split()
    r = pywbemcli(server, scheme, "class", "enumerate", "Win32_Session")
    assert "class Win32_LogonSession : Win32_Session" in r.stdout
    r = pywbemcli(server, scheme, "-o", "text", "namespace", "list")
    assert "root/cimv2" in r.stdout and "interop" in r.stdout
    r = pywbemcli(server, scheme, "server", "brand")
    assert "linmgmt" in r.stdout
    r = pywbemcli(server, scheme, "-o", "table", "instance", "enumerate", "Win32_ServerSession")
    assert r.returncode == 0
    r = pywbemcli(server, scheme, "qualifier", "get", "Key")
    assert "Qualifier Key" in r.stdout


def test_pywbemcli_wrong_password(server):
    r = pywbemcli(server, "http", "class", "enumerate", "--no", creds=(ADMIN[0], "wrong"),
                  check=False)
    assert r.returncode != 0
    assert "401" in r.stderr + r.stdout or "uthenticat" in r.stderr + r.stdout


def test_pywbemcli_plain_user(server):
    r = pywbemcli(server, "http", "instance", "enumerate", "Win32_LogonSession", "--no", creds=PLAIN)
    assert 'LogonId="0"' not in r.stdout


def wbemcli(server, scheme, op, obj, *extra, creds=ADMIN, check=True):
    url = "%s://%s:%s@127.0.0.1:%d/%s" % (
        scheme, creds[0], creds[1], server.http_port if scheme == "http" else server.https_port, obj)
    cmd = [WBEMCLI, op, *(["-noverify"] if scheme == "https" else []), url, *extra]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if check:
        assert r.returncode == 0, "%s\n%s\n%s" % (" ".join(cmd), r.stdout, r.stderr)
    return r


needs_wbemcli = pytest.mark.skipif(WBEMCLI is None, reason="sblim-wbemcli is not installed")


@needs_wbemcli
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_wbemcli_operations(server, scheme):
    n = cli_count("SELECT * FROM Win32_LogonSession")
    r = wbemcli(server, scheme, "ecn", "root/cimv2")
    assert "root/cimv2:Win32_LogonSession" in r.stdout
    r = wbemcli(server, scheme, "gc", "root/cimv2:Win32_LogonSession")
    assert "root/cimv2:Win32_LogonSession" in r.stdout and "LogonId" in r.stdout
    r = wbemcli(server, scheme, "ei", "root/cimv2:Win32_LogonSession")
    lines = [l for l in r.stdout.splitlines() if "Win32_LogonSession.LogonId=" in l]
    assert len(lines) == n
    assert any("InstallDate=," in l for l in lines), "a NULL property prints empty"
    r = wbemcli(server, scheme, "ei", "root/cimv2:Win32_LogonSession", "LogonId,LogonType")
    assert "LogonType=" in r.stdout and "Caption=" not in r.stdout
    r = wbemcli(server, scheme, "ein", "root/cimv2:Win32_LogonSession")
    assert r.stdout.count("Win32_LogonSession.LogonId=") == n
    r = wbemcli(server, scheme, "gi", 'root/cimv2:Win32_LogonSession.LogonId="0"')
    assert 'LogonId="0"' in r.stdout and "LogonType=0" in r.stdout
    r = wbemcli(server, scheme, "ecn", "root/cimv2", "-nl")
    # An empty result is still an answer (no self-closing IRETURNVALUE).
    r = wbemcli(server, scheme, "ei", "root/cimv2:Win32_SystemAccount")
    assert r.stdout.strip() == ""


@needs_wbemcli
def test_wbemcli_errors(server):
    r = wbemcli(server, "http", "ecn", "root/cimv2", creds=(ADMIN[0], "wrong"), check=False)
    assert r.returncode == 16 and "Invalid username/password" in r.stdout + r.stderr
    r = wbemcli(server, "http", "ecn", "root/nope", check=False)
    assert r.returncode == 16 and "CIM_ERR_INVALID_NAMESPACE" in r.stdout + r.stderr
    r = wbemcli(server, "http", "gi", 'root/cimv2:Win32_LogonSession.LogonId="nope"', check=False)
    assert r.returncode == 16 and "CIM_ERR_NOT_FOUND" in r.stdout + r.stderr
