"""Process models: list versions, view one, edit in the browser modeler, check, deploy, compare."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask import Response as FlaskResponse
from flask_babel import gettext as _
from lxml import etree
from werkzeug.wrappers import Response

from department.roles import ADMIN, PROCESS_OWNER
from engine import domain, drafts
from engine.definitions import compile_cached
from engine.errors import Conflict, InvalidBpmn, PreconditionFailed, Problem
from engine.store import queries
from engine.store.unit_of_work import run_unit

from .auth import roles_required
from .display import pick
from .editor_checks import unconnected
from .editor_config import editor_config
from .element_titles import element_titles, plain_message
from .engine_ext import actor, get_engine, if_match
from .extensions import db
from .form_preview import render_preview
from .i18n import current_locale
from .instances import template_helpers
from .problem_text import problem_text
from .xml_keep import keep_layout

bp = Blueprint("models", __name__)
bp.context_processor(template_helpers)

EDITORS = (PROCESS_OWNER, ADMIN)
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,62}$")


def _version(key: str, number: int) -> queries.VersionView:
    """Return one stored version or 404."""
    row = queries.version_by_number(db.session(), key, number)
    if row is None:
        abort(404)
    return row


def _latest(key: str) -> queries.VersionView | None:
    """Return the newest version of a process."""
    return queries.newest_version(db.session(), key)


def _titles(model: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return each element's type and (Chinese, English) title."""
    tasks = model.get("tasks") or {}
    out = {}
    for eid, el in (model.get("elements") or {}).items():
        task = tasks.get(eid) or {}
        out[eid] = {"id": eid, "type": el.get("type", ""),
                    "name": (task.get("title_zh") or el.get("name") or "",
                             task.get("title_en") or el.get("name_en") or el.get("name") or "")}
    return out


def _form_changes(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any] | None:
    """Return added, removed and changed fields between two form definitions (None when equal)."""
    before = {f["name"]: f for f in (old or {}).get("fields", [])}
    after = {f["name"]: f for f in (new or {}).get("fields", [])}
    changed = [(name, sorted(k for k in set(before[name]) | set(after[name])
                             if before[name].get(k) != after[name].get(k)))
               for name in before if name in after and before[name] != after[name]]
    rules_changed = (old or {}).get("rules") != (new or {}).get("rules") or \
        (old or {}).get("distinct") != (new or {}).get("distinct")
    result = {"added": [n for n in after if n not in before],
              "removed": [n for n in before if n not in after],
              "changed": changed, "rules": rules_changed, "created": old is None and new is not None,
              "dropped": new is None and old is not None}
    return result if any(result.values()) else None


