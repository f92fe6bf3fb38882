// Switchyard status page: polls the read API every second and renders it.
// Plain JavaScript, no build step, no dependencies. Everything shown comes
// from this origin's /v1 endpoints; the token (when reads are protected)
// lives in this tab's sessionStorage only. Text from the server is only ever
// set with textContent, never parsed as HTML.
"use strict";

(function () {
  const POLL_MS = 1000;
  const REQUEST_TIMEOUT_MS = 4000;
  const TOKEN_KEY = "switchyard.token";

  const $ = (id) => document.getElementById(id);

  // --- small DOM helpers -------------------------------------------------

  /** An element with attributes (`class`, `data-*`, ...) and children (nodes or text). */
  function h(tag, attrs, ...children) {
    const el = tag.startsWith("svg:")
      ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
      : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined) continue;
      el.append(c instanceof Node ? c : String(c));
    }
    return el;
  }

  function replaceRows(tbody, rows) {
    tbody.replaceChildren(...rows);
  }

  // --- formatting --------------------------------------------------------

  function duration(secs) {
    secs = Math.max(0, Math.floor(secs));
    if (secs < 60) return secs + "s";
    const m = Math.floor(secs / 60), s = secs % 60;
    if (m < 60) return m + "m " + String(s).padStart(2, "0") + "s";
    const hrs = Math.floor(m / 60);
    if (hrs < 48) return hrs + "h " + String(m % 60).padStart(2, "0") + "m";
    return Math.floor(hrs / 24) + "d " + (hrs % 24) + "h";
  }

  function ago(unixMs) {
    if (unixMs === null || unixMs === undefined) return "never";
    return duration((Date.now() - unixMs) / 1000) + " ago";
  }

  function clock(text) {
    if (!text) return "-";
    const d = new Date(text);
    return isNaN(d) ? String(text) : d.toLocaleString();
  }

  function ms(v) {
    return typeof v === "number" ? v.toFixed(1) + " ms" : "-";
  }

  function list(v) {
    return Array.isArray(v) && v.length ? v.join(" ") : "-";
  }

  function failure(reason) {
    if (!reason) return "no failure recorded";
    switch (reason.kind) {
      case "status": return "unexpected status " + reason.code;
      case "timeout": return "timed out";
      case "connection_refused": return "connection refused";
      case "tls": return "tls error: " + reason.detail;
      case "body_mismatch": return "body does not contain the expected text";
      case "io": return "i/o error: " + reason.detail;
      default: return reason.kind || "failed";
    }
  }

  /** A region's one-word state: forced beats health, health beats weight. */
  function regionState(r) {
    if (r.forced === "down") return "forced-down";
    if (r.forced === "up") return "forced-up";
    if (!r.healthy) return "down";
    if (r.drained) return "drained";
    return "up";
  }

  const STATE_TEXT = {
    "up": "up", "down": "down", "drained": "drained",
    "forced-up": "forced up", "forced-down": "forced down",
  };

  // --- fetching ----------------------------------------------------------

  class Unauthorized extends Error {}

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  async function get(path) {
    const headers = { "Accept": "application/json" };
    const t = token();
    if (t) headers["Authorization"] = "Bearer " + t;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_MS);
    try {
      const response = await fetch(path, {
        headers, cache: "no-store", credentials: "omit", signal: abort.signal,
      });
      const body = await response.json().catch(() => null);
      if (response.status === 401) throw new Unauthorized(errorText(body, "unauthorized"));
      if (!response.ok) {
        const e = new Error(errorText(body, "HTTP " + response.status));
        e.status = response.status;
        throw e;
      }
      return body;
    } finally {
      clearTimeout(timer);
    }
  }

  function errorText(body, fallback) {
    return (body && body.error && body.error.message) || fallback;
  }

  // --- state -------------------------------------------------------------

  const view = {
    // When each override's countdown reaches zero, in this browser's clock
    // (from the server's expires_in_secs, so clock skew does not matter).
    deadlines: new Map(),
    selectedDrill: null,
    startedAt: null,
    lastOk: null,
    polling: false,
  };

  // --- login -------------------------------------------------------------

  function showLogin(message) {
    $("main").hidden = true;
    clearData();
    $("login").hidden = false;
    $("forget").hidden = true;
    $("login-error").textContent = message || "";
    setConn("locked", "token required");
    $("token").focus();
  }

  /** Forgets everything rendered, so nothing stays on screen without a token. */
  function clearData() {
    for (const id of ["regions", "overrides-table", "drills-table"]) {
      $(id).querySelector("tbody").replaceChildren();
    }
    $("instances").querySelector("tbody").replaceChildren();
    $("dots").replaceChildren();
    $("unplaced").textContent = "";
    $("traffic-services").replaceChildren();
    $("traffic-meta").textContent = "";
    $("drill-report").replaceChildren();
    $("explain-result").replaceChildren();
    $("explain-raw").textContent = "";
    $("explain-raw-box").hidden = true;
    $("service-names").replaceChildren();
    $("meta").textContent = "";
    view.deadlines.clear();
  }

  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("token").value.trim();
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    $("token").value = "";
    $("login-error").textContent = "";
    $("login").hidden = true;
    poll();
  });

  $("forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin("");
  });

  function setConn(state, text) {
    const el = $("conn");
    el.dataset.state = state;
    el.textContent = text;
  }

  // --- the poll loop -----------------------------------------------------

  let timer = null;

  async function poll() {
    if (view.polling) return;
    view.polling = true;
    clearTimeout(timer);
    try {
      // One request first: a refused token costs one failed attempt, not
      // five (the API locks an address out after a few).
      const status = await get("/v1/status");
      const [regions, traffic, overrides, drills] = await Promise.all([
        get("/v1/regions"), get("/v1/traffic"), get("/v1/overrides"), get("/v1/drills"),
      ]);
      let report = null;
      const chosen = chooseDrill(drills.drills || []);
      if (chosen) report = await get("/v1/drills/" + encodeURIComponent(chosen)).catch(() => null);
      $("login").hidden = true;
      $("main").hidden = false;
      $("main").classList.remove("stale");
      $("forget").hidden = !token();
      render(status, regions, traffic, overrides, drills, report);
      view.lastOk = Date.now();
      setConn("live", "live");
      timer = setTimeout(poll, POLL_MS);
    } catch (e) {
      if (e instanceof Unauthorized) {
        // A wrong or missing token: show nothing but the token form, and
        // wait for the operator (no retry loop against the auth check).
        const had = token();
        sessionStorage.removeItem(TOKEN_KEY);
        showLogin(had ? "That token was refused: " + e.message : "");
      } else {
        // The server is away (restarting, unreachable) or failing: keep
        // the last view, marked stale, and keep trying.
        $("main").classList.add("stale");
        const since = view.lastOk ? " since " + new Date(view.lastOk).toLocaleTimeString() : "";
        const what = e.status ? "server error (" + e.message + ")" : "disconnected";
        setConn("down", what + since + ": retrying");
        document.title = "(stale) Switchyard status";
        timer = setTimeout(poll, POLL_MS);
      }
    } finally {
      view.polling = false;
    }
  }

  function chooseDrill(drills) {
    if (!drills.length) {
      view.selectedDrill = null;
      return null;
    }
    if (!drills.some((d) => d.id === view.selectedDrill)) {
      // Default: a running drill, else the newest.
      const running = drills.filter((d) => d.phase !== "finished");
      const pool = running.length ? running : drills;
      view.selectedDrill = pool[pool.length - 1].id;
    }
    return view.selectedDrill;
  }

  // --- rendering ---------------------------------------------------------

  function render(status, regions, traffic, overrides, drills, report) {
    renderMeta(status);
    renderRegions(regions.regions || []);
    renderInstances(status.instances);
    renderTraffic(traffic);
    renderOverrides(overrides.overrides || []);
    renderDrills(drills.drills || [], report);
    const names = (traffic.services || []).map((s) => h("option", { value: s.name.replace(/\.$/, "") }));
    $("service-names").replaceChildren(...names);
  }

  function renderMeta(status) {
    const snap = status.snapshot || {};
    const parts = [
      "version " + status.version,
      "generation " + snap.generation,
      "snapshot age " + duration(snap.age_secs || 0),
      "up " + duration(status.uptime_secs || 0),
    ];
    if (status.last_reload) parts.push("last reload " + (status.last_reload.ok ? "ok" : "FAILED: " + status.last_reload.error));
    if (view.startedAt && view.startedAt !== status.started_at) parts.push("restarted " + clock(status.started_at));
    view.startedAt = view.startedAt || status.started_at;
    $("meta").textContent = parts.join(" · ");
  }

  function renderRegions(regions) {
    // The tab title says at a glance whether anything is wrong.
    const notUp = regions.filter((r) => regionState(r) !== "up").length;
    document.title = (notUp ? notUp + " of " + regions.length + " regions not up · " : "") + "Switchyard status";
    const rows = regions.map((r) => {
      const state = regionState(r);
      const total = (r.endpoints || []).length;
      const failing = (r.endpoints || []).filter((e) => !e.up || (e.check && e.check.state === "down"));
      const failingList = failing.length
        ? h("ul", { class: "failing" }, failing.map((e) => h("li", { "data-endpoint": e.id },
          h("strong", {}, e.id), " ", e.answer, ": ",
          h("span", { class: "reason" }, e.check ? failure(e.check.last_failure) : "marked down"),
          e.check ? h("span", { class: "muted" }, " · last probe ", ago(e.check.last_probe_unix_ms)) : null)))
        : h("span", { class: "muted" }, "none");
      return h("tr", { "data-region": r.name, "data-state": state },
        h("td", { class: "name" }, h("strong", {}, r.name)),
        h("td", {}, h("span", { class: "state " + state }, STATE_TEXT[state])),
        h("td", { class: "num" }, r.effective_weight + " / " + r.configured_weight),
        h("td", { class: "num" }, r.endpoints_up + " / " + total),
        h("td", {}, failingList));
    });
    replaceRows($("regions").querySelector("tbody"), rows);

    const dots = [];
    const unplaced = [];
    for (const r of regions) {
      if (!Array.isArray(r.coordinates)) {
        unplaced.push(r.name);
        continue;
      }
      const [lat, lon] = r.coordinates;
      const state = regionState(r);
      dots.push(h("svg:g", { "data-region": r.name },
        h("svg:circle", { class: "dot " + state, cx: lon, cy: -lat, r: 3.2 },
          h("svg:title", {}, r.name + ": " + STATE_TEXT[state])),
        h("svg:text", { class: "dot-label", x: lon + 4.5, y: -lat + 2 }, r.name)));
    }
    $("dots").replaceChildren(...dots);
    $("unplaced").textContent = unplaced.length ? "Without coordinates: " + unplaced.join(", ") : "";
  }

  function renderInstances(instances) {
    const section = $("instances");
    // A lone instance (local store, or a cluster of one) has nothing to
    // compare with: the section is for several nameservers.
    if (!Array.isArray(instances) || instances.length < 2) {
      section.hidden = true;
      return;
    }
    section.hidden = false;
    const rows = instances.map((i) => h("tr", { "data-instance": i.instance },
      h("td", {}, h("strong", {}, i.instance)),
      h("td", {}, h("span", { class: "state " + (i.live ? "up" : "down") }, i.live ? "live" : "gone")),
      h("td", {}, h("code", { title: i.config_digest || "" }, String(i.config_digest || "-").slice(0, 16))),
      h("td", { class: "num" }, i.generation === undefined || i.generation === null ? "-" : i.generation),
      h("td", {}, contact(i.last_contact)),
      h("td", {}, i.config_matches === false
        ? h("span", { class: "reason" }, "differs")
        : i.config_matches ? "matches" : "-")));
    replaceRows(section.querySelector("tbody"), rows);
  }

  /** `last_contact` as an RFC 3339 time or Unix milliseconds. */
  function contact(v) {
    if (v === null || v === undefined) return "-";
    const at = typeof v === "number" ? v : Date.parse(v);
    return isNaN(at) ? String(v) : ago(at);
  }

  function renderTraffic(traffic) {
    const windowSecs = Math.round(traffic.window_secs || 0);
    $("traffic-meta").textContent =
      "Snapshot generation " + traffic.generation + ", built " + duration(traffic.age_secs || 0) +
      " ago. Answers over the last " + (windowSecs ? windowSecs + "s" : "moment (collecting)") +
      ", from the counters /metrics exposes; a tick marks a weighted region's configured share.";
    const cards = (traffic.services || []).map((s) => {
      const effective = new Map(s.regions.map((r) => [r.name, r]));
      const expected = expectedShares(s);
      const rows = s.answers
        .filter((a) => a.reason === "policy" || a.last_minute > 0)
        .map((a) => {
          const bar = h("span");
          bar.style.width = (a.share * 100).toFixed(1) + "%";
          const cells = [bar];
          if (expected.has(a.region)) {
            const mark = h("i", { class: "expected", title: "configured share" });
            mark.style.left = (expected.get(a.region) * 100).toFixed(1) + "%";
            cells.push(mark);
          }
          const label = a.reason === "policy" ? a.region : a.region + " (" + a.reason.replace("_", " ") + ")";
          const region = effective.get(a.region);
          return h("div", { class: "bar-row", "data-region": a.region, "data-reason": a.reason },
            h("span", {}, label, region && !region.available ? h("span", { class: "reason" }, " ✕") : null),
            h("div", { class: "bar" }, cells),
            h("span", { class: "share" }, (a.share * 100).toFixed(0) + "% (" + a.last_minute + ")"));
        });
      return h("div", { class: "card", "data-service": s.name },
        h("h3", {}, s.name.replace(/\.$/, "")),
        h("p", { class: "config" }, configText(s)),
        rows,
        h("p", { class: "muted" }, s.counted
          ? s.last_minute_total + " answers in the window"
          : "answers are not counted ([metrics] query_metrics = false)"));
    });
    $("traffic-services").replaceChildren(...cards);
  }

  /** Weighted services: each available region's share of the effective weight. */
  function expectedShares(s) {
    const out = new Map();
    if (s.policy !== "weighted") return out;
    const live = s.regions.filter((r) => r.available);
    const sum = live.reduce((n, r) => n + r.effective_weight, 0);
    if (!sum) return out;
    for (const r of live) out.set(r.name, r.effective_weight / sum);
    return out;
  }

  function configText(s) {
    const weights = () => s.regions.map((r) =>
      r.name + " " + r.effective_weight + (r.effective_weight !== r.configured_weight ? " (configured " + r.configured_weight + ")" : "")).join(" · ");
    let text;
    switch (s.policy) {
      case "weighted": text = "weighted: " + weights(); break;
      case "failover": text = "failover: " + (s.tiers || []).map((t, i) => (i + 1) + ". " + t.join(", ")).join("  →  "); break;
      case "geo": {
        const r = s.rules || {};
        const map = (o) => Object.entries(o || {}).map(([k, v]) => k + " → " + v.join(", "));
        const parts = [];
        if (r.networks) parts.push(r.networks + " subnet rule" + (r.networks === 1 ? "" : "s"));
        parts.push(...map(r.country), ...map(r.continent));
        if (r.default && r.default.length) parts.push("default → " + r.default.join(", "));
        text = "geo: " + parts.join(" · ");
        break;
      }
      case "nearest": text = "nearest: " + s.regions.map((r) => r.name + (r.bias_km ? " (+" + r.bias_km + " km)" : "")).join(" · "); break;
      case "multivalue": text = "multivalue: up to " + s.max_answers + " endpoints from " + s.regions.map((r) => r.name).join(", "); break;
      default: text = s.policy;
    }
    return text + " · all down: " + s.all_down.replace("_", " ");
  }

  function renderOverrides(overrides) {
    const now = Date.now();
    const seen = new Set();
    const rows = overrides.map((o) => {
      seen.add(o.id);
      if (typeof o.expires_in_secs === "number") {
        // The server sends whole seconds left, rounded down: the deadline
        // is before now + (secs + 1). Keep the tightest such bound over
        // the polls, so the countdown never runs backwards and never
        // reaches zero before the override really expires.
        const bound = now + (o.expires_in_secs + 1) * 1000;
        const known = view.deadlines.get(o.id);
        view.deadlines.set(o.id, known === undefined ? bound : Math.min(known, bound));
      } else {
        view.deadlines.delete(o.id);
      }
      const change = o.action === "weight" ? "weight " + o.weight
        : o.action === "force" ? "force " + o.state : o.action;
      return h("tr", { "data-override": o.id, "data-region": o.region },
        h("td", {}, h("code", {}, o.id)),
        h("td", {}, o.region),
        h("td", {}, change),
        h("td", {}, o.who),
        h("td", {}, o.why),
        h("td", {}, clock(o.created)),
        h("td", { class: "countdown", "data-id": o.id }, ""));
    });
    for (const id of [...view.deadlines.keys()]) if (!seen.has(id)) view.deadlines.delete(id);
    replaceRows($("overrides-table").querySelector("tbody"), rows);
    $("overrides-table").hidden = rows.length === 0;
    $("no-overrides").hidden = rows.length !== 0;
    tickCountdowns();
  }

  function tickCountdowns() {
    for (const cell of document.querySelectorAll("td.countdown")) {
      const deadline = view.deadlines.get(cell.dataset.id);
      if (deadline === undefined) {
        cell.textContent = "never";
        continue;
      }
      const left = (deadline - Date.now()) / 1000;
      cell.textContent = left > 0 ? "in " + duration(Math.ceil(left)) : "expiring…";
    }
  }

  function renderDrills(drills, report) {
    const rows = drills.slice().reverse().map((d) => {
      const row = h("tr", { class: "selectable" + (d.id === view.selectedDrill ? " selected" : ""), "data-drill": d.id },
        h("td", {}, h("code", {}, d.id)),
        h("td", {}, list(d.regions)),
        h("td", {}, h("span", { class: "state " + d.phase }, d.phase.replace("_", " "))),
        h("td", {}, h("span", { class: "state " + d.result }, d.result)),
        h("td", {}, clock(d.created)),
        h("td", {}, clock(d.ends_at)),
        h("td", { class: "num" }, d.failed_pairs + " / " + d.pairs),
        h("td", { class: "num" }, ms(d.max_convergence_ms)),
        h("td", {}, d.who),
        h("td", {}, d.why));
      row.addEventListener("click", () => {
        view.selectedDrill = d.id;
        poll();
      });
      return row;
    });
    replaceRows($("drills-table").querySelector("tbody"), rows);
    $("drills-table").hidden = rows.length === 0;
    $("no-drills").hidden = rows.length !== 0;
    $("drill-report").replaceChildren(...(report ? drillReport(report) : []));
  }

  /** The report `switchyard ctl drill show` prints: header, timeline, per-vantage table, impact. */
  function drillReport(r) {
    const impact = r.impact || {};
    const timeline = (r.timeline || []).map((e) => h("tr", {},
      h("td", {}, clock(e.at)), h("td", {}, e.what), h("td", {}, e.detail || "")));
    const pairs = (r.pairs || []).map((p) => h("tr", { "data-vantage": p.vantage },
      h("td", {}, p.service),
      h("td", {}, p.vantage + " (" + p.subnet + ")"),
      h("td", {}, list(p.before)),
      h("td", {}, list(p.during)),
      h("td", {}, list(p.after)),
      h("td", { class: "num" }, ms(p.convergence_ms)),
      h("td", { class: "num" }, ms(p.restore_ms)),
      h("td", {}, h("span", { class: "state " + p.result }, p.result), p.reason ? " " + p.reason : "")));
    const worst = typeof impact.worst_case_ms === "number" ? (impact.worst_case_ms / 1e3).toFixed(1) + " s" : "-";
    return [h("div", { class: "report", "data-drill": r.id },
      h("h3", {}, "Drill " + r.id + " ", h("span", { class: "state " + r.result }, String(r.result).toUpperCase()), " ",
        h("span", { class: "muted" }, "phase: " + r.phase)),
      h("p", {}, "regions: " + list(r.regions) + " · services: " + list(r.services) + " · duration: " + r.duration_secs + "s"),
      h("p", {}, "by " + r.who + ": " + r.why),
      h("h3", {}, "Timeline"),
      h("table", { class: "grid" }, h("thead", {}, h("tr", {}, h("th", {}, "Time"), h("th", {}, "Event"), h("th", {}, "Detail"))),
        h("tbody", {}, timeline)),
      h("h3", {}, "Per vantage"),
      h("table", { class: "grid" }, h("thead", {}, h("tr", {},
        ["Service", "Vantage", "Before", "During", "After", "Convergence", "Restore", "Result"].map((t) => h("th", {}, t)))),
        h("tbody", {}, pairs)),
      h("p", { class: "muted" }, "expected worst-case client impact: detection " + impact.detection_ms + " ms + convergence " +
        ms(impact.max_convergence_ms) + " + cached answers up to " + impact.max_ttl_secs + " s (max TTL) = " + worst))];
  }

  // --- explain -----------------------------------------------------------

  $("explain-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const params = new URLSearchParams({
      name: $("explain-name").value.trim(),
      type: $("explain-type").value,
      client: $("explain-client").value.trim(),
    });
    const seed = $("explain-seed").value.trim();
    if (seed) params.set("seed", seed);
    $("explain-error").textContent = "";
    try {
      const answer = await get("/v1/explain?" + params.toString());
      $("explain-result").replaceChildren(...explainView(answer));
      $("explain-raw").textContent = JSON.stringify(answer, null, 2);
      $("explain-raw-box").hidden = false;
    } catch (e) {
      if (e instanceof Unauthorized) {
        sessionStorage.removeItem(TOKEN_KEY);
        showLogin("That token was refused: " + e.message);
        return;
      }
      $("explain-result").replaceChildren();
      $("explain-raw-box").hidden = true;
      $("explain-error").textContent = e.message;
    }
  });

  function explainView(x) {
    const client = x.client || {};
    const loc = client.location || {};
    const where = [loc.country, loc.continent].filter(Boolean).join(", ") || "unknown location";
    const out = [h("p", { class: "explain-summary" },
      "Client " + client.address + (client.subnet ? " (ECS " + client.subnet + ")" : "") + ": " + where +
      " (from " + loc.source + (loc.network ? " " + loc.network : "") + "). Seed " + x.seed + ", generation " + x.generation + ".")];
    const s = x.service;
    if (s) {
      const decision = s.decision || {};
      out.push(h("p", {}, h("strong", {}, s.name), " · " + s.policy + " · TTL " + s.ttl +
        (s.rule && s.rule.kind ? " · rule: " + s.rule.kind + (s.rule.match ? " " + s.rule.match : "") : "")));
      out.push(h("p", { id: "explain-decision" }, decision.summary || ""));
      out.push(h("table", { class: "grid" },
        h("thead", {}, h("tr", {}, ["Region", "Available", "Weight", "Endpoints", "Chosen", "Why"].map((t) => h("th", {}, t)))),
        h("tbody", {}, (s.candidates || []).map((c) => h("tr", { "data-candidate": c.region },
          h("td", {}, c.region),
          h("td", {}, c.available ? "yes" : "no"),
          h("td", { class: "num" }, c.effective_weight + " / " + c.configured_weight),
          h("td", { class: "num" }, c.endpoints_up + " / " + c.endpoints),
          h("td", {}, c.chosen ? "✓" : ""),
          h("td", {}, c.why || ""))))));
      if (s.note) out.push(h("p", { class: "muted" }, s.note));
    } else {
      out.push(h("p", { class: "muted" }, "No policy answers this name: it is answered from the zone files."));
    }
    const a = x.answer || {};
    out.push(h("p", {}, "Answer: " + a.rcode + (a.ecs_scope !== null && a.ecs_scope !== undefined ? " · ECS scope /" + a.ecs_scope : "")));
    out.push(h("table", { class: "grid", id: "explain-records" },
      h("thead", {}, h("tr", {}, ["Name", "Type", "TTL", "Data"].map((t) => h("th", {}, t)))),
      h("tbody", {}, [...(a.records || []), ...(a.authority || [])].map((rec) => h("tr", {},
        h("td", {}, rec.name), h("td", {}, rec.type), h("td", { class: "num" }, rec.ttl), h("td", {}, rec.data))))));
    return out;
  }

  // --- start -------------------------------------------------------------

  setInterval(tickCountdowns, 250);
  poll();
})();
