// wattkeeper status page: plain DOM, no framework, no build step. Live site
// summary and events over SSE (/api/stream), the miner grid polled as compact
// rows (/api/devices?view=grid) and patched in place — one element per miner,
// created once, only its class changed when its state changes — so 5,000
// miners cost a few class writes per update, not a DOM rebuild.

import { createDetail } from "./detail.js";

const $ = (id) => document.getElementById(id);
const DEVICES_EVERY_MS = 5000;
// one history bucket is 10 s: refreshing as often keeps the right edge of the chart live
const HISTORY_EVERY_MS = 10_000;
const MAX_EVENTS = 100;

const state = {
  session: { operator: null, csrfToken: null, loginEnabled: false },
  site: null,
  minutes: 180,
  miners: new Map(), // id -> {row, el, group}
  groups: new Map(), // location -> {el, cells, count}
  fields: null,
  selected: null,
  chart: null,
  seenEvents: new Set(),
  gpuNodes: null,
};

// ---------------------------------------------------------------- formatting

function fmtW(w) {
  if (w === null || w === undefined || !Number.isFinite(w)) return "—";
  const a = Math.abs(w);
  if (a >= 1e6) return `${(w / 1e6).toFixed(3)} MW`;
  if (a >= 1e3) return `${(w / 1e3).toFixed(1)} kW`;
  return `${Math.round(w)} W`;
}
/** TH/s in the unit that fits: "14.8 PH/s", "104 TH/s", "2.44 MH/s" (a CPU miner), "0 TH/s". */
function fmtHashrate(ths) {
  if (ths === null || ths === undefined || !Number.isFinite(ths)) return "—";
  if (ths === 0) return "0 TH/s";
  const units = [
    [1e6, "EH/s"],
    [1e3, "PH/s"],
    [1, "TH/s"],
    [1e-3, "GH/s"],
    [1e-6, "MH/s"],
    [1e-9, "kH/s"],
  ];
  const [scale, unit] = units.find(([u]) => Math.abs(ths) >= u) ?? [1e-12, "H/s"];
  const v = ths / scale;
  const digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2;
  return `${Number(v.toFixed(digits))} ${unit}`;
}
function fmtBytes(b) {
  if (b === null || b === undefined) return "—";
  if (b >= 2 ** 30) return `${(b / 2 ** 30).toFixed(1)} GiB`;
  return `${(b / 2 ** 20).toFixed(0)} MiB`;
}
function fmtAge(s) {
  if (s === null || s === undefined) return "never";
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
/** 93784 → "1 d 2 h", 5400 → "1 h 30 min", 75 → "1 min 15 s". */
function fmtDuration(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return "—";
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${m} min`;
  return m > 0 ? `${m} min ${Math.floor(s % 60)} s` : `${Math.floor(s)} s`;
}
function fmtTime(ms) {
  const d = new Date(ms);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}
function setText(id, text) {
  const el = typeof id === "string" ? $(id) : id;
  if (el && el.textContent !== text) el.textContent = text;
}
function pill(id, text, s) {
  const el = $(id);
  setText(el, text);
  el.dataset.state = s;
}

// ---------------------------------------------------------------- network

async function getJson(path) {
  const res = await fetch(path, { headers: { accept: "application/json" }, cache: "no-store" });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return res.json();
}

async function post(path, body) {
  const headers = { "content-type": "application/json" };
  if (state.session.csrfToken) headers["x-csrf-token"] = state.session.csrfToken;
  const res = await fetch(path, {
    method: "POST",
    headers,
    body: JSON.stringify(body ?? {}),
    credentials: "same-origin",
  });
  let data = {};
  try {
    data = await res.json();
  } catch {
    // an empty or non-JSON answer: the status code says enough
  }
  return { status: res.status, data };
}

// ---------------------------------------------------------------- device detail

const detail = createDetail({
  $,
  getJson,
  post,
  fmt: { w: fmtW, hashrate: fmtHashrate, age: fmtAge, time: fmtTime, duration: fmtDuration },
  session: () => state.session,
  sessionLost: () => refreshSession(),
  changed: () => {
    refreshDevices();
    refreshProblems();
  },
  closed: () => select(null),
});

// ---------------------------------------------------------------- grid signals

/** One line per grid signal: name (kind), state, what it asks for, why; stale and error stand out. */
function renderSignals(list) {
  const ul = $("signals");
  const lines = list.map((g) => {
    const value =
      g.budgetW !== null && g.budgetW !== undefined
        ? ` ${fmtW(g.budgetW)}`
        : g.keepFraction !== null && g.keepFraction !== undefined
          ? ` keep ${Math.round(g.keepFraction * 100)} %`
          : "";
    return { key: g.name, state: g.state, text: `${g.name} (${g.kind}) ${g.state}${value}: ${g.reason}` };
  });
  while (ul.children.length > lines.length) ul.lastChild.remove();
  lines.forEach((l, i) => {
    let li = ul.children[i];
    if (!li) {
      li = document.createElement("li");
      ul.append(li);
    }
    li.className = `signal ${l.state}`;
    setText(li, l.text);
  });
}

// ---------------------------------------------------------------- site summary

/** What sets the budget, in words: shown before its reason ("contract limit: no lower limit in force"). */
const BUDGET_SOURCES = {
  contract: "contract limit",
  lease: "lease",
  schedule: "schedule",
  economic: "economic cut",
  signal: "grid signal",
  failsafe: "FAILSAFE",
};

function renderSite(s) {
  state.site = s;
  document.body.dataset.at = s.at ?? "";
  setText("site-name", s.siteId ? `wattkeeper · ${s.siteId}` : "wattkeeper");
  const power = $("site-power");
  setText(power, fmtW(s.powerW));
  power.dataset.w = s.powerW ?? "";
  // every number with its unit and its age: how old the meter's reading was when the agent sent it
  const meterAge = s.meter?.ageS != null ? ` (${fmtAge(s.meter.ageS)} old)` : "";
  setText(
    "power-source",
    s.powerSource === "meter"
      ? `metered${meterAge}`
      : s.powerSource === "estimate"
        ? s.meter
          ? `ESTIMATE (meter stale${s.meter.ageS != null ? ` ${fmtAge(s.meter.ageS)}` : ""})`
          : "ESTIMATE (no site meter)"
        : "unknown",
  );
  const budget = $("budget");
  setText(budget, fmtW(s.budgetW));
  budget.dataset.w = s.budgetW ?? "";
  setText("budget-source", BUDGET_SOURCES[s.budgetSource] ?? s.budgetSource ?? "—");
  setText("budget-reason", s.budgetReason ?? "—");
  setText("budget-at", s.at ? fmtTime(Date.parse(s.at)) : "—");
  // the lease line only when the lease is not what the line above already says
  const leaseLeftS = s.lease
    ? Math.max(0, (Date.parse(s.lease.expiresAt) - Date.parse(s.at ?? "")) / 1000)
    : 0;
  setText(
    "lease",
    s.lease
      ? `${s.budgetSource === "lease" ? "ends" : `lease ${fmtW(s.lease.watts)} (not the lowest) ends`} ${fmtTime(
          Date.parse(s.lease.expiresAt),
        )}, in ${fmtAge(leaseLeftS)}${s.budgetSource === "lease" ? "" : `: ${s.lease.reason}`}`
      : "",
  );
  renderSignals(s.signals ?? []);
  const use = s.powerW !== null && s.budgetW ? s.powerW / s.budgetW : null;
  setText("budget-use", use === null ? "—" : `${(use * 100).toFixed(1)} %`);
  const bar = $("budget-bar");
  bar.style.width = `${Math.min(100, Math.max(0, (use ?? 0) * 100)).toFixed(1)}%`;
  bar.classList.toggle("over", use !== null && use > 1);

  const c = s.classes ?? {};
  const total = ["ai", "mining", "aux"].reduce((t, k) => t + (c[k]?.powerW ?? 0), 0);
  for (const k of ["ai", "mining", "aux"]) {
    const w = c[k]?.powerW ?? null;
    setText(`class-${k}`, w !== null && c[k]?.derived ? `${fmtW(w)} (derived)` : fmtW(w));
    $(`split-${k}`).style.width = total > 0 && w !== null ? `${((w / total) * 100).toFixed(1)}%` : "0";
  }
  for (const k of ["hashing", "sleeping", "starting", "faulted", "unreachable"]) {
    const el = $(`count-${k}`);
    setText(el, String(s.counts?.[k] ?? "—"));
    el.dataset.n = s.counts?.[k] ?? "";
  }
  setText("hashrate", fmtHashrate(s.hashrateThs));
  setText(
    "meter",
    s.meter ? (s.meter.ok ? `ok · ${fmtAge(s.meter.ageS)}` : `STALE · ${fmtAge(s.meter.ageS)}`) : "none",
  );
  setText("broker", s.broker ? (s.broker.connected ? "connected" : "DISCONNECTED") : "not configured");
  setText("outbox", s.broker ? String(s.broker.outboxMessages) : "—");
  const gw = s.gateway;
  setText("gw-cpu", gw?.cpuLoadPct != null ? `${gw.cpuLoadPct.toFixed(0)} %` : "—");
  setText(
    "gw-mem",
    gw?.memUsedBytes != null ? `${fmtBytes(gw.memUsedBytes)} / ${fmtBytes(gw.memTotalBytes)}` : "—",
  );
  setText(
    "gw-disk",
    gw?.disk ? `${gw.disk.usedPct.toFixed(0)} % · ${fmtBytes(gw.disk.freeBytes)} free` : "—",
  );
  setText("gw-temp", gw?.cpuTempC != null ? `${gw.cpuTempC.toFixed(0)} °C` : "—");
  pill(
    "mode",
    s.mode === "hold" ? "HOLD" : s.mode === "auto" ? "auto" : "mode —",
    s.mode === "hold" ? "warn" : "ok",
  );
  for (const b of document.querySelectorAll("[data-mode]"))
    b.setAttribute("aria-pressed", String(b.dataset.mode === s.mode));
}

async function refreshHealth() {
  try {
    const res = await fetch("/healthz", { cache: "no-store" });
    const body = await res.json();
    pill("health", res.ok ? "healthy" : `UNHEALTHY`, res.ok ? "ok" : "bad");
    $("health").title = body.reason ?? "";
  } catch {
    pill("health", "agent down?", "bad");
  }
}

// ---------------------------------------------------------------- chart

function chartSize() {
  const el = $("chart");
  return { width: Math.max(200, el.clientWidth), height: window.innerWidth >= 900 ? 320 : 220 };
}
/** 24-hour clock on the time axis; the weekday too when the range spans days. */
function axisTime(sec) {
  const d = new Date(sec * 1000);
  const hm = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
  return state.minutes > 1440 ? `${d.toLocaleDateString([], { weekday: "short" })} ${hm}` : hm;
}
function axisW(v) {
  if (Math.abs(v) >= 1e6) return `${+(v / 1e6).toFixed(2)} MW`;
  if (Math.abs(v) >= 1e3) return `${+(v / 1e3).toFixed(0)} kW`;
  return `${v} W`;
}

async function refreshHistory() {
  let h;
  try {
    h = await getJson(`/api/history?minutes=${state.minutes}`);
  } catch {
    return;
  }
  const p = h.points;
  const data = [
    p.map((x) => x.at / 1000),
    p.map((x) => x.powerW),
    p.map((x) => x.budgetW),
    p.map((x) => x.aiW),
    p.map((x) => x.miningW),
  ];
  if (typeof uPlot !== "function") return;
  if (!state.chart) {
    const kw = (_u, v) => (v === null || v === undefined ? "—" : fmtW(v));
    const opts = {
      ...chartSize(),
      scales: {
        // the window is the range asked for, ending now, however much history there is
        x: { time: true, range: () => [Date.now() / 1000 - state.minutes * 60, Date.now() / 1000] },
        y: { range: (_u, _min, max) => [0, (max || 1) * 1.1] },
      },
      axes: [
        { stroke: "#000", grid: { stroke: "#ccc" }, values: (_u, vs) => vs.map(axisTime) },
        { stroke: "#000", size: 64, values: (_u, vs) => vs.map(axisW), grid: { stroke: "#ccc" } },
      ],
      series: [
        { value: (_u, v) => (v ? fmtTime(v * 1000) : "—") },
        { label: "Site", stroke: "#000", width: 2.5, value: kw },
        { label: "Budget", stroke: "#b00000", width: 2, dash: [8, 4], value: kw },
        { label: "AI", stroke: "#6a00c8", width: 1.5, value: kw },
        { label: "Mining", stroke: "#d35400", width: 1.5, value: kw },
      ],
    };
    state.chart = new uPlot(opts, data, $("chart"));
    $("chart").dataset.points = String(p.length);
    new ResizeObserver(() => state.chart.setSize(chartSize())).observe($("chart"));
  } else {
    state.chart.setData(data);
  }
  $("chart").dataset.points = String(p.length);
}

// ---------------------------------------------------------------- miner grid

const COL = {};
function tempClass(t) {
  if (t === null || t === undefined) return "";
  return t >= 85 ? "t3" : t >= 75 ? "t2" : t >= 60 ? "t1" : "t0";
}
function cellClass(row) {
  const st = row[COL.state];
  let cls = `cell s-${st ?? "null"}`;
  const t = tempClass(row[COL.tempC]);
  if (t) cls += ` ${t}`;
  if (row[COL.excluded]) cls += " x";
  return cls;
}

function groupFor(location) {
  let g = state.groups.get(location);
  if (g) return g;
  const section = document.createElement("div");
  const h = document.createElement("h3");
  const cells = document.createElement("div");
  cells.className = "cells";
  section.append(h, cells);
  g = { el: section, h, cells, location, total: 0, shown: 0 };
  state.groups.set(location, g);
  // groups in name order; a new location is rare (config change), so a re-sort is fine
  const grid = $("grid");
  const after = [...state.groups.values()]
    .filter((x) => x !== g)
    .sort((a, b) => a.location.localeCompare(b.location))
    .find((x) => x.location.localeCompare(location) > 0);
  grid.insertBefore(section, after ? after.el : null);
  return g;
}

function renderDevices(d) {
  if (!state.fields) {
    d.minerFields.forEach((f, i) => {
      COL[f] = i;
    });
    state.fields = d.minerFields;
  }
  const seen = new Set();
  for (const row of d.miners) {
    const id = row[COL.id];
    seen.add(id);
    let m = state.miners.get(id);
    if (!m) {
      const g = groupFor(row[COL.location] || "(no location)");
      const el = document.createElement("button");
      el.type = "button";
      el.dataset.id = id;
      el.setAttribute("aria-label", id);
      g.cells.append(el);
      m = { row, el, group: g, cls: "" };
      state.miners.set(id, m);
    }
    m.row = row;
    const cls = cellClass(row) + (state.selected === id ? " sel" : "");
    if (cls !== m.cls) {
      m.el.className = cls;
      m.cls = cls;
    }
    const st = row[COL.state];
    if (m.el.dataset.state !== String(st)) m.el.dataset.state = String(st);
  }
  for (const [id, m] of state.miners) {
    if (!seen.has(id)) {
      m.el.remove();
      state.miners.delete(id);
    }
  }
  applyFilter();
  renderGpus(d.gpuNodes);
  renderMeters(d.meters);
}

function matches(row, q, sf) {
  if (sf) {
    if (sf === "excluded") {
      if (!row[COL.excluded]) return false;
    } else if (sf === "hot") {
      if (!(row[COL.tempC] >= 85)) return false;
    } else if (row[COL.state] !== sf) return false;
  }
  if (!q) return true;
  return `${row[COL.id]} ${row[COL.location] ?? ""} ${row[COL.model] ?? ""}`.toLowerCase().includes(q);
}

function applyFilter() {
  const q = $("search").value.trim().toLowerCase();
  const sf = $("state-filter").value;
  let shown = 0;
  for (const g of state.groups.values()) {
    g.total = 0;
    g.shown = 0;
  }
  for (const m of state.miners.values()) {
    const ok = matches(m.row, q, sf);
    if (m.el.hidden === ok) m.el.hidden = !ok;
    m.group.total++;
    if (ok) {
      m.group.shown++;
      shown++;
    }
  }
  for (const g of state.groups.values()) {
    setText(g.h, `${g.location} · ${g.shown === g.total ? g.total : `${g.shown} of ${g.total}`}`);
    g.el.hidden = g.shown === 0;
  }
  setText("miner-shown", `${shown} of ${state.miners.size}`);
}

/** Opens a miner's detail (GET /api/devices/<id>) and marks its cell. */
function showDetail(id) {
  select(id);
  detail.open(id);
}

/** Marks one miner's cell as the one shown (null: none). */
function select(id) {
  for (const x of [state.selected, id]) {
    const m = x ? state.miners.get(x) : null;
    if (!m) continue;
    m.cls = cellClass(m.row) + (x === id ? " sel" : "");
    m.el.className = m.cls;
  }
  state.selected = id;
}

// ---------------------------------------------------------------- GPU nodes and meters

function td(text, cls) {
  const el = document.createElement("td");
  el.textContent = text;
  if (cls) el.className = cls;
  return el;
}

/** An operator takes a GPU node out of automatic control (or back): the loop then never caps it. */
function nodeActionCell(n) {
  const cell = td("", "r");
  if (!state.session.operator) return cell;
  const b = document.createElement("button");
  b.type = "button";
  b.dataset.nodeAction = n.excluded ? "include" : "exclude";
  b.dataset.id = n.id;
  b.textContent = n.excluded ? "Include" : "Exclude";
  cell.append(b);
  return cell;
}

function renderGpus(nodes) {
  state.gpuNodes = nodes;
  const body = $("gpus").tBodies[0];
  const rows = [];
  for (const n of nodes) {
    const tr = document.createElement("tr");
    tr.className = "node";
    tr.append(
      td(`${n.id}${n.excluded ? " (excluded)" : ""}`),
      td(n.state ?? "no reading", n.state === "ok" ? "q-ok" : n.state ? "q-bad" : ""),
      td(fmtW(n.powerW), "r"),
      td(""),
      td(""),
      nodeActionCell(n),
    );
    rows.push(tr);
    for (const g of n.gpus) {
      const r = document.createElement("tr");
      r.append(
        td(`  GPU ${g.index ?? "?"} ${g.name ?? ""}`),
        td(g.busy ? "busy" : g.busy === false ? "idle" : ""),
        td(fmtW(g.powerW), "r"),
        td(fmtW(g.enforcedPowerLimitW ?? g.powerLimitW), "r"),
        td(g.tempC == null ? "—" : `${g.tempC} °C`, "r"),
        td(g.utilPct == null ? "—" : `${g.utilPct} %`, "r"),
      );
      rows.push(r);
    }
  }
  if (rows.length === 0) {
    const tr = document.createElement("tr");
    const cell = td("no GPU nodes configured");
    cell.colSpan = 6;
    tr.append(cell);
    rows.push(tr);
  }
  body.replaceChildren(...rows);
}

function renderMeters(meters) {
  const body = $("meters").tBodies[0];
  body.replaceChildren(
    ...meters.map((m) => {
      const tr = document.createElement("tr");
      tr.append(
        td(m.id),
        td(m.role),
        td(fmtW(m.powerW), "r"),
        td(fmtAge(m.ageS), "r"),
        td(m.ok ? "ok" : (m.reason ?? "stale"), m.ok ? "q-ok" : "q-bad"),
      );
      return tr;
    }),
  );
}

// ---------------------------------------------------------------- events

function addEvent(e, atTop) {
  if (state.seenEvents.has(e.id)) return;
  // ids only guard against a replay after a reconnect: the recent ones are enough
  if (state.seenEvents.size > 5000) state.seenEvents.clear();
  state.seenEvents.add(e.id);
  const li = document.createElement("li");
  li.className = e.severity;
  li.dataset.kind = e.kind;
  const t = document.createElement("time");
  t.dateTime = new Date(e.at).toISOString();
  t.textContent = fmtTime(e.at);
  const msg = document.createElement("span");
  msg.textContent = e.message;
  li.append(t, msg);
  const list = $("events");
  if (atTop) list.prepend(li);
  else list.append(li);
  while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
}

// ---------------------------------------------------------------- session and actions

function renderSession() {
  const s = state.session;
  setText("who", s.operator ? `operator: ${s.operator}` : "");
  $("login-open").hidden = !!s.operator || !s.loginEnabled;
  $("logout").hidden = !s.operator;
  $("operator").hidden = !s.operator;
  detail.renderSession();
  if (state.gpuNodes) renderGpus(state.gpuNodes);
}

async function refreshSession() {
  try {
    state.session = await getJson("/api/session");
  } catch {
    state.session = { operator: null, csrfToken: null, loginEnabled: false };
  }
  renderSession();
}

async function act(body, resultEl) {
  if (resultEl) {
    resultEl.className = "result";
    setText(resultEl, "working… (waiting for the device to confirm)");
  }
  const { status, data } = await post("/api/actions", body);
  if (status === 401) await refreshSession();
  const ok = status === 200 && data.ok;
  if (resultEl) {
    resultEl.className = ok ? "result" : "result bad";
    setText(
      resultEl,
      ok ? `done${data.detail ? `: ${data.detail}` : ""}` : `refused: ${data.error ?? `HTTP ${status}`}`,
    );
  }
  refreshDevices();
  return ok;
}

// ---------------------------------------------------------------- live stream

/**
 * The page never lies quietly: when no site update has come over the stream for two ticks
 * (the gap between updates, at least 3 s), a banner says since when, the numbers grey out,
 * and /api/site is polled until the stream speaks again.
 */
const live = { lastAt: Date.now(), gapMs: 5000, updates: 0, learned: false, stale: false, polling: false };
const STALE_MIN_MS = 3000;
const POLL_EVERY_MS = 2000;

function streamUpdate() {
  const now = Date.now();
  const gap = now - live.lastAt;
  // the tick period, learned from the stream itself (bounded: a stall must not teach it). The
  // first gap between two updates replaces the 5 s guess outright: averaged into it, the page
  // took a dozen ticks to learn a 1 s tick and flagged a cut stream seconds late meanwhile.
  // (The first update's own gap is from the page's load, not a tick.)
  live.updates++;
  if (live.updates >= 2 && gap > 200 && gap < 60_000) {
    live.gapMs = live.learned ? Math.min(30_000, live.gapMs * 0.7 + gap * 0.3) : gap;
    live.learned = true;
  }
  live.lastAt = now;
  if (live.stale) setStale(false);
}

function setStale(on) {
  live.stale = on;
  document.body.classList.toggle("stale", on);
  $("stale-banner").hidden = !on;
  if (on) pill("live", "stale", "bad");
}

async function watchStream() {
  const silentMs = Date.now() - live.lastAt;
  if (silentMs > Math.max(STALE_MIN_MS, 2 * live.gapMs)) {
    if (!live.stale) setStale(true);
    setText("stale-age", fmtAge(silentMs / 1000));
    if (!live.polling) {
      live.polling = true;
      try {
        const s = await getJson("/api/site");
        renderSite(s);
        setText("stale-polled", fmtTime(Date.now()));
      } catch {
        setText("stale-polled", "failed (agent unreachable?)");
      } finally {
        live.polling = false;
      }
    }
  }
}

function connectStream() {
  const es = new EventSource("/api/stream");
  es.addEventListener("open", () => pill("live", "live", "ok"));
  es.addEventListener("error", () =>
    pill("live", live.stale ? "stale" : "reconnecting", live.stale ? "bad" : "warn"),
  );
  es.addEventListener("site", (m) => {
    streamUpdate();
    renderSite(JSON.parse(m.data));
  });
  es.addEventListener("event", (m) => {
    const e = JSON.parse(m.data);
    addEvent(e, true);
    if (e.deviceId) scheduleDevices(300);
  });
}

// ---------------------------------------------------------------- loops

let devicesTimer = null;
let devicesBusy = false;
async function refreshDevices() {
  if (devicesBusy) return;
  devicesBusy = true;
  try {
    renderDevices(await getJson("/api/devices?view=grid"));
  } catch {
    // the next poll retries; the live pill shows a lost agent
  } finally {
    devicesBusy = false;
  }
}
/** The problems list at the top: worst first; a miner's line opens its detail. */
async function refreshProblems() {
  let data;
  try {
    data = await getJson("/api/problems");
  } catch {
    return;
  }
  const list = $("problems-list");
  list.replaceChildren();
  const problems = data.problems ?? [];
  $("problems").hidden = problems.length === 0;
  setText("problems-count", String(problems.length));
  for (const p of problems.slice(0, 50)) {
    const li = document.createElement("li");
    li.className = `problem ${p.severity}`;
    li.dataset.id = p.id;
    li.dataset.kind = p.kind;
    // a device's problem opens its detail (a meter's or a signal's has none)
    if (!NOT_DEVICES.has(p.kind)) {
      li.tabIndex = 0;
      li.setAttribute("role", "button");
    }
    const head = document.createElement("div");
    head.className = "what";
    head.textContent = `${p.id}${p.location ? ` · ${p.location}` : ""} — ${p.message}`;
    const fix = document.createElement("div");
    fix.className = "fix";
    fix.textContent = `${p.fix}${p.since ? ` (since ${fmtTime(Date.parse(p.since))})` : ""}`;
    li.append(head, fix);
    list.append(li);
  }
}

const NOT_DEVICES = new Set(["meter-stale", "signal-stale"]);

function scheduleDevices(ms) {
  clearTimeout(devicesTimer);
  devicesTimer = setTimeout(async () => {
    if (!document.hidden)
      await Promise.all([refreshDevices(), refreshProblems(), detail.isOpen() ? detail.refresh() : null]);
    scheduleDevices(DEVICES_EVERY_MS);
  }, ms);
}

function wire() {
  const openProblem = (ev) => {
    const li = ev.target?.closest?.("li");
    if (li?.dataset?.id && !NOT_DEVICES.has(li.dataset.kind)) showDetail(li.dataset.id);
  };
  $("problems-list").addEventListener("click", openProblem);
  $("problems-list").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" || ev.key === " ") {
      ev.preventDefault();
      openProblem(ev);
    }
  });
  $("grid").addEventListener("click", (ev) => {
    const id = ev.target?.dataset?.id;
    if (id) showDetail(id);
  });
  $("gpus").addEventListener("click", (ev) => {
    const b = ev.target;
    if (b?.dataset?.nodeAction)
      act({ kind: "device", id: b.dataset.id, action: b.dataset.nodeAction }, $("gpu-result"));
  });
  for (const b of document.querySelectorAll("[data-mode]")) {
    b.addEventListener("click", async () => {
      if (await act({ kind: "mode", mode: b.dataset.mode }, null))
        renderSite({ ...state.site, mode: b.dataset.mode });
    });
  }
  let searchTimer = null;
  $("search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(applyFilter, 120);
  });
  $("state-filter").addEventListener("change", applyFilter);
  for (const b of document.querySelectorAll("#colour-by button")) {
    b.addEventListener("click", () => {
      $("grid").dataset.colour = b.dataset.by;
      for (const x of document.querySelectorAll("#colour-by button"))
        x.setAttribute("aria-pressed", String(x === b));
      $("legend-state").hidden = b.dataset.by !== "state";
      $("legend-temp").hidden = b.dataset.by !== "temp";
    });
  }
  for (const b of document.querySelectorAll("#range button")) {
    b.addEventListener("click", () => {
      state.minutes = Number(b.dataset.min);
      for (const x of document.querySelectorAll("#range button"))
        x.setAttribute("aria-pressed", String(x === b));
      refreshHistory();
    });
  }
  $("login-open").addEventListener("click", () => {
    setText("login-error", "");
    $("login").showModal();
  });
  $("login-cancel").addEventListener("click", () => $("login").close());
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    $("login-submit").disabled = true;
    const { status, data } = await post("/api/login", { name: f.get("name"), password: f.get("password") });
    $("login-submit").disabled = false;
    if (status === 200) {
      ev.target.reset();
      $("login").close();
      await refreshSession();
    } else {
      setText("login-error", data.error ?? `HTTP ${status}`);
    }
  });
  $("logout").addEventListener("click", async () => {
    await post("/api/logout", {});
    await refreshSession();
  });
}

async function init() {
  wire();
  await refreshSession();
  const [site, devices, events] = await Promise.allSettled([
    getJson("/api/site"),
    getJson("/api/devices?view=grid"),
    getJson("/api/events?limit=50"),
  ]);
  if (site.status === "fulfilled") renderSite(site.value);
  if (devices.status === "fulfilled") renderDevices(devices.value);
  if (events.status === "fulfilled") for (const e of events.value.events) addEvent(e, false);
  connectStream();
  refreshProblems();
  setInterval(watchStream, POLL_EVERY_MS / 2);
  scheduleDevices(DEVICES_EVERY_MS);
  refreshHealth();
  setInterval(refreshHealth, 10_000);
  await refreshHistory();
  setInterval(() => {
    if (!document.hidden) refreshHistory();
  }, HISTORY_EVERY_MS);
  document.body.dataset.ready = "1";
}

// for the browser tests and a curious technician's console: refresh on demand
window.wattkeeper = { refreshDevices, refreshHistory, refreshProblems, showDetail, state };

// uPlot loads with `defer` before this module runs (modules are deferred too, and run in order)
init();
