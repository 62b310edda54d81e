"""Process definitions: check a BPMN file completely, deploy versions, cache parsed specs."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from engine.bpmn_model import BPMN_NS, local, read_model
from engine.errors import InvalidBpmn, NotFound, Problem
from engine.messages import msg
from engine.sandbox.scripting import check_expression, check_script
from engine.spiff.parser import ProductParser
from engine.store.models import ProcessVersion

MAX_BPMN_BYTES = 2_000_000
_XSD = Path(str(__import__("SpiffWorkflow").__file__)).parent / "bpmn" / "parser" / "schema" / "BPMN20.xsd"


@dataclass(frozen=True)
class CompiledProcess:
    """A checked BPMN file: its executable process spec and the product model."""

    key: str
    spec: Any
    subprocess_specs: dict[str, Any]
    model: dict[str, Any]


@dataclass(frozen=True)
class DeployResult:
    """What a deploy did: the live version and whether it is new."""

    process_key: str
    version: int
    version_id: int
    created: bool


@cache
def _schema() -> etree.XMLSchema:
    """Load the BPMN 2.0 XSD once."""
    return etree.XMLSchema(etree.parse(str(_XSD)))


def _element_at(root: Any, line: int) -> str | None:
    """Return the id of the element starting nearest above a line, for XSD messages."""
    best = None
    for el in root.iter():
        if isinstance(el.tag, str) and el.sourceline is not None and el.sourceline <= line and el.get("id"):
            best = el.get("id")
    return best


def parse_document(xml: bytes | str, filename: str = "") -> Any:
    """Parse untrusted BPMN XML safely and validate it against the BPMN 2.0 schema."""
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    if len(data) > MAX_BPMN_BYTES:
        raise InvalidBpmn([Problem(None, msg("file is {size} bytes; the limit is {limit}", size=len(data),
                                             limit=MAX_BPMN_BYTES))], filename)
    head = data[:4096].upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in data.upper():
        raise InvalidBpmn([Problem(None, msg("DOCTYPE and entity declarations are not allowed"))], filename)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                             remove_pis=True)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        # libxml2's own words stay a parameter: only our frame around them is translated.
        raise InvalidBpmn([Problem(None, msg("not well-formed XML: {detail}", detail=str(exc)))],
                          filename) from exc
    if root.getroottree().docinfo.doctype:
        raise InvalidBpmn([Problem(None, msg("DOCTYPE declarations are not allowed"))], filename)
    if root.tag != f"{{{BPMN_NS}}}definitions":
        raise InvalidBpmn([Problem(None, msg("root element is {tag}, not bpmn:definitions", tag=root.tag))],
                          filename)
    schema = _schema()
    if not schema.validate(root):
        problems = [Problem(_element_at(root, e.line),
                            msg("schema (line {line}): {detail}", line=e.line, detail=e.message))
                    for e in schema.error_log]
        raise InvalidBpmn(problems, filename)
    return root


def _executable_process(root: Any, filename: str) -> Any:
    """Return the one executable process of a document."""
    processes = root.findall(f"{{{BPMN_NS}}}process")
    executable = [p for p in processes if (p.get("isExecutable") or "").lower() == "true"]
    if not executable and len(processes) == 1:
        executable = processes
    if len(executable) != 1:
        ids = ", ".join(p.get("id") or "?" for p in executable) or msg("none")
        raise InvalidBpmn([Problem(None, msg("a file must hold exactly one executable process "
                                             "(isExecutable=\"true\"); found {ids}", ids=ids))], filename)
    return executable[0]


def compile_process(xml: bytes | str, filename: str = "") -> CompiledProcess:
    """Check a BPMN file completely; raise InvalidBpmn listing every problem."""
    root = parse_document(xml, filename)
    process = _executable_process(root, filename)
    key = process.get("id")
    problems: list[Problem] = []
    if not key or not key.replace("_", "").isalnum() or not key.isascii():
        problems.append(Problem(key, msg("the process id must be letters, digits and '_' (it is the key)")))
    for node in process.iter():
        tag = local(node.tag)
        if tag in ("dataStoreReference",) or (tag == "serviceTask" and node.get("operationRef")):
            problems.append(Problem(node.get("id"), msg("{tag} is not supported by this engine", tag=tag)))
    model, model_problems = read_model(process, check_expression, check_script)
    problems.extend(model_problems)
    spec, subprocess_specs = None, {}
    try:
        parser = ProductParser()
        parser.add_bpmn_xml(etree.ElementTree(root), filename=filename)
        spec = parser.get_spec(key)
        subprocess_specs = parser.get_subprocess_specs(key)
    except Exception as exc:  # Spiff raises many types for bad models; each becomes a problem.
        element = getattr(exc, "id", None) or None
        problems.append(Problem(element, msg("cannot be run: {detail}", detail=str(exc))))
    if problems or spec is None:
        raise InvalidBpmn(problems, filename)
    return CompiledProcess(key, spec, subprocess_specs, model)


def content_hash(xml: bytes | str) -> str:
    """Return the SHA-256 of the file's bytes."""
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    return hashlib.sha256(data).hexdigest()


