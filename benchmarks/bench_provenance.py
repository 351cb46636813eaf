#!/usr/bin/env python3
"""Benchmark the provenance check: what verifying a model-signing signature costs on top of the audit.

    python benchmarks/bench_provenance.py                         # prints a markdown table
    python benchmarks/bench_provenance.py --docs docs/provenance.md   # also rewrites its measured block

Synthetic models (many small files; one large file) are written to a temp dir under /tmp,
signed with model_signing by a fresh EC key, and deleted at the end. For each it measures the
audit's own manifest (resolve: the SHA-256 of every file, which the audit computes anyway),
the provenance check alone (bundle parse + signature + per-file comparison), and, for
reference, model_signing's own `verifying.Config().verify`, which re-hashes every file. The
sharded BLAKE2 row is the path where the check has to re-hash too.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))


def _make_model(root: Path, n_small: int, big_mb: int) -> Path:
    root.mkdir(parents=True)
    (root / "config.json").write_text('{"model_type": "bench"}')
    shard = root / "shards"
    shard.mkdir()
    for i in range(n_small):
        (shard / f"part-{i:05d}.json").write_bytes(os.urandom(1024))
    if big_mb:
        chunk = os.urandom(1 << 20)
        with open(root / "model.safetensors", "wb") as f:
            for _ in range(big_mb):
                f.write(chunk)
    return root


def _sign(model: Path, key: Path, shard_size: int | None) -> None:
    import model_signing

    config = model_signing.hashing.Config()
    if shard_size:
        config.use_shard_serialization(shard_size=shard_size, hashing_algorithm="blake2")
    config.set_ignored_paths(paths=["model.sig"])
    model_signing.signing.Config().use_elliptic_key_signer(private_key=key).set_hashing_config(config).sign(model, model / "model.sig")


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def measure(tmp: Path, name: str, n_small: int, big_mb: int, shard_size: int | None, key: Path, pub: Path) -> dict:
    import model_signing

    from auditor.checks.base import AuditContext
    from auditor.checks.provenance import ProvenanceCheck
    from auditor.resolve.local import resolve_local

    model = _make_model(tmp / name, n_small, big_mb)
    _sign(model, key, shard_size)
    resolved, t_manifest = _timed(lambda: resolve_local(str(model)))
    settings = {"method": "key", "public_keys": [str(pub)]}
    result, t_check = _timed(lambda: ProvenanceCheck().execute(AuditContext(model=resolved), settings))
    assert result.status == "pass", (result.status, result.error)
    verifier = model_signing.verifying.Config().use_elliptic_key_verifier(public_key=pub)
    if shard_size:  # model_signing 1.1 cannot guess a "blake2b" config from the signature itself
        verifier.set_hashing_config(
            model_signing.hashing.Config().use_shard_serialization(shard_size=shard_size, hashing_algorithm="blake2")
            .set_ignored_paths(paths=["model.sig"])
        )
    _, t_library = _timed(lambda: verifier.verify(model, model / "model.sig"))
    size_mb = sum(f.size for f in resolved.files) / 2**20
    bundle_kb = (model / "model.sig").stat().st_size / 1024
    shutil.rmtree(model)
    return {
        "model": name, "files": len(resolved.files), "size_mb": size_mb,
        "bundle_kb": bundle_kb, "manifest_s": t_manifest, "check_s": t_check, "library_s": t_library,
        "files_verified": result.details["files_verified"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=Path, help="rewrite the 'bench-provenance' block of this page")
    ap.add_argument("--big-mb", type=int, default=256)
    args = ap.parse_args()
    if args.docs:
        from docs_block import require_block

        require_block(args.docs, "bench-provenance")
    from auditor.report.keys import generate_keypair

    cases = [
        ("10 small files", 10, 0, None),
        ("1,000 small files", 1000, 0, None),
        ("10,000 small files", 10000, 0, None),
        (f"one {args.big_mb} MB file", 0, args.big_mb, None),
        (f"one {args.big_mb} MB file, 64 MB BLAKE2 shards", 0, args.big_mb, 64 << 20),
    ]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-provenance-") as tmp:
        key, pub = generate_keypair(Path(tmp) / "publisher")  # EC P-256, what `auditor keygen` writes
        # warm-up: import model_signing/sigstore once so the first row does not pay for it
        measure(Path(tmp), "warmup", 2, 0, None, key, pub)
        for name, n_small, big_mb, shard in cases:
            rows.append(measure(Path(tmp), name.replace(" ", "_").replace(",", ""), n_small, big_mb, shard, key, pub))
            rows[-1]["model"] = name
            print(f"measured {name}", file=sys.stderr)
    load = os.getloadavg()[0]
    lines = [
        f"Machine: {os.cpu_count()} CPUs, load average {load:.1f} at the end; python {sys.version.split()[0]}",
        "",
        "| model | files (with model.sig) | size (MB) | model.sig (KB) | audit manifest (s) | provenance check (s) | model_signing verify, re-hashing (s) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['files']:,} | {r['size_mb']:,.0f} | {r['bundle_kb']:,.0f} | {r['manifest_s']:.2f} | {r['check_s']:.2f} | {r['library_s']:.2f} |"
        )
    table = "\n".join(lines)
    print(table)
    if args.docs:
        from docs_block import replace_block

        replace_block(args.docs, "bench-provenance", table)


if __name__ == "__main__":
    main()
