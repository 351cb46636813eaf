"""Click commands for the report layer: `verify`, `keygen`, `diff`.

Register them on the main group with `register(cli)` (or add_command each).
Exit codes: verify 0 = verified, 1 = not verified (reasons printed), 2 = an
input could not be read; keygen 0 / 2; diff 0 (2 if a report is unreadable).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..errors import AuditorError


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


@click.command("verify")
@click.argument("target", metavar="DIR_OR_REPORT", type=click.Path(path_type=Path))
@click.option(
    "--key",
    "key",
    type=click.Path(path_type=Path),
    default=None,
    help="Public key (.pub PEM) or certificate (.crt) of the signer. Default: your own default key's .pub.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def verify_cmd(target: Path, key: Path | None, as_json: bool) -> None:
    """Verify a signed report: DSSE envelope, artifact digests, and the PDF's PAdES signature.

    Exits 0 if everything verifies, 1 if anything does not (with the reasons), 2 if an
    input cannot be read.
    """
    from rich.text import Text

    from . import keys
    from .verify import verify

    if key is None:
        key = keys.pub_path_for(keys.config_dir() / keys.DEFAULT_KEY_NAME)
        if not key.exists():
            _fail("no --key given and no default key found; pass the signer's public key with --key")
    try:
        from ..fleet.verify import is_fleet_dir, verify_fleet

        result = verify_fleet(target, key) if is_fleet_dir(target) else verify(target, key)
    except AuditorError as exc:
        _fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - never a traceback
        _fail(f"cannot verify: {type(exc).__name__}: {exc}")
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        sys.exit(0 if result.ok else 1)
    con = _console()
    for line in result.checked:
        con.print(Text("✓ ", style="green") + Text(line))
    for line in result.reasons:
        con.print(Text("✗ ", style="bold red") + Text(line))
    if result.ok and result.report is None:  # a fleet folder
        con.print(Text("VERIFIED", style="bold green") + Text(f": fleet summary and every report in {target}"))
        sys.exit(0)
    if result.ok:
        r = result.report or {}
        model = r.get("model", {})
        con.print(
            Text("VERIFIED", style="bold green")
            + Text(
                f": report for {model.get('id')}@{model.get('revision') or 'local'} "
                f"(verdict {str(r.get('verdict')).upper()}) signed by {keys.fingerprint(keys.load_public_key(key))}"
            )
        )
        sys.exit(0)
    con.print(Text("NOT VERIFIED", style="bold red") + Text(f": {len(result.reasons)} problem(s)"))
    sys.exit(1)


@click.command("keygen")
@click.argument("prefix", metavar="OUT_PREFIX", type=click.Path(path_type=Path))
@click.option(
    "--algorithm",
    type=click.Choice(["ecdsa-p256", "ed25519"]),
    default="ecdsa-p256",
    show_default=True,
    help="Key type. ECDSA P-256 PDF signatures are understood by all PDF readers; Ed25519 ones by few.",
)
def keygen_cmd(prefix: Path, algorithm: str) -> None:
    """Create a signing key: OUT_PREFIX.key (private, mode 0600), .pub and .crt."""
    from . import keys

    try:
        key_path, pub_path = keys.generate_keypair(prefix, algorithm=algorithm)
        fp = keys.fingerprint(keys.load_public_key(pub_path))
    except AuditorError as exc:
        _fail(str(exc))
    click.echo(f"private key:  {key_path}  (keep secret; mode 0600)")
    click.echo(f"public key:   {pub_path}  (give to verifiers: auditor verify DIR --key {pub_path.name})")
    click.echo(f"certificate:  {keys.cert_path_for(key_path)}  (self-signed, for the PDF signature)")
    click.echo(f"fingerprint:  {fp}")


@click.command("diff")
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the differences as JSON.")
def diff_cmd(old: Path, new: Path, as_json: bool) -> None:
    """Show what changed between two reports (report.json files or report directories)."""
    from .diff import diff_reports, load_report, render_diff

    try:
        d = diff_reports(load_report(old), load_report(new))
    except AuditorError as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps(d, indent=2, sort_keys=True, ensure_ascii=False))
    else:
        render_diff(d, _console())
    sys.exit(0)


COMMANDS = (verify_cmd, keygen_cmd, diff_cmd)
# the names the main CLI looks up (auditor.cli registers `verify`, `keygen`, `diff`)
verify = verify_cmd
keygen = keygen_cmd
diff = diff_cmd


def register(group: click.Group) -> None:
    """Add `verify`, `keygen` and `diff` to the main CLI group."""
    for cmd in COMMANDS:
        group.add_command(cmd)
