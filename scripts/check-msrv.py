#!/usr/bin/env python3
"""Checks the workspace's declared rust-version on a machine with one toolchain.

Fails when a package of the resolved dependency graph (Cargo.lock, all features) declares a
`rust-version` newer than the workspace's own, or when the toolchain here is older than it. APIs
of the standard library newer than the declared version are caught by clippy's
`incompatible_msrv` lint, which reads the same field (scripts/test.sh runs clippy with -D warnings).
"""
import json
import subprocess
import sys


def version(text):
    parts = [int(p) for p in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


meta = json.loads(
    subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked", "--all-features"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
)
members = set(meta["workspace_members"])
declared = {p["rust_version"] for p in meta["packages"] if p["id"] in members}
if len(declared) != 1 or None in declared:
    sys.exit(f"workspace members declare rust-version {sorted(map(str, declared))}: want one")
msrv = declared.pop()
resolved = {n["id"] for n in meta["resolve"]["nodes"]}
newer = sorted(
    f'{p["name"]} {p["version"]} needs {p["rust_version"]}'
    for p in meta["packages"]
    if p["id"] in resolved and p.get("rust_version") and version(p["rust_version"]) > version(msrv)
)
rustc = subprocess.run(["rustc", "--version"], check=True, capture_output=True, text=True).stdout
here = rustc.split()[1]
if version(here) < version(msrv):
    newer.append(f"this rustc {here} is older than rust-version {msrv}")
if newer:
    sys.exit(f"rust-version {msrv} is not honest: " + "; ".join(newer))
print(f"rust-version {msrv}: {len(resolved)} resolved packages declare at most that; rustc {here}")
