// archdsl serve: the live editor.  Vanilla JS, no dependency, nothing fetched but this server's API.
// The buffer is posted to /api/analyze 150 ms after the last keystroke (one request in flight at a
// time; the newest text wins); the answer brings diagnostics, the summary and the diagram's SVG.
"use strict";

const TOKEN = document.querySelector('meta[name="archdsl-token"]').content;
const DEBOUNCE_MS = 150;
const HIGHLIGHT_LIMIT = 400000; // characters: larger buffers are shown without colours
const KEYWORDS = new Set([
  "and", "block", "defaults", "elif", "else", "false", "for", "if", "in", "init", "input", "let", "network",
  "none", "not", "or", "output", "pass", "suffix", "true", "use", "seq", "residual", "concat", "add", "mul",
  "shortcut",
]);

const $ = (id) => document.getElementById(id);
const ed = $("text");
const state = {
  path: null, // the open file, relative to the served folder
  saved: "", // its text as last read or saved
  network: null,
  diags: [],
  seq: 0,
  applied: 0,
  inflight: false,
  pending: false,
  timer: null,
  lastSvgText: null,
};

// ------------------------------------------------------------------------------------------ API

async function api(method, url, body) {
  const opts = { method, headers: { "X-Archdsl-Token": TOKEN } };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(url, opts);
  let data;
  try {
    data = await r.json();
  } catch (e) {
    data = { error: `HTTP ${r.status}` };
  }
  if (!r.ok) throw new Error(data.error || `HTTP ${r.status}`);
  return data;
}

// ------------------------------------------------------------------------------------ rendering

const esc = (s) =>
  String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}

function group(n) {
  return Number(n).toLocaleString("en-US");
}

function human(n) {
  for (const [u, d] of [["T", 1e12], ["G", 1e9], ["M", 1e6], ["K", 1e3]]) if (Math.abs(n) >= d) return (n / d).toFixed(2) + u;
  return String(n);
}

function shape(s) {
  return s && s.length ? s.join("\u00d7") : "scalar";
}

// one line of source as highlighted HTML (a tiny tokenizer: comments, strings, numbers, keywords);
// every character of the line is in the output (the backdrop must line up with the textarea): a
// shape `3x32x32` is one number, and anything no other rule takes is copied as it is
function highlight(line) {
  let out = "";
  const re =
    /(#.*$)|("[^"]*"?)|(\d+(?:x\d+)+\b|\d+(?:\.\d+)?(?:e[+-]?\d+)?\b)|([A-Za-z_][A-Za-z0-9_]*)|([^#"A-Za-z0-9_]+)|([\s\S])/g;
  let m;
  let first = true;
  while ((m = re.exec(line)) !== null) {
    if (m[1]) out += `<span class="tok-com">${esc(m[1])}</span>`;
    else if (m[2]) out += `<span class="tok-str">${esc(m[2])}</span>`;
    else if (m[3]) out += `<span class="tok-num">${esc(m[3])}</span>`;
    else if (m[4]) {
      if (KEYWORDS.has(m[4])) out += `<span class="tok-kw">${m[4]}</span>`;
      else if (first && /^\s*[A-Za-z_][A-Za-z0-9_]*\s*=/.test(line) && !/^\s*[A-Za-z_][A-Za-z0-9_]*\s*==/.test(line))
        out += `<span class="tok-def">${m[4]}</span>`;
      else out += m[4];
      first = false;
    } else out += esc(m[5] !== undefined ? m[5] : m[6]);
    if (m[0].length === 0) re.lastIndex++;
  }
  return out;
}

// the backdrop: the text (coloured), lines with problems tinted, their spans underlined and the
// first message written after the line's end (the textarea above it has no text there)
function renderBackdrop() {
  const text = ed.value;
  const lines = text.split("\n");
  const colour = text.length <= HIGHLIGHT_LIMIT;
  ed.classList.toggle("plain", !colour);
  const byLine = new Map();
  for (const d of state.diags) {
    if (!d.here || !d.line) continue;
    if (!byLine.has(d.line)) byLine.set(d.line, []);
    byLine.get(d.line).push(d);
  }
  const parts = [];
  const gutter = [];
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const ds = byLine.get(n) || [];
    const sev = ds.some((d) => d.severity === "error") ? "err" : ds.length ? "warn" : "";
    gutter.push(`<div class="ln ${sev}">${n}</div>`);
    if (!colour) {
      parts.push(`<div class="line ${sev}">${sev ? "" : ""}</div>`);
      continue;
    }
    let body;
    const raw = lines[i];
    if (ds.length) {
      const d = ds.find((x) => x.severity === "error") || ds[0];
      const c0 = Math.max((d.col || 1) - 1, 0);
      const c1 = d.end_line === d.line ? Math.max(d.end_col - 1, c0 + 1) : raw.length;
      const cls = d.severity === "error" ? "sq-err" : "sq-warn";
      body =
        highlight(raw.slice(0, c0)) +
        `<span class="${cls}">${highlight(raw.slice(c0, c1)) || "&nbsp;"}</span>` +
        highlight(raw.slice(c1));
    } else body = highlight(raw);
    parts.push(`<div class="line ${sev}">${body}</div>`);
  }
  $("backdrop-inner").innerHTML = parts.join("");
  $("gutter-inner").innerHTML = gutter.join("");
  // the messages: after the line's end when there is room, else at the right edge of the view
  const msgs = [];
  for (const [n, ds] of byLine) {
    if (n > lines.length) continue;
    const d = ds.find((x) => x.severity === "error") || ds[0];
    const sev = d.severity === "error" ? "err" : "warn";
    const more = ds.length > 1 ? `  (+${ds.length - 1} more)` : "";
    const cols = lines[n - 1].replace(/\t/g, "    ").length;
    msgs.push(
      `<div class="inline ${sev}" data-line="${n}" data-cols="${cols}">\u25cf ${esc(d.message)}${esc(more)}</div>`,
    );
  }
  $("inline-layer").innerHTML = msgs.join("");
  syncScroll();
}

