"""Process definitions: check a BPMN file completely, deploy versions, cache parsed specs."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, Generic, TypeVar

from lxml import etree
from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer

from engine import domain
from engine.bpmn_model import BPMN_NS, local, read_model
from engine.errors import Conflict, InvalidBpmn, NotFound, PreconditionFailed, Problem
from engine.forms.coercion import FormSchema
from engine.forms.model import FormDef
from engine.messages import msg
from engine.sandbox.scripting import check_expression, check_script
from engine.spiff.parser import BPMN_XSD, ProductParser
from engine.store.db import is_postgresql
from engine.store.models import ProcessVersion
from engine.store.prepared import PreparedRead
from engine.store.unit_rows import flush_pending

MAX_BPMN_BYTES = 2_000_000
# First key of the PostgreSQL advisory lock a deploy holds; the second is the hash of the process key.
_DEPLOY_LOCK = 0x42504D44  # "BPMD"


@dataclass(frozen=True)
class CompiledProcess:
    """A checked BPMN file: its executable process spec and the product model."""

    key: str
    spec: Any
    subprocess_specs: dict[str, Any]
    model: dict[str, Any]
    # The forms read once per compile, not per submission: the start form and each user task's by element.
    start_form: FormSchema | None = field(init=False, repr=False, compare=False)
    task_forms: dict[str, FormSchema] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        start = self.model.get("start_form")
        start_form = FormSchema(FormDef.from_dict(start)) if start is not None else None
        object.__setattr__(self, "start_form", start_form)
        object.__setattr__(self, "task_forms", {
            element: FormSchema(FormDef.from_dict(task["form"]))
            for element, task in (self.model.get("tasks") or {}).items() if task.get("form") is not None})


@dataclass(frozen=True)
class DeployResult:
    """What a deploy did: the live version and whether it is new."""

    process_key: str
    version: int
    version_id: int
    created: bool
    content_hash: str  # the version's ETag


@cache
def _schema() -> etree.XMLSchema:
    """Load the BPMN 2.0 XSD once."""
    return etree.XMLSchema(etree.parse(str(BPMN_XSD)))


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


def compile_process(xml: bytes | str, filename: str = "", *, check_services: bool = True) -> CompiledProcess:
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
    model, model_problems = read_model(process, check_expression, check_script,
                                       check_services=check_services)
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


def compile_cached(xml: bytes | str, filename: str = "") -> CompiledProcess:
    """Compile a valid file once: the editor's check and the deploy of the same bytes share the parse."""
    digest, installed = content_hash(xml), domain.current()
    hit = _CHECKED.lookup(digest)
    if hit is not None and hit[0] is installed:
        return hit[1]
    compiled = compile_process(xml, filename)
    _CHECKED.put(digest, (installed, compiled))
    return compiled


def content_hash(xml: bytes | str) -> str:
    """Return the SHA-256 of the file's bytes."""
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    return hashlib.sha256(data).hexdigest()


