"""WS-Management (`POST /wsman`) against real, unmodified WinRM clients: pypsrp 0.9.1 (its
WSMan class), pywinrm 0.5.0 (`Protocol.send_message` with raw envelopes, and its fault
parser) and Debian's `wsl` (Dell's bash + curl + xmllint client), plus raw HTTP where a byte
count or a header matters.

Ground truth is `linmgmt query ... --format json` run at the same moment, as root, with the
same environment as the server (the live harness's sshd and Samba sessions). Sessions come
and go, so a comparison is retried a few times before it fails (`settle`).

What each client sends, and what it needs back, is in /tmp/wsman-facts.md and
`shared/spec/cim-xml-and-ws-man.md` §3. Notable:
  * pywinrm raises WSManFaultError only for a non-2xx answer with a SOAP fault, and
    WinRMOperationTimeoutError for WSManFault Code 2150858793;
  * pypsrp checks that wsa:RelatesTo is the MessageID it sent;
  * wsl swaps associators and references (`-associators` sends AssociationInstances) and
    pulls while the last `:EnumerationContext` element it sees has text.
"""

import base64
import http.client
import json
import os
import queue
import re
import signal
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime

import pytest

from conftest import ADMIN, LINMGMT, PLAIN, start_server, stop_server

# --- names ----------------------------------------------------------------------------------

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "wsa": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "wsen": "http://schemas.xmlsoap.org/ws/2004/09/enumeration",
    "wsman": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "wse": "http://schemas.xmlsoap.org/ws/2004/08/eventing",
    "wsmb": "http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd",
    "wsmid": "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd",
    "wsmv": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
    "wmie": "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/MSFT_WmiError",
    "cim": "http://schemas.dmtf.org/wbem/wscim/1/common",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}
ANONYMOUS = NS["wsa"] + "/role/anonymous"
WMI = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/"
CIM = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
CIM_ALL = "http://schemas.dmtf.org/wbem/wscim/1/*"
SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"

ENUMERATE = NS["wsen"] + "/Enumerate"
PULL = NS["wsen"] + "/Pull"
RELEASE = NS["wsen"] + "/Release"
TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
GET = TRANSFER + "Get"
SUBSCRIBE = NS["wse"] + "/Subscribe"
RENEW = NS["wse"] + "/Renew"
UNSUBSCRIBE = NS["wse"] + "/Unsubscribe"

WQL = "http://schemas.microsoft.com/wbem/wsman/1/WQL"
CQL = "http://schemas.dmtf.org/wbem/cql/1/dsp0202.pdf"
SELECTOR_FILTER = "http://schemas.dmtf.org/wbem/wsman/1/wsman/SelectorFilter"
ASSOCIATION_FILTER = "http://schemas.dmtf.org/wbem/wsman/1/cimbinding/associationFilter"
PULL_DELIVERY = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Pull"

# WSManFault/@Code: ERROR_WSMAN_... generic, and the timeout WinRM clients retry on.
WSMAN_GENERIC = 2150858752
WSMAN_TIMED_OUT = 2150858793
# WMI HRESULTs in MSFT_WmiError/error_Code.
WBEM_E_NOT_FOUND = 0x80041002
WBEM_E_INVALID_PARAMETER = 0x80041008
WBEM_E_INVALID_NAMESPACE = 0x8004100E
WBEM_E_INVALID_CLASS = 0x80041010
WBEM_E_INVALID_QUERY = 0x80041017
WBEM_E_INVALID_QUERY_TYPE = 0x80041018
WBEM_E_INVALID_SYNTAX = 0x80041021

LOGONS = ("SELECT * FROM __InstanceCreationEvent WITHIN 1 "
          "WHERE TargetInstance ISA 'Win32_LogonSession'")
NO_EVENTS = LOGONS + " AND TargetInstance.LogonId = 'never'"

SCHEMES = ["http", "https"]


def q(name):
    """`prefix:local` as an ElementTree `{uri}local`."""
    prefix, local = name.split(":")
    return "{%s}%s" % (NS[prefix], local)


def local(tag):
    return tag.rsplit("}", 1)[-1]


def esc(text):
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


# --- envelopes ------------------------------------------------------------------------------

def selector_set(selectors):
    return "<wsman:SelectorSet>%s</wsman:SelectorSet>" % "".join(
        '<wsman:Selector Name="%s">%s</wsman:Selector>' % (esc(k), esc(v)) for k, v in selectors)


def envelope(action, uri=None, body="", selectors=(), options=(), message_id=None,
             max_envelope=153600, timeout="PT60S", reply_to=ANONYMOUS, identifier=None,
             extra_headers="", declarations=""):
    """One request envelope, headers in the order pypsrp writes them. `action=None` leaves
    wsa:Action out (Identify); `options` are (name, value, attributes) triples."""
    message_id = "uuid:%s" % str(uuid.uuid4()).upper() if message_id is None else message_id
    h = []
    if action:
        h.append('<wsa:Action s:mustUnderstand="true">%s</wsa:Action>' % esc(action))
    h.append("<wsa:To>http://windows-host:5985/wsman</wsa:To>")
    if uri:
        h.append('<wsman:ResourceURI s:mustUnderstand="true">%s</wsman:ResourceURI>' % esc(uri))
    h.append("<wsa:MessageID>%s</wsa:MessageID>" % esc(message_id))
    if reply_to:
        h.append('<wsa:ReplyTo><wsa:Address s:mustUnderstand="true">%s</wsa:Address>'
                 "</wsa:ReplyTo>" % esc(reply_to))
    if max_envelope:
        h.append('<wsman:MaxEnvelopeSize s:mustUnderstand="true">%d</wsman:MaxEnvelopeSize>'
                 % max_envelope)
    if timeout:
        h.append("<wsman:OperationTimeout>%s</wsman:OperationTimeout>" % timeout)
    if selectors:
        h.append(selector_set(selectors))
    if options:
        h.append('<wsman:OptionSet s:mustUnderstand="true">%s</wsman:OptionSet>' % "".join(
            '<wsman:Option Name="%s"%s>%s</wsman:Option>'
            % (esc(n), "".join(' %s="%s"' % (k, esc(v)) for k, v in attrs.items()), esc(v))
            for n, v, attrs in options))
    if identifier:
        h.append("<wse:Identifier>%s</wse:Identifier>" % esc(identifier))
    h.append(extra_headers)
    xmlns = " ".join('xmlns:%s="%s"' % (p, NS[p])
                     for p in ("s", "wsa", "wsen", "wsman", "wse", "wsmb"))
    return ("<s:Envelope %s%s><s:Header>%s</s:Header><s:Body>%s</s:Body></s:Envelope>"
            % (xmlns, declarations, "".join(h), body))


def enumerate_body(filter_xml="", optimize=None, mode=None):
    """A wsen:Enumerate: `optimize` is MaxElements (OptimizeEnumeration) or None."""
    parts = []
    if optimize:
        parts.append("<wsman:OptimizeEnumeration/><wsman:MaxElements>%d</wsman:MaxElements>"
                     % optimize)
    if mode:
        parts.append("<wsman:EnumerationMode>%s</wsman:EnumerationMode>" % mode)
    parts.append(filter_xml)
    return "<wsen:Enumerate>%s</wsen:Enumerate>" % "".join(parts)


def wql(query, dialect=WQL):
    return '<wsman:Filter Dialect="%s">%s</wsman:Filter>' % (dialect, esc(query))


def selector_filter(selectors):
    return '<wsman:Filter Dialect="%s">%s</wsman:Filter>' % (SELECTOR_FILTER,
                                                             selector_set(selectors))


def epr_xml(uri, selectors):
    return ("<wsa:Address>%s</wsa:Address><wsa:ReferenceParameters><wsman:ResourceURI>%s"
            "</wsman:ResourceURI>%s</wsa:ReferenceParameters>"
            % (ANONYMOUS, esc(uri), selector_set(selectors)))


def association_filter(kind, uri, selectors, **fields):
    """`kind` AssociatedInstances (associators) or AssociationInstances (references);
    `fields` AssociationClassName, Role, ResultClassName, ResultRole, IncludeResultProperty
    (a list)."""
    extra = []
    for name, value in fields.items():
        for v in value if isinstance(value, (list, tuple)) else [value]:
            extra.append("<wsmb:%s>%s</wsmb:%s>" % (name, esc(v), name))
    return ('<wsman:Filter Dialect="%s"><wsmb:%s><wsmb:Object>%s</wsmb:Object>%s</wsmb:%s>'
            "</wsman:Filter>" % (ASSOCIATION_FILTER, kind, epr_xml(uri, selectors),
                                 "".join(extra), kind))


def pull_body(context, max_elements=None, max_time=None):
    return ("<wsen:Pull><wsen:EnumerationContext>%s</wsen:EnumerationContext>%s%s</wsen:Pull>"
            % (esc(context),
               "<wsen:MaxTime>%s</wsen:MaxTime>" % max_time if max_time else "",
               "<wsen:MaxElements>%d</wsen:MaxElements>" % max_elements if max_elements else ""))


def subscribe_body(query, mode=PULL_DELIVERY, expires=None):
    delivery = '<wse:Delivery Mode="%s"/>' % mode if mode else "<wse:Delivery/>"
    return ("<wse:Subscribe>%s%s%s</wse:Subscribe>"
            % (delivery, "<wse:Expires>%s</wse:Expires>" % expires if expires else "",
               wql(query)))


# --- raw HTTP -------------------------------------------------------------------------------

def basic(creds):
    return "Basic " + base64.b64encode(("%s:%s" % creds).encode()).decode()


@dataclass
class WsFault:
    code: str
    subcode: str
    reason: str
    wsman_code: int
    wmi_code: int
    detail: str


@dataclass
class Reply:
    status: int
    headers: dict
    body: bytes
    local_port: int

    @property
    def root(self):
        return ET.fromstring(self.body)

    def find(self, path):
        return self.root.find(path, NS)

    @property
    def relates_to(self):
        """wsa:RelatesTo's text (entities resolved; white space kept, as ElementTree
        keeps it)."""
        e = self.find("s:Header/wsa:RelatesTo")
        return None if e is None else (e.text or "")

    @property
    def action(self):
        e = self.find("s:Header/wsa:Action")
        return None if e is None else e.text

    @property
    def fault(self):
        return parse_fault(self.body)

    def describe(self):
        return "HTTP %d: %s" % (self.status, self.body[:1500].decode("utf-8", "replace"))


