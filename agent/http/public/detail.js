// The device detail (GET /api/devices/<id>) in a dialog: where it is, what it
// is, how it runs (boards, fans, pools, a sparkline), its problems, its last
// actions and events, and — for an operator — the actions it offers, each
// behind a confirmation, with the audit entry shown after. The actions come
// from the server (the device's capabilities), so a new one needs no change
// here. Phone first: everything wraps, long strings are cut with an ellipsis
// and shown whole on a tap.

const WHY = {
  sleep: "It stops hashing and draws only standby power until woken.",
  wake: "It starts hashing again and ramps to full power over a few minutes.",
  reboot: "It stops hashing while it restarts (a few minutes).",
  "set-power-limit": "The firmware holds its draw at the limit; hashrate falls with it.",
  exclude: "The loop will neither shed nor wake it while it is excluded.",
  include: "It goes back into automatic control: the loop may shed or wake it.",
  locate: "Its LED blinks for 5 minutes so it can be found in the rack, then stops by itself.",
  "locate-off": "Its LED stops blinking now.",
};

const SVG = "http://www.w3.org/2000/svg";

/** 2086 → "2,086 W": a limit is typed in watts, so its range is shown in watts too. */
const exactW = (w) => (w === null || w === undefined ? "—" : `${Math.round(w).toLocaleString("en-US")} W`);

/**
 * `ctx`: { $, getJson, post, fmt: {w, hashrate, age, time, duration}, session(), changed() }.
 * Returns { open(id), refresh(), isOpen(), id() }.
 */
