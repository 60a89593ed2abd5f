// The page of mailwire serve: the messages as they arrive (server-sent
// events from /api/events), and one message with its parts, its SMTP
// transcript explained as `mailwire explain` explains it, and its raw
// text. Everything a message or a server said is put in the page as text,
// never as markup.
"use strict";

const state = { ids: new Set(), selected: null, tab: "message" };

// el makes an element; strings among the children become text nodes.
function el(tag, props, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props || {});
  for (const c of children) e.append(c);
  return e;
}

async function getJSON(path) {
  const r = await fetch(path);
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return r.json();
}

function formatSize(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1 << 20)).toFixed(1)} MiB`;
}

function updateCount() {
  const n = state.ids.size;
  document.getElementById("count").textContent = n === 1 ? "1 message" : `${n} messages`;
  document.getElementById("empty").hidden = n > 0;
}

// addMessage puts a message at the top of the list, once.
function addMessage(m) {
  if (state.ids.has(m.id)) return;
  state.ids.add(m.id);
  const row = el("tr", {},
    el("td", {}, new Date(m.time).toLocaleTimeString()),
    el("td", { title: m.from }, m.from || "<>"),
    el("td", { title: m.to.join(", ") }, m.to.join(", ")),
    el("td", { title: m.subject }, m.subject),
    el("td", {}, formatSize(m.size)));
  row.dataset.id = m.id;
  row.classList.add("new");
  row.addEventListener("click", () => select(m.id));
  document.querySelector("#messages tbody").prepend(row);
  updateCount();
}

// reset empties the list: the stream sends the whole list after it.
function reset() {
  state.ids.clear();
  document.querySelector("#messages tbody").replaceChildren();
  updateCount();
}

function setStatus(up) {
  const s = document.getElementById("status");
  s.textContent = up ? "live" : "reconnecting…";
  s.className = up ? "up" : "down";
}

// connect follows the stream of messages; the browser reconnects by
// itself, and each stream begins with a reset and the whole list.
function connect() {
  const events = new EventSource("/api/events");
  events.addEventListener("open", () => setStatus(true));
  events.addEventListener("error", () => setStatus(false));
  events.addEventListener("reset", reset);
  events.addEventListener("message", (e) => addMessage(JSON.parse(e.data)));
}

async function select(id) {
  state.selected = id;
  for (const r of document.querySelectorAll("#messages tbody tr")) {
    r.classList.toggle("selected", r.dataset.id === id);
  }
  document.getElementById("detail").hidden = false;
  await showTab(state.tab);
}

async function showTab(tab) {
  state.tab = tab;
  for (const b of document.querySelectorAll(".tab")) {
    b.setAttribute("aria-selected", String(b.dataset.tab === tab));
  }
  for (const name of ["message", "transcript", "raw"]) {
    document.getElementById(`pane-${name}`).hidden = name !== tab;
  }
  const id = state.selected;
  if (!id) return;
  try {
    if (tab === "message") renderMessage(await getJSON(`/api/messages/${id}`));
    if (tab === "transcript") renderTranscript(await getJSON(`/api/messages/${id}/transcript`));
    if (tab === "raw") {
      const r = await fetch(`/api/messages/${id}/raw`);
      document.getElementById("raw").textContent = r.ok ? await r.text() : `${r.status}: gone`;
    }
  } catch (err) {
    document.getElementById(`pane-${tab}`).replaceChildren(el("p", {}, `${id}: ${err.message}`));
  }
}

function renderMessage(m) {
  const facts = el("dl", {});
  const add = (k, v) => facts.append(el("dt", {}, k), el("dd", {}, v));
  add("Queue id", m.id);
  add("Received", new Date(m.time).toString());
  add("Envelope from", m.from || "<>");
  add("Envelope to", m.to.join(", "));
  add("Subject", m.subject);
  add("Size", formatSize(m.size));
  add("Connection", `#${m.conn}, ${m.tls ? "TLS" : "not encrypted"}${m.auth_user ? `, logged in as ${m.auth_user}` : ""}${m.chunked ? ", BDAT" : ", DATA"}`);
  const headers = el("dl", { className: "headers" });
  for (const [k, vs] of Object.entries(m.headers)) {
    for (const v of vs) headers.append(el("dt", {}, k), el("dd", {}, v));
  }
  const parts = m.parts.map((p, i) => el("div", { className: "part" },
    el("div", {}, `Part ${i + 1}: ${p.content_type || "?"}, ${formatSize(p.size)}${p.filename ? `, ${p.attachment ? "attachment" : "inline"} “${p.filename}”` : ""}`),
    p.text !== undefined ? el("pre", {}, p.text) : ""));
  const children = [facts, el("h3", {}, "Header fields"), headers, el("h3", {}, "Parts"), ...parts];
  if (m.parse_error) children.push(el("p", { className: "note warning" }, `MIME: ${m.parse_error}`));
  document.getElementById("pane-message").replaceChildren(...children);
}

function lineClass(line) {
  if (line.startsWith("C:")) return "line client";
  if (line.startsWith("S:")) return "line server";
  return "line info";
}

function renderTranscript(t) {
  const out = [el("p", {}, `Connection #${t.conn}, explained as mailwire explain would:`)];
  for (const e of t.explained) {
    out.push(el("div", { className: lineClass(e.line) }, e.line));
    for (const n of e.notes || []) {
      out.push(el("div", { className: n.startsWith("WARNING") ? "note warning" : "note" }, `# ${n}`));
    }
  }
  out.push(el("pre", { className: "summary" }, t.summary));
  document.getElementById("pane-transcript").replaceChildren(...out);
}

async function showServer() {
  try {
    const s = await getJSON("/api/server");
    document.getElementById("server").textContent = `SMTP ${s.smtp}`;
  } catch (err) {
    document.getElementById("server").textContent = err.message;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const b of document.querySelectorAll(".tab")) {
    b.addEventListener("click", () => showTab(b.dataset.tab));
  }
  document.getElementById("delete-all").addEventListener("click", () => fetch("/api/messages", { method: "DELETE" }));
  showServer();
  connect();
});