def parse_fault(body):
    """The SOAP fault in a response body, or None."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    f = root.find("s:Body/s:Fault", NS)
    if f is None:
        return None

    def text(path):
        e = f.find(path, NS)
        return None if e is None else e.text

    wsman = f.find("s:Detail/f:WSManFault", NS)
    wmi = text("s:Detail/wmie:MSFT_WmiError/wmie:error_Code")
    return WsFault(
        code=text("s:Code/s:Value"),
        subcode=text("s:Code/s:Subcode/s:Value"),
        reason=text("s:Reason/s:Text"),
        wsman_code=int(wsman.get("Code")) if wsman is not None else None,
        wmi_code=int(wmi) if wmi else None,
        detail=text("s:Detail/wsman:FaultDetail"),
    )


def connection(server, scheme, timeout=150):
    port = server.wsman_port(scheme)
    if scheme == "https":
        ctx = ssl.create_default_context(cafile=server.cert)
        return http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=timeout)
    return http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)


def post(server, data, scheme="http", creds=ADMIN, headers=None, path="/wsman",
         method="POST", timeout=150):
    """One request on its own connection; `creds=None` sends no Authorization."""
    if isinstance(data, str):
        data = data.encode()
    h = {"Content-Type": "application/soap+xml;charset=UTF-8"}
    if creds:
        h["Authorization"] = basic(creds)
    h.update(headers or {})
    h = {k: v for k, v in h.items() if v is not None}
    c = connection(server, scheme, timeout)
    try:
        c.connect()
        port = c.sock.getsockname()[1]
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read(), port)
    finally:
        c.close()


def raw_exchange(server, head, body_chunks, scheme="http", timeout=30):
    """Sends a request head, then body chunks, on a raw socket, carrying on quietly when the
    server stops reading (it may answer before the body is in, as it does a client without
    credentials or over the size limit, and close); then reads the answer, as a careful
    client does. Returns a Reply."""
    sock = socket.create_connection(("127.0.0.1", server.wsman_port(scheme)), timeout=timeout)
    if scheme == "https":
        ctx = ssl.create_default_context(cafile=server.cert)
        sock = ctx.wrap_socket(sock, server_hostname="127.0.0.1")
    try:
        port = sock.getsockname()[1]
        sock.sendall(head)
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except OSError:
            pass
        answer = b""
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                break
            if not data:
                break
            answer += data
            head_end = answer.find(b"\r\n\r\n")
            if head_end >= 0:
                m = re.search(rb"(?im)^content-length:\s*(\d+)", answer[:head_end])
                if m and len(answer) >= head_end + 4 + int(m.group(1)):
                    break
        m = re.match(rb"HTTP/1\.1 (\d{3}) ", answer)
        assert m, "no HTTP answer: %r" % answer[:200]
        head_part, _, body = answer.partition(b"\r\n\r\n")
        headers = {}
        for line in head_part.split(b"\r\n")[1:]:
            k, _, v = line.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        return Reply(int(m.group(1)), headers, body, port)
    finally:
        sock.close()


def request_head(length=None, creds=ADMIN, chunked=False):
    lines = ["POST /wsman HTTP/1.1", "Host: 127.0.0.1",
             "Content-Type: application/soap+xml;charset=UTF-8"]
    if creds:
        lines.append("Authorization: " + basic(creds))
    lines.append("Transfer-Encoding: chunked" if chunked else "Content-Length: %d" % length)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def call(server, *args, scheme="http", creds=ADMIN, **kwargs):
    """`post(envelope(*args, **kwargs))`."""
    return post(server, envelope(*args, **kwargs), scheme=scheme, creds=creds)


def ok(reply):
    assert reply.status == 200, reply.describe()
    assert reply.fault is None, reply.describe()
    return reply


def expect_fault(reply, subcode, wmi=None, code="s:Sender", wsman_code=WSMAN_GENERIC):
    """Asserts a WS-Man fault as WinRM sends it: HTTP 500, the subcode, the Microsoft
    WSManFault detail (pywinrm's int(Code)) and, where given, the WMI error."""
    assert reply.status == 500, "a fault goes with HTTP 500: " + reply.describe()
    assert reply.headers.get("content-type", "").startswith("application/soap+xml"), \
        reply.headers
    f = reply.fault
    assert f is not None, "no s:Fault in " + reply.describe()
    assert (f.code, f.subcode) == (code, subcode), (f, reply.describe())
    assert f.reason, f
    assert f.wsman_code == wsman_code, f
    if wmi is not None:
        assert f.wmi_code == wmi, "MSFT_WmiError/error_Code %r, expected %#x" % (f.wmi_code, wmi)
    return f


def items_of(reply):
    """(context or None, item elements, end of sequence) of an Enumerate/PullResponse."""
    body = reply.find("s:Body")
    # Items and EndOfSequence are wsman: in an (optimized) EnumerateResponse, wsen: in a
    # PullResponse (DSP0226 §8.2.3, WS-Enumeration).
    prefix, resp = "wsman", body.find("wsen:EnumerateResponse", NS)
    if resp is None:
        prefix, resp = "wsen", body.find("wsen:PullResponse", NS)
    assert resp is not None, reply.describe()
    other = "wsen" if prefix == "wsman" else "wsman"
    assert resp.find(other + ":Items", NS) is None, reply.describe()
    assert resp.find(other + ":EndOfSequence", NS) is None, reply.describe()
    ctx = resp.find("wsen:EnumerationContext", NS)
    items = resp.find(prefix + ":Items", NS)
    eos = resp.find(prefix + ":EndOfSequence", NS) is not None
    ctx = ctx.text if ctx is not None and ctx.text else None
    return ctx, list(items) if items is not None else [], eos


def enumerate_raw(server, uri, body, scheme="http", creds=ADMIN, max_envelope=153600,
                  pull_max=None, selectors=(), options=(), on_fault=None):
    """Enumerate and Pull to the end over raw HTTP: (items, replies). `on_fault(reply,
    context)` may answer a faulted Pull with a replacement reply."""
    first = ok(call(server, ENUMERATE, uri, body, scheme=scheme, creds=creds,
                    max_envelope=max_envelope, selectors=selectors, options=options))
    replies = [first]
    ctx, items, eos = items_of(first)
    items = list(items)
    while not eos:
        assert ctx, "a response that does not end the sequence needs a context: " + \
            replies[-1].describe()
        assert len(replies) < 5000, "the enumeration does not end"
        r = call(server, PULL, uri, pull_body(ctx, pull_max), scheme=scheme, creds=creds,
                 max_envelope=max_envelope)
        if r.status != 200 and on_fault:
            r = on_fault(r, ctx)
        replies.append(ok(r))
        ctx, page, eos = items_of(r)
        items.extend(page)
    return items, replies


def props(element):
    """An instance element's properties: local name -> text (None for xsi:nil), the
    element itself when it has children (datetimes, references, embedded instances)."""
    out = {}
    for c in element:
        name = local(c.tag)
        if c.get(q("xsi:nil")) == "true":
            value = None
        elif len(c):
            value = c
        else:
            value = c.text or ""
        if name in out:
            prev = out[name]
            out[name] = (prev if isinstance(prev, list) else [prev]) + [value]
        else:
            out[name] = value
    return out


def epr_parts(epr):
    """(ResourceURI, {selector: text}) of a wsa:EndpointReference (or of a reference
    property, which holds the same children)."""
    params = epr.find("wsa:ReferenceParameters", NS)
    assert params is not None, ET.tostring(epr)
    assert epr.find("wsa:Address", NS).text == ANONYMOUS
    uri = params.find("wsman:ResourceURI", NS).text
    sels = {s.get("Name"): (s.text or "")
            for s in params.findall("wsman:SelectorSet/wsman:Selector", NS)}
    return uri, sels


def class_of(element):
    return local(element.tag)


# --- ground truth ---------------------------------------------------------------------------

def cli(query):
    """`linmgmt query` as JSON: the host as root sees it now."""
    out = subprocess.run([LINMGMT, "query", query, "--format", "json"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def settle(fetch, truth, tries=4):
    """(seen, expected) from up to `tries` rounds, stopping at the first that agree:
    sessions and processes may change between two looks."""
    for attempt in range(tries):
        seen, expected = fetch(), truth()
        if seen == expected:
            break
        time.sleep(0.5 * (attempt + 1))
    return seen, expected


def cli_keys(query, *names):
    return {tuple(str(o[n]) for n in names) for o in cli(query)}


_LOGON_ID = []


def a_logon_id():
    """The LogonId of some session that exists (the first the CLI lists)."""
    if not _LOGON_ID:
        sessions = cli("SELECT LogonId FROM Win32_LogonSession")
        assert sessions, "no logon sessions at all"
        _LOGON_ID.append(sessions[0]["LogonId"])
    return _LOGON_ID[0]


def account_domain(user):
    found = cli("SELECT * FROM Win32_UserAccount WHERE Name = '%s'" % user)
    assert found, "no Win32_UserAccount for %s" % user
    return found[0]["Domain"]


# --- clients --------------------------------------------------------------------------------

def psrp(server, scheme="http", creds=ADMIN, **kw):
    from pypsrp.wsman import WSMan
    return WSMan("127.0.0.1", port=server.wsman_port(scheme), ssl=scheme == "https",
                 auth="basic", encryption="never" if scheme == "http" else "auto",
                 cert_validation=server.cert if scheme == "https" else False,
                 username=creds[0], password=creds[1], **kw)


def element(xml):
    """An ElementTree element from a fragment using the usual prefixes."""
    xmlns = " ".join('xmlns:%s="%s"' % (p, NS[p]) for p in ("wsa", "wsen", "wsman", "wsmb"))
    return ET.fromstring(re.sub(r"^<([\w:]+)", r"<\1 " + xmlns, xml, count=1))


def psrp_enumerate(w, uri, body, pull_max=None, selector_set=None, option_set=None):
    """Enumerate and Pull to the end through pypsrp: (items, number of pulls)."""
    resp = w.enumerate(uri, element(body), option_set=option_set, selector_set=selector_set)
    er = resp.find("wsen:EnumerateResponse", NS)
    assert er is not None, ET.tostring(resp)
    items = list(er.find("wsman:Items", NS) if er.find("wsman:Items", NS) is not None else [])
    eos = er.find("wsman:EndOfSequence", NS) is not None
    ctx = er.find("wsen:EnumerationContext", NS)
    ctx = ctx.text if ctx is not None else None
    pulls = 0
    while not eos:
        assert ctx, ET.tostring(resp)
        resp = w.pull(uri, element(pull_body(ctx, pull_max)))
        pulls += 1
        assert pulls < 5000
        pr = resp.find("wsen:PullResponse", NS)
        page = pr.find("wsen:Items", NS)
        items.extend(list(page) if page is not None else [])
        eos = pr.find("wsen:EndOfSequence", NS) is not None
        ctx_el = pr.find("wsen:EnumerationContext", NS)
        if eos:
            assert ctx_el is None or not ctx_el.text, \
                "with EndOfSequence the context is left out (MS-WSMV 4.1.2.6; wsl loops)"
        ctx = ctx_el.text if ctx_el is not None else None
    return items, pulls


def winrm_protocol(server, scheme="http", creds=ADMIN):
    from winrm.protocol import Protocol
    kw = {"ca_trust_path": server.cert, "server_cert_validation": "validate"} \
        if scheme == "https" else {"message_encryption": "never"}
    return Protocol(server.wsman_url(scheme), transport="basic", username=creds[0],
                    password=creds[1], **kw)


def winrm_fault(server, xml, scheme="http", creds=ADMIN):
    """The WSManFaultError pywinrm raises for `xml` (fails when it raises none)."""
    from winrm.exceptions import WSManFaultError
    p = winrm_protocol(server, scheme, creds)
    with pytest.raises(WSManFaultError) as e:
        answer = p.send_message(xml)
        pytest.fail("expected a fault, got %s" % answer[:1500])
    return e.value


# --- live ssh logins ------------------------------------------------------------------------

def ssh_command():
    ssh = os.environ.get("LINMGMT_LIVE_SSH")
    if not ssh:
        pytest.skip("LINMGMT_LIVE_SSH is not set: run through tests/interop/run as root, "
                    "which starts the live sshd")
    return ssh.split(",")


class SshLogin:
    """A real ssh login (the live harness's sshd and key) running `command`, whose output
    starts with the audit session id (`cat /proc/self/sessionid`, no newline after it)."""

    def __init__(self, user, command):
        self.proc = subprocess.Popen(ssh_command() + ["%s@127.0.0.1" % user, command],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.chunks = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        fd = self.proc.stdout.fileno()
        while True:
            chunk = os.read(fd, 256)
            self.chunks.put(chunk)
            if not chunk:
                break

    def session_id(self, timeout=20):
        """The number printed first: complete once something else follows it, the output
        ends, or nothing more comes for 0.3 s."""
        text, deadline, ended = b"", time.monotonic() + timeout, False
        while time.monotonic() < deadline:
            try:
                chunk = self.chunks.get(timeout=0.3)
            except queue.Empty:
                if re.match(rb"\s*\d+", text):
                    break
                continue
            if not chunk:
                ended = True
                break
            text += chunk
            if re.match(rb"\s*\d+\D", text):
                break
        m = re.match(rb"\s*(\d+)", text)
        if not m:
            self.close()
            pytest.fail("the ssh login printed no session id (%r, ended %s): %s"
                        % (text, ended, self.proc.stderr.read()[-2000:]))
        self.sid = m.group(1).decode()
        return self.sid

    def close(self):
        """Ends the login: the ssh client, then whatever the remote command left running in
        its audit session (a no-pty session's processes outlive the connection), so that no
        test leaves sessions behind for the next."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        sid = getattr(self, "sid", None)
        if sid is None:
            return
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/sessionid" % pid) as f:
                    if f.read().strip() != sid:
                        continue
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass


@pytest.fixture(scope="module")
def carol(server):
    """lmcarol logged in over ssh for the module, running `sleep`: its session id, once
    both the CLI and the server (whose host snapshot may be a moment old) see the session
    with the sleep in it."""
    login = SshLogin("lmcarol", "cat /proc/self/sessionid; exec sleep 600")
    sid = login.session_id()
    query = ('ASSOCIATORS OF {Win32_LogonSession.LogonId="%s"} '
             "WHERE ResultClass = Win32_Process" % sid)
    body = enumerate_body(association_filter(
        "AssociatedInstances", WMI + "Win32_LogonSession", [("LogonId", sid)],
        ResultClassName="Win32_Process"), optimize=100)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        r = call(server, ENUMERATE, WMI + "*", body)
        served = {props(i)["Name"] for i in items_of(r)[1]} if r.status == 200 else set()
        if "sleep" in served and "sleep" in {p["Name"] for p in cli(query)}:
            break
        time.sleep(0.5)
    else:
        login.close()
        pytest.fail("session %s with its sleep never showed up (server, then linmgmt query)"
                    % sid)
    yield sid
    login.close()


# ============================================================================================
# 1. pypsrp: enumerations, filters, Get, modes, associations, paging, Release
# ============================================================================================

KEYS = {
    "Win32_LogonSession": ("LogonId",),
    "Win32_ServerSession": ("ComputerName", "UserName"),
}


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("cls", sorted(KEYS))
def test_pypsrp_enumerate_and_pull_matches_the_cli(server, scheme, cls):
    """A plain Enumerate (a context, no items) and Pulls of the default one item each."""
    w = psrp(server, scheme)
    names = KEYS[cls]

    def fetch():
        items, pulls = psrp_enumerate(w, WMI + cls, "<wsen:Enumerate/>")
        fetch.pulls = pulls
        for i in items:
            assert class_of(i) == cls and i.tag.startswith("{%s%s}" % (WMI, cls)), i.tag
        return {tuple(props(i)[n] for n in names) for i in items}

    seen, expected = settle(fetch, lambda: cli_keys("SELECT * FROM %s" % cls, *names))
    assert seen == expected
    # Pull's MaxElements defaults to 1: one Pull per instance, and one that ends it.
    assert fetch.pulls in (len(seen), len(seen) + 1), (fetch.pulls, len(seen))


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("cls", sorted(KEYS))
def test_pypsrp_optimized_enumeration(server, scheme, cls):
    """OptimizeEnumeration with MaxElements 2: the first items come in the
    EnumerateResponse (wsman:Items), the rest in Pulls of 2."""
    w = psrp(server, scheme)
    names = KEYS[cls]
    first = w.enumerate(WMI + cls, element(enumerate_body(optimize=2)))
    er = first.find("wsen:EnumerateResponse", NS)
    assert er.find("wsman:Items", NS) is not None, ET.tostring(first)
    assert len(er.find("wsman:Items", NS)) <= 2

    def fetch():
        items, _ = psrp_enumerate(w, WMI + cls, enumerate_body(optimize=2), pull_max=2)
        return {tuple(props(i)[n] for n in names) for i in items}

    seen, expected = settle(fetch, lambda: cli_keys("SELECT * FROM %s" % cls, *names))
    assert seen == expected


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("uri,query,names", [
    (WMI + "Win32_LogonSession", "SELECT * FROM Win32_LogonSession WHERE LogonType = 10",
     ("LogonId",)),
    (WMI + "*", "SELECT * FROM Win32_LogonSession WHERE LogonType <> 10", ("LogonId",)),
    (WMI + "*", "SELECT * FROM Win32_ServerSession WHERE UserName = 'lmalice'",
     ("ComputerName", "UserName")),
    (WMI + "*", "SELECT UserName, ComputerName FROM Win32_ServerSession "
     "WHERE UserName <> 'lmalice'", ("ComputerName", "UserName")),
])
def test_pypsrp_wql_filter(server, scheme, uri, query, names):
    w = psrp(server, scheme)

    def fetch():
        items, _ = psrp_enumerate(w, uri, enumerate_body(wql(query), optimize=10), pull_max=10)
        return {tuple(props(i)[n] for n in names) for i in items}

    seen, expected = settle(fetch, lambda: cli_keys(query, *names))
    assert seen == expected, query


def test_pypsrp_wql_projection_sends_only_the_selected_properties(server):
    w = psrp(server)
    items, _ = psrp_enumerate(w, WMI + "*", enumerate_body(
        wql("SELECT LogonType FROM Win32_LogonSession"), optimize=50))
    assert items, "no sessions at all"
    for i in items:
        # The key comes along (for the EPR), as WMI does; nothing else does.
        assert set(props(i)) <= {"LogonType", "LogonId"}, props(i)
        assert "LogonType" in props(i)


def test_pypsrp_cql_dialect_is_taken_as_wql(server):
    """wsl's default dialect is CQL (DSP0202); the server reads it as WQL."""
    w = psrp(server)
    query = "SELECT * FROM Win32_LogonSession WHERE LogonType = 10"

    def fetch():
        items, _ = psrp_enumerate(w, WMI + "*", enumerate_body(wql(query, CQL), optimize=50))
        return {props(i)["LogonId"] for i in items}

    seen, expected = settle(fetch, lambda: {o["LogonId"] for o in cli(query)})
    assert seen == expected


@pytest.mark.parametrize("scheme", SCHEMES)
def test_pypsrp_get_by_selectors(server, scheme):
    from pypsrp.wsman import SelectorSet
    w = psrp(server, scheme)
    sessions = cli("SELECT * FROM Win32_LogonSession")
    assert sessions
    for s in sessions[:6]:
        sel = SelectorSet()
        sel.add_option("LogonId", s["LogonId"])
        body = w.get(WMI + "Win32_LogonSession", selector_set=sel)
        inst = body.find("{%sWin32_LogonSession}Win32_LogonSession" % WMI)
        assert inst is not None, ET.tostring(body)
        p = props(inst)
        assert p["LogonId"] == s["LogonId"]
        assert int(p["LogonType"]) == s["LogonType"]
        assert p["AuthenticationPackage"] == s["AuthenticationPackage"]
        # datetime as cim:Datetime (xs:dateTime, UTC as Z), NULL as xsi:nil
        stamp = p["StartTime"].find("cim:Datetime", NS).text
        assert datetime.fromisoformat(stamp) == datetime.fromisoformat(s["StartTime"]), stamp
        assert p["InstallDate"] is None

    servers = cli("SELECT * FROM Win32_ServerSession")
    assert servers, "no server sessions (the live harness's ssh and SMB sessions)"
    for s in servers[:4]:
        sel = SelectorSet()
        sel.add_option("ComputerName", s["ComputerName"])
        sel.add_option("UserName", s["UserName"])
        body = w.get(WMI + "Win32_ServerSession", selector_set=sel)
        p = props(body.find("{%sWin32_ServerSession}Win32_ServerSession" % WMI))
        assert (p["ComputerName"], p["UserName"]) == (s["ComputerName"], s["UserName"])
        assert p["ClientType"] == s["ClientType"]


def test_pypsrp_get_with_the_dmtf_uri_and_cimnamespace(server):
    from pypsrp.wsman import SelectorSet
    w = psrp(server)
    sid = cli("SELECT * FROM Win32_LogonSession")[0]["LogonId"]
    sel = SelectorSet()
    sel.add_option("LogonId", sid)
    sel.add_option("__cimnamespace", "root/cimv2")
    body = w.get(CIM + "Win32_LogonSession", selector_set=sel)
    inst = body.find("{%sWin32_LogonSession}Win32_LogonSession" % CIM)
    assert inst is not None, "the answer uses the URI family asked for: %s" % ET.tostring(body)
    assert props(inst)["LogonId"] == sid


@pytest.mark.parametrize("scheme", SCHEMES)
def test_pypsrp_enumeration_modes(server, scheme):
    w = psrp(server, scheme)

    def fetch_epr():
        items, _ = psrp_enumerate(w, WMI + "Win32_LogonSession",
                                  enumerate_body(optimize=3, mode="EnumerateEPR"), pull_max=3)
        ids = set()
        for i in items:
            assert i.tag == q("wsa:EndpointReference"), ET.tostring(i)
            uri, sels = epr_parts(i)
            assert uri == WMI + "Win32_LogonSession"
            assert set(sels) == {"LogonId"}, sels
            ids.add(sels["LogonId"])
        return ids

    seen, expected = settle(fetch_epr, lambda: {o["LogonId"] for o in
                                                cli("SELECT * FROM Win32_LogonSession")})
    assert seen == expected

    def fetch_both():
        items, _ = psrp_enumerate(w, WMI + "Win32_LogonSession",
                                  enumerate_body(optimize=3, mode="EnumerateObjectAndEPR"),
                                  pull_max=3)
        ids = set()
        for i in items:
            assert i.tag == q("wsman:Item"), ET.tostring(i)
            inst, epr = list(i)
            assert class_of(inst) == "Win32_LogonSession"
            assert epr.tag == q("wsa:EndpointReference")
            uri, sels = epr_parts(epr)
            assert sels == {"LogonId": props(inst)["LogonId"]}, "the EPR names its instance"
            ids.add(sels["LogonId"])
        return ids

    seen, expected = settle(fetch_both, lambda: {o["LogonId"] for o in
                                                 cli("SELECT * FROM Win32_LogonSession")})
    assert seen == expected


def test_pypsrp_epr_of_a_two_key_class(server):
    w = psrp(server)
    items, _ = psrp_enumerate(w, WMI + "Win32_ServerSession",
                              enumerate_body(optimize=50, mode="EnumerateEPR"))
    assert items
    for i in items:
        uri, sels = epr_parts(i)
        assert uri == WMI + "Win32_ServerSession"
        assert set(sels) == {"ComputerName", "UserName"}, sels


@pytest.mark.parametrize("cls", ["Win32_LogonSession", "Win32_ServerSession",
                                 "Win32_LoggedOnUser", "Win32_SessionProcess"])
def test_get_by_the_epr_enumerate_returned(server, cls):
    """An EPR from EnumerateEPR is the instance's address (DSP0226 §8): its SelectorSet,
    sent back with a Get, returns that instance. For an association the key selectors are
    themselves EPRs (nested wsa:EndpointReference)."""
    r = ok(call(server, ENUMERATE, WMI + cls, enumerate_body(optimize=3, mode="EnumerateEPR")))
    eprs = items_of(r)[1]
    assert eprs, "no %s at all" % cls
    for epr in eprs:
        uri = epr.find("wsa:ReferenceParameters/wsman:ResourceURI", NS).text
        sels = epr.find("wsa:ReferenceParameters/wsman:SelectorSet", NS)
        got = call(server, GET, uri, extra_headers=ET.tostring(sels, encoding="unicode"))
        assert got.status == 200, (
            "SERVER BUG: a Get with the SelectorSet that EnumerateEPR returned for %s is not "
            "found: %s" % (cls, got.describe()))
        inst = got.find("s:Body/{%s%s}%s" % (WMI, cls, cls))
        assert inst is not None, got.describe()
        for s in sels.findall("wsman:Selector", NS):
            value = props(inst)[s.get("Name")]
            if len(s):  # a reference key: the same instance it points to
                assert epr_parts(value)[1] == epr_parts(s[0])[1], ET.tostring(inst)
            else:
                assert value == s.text


# --- associations (from a live ssh session) ---

def assoc_enumerate(w, uri, kind, obj_uri, selectors, selector_set=None, **fields):
    items, _ = psrp_enumerate(w, uri, enumerate_body(
        association_filter(kind, obj_uri, selectors, **fields), optimize=20),
        pull_max=20, selector_set=selector_set)
    return items


@pytest.mark.parametrize("scheme", SCHEMES)
def test_pypsrp_associators_session_to_account(server, scheme, carol):
    w = psrp(server, scheme)
    domain = account_domain("lmcarol")
    for fields in ({"ResultClassName": "Win32_UserAccount"},
                   {"AssociationClassName": "Win32_LoggedOnUser"},
                   {"AssociationClassName": "Win32_LoggedOnUser", "Role": "Dependent",
                    "ResultRole": "Antecedent"}):
        items = assoc_enumerate(w, WMI + "*", "AssociatedInstances",
                                WMI + "Win32_LogonSession", [("LogonId", carol)], **fields)
        assert [class_of(i) for i in items] == ["Win32_UserAccount"], (fields, items)
        p = props(items[0])
        assert (p["Domain"], p["Name"]) == (domain, "lmcarol"), (fields, p)
    # The wrong role finds nothing.
    items = assoc_enumerate(w, WMI + "*", "AssociatedInstances", WMI + "Win32_LogonSession",
                            [("LogonId", carol)], AssociationClassName="Win32_LoggedOnUser",
                            Role="Antecedent")
    assert items == []


@pytest.mark.parametrize("scheme", SCHEMES)
def test_pypsrp_associators_session_to_processes(server, scheme, carol):
    w = psrp(server, scheme)
    query = ('ASSOCIATORS OF {Win32_LogonSession.LogonId="%s"} WHERE ResultClass = '
             "Win32_Process" % carol)

    def fetch():
        items = assoc_enumerate(w, WMI + "*", "AssociatedInstances",
                                WMI + "Win32_LogonSession", [("LogonId", carol)],
                                ResultClassName="Win32_Process")
        assert {class_of(i) for i in items} <= {"Win32_Process"}
        return {props(i)["Handle"] for i in items}

    seen, expected = settle(fetch, lambda: {o["Handle"] for o in cli(query)})
    assert seen == expected
    assert len(seen) >= 2, "sshd's session process and the sleep: %s" % seen


def test_pypsrp_associators_all_and_include_result_property(server, carol):
    w = psrp(server)
    query = 'ASSOCIATORS OF {Win32_LogonSession.LogonId="%s"}' % carol

    def fetch():
        items = assoc_enumerate(w, WMI + "*", "AssociatedInstances",
                                WMI + "Win32_LogonSession", [("LogonId", carol)])
        return sorted((class_of(i), props(i).get("Handle") or props(i).get("Name"))
                      for i in items)

    seen, expected = settle(fetch, lambda: sorted(
        (o["__CLASS"], o.get("Handle") or o.get("Name")) for o in cli(query)))
    assert seen == expected
    # IncludeResultProperty: the keys (for the EPR) and the properties asked for.
    items = assoc_enumerate(w, WMI + "*", "AssociatedInstances", WMI + "Win32_LogonSession",
                            [("LogonId", carol)], ResultClassName="Win32_UserAccount",
                            IncludeResultProperty=["SID", "FullName"])
    assert len(items) == 1
    assert set(props(items[0])) == {"Domain", "Name", "SID", "FullName"}, props(items[0])


@pytest.mark.parametrize("uri,selectors", [
    (WMI + "*", ()),
    (CIM_ALL, [("__cimnamespace", "root/cimv2")]),
])
def test_pypsrp_references(server, carol, uri, selectors):
    """AssociationInstances: the Win32_LoggedOnUser and Win32_SessionProcess instances
    themselves, their references written as EPRs that point back at the session."""
    from pypsrp.wsman import SelectorSet
    w = psrp(server)
    sel = None
    if selectors:
        sel = SelectorSet()
        for k, v in selectors:
            sel.add_option(k, v)
    query = 'REFERENCES OF {Win32_LogonSession.LogonId="%s"}' % carol
    family = CIM if uri == CIM_ALL else WMI

    def fetch():
        items = assoc_enumerate(w, uri, "AssociationInstances", WMI + "Win32_LogonSession",
                                [("LogonId", carol)], selector_set=sel)
        out = []
        for i in items:
            p = props(i)
            cls = class_of(i)
            assert i.tag.startswith("{%s%s}" % (family, cls)), i.tag
            session_end = "Dependent" if cls == "Win32_LoggedOnUser" else "Antecedent"
            other_end = "Antecedent" if session_end == "Dependent" else "Dependent"
            s_uri, s_sels = epr_parts(p[session_end])
            assert s_uri == family + "Win32_LogonSession", s_uri
            assert s_sels["LogonId"] == carol, s_sels
            if family == CIM:
                assert s_sels["__cimnamespace"] == "root/cimv2", s_sels
            _, o_sels = epr_parts(p[other_end])
            out.append((cls, o_sels.get("Handle") or o_sels.get("Name")))
        return sorted(out)

    def truth():
        out = []
        for o in cli(query):
            ref = o["Antecedent"] if o["__CLASS"] == "Win32_LoggedOnUser" else o["Dependent"]
            m = re.search(r'(?:Handle|Name)="([^"]*)"', ref)
            out.append((o["__CLASS"], m.group(1)))
        return sorted(out)

    seen, expected = settle(fetch, truth)
    assert seen == expected
    assert ("Win32_LoggedOnUser", "lmcarol") in seen
    # ResultClassName of a references filter names the association class.
    items = assoc_enumerate(w, uri, "AssociationInstances", WMI + "Win32_LogonSession",
                            [("LogonId", carol)], selector_set=sel,
                            ResultClassName="Win32_LoggedOnUser")
    assert [class_of(i) for i in items] == ["Win32_LoggedOnUser"]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_pypsrp_like_get_ciminstance(server, scheme):
    """What Get-CimInstance -Query sends: the DMTF `wscim/1/*` URI with __cimnamespace, a WQL
    filter, OptimizeEnumeration with a large MaxElements, MaxEnvelopeSize 512000 and the
    UsePreciseArrays option (MustComply)."""
    from pypsrp.wsman import OptionSet, SelectorSet
    w = psrp(server, scheme, max_envelope_size=512000)
    sel = SelectorSet()
    sel.add_option("__cimnamespace", "root/cimv2")
    opts = OptionSet()
    opts.add_option("msftwinrm:UsePreciseArrays", "TRUE",
                    {"MustComply": "true", "{%s}type" % NS["xsi"]: "xs:boolean"})
    query = "SELECT * FROM Win32_LogonSession"

    def fetch():
        items, pulls = psrp_enumerate(w, CIM_ALL, enumerate_body(wql(query), optimize=32000),
                                      selector_set=sel, option_set=opts)
        assert pulls == 0, "everything fits in the EnumerateResponse"
        for i in items:
            assert i.tag == "{%sWin32_LogonSession}Win32_LogonSession" % CIM, i.tag
        return {props(i)["LogonId"] for i in items}

    seen, expected = settle(fetch, lambda: {o["LogonId"] for o in cli(query)})
    assert seen == expected


def test_text_is_escaped_and_control_characters_become_question_marks(server):
    """A process whose command line holds markup, quotes, a CDATA end, an entity, UTF-8 and
    control characters: the XML stays well-formed (pypsrp parses it), the text reads as
    the CLI's, with C0 controls other than TAB written as `?` (XML 1.0 cannot carry them)."""
    from pypsrp.wsman import SelectorSet
    arg = "a<b>&c\"d'e \x01\x1f\tf \u00e9\u6f22\u5b57 ]]> &amp; <![CDATA[x]]>"
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", arg])
    try:
        expected = None
        deadline = time.monotonic() + 10
        while expected is None and time.monotonic() < deadline:
            found = cli("SELECT CommandLine FROM Win32_Process WHERE Handle = '%d'" % p.pid)
            expected = found[0]["CommandLine"] if found and found[0]["CommandLine"] else None
            if expected is None:
                time.sleep(0.2)
        assert expected and arg.replace("\x01", "?").replace("\x1f", "?") in \
            expected.replace("\x01", "?").replace("\x1f", "?"), expected
        sel = SelectorSet()
        sel.add_option("Handle", str(p.pid))
        w = psrp(server)
        for _ in range(20):
            try:
                body = w.get(WMI + "Win32_Process", selector_set=sel)
                break
            except Exception:  # the server's snapshot may be older than the process
                time.sleep(0.2)
        got = props(body.find("{%sWin32_Process}Win32_Process" % WMI))["CommandLine"]
        assert got == re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "?", expected), (got, expected)
    finally:
        p.kill()
        p.wait()


# --- MaxEnvelopeSize ---

def test_small_envelopes_page_a_big_process_enumeration(server):
    """MaxEnvelopeSize 8192 (the least allowed) with MaxElements 1000: the server pages by
    size, every envelope within 8192 bytes; the processes are all there."""
    limit = 8192
    oversized = []

    def oversized_item(reply, ctx):
        # A process whose own XML cannot fit (a very long command line): EncodingLimit,
        # and the context survives for a retry with a bigger envelope.
        expect_fault(reply, "wsman:EncodingLimit")
        retry = ok(call(server, PULL, WMI + "Win32_Process", pull_body(ctx, 1),
                        max_envelope=153600))
        oversized.append(retry)
        return retry

    stable_before = {o["Handle"] for o in cli("SELECT Handle FROM Win32_Process")}
    # The server's host snapshot may be up to a second old (--max-age): let it pass.
    time.sleep(1.1)
    items, replies = enumerate_raw(server, WMI + "Win32_Process",
                                   enumerate_body(optimize=1000), max_envelope=limit,
                                   pull_max=1000, on_fault=oversized_item)
    stable = stable_before & {o["Handle"] for o in cli("SELECT Handle FROM Win32_Process")}
    sizes = [len(r.body) for r in replies if r not in oversized]
    assert max(sizes) <= limit, sizes
    assert len(replies) >= 4, "about 2 KB a process: several pages (%d)" % len(replies)
    assert all(items_of(r)[1] for r in replies[1:]), "every Pull carries at least one item"
    handles = {props(i)["Handle"] for i in items}
    assert len(handles) == len(items), "no process twice"
    assert stable <= handles, stable - handles
    # The same through pypsrp (it checks RelatesTo on every page).
    w = psrp(server, max_envelope_size=limit)
    pitems, pulls = psrp_enumerate(w, WMI + "Win32_Process", enumerate_body(
        wql("SELECT * FROM Win32_Process WHERE Name = 'sshd' OR Name = 'smbd'"), optimize=1000),
        pull_max=1000)
    assert pitems and pulls >= 1


@pytest.fixture
def long_process(server):
    """A process whose command line alone is over 8 KB."""
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "x" * 12000])
    # Until the server's snapshot of the processes has it.
    deadline = time.monotonic() + 10
    while call(server, GET, WMI + "Win32_Process", selectors=[("Handle", str(p.pid))]).status \
            != 200:
        assert time.monotonic() < deadline, "the server never saw process %d" % p.pid
        time.sleep(0.2)
    yield str(p.pid)
    p.kill()
    p.wait()


def test_an_item_larger_than_the_envelope_is_encoding_limit(server, long_process):
    query = "SELECT * FROM Win32_Process WHERE Handle = '%s'" % long_process
    r = call(server, ENUMERATE, WMI + "*", enumerate_body(wql(query), optimize=10),
             max_envelope=8192)
    f = expect_fault(r, "wsman:EncodingLimit")
    assert f.detail.endswith("/faultDetail/MaxEnvelopeSize"), f
    # Unoptimized: the context opens, the Pull faults, a bigger Pull gets the item.
    r = ok(call(server, ENUMERATE, WMI + "*", enumerate_body(wql(query)), max_envelope=8192))
    ctx = items_of(r)[0]
    expect_fault(call(server, PULL, WMI + "*", pull_body(ctx), max_envelope=8192),
                 "wsman:EncodingLimit")
    r = ok(call(server, PULL, WMI + "*", pull_body(ctx), max_envelope=153600))
    _, items, eos = items_of(r)
    assert [props(i)["Handle"] for i in items] == [long_process] and eos


def test_get_larger_than_the_envelope_is_encoding_limit(server, long_process):
    """DSP0226 §6.2 (MS-WSMV 3.1.4.1.7): the client expects no response larger than
    MaxEnvelopeSize; a Get whose instance cannot fit is wsman:EncodingLimit, as an
    enumeration's item is."""
    r = call(server, GET, WMI + "Win32_Process", selectors=[("Handle", long_process)],
             max_envelope=8192)
    assert len(r.body) <= 8192 or r.status == 500, (
        "SERVER BUG: Get with MaxEnvelopeSize 8192 answered %d bytes (HTTP %d); expected a "
        "wsman:EncodingLimit fault" % (len(r.body), r.status))
    expect_fault(r, "wsman:EncodingLimit")


# --- Release, ownership ---

@pytest.mark.parametrize("scheme", SCHEMES)
def test_release_ends_the_context(server, scheme):
    w = psrp(server, scheme)
    resp = w.enumerate(WMI + "Win32_Process", element("<wsen:Enumerate/>"))
    ctx = resp.find("wsen:EnumerateResponse/wsen:EnumerationContext", NS).text
    assert ctx
    env = w.invoke(RELEASE, WMI + "Win32_Process", element(
        "<wsen:Release><wsen:EnumerationContext>%s</wsen:EnumerationContext></wsen:Release>"
        % ctx))
    assert env.find("s:Header/wsa:Action", NS).text == RELEASE + "Response"
    assert len(env.find("s:Body", NS)) == 0, "an empty ReleaseResponse body"
    r = call(server, PULL, WMI + "Win32_Process", pull_body(ctx), scheme=scheme)
    expect_fault(r, "wsen:InvalidEnumerationContext")
    # A second Release of the same context too.
    r = call(server, RELEASE, WMI + "Win32_Process",
             "<wsen:Release><wsen:EnumerationContext>%s</wsen:EnumerationContext>"
             "</wsen:Release>" % ctx, scheme=scheme)
    expect_fault(r, "wsen:InvalidEnumerationContext")


def test_another_user_cannot_pull_or_release_my_context(server):
    r = ok(call(server, ENUMERATE, WMI + "Win32_LogonSession", "<wsen:Enumerate/>"))
    ctx = items_of(r)[0]
    for action, body in ((PULL, pull_body(ctx)),
                         (RELEASE, "<wsen:Release><wsen:EnumerationContext>%s"
                                   "</wsen:EnumerationContext></wsen:Release>" % ctx)):
        r = call(server, action, WMI + "Win32_LogonSession", body, creds=PLAIN)
        expect_fault(r, "wsen:InvalidEnumerationContext")
    # Still mine.
    r = ok(call(server, PULL, WMI + "Win32_LogonSession", pull_body(ctx, 1000)))
    assert items_of(r)[2], "one pull of 1000 ends it"


def test_a_finished_enumeration_is_gone(server):
    r = ok(call(server, ENUMERATE, WMI + "Win32_LogonSession", "<wsen:Enumerate/>"))
    ctx = items_of(r)[0]
    r = ok(call(server, PULL, WMI + "Win32_LogonSession", pull_body(ctx, 1000)))
    nxt, _, eos = items_of(r)
    assert eos and nxt is None, "EndOfSequence without a context"
    expect_fault(call(server, PULL, WMI + "Win32_LogonSession", pull_body(ctx)),
                 "wsen:InvalidEnumerationContext")


# ============================================================================================
# 2. pywinrm: raw envelopes through Protocol.send_message, and its fault parser
# ============================================================================================

@pytest.mark.parametrize("scheme", SCHEMES)
def test_pywinrm_enumerate_and_pull(server, scheme):
    p = winrm_protocol(server, scheme)

    def fetch():
        answer = p.send_message(envelope(ENUMERATE, WMI + "Win32_LogonSession",
                                         "<wsen:Enumerate/>"))
        ctx, items, eos = items_of(Reply(200, {}, answer, 0))
        ids = set()
        while not eos:
            answer = p.send_message(envelope(PULL, WMI + "Win32_LogonSession",
                                             pull_body(ctx, 2)))
            ctx, items, eos = items_of(Reply(200, {}, answer, 0))
            ids |= {props(i)["LogonId"] for i in items}
        return ids

    seen, expected = settle(fetch, lambda: {o["LogonId"] for o in
                                            cli("SELECT * FROM Win32_LogonSession")})
    assert seen == expected


def _shell_create():
    return ('<rsp:Shell xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell">'
            "<rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr"
            "</rsp:OutputStreams></rsp:Shell>")


OMIGOD_MARKER = "/tmp/linmgmt-interop-omigod-%d" % os.getpid()
OMIGOD_ACTION = CIM + "SCX_OperatingSystem/ExecuteShellCommand"
OMIGOD_BODY = ('<p:ExecuteShellCommand_INPUT xmlns:p="%sSCX_OperatingSystem">'
               "<p:command>touch %s</p:command><p:timeout>0</p:timeout>"
               "</p:ExecuteShellCommand_INPUT>" % (CIM, OMIGOD_MARKER))

# (id, envelope kwargs, subcode, WMI HRESULT or None, SOAP code)
FAULTS = [
    ("unknown class", dict(action=ENUMERATE, uri=WMI + "Win32_Nope", body="<wsen:Enumerate/>"),
     "wsa:DestinationUnreachable", WBEM_E_INVALID_CLASS, "s:Sender"),
    ("unknown class in a query", dict(action=ENUMERATE, uri=WMI + "*",
                                      body=enumerate_body(wql("SELECT * FROM Win32_Nope"))),
     "wsa:DestinationUnreachable", WBEM_E_INVALID_CLASS, "s:Sender"),
    ("unknown class by Get", dict(action=GET, uri=WMI + "Win32_Nope", selectors=[("A", "1")]),
     "wsa:DestinationUnreachable", WBEM_E_INVALID_CLASS, "s:Sender"),
    ("unknown namespace", dict(action=ENUMERATE, uri="http://schemas.microsoft.com/wbem/wsman"
                               "/1/wmi/root/nowhere/Win32_LogonSession",
                               body="<wsen:Enumerate/>"),
     "wsa:DestinationUnreachable", WBEM_E_INVALID_NAMESPACE, "s:Sender"),
    ("unknown instance", dict(action=GET, uri=WMI + "Win32_LogonSession",
                              selectors=[("LogonId", "4294967000")]),
     "wsa:DestinationUnreachable", WBEM_E_NOT_FOUND, "s:Sender"),
    ("not a resource URI", dict(action=ENUMERATE, uri="http://example.com/nothing",
                                body="<wsen:Enumerate/>"),
     "wsa:DestinationUnreachable", None, "s:Sender"),
    ("bad WQL", dict(action=ENUMERATE, uri=WMI + "*",
                     body=enumerate_body(wql("SELEC * FRM Win32_LogonSession"))),
     "wsen:CannotProcessFilter", WBEM_E_INVALID_SYNTAX, "s:Sender"),
    ("event query as a data filter", dict(action=ENUMERATE, uri=WMI + "*",
                                          body=enumerate_body(wql(LOGONS))),
     "wsen:CannotProcessFilter", None, "s:Sender"),
    ("* without a filter", dict(action=ENUMERATE, uri=WMI + "*", body="<wsen:Enumerate/>"),
     "wsen:CannotProcessFilter", None, "s:Sender"),
    ("unknown dialect", dict(action=ENUMERATE, uri=WMI + "*", body=enumerate_body(
        '<wsman:Filter Dialect="http://example.com/XPath">/a</wsman:Filter>')),
     "wsen:FilterDialectRequestedUnavailable", None, "s:Sender"),
    ("missing selector", dict(action=GET, uri=WMI + "Win32_ServerSession",
                              selectors=[("UserName", "lmalice")]),
     "wsman:InvalidSelectors", WBEM_E_INVALID_PARAMETER, "s:Sender"),
    ("no selectors", dict(action=GET, uri=WMI + "Win32_LogonSession"),
     "wsman:InvalidSelectors", None, "s:Sender"),
    ("extra selector", dict(action=GET, uri=WMI + "Win32_LogonSession",
                            selectors=[("LogonId", "0"), ("Bogus", "1")]),
     "wsman:InvalidSelectors", WBEM_E_INVALID_PARAMETER, "s:Sender"),
    ("selector twice", dict(action=GET, uri=WMI + "Win32_LogonSession",
                            selectors=[("LogonId", "0"), ("logonid", "0")]),
     "wsman:InvalidSelectors", None, "s:Sender"),
    ("Put", dict(action=TRANSFER + "Put", uri=WMI + "Win32_LogonSession",
                 selectors=[("LogonId", "0")],
                 body='<p:Win32_LogonSession xmlns:p="%sWin32_LogonSession"><p:LogonType>2'
                      "</p:LogonType></p:Win32_LogonSession>" % WMI),
     "wsa:ActionNotSupported", None, "s:Sender"),
    ("Delete", dict(action=TRANSFER + "Delete", uri=WMI + "Win32_Process",
                    selectors=[("Handle", "1")]),
     "wsa:ActionNotSupported", None, "s:Sender"),
    ("Create", dict(action=TRANSFER + "Create", uri=WMI + "Win32_Process",
                    body='<p:Win32_Process xmlns:p="%sWin32_Process"><p:CommandLine>true'
                         "</p:CommandLine></p:Win32_Process>" % WMI),
     "wsa:ActionNotSupported", None, "s:Sender"),
    ("Invoke Terminate", dict(action=WMI + "Win32_Process/Terminate", uri=WMI + "Win32_Process",
                              selectors=[("Handle", "1")],
                              body='<p:Terminate_INPUT xmlns:p="%sWin32_Process"/>' % WMI),
     "wsa:ActionNotSupported", None, "s:Sender"),
    ("OMIGOD ExecuteShellCommand", dict(action=OMIGOD_ACTION, uri=CIM + "SCX_OperatingSystem",
                                        selectors=[("__cimnamespace", "root/scx")],
                                        body=OMIGOD_BODY),
     "wsa:ActionNotSupported", None, "s:Sender"),
    ("shell create", dict(action=TRANSFER + "Create", uri=SHELL, body=_shell_create(),
                          options=[("WINRS_NOPROFILE", "FALSE", {}),
                                   ("WINRS_CODEPAGE", "437", {})]),
     "wsa:ActionNotSupported", None, "s:Sender"),
    ("shell command", dict(action="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"
                                  "Command", uri=SHELL, selectors=[("ShellId", "1")],
                           body='<rsp:CommandLine xmlns:rsp="http://schemas.microsoft.com/wbem/'
                                'wsman/1/windows/shell"><rsp:Command>id</rsp:Command>'
                                "</rsp:CommandLine>"),
     "wsa:ActionNotSupported", None, "s:Sender"),
    ("openwsman class names", dict(
        action="http://schemas.openwsman.org/wbem/wscim/1/intrinsic/EnumerateClassNames",
        uri=CIM_ALL, body="<wsen:Enumerate/>"),
     "wsa:ActionNotSupported", None, "s:Sender"),
    ("GetStatus", dict(action=NS["wse"] + "/GetStatus", uri=WMI + "*", identifier="1",
                       body="<wse:GetStatus/>"),
     "wsa:ActionNotSupported", None, "s:Sender"),
    ("unknown mustUnderstand header", dict(
        action=ENUMERATE, uri=WMI + "Win32_LogonSession", body="<wsen:Enumerate/>",
        declarations=' xmlns:x="urn:example:x"',
        extra_headers='<x:Transaction s:mustUnderstand="true">1</x:Transaction>'),
     None, None, "s:MustUnderstand"),
    ("non-anonymous ReplyTo", dict(action=ENUMERATE, uri=WMI + "Win32_LogonSession",
                                   body="<wsen:Enumerate/>",
                                   reply_to="http://10.0.0.9:8080/listener"),
     "wsman:UnsupportedFeature", None, "s:Sender"),
    ("no ReplyTo", dict(action=ENUMERATE, uri=WMI + "Win32_LogonSession",
                        body="<wsen:Enumerate/>", reply_to=None),
     "wsa:MessageInformationHeaderRequired", None, "s:Sender"),
    ("MaxEnvelopeSize 100", dict(action=ENUMERATE, uri=WMI + "Win32_LogonSession",
                                 body="<wsen:Enumerate/>", max_envelope=100),
     "wsman:EncodingLimit", None, "s:Sender"),
    ("MaxEnvelopeSize 8191", dict(action=GET, uri=WMI + "Win32_LogonSession",
                                  selectors=[("LogonId", "0")], max_envelope=8191),
     "wsman:EncodingLimit", None, "s:Sender"),
    ("push delivery", dict(action=SUBSCRIBE, uri=WMI + "*",
                           body=subscribe_body(LOGONS, mode=NS["wse"] + "/DeliveryModes/Push")),
     "wse:DeliveryModeRequestedUnavailable", None, "s:Sender"),
    ("default (push) delivery", dict(action=SUBSCRIBE, uri=WMI + "*",
                                     body=subscribe_body(LOGONS, mode=None)),
     "wse:DeliveryModeRequestedUnavailable", None, "s:Sender"),
    ("data query as an event filter", dict(action=SUBSCRIBE, uri=WMI + "*",
                                           body=subscribe_body("SELECT * FROM Win32_Process")),
     "wsen:CannotProcessFilter", WBEM_E_INVALID_QUERY_TYPE, "s:Sender"),
    ("forged context", dict(action=PULL, uri=WMI + "Win32_LogonSession",
                            body=pull_body("0123456789abcdef0123456789abcdef")),
     "wsen:InvalidEnumerationContext", None, "s:Sender"),
    ("unknown must-comply option", dict(action=ENUMERATE, uri=WMI + "Win32_LogonSession",
                                        body="<wsen:Enumerate/>",
                                        options=[("FormatAsXml", "true",
                                                  {"MustComply": "true"})]),
     "wsman:InvalidOptions", None, "s:Sender"),
    ("unknown EnumerationMode", dict(action=ENUMERATE, uri=WMI + "Win32_LogonSession",
                                     body=enumerate_body(mode="EnumerateEverything")),
     "wsman:UnsupportedFeature", None, "s:Sender"),
    ("bad OperationTimeout", dict(action=ENUMERATE, uri=WMI + "Win32_LogonSession",
                                  body="<wsen:Enumerate/>", timeout="sixty seconds"),
     "wsa:InvalidMessageInformationHeader", None, "s:Sender"),
]


@pytest.mark.parametrize("kwargs,subcode,wmi,code", [f[1:] for f in FAULTS],
                         ids=[f[0] for f in FAULTS])
def test_pywinrm_faults(server, kwargs, subcode, wmi, code):
    """Each fault through pywinrm's parser (fault_code, fault_subcode, wsman_fault_code,
    wmierror_code), and over raw HTTP: HTTP 500, wsa:RelatesTo = the MessageID."""
    mid = "uuid:%s" % uuid.uuid4()
    xml = envelope(message_id=mid, **kwargs)
    e = winrm_fault(server, xml)
    assert e.code == 500
    assert (e.fault_code, e.fault_subcode) == (code, subcode), (e.fault_code, e.fault_subcode,
                                                                 e.reason)
    assert e.wsman_fault_code == WSMAN_GENERIC
    if wmi is not None:
        assert e.wmierror_code == wmi, "wmierror_code %r, expected %#x" % (e.wmierror_code, wmi)
    assert e.reason
    r = post(server, xml)
    assert r.status == 500
    assert r.relates_to == mid, r.describe()
    assert r.action and r.action.endswith("fault"), r.action
    if code == "s:MustUnderstand":
        assert r.fault.subcode is None


def test_no_write_action_ran(server):
    """The OMIGOD request above (as admin) and below (without credentials) never ran."""
    for creds in (ADMIN, None):
        r = post(server, envelope(OMIGOD_ACTION, CIM + "SCX_OperatingSystem", OMIGOD_BODY,
                                  selectors=[("__cimnamespace", "root/scx")]), creds=creds)
        assert r.status in (401, 500), r.describe()
    time.sleep(0.5)
    assert not os.path.exists(OMIGOD_MARKER), "a shell command ran"


RELATES = [
    "uuid:AbC-123",
    "  urn:odd text, then uuid:0F0F0F0F-0000-4000-8000-00000000AAAA  ",
    "uuid:<&'\">\u00e9",
    "7cf40b31-5894-4c27-9ad1-0e8a0d5f6f3a",
    # wsl without uuidgen sends <wsa:MessageID s:mustUnderstand="true"/>.
    "",
]


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("mid", RELATES, ids=["mixed-case", "surrounding-text", "escapes",
                                               "bare-uuid", "empty"])
def test_relates_to_is_the_message_id_byte_for_byte(server, scheme, mid):
    cases = [
        (ENUMERATE, WMI + "Win32_LogonSession", enumerate_body(optimize=1), (), 200),
        (GET, WMI + "Win32_LogonSession", "", [("LogonId", a_logon_id())], 200),
        (ENUMERATE, WMI + "Win32_Nope", "<wsen:Enumerate/>", (), 500),
        (PULL, WMI + "Win32_LogonSession", pull_body("nope"), (), 500),
        (TRANSFER + "Delete", WMI + "Win32_Process", "", [("Handle", "1")], 500),
    ]
    for action, uri, body, sels, status in cases:
        xml = envelope(action, uri, body, selectors=sels, message_id=mid)
        r = post(server, xml, scheme=scheme)
        assert r.status == status, r.describe()
        assert r.relates_to == mid, (action, r.relates_to, mid)
        # Byte for byte in the serialized answer too.
        assert ("<wsa:RelatesTo>%s</wsa:RelatesTo>" % esc(mid)).encode() in r.body \
            or ("<wsa:RelatesTo>%s</wsa:RelatesTo>" % esc(mid).replace("&quot;", '"')
                ).encode() in r.body, r.body[:800]
        # A fresh MessageID of the server's own.
        own = r.find("s:Header/wsa:MessageID").text
        assert own.startswith("uuid:") and own != mid
        assert r.find("s:Header/wsa:To").text == ANONYMOUS


def test_pywinrm_header_form_is_accepted(server):
    """pywinrm's own header (build_wsman_header: unqualified mustUnderstand, a fixed
    wsa:To, env:/a:/w:/p:/n: prefixes) with an Enumerate body."""
    import xmltodict
    p = winrm_protocol(server)
    req = {"env:Envelope": p._get_soap_header(resource_uri=WMI + "Win32_LogonSession",
                                             action=ENUMERATE)}
    req["env:Envelope"]["env:Body"] = {"n:Enumerate": {
        "w:OptimizeEnumeration": None, "w:MaxElements": "100"}}
    answer = p.send_message(xmltodict.unparse(req))
    _, items, eos = items_of(Reply(200, {}, answer, 0))
    assert eos and items and all(class_of(i) == "Win32_LogonSession" for i in items)


def test_other_clients_forms(server):
    """Forms other clients use: wsen:Filter (MS-WSMV: the same as wsman:Filter), a Filter
    without a Dialect (WQL), Pull with wsman:MaxElements (python-wsmanclient), and
    mustUnderstand on wsa:To and wsa:MessageID (wsl)."""
    query = "SELECT * FROM Win32_LogonSession WHERE LogonType = 10"
    expected = {o["LogonId"] for o in cli(query)}
    for f in ('<wsen:Filter Dialect="%s">%s</wsen:Filter>' % (WQL, esc(query)),
              "<wsman:Filter>%s</wsman:Filter>" % esc(query)):
        items, _ = enumerate_raw(server, WMI + "*", "<wsen:Enumerate>%s</wsen:Enumerate>" % f)
        assert {props(i)["LogonId"] for i in items} == expected, f
    r = ok(call(server, ENUMERATE, WMI + "Win32_LogonSession", "<wsen:Enumerate/>"))
    ctx = items_of(r)[0]
    r = ok(call(server, PULL, WMI + "Win32_LogonSession",
                "<wsen:Pull><wsen:EnumerationContext>%s</wsen:EnumerationContext>"
                "<wsman:MaxElements>1000</wsman:MaxElements></wsen:Pull>" % ctx))
    assert items_of(r)[2] and len(items_of(r)[1]) >= 1
    xml = envelope(GET, WMI + "Win32_LogonSession", selectors=[("LogonId", a_logon_id())]).replace(
        "<wsa:To>", '<wsa:To s:mustUnderstand="true">').replace(
        "<wsa:MessageID>", '<wsa:MessageID s:mustUnderstand="true">')
    ok(post(server, xml))


def test_the_cim_xml_listener_does_not_speak_ws_management(server):
    """WS-Man lives on its own listeners: the CIM-XML port answers no envelope, and the
    WS-Man port no CIM-XML."""
    from conftest import imethodcall, raw_post
    xml = envelope(ENUMERATE, WMI + "Win32_LogonSession", enumerate_body(optimize=1000))
    status, _, body = raw_post(server.http_port, xml.encode(), headers={
        "Content-Type": "application/soap+xml;charset=UTF-8", "CIMOperation": None,
        "CIMMethod": None, "CIMObject": None})
    assert status >= 400 and b"Win32_LogonSession" not in body, (status, body[:300])
    r = post(server, imethodcall("EnumerateInstanceNames",
                                 '<IPARAMVALUE NAME="ClassName"><CLASSNAME NAME='
                                 '"Win32_LogonSession"/></IPARAMVALUE>'), path="/cimom",
             headers={"Content-Type": 'application/xml; charset="utf-8"',
                      "CIMOperation": "MethodCall", "CIMMethod": "EnumerateInstanceNames",
                      "CIMObject": "root%2Fcimv2"})
    assert r.status == 404, r.describe()


# ============================================================================================
# 3. wsl (Debian's Dell client: bash, curl, xmllint)
# ============================================================================================

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def wsl(server, tmp_path):
    """Runs a wsl command in a fresh directory with its own HOME; returns (rc, output
    without colours, number of requests it made)."""
    for tool in ("wslenum", "wslget", "wslid", "uuidgen", "xmllint", "curl"):
        if shutil.which(tool) is None:
            pytest.skip("%s is missing (apt-get install wsl uuid-runtime libxml2-utils curl)"
                        % tool)

    def run(*args, creds=ADMIN, timeout=120, target=None):
        d = tmp_path / ("run%d" % len(list(tmp_path.iterdir())))
        d.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("WS")}
        env.update(HOME=str(d), WSENDPOINT="127.0.0.1:%d" % (target or server).wsman_http_port,
                   WSUSER=creds[0], WSPASS=creds[1], WSNOSSL="true", KEEPHISTORY="0",
                   OUTLEVEL="1")
        out = subprocess.run(list(args), cwd=d, env=env, stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=timeout)
        requests = len(list(d.glob("request-*.xml")))
        return out.returncode, ANSI.sub("", out.stdout + out.stderr), requests

    return run