let charWidth = 0;
function measure() {
  const probe = el("span", null, "x".repeat(100));
  probe.style.cssText = "position:absolute;visibility:hidden;white-space:pre";
  $("backdrop-inner").appendChild(probe);
  charWidth = probe.getBoundingClientRect().width / 100 || 8;
  probe.remove();
}

function placeInline() {
  if (!charWidth) measure();
  const cs = getComputedStyle(ed);
  const lh = parseFloat(cs.lineHeight) || 20;
  const padTop = parseFloat(cs.paddingTop) || 0;
  const padLeft = parseFloat(cs.paddingLeft) || 0;
  const view = ed.clientWidth;
  for (const m of $("inline-layer").children) {
    const line = Number(m.dataset.line);
    m.style.top = `${padTop + (line - 1) * lh - ed.scrollTop}px`;
    const left = padLeft + Number(m.dataset.cols) * charWidth + 2.5 * charWidth - ed.scrollLeft;
    m.classList.remove("edge");
    m.style.left = `${left}px`;
    m.style.right = "";
    if (left + m.offsetWidth > view - 6) {
      m.classList.add("edge"); // no room after the text: a badge at the right edge, over the text
      m.style.left = "";
      m.style.right = `${ed.offsetWidth - view + 6}px`;
    }
  }
}

function syncScroll() {
  $("backdrop-inner").style.transform = `translate(${-ed.scrollLeft}px, ${-ed.scrollTop}px)`;
  $("gutter-inner").style.transform = `translateY(${-ed.scrollTop}px)`;
  placeInline();
}

function renderProblems() {
  const box = $("problems");
  box.textContent = "";
  for (const d of state.diags) {
    const item = el("div", `diag ${d.severity}`);
    const where = d.line ? (d.here ? `${d.line}:${d.col}` : `${d.file}:${d.line}:${d.col}`) : d.file || "";
    if (where) item.appendChild(el("span", "where", where));
    item.appendChild(el("span", "sev", d.severity));
    item.appendChild(el("span", "msg", d.message));
    item.appendChild(el("span", "code-id", `[${d.code}]`));
    for (const n of d.notes || []) item.appendChild(el("div", "note", n.line ? `${n.message} (line ${n.line})` : n.message));
    if (d.help) item.appendChild(el("div", "help", d.help));
    if (d.here && d.line) item.addEventListener("click", () => gotoLine(d.line, d.col));
    box.appendChild(item);
  }
}

