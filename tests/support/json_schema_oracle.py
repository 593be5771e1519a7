"""The independent judge of constrained decoding: Debian's python3-jsonschema.

Reads {"schema": ..., "instances": ["<json text>", ...]} from the file named on the command line and
prints one line per instance: "ok", or "invalid: <why>" (not JSON at all, or not valid against the
schema under Draft 2020-12). Exits 0 when it could judge them all.
"""
import json
import sys

import jsonschema

with open(sys.argv[1], encoding="utf-8") as f:
    job = json.load(f)
validator = jsonschema.Draft202012Validator(job["schema"])
for text in job["instances"]:
    try:
        instance = json.loads(text)
    except ValueError as e:
        print("invalid: not JSON:", e)
        continue
    errors = sorted(validator.iter_errors(instance), key=str)
    print("ok" if not errors else "invalid: " + errors[0].message.replace("\n", " "))