def diff_models(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Describe what changed between two versions' models: elements, names, roles, forms, starters."""
    a, b = _titles(old), _titles(new)
    old_tasks, new_tasks = old.get("tasks") or {}, new.get("tasks") or {}
    forms = []
    for eid in sorted(set(old_tasks) & set(new_tasks)):
        change = _form_changes(old_tasks[eid].get("form"), new_tasks[eid].get("form"))
        if change:
            forms.append({"id": eid, "name": b[eid]["name"], **change})
    start = _form_changes(old.get("start_form"), new.get("start_form"))
    if start:
        forms.insert(0, {"id": "start", "name": (_("Start form"), _("Start form")), **start})
    labels = (("name_zh", _("Chinese name")), ("name_en", _("English name")),
              ("starters", _("Who may start")))
    process = [(label, old.get(k), new.get(k)) for k, label in labels if old.get(k) != new.get(k)]
    return {
        "process": process,
        "added": [b[e] for e in b if e not in a],
        "removed": [a[e] for e in a if e not in b],
        "renamed": [{**b[e], "old": a[e]["name"]} for e in b if e in a and a[e]["name"] != b[e]["name"]],
        "roles": [{**b[e], "old": old_tasks[e].get("role") or old_tasks[e].get("role_expr"),
                   "new": new_tasks[e].get("role") or new_tasks[e].get("role_expr")}
                  for e in sorted(set(old_tasks) & set(new_tasks))
                  if (old_tasks[e].get("role"), old_tasks[e].get("role_expr"))
                  != (new_tasks[e].get("role"), new_tasks[e].get("role_expr"))],
        "forms": forms,
    }



@bp.get("/models")
@roles_required(*EDITORS)
def index() -> str:
    """List processes with their versions and how many instances run on each."""
    return render_template("models/index.html", processes=queries.process_list(db.session()))


@bp.get("/models/<key>/versions/<int:number>")
@roles_required(*EDITORS)
def version(key: str, number: int) -> str:
    """Show one version: its diagram, tasks with roles and forms."""
    row = _version(key, number)
    latest = _latest(key)
    running = next((v["running"] for p in queries.process_list(db.session()) if p["key"] == key
                    for v in p["versions"] if v["version"] == number), 0)
    return render_template("models/version.html", v=row, model=row.model, running=running,
                           is_latest=latest is not None and latest.id == row.id,
                           roles_zh={r.id: r.zh for r in domain.current().roles})


@bp.get("/models/<key>/versions/<int:number>/xml")
@roles_required(*EDITORS)
def xml(key: str, number: int) -> Response:
    """Return a version's BPMN XML (as a download with ?download=1); the ETag is its content hash."""
    row = _version(key, number)
    response = FlaskResponse(row.bpmn_xml, mimetype="application/xml")
    response.set_etag(row.content_hash)
    if request.args.get("download"):
        response.headers["Content-Disposition"] = f'attachment; filename="{key}.v{number}.bpmn"'
    return response


def _role_choices() -> list[dict[str, str]]:
    """Return every role with the lane name the editor writes for it."""
    return [{"id": r.id, "title": pick(r.zh, r.en), "lane": _lane(r.id)} for r in domain.current().roles]


def _lane(role_id: str) -> str:
    """Return the lane name the editor writes for a role: its Chinese title, then its id."""
    return f"{domain.current().role_title(role_id, 'zh')} {role_id}"


def _render_editor(key: str, xml_text: str, *, base: queries.VersionView | None, status: int = 200,
                   problems: list[Problem] | None = None, message: str | None = None,
                   checked: bool = False, latest: queries.VersionView | None = None,
                   saved: drafts.DraftView | None = None) -> tuple[str, int]:
    """Render the modeler page holding the given XML and, when given, every problem found."""
    titles = element_titles(xml_text, current_locale())
    me = actor().username
    others = [d for d in drafts.drafts_of(db.session(), key) if d.owner != me]
    mine = saved or next((d for d in drafts.drafts_of(db.session(), key) if d.owner == me), None)
    page = render_template(
        "models/edit.html", key=key, xml=xml_text, base=base, is_new=base is None, checked=checked,
        problems=[{"element_id": p.element_id, "title": titles.get(p.element_id or "", p.element_id),
                   "message": plain_message(problem_text(p.message), titles)} for p in problems or []],
        message=message, latest=latest, draft=mine, other_drafts=others, editor_config=editor_config())
    return page, status


@bp.get("/models/<key>/edit")
@roles_required(*EDITORS)
def edit(key: str) -> Response:
    """Open the newest version of a process (or your draft of it) in the modeler."""
    latest = _latest(key)
    mine = next((d for d in drafts.drafts_of(db.session(), key) if d.owner == actor().username), None)
    if mine is not None:
        base = queries.version_by_hash(db.session(), key, mine.base_hash) if mine.base_hash else None
        page, status = _render_editor(key, mine.bpmn_xml, base=base, saved=mine)
        return FlaskResponse(page, status=status, mimetype="text/html")
    if latest is None:
        abort(404)
    page, status = _render_editor(key, latest.bpmn_xml, base=latest)
    response = FlaskResponse(page, status=status, mimetype="text/html")
    response.set_etag(latest.content_hash)
    return response


def new_process_xml(key: str, name_zh: str, name_en: str, role: str, others: Sequence[str] = ()) -> str:
    """Return a minimal runnable process: start form → one user task → end in the first role's lane,
    and an empty lane for each other role picked."""
    extra = [{"role": r, "lane": _lane(r)} for r in dict.fromkeys(others) if r != role]
    return render_template("models/new_process.xml", key=key, name_zh=name_zh, name_en=name_en, role=role,
                           lane=_lane(role), others=extra)


@bp.route("/models/new", methods=["GET", "POST"])
@roles_required(*EDITORS)
def new() -> str | tuple[str, int]:
    """Ask for the key, names and first lane of a new process, then open it in the modeler."""
    values = {k: (request.form.get(k) or "").strip() for k in ("key", "name_zh", "name_en", "role")}
    others = [r.strip() for r in request.form.getlist("lanes") if r.strip()][:50]
    errors: dict[str, str] = {}
    if request.method == "POST":
        if not KEY_PATTERN.match(values["key"]):
            errors["key"] = _("Use 2–63 lowercase letters, digits and _, starting with a letter.")
        elif _latest(values["key"]) is not None:
            errors["key"] = _("A process with this key exists already; edit it instead.")
        for name in ("name_zh", "name_en"):
            if not values[name]:
                errors[name] = _("Required.")
            elif len(values[name]) > 200:
                errors[name] = _("At most %(n)d characters.", n=200)
        if not domain.current().is_known_role(values["role"]):
            errors["role"] = _("Choose a role.")
        if not all(domain.current().is_known_role(r) for r in others):
            errors["lanes"] = _("Choose a role.")
        if not errors:
            return _render_editor(values["key"], new_process_xml(**values, others=others), base=None)
    status = 422 if errors else 200
    return render_template("models/new.html", values=values, errors=errors, roles=_role_choices(),
                           others=others), status


def _submitted_xml(key: str) -> str:
    """Return the XML posted by the editor (400 when missing), written as the version it was opened on."""
    text = request.form.get("xml") or ""
    if not text.strip():
        abort(400)
    base, _is_new = _base_for(key)
    # The modeler rewrites the whole file; keep the base's text for what did not change (one-line diffs).
    return keep_layout(base.bpmn_xml, text) if base is not None else text


def _check(key: str, xml_text: str, is_new: bool) -> list[Problem]:
    """Return every problem of the XML, including a process id that is not the page's key."""
    problems = _file_problems(key, xml_text) + unconnected(xml_text)
    if not problems and is_new and _latest(key) is not None:
        return [Problem(key, _("A process with this key exists already; edit it instead."))]
    return problems


def _file_problems(key: str, xml_text: str) -> list[Problem]:
    """Return every problem of the XML itself, including a process id that is not the page's key."""
    try:
        compiled = compile_cached(xml_text, f"{key}.bpmn")  # the deploy that follows reuses this parse
    except InvalidBpmn as err:
        return err.problems
    if compiled.key != key:
        return [Problem(compiled.key, _("The process id must stay '%(key)s' (it is the process key).",
                                       key=key))]
    return []


def _base_for(key: str) -> tuple[queries.VersionView | None, bool]:
    """Return the version the editor was opened on (None for a new process) and whether it is new."""
    base_hash = (request.form.get("base_hash") or "").strip()
    if not base_hash:
        return None, True
    row = queries.version_by_hash(db.session(), key, base_hash)
    return row, False


@bp.post("/models/<key>/check")
@roles_required(*EDITORS)
def check(key: str) -> tuple[str, int]:
    """Check the edited diagram and list every problem at its element (nothing is stored)."""
    xml_text = _submitted_xml(key)
    base, is_new = _base_for(key)
    problems = _check(key, xml_text, is_new)
    if problems:
        return _render_editor(key, xml_text, base=base, status=422, problems=problems)
    return _render_editor(key, xml_text, base=base, checked=True,
                          message=_("No problems found. Deploy to make it the new version."))


@bp.post("/models/<key>/save")
@roles_required(*EDITORS)
def save(key: str) -> tuple[str, int]:
    """Store the diagram as your draft of the process (not a version), then check it."""
    if not KEY_PATTERN.match(key):
        abort(404)
    xml_text = _submitted_xml(key)
    base, is_new = _base_for(key)
    base_hash = base.content_hash if base is not None else ""
    when = get_engine().clock()
    saved = run_unit(db.session(), lambda: drafts.save_draft(db.session(), key, actor().username, xml_text,
                                                             base_hash, when)).unwrap()
    problems = _check(key, xml_text, is_new)
    if problems:
        return _render_editor(key, xml_text, base=base, status=422, problems=problems, saved=saved,
                              message=_("Draft saved. Fix the problems below before deploying."))
    return _render_editor(key, xml_text, base=base, checked=True, saved=saved,
                          message=_("Draft saved. No problems found: deploy to make it the new version."))


@bp.post("/models/<key>/discard")
@roles_required(*EDITORS)
def discard(key: str) -> Response:
    """Throw away your draft of a process; the deployed versions are untouched."""
    run_unit(db.session(), lambda: drafts.discard_draft(db.session(), key, actor().username)).unwrap()
    flash(_("Your draft was discarded."), "info")
    if _latest(key) is None:
        return redirect(url_for(".index"))
    return redirect(url_for(".edit", key=key))


@bp.post("/models/<key>/deploy")
@roles_required(*EDITORS)
def deploy(key: str) -> Response | tuple[str, int]:
    """Deploy the edited diagram as a new version, refused when a newer version exists."""
    xml_text = _submitted_xml(key)
    base, _is_new = _base_for(key)
    problems = _file_problems(key, xml_text)
    if problems:
        return _render_editor(key, xml_text, base=base, status=422, problems=problems)
    # The engine serialises deploys of the key and refuses one whose base is no longer the newest.
    base_hash = (request.form.get("base_hash") or "").strip()
    def deploy_and_drop_draft() -> Any:
        deployed = get_engine().deploy(db.session(), xml_text, filename=f"{key}.bpmn", actor=actor(),
                                       base_hash=base_hash, if_match=if_match())
        drafts.discard_draft(db.session(), key, actor().username)  # deployed: the draft has done its job
        return deployed

    try:
        result = run_unit(db.session(), deploy_and_drop_draft).unwrap()
    except (Conflict, PreconditionFailed) as stale:
        latest = _latest(key)
        return _render_editor(key, xml_text, base=base, status=412 if isinstance(stale, PreconditionFailed)
                              else 409, message=_stale_message(latest), latest=latest)
    if result.created:
        flash(_("Version %(v)d deployed. New cases start on it; running cases stay on their version.",
                v=result.version), "success")
    else:
        flash(_("Nothing changed: version %(v)d stays the newest.", v=result.version), "info")
    return redirect(url_for(".version", key=key, number=result.version))


def _stale_message(latest: queries.VersionView | None) -> str:
    """Tell the editor which newer version made the deploy stale, and what to do."""
    if latest is None:
        return _("The version you edited no longer exists. Reload the editor.")
    return _("Version %(v)d was deployed by %(who)s after you opened the editor, so your "
             "changes were not deployed. Download your diagram, open the newest version and "
             "apply your changes there.", v=latest.version, who=latest.deployed_by or "?")


def normalized_lines(xml_text: str) -> list[str]:
    """Pretty-print stored XML one way, so the modeler's reformatting does not drown the real changes."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_blank_text=True)
    try:
        root = etree.fromstring(xml_text.encode("utf-8"), parser)
    except etree.XMLSyntaxError:
        return xml_text.splitlines()
    for element in root.iter():
        if isinstance(element.tag, str) and len(element.attrib) > 1:
            # The modeler may write attributes in another order; id first, then alphabetical.
            attrs = sorted(element.attrib.items(), key=lambda kv: (kv[0] != "id", kv[0]))
            element.attrib.clear()
            element.attrib.update(attrs)
    return str(etree.tostring(root, pretty_print=True, encoding="unicode")).splitlines()


@bp.get("/models/<key>/compare")
@roles_required(*EDITORS)
def compare(key: str) -> str | tuple[str, int]:
    """Compare two versions: changed elements and forms, then the XML line by line."""
    newest = queries.newest_version_number(db.session(), key)
    if newest is None:
        abort(404)
    try:
        b = int(request.args.get("b") or newest)
        a = int(request.args.get("a") or max(1, b - 1))
    except ValueError:
        return render_template("models/compare.html", key=key, error=_("Versions are whole numbers."),
                               newest=newest), 400
    old, new_ = _version(key, a), _version(key, b)
    lines = list(difflib.unified_diff(normalized_lines(old.bpmn_xml), normalized_lines(new_.bpmn_xml),
                                      f"{key} v{a}", f"{key} v{b}", lineterm="", n=2))
    return render_template("models/compare.html", key=key, old=old, new=new_, newest=newest, error=None,
                           changes=diff_models(old.model, new_.model), diff_lines=lines)


@bp.post("/models/<key>/form-preview")
@roles_required(*EDITORS)
def form_preview(key: str) -> str:
    """Render one element's form of the posted diagram as staff will see it (nothing is stored)."""
    return render_preview(_submitted_xml(key), (request.form.get("element") or "")[:200])