def wsl_values(output, name):
    return re.findall(r"<\w+:%s>([^<]*)</\w+:%s>" % (name, name), output)


def wsl_selectors(output, name):
    return re.findall(r'<\w+:Selector Name="%s">([^<]*)<' % name, output)


def test_wsl_identify(wsl):
    rc, out, _ = wsl("wslid", "check")
    assert rc == 0, out
    assert "IdentifyResponse" in out, out
    assert re.search(r"ProtocolVersion>http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd<", out)
    assert "ProductVendor>linmgmt<" in out
    # wsl sends Basic pre-emptively, so the version is there.
    assert re.search(r"ProductVersion>[0-9][^<]*<", out), out


@pytest.mark.parametrize("args,extract", [
    ((WMI + "Win32_LogonSession",), lambda out: wsl_values(out, "LogonId")),
    ((WMI + "Win32_LogonSession", "-mode", "epr"), lambda out: wsl_selectors(out, "LogonId")),
    ((WMI + "Win32_LogonSession", "-mode", "objepr"), lambda out: wsl_values(out, "LogonId")),
    ((WMI + "Win32_LogonSession", "-mode", "objepr", "-opti", "2"),
     lambda out: wsl_selectors(out, "LogonId")),
    ((CIM + "Win32_LogonSession", "-ns", "root/cimv2", "-mode", "epr"),
     lambda out: wsl_selectors(out, "LogonId")),
], ids=["plain", "epr", "objepr", "objepr-optimized", "dmtf-uri-epr"])
def test_wsl_enumerate_logon_sessions(wsl, args, extract):
    def fetch():
        rc, out, requests = wsl("wslenum", *args)
        assert rc == 0, out
        assert "Fault" not in out, out
        fetch.requests = requests
        return sorted(extract(out))

    seen, expected = settle(fetch, lambda: sorted(
        o["LogonId"] for o in cli("SELECT * FROM Win32_LogonSession")))
    assert seen == expected
    # It stopped at the end of the sequence (an empty or absent context): one Enumerate and
    # a Pull per item at most, plus the last.
    assert fetch.requests <= len(expected) + 2, fetch.requests
    if "objepr" in args:
        out = wsl("wslenum", *args)[1]
        assert sorted(wsl_selectors(out, "LogonId")) == sorted(wsl_values(out, "LogonId")), \
            "each item's EPR names it"
    if args[0].startswith(CIM):
        out = wsl("wslenum", *args)[1]
        assert sorted(wsl_selectors(out, "__cimnamespace")) == \
            ["root/cimv2"] * len(wsl_selectors(out, "LogonId")), "DMTF EPRs name the namespace"


