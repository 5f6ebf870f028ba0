"""``vabatch info``: the data root in one look (``vabatch.tools.info``)."""

from __future__ import annotations

from vabatch.cli.common import DataOption, JsonOption, human_bytes, out, plural, print_json, table


def info(data: DataOption = None, as_json: JsonOption = False) -> None:
    """Videos, databases per stage (sizes, schema versions), last runs, tool and models."""
    from vabatch.dataroot import resolve_data_root
    from vabatch.tools.info import collect_info  # not via vabatch.api: it loads every stage

    collected = collect_info(resolve_data_root(data))
    if as_json:
        print_json(collected.to_json())
        return
    if collected.videos == 0:
        out.print(f"no videos in {collected.data_root} (add some with `vabatch ingest`)")
        return
    engine = collected.ocr_engine
    engine_text = (f"{engine['name']} {engine['version']} ({', '.join(engine['models'])})"
                   if "error" not in engine else f"{engine['name']}: {engine['error']}")
    out.print(f"data root   {collected.data_root}\n"
              f"videos      {collected.videos} ({plural(collected.sources['videos'], 'source')},"
              f" {human_bytes(collected.sources['size_bytes'])})\n"
              f"vabatch     {collected.tool_version}, SQLite {collected.sqlite_version}\n"
              f"OCR engine  {engine_text}", highlight=False)
    rows = []
    for alias, kind in collected.databases.items():
        versions = ", ".join(f"v{v}: {n}" for v, n in kind.to_json()["versions"].items())
        notes = [f"{kind.foreign} not of this kind"] if kind.foreign else []
        notes += [f"{kind.being_written} being written"] if kind.being_written else []
        rows.append((alias, str(kind.videos), human_bytes(kind.size_bytes), versions,
                     f"v{kind.latest_version}", ", ".join(notes)))
    out.print(table("databases", ("database", "videos", "size", "schema versions (files)",
                                  "current", "notes"), rows))
    _print_made_with(collected)
    _print_models(collected.models)
    if collected.runs:
        out.print(table(f"last {plural(len(collected.runs), 'run')} (runs.db)", (
            "run", "command", "status", "started", "seconds", "tasks", "failed"), [
            (str(r["run_id"]), r["command"], r["status"], r["started_at"],
             f"{r['seconds'] or 0:.1f}", str(r["tasks_total"]), str(r["tasks_failed"]))
            for r in collected.runs]))
    else:
        out.print("runs        none recorded", highlight=False)
    for problem in collected.unreadable:
        out.print(f"unreadable  {problem}", highlight=False)


def _print_made_with(collected) -> None:
    for made in collected.ocr_made_with:
        out.print(f"OCR made by {made['engine']} {made['version']} "
                  f"({', '.join(made['models']) or 'models not recorded'}):"
                  f" {plural(made['videos'], 'video')}", highlight=False)
    for method, count in collected.layout_methods.items():
        out.print(f"layout by   {method}: {plural(count, 'video')}", highlight=False)
    if collected.video_layout_models:
        out.print(f"layout      {plural(collected.video_layout_models, 'video')} with a "
                  "classifier of their own (layout.db)", highlight=False)


def _print_models(models: dict) -> None:
    layout = models["layout"]
    out.print("models      layout classifier: " + (
        f"{layout['path']} ({layout['format']}, {layout['modified']})" if layout
        else "none (`vabatch train layout`)"), highlight=False)
    boundaries = models["boundaries"]
    if boundaries is None:
        return
    if not boundaries["versions"]:
        out.print(f"            boundary models: none in {boundaries['path']}", highlight=False)
    for version in boundaries["versions"]:
        details = ", ".join(f"{key} {version[key]}" for key in ("trained_at", "videos")
                            if version.get(key) is not None)
        out.print(f"            boundary model {version['version']}: {version['state']}"
                  + (f" ({details})" if details else ""), highlight=False)