function gotoLine(line, col) {
  const lines = ed.value.split("\n");
  let pos = 0;
  for (let i = 0; i < line - 1 && i < lines.length; i++) pos += lines[i].length + 1;
  pos += Math.max((col || 1) - 1, 0);
  ed.focus();
  ed.setSelectionRange(pos, pos);
  const lh = parseFloat(getComputedStyle(ed).lineHeight) || 20;
  ed.scrollTop = Math.max(0, (line - 5) * lh);
  syncScroll();
}

function renderStats(res) {
  const box = $("stats");
  const s = res.summary;
  if (!s) {
    // the network has errors: its last figures stay, greyed like the table, as long as it is the same network
    const same = res.networks.length && box.dataset.network === res.network && box.childElementCount > 1;
    box.classList.toggle("stale", Boolean(same));
    if (same) return;
    box.textContent = "";
    delete box.dataset.network;
    if (!res.networks.length) box.appendChild(el("span", "fig", "no network in this file"));
    else box.appendChild(el("span", "name", res.network));
    return;
  }
  box.classList.remove("stale");
  box.textContent = "";
  box.dataset.network = s.network;
  box.appendChild(el("span", "name", s.network));
  const fig = (label, value, title) => {
    const f = el("span", "fig");
    f.appendChild(el("b", null, value));
    f.appendChild(document.createTextNode(" " + label));
    if (title) f.title = title;
    box.appendChild(f);
  };
  const ins = Object.entries(s.inputs).map(([k, v]) => `${k}: ${shape(v)}`).join(", ");
  const outs = Object.entries(s.outputs).map(([k, v]) => `${k}: ${shape(v)}`).join(", ");
  fig("", `${ins}  \u2192  ${outs}`);
  fig("params", human(s.params), group(s.params));
  fig("MACs", human(s.macs), group(s.macs));
  fig("FLOPs", human(s.flops), group(s.flops));
}

function renderTable(s) {
  const t = $("summary");
  if (!s) return;
  const rows = [
    `<thead><tr><th>layer</th><th>op</th><th>output shape</th><th class="num">params</th><th class="num">MACs</th></tr></thead><tbody>`,
  ];
  for (const r of s.layers) {
    rows.push(
      `<tr><td class="scope" title="${esc(r.scope)}">${esc(r.scope)}</td><td class="op">${esc(r.op)}</td>` +
        `<td class="shape">${esc(shape(r.output_shape))}</td><td class="num">${group(r.params)}</td>` +
        `<td class="num">${group(r.macs)}</td></tr>`,
    );
  }
  rows.push(
    `<tr class="total"><td>total</td><td></td><td></td><td class="num">${group(s.params)}</td><td class="num">${group(s.macs)}</td></tr></tbody>`,
  );
  t.innerHTML = rows.join("");
}

// graphviz's SVG, parsed as SVG and stripped of anything active before it enters the page
function renderSvg(svgText) {
  const box = $("diagram");
  const doc = new DOMParser().parseFromString(svgText, "image/svg+xml");
  const svg = doc.documentElement;
  if (!svg || svg.nodeName !== "svg") return;
  svg.querySelectorAll("script, foreignObject, iframe").forEach((n) => n.remove());
  for (const n of [svg, ...svg.querySelectorAll("*")]) {
    for (const a of [...n.attributes]) {
      const v = a.value.trim().toLowerCase();
      if (a.name.toLowerCase().startsWith("on") || ((a.name === "href" || a.name === "xlink:href") && v.startsWith("javascript:")))
        n.removeAttribute(a.name);
    }
  }
  svg.dataset.width = svg.getAttribute("width") || "";
  svg.dataset.height = svg.getAttribute("height") || "";
  applyZoom(svg);
  box.replaceChildren(document.importNode(svg, true));
}

