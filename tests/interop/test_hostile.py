"""Hostile input: every bad request gets the right HTTP or CIM error, quickly, and other
clients keep being served."""

import socket
import threading
import time

import pytest

from conftest import ADMIN, conn, imethodcall, raw_post, start_server, stop_server

ENUM = imethodcall(
    "EnumerateInstances",
    '<IPARAMVALUE NAME="ClassName"><CLASSNAME NAME="Win32_LogonSession"/></IPARAMVALUE>')


def assert_alive(server):
    t = time.monotonic()
    assert conn(server).EnumerateInstanceNames("Win32_LogonSession")
    assert time.monotonic() - t < 5


def test_baseline_raw_request(server):
    status, headers, body = raw_post(server.http_port, ENUM)
    assert status == 200
    assert headers["content-type"].startswith("application/xml")
    assert headers["cimoperation"] == "MethodResponse"
    assert b'<IMETHODRESPONSE NAME="EnumerateInstances"><IRETURNVALUE>' in body
    assert b'MESSAGE ID="42"' in body


@pytest.mark.parametrize("body,cimerror", [
    (b"<CIM><MESSAGE>", "request-not-well-formed"),
    (ENUM[: len(ENUM) // 2], "request-not-well-formed"),
    (b"\xff\xfe<\x00C\x00", "request-not-well-formed"),
    (b"", "request-not-well-formed"),
    (b"<NOTCIM/>", "request-not-valid"),
    (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
     + b"".join(b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10 if i > 1 else b"&lol;" * 10)
                for i in range(1, 10))
     + b"]><CIM>&lol9;</CIM>", "request-not-valid"),
    (b"<CIM>&undeclared;</CIM>", "request-not-valid"),
    (b"<a>" * 10000 + b"</a>" * 10000, "request-not-valid"),
    (b"<CIM CIMVERSION='2.0' DTDVERSION='2.0'>" + b"<x/>" * 100000 + b"</CIM>", "request-not-valid"),
])
def test_bad_xml_is_400_with_cimerror(server, body, cimerror):
    t = time.monotonic()
    status, headers, _ = raw_post(server.http_port, body)
    assert status == 400
    assert headers.get("cimerror") == cimerror
    assert time.monotonic() - t < 2
    assert_alive(server)


def test_multireq_and_versions(server):
    multi = (b'<CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="1" PROTOCOLVERSION="1.0">'
             b"<MULTIREQ></MULTIREQ></MESSAGE></CIM>")
    status, headers, _ = raw_post(server.http_port, multi)
    assert (status, headers.get("cimerror")) == (501, "multiple-requests-unsupported")
    v3 = ENUM.replace(b'CIMVERSION="2.0"', b'CIMVERSION="3.0"')
    status, headers, _ = raw_post(server.http_port, v3)
    assert status == 501


def test_huge_body_is_refused_early(server):
    # Announced: 100 MB.
    s = socket.create_connection(("127.0.0.1", server.http_port), timeout=10)
    head = ("POST /cimom HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\n"
            "CIMOperation: MethodCall\r\nCIMMethod: EnumerateInstances\r\n"
            "Content-Type: application/xml\r\nContent-Length: %d\r\n\r\n")
    import base64
    auth = base64.b64encode(("%s:%s" % ADMIN).encode()).decode()
    s.sendall((head % (auth, 100 * 1024 * 1024)).encode() + b"<CIM>")
    reply = s.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:100]
    s.close()
    # Streamed (chunked, no length): cut off at the 4 MiB limit while sending 100 MB.
    s = socket.create_connection(("127.0.0.1", server.http_port), timeout=10)
    s.sendall((head.replace("Content-Length: %d\r\n", "Transfer-Encoding: chunked\r\n")
               % auth).encode())
    chunk = b"%x\r\n%s\r\n" % (1024 * 1024, b"x" * 1024 * 1024)
    sent = 0
    try:
        for _ in range(100):
            s.sendall(chunk)
            sent += 1
    except OSError:
        pass
    s.settimeout(10)
    reply = s.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:100]
    assert sent < 100 or reply
    s.close()
    assert_alive(server)


