"""`bpm deploy`: check and deploy BPMN files; a broken file changes nothing."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import click

from engine.convert import camunda
from engine.errors import Conflict, InvalidBpmn
from engine.store.unit_of_work import run_unit

from .cli import cli
from .engine_ext import get_engine
from .extensions import db


def bpmn_files(path: Path) -> list[Path]:
    """Return the BPMN files a path names (a file, or every *.bpmn in a folder)."""
    if path.is_dir():
        return sorted(path.glob("*.bpmn"))
    return [path]


@cli.command("deploy")
@click.argument("path", default="processes", type=click.Path(exists=True, path_type=Path))
@click.option("--from", "dialect", type=click.Choice(["bpmn", "camunda"]), default="bpmn", show_default=True,
              help="camunda: convert Camunda 7 files to this product's extensions first, with a report")
def deploy(path: Path, dialect: str) -> None:
    """Deploy BPMN files (default: processes/); each file is all-or-nothing."""
    engine, failed = get_engine(), 0
    files = bpmn_files(path)
    if not files:
        raise click.ClickException(f"no .bpmn files in {path}")
    for file in files:
        session = db.new_session()
        try:
            xml = file.read_bytes()
            if dialect == "camunda":
                xml = _converted(file, xml)
            result = run_unit(session, partial(engine.deploy, session, xml,
                                               filename=file.name)).unwrap()
            state = "new version" if result.created else "unchanged"
            click.echo(f"{file.name}: {result.process_key} v{result.version} ({state})")
        except InvalidBpmn as exc:
            failed += 1
            click.echo(f"{file.name}: refused, {len(exc.problems)} problem(s):", err=True)
            for problem in exc.problems:
                click.echo(f"  - {problem}", err=True)
        except Conflict as exc:
            failed += 1
            click.echo(f"{file.name}: refused, {exc.message}", err=True)
        finally:
            session.close()
    if failed:
        raise click.ClickException(f"{failed} of {len(files)} file(s) refused; nothing of them was deployed")


def _converted(file: Path, xml: bytes) -> bytes:
    """Convert a Camunda 7 file and print its conversion report; return the converted XML."""
    conversion = camunda.convert(xml)
    click.echo(f"{file.name}: converted from Camunda 7, {len(conversion.converted)} converted, "
               f"{len(conversion.not_converted)} not converted")
    for line in conversion.report:
        where = f"{line.element_id} ({line.element_name})" if line.element_name else line.element_id
        click.echo(f"  {'+' if line.converted else '!'} {where}: {line.message}")
    return conversion.xml
