// eventwire dev viewer: the topology graph, the live event list (server-sent events from the
// dispatcher's delivery hooks), filters and an event's detail. Plain DOM, no build step; every
// value from an event is set with textContent, never parsed as HTML.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const records = new Map(); // key -> record
let selected = null;

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function shorten(text, max) {
  return text.length > max ? text.slice(0, max - 1) + "…" : text;
}

// ---- topology ------------------------------------------------------------------------------

const COLUMNS = ["sources", "channels · brokers", "subscriptions · triggers", "services"];
const COL_W = 250, NODE_W = 200, NODE_H = 52, ROW_H = 72, TOP = 30;

function drawGraph(graph) {
  const root = document.getElementById("graph");
  root.replaceChildren();
  const rows = [0, 0, 0, 0];
  const at = new Map();
  for (const node of graph.nodes) {
    const x = node.column * COL_W + 10, y = TOP + rows[node.column]++ * ROW_H;
    at.set(node.id, { x, y });
  }
  const height = TOP + Math.max(1, ...rows) * ROW_H;
  root.setAttribute("viewBox", `0 0 ${COLUMNS.length * COL_W} ${height}`);
  COLUMNS.forEach((name, i) => root.append(svg("text", { x: i * COL_W + 10, y: 16, class: "column" }, name)));
  for (const edge of graph.edges) {
    const a = at.get(edge.from), b = at.get(edge.to);
    if (!a || !b) continue;
    const forward = b.x > a.x;
    const x1 = forward ? a.x + NODE_W : a.x + NODE_W / 2, y1 = forward ? a.y + NODE_H / 2 : a.y + NODE_H;
    const x2 = forward ? b.x : b.x + NODE_W / 2, y2 = forward ? b.y + NODE_H / 2 : b.y + NODE_H;
    const bend = forward ? (x2 - x1) / 2 : 40;
    const d = forward
      ? `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`
      : `M${x1},${y1} C${x1},${y1 + bend} ${x2},${y2 + bend} ${x2},${y2}`;
    const kind = edge.label === "reply" ? "reply" : edge.label === "dead letter" ? "dead" : "";
    root.append(svg("path", { d, class: `edge ${kind}` }));
    if (edge.label) {
      const mx = forward ? (x1 + x2) / 2 : (x1 + x2) / 2, my = forward ? (y1 + y2) / 2 - 3 : Math.max(y1, y2) + 28;
      root.append(svg("text", { x: mx, y: my, "text-anchor": "middle", class: "edge-label" }, edge.label));
    }
  }
  for (const node of graph.nodes) {
    const { x, y } = at.get(node.id);
    const group = svg("g", { class: `node ${node.ok ? "" : "bad"}`, "data-id": node.id, transform: `translate(${x},${y})` });
    group.append(svg("title", {}, `${node.kind} ${node.label}\n${node.status}`));
    group.append(svg("rect", { width: NODE_W, height: NODE_H }));
    group.append(svg("text", { x: 8, y: 14, class: "kind" }, node.kind));
    group.append(svg("text", { x: 8, y: 30, class: "label" }, shorten(node.label, 28)));
    group.append(svg("text", { x: 8, y: 45, class: "status" }, shorten(node.status, 38)));
    root.append(group);
  }
}

// ---- events --------------------------------------------------------------------------------

function outcomeText(row) {
  if (row.outcome === "retrying") return { cls: "retried", text: `retrying: attempt ${row.attempts} failed` };
  const attempts = row.attempts > 1 ? ` after ${row.attempts} attempts` : "";
  if (row.outcome === "delivered" && row.attempts > 1) return { cls: "retried", text: `delivered${attempts} (retried ×${row.attempts - 1})` };
  return { cls: row.outcome.replace(" ", "-"), text: row.outcome + attempts };
}

// An accepted event that no delivery row explains: nobody to deliver to (yet).
function acceptedText(record) {
  const accepted = record.accepted;
  if (!accepted || Object.keys(record.deliveries).length > 0) return null;
  if (accepted.subscribers === 0) return record.channel.startsWith("broker:") ? "accepted: no triggers" : "accepted: no subscribers";
  if (accepted.matching === 0) return "accepted: no trigger matched";
  return "accepted";
}

function badges(record) {
  const box = el("div", { class: "deliveries" });
  const accepted = acceptedText(record);
  if (accepted) box.append(el("span", { class: "badge none", "data-outcome": "accepted" }, accepted));
  for (const row of Object.values(record.deliveries)) {
    const outcome = outcomeText(row);
    box.append(el("span", { class: `badge ${outcome.cls}`, "data-outcome": row.outcome }, `${row.subscription}: ${outcome.text}`));
    if (row.reply) {
      const ok = !row.reply.error;
      box.append(el("span", { class: `badge ${ok ? "reply" : "failed"}` }, ok ? `reply ${row.reply.type} forwarded` : `reply failed`));
    }
  }
  return box;
}

