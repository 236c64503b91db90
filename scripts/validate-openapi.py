#!/usr/bin/env python3
"""Validate an OpenAPI 3 document (JSON) with openapi-spec-validator.

Usage:
    validate-openapi.py [--prefix /MOUNT/] [FILE]

FILE is read, or standard input when it is absent or "-". The document may be
a bare OpenAPI object, or a Vault/OpenBao help response whose OpenAPI sits
under `openapi` or `data.openapi` (what a plugin's help answer carries), so
either can be piped in directly.

--prefix keeps only the paths that start with the given text (for example
`/kv-a/`, one mount in the server's `/v1/sys/internal/specs/openapi`) and the
component schemas those paths reference, then validates that. The server's
whole document holds every mount, including built-in ones we do not control.

Exit status: 0 when valid (one summary line on stdout), 1 when invalid (each
problem on stderr), 2 when the input cannot be read, is not an OpenAPI 3
document, or --prefix matches no path.

Install the validator with scripts/install-openapi-validator.sh, which prints
the python to run this script with.
"""

import argparse
import json
import sys

MAX_ERRORS = 50


def unwrap(doc):
    """Find the OpenAPI object inside a help response, if that is what we got."""
    if isinstance(doc, dict) and isinstance(doc.get("openapi"), dict):
        return doc["openapi"]
    if isinstance(doc, dict) and isinstance(doc.get("data"), dict):
        inner = doc["data"].get("openapi")
        if isinstance(inner, dict):
            return inner
    return doc


def refs(node, found):
    """Collect every `$ref` string under node."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.add(value)
            else:
                refs(value, found)
    elif isinstance(node, list):
        for value in node:
            refs(value, found)


def only_prefix(doc, prefix):
    """The paths under prefix and the component schemas they need."""
    paths = {p: item for p, item in (doc.get("paths") or {}).items() if p.startswith(prefix)}
    schemas = (doc.get("components") or {}).get("schemas") or {}
    kept = {}
    pending = set()
    refs(paths, pending)
    while pending:
        ref = pending.pop()
        name = ref.rsplit("/", 1)[-1]
        if ref.startswith("#/components/schemas/") and name in schemas and name not in kept:
            kept[name] = schemas[name]
            refs(schemas[name], pending)
    out = dict(doc)
    out["paths"] = paths
    out["components"] = {"schemas": kept}
    return out


def main():
    parser = argparse.ArgumentParser(description="Validate an OpenAPI 3 JSON document.")
    parser.add_argument("file", nargs="?", default="-", help="JSON file (default: stdin)")
    parser.add_argument("--prefix", help="validate only the paths starting with this")
    args = parser.parse_args()

    name = "<stdin>" if args.file == "-" else args.file
    try:
        if args.file == "-":
            text = sys.stdin.read()
        else:
            with open(args.file, encoding="utf-8") as handle:
                text = handle.read()
        doc = unwrap(json.loads(text))
    except (OSError, ValueError) as err:
        print(f"validate-openapi: cannot read a JSON document from {name}: {err}", file=sys.stderr)
        return 2

    version = doc.get("openapi") if isinstance(doc, dict) else None
    if not isinstance(version, str) or not version.startswith("3."):
        print(
            f"validate-openapi: {name} is not an OpenAPI 3 document (openapi: {version!r})",
            file=sys.stderr,
        )
        return 2

    if args.prefix is not None:
        doc = only_prefix(doc, args.prefix)
        if not doc["paths"]:
            print(f"validate-openapi: no path in {name} starts with {args.prefix!r}", file=sys.stderr)
            return 2

    try:
        from openapi_spec_validator import (
            OpenAPIV30SpecValidator,
            OpenAPIV31SpecValidator,
        )
    except ImportError as err:
        print(
            f"validate-openapi: {err}; install it with scripts/install-openapi-validator.sh "
            "and run this script with the python it prints",
            file=sys.stderr,
        )
        return 2

    validator_class = (
        OpenAPIV30SpecValidator if version.startswith("3.0") else OpenAPIV31SpecValidator
    )
    errors = list(validator_class(doc).iter_errors())
    if errors:
        for error in errors[:MAX_ERRORS]:
            message = getattr(error, "message", None) or str(error)
            location = list(getattr(error, "absolute_path", None) or [])
            where = "/" + "/".join(str(p) for p in location) + ": " if location else ""
            print(f"{where}{message}", file=sys.stderr)
        if len(errors) > MAX_ERRORS:
            print(f"... and {len(errors) - MAX_ERRORS} more", file=sys.stderr)
        print(
            f"validate-openapi: {name}: {len(errors)} problem(s) in the OpenAPI {version} document",
            file=sys.stderr,
        )
        return 1

    print(f"valid OpenAPI {version} document: {len(doc.get('paths') or {})} paths")
    return 0


if __name__ == "__main__":
    sys.exit(main())
