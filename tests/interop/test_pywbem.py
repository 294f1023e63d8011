"""pywbem 1.9.1 against `linmgmt serve`: every operation the issue names, over HTTP and HTTPS."""

import pytest
import pywbem

from conftest import ADMIN, PLAIN, cli_count, conn

SCHEMES = ["http", "https"]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_exec_query_wql_cql_and_projection(server, scheme):
    c = conn(server, scheme)
    expected = cli_count("SELECT * FROM Win32_LogonSession")
    rows = c.ExecQuery("WQL", "SELECT * FROM Win32_LogonSession")
    assert len(rows) == expected
    assert any(r["LogonId"] == "0" for r in rows), "the System session is always there"
    for r in rows:
        assert r.path.namespace == "root/cimv2" and r.path.host
        assert r.path.classname == "Win32_LogonSession"
        assert isinstance(r["LogonType"], int) and 0 <= r["LogonType"] <= 13
    assert len(c.ExecQuery("DMTF:CQL", "SELECT * FROM Win32_LogonSession")) == expected
    proj = c.ExecQuery("WQL", "SELECT LogonId, LogonType FROM Win32_LogonSession WHERE LogonType = 0")
    assert len(proj) == 1
    assert set(proj[0].properties) == {"LogonId", "LogonType"}
    assert proj[0].path.keybindings["LogonId"] == "0"
    # Queries over server sessions scan deeper (open files, Samba).
    assert len(c.ExecQuery("WQL", "SELECT * FROM Win32_ServerSession")) == cli_count(
        "SELECT * FROM Win32_ServerSession")
    with pytest.raises(pywbem.CIMError) as e:
        c.ExecQuery("XPath", "/x")
    assert e.value.status_code == 14
    with pytest.raises(pywbem.CIMError) as e:
        c.ExecQuery("WQL", "SELECT * FROM Win32_LogonSession WHERE LogonTyp = 1")
    assert e.value.status_code == 15
    with pytest.raises(pywbem.CIMError) as e:
        c.ExecQuery("WQL", "SELECT * FROM Win32_Nope")
    assert e.value.status_code in (5, 15)
    # pywbemcli's `instance query` is broken in every release; the API path works.
    assert len(list(c.IterQueryInstances("WQL", "SELECT * FROM Win32_LogonSession").generator)) == expected


@pytest.mark.parametrize("scheme", SCHEMES)
def test_enumerate_instances_and_names(server, scheme):
    c = conn(server, scheme)
    insts = c.EnumerateInstances("Win32_LogonSession")
    assert len(insts) == cli_count("SELECT * FROM Win32_LogonSession")
    names = c.EnumerateInstanceNames("Win32_LogonSession")
    assert sorted(n["LogonId"] for n in names) == sorted(i["LogonId"] for i in insts)
    # PropertyList, and the class origin when asked for.
    some = c.EnumerateInstances("Win32_LogonSession", PropertyList=["LogonId", "StartTime"],
                                IncludeClassOrigin=True)
    for i in some:
        assert set(i.properties) <= {"LogonId", "StartTime"}
        assert i.properties["LogonId"].class_origin == "Win32_LogonSession"
    # DeepInheritance=False on a base class: subclass instances with the base's properties.
    base = c.EnumerateInstances("Win32_Session", DeepInheritance=False)
    assert len(base) >= len(insts)
    assert all("LogonType" not in i.properties for i in base)
    with pytest.raises(pywbem.CIMError) as e:
        c.EnumerateInstances("Win32_NoSuchClass")
    assert e.value.status_code == 5
    with pytest.raises(pywbem.CIMError) as e:
        c.EnumerateInstances("Win32_LogonSession", namespace="root/nope")
    assert e.value.status_code == 3


@pytest.mark.parametrize("scheme", SCHEMES)
def test_get_instance(server, scheme):
    c = conn(server, scheme)
    for name in c.EnumerateInstanceNames("Win32_LogonSession"):
        inst = c.GetInstance(name)
        assert inst["LogonId"] == name["LogonId"]
        assert inst.path.classname == "Win32_LogonSession"
    # A numeric key value for a string key (pywbemcli --key LogonId=0 sends this).
    system = c.GetInstance(pywbem.CIMInstanceName("Win32_LogonSession", {"LogonId": 0}))
    assert system["LogonType"] == 0
    only = c.GetInstance(pywbem.CIMInstanceName("Win32_LogonSession", {"LogonId": "0"}),
                         PropertyList=["LogonType"])
    assert set(only.properties) == {"LogonType"}
    with pytest.raises(pywbem.CIMError) as e:
        c.GetInstance(pywbem.CIMInstanceName("Win32_LogonSession", {"LogonId": "no-such-session"}))
    assert e.value.status_code == 6
    with pytest.raises(pywbem.CIMError) as e:
        c.GetInstance(pywbem.CIMInstanceName("Win32_LogonSession", {"Nope": "1"}))
    assert e.value.status_code == 4