@pytest.mark.parametrize("dialect", [WQL, None], ids=["WQL", "CQL-default"])
def test_wsl_wql_filter(wsl, dialect):
    query = "SELECT * FROM Win32_LogonSession WHERE LogonType = 10"
    extra = ("-dialect", dialect) if dialect else ()

    def fetch():
        rc, out, _ = wsl("wslenum", WMI + "*", "-filter", query, *extra)
        assert rc == 0, out
        return sorted(wsl_values(out, "LogonId"))

    seen, expected = settle(fetch, lambda: sorted(o["LogonId"] for o in cli(query)))
    assert seen == expected


def test_wsl_selector_filter(wsl):
    sessions = cli("SELECT * FROM Win32_ServerSession")
    assert sessions
    s = sessions[0]
    rc, out, _ = wsl("wslenum", WMI + "Win32_ServerSession", "-filter",
                     "UserName=%s,ComputerName=%s" % (s["UserName"], s["ComputerName"]),
                     "-dialect", SELECTOR_FILTER)
    assert rc == 0, out
    assert wsl_values(out, "UserName") == [s["UserName"]], out
    assert wsl_values(out, "ComputerName") == [s["ComputerName"]]
    rc, out, _ = wsl("wslenum", WMI + "Win32_ServerSession", "-filter", "UserName=nobody-here",
                     "-dialect", SELECTOR_FILTER)
    assert rc == 0, out
    assert wsl_values(out, "UserName") == []