def test_cim_errors_in_200(server):
    cases = [
        (imethodcall("Frobnicate"), "Frobnicate", b'CODE="7"'),
        (imethodcall("EnumerateInstances",
                     '<IPARAMVALUE NAME="ClassName"><CLASSNAME NAME="Win32_LogonSession"/></IPARAMVALUE>',
                     ns=("root", "nowhere")), "EnumerateInstances", b'CODE="3"'),
        (imethodcall("EnumerateInstances",
                     '<IPARAMVALUE NAME="ClassName"><CLASSNAME NAME="Nope"/></IPARAMVALUE>'),
         "EnumerateInstances", b'CODE="5"'),
        (imethodcall("EnumerateInstances"), "EnumerateInstances", b'CODE="4"'),
        (imethodcall("EnumerateInstances",
                     '<IPARAMVALUE NAME="ClassName"><CLASSNAME NAME="Win32_LogonSession"/></IPARAMVALUE>'
                     '<IPARAMVALUE NAME="Bogus"><VALUE>1</VALUE></IPARAMVALUE>'),
         "EnumerateInstances", b'CODE="4"'),
        (imethodcall("EnumerateInstances",
                     '<IPARAMVALUE NAME="ClassName"><CLASSNAME NAME="Win32_LogonSession"/></IPARAMVALUE>'
                     '<IPARAMVALUE NAME="DeepInheritance"><VALUE>maybe</VALUE></IPARAMVALUE>'),
         "EnumerateInstances", b'CODE="4"'),
        (imethodcall("PullInstancesWithPath",
                     '<IPARAMVALUE NAME="EnumerationContext"><VALUE>forged</VALUE></IPARAMVALUE>'
                     '<IPARAMVALUE NAME="MaxObjectCount"><VALUE>1</VALUE></IPARAMVALUE>'),
         "PullInstancesWithPath", b'CODE="21"'),
    ]
    for body, method, code in cases:
        ns = "root%2Fnowhere" if b"nowhere" in body else "root%2Fcimv2"
        status, _, reply = raw_post(server.http_port, body, {"CIMMethod": method, "CIMObject": ns})
        assert status == 200, reply
        assert code in reply, reply
        assert ('<IMETHODRESPONSE NAME="%s"><ERROR' % method).encode() in reply
    assert_alive(server)


def test_http_level_errors(server):
    assert raw_post(server.http_port, ENUM, method="GET")[0] == 405
    status, headers, _ = raw_post(server.http_port, ENUM, {"CIMMethod": "GetClass"})
    assert (status, headers.get("cimerror")) == (400, "header-mismatch")
    status, headers, _ = raw_post(server.http_port, ENUM, {"CIMObject": "root%2Fother"})
    assert (status, headers.get("cimerror")) == (400, "header-mismatch")
    status, headers, _ = raw_post(server.http_port, ENUM, {"CIMOperation": None})
    assert (status, headers.get("cimerror")) == (400, "unsupported-operation")
    status, headers, _ = raw_post(server.http_port, ENUM, auth=None)
    assert status == 401 and headers["www-authenticate"].startswith("Basic realm=")
    status, headers, _ = raw_post(server.http_port, ENUM, auth=(ADMIN[0], "nope"))
    assert status == 401
    assert raw_post(server.http_port, ENUM, {"Content-Type": "text/plain"})[0] == 415
    assert_alive(server)


def test_slow_clients_do_not_block_others(server):
    """Slowloris: 30 connections trickle header bytes; others are served meanwhile, and
    the server drops the slow ones after its header timeout (3 s in this fixture)."""
    slow = []
    for _ in range(30):
        s = socket.create_connection(("127.0.0.1", server.http_port), timeout=10)
        s.sendall(b"POST /cimom HTTP/1.1\r\nHost: x\r\n")
        slow.append(s)
    stop = threading.Event()

    def trickle():
        while not stop.is_set():
            for s in slow:
                try:
                    s.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    pass
            time.sleep(0.5)

    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    try:
        for _ in range(5):
            assert_alive(server)
        # A slow body too.
        b = socket.create_connection(("127.0.0.1", server.http_port), timeout=10)
        import base64
        auth = base64.b64encode(("%s:%s" % ADMIN).encode()).decode()
        b.sendall(("POST /cimom HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\n"
                   "CIMOperation: MethodCall\r\nCIMMethod: EnumerateInstances\r\n"
                   "Content-Length: 1000\r\n\r\n<CIM" % auth).encode())
        time.sleep(4.5)
        assert_alive(server)
    finally:
        stop.set()
        t.join()
    closed = 0
    for s in slow:
        s.settimeout(2)
        try:
            data = s.recv(1024)
            closed += data == b"" or data.startswith(b"HTTP/1.1 408")
        except OSError:
            closed += 1
        s.close()
    assert closed == len(slow), "slow header senders are cut off after the header timeout"
    b.close()


def test_connection_limit(tmp_path):
    s = start_server(tmp_path, ["--max-connections", "4"], name="limited")
    try:
        time.sleep(0.5)  # the start-up probes' connections end
        idle = [socket.create_connection(("127.0.0.1", s.http_port)) for _ in range(4)]
        time.sleep(0.3)
        extra = socket.create_connection(("127.0.0.1", s.http_port), timeout=5)
        assert extra.recv(1024).startswith(b"HTTP/1.1 503")
        extra.close()
        for c in idle:
            c.close()
        time.sleep(0.3)
        assert_alive(s)
    finally:
        assert stop_server(s) == 0