@pytest.mark.parametrize("scheme", SCHEMES)
def test_get_class_with_qualifiers(server, scheme):
    c = conn(server, scheme)
    cls = c.GetClass("Win32_LogonSession", IncludeQualifiers=True, LocalOnly=False)
    assert cls.superclass == "Win32_Session"
    assert cls.properties["LogonId"].qualifiers["Key"].value is True
    assert "Caption" in cls.properties and "Description" in cls.qualifiers
    bare = c.GetClass("Win32_LogonSession", IncludeQualifiers=False, LocalOnly=True,
                      IncludeClassOrigin=True)
    assert not bare.qualifiers and not bare.properties["LogonId"].qualifiers
    assert "Caption" not in bare.properties, "LocalOnly drops inherited properties"
    assert bare.properties["LogonId"].class_origin == "Win32_LogonSession"
    with pytest.raises(pywbem.CIMError) as e:
        c.GetClass("Win32_Nope")
    assert e.value.status_code == 5


def test_enumerate_classes_and_qualifiers(server):
    c = conn(server)
    names = c.EnumerateClassNames(DeepInheritance=True)
    assert {"Win32_LogonSession", "Win32_ServerSession", "Win32_Session"} <= set(names)
    direct = c.EnumerateClassNames(ClassName="CIM_LogicalElement")
    assert {"Win32_Session", "Win32_ServerSession"} <= set(direct)
    assert "Win32_LogonSession" not in direct
    top = c.EnumerateClassNames()
    assert "Win32_LogonSession" not in top
    classes = c.EnumerateClasses(ClassName="CIM_LogicalElement", DeepInheritance=True)
    assert {cl.classname for cl in classes} >= {"Win32_LogonSession", "Win32_ServerSession"}
    quals = c.EnumerateQualifiers()
    assert "Key" in {q.name for q in quals}
    key = c.GetQualifier("Key")
    assert key.type == "boolean" and key.scopes.get("PROPERTY")
    with pytest.raises(pywbem.CIMError) as e:
        c.GetQualifier("NoSuchQualifier")
    assert e.value.status_code == 6


def test_associations(server):
    c = conn(server)
    system = pywbem.CIMInstanceName("Win32_LogonSession", {"LogonId": "0"}, namespace="root/cimv2")
    # The operations reach the engine's ASSOCIATORS OF / REFERENCES OF.
    assoc = c.Associators(system)
    names = c.AssociatorNames(system)
    assert sorted(str(a.path) for a in assoc) == sorted(str(n) for n in names)
    refs = c.References(system)
    ref_names = c.ReferenceNames(system)
    assert len(refs) == len(ref_names)
    procs = c.Associators(system, AssocClass="Win32_SessionProcess", ResultClass="Win32_Process")
    assert procs and all(p.classname == "Win32_Process" for p in procs)
    # The System session holds pid 1 (no audit session), and no process of a login.
    handles = {p["Handle"] for p in procs}
    assert "1" in handles
    users = c.Associators(system, AssocClass="Win32_LoggedOnUser")
    assert [(u.classname, u["Name"]) for u in users] == [("Win32_UserAccount", "root")]
    # Reverse: from pid 1 to its session.
    one = pywbem.CIMInstanceName("Win32_Process", {"Handle": "1"}, namespace="root/cimv2")
    back = c.AssociatorNames(one, ResultClass="Win32_LogonSession")
    assert [n.keybindings["LogonId"] for n in back] == ["0"]
    with pytest.raises(pywbem.CIMError) as e:
        c.Associators(system, AssocClass="No Such Class")
    assert e.value.status_code == 4