def deploy(session: Session, xml: bytes | str, *, filename: str = "", actor: str = "", now: datetime,
           base_hash: str | None = None, if_match: Collection[str] | None = None) -> DeployResult:
    """Store a new version when the file is valid, changed and based on the newest version."""
    # Deploys of one key run one at a time (_lock_key). `base_hash` is the content hash of the version
    # the caller edited ("" for a new process), `if_match` the ETags of an HTTP If-Match ("*": any
    # version); when another version is the newest, nothing is stored.
    compiled = compile_cached(xml, filename)
    key, digest = compiled.key, content_hash(xml)
    if if_match is not None and not _matches(_newest(session, key), if_match):
        raise PreconditionFailed(f"If-Match does not name the newest version of '{key}'; "
                                 "fetch the newest version and apply your changes there")
    newest = _lock_key(session, key)
    _check_expectations(key, newest, base_hash, if_match)
    if newest is not None and newest.content_hash == digest:
        # Unchanged from the newest version. An older version with this content is not enough: its
        # file deployed again takes back the changes since, so it becomes the newest, as a new version.
        return DeployResult(key, newest.version, newest.id, False, digest)
    row = ProcessVersion(
        process_key=key, version=(newest.version if newest else 0) + 1, content_hash=digest,
        name_zh=compiled.model["name_zh"], name_en=compiled.model["name_en"],
        bpmn_xml=xml.decode("utf-8") if isinstance(xml, bytes) else xml,
        model=compiled.model, filename=filename, deployed_at=now, deployed_by=actor,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError as exc:
        # Only reachable when a session skipped the key lock (e.g. another database's isolation).
        raise Conflict(f"another deploy of '{key}' stored a version meanwhile; try again") from exc
    _CACHE.put(digest, compiled)
    return DeployResult(key, row.version, row.id, True, digest)


@dataclass(frozen=True)
class _Newest:
    """The newest stored version of a key: its number, content hash and row id."""

    version: int
    content_hash: str
    id: int


# Built once: constructing the statement took longer than running it (it runs at every start); compiled
# once per database (engine.store.prepared).
NEWEST_VERSION = PreparedRead(select(ProcessVersion.id, ProcessVersion.version, ProcessVersion.content_hash)
                          .where(ProcessVersion.process_key == bindparam("process_key"))
                          .order_by(ProcessVersion.version.desc()).limit(1))
NEWEST_VERSION_LOCKED = PreparedRead(NEWEST_VERSION.statement.with_for_update())


def _newest(session: Session, key: str, statement: PreparedRead = NEWEST_VERSION) -> _Newest | None:
    """Return the newest version of a key as it is now (without locking, unless given the locking read)."""
    # On the session's connection, past the ORM's execute (three times the statement's own cost here),
    # so without its autoflush: a version this session added and did not flush yet is flushed first.
    flush_pending(session, ProcessVersion)
    rows = statement.rows(session.connection(), {"process_key": key})
    return _Newest(rows[0][1], rows[0][2], rows[0][0]) if rows else None


def _lock_key(session: Session, key: str) -> _Newest | None:
    """Hold the key's deploy lock until the transaction ends; return the newest version after it."""
    if is_postgresql(session.get_bind()):
        # A transaction-scoped advisory lock also serialises the first deploy of a key, which has no
        # row to lock; the read after it sees whatever the previous holder committed.
        # Advisory locks are the database's: the schema in the hash keeps deployments in other schemas
        # of the same database from queueing behind each other.
        session.execute(select(func.pg_advisory_xact_lock(
            _DEPLOY_LOCK, func.hashtext(func.concat(func.current_schema(), ":", key)))))
        return _newest(session, key)
    # SQLite renders no FOR UPDATE: its BEGIN IMMEDIATE already holds the database's write lock.
    return _newest(session, key, NEWEST_VERSION_LOCKED)


def _matches(newest: _Newest | None, if_match: Collection[str]) -> bool:
    """Tell whether an If-Match list names the newest version ("*" names any existing one)."""
    if newest is None:
        return False
    return "*" in if_match or newest.content_hash in if_match


def _check_expectations(key: str, newest: _Newest | None, base_hash: str | None,
                        if_match: Collection[str] | None) -> None:
    """Refuse the deploy when another one changed the newest version since the caller looked."""
    current = newest.content_hash if newest else ""
    if if_match is not None and not _matches(newest, if_match):
        # It matched before the lock: a concurrent deploy won the race while this one waited.
        raise Conflict(f"another deploy of '{key}' stored version {newest.version if newest else 0} "
                       "meanwhile; fetch it and apply your changes there")
    if base_hash is not None and base_hash != current:
        what = f"version {newest.version} is the newest now" if newest else "it has no version any more"
        raise Conflict(f"process '{key}' changed since it was opened: {what}")


def latest_version(session: Session, process_key: str) -> ProcessVersion:
    """Return the newest deployed version of a process."""
    row = session.scalar(select(ProcessVersion).where(ProcessVersion.process_key == process_key)
                         .order_by(ProcessVersion.version.desc()).limit(1))
    if row is None:
        raise NotFound(f"process '{process_key}' is not deployed")
    return row


@dataclass(frozen=True)
class NewestVersion:
    """The newest version of a process, compiled: what starting an instance needs."""

    id: int
    version: int
    compiled: CompiledProcess


def newest_compiled(session: Session, process_key: str) -> NewestVersion:
    """Return the newest version's id and number with its compiled form; a spec-cache hit reads no XML."""
    found = _newest(session, process_key)
    if found is None:
        raise NotFound(f"process '{process_key}' is not deployed")
    return NewestVersion(found.id, found.version, compiled_by_id(session, found.id, found.content_hash))


V = TypeVar("V")


class RecentByHash(Generic[V]):
    """A small thread-safe least-recently-used map from a file's content hash to what was made of it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, V] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, digest: str, value: V) -> None:
        """Remember a value (keyed by content, so any database's copy shares it)."""
        with self._lock:
            self._items[digest] = value
            self._items.move_to_end(digest)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def lookup(self, digest: str) -> V | None:
        """Return the value kept for this content hash, if any."""
        with self._lock:
            hit = self._items.get(digest)
            if hit is not None:
                self._items.move_to_end(digest)
            return hit


class SpecCache(RecentByHash[CompiledProcess]):
    """Parsed specs per content hash; parsing is the slowest part of loading an instance."""

    def __init__(self, size: int = 64) -> None:
        super().__init__(size)

    def get(self, version: ProcessVersion) -> CompiledProcess:
        """Return the compiled version, parsing its stored XML on a miss."""
        hit = self.lookup(version.content_hash)
        if hit is not None:
            return hit
        # A stored version was checked at its deploy; a service bound since then is refused when
        # called (engine.context), so its running instances still load and show that error.
        compiled = compile_process(version.bpmn_xml, version.filename, check_services=False)
        self.put(version.content_hash, compiled)
        return compiled


_CACHE = SpecCache()
MODELS_SEEN = "bpm_models_seen"  # session.info key: version id → model, for this session's later readers
VERSION_NUMBERS = "bpm_version_numbers"  # session.info key: version id → its number (rows never change)


def note_version_number(session: Session, version_id: int, number: int) -> None:
    """Remember a version's number for this session's later readers (a command's answer shows it)."""
    session.info.setdefault(VERSION_NUMBERS, {})[version_id] = number
# Recent valid compilations with the domain they were checked against (roles and functions decide
# validity): the editor's check, reused by the deploy of the same bytes that follows it.
_CHECKED: RecentByHash[tuple[object, CompiledProcess]] = RecentByHash(size=8)


def compiled_version(version: ProcessVersion) -> CompiledProcess:
    """Return the cached compiled form of a stored version."""
    return _CACHE.get(version)


def compiled_by_id(session: Session, version_id: int, digest: str | None = None) -> CompiledProcess:
    """Return a version's compiled form; with its content hash known, a cache hit reads nothing."""
    hit = _CACHE.lookup(digest) if digest else None
    if hit is None:
        # The XML and model columns load only when the cache misses (a new process or a new worker).
        version = session.get(ProcessVersion, version_id,
                              options=[defer(ProcessVersion.bpmn_xml), defer(ProcessVersion.model)])
        if version is None:
            raise NotFound(f"process version {version_id} does not exist")
        hit = _CACHE.get(version)
    # Later readers in this session (the notification outbox) find the model without a query.
    session.info.setdefault(MODELS_SEEN, {})[version_id] = hit.model
    return hit