function applyZoom(svg) {
  const fit = !$("diagram-pane").classList.contains("actual");
  $("diagram").classList.toggle("fit", fit);
  if (fit) {
    svg.removeAttribute("width");
    svg.removeAttribute("height");
  } else {
    if (svg.dataset.width) svg.setAttribute("width", svg.dataset.width);
    if (svg.dataset.height) svg.setAttribute("height", svg.dataset.height);
  }
}

function setStatus(kind, text, title) {
  const s = $("status");
  s.className = `status ${kind}`;
  s.textContent = text;
  s.title = title || "";
}

function renderNetworks(res) {
  const sel = $("network");
  const names = res.networks;
  const have = [...sel.options].map((o) => o.value);
  if (have.join("\n") !== names.join("\n")) {
    sel.replaceChildren(...names.map((n) => new Option(n, n)));
  }
  sel.value = res.network || "";
  $("network-field").hidden = names.length < 2;
  state.network = res.network;
}

function applyView(res) {
  renderNetworks(res);
  renderStats(res);
  if (res.summary) renderTable(res.summary);
  $("table-pane").classList.toggle("stale", !res.summary);
  if (res.svg) {
    renderSvg(res.svg);
    state.lastSvgText = res.svg;
  }
  $("diagram").classList.toggle("stale", !res.svg);
  const msg = $("diagram-message");
  msg.hidden = !res.diagram_message;
  msg.textContent = res.diagram_message || "";
}

function applyDiagnostics(res) {
  state.diags = res.diagnostics;
  renderBackdrop();
  renderProblems();
  const errors = res.diagnostics.filter((d) => d.severity === "error").length;
  const warnings = res.diagnostics.length - errors;
  const ms = res.timing && res.timing.total_ms;
  const title = ms !== undefined ? `analysed and drawn in ${Math.round(ms)} ms on the server` : "";
  const s = (n, w) => `${n} ${w}${n > 1 ? "s" : ""}`;
  if (errors) setStatus("err", s(errors, "error") + (warnings ? `, ${s(warnings, "warning")}` : ""), title);
  else if (warnings) setStatus("warn", s(warnings, "warning"), title);
  else setStatus("ok", "\u2713 no problems", title);
  document.body.dataset.analysed = String(state.applied);
}

// ------------------------------------------------------------------------------------ analysing

function schedule(delay = DEBOUNCE_MS) {
  clearTimeout(state.timer);
  state.timer = setTimeout(analyzeNow, delay);
}

async function analyzeNow() {
  if (!state.path) return;
  if (state.inflight) {
    state.pending = true;
    return;
  }
  state.inflight = true;
  const seq = ++state.seq;
  const text = ed.value;
  const path = state.path;
  setStatus("busy", "analysing\u2026");
  const body = { path, text, network: state.network, depth: $("depth").value, table_depth: $("table-depth").value };
  const current = () => text === ed.value && path === state.path;
  try {
    // first the chosen network alone (its diagram and table at once), then every network of the file
    // (the diagnostics of the others; the chosen one's lowering is cached by then)
    const res = await api("POST", "/api/analyze", { ...body, only_network: state.network !== null });
    if (!current()) return;
    state.applied = seq;
    applyView(res);
    if (!res.complete) {
      setStatus("busy", "checking the other networks\u2026");
      const all = await api("POST", "/api/analyze", { ...body, network: res.network, view: false });
      if (!current()) return;
      res.diagnostics = all.diagnostics;
      res.timing.total_ms += all.timing.total_ms;
    }
    applyDiagnostics(res);
  } catch (e) {
    setStatus("err", e.message);
  } finally {
    state.inflight = false;
    if (state.pending) {
      state.pending = false;
      analyzeNow();
    }
  }
}

function updateDirty() {
  const dirty = state.path !== null && ed.value !== state.saved;
  $("save").disabled = !dirty;
  $("save").textContent = dirty ? "Save" : "Saved";
  document.title = `${dirty ? "\u25cf " : ""}${state.path || "archdsl serve"}`;
}

// ----------------------------------------------------------------------------------------- files