def same_as_get_instance(c, part, listed):
    """How many of `listed` in `part` (an object sent with a PropertyList) were compared
    with GetInstance of it, built whole by code apart from the lists' (0 when the object
    is gone since)."""
    assert set(part.properties) <= set(listed)
    try:
        whole = c.GetInstance(part.path)
    except pywbem.CIMError as e:  # the session or process ended since
        assert e.status_code == 6, e
        return 0
    for name in listed:
        assert part[name] == whole[name], (part.path, name)
    return len(listed)


def test_property_lists_send_what_the_whole_object_has(server):
    """A PropertyList is passed down to the providers (they build only what is sent): each
    property sent has the value the whole object has, on this host's live sessions and
    processes (compared by key: sessions and processes may come and go between calls)."""
    c = conn(server)
    some = ["LogonId", "Caption", "StartTime", "AuthenticationPackage"]
    # (An association asked without a list would share the code under test.)
    part = c.EnumerateInstances("Win32_LogonSession", PropertyList=some)
    assert len(part) >= 2
    assert sum(same_as_get_instance(c, i, some) for i in part) >= len(some)
    system = pywbem.CIMInstanceName("Win32_LogonSession", {"LogonId": "0"}, namespace="root/cimv2")
    listed = ["Name", "ExecutablePath"]
    part = c.Associators(system, ResultClass="Win32_Process", PropertyList=listed)
    handles = {p.path.keybindings["Handle"] for p in part}
    assert "1" in handles, handles
    first = sorted(part, key=lambda p: int(p.path.keybindings["Handle"]))[:20]
    assert sum(same_as_get_instance(c, p, listed) for p in first) >= len(listed)
    # Process names need none of their details, and name pid 1 as the whole answer does.
    names = c.EnumerateInstanceNames("Win32_Process")
    assert "1" in {n.keybindings["Handle"] for n in names}


@pytest.mark.parametrize("cls", ["Win32_LoggedOnUser", "Win32_SessionProcess"])
def test_get_instance_of_an_association_by_the_names_it_enumerates(server, cls):
    """The paths EnumerateInstanceNames gives for an association (reference keys with host
    and namespace) get the instance back, and so do the same paths with relative
    references, as a client may write them."""
    c = conn(server)
    names = c.EnumerateInstanceNames(cls)
    assert names, "the live host has %s instances" % cls
    for name in names[:5]:
        got = c.GetInstance(name)
        assert got.classname == cls
        relative = name.copy()
        for key, ref in list(relative.keybindings.items()):
            relative.keybindings[key] = pywbem.CIMInstanceName(ref.classname, ref.keybindings)
        again = c.GetInstance(relative)
        assert [str(again[k]) for k in sorted(again.path.keybindings)] == \
            [str(got[k]) for k in sorted(got.path.keybindings)]


def test_pull_with_max_object_count_1(server):
    c = conn(server)
    expected = {i.path.keybindings["Handle"] for i in c.EnumerateInstances("Win32_Process")}
    assert len(expected) > 2
    r = c.OpenEnumerateInstances("Win32_Process", MaxObjectCount=1)
    assert len(r.instances) == 1 and not r.eos and r.context
    got = [r.instances[0]]
    pulls = 0
    while not r.eos:
        r = c.PullInstancesWithPath(r.context, MaxObjectCount=1)
        assert len(r.instances) <= 1
        got.extend(r.instances)
        pulls += 1
    assert pulls >= 2
    handles = {i.path.keybindings["Handle"] for i in got}
    # Processes come and go between the two enumerations; most must be the same.
    assert len(handles & expected) >= 0.8 * min(len(handles), len(expected))
    # The iterator API pages the same way.
    via_iter = list(c.IterEnumerateInstances("Win32_LogonSession", MaxObjectCount=1))
    assert len(via_iter) == cli_count("SELECT * FROM Win32_LogonSession")
    paths = list(c.IterEnumerateInstancePaths("Win32_LogonSession", MaxObjectCount=1))
    assert len(paths) == len(via_iter)
    q = c.OpenQueryInstances("WQL", "SELECT * FROM Win32_Process", MaxObjectCount=1)
    assert len(q.instances) == 1 and not q.eos
    c.CloseEnumeration(q.context)
    with pytest.raises(pywbem.CIMError) as e:
        c.PullInstances(q.context, MaxObjectCount=1)
    assert e.value.status_code == 21


