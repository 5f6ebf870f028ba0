// The review page of `vabatch annotate serve`: keyboard first, every edit saved at once.
"use strict";

const video = document.body.dataset.video;
const api = "/api/v/" + encodeURIComponent(video);
const $ = (id) => document.getElementById(id);
let data = null;          // the server's state of the video
let selected = null;      // caption id
let cursor = 0;           // the shown frame
let sampled = null;       // the full frame whose boxes are shown

function status(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

function order() {
  if (!$("least-first").checked) return data.captions;
  const byId = new Map(data.captions.map((c) => [c.caption_id, c]));
  return data.least_certain.map((id) => byId.get(id)).filter(Boolean);
}

function current() {
  return data.captions.find((c) => c.caption_id === selected) || null;
}

async function load(select) {
  const response = await fetch(api, { credentials: "same-origin" });
  if (!response.ok) { status("cannot read the video: " + response.status, true); return; }
  const previous = data ? data.captions.findIndex((c) => c.caption_id === selected) : -1;
  const before = selected;
  data = await response.json();
  if (select !== undefined && select !== null) selected = select;
  if (!current()) {
    const list = data.captions;
    selected = list.length ? list[Math.min(Math.max(previous, 0), list.length - 1)].caption_id : null;
  }
  renderList();
  showCaption(selected !== before || previous < 0);  // the shown frame stays while you edit
  document.body.dataset.version = String(Number(document.body.dataset.version) + 1);
}

function renderList() {
  const body = $("captions").tBodies[0];
  body.replaceChildren();
  order().forEach((c, n) => {
    const row = body.insertRow();
    row.dataset.id = c.caption_id;
    row.className = (c.caption_id === selected ? "selected " : "") + c.source;
    const sure = c.confidence === null ? "" :
      (c.confidence * (c.agreement === null ? 1 : c.agreement)).toFixed(2);
    [n + 1, c.start_frame_index, c.end_frame_index, c.text, c.source === "human" ? "human" : sure]
      .forEach((value, i) => {
        const cell = row.insertCell();
        cell.textContent = value;
        cell.className = ["n", "start", "end", "text", "sure"][i];
      });
    row.addEventListener("click", () => { selected = c.caption_id; renderList(); showCaption(true); });
  });
}

function frameFigure(frame, caption) {
  const figure = document.createElement("figure");
  if (frame < 0 || frame >= data.frame_count) return figure;
  const image = document.createElement("img");
  image.src = api + "/band/" + frame;
  image.alt = "frame " + frame;
  const label = document.createElement("figcaption");
  label.textContent = frame;
  figure.append(image, label);
  figure.dataset.frame = frame;
  if (caption && frame >= caption.start_frame_index && frame < caption.end_frame_index) {
    figure.classList.add("inside");
  }
  if (frame === cursor) figure.classList.add("shown");
  figure.addEventListener("click", () => setCursor(frame));
  return figure;
}

function showCaption(moveCursor) {
  const c = current();
  if (!c) {
    $("caption-head").textContent = "no captions: add one (A)";
    $("text-editor").value = "";
    showCursor();
    return;
  }
  if (moveCursor) cursor = c.start_frame_index;
  const ms = (v) => (v === null ? "?" : (v / 1000).toFixed(3) + " s");
  $("caption-head").textContent = `frames ${c.start_frame_index} to ${c.end_frame_index - 1}` +
    ` (${ms(c.start_ms)} to ${ms(c.end_ms)}), ${c.source}`;
  $("strip-img").src = api + "/strip/" + c.start_frame_index + "/" + c.end_frame_index;
  if (document.activeElement !== $("text-editor")) $("text-editor").value = c.text;
  const row = document.querySelector(`#captions tr[data-id="${c.caption_id}"]`);
  if (row) row.scrollIntoView({ block: "nearest" });
  showCursor();
}

function showBoundaries(c) {
  const around = (frame) => [frame - 2, frame - 1, frame, frame + 1].map((f) => frameFigure(f, c));
  $("start-frames").replaceChildren(...(c ? around(c.start_frame_index) : []));
  $("end-frames").replaceChildren(...(c ? around(c.end_frame_index) : []));
}

function nearestSampled(frame) {
  let best = null;
  for (const f of data.sampled_frames) {
    if (best === null || Math.abs(f - frame) < Math.abs(best - frame)) best = f;
  }
  return best;
}

function showCursor() {
  const c = current();
  showBoundaries(c);
  $("cursor-frame").textContent = cursor;
  const inside = c && cursor >= c.start_frame_index && cursor < c.end_frame_index;
  $("cursor-note").textContent = c ? (inside ? "in the caption" : "outside the caption") : "";
  $("cursor-note").className = inside ? "inside" : "";
  $("cursor-band").src = api + "/band/" + cursor;
  const frame = nearestSampled(cursor);
  if (frame !== sampled) { sampled = frame; showFrame(); }
}

async function showFrame() {
  const view = $("frame-view");
  view.querySelectorAll(".box").forEach((b) => b.remove());
  if (sampled === null) { $("full-frame-index").textContent = "(none sampled)"; return; }
  $("full-frame-index").textContent = sampled;
  $("frame-img").src = api + "/frame/" + sampled;
  const response = await fetch(api + "/boxes/" + sampled, { credentials: "same-origin" });
  if (!response.ok) return;
  const frame = sampled;
  for (const box of await response.json()) {
    const div = document.createElement("div");
    div.className = "box " + (box.label || "") + (box.label_source === "human" ? " human" : "");
    div.dataset.box = box.box_index;
    div.title = `${box.text} (${box.label || "no label"}, ${box.label_source || "-"})`;
    div.style.left = (100 * box.x / data.width) + "%";
    div.style.top = (100 * box.y / data.height) + "%";
    div.style.width = (100 * box.width / data.width) + "%";
    div.style.height = (100 * box.height / data.height) + "%";
    div.addEventListener("click", () => edit({
      op: "label", frame_index: frame, box_index: box.box_index,
      label: box.label === "caption" ? "noise" : "caption",
    }).then(() => showFrame()));
    view.append(div);
  }
}

function setCursor(frame) {
  cursor = Math.max(0, Math.min(data.frame_count - 1, frame));
  showCursor();
}

async function edit(body) {
  const response = await fetch(api + "/edit", {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({ error: "refused: " + response.status }));
  if (!response.ok || answer.error) {
    status(answer.error || "refused", true);
    return false;
  }
  status("saved: " + body.op);
  await load(answer.select);
  return true;
}

function withCaption(make) {
  const c = current();
  if (!c) { status("no caption selected", true); return; }
  edit(make(c));
}

function move(step) {
  const list = order();
  if (!list.length) return;
  const at = list.findIndex((c) => c.caption_id === selected);
  selected = list[Math.max(0, Math.min(list.length - 1, at + step))].caption_id;
  renderList();
  showCaption(true);
}

function saveText() {
  withCaption((c) => ({ op: "text", caption_id: c.caption_id, text: $("text-editor").value }));
  $("text-editor").blur();
}

function startAdd() {
  $("add-start").value = cursor;
  $("add-end").value = Math.min(data.frame_count, cursor + Math.round(data.fps || 25));
  $("add-text").focus();
}

$("text-editor").addEventListener("keydown", (event) => {
  event.stopPropagation();  // the page's keys are for the page, not the text box
  if ((event.key === "Enter" && !event.shiftKey) || (event.key === "s" && event.ctrlKey)) {
    event.preventDefault();
    saveText();
  } else if (event.key === "Escape") {
    const c = current();
    $("text-editor").value = c ? c.text : "";
    $("text-editor").blur();
  }
});

$("add-form").addEventListener("submit", (event) => {
  event.preventDefault();
  edit({ op: "add", start: Number($("add-start").value), end: Number($("add-end").value),
         text: $("add-text").value }).then((ok) => { if (ok) $("add-text").value = ""; });
  $("add-text").blur();
});

$("least-first").addEventListener("change", () => { renderList(); $("least-first").blur(); });

const keys = {
  ArrowUp: () => move(-1), ArrowDown: () => move(1),
  ArrowLeft: (e) => setCursor(cursor - (e.shiftKey ? 10 : 1)),
  ArrowRight: (e) => setCursor(cursor + (e.shiftKey ? 10 : 1)),
  Home: () => { const c = current(); if (c) setCursor(c.start_frame_index); },
  End: () => { const c = current(); if (c) setCursor(c.end_frame_index - 1); },
  "[": () => withCaption((c) => ({ op: "bounds", caption_id: c.caption_id, start: cursor,
                                   end: c.end_frame_index })),
  "]": () => withCaption((c) => ({ op: "bounds", caption_id: c.caption_id,
                                   start: c.start_frame_index, end: cursor + 1 })),
  s: () => withCaption((c) => ({ op: "split", caption_id: c.caption_id, at: cursor })),
  m: () => withCaption((c) => ({ op: "merge", caption_id: c.caption_id })),
  Delete: () => withCaption((c) => ({ op: "delete", caption_id: c.caption_id })),
  Enter: () => $("text-editor").focus(),
  a: startAdd,
  l: () => { $("least-first").checked = !$("least-first").checked; renderList(); },
  PageUp: () => stepSampled(-1), PageDown: () => stepSampled(1),
};

function stepSampled(step) {
  const frames = data.sampled_frames;
  const at = frames.indexOf(sampled);
  if (at < 0) return;
  const next = frames[Math.max(0, Math.min(frames.length - 1, at + step))];
  setCursor(next);
}

document.addEventListener("keydown", (event) => {
  if (!data) return;
  const typing = ["INPUT", "TEXTAREA"].includes(document.activeElement.tagName)
    && document.activeElement.type !== "checkbox";
  if (event.ctrlKey && event.key === "z" && !typing) {
    event.preventDefault();
    edit({ op: "undo" });
    return;
  }
  if (typing || event.ctrlKey || event.altKey || event.metaKey) return;
  const action = keys[event.key] || keys[event.key.toLowerCase()];
  if (action) {
    event.preventDefault();
    action(event);
  }
});

load();
