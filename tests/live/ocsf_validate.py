#!/usr/bin/env python3
"""Validates OCSF events (JSON lines) against the OCSF schema, offline.

    .venv/live/bin/python tests/live/ocsf_validate.py FILE... [--also VERSION,...]

ocsf-json-schema (PyPI, pinned in tests/live/run) packages the compiled OCSF schemas of
every release from 1.0.0 to 1.8.0 and generates the JSON Schema (draft 2020-12) of a class
with the profiles an event declares: every attribute typed, every enum closed, required
attributes and `at_least_one` constraints, and no attribute the class does not define
(`additionalProperties: false`). jsonschema checks each event against the schema of its own
`class_uid`, `metadata.version` and `metadata.profiles`, and against each `--also` version
(older releases a SIEM may expect, e.g. 1.1.0 for Amazon Security Lake). Nothing is fetched.

Prints one JSON object: {"events": N, "checked": {"1.8.0": N, ...}, "errors": [...]}, and
exits 0 when there are no errors, 1 otherwise (2 when the packages are missing).
"""

import json
import sys

try:
    import jsonschema
    from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema
except ImportError as e:  # run with the wrong python
    print(json.dumps({"events": 0, "checked": {}, "errors": ["missing package: %s" % e]}))
    sys.exit(2)

_schemas = {}
_validators = {}


def validator(version, class_uid, profiles):
    key = (version, class_uid, tuple(sorted(profiles)))
    if key not in _validators:
        if version not in _schemas:
            _schemas[version] = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=version))
        ocsf = _schemas[version]
        name = ocsf.lookup_class_name_from_uid(class_uid=class_uid)
        schema = ocsf.get_class_schema(class_name=name, profiles=list(key[2]))
        jsonschema.Draft202012Validator.check_schema(schema)
        _validators[key] = jsonschema.Draft202012Validator(schema)
    return _validators[key]


def main(argv):
    files, also = [], []
    it = iter(argv)
    for a in it:
        if a == "--also":
            also = [v for v in next(it, "").split(",") if v]
        else:
            files.append(a)
    events, errors, checked = 0, [], {}
    for path in files:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                where = "%s:%d" % (path, n)
                try:
                    event = json.loads(line)
                except ValueError as e:
                    errors.append("%s: not JSON: %s" % (where, e))
                    continue
                events += 1
                meta = event.get("metadata") or {}
                versions = [meta.get("version")] + [v for v in also if v != meta.get("version")]
                for version in versions:
                    try:
                        v = validator(version, event.get("class_uid"), meta.get("profiles") or [])
                    except Exception as e:  # an unknown version or class is an error too
                        errors.append("%s: OCSF %s: no schema for class %r: %s"
                                      % (where, version, event.get("class_uid"), e))  # fmt: skip
                        continue
                    checked[version] = checked.get(version, 0) + 1
                    for err in v.iter_errors(event):
                        path_ = "/".join(str(p) for p in err.absolute_path) or "(event)"
                        errors.append("%s: OCSF %s: %s: %s" % (where, version, path_, err.message[:300]))
    print(json.dumps({"events": events, "checked": checked, "errors": errors}))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