def test_wsl_associators_and_references_swapped(wsl, carol):
    """`-associators` sends AssociationInstances (references) and `-references` sends
    AssociatedInstances (associators): wsl's swap, answered as what was sent."""
    rc, out, _ = wsl("wslenum", WMI + "Win32_LogonSession", "-associators", "LogonId=%s" % carol,
                     "-ns", "root/cimv2")
    assert rc == 0, out
    classes = set(re.findall(r"<p:(Win32_\w+) xmlns:p=", out))
    assert classes == {"Win32_LoggedOnUser", "Win32_SessionProcess"}, out[-3000:]

    query = 'ASSOCIATORS OF {Win32_LogonSession.LogonId="%s"}' % carol

    def fetch():
        rc, out, _ = wsl("wslenum", WMI + "Win32_LogonSession", "-references",
                         "LogonId=%s" % carol)
        assert rc == 0, out
        assert set(re.findall(r"<p:(Win32_\w+) xmlns:p=", out)) <= {"Win32_UserAccount",
                                                                    "Win32_Process"}
        return sorted(wsl_values(out, "Handle")), wsl_values(out, "SID")

    (handles, sids), (expected, expected_sids) = settle(fetch, lambda: (
        sorted(o["Handle"] for o in cli(query) if o["__CLASS"] == "Win32_Process"),
        [o["SID"] for o in cli(query) if o["__CLASS"] == "Win32_UserAccount"]))
    assert handles == expected
    assert sids == expected_sids and len(sids) == 1


