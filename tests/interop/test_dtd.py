"""Every kind of response validates against the CIM-XML DTD (DSP0203 2.4.0): instances,
names, classes with qualifiers, qualifier declarations, query results, associations, pull
results and errors."""

import os

import pytest
from lxml import etree

from conftest import imethodcall, raw_post


def dtd():
    path = os.environ.get("LINMGMT_CIM_DTD")
    if not path or not os.path.exists(path):
        pytest.fail("LINMGMT_CIM_DTD must name the DSP0203 DTD (tests/interop/run fetches it)")
    with open(path, "rb") as f:
        return etree.DTD(f)


def param(name, xml):
    return '<IPARAMVALUE NAME="%s">%s</IPARAMVALUE>' % (name, xml)


CLASS = param("ClassName", '<CLASSNAME NAME="%s"/>')
SYSTEM = ('<INSTANCENAME CLASSNAME="Win32_LogonSession"><KEYBINDING NAME="LogonId">'
          '<KEYVALUE VALUETYPE="string">0</KEYVALUE></KEYBINDING></INSTANCENAME>')
TRUE = "<VALUE>TRUE</VALUE>"

CASES = [
    ("EnumerateClassNames", param("DeepInheritance", TRUE)),
    ("GetClass", CLASS % "Win32_LogonSession" + param("IncludeQualifiers", TRUE)
     + param("IncludeClassOrigin", TRUE) + param("LocalOnly", "<VALUE>FALSE</VALUE>")),
    ("GetClass", CLASS % "Win32_SessionProcess" + param("IncludeQualifiers", TRUE)),
    ("EnumerateClasses", param("DeepInheritance", TRUE) + param("IncludeQualifiers", TRUE)),
    ("EnumerateInstances", CLASS % "Win32_LogonSession" + param("IncludeClassOrigin", TRUE)),
    ("EnumerateInstances", CLASS % "Win32_Process"),
    ("EnumerateInstances", CLASS % "Win32_SessionProcess"),
    ("EnumerateInstanceNames", CLASS % "Win32_ServerSession"),
    ("GetInstance", param("InstanceName", SYSTEM)),
    ("ExecQuery", param("QueryLanguage", "<VALUE>WQL</VALUE>")
     + param("Query", "<VALUE>SELECT LogonId, StartTime FROM Win32_Session</VALUE>")),
    ("Associators", param("ObjectName", SYSTEM) + param("ResultClass", '<CLASSNAME NAME="Win32_UserAccount"/>')),
    ("AssociatorNames", param("ObjectName", SYSTEM)),
    ("References", param("ObjectName", SYSTEM) + param("ResultClass", '<CLASSNAME NAME="Win32_LoggedOnUser"/>')),
    ("ReferenceNames", param("ObjectName", SYSTEM)),
    ("GetQualifier", param("QualifierName", "<VALUE>Key</VALUE>")),
    ("EnumerateQualifiers", ""),
    ("OpenEnumerateInstances", CLASS % "Win32_Process" + param("MaxObjectCount", "<VALUE>1</VALUE>")),
    ("EnumerateInstances", CLASS % "Win32_Nope"),
    ("Frobnicate", ""),
]


@pytest.mark.parametrize("method,params", CASES, ids=["%s-%d" % (c[0], i) for i, c in enumerate(CASES)])
def test_response_is_valid_cim_xml(server, method, params):
    status, headers, body = raw_post(
        server.http_port, imethodcall(method, params), {"CIMMethod": method, "CIMObject": "root%2Fcimv2"})
    assert status == 200, body[:500]
    doc = etree.fromstring(body)
    checker = dtd()
    assert checker.validate(doc), "%s: %s\n%s" % (method, checker.error_log.filter_from_errors(), body[:1500])
    assert doc.find("MESSAGE/SIMPLERSP/IMETHODRESPONSE").get("NAME") == method