function filters() {
  const value = (id) => document.getElementById(id).value.trim().toLowerCase();
  return { type: value("filter-type"), source: value("filter-source"), subject: value("filter-subject"), channel: document.getElementById("filter-channel").value };
}

function matches(record, f) {
  const a = record.attributes;
  const has = (attr, wanted) => !wanted || (a[attr] || "").toLowerCase().includes(wanted);
  return has("type", f.type) && has("source", f.source) && has("subject", f.subject) && (!f.channel || record.channel === f.channel);
}

function renderEvents() {
  const list = document.getElementById("events");
  const f = filters();
  const shown = [...records.values()].filter((r) => matches(r, f)).sort((x, y) => y.seq - x.seq);
  list.replaceChildren(
    ...shown.map((record) => {
      const a = record.attributes;
      const item = el("li", { "data-key": record.key, "data-type": a.type || "" });
      if (selected === record.key) item.classList.add("selected");
      const first = el("div", { class: "row1" });
      first.append(el("span", { class: "etype" }, a.type || "(no type)"));
      first.append(el("span", { class: "meta" }, `${record.channel || "direct"} · ${a.source || ""}${a.subject ? " · " + a.subject : ""}`));
      first.append(el("span", { class: "meta" }, new Date(record.at * 1000).toLocaleTimeString()));
      item.append(first, badges(record));
      item.addEventListener("click", () => showDetail(record.key));
      return item;
    }),
  );
  document.getElementById("count").textContent = `${shown.length} of ${records.size}`;
  document.getElementById("empty").hidden = records.size > 0;
  const select = document.getElementById("filter-channel");
  const channels = new Set([...records.values()].map((r) => r.channel).filter(Boolean));
  for (const option of select.options) channels.delete(option.value);
  for (const channel of [...channels].sort()) select.append(el("option", { value: channel }, channel));
}

function showDetail(key) {
  const record = records.get(key);
  if (!record) return;
  selected = key;
  const table = document.getElementById("detail-attributes");
  table.replaceChildren(
    ...Object.entries(record.attributes).sort().map(([name, value]) => {
      const row = el("tr");
      row.append(el("td", {}, name), el("td", {}, value));
      return row;
    }),
  );
  const deliveries = document.getElementById("detail-deliveries");
  const accepted = acceptedText(record);
  deliveries.replaceChildren(
    ...(accepted ? [el("li", { class: "none" }, accepted)] : []),
    ...Object.values(record.deliveries).map((row) => {
      const outcome = outcomeText(row);
      const parts = [`${row.subscription} → ${row.subscriber || ""}: ${outcome.text}`];
      if (row.error) parts.push(`last error: ${row.error}`);
      if (row.deadLetterSink) parts.push(`dead letter sink: ${row.deadLetterSink}`);
      if (row.reply) parts.push(`reply ${row.reply.type} (${row.reply.id}) → ${row.reply.to}${row.reply.error ? ": " + row.reply.error : ""}`);
      return el("li", { class: outcome.cls }, parts.join(" · "));
    }),
  );
  const data = record.encoding === "json" ? JSON.stringify(record.data, null, 2) : record.encoding === "none" ? "(no data)" : String(record.data);
  document.getElementById("detail-data").textContent = data;
  document.getElementById("detail").hidden = false;
  renderEvents();
}

// ---- live updates --------------------------------------------------------------------------

let pending = false;
function update(record) {
  records.set(record.key, record);
  if (!pending) {
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      renderEvents();
      if (selected === record.key) showDetail(selected);
    });
  }
}

function connect() {
  const status = document.getElementById("connection");
  const stream = new EventSource("/api/stream");
  stream.addEventListener("open", () => {
    status.textContent = "live";
    status.className = "badge live";
  });
  stream.addEventListener("record", (message) => update(JSON.parse(message.data)));
  stream.addEventListener("error", () => {
    status.textContent = "reconnecting";
    status.className = "badge down";
  });
}

async function start() {
  for (const id of ["filter-type", "filter-source", "filter-subject", "filter-channel"]) {
    document.getElementById(id).addEventListener("input", renderEvents);
    document.getElementById(id).addEventListener("change", renderEvents);
  }
  document.getElementById("filters").addEventListener("submit", (e) => e.preventDefault());
  document.getElementById("close-detail").addEventListener("click", () => {
    selected = null;
    document.getElementById("detail").hidden = true;
    renderEvents();
  });
  connect();
  const [topology, events] = await Promise.all([fetch("/api/topology"), fetch("/api/events")]);
  drawGraph(await topology.json());
  for (const record of await events.json()) records.set(record.key, record);
  renderEvents();
}

start();