def deploy(session: Session, xml: bytes | str, *, filename: str = "", actor: str = "",
           now: datetime) -> DeployResult:
    """Store a new version when the file is valid and changed; otherwise keep the live one."""
    compiled = compile_process(xml, filename)
    text = xml.decode("utf-8") if isinstance(xml, bytes) else xml
    digest = content_hash(xml)
    existing = session.scalar(select(ProcessVersion).where(
        ProcessVersion.process_key == compiled.key, ProcessVersion.content_hash == digest))
    if existing is not None:
        return DeployResult(compiled.key, existing.version, existing.id, False)
    latest = session.scalar(select(func.max(ProcessVersion.version)).where(
        ProcessVersion.process_key == compiled.key)) or 0
    row = ProcessVersion(
        process_key=compiled.key, version=latest + 1, content_hash=digest,
        name_zh=compiled.model["name_zh"], name_en=compiled.model["name_en"], bpmn_xml=text,
        model=compiled.model, filename=filename, deployed_at=now, deployed_by=actor,
    )
    session.add(row)
    session.flush()
    _CACHE.put(digest, compiled)
    return DeployResult(compiled.key, row.version, row.id, True)


def latest_version(session: Session, process_key: str) -> ProcessVersion:
    """Return the newest deployed version of a process."""
    row = session.scalar(select(ProcessVersion).where(ProcessVersion.process_key == process_key)
                         .order_by(ProcessVersion.version.desc()).limit(1))
    if row is None:
        raise NotFound(f"process '{process_key}' is not deployed")
    return row


class SpecCache:
    """Parsed specs per content hash; parsing is the slowest part of loading an instance."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._items: OrderedDict[str, CompiledProcess] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, digest: str, compiled: CompiledProcess) -> None:
        """Remember a compiled version (keyed by content, so any database's copy shares it)."""
        with self._lock:
            self._items[digest] = compiled
            self._items.move_to_end(digest)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def lookup(self, digest: str) -> CompiledProcess | None:
        """Return the compiled version with this content hash, if it is cached."""
        with self._lock:
            hit = self._items.get(digest)
            if hit is not None:
                self._items.move_to_end(digest)
            return hit

    def get(self, version: ProcessVersion) -> CompiledProcess:
        """Return the compiled version, parsing its stored XML on a miss."""
        hit = self.lookup(version.content_hash)
        if hit is not None:
            return hit
        compiled = compile_process(version.bpmn_xml, version.filename)
        self.put(version.content_hash, compiled)
        return compiled


_CACHE = SpecCache()


def compiled_version(version: ProcessVersion) -> CompiledProcess:
    """Return the cached compiled form of a stored version."""
    return _CACHE.get(version)


def compiled_by_id(session: Session, version_id: int, digest: str | None = None) -> CompiledProcess:
    """Return a version's compiled form; with its content hash known, a cache hit reads nothing."""
    hit = _CACHE.lookup(digest) if digest else None
    if hit is not None:
        return hit
    # The XML and model columns load only when the cache misses (a new process or a new worker).
    version = session.get(ProcessVersion, version_id,
                          options=[defer(ProcessVersion.bpmn_xml), defer(ProcessVersion.model)])
    if version is None:
        raise NotFound(f"process version {version_id} does not exist")
    return _CACHE.get(version)