async function openFile(path, network) {
  if (state.path && ed.value !== state.saved && !confirm(`Discard the unsaved changes to ${state.path}?`)) {
    $("file").value = state.path;
    return;
  }
  try {
    const res = await api("GET", `/api/file?path=${encodeURIComponent(path)}`);
    state.path = path;
    state.saved = res.text;
    state.network = network || null;
    state.diags = [];
    state.lastSvgText = null;
    $("diagram").replaceChildren();
    $("summary").replaceChildren();
    $("stats").textContent = "";
    ed.value = res.text;
    ed.scrollTop = 0;
    $("file").value = path;
    history.replaceState(null, "", `#file=${encodeURIComponent(path)}${network ? `&network=${encodeURIComponent(network)}` : ""}`);
    renderBackdrop();
    renderProblems();
    updateDirty();
    analyzeNow();
  } catch (e) {
    setStatus("err", e.message);
  }
}

async function save() {
  if (!state.path || ed.value === state.saved) return;
  const text = ed.value;
  try {
    await api("POST", "/api/save", { path: state.path, text });
    state.saved = text;
    updateDirty();
  } catch (e) {
    setStatus("err", `not saved: ${e.message}`);
  }
}

async function start() {
  let files = [];
  try {
    files = (await api("GET", "/api/files")).files;
  } catch (e) {
    setStatus("err", e.message);
    return;
  }
  const sel = $("file");
  sel.replaceChildren(...files.map((f) => new Option(f, f)));
  const hash = new URLSearchParams(location.hash.slice(1));
  const want = hash.get("file");
  if (!files.length) {
    $("backdrop-inner").innerHTML = `<div class="welcome">no .arch files in this folder</div>`;
    ed.disabled = true;
    return;
  }
  openFile(want && files.includes(want) ? want : files[0], hash.get("network"));
}

// ------------------------------------------------------------------------------------- editing

function insert(text) {
  // execCommand keeps the browser's undo history; setRangeText is the fallback
  if (!document.execCommand("insertText", false, text)) {
    ed.setRangeText(text, ed.selectionStart, ed.selectionEnd, "end");
    ed.dispatchEvent(new Event("input"));
  }
}

ed.addEventListener("input", () => {
  renderBackdrop();
  updateDirty();
  schedule();
});
ed.addEventListener("scroll", syncScroll);
window.addEventListener("resize", syncScroll);
ed.addEventListener("keydown", (e) => {
  if ((e.ctrlKey || e.metaKey) && e.key === "s") {
    e.preventDefault();
    save();
  } else if (e.key === "Tab" && !e.ctrlKey && !e.altKey && !e.metaKey) {
    e.preventDefault();
    if (!e.shiftKey) insert("    ");
  } else if (e.key === "Enter" && !e.shiftKey && !e.ctrlKey && !e.altKey && !e.metaKey) {
    // keep the indentation, one level more after a line ending with `:`
    const before = ed.value.slice(0, ed.selectionStart);
    const line = before.slice(before.lastIndexOf("\n") + 1);
    const indent = line.match(/^[ \t]*/)[0] + (/:\s*(#.*)?$/.test(line) ? "    " : "");
    e.preventDefault();
    insert("\n" + indent);
  }
});
$("save").addEventListener("click", save);
$("file").addEventListener("change", (e) => openFile(e.target.value));
$("network").addEventListener("change", (e) => {
  state.network = e.target.value;
  history.replaceState(null, "", `#file=${encodeURIComponent(state.path)}&network=${encodeURIComponent(state.network)}`);
  analyzeNow();
});
$("depth").addEventListener("change", () => analyzeNow());
$("table-depth").addEventListener("change", () => analyzeNow());
$("diagram-pane").addEventListener("click", () => {
  $("diagram-pane").classList.toggle("actual");
  const svg = $("diagram").querySelector("svg");
  if (svg) applyZoom(svg);
});
window.addEventListener("beforeunload", (e) => {
  if (state.path && ed.value !== state.saved) {
    e.preventDefault();
    e.returnValue = "";
  }
});
document.addEventListener("keydown", (e) => {
  if ((e.ctrlKey || e.metaKey) && e.key === "s") {
    e.preventDefault();
    save();
  }
});

start();