def test_wsl_get(wsl):
    sessions = cli("SELECT * FROM Win32_LogonSession")
    for s in sessions[:3]:
        rc, out, _ = wsl("wslget", WMI + "Win32_LogonSession", "LogonId=%s" % s["LogonId"])
        assert rc == 0, out
        assert wsl_values(out, "LogonId") == [s["LogonId"]]
        assert wsl_values(out, "LogonType") == [str(s["LogonType"])]
    s = cli("SELECT * FROM Win32_ServerSession")[0]
    rc, out, _ = wsl("wslget", WMI + "Win32_ServerSession", "ComputerName=%s" % s["ComputerName"],
                     "UserName=%s" % s["UserName"])
    assert rc == 0, out
    assert wsl_values(out, "ClientType") == [s["ClientType"]]
    # A missing instance: a fault, and wslget's exit code says so.
    rc, out, _ = wsl("wslget", WMI + "Win32_LogonSession", "LogonId=4294967000")
    assert rc != 0 and "wsa:DestinationUnreachable" in out, out


def test_wsl_wrong_password(wsl, auth_server):
    rc, out, _ = wsl("wslenum", WMI + "Win32_LogonSession", creds=(ADMIN[0], "wrongpw1"),
                     target=auth_server)
    assert rc != 0
    assert "LogonId" not in out