export function createDetail(ctx) {
  const { $, fmt } = ctx;
  const dialog = $("detail");
  let current = null;
  let data = null;
  let confirming = null;
  let busy = false;

  function text(el, t) {
    if (el.textContent !== t) el.textContent = t;
  }

  /** A long string, cut to its box with an ellipsis; a tap (or Enter) shows it whole. */
  function trunc(value) {
    const s = document.createElement("span");
    s.className = "trunc";
    s.textContent = value;
    s.title = value;
    s.tabIndex = 0;
    s.setAttribute("role", "button");
    s.setAttribute("aria-expanded", "false");
    return s;
  }

  function li(className, ...parts) {
    const el = document.createElement("li");
    if (className) el.className = className;
    for (const p of parts) el.append(typeof p === "string" ? document.createTextNode(p) : p);
    return el;
  }

  function fact(dl, label, value, opts = {}) {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.dataset.fact = opts.key ?? label.toLowerCase();
    if (value instanceof Node) dd.append(value);
    else if (opts.trunc) dd.append(trunc(value));
    else dd.textContent = value;
    dl.append(dt, dd);
  }

  function renderFacts(d) {
    const r = d.reading ?? {};
    const dl = $("d-facts");
    dl.replaceChildren();
    fact(dl, "Location", d.location || "—", { trunc: true });
    fact(dl, "Address", `${d.host}:${d.port}`, { trunc: true });
    const model = d.model
      ? `${d.model.name}${d.model.reported && d.model.reported !== d.model.name ? ` (reports “${d.model.reported}”)` : ""}`
      : `${r.model ?? "unknown"} (not in the model catalogue)`;
    fact(dl, "Model", model, { trunc: true });
    if (d.model) {
      const range = d.model.powerLimitW
        ? ` · limits ${fmt.w(d.model.powerLimitW.min)}–${fmt.w(d.model.powerLimitW.max)}`
        : "";
      fact(dl, "Nominal", `${fmt.w(d.model.nominalW)} · ${fmt.hashrate(d.model.nominalThs)}${range}`, {
        key: "nominal",
      });
    }
    fact(
      dl,
      "Firmware",
      d.firmware ? `${d.firmware.name}${d.firmware.version ? ` ${d.firmware.version}` : ""}` : "—",
      { trunc: true },
    );
    if (d.class === "mining") {
      const dialect = d.dialect ?? "not detected yet";
      fact(
        dl,
        "Dialect",
        d.configuredDialect && d.configuredDialect !== d.dialect
          ? `${dialect} (configured ${d.configuredDialect})`
          : dialect,
      );
    }
    const withdrawn = (d.withdrawn ?? []).map((w) => `${w.capability} withdrawn: ${w.reason}`);
    fact(
      dl,
      "Capabilities",
      [d.capabilities.length > 0 ? d.capabilities.join(", ") : "none (read only)", ...withdrawn].join("; "),
      { trunc: true },
    );
    fact(dl, "State", `${d.state ?? "no reading"}${d.reason ? `: ${d.reason}` : ""}`, { trunc: true });
    fact(dl, "Power", `${fmt.w(r.powerW)}${r.powerEstimated ? " (estimated)" : ""}`);
    if (d.class === "mining") {
      fact(
        dl,
        "Power limit",
        r.powerLimitW != null
          ? fmt.w(r.powerLimitW)
          : r.minPowerLimitW != null
            ? `steps ${fmt.w(r.minPowerLimitW)}–${fmt.w(r.maxPowerLimitW)}`
            : "none set",
        { key: "power limit" },
      );
      const expected = d.health?.expectedThs ?? null;
      fact(
        dl,
        "Hashrate",
        `${fmt.hashrate(r.hashrateThs)}${
          expected && r.hashrateThs != null
            ? ` of ${fmt.hashrate(expected)} (${Math.round((r.hashrateThs / expected) * 100)} %)`
            : ""
        }`,
      );
      fact(dl, "Uptime", r.uptimeS == null ? "—" : fmt.duration(r.uptimeS));
      // fans, temperatures, boards and pools are read every polling.minerDetailS: their own age
      const detailAge =
        r.detailAgeS != null && r.detailAgeS !== r.ageS ? ` · ${fmt.age(r.detailAgeS)} ago` : "";
      const fans = r.fanRpm ?? [];
      fact(dl, "Fans", fans.length > 0 ? `${fans.join(" · ")} rpm${detailAge}` : "—");
      const temps = r.chipTempMaxC != null ? `chips ${r.chipTempMaxC} °C max` : "";
      const limit = d.health?.hot ? ` (hot at ${d.health.hot.chipC} °C)` : "";
      fact(dl, "Temperature", temps ? `${temps}${limit}${detailAge}` : "—", { key: "temperature" });
    }
    fact(dl, "Read", r.ageS == null ? "never" : `${fmt.age(r.ageS)} ago`, { key: "read" });
  }

  function renderBoards(d) {
    const table = $("d-boards");
    const boards = d.reading?.boards ?? [];
    const dead = new Set(d.health?.deadBoards ?? []);
    table.previousElementSibling.hidden = d.class !== "mining";
    table.hidden = d.class !== "mining";
    const rows = boards.map((b) => {
      const tr = document.createElement("tr");
      if (dead.has(b.index)) tr.className = "dead";
      for (const [v, cls] of [
        [`${b.index}${dead.has(b.index) ? " dead" : ""}`, ""],
        [b.hashrateThs == null ? "—" : b.hashrateThs.toFixed(1), "r"],
        [b.chips == null ? "—" : String(b.chips), "r"],
        [b.boardTempC == null ? "—" : String(b.boardTempC), "r"],
        [b.chipTempC == null ? "—" : String(b.chipTempC), "r"],
      ]) {
        const td = document.createElement("td");
        td.textContent = v;
        if (cls) td.className = cls;
        tr.append(td);
      }
      return tr;
    });
    if (rows.length === 0) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = 5;
      td.textContent = "the firmware gives no per-board figures";
      tr.append(td);
      rows.push(tr);
    }
    table.tBodies[0].replaceChildren(...rows);
  }

  function renderPools(d) {
    const ol = $("d-pools");
    const pools = d.reading?.pools ?? [];
    ol.previousElementSibling.hidden = d.class !== "mining";
    ol.hidden = d.class !== "mining";
    ol.replaceChildren(
      ...(pools.length > 0
        ? pools.map((p, i) =>
            li(
              /alive/i.test(p.status ?? "") ? "pool ok" : "pool bad",
              `${i + 1}. ${p.status ?? "?"} · `,
              trunc(p.url ?? "—"),
              " · user ",
              trunc(p.user ?? "—"),
            ),
          )
        : [li("", "no pools reported")]),
    );
  }

  function polyline(points, pick, colour, height) {
    const vals = points.map(pick).filter((v) => v !== null);
    if (vals.length === 0) return null;
    const lo = Math.min(...vals);
    const hi = Math.max(...vals);
    const span = hi - lo || Math.max(1, Math.abs(hi) * 0.05);
    const n = Math.max(1, points.length - 1);
    const coords = points.flatMap((p, i) => {
      const v = pick(p);
      if (v === null) return [];
      const y = height - 4 - ((v - (hi === lo ? lo - span / 2 : lo)) / span) * (height - 8);
      return [`${((i / n) * 300).toFixed(1)},${y.toFixed(1)}`];
    });
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", coords.join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", colour);
    line.setAttribute("stroke-width", "2");
    line.setAttribute("vector-effect", "non-scaling-stroke");
    return { line, lo, hi };
  }

  function renderSpark(d) {
    const box = $("d-spark");
    const points = d.history?.points ?? [];
    box.dataset.points = String(points.length);
    if (points.length < 2) {
      box.replaceChildren(document.createTextNode("not enough samples yet (one a minute)"));
      return;
    }
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 300 60");
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("role", "img");
    const power = polyline(points, (p) => p.powerW, "#d35400", 60);
    const hash = polyline(points, (p) => p.hashrateThs, "#006b1b", 60);
    for (const x of [power, hash]) if (x) svg.append(x.line);
    const cap = document.createElement("p");
    cap.className = "spark-caption";
    cap.textContent = [
      power ? `power ${fmt.w(power.lo)}–${fmt.w(power.hi)}` : null,
      hash ? `hashrate ${fmt.hashrate(hash.lo)}–${fmt.hashrate(hash.hi)}` : null,
      `${points.length} samples, ${fmt.time(points[0].at)}–${fmt.time(points[points.length - 1].at)}`,
    ]
      .filter(Boolean)
      .join(" · ");
    svg.setAttribute("aria-label", cap.textContent);
    box.replaceChildren(svg, cap);
  }

  function renderLists(d) {
    $("d-problems").replaceChildren(
      ...d.problems.map((p) => li(`problem ${p.severity}`, `${p.kind}: ${p.message} — ${p.fix}`)),
    );
    $("d-ledger").replaceChildren(
      ...(d.ledger.length > 0
        ? d.ledger.map((l) =>
            li(
              `ledger ${l.outcome}`,
              `${fmt.time(l.at)} ${l.action}${l.valueW != null ? ` ${fmt.w(l.valueW)}` : ""}${
                l.gpuIndex != null ? ` GPU ${l.gpuIndex}` : ""
              } · ${l.origin} · ${l.outcome}`,
              l.detail ? ": " : "",
              l.detail ? trunc(l.detail) : "",
            ),
          )
        : [li("", "none yet")]),
    );
    $("d-events").replaceChildren(
      ...(d.events.length > 0
        ? d.events.map((e) => li(`event ${e.severity}`, `${fmt.time(e.at)} ${e.message}`))
        : [li("", "none")]),
    );
    const ex = $("d-exclusion");
    ex.hidden = !d.exclusion;
    if (d.exclusion) {
      const x = d.exclusion;
      text(
        ex,
        `Excluded from automatic control by ${x.by} at ${fmt.time(x.at)}${x.reason ? `: ${x.reason}` : ""}${
          x.until ? ` — back in automatic control at ${fmt.time(x.until)}` : " — until included"
        }`,
      );
    }
  }

  function renderActions(d) {
    const op = ctx.session().operator;
    $("d-actions").hidden = !op;
    if (!op) return;
    const key = d.actions.map((a) => a.action).join(",");
    const box = $("d-buttons");
    if (box.dataset.key === key) return;
    box.dataset.key = key;
    const button = (action, label, seconds) => {
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.action = action;
      if (seconds !== undefined) b.dataset.seconds = String(seconds);
      b.textContent = label;
      return b;
    };
    // locate comes as two buttons: blink for the default time, and stop (seconds 0)
    box.replaceChildren(
      ...d.actions.flatMap((a) =>
        a.action === "locate"
          ? [button("locate", "Locate (5 min)"), button("locate", "Stop locate", 0)]
          : [button(a.action, a.label)],
      ),
    );
  }

  function render(d) {
    data = d;
    $("d-loading").hidden = true;
    $("d-body").hidden = false;
    text($("d-id"), d.id);
    const pill = $("d-state");
    text(pill, d.exclusion ? `${d.state ?? "?"} · excluded` : (d.state ?? "no reading"));
    pill.dataset.state =
      d.state === "hashing" || d.state === "ok" ? "ok" : d.state === "sleeping" ? "warn" : "bad";
    dialog.dataset.id = d.id;
    renderFacts(d);
    renderBoards(d);
    renderPools(d);
    renderSpark(d);
    renderLists(d);
    renderActions(d);
  }

  async function refresh() {
    if (!current) return;
    const id = current;
    try {
      const d = await ctx.getJson(`/api/devices/${encodeURIComponent(id)}`);
      if (current === id) render(d);
    } catch (err) {
      if (current === id && !data) text($("d-loading"), `could not load ${id}: ${err.message}`);
    }
  }

  function closeConfirm() {
    confirming = null;
    $("d-confirm").hidden = true;
  }

  function showConfirm(action, seconds) {
    const offered = data?.actions.find((x) => x.action === action);
    if (!offered) return;
    const off = action === "locate" && seconds === 0;
    const a = off
      ? { ...offered, label: "Stop locate", seconds: 0 }
      : action === "locate"
        ? { ...offered, label: "Locate (5 min)" }
        : offered;
    confirming = a;
    $("d-confirm").hidden = false;
    text($("d-result"), "");
    text($("d-audit"), "");
    const parts = [`${a.label} ${data.id}?`, WHY[off ? "locate-off" : a.action] ?? ""];
    $("d-value-row").hidden = !a.value;
    if (a.value) {
      const input = $("d-value");
      input.min = a.value.min ?? "";
      input.max = a.value.max ?? "";
      input.value = String(a.value.current ?? a.value.max ?? "");
      if (a.value.min != null && a.value.max != null)
        parts.push(
          `Between ${exactW(a.value.min)} and ${exactW(a.value.max)} (the model's and firmware's range).`,
        );
    }
    const exclude = a.action === "exclude";
    $("d-reason-row").hidden = !exclude;
    $("d-until-row").hidden = !exclude;
    if (exclude) {
      $("d-reason").value = "";
      $("d-until").value = "";
    }
    text($("d-confirm-text"), parts.filter(Boolean).join(" "));
    $("d-confirm").scrollIntoView({ block: "nearest" });
  }

  /**
   * "16:00" → { until: the next 16:00 on this device's clock, as an ISO time };
   * "30m", "2h", "90" → { untilS } as the server reads durations; "" → nothing.
   */
  function untilOf(raw) {
    const t = raw.trim();
    if (t === "") return {};
    const m = /^(\d{1,2}):(\d{2})$/.exec(t);
    if (!m) return { untilS: t };
    const at = new Date();
    at.setHours(Number(m[1]), Number(m[2]), 0, 0);
    if (at.getTime() <= Date.now()) at.setDate(at.getDate() + 1);
    return { until: at.toISOString() };
  }

  async function submit() {
    const a = confirming;
    if (!a || busy) return;
    const body = { kind: "device", id: data.id, action: a.action };
    if (a.seconds !== undefined) body.seconds = a.seconds;
    if (a.value) {
      const v = Number($("d-value").value);
      if (!Number.isFinite(v) || v <= 0) {
        $("d-result").className = "result bad";
        text($("d-result"), "enter a power limit in watts");
        return;
      }
      if ((a.value.min != null && v < a.value.min) || (a.value.max != null && v > a.value.max)) {
        $("d-result").className = "result bad";
        text($("d-result"), `outside ${exactW(a.value.min)}–${exactW(a.value.max)}: nothing sent`);
        return;
      }
      body.value = v;
    }
    if (a.action === "exclude") {
      const reason = $("d-reason").value.trim();
      if (reason) body.reason = reason;
      Object.assign(body, untilOf($("d-until").value));
    }
    busy = true;
    $("d-confirm-yes").disabled = true;
    $("d-result").className = "result";
    text($("d-result"), "working… (waiting for the device to confirm)");
    text($("d-audit"), "");
    try {
      const { status, data: r } = await ctx.post("/api/actions", body);
      if (status === 401) await ctx.sessionLost();
      const ok = status === 200 && r.ok;
      $("d-result").className = ok ? "result ok" : "result bad";
      text(
        $("d-result"),
        ok ? `done${r.detail ? `: ${r.detail}` : ""}` : `refused: ${r.error ?? `HTTP ${status}`}`,
      );
      $("d-result").dataset.outcome = ok ? "done" : "refused";
      if (r.audit) {
        const x = r.audit;
        text(
          $("d-audit"),
          `Audit entry #${x.id}: ${x.who} via ${x.via} at ${fmt.time(x.at)} — ${x.action} ${a.action}: ${x.ok ? "ok" : "refused"}`,
        );
      }
      closeConfirm();
    } finally {
      busy = false;
      $("d-confirm-yes").disabled = false;
    }
    await refresh();
    ctx.changed();
  }

  dialog.addEventListener("click", (ev) => {
    const t = ev.target;
    if (t?.classList?.contains("trunc")) {
      const open = t.classList.toggle("open");
      t.setAttribute("aria-expanded", String(open));
    }
  });
  dialog.addEventListener("keydown", (ev) => {
    if ((ev.key === "Enter" || ev.key === " ") && ev.target?.classList?.contains("trunc")) {
      ev.preventDefault();
      ev.target.click();
    }
  });
  $("d-buttons").addEventListener("click", (ev) => {
    const action = ev.target?.dataset?.action;
    const seconds = ev.target?.dataset?.seconds;
    if (action) showConfirm(action, seconds === undefined ? undefined : Number(seconds));
  });
  $("d-confirm").addEventListener("submit", (ev) => {
    ev.preventDefault();
    submit();
  });
  $("d-confirm-no").addEventListener("click", closeConfirm);
  $("d-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    current = null;
    data = null;
    closeConfirm();
    ctx.closed();
  });

  return {
    async open(id) {
      if (current !== id) {
        data = null;
        closeConfirm();
        text($("d-result"), "");
        text($("d-audit"), "");
        $("d-buttons").dataset.key = "";
        $("d-body").hidden = true;
        $("d-loading").hidden = false;
        text($("d-loading"), "loading…");
        text($("d-id"), id);
      }
      current = id;
      if (!dialog.open) dialog.showModal();
      await refresh();
    },
    refresh,
    renderSession() {
      if (data) renderActions(data);
    },
    isOpen: () => dialog.open,
    id: () => current,
  };
}