def test_unsupported_operations(server):
    c = conn(server)
    path = pywbem.CIMInstanceName("Win32_LogonSession", {"LogonId": "0"}, namespace="root/cimv2")
    for call in (lambda: c.DeleteInstance(path),
                 lambda: c.CreateInstance(pywbem.CIMInstance("Win32_LogonSession", {"LogonId": "x"})),
                 lambda: c.InvokeMethod("Terminate", path),
                 lambda: c.DeleteClass("Win32_LogonSession")):
        with pytest.raises(pywbem.CIMError) as e:
            call()
        assert e.value.status_code == 7


@pytest.mark.parametrize("scheme", SCHEMES)
def test_authentication(server, scheme):
    for creds in [(ADMIN[0], "wrong"), ("nobody-here", ADMIN[1]), (PLAIN[0], ADMIN[1])]:
        with pytest.raises(pywbem.AuthError):
            conn(server, scheme, creds=creds).EnumerateClassNames()
    assert conn(server, scheme, creds=PLAIN).EnumerateClassNames()


def test_plain_user_sees_only_own_sessions(server):
    admin = conn(server).EnumerateInstances("Win32_LogonSession")
    mine = conn(server, creds=PLAIN).EnumerateInstances("Win32_LogonSession")
    assert all(not i["LogonId"] == "0" for i in mine), "no System session for a plain user"
    assert all(i["Caption"].startswith(PLAIN[0] + " ") for i in mine)
    theirs = [i for i in admin if (i["Caption"] or "").startswith(PLAIN[0] + " ")]
    assert len(mine) == len(theirs)
    servers = conn(server, creds=PLAIN).EnumerateInstances("Win32_ServerSession")
    assert all(s["UserName"] == PLAIN[0] for s in servers)
    # Classes and the interop namespace are the same for everyone.
    assert conn(server, creds=PLAIN).GetClass("Win32_LogonSession").classname == "Win32_LogonSession"


def test_interop_namespace(server):
    c = conn(server, namespace="interop")
    oms = c.EnumerateInstances("CIM_ObjectManager")
    assert len(oms) == 1 and oms[0]["ElementName"] == "linmgmt"
    namespaces = {n["Name"] for n in c.EnumerateInstances("CIM_Namespace")}
    assert {"root/cimv2", "interop"} <= namespaces
    wbem = pywbem.WBEMServer(c)
    assert wbem.brand == "linmgmt"
    assert wbem.interop_ns == "interop"
    assert set(wbem.namespaces) >= {"root/cimv2", "interop"}


def test_groups_and_process_properties_over_cim_xml(server):
    """Issue 11 through the server: Win32_Group, Win32_GroupUser from an account, the new
    Win32_Process properties, and numbers as key values (pywbem sends a numeric KEYVALUE)."""
    import grp
    c = conn(server)
    groups = {g["Name"]: g for g in c.EnumerateInstances("Win32_Group")}
    truth = {g.gr_name for g in grp.getgrall()}
    assert truth <= set(groups), sorted(truth - set(groups))
    assert groups["root"]["SID"] == "S-1-22-2-0" and groups["root"]["SIDType"] == 2
    root = next(a for a in c.EnumerateInstances("Win32_UserAccount") if a["Name"] == "root")
    mine = c.Associators(root.path, ResultClass="Win32_Group")
    assert "root" in {g["Name"] for g in mine}, "root's primary group"
    links = c.References(root.path, ResultClass="Win32_GroupUser")
    assert links and all(r.classname == "Win32_GroupUser" for r in links)
    init = c.GetInstance(pywbem.CIMInstanceName("Win32_Process", {"Handle": 1}))
    assert init["ProcessId"] == 1
    assert isinstance(init["PageFaults"], int) and init["PageFaults"] > 0
    assert init["QuotaPagedPoolUsage"] is None and init["OtherTransferCount"] is None
    assert init["WindowsVersion"] == __import__("os").uname().release
    sessions = c.Associators(pywbem.CIMInstanceName("Win32_Process", {"Handle": 1},
                                                    namespace="root/cimv2"),
                             ResultClass="Win32_LogonSession")
    assert [s["LogonId"] for s in sessions] == ["0"]
    for query in ["Associators of {Win32_LogonSession.LogonId=0} Where AssocClass=Win32_LoggedOnUser Role=Dependent",
                  "REFERENCES OF {Win32_Process=1} WHERE ResultClass=Win32_SessionProcess"]:
        assert c.ExecQuery("WQL", query), query