# ============================================================================================
# 4. Authentication (and OMIGOD, CVE-2021-38647: no credentials, no operation)
# ============================================================================================

@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    """A server of its own for wrong passwords: each counts against 127.0.0.1 in the
    password-guessing throttle (10 free per address), which must not block the session
    server's other tests."""
    s = start_server(tmp_path_factory.mktemp("wsman-auth"), wsman=True, name="wsman-auth")
    yield s
    assert stop_server(s) == 0


def log_line(server, port, timeout=5.0):
    """The server's request log line for the client port `port`."""
    pattern = re.compile(r"INFO request peer=127\.0\.0\.1:%d .*" % port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = pattern.findall(server.log.read_text())
        if found:
            return found[-1]
        time.sleep(0.1)
    pytest.fail("no log line for peer port %d" % port)


UNAUTHENTICATED = [
    ("Enumerate", envelope(ENUMERATE, WMI + "Win32_LogonSession", "<wsen:Enumerate/>")),
    ("Get", envelope(GET, WMI + "Win32_LogonSession", selectors=[("LogonId", "0")])),
    ("shell Create", envelope(TRANSFER + "Create", SHELL, _shell_create())),
    ("OMIGOD", envelope(OMIGOD_ACTION, CIM + "SCX_OperatingSystem", OMIGOD_BODY,
                        selectors=[("__cimnamespace", "root/scx")])),
    ("large body", envelope(ENUMERATE, WMI + "Win32_LogonSession", "<wsen:Enumerate/>",
                            extra_headers="<x>%s</x>" % ("y" * 1000000))),
]


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("authorization", [None, "Basic", "Basic !!!", "Negotiate TlRMTVNTUAAB"],
                         ids=["none", "empty-basic", "garbage-basic", "negotiate"])
@pytest.mark.parametrize("what,xml", UNAUTHENTICATED, ids=[u[0] for u in UNAUTHENTICATED])
def test_no_credentials_is_401_and_runs_nothing(server, scheme, authorization, what, xml):
    data = xml.encode()
    head = request_head(len(data), creds=None)
    if authorization:
        head = head.replace(b"\r\n\r\n", b"\r\nAuthorization: %s\r\n\r\n"
                            % authorization.encode())
    # Raw: a large body is refused unread, and a naive client (http.client) can fail to
    # send it over TLS before it reads the answer.
    r = raw_exchange(server, head, [data], scheme=scheme)
    assert r.status == 401, r.describe()
    assert r.headers.get("www-authenticate") == 'Basic realm="WSMAN"', r.headers
    assert b"Envelope" not in r.body, "nothing SOAP for an unauthenticated client"
    line = log_line(server, r.local_port)
    assert "http=401" in line, line
    assert " user= " in line, "no user: %s" % line
    # The operation was never decoded: the method stays the bare endpoint's.
    assert " method=wsman " in line, "an operation was decoded: %s" % line
    assert " namespace= " in line, line
    assert not os.path.exists(OMIGOD_MARKER)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_identify(server, auth_server, scheme):
    xml = ('<s:Envelope xmlns:s="%s" xmlns:wsmid="%s"><s:Header/><s:Body><wsmid:Identify/>'
           "</s:Body></s:Envelope>" % (NS["s"], NS["wsmid"]))
    for creds, versioned in ((None, False), (ADMIN, True), (PLAIN, True)):
        r = post(server, xml, scheme=scheme, creds=creds)
        assert r.status == 200, r.describe()
        resp = r.find("s:Body/wsmid:IdentifyResponse")
        assert resp is not None, r.describe()
        assert resp.find("wsmid:ProtocolVersion", NS).text == NS["wsman"]
        assert resp.find("wsmid:ProductVendor", NS).text == "linmgmt"
        version = resp.find("wsmid:ProductVersion", NS)
        if versioned:
            assert version is not None and re.match(r"\d+\.\d+", version.text), r.describe()
        else:
            assert version is None, "no version without credentials: " + r.describe()
        profiles = [p.text for p in resp.findall(
            "wsmid:SecurityProfiles/wsmid:SecurityProfileName", NS)]
        assert any(p.endswith("/basic") for p in profiles), profiles
    # Wrong credentials are wrong, even for Identify.
    r = post(auth_server, xml, scheme=scheme, creds=(ADMIN[0], "wrong-pw"))
    assert r.status == 401


def test_identify_only_for_anonymous_clients(server):
    """Without credentials only a small Identify is read: an Identify with an Action, or one
    padded past the anonymous limit, is 401."""
    padded = ('<s:Envelope xmlns:s="%s" xmlns:wsmid="%s"><s:Header><x>%s</x></s:Header><s:Body>'
              "<wsmid:Identify/></s:Body></s:Envelope>" % (NS["s"], NS["wsmid"], "y" * 8000))
    assert post(server, padded, creds=None).status == 401
    with_action = envelope(ENUMERATE, WMI + "Win32_LogonSession",
                           '<wsmid:Identify xmlns:wsmid="%s"/>' % NS["wsmid"])
    assert post(server, with_action, creds=None).status == 401


@pytest.mark.parametrize("scheme", SCHEMES)
def test_wrong_password(auth_server, scheme):
    from pypsrp.exceptions import AuthenticationError
    from winrm.exceptions import InvalidCredentialsError
    bad = (ADMIN[0], "not-the-password")
    with pytest.raises(AuthenticationError):
        psrp(auth_server, scheme, creds=bad).enumerate(WMI + "Win32_LogonSession",
                                                  element("<wsen:Enumerate/>"))
    with pytest.raises(InvalidCredentialsError):
        winrm_protocol(auth_server, scheme, creds=bad).send_message(
            envelope(ENUMERATE, WMI + "Win32_LogonSession", "<wsen:Enumerate/>"))
    r = post(auth_server, envelope(ENUMERATE, WMI + "Win32_LogonSession", "<wsen:Enumerate/>"),
             scheme=scheme, creds=("nobody-here", "x"))
    assert r.status == 401 and r.headers.get("www-authenticate") == 'Basic realm="WSMAN"'
    line = log_line(auth_server, r.local_port)
    assert " method=wsman " in line and "http=401" in line, line


def test_role_user_sees_only_its_own_sessions(server):
    """lmalice (role user) enumerating Win32_LogonSession gets exactly the sessions the
    admin sees for the account lmalice, and not the others."""
    domain = account_domain(PLAIN[0])
    mine = ('ASSOCIATORS OF {Win32_UserAccount.Domain="%s",Name="%s"} '
            "WHERE ResultClass = Win32_LogonSession" % (domain, PLAIN[0]))

    def ids(creds):
        items, _ = psrp_enumerate(psrp(server, creds=creds), WMI + "Win32_LogonSession",
                                  enumerate_body(optimize=100))
        return {props(i)["LogonId"] for i in items}

    seen, expected = settle(lambda: ids(PLAIN), lambda: {o["LogonId"] for o in cli(mine)})
    assert seen == expected
    everything = ids(ADMIN)
    assert seen <= everything
    assert everything - seen, "the admin sees other users' sessions too (lmbob, lmcarol)"
    # Nor through a query or a Get of another's session.
    items, _ = psrp_enumerate(psrp(server, creds=PLAIN), WMI + "*", enumerate_body(
        wql("SELECT * FROM Win32_LogonSession"), optimize=100))
    assert {props(i)["LogonId"] for i in items} <= expected | seen
    other = sorted(everything - seen - expected)[0]
    r = call(server, GET, WMI + "Win32_LogonSession", selectors=[("LogonId", other)],
             creds=PLAIN)
    assert r.status == 500, "another user's session is not visible: " + r.describe()
    assert r.fault.subcode in ("wsa:DestinationUnreachable", "wsman:AccessDenied"), r.fault


# ============================================================================================
# 5. Eventing: pull-mode subscriptions and a real ssh login
# ============================================================================================

def subscribe(server, query, scheme="http", creds=ADMIN, expires=None, uri=WMI + "*"):
    r = ok(call(server, SUBSCRIBE, uri, subscribe_body(query, expires=expires), scheme=scheme,
                creds=creds))
    assert r.action == SUBSCRIBE + "Response"
    resp = r.find("s:Body/wse:SubscribeResponse")
    assert resp is not None, r.describe()
    ident = resp.find("wse:SubscriptionManager/wsa:ReferenceParameters/wse:Identifier", NS)
    assert ident is not None and ident.text, r.describe()
    assert resp.find("wse:SubscriptionManager/wsa:Address", NS) is not None
    ctx = resp.find("wsen:EnumerationContext", NS)
    assert ctx is not None and ctx.text, r.describe()
    if expires:
        assert resp.find("wse:Expires", NS).text, r.describe()
    return ident.text, ctx.text


def event_pull(server, ctx, max_time="PT5S", scheme="http", creds=ADMIN, max_elements=10):
    return call(server, PULL, WMI + "*", pull_body(ctx, max_elements, max_time), scheme=scheme,
                creds=creds)


def event_targets(reply):
    """(event class, TargetInstance properties) of each event in a PullResponse."""
    out = []
    for e in items_of(reply)[1]:
        target = props(e).get("TargetInstance")
        inner = list(target)[0] if target is not None and len(target) else None
        out.append((class_of(e), class_of(inner) if inner is not None else None,
                    props(inner) if inner is not None else {}))
    return out


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_real_ssh_login_is_an_event(server, scheme):
    """Subscribe (raw envelope through pywinrm), log in over ssh as lmbob, Pull until the
    __InstanceCreationEvent for that very session (its LogonId is the login's
    /proc/self/sessionid) arrives."""
    p = winrm_protocol(server, scheme)
    answer = p.send_message(envelope(SUBSCRIBE, WMI + "*", subscribe_body(LOGONS,
                                                                          expires="PT120S")))
    r = Reply(200, {}, answer, 0)
    resp = r.find("s:Body/wse:SubscribeResponse")
    assert resp is not None, answer[:1500]
    ident = resp.find("wse:SubscriptionManager/wsa:ReferenceParameters/wse:Identifier", NS).text
    ctx = resp.find("wsen:EnumerationContext", NS).text
    assert resp.find("wse:Expires", NS).text == "PT120S"
    # lmalice (role user) subscribes to the same events: she must not see lmbob's logon.
    _, alice_ctx = subscribe(server, LOGONS, scheme=scheme, creds=PLAIN, expires="PT120S")
    login = SshLogin("lmbob", "cat /proc/self/sessionid; sleep 2")
    try:
        sid = login.session_id()
        found, seen = None, []
        deadline = time.monotonic() + 30
        while found is None and time.monotonic() < deadline:
            from winrm.exceptions import WinRMOperationTimeoutError
            try:
                answer = p.send_message(envelope(PULL, WMI + "*", pull_body(ctx, 10, "PT5S")))
            except WinRMOperationTimeoutError:
                continue
            pr = Reply(200, {}, answer, 0)
            nxt, _, eos = items_of(pr)
            assert not eos and nxt == ctx, "a subscription's context stays the same"
            for event, target, tp in event_targets(pr):
                seen.append((event, target, tp.get("LogonId")))
                assert event == "__InstanceCreationEvent" and target == "Win32_LogonSession"
                if tp.get("LogonId") == sid:
                    found = tp
        assert found, "no creation event for session %s within 30 s; saw %s" % (sid, seen)
        assert "lmbob" in (found.get("Caption") or ""), found
        r = event_pull(server, alice_ctx, max_time="PT2S", scheme=scheme, creds=PLAIN)
        if r.status == 200:
            assert sid not in [t.get("LogonId") for _, _, t in event_targets(r)], \
                "a role user saw another user's logon: " + r.describe()
        else:
            expect_fault(r, "wsman:TimedOut", code="s:Receiver", wsman_code=WSMAN_TIMED_OUT)
    finally:
        login.close()
        call(server, UNSUBSCRIBE, WMI + "*", "<wse:Unsubscribe/>", identifier=ident,
             scheme=scheme)


def test_an_empty_pull_times_out(server):
    from winrm.exceptions import WinRMOperationTimeoutError
    ident, ctx = subscribe(server, NO_EVENTS)
    try:
        started = time.monotonic()
        r = event_pull(server, ctx, max_time="PT1S")
        took = time.monotonic() - started
        f = expect_fault(r, "wsman:TimedOut", code="s:Receiver", wsman_code=WSMAN_TIMED_OUT)
        assert 0.8 <= took < 5, took
        assert f.reason
        # pywinrm turns WSManFault Code 2150858793 into its retry signal.
        p = winrm_protocol(server)
        with pytest.raises(WinRMOperationTimeoutError):
            p.send_message(envelope(PULL, WMI + "*", pull_body(ctx, 1, "PT1S")))
        # Without MaxTime the OperationTimeout bounds the wait.
        started = time.monotonic()
        r = call(server, PULL, WMI + "*", pull_body(ctx), timeout="PT2S")
        expect_fault(r, "wsman:TimedOut", code="s:Receiver", wsman_code=WSMAN_TIMED_OUT)
        assert 1.5 <= time.monotonic() - started < 6
        # The subscription is still there after a timeout.
        expect_fault(event_pull(server, ctx, max_time="PT0.5S"), "wsman:TimedOut",
                     code="s:Receiver", wsman_code=WSMAN_TIMED_OUT)
    finally:
        call(server, UNSUBSCRIBE, WMI + "*", "<wse:Unsubscribe/>", identifier=ident)


def test_renew_and_unsubscribe(server):
    ident, ctx = subscribe(server, NO_EVENTS, expires="PT60S")
    r = ok(call(server, RENEW, WMI + "*", "<wse:Renew><wse:Expires>PT90S</wse:Expires>"
                "</wse:Renew>", identifier=ident))
    assert r.action == RENEW + "Response"
    assert r.find("s:Body/wse:RenewResponse/wse:Expires").text == "PT90S", r.describe()
    # Renew without Expires keeps the lifetime it had.
    r = ok(call(server, RENEW, WMI + "*", "<wse:Renew/>", identifier=ident))
    assert r.find("s:Body/wse:RenewResponse/wse:Expires").text, r.describe()
    # Not another user's to renew, pull or end.
    expect_fault(call(server, RENEW, WMI + "*", "<wse:Renew/>", identifier=ident, creds=PLAIN),
                 "wse:UnableToRenew")
    expect_fault(event_pull(server, ctx, creds=PLAIN), "wsen:InvalidEnumerationContext")
    r = call(server, UNSUBSCRIBE, WMI + "*", "<wse:Unsubscribe/>", identifier=ident,
             creds=PLAIN)
    assert r.status == 500, r.describe()
    # Unsubscribe, then it is gone.
    r = ok(call(server, UNSUBSCRIBE, WMI + "*", "<wse:Unsubscribe/>", identifier=ident))
    assert r.action == UNSUBSCRIBE + "Response"
    expect_fault(event_pull(server, ctx, max_time="PT1S"), "wsen:InvalidEnumerationContext")
    expect_fault(call(server, RENEW, WMI + "*", "<wse:Renew/>", identifier=ident),
                 "wse:UnableToRenew")
    r = call(server, UNSUBSCRIBE, WMI + "*", "<wse:Unsubscribe/>", identifier=ident)
    assert r.status == 500 and r.fault is not None, r.describe()
    # Renew or Unsubscribe without an Identifier.
    expect_fault(call(server, UNSUBSCRIBE, WMI + "*", "<wse:Unsubscribe/>"),
                 "wsa:InvalidMessageInformationHeader")


def test_subscription_faults(server):
    # An unknown class in the event query.
    r = call(server, SUBSCRIBE, WMI + "*", subscribe_body(
        "SELECT * FROM __InstanceCreationEvent WITHIN 1 WHERE TargetInstance ISA 'Win32_Nope'"))
    expect_fault(r, "wsa:DestinationUnreachable", wmi=WBEM_E_INVALID_CLASS)
    # A syntax error.
    r = call(server, SUBSCRIBE, WMI + "*", subscribe_body("SELECT * FRM __InstanceCreationEvent"))
    expect_fault(r, "wsen:CannotProcessFilter")
    # A bad expiry: a date is not supported, zero is invalid.
    for expires, subcode in (("2030-01-01T00:00:00Z", "wsen:UnsupportedExpirationType"),
                             ("PT0S", "wsen:InvalidExpirationTime")):
        r = call(server, SUBSCRIBE, WMI + "*", subscribe_body(NO_EVENTS, expires=expires))
        assert r.status == 500 and r.fault.subcode.endswith(subcode.split(":")[1]), \
            r.describe()


def test_subscribe_with_the_dmtf_uri_and_cimnamespace(server):
    r = ok(call(server, SUBSCRIBE, CIM_ALL, subscribe_body(NO_EVENTS),
                selectors=[("__cimnamespace", "root/cimv2")]))
    ident = r.find("s:Body/wse:SubscribeResponse/wse:SubscriptionManager/"
                   "wsa:ReferenceParameters/wse:Identifier").text
    ok(call(server, UNSUBSCRIBE, CIM_ALL, "<wse:Unsubscribe/>", identifier=ident))
    r = call(server, SUBSCRIBE, CIM_ALL, subscribe_body(NO_EVENTS),
             selectors=[("__cimnamespace", "root/nowhere")])
    expect_fault(r, "wsa:DestinationUnreachable", wmi=WBEM_E_INVALID_NAMESPACE)


def test_subscribe_through_pypsrp_invoke(server):
    """pypsrp has no eventing methods; its generic invoke carries Subscribe and Unsubscribe
    (and checks RelatesTo)."""
    w = psrp(server)
    env = w.invoke(SUBSCRIBE, WMI + "*", element(
        subscribe_body(NO_EVENTS, expires="PT60S").replace(
            "<wse:Subscribe>", '<wse:Subscribe xmlns:wse="%s">' % NS["wse"], 1)))
    ident = env.find("s:Body/wse:SubscribeResponse/wse:SubscriptionManager/"
                     "wsa:ReferenceParameters/wse:Identifier", NS).text
    from pypsrp.exceptions import WSManFaultError
    ctx = env.find("s:Body/wse:SubscribeResponse/wsen:EnumerationContext", NS).text
    with pytest.raises(WSManFaultError) as e:
        w.pull(WMI + "*", element(pull_body(ctx, 1, "PT1S")))
    assert e.value.code == WSMAN_TIMED_OUT, e.value
    r = ok(call(server, UNSUBSCRIBE, WMI + "*", "<wse:Unsubscribe/>", identifier=ident))
    assert r.action == UNSUBSCRIBE + "Response"


# ============================================================================================
# 6. Hostile SOAP over raw HTTP
# ============================================================================================

def still_serving(server):
    r = ok(call(server, ENUMERATE, WMI + "Win32_LogonSession", enumerate_body(optimize=1000)))
    assert items_of(r)[2]
    assert server.proc.poll() is None, "the server died"


def laughs():
    ents = ['<!ENTITY a0 "lol">'] + ['<!ENTITY a%d "%s">' % (i, ("&a%d;" % (i - 1)) * 10)
                                     for i in range(1, 10)]
    return ('<?xml version="1.0"?><!DOCTYPE s:Envelope [%s]>' % "".join(ents)
            + envelope(ENUMERATE, WMI + "Win32_LogonSession", "<wsen:Enumerate/>",
                       extra_headers="<x>&a9;</x>"))


def nested(depth):
    return envelope(ENUMERATE, WMI + "Win32_LogonSession",
                    "<wsen:Enumerate>%s%s</wsen:Enumerate>" % ("<a>" * depth, "</a>" * depth))


HOSTILE = [
    ("billion laughs", lambda: laughs().encode(), (500, 400)),
    ("external entity", lambda: (
        '<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY x SYSTEM "file:///etc/shadow">]>'
        + envelope(ENUMERATE, WMI + "Win32_LogonSession", "<wsen:Enumerate/>",
                   extra_headers="<x>&x;</x>")).encode(), (500, 400)),
    ("DOCTYPE alone", lambda: ('<!DOCTYPE s:Envelope SYSTEM "http://127.0.0.1:1/x.dtd">'
                               + envelope(ENUMERATE, WMI + "Win32_LogonSession",
                                          "<wsen:Enumerate/>")).encode(), (500, 400)),
    ("100 deep", lambda: nested(100).encode(), (500, 400)),
    ("10000 deep", lambda: nested(10000).encode(), (500, 400, 413)),
    ("garbage bytes", lambda: bytes(range(256)) * 64, (500, 400)),
    ("not XML", lambda: b"SELECT * FROM Win32_LogonSession", (500, 400)),
    ("truncated", lambda: envelope(ENUMERATE, WMI + "Win32_LogonSession",
                                   "<wsen:Enumerate/>").encode()[:300], (500, 400)),
    ("non-SOAP XML", lambda: b'<?xml version="1.0"?><CIM CIMVERSION="2.0"><MESSAGE ID="1" '
                             b'PROTOCOLVERSION="1.0"><SIMPLEREQ/></MESSAGE></CIM>', (500, 400)),
    ("SOAP 1.1 envelope", lambda: envelope(ENUMERATE, WMI + "Win32_LogonSession",
                                           "<wsen:Enumerate/>").replace(
        NS["s"], "http://schemas.xmlsoap.org/soap/envelope/").encode(), (500, 400)),
    ("undeclared prefix", lambda: envelope(ENUMERATE, WMI + "Win32_LogonSession",
                                           "<zz:Enumerate/>").encode(), (500, 400)),
    ("invalid UTF-8", lambda: envelope(ENUMERATE, WMI + "Win32_LogonSession",
                                       "<wsen:Enumerate/>").encode().replace(
        b"<wsen:Enumerate/>", b"<wsen:Enumerate>\xff\xfe\xc0</wsen:Enumerate>"), (500, 400)),
    ("odd UTF-16", lambda: b"\xff\xfe" + "<s:Envelope/>".encode("utf-16-le") + b"x", (500, 400)),
    ("no Body", lambda: envelope(ENUMERATE, WMI + "Win32_LogonSession").replace(
        "<s:Body></s:Body>", "").encode(), (500, 400)),
    ("wrong body for the action", lambda: envelope(ENUMERATE, WMI + "Win32_LogonSession",
                                                   pull_body("x")).encode(), (500, 400)),
    ("100,000 elements", lambda: envelope(ENUMERATE, WMI + "Win32_LogonSession",
                                          "<wsen:Enumerate>%s</wsen:Enumerate>"
                                          % ("<a/>" * 100000)).encode(), (500, 400, 413)),
]


@pytest.mark.parametrize("make,statuses", [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_hostile_bodies(server, make, statuses):
    data = make()
    started = time.monotonic()
    r = post(server, data, timeout=30)
    assert time.monotonic() - started < 10
    assert r.status in statuses, r.describe()
    if r.status == 500:
        f = r.fault
        assert f is not None and f.code in ("s:Sender", "s:Receiver"), r.describe()
        assert f.wsman_code == WSMAN_GENERIC
    assert len(r.body) < 16384, "nothing expanded into the answer"
    assert b"lollollol" not in r.body and b"root:" not in r.body
    still_serving(server)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_body_over_the_limit_is_413(server, scheme):
    """The body limit (4 MiB): announced with Content-Length, and streamed chunked."""
    piece = b"<x>" + b"y" * 65530 + b"</x>"
    pieces = [piece] * (5 * 1024 * 1024 // len(piece) + 1)
    r = raw_exchange(server, request_head(len(piece) * len(pieces)), pieces, scheme=scheme)
    assert r.status == 413, r.describe()
    r = raw_exchange(server, request_head(chunked=True),
                     [b"%x\r\n%s\r\n" % (len(p), p) for p in pieces] + [b"0\r\n\r\n"],
                     scheme=scheme)
    assert r.status == 413, r.describe()
    still_serving(server)


@pytest.mark.parametrize("codec,bom", [("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff")])
def test_utf16_with_a_bom_works(server, codec, bom):
    """MS-WSMV allows UTF-16 with a byte-order mark."""
    mid = "uuid:%s" % uuid.uuid4()
    xml = envelope(ENUMERATE, WMI + "Win32_LogonSession", enumerate_body(optimize=1000),
                   message_id=mid)
    r = post(server, bom + xml.encode(codec),
             headers={"Content-Type": "application/soap+xml;charset=UTF-16"})
    ok(r)
    assert r.relates_to == mid
    _, items, eos = items_of(r)
    assert eos and items
    assert a_logon_id() in {props(i)["LogonId"] for i in items}


@pytest.mark.parametrize("method,path,content_type,status", [
    ("GET", "/wsman", None, 405),
    ("PUT", "/wsman", "application/soap+xml", 405),
    ("POST", "/wsman", "application/json", 415),
    ("POST", "/cimom", "application/soap+xml", 404),
    ("POST", "/wsman/", "text/xml; charset=utf-8", 200),
])
def test_http_level_refusals(server, method, path, content_type, status):
    xml = envelope(ENUMERATE, WMI + "Win32_LogonSession", enumerate_body(optimize=1000))
    r = post(server, xml if method != "GET" else b"", method=method, path=path,
             headers={"Content-Type": content_type})
    assert r.status == status, r.describe()
    still_serving(server)


def test_a_slow_client_does_not_block_others(server):
    """A connection that sends half an envelope and stops does not hold up the next
    request (the header timeout is 3 s here)."""
    s = socket.create_connection(("127.0.0.1", server.wsman_http_port), timeout=10)
    try:
        data = envelope(ENUMERATE, WMI + "Win32_LogonSession", "<wsen:Enumerate/>").encode()
        s.sendall(b"POST /wsman HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n"
                  b"Content-Type: application/soap+xml\r\nContent-Length: %d\r\n\r\n%s"
                  % (basic(ADMIN).encode(), len(data), data[:100]))
        started = time.monotonic()
        still_serving(server)
        assert time.monotonic() - started < 2
    finally:
        s.close()
