// crosscloud dashboard: polls the control plane's API (same origin, bearer token from
// sessionStorage) and redraws. Every value goes in with textContent, never as HTML.
"use strict";

const KEY = "crosscloud.token";
const POLL_MS = 2000;
const EVENTS = 25;
let features = null;
let timer = null;

const $ = (id) => document.getElementById(id);

class Unauthorized extends Error {}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function api(path) {
  const response = await fetch(path, {
    headers: { Authorization: "Bearer " + sessionStorage.getItem(KEY) },
    cache: "no-store",
    credentials: "omit",
  });
  if (response.status === 401) throw new Unauthorized();
  const body = await response.json();
  if (!response.ok) throw new Error(`${path}: ${response.status} ${body.detail || body.error}`);
  return body;
}

const fixed = (value, digits) => (value === null || value === undefined ? "—" : value.toFixed(digits));
const dollars = (value) => (value === null || value === undefined ? "—" : "$" + value.toFixed(2));
const clock = (ts) => new Date(ts * 1000).toLocaleTimeString([], { hour12: false });
const ago = (ts) => {
  const s = Math.max(0, Date.now() / 1000 - ts);
  return s < 90 ? `${Math.round(s)} s ago` : s < 5400 ? `${Math.round(s / 60)} min ago` : `${(s / 3600).toFixed(1)} h ago`;
};

const tokens = (auth) =>
  !auth ? "—" : auth.mode === "open" ? "none: open to all" : `${auth.active_tokens} active`;

function drawDeployments(status) {
  const body = $("deployments").tBodies[0];
  const role = status.controlplane ? status.controlplane.role || "" : "";
  body.replaceChildren(
    ...status.deployments.map((d) =>
      el("tr", { "data-deployment": d.name },
        el("td", {}, d.name), el("td", {}, "v" + d.version), el("td", {}, d.manifest),
        el("td", {}, ago(d.updated_at)), el("td", {}, tokens(d.auth)), el("td", {}, role))),
  );
  $("no-deployments").hidden = status.deployments.length > 0;
  const gw = status.gateway;
  $("where").textContent = gw && gw.url ? `gateway ${gw.url}${gw.running ? "" : " (not running)"}` : "";
  const loop = status.loop || {};
  const warn = loop.stale ? `The control loop has not completed a pass lately: ${loop.error || "it may be stuck"}` : "";
  $("banner").textContent = warn;
  $("banner").hidden = !warn;
}

function drawRegions(traffic) {
  const rows = [];
  let last = null;
  for (const r of traffic.regions) {
    if (r.deployment !== last) {
      rows.push(el("tr", { class: "deployment" }, el("td", { colspan: "12" }, r.deployment)));
      last = r.deployment;
    }
    const versions = r.versions.length ? r.versions.map((v) => "v" + v).join(", ") : "—";
    rows.push(
      el("tr", { class: "health-" + r.health, "data-region": `${r.service} ${r.placement}`, title: r.reason },
        el("td", {}, el("span", { class: "dot", "aria-label": r.health })),
        el("td", {}, r.service), el("td", {}, r.placement),
        el("td", {}, el("span", { class: "replicas" }, `${r.ready}/${r.desired}`),
          r.spot_desired || r.spot_ready ? el("span", { class: "muted" }, ` (${r.spot_ready} spot)`) : ""),
        el("td", {}, versions),
        el("td", { class: "num rps" }, fixed(r.rps, 1)), el("td", { class: "num" }, fixed(r.tokens_per_s, 0)),
        el("td", { class: "num" }, fixed(r.p50_ms, 1)), el("td", { class: "num" }, fixed(r.p99_ms, 1)),
        el("td", { class: "num" }, r.errors), el("td", { class: "num" }, r.ejections),
        el("td", { class: "why" }, r.reason)));
  }
  $("regions").tBodies[0].replaceChildren(...rows);
  $("window").textContent = traffic.window_s ? `(traffic over the last ${traffic.window_s} s)` : "(traffic: measuring…)";
  const lost = Object.entries(traffic.unrouted).map(([s, n]) => `${s}: ${n.errors} request(s) no replica answered (5xx)`);
  if (traffic.gateway_error) lost.unshift(traffic.gateway_error);
  $("unrouted").textContent = lost.join("; ");
  $("unrouted").hidden = lost.length === 0;
}

function drawEvents(events) {
  $("events").replaceChildren(
    ...events.slice().reverse().map((e) =>
      el("li", {},
        el("span", { class: "muted" }, clock(e.ts) + " "), e.deployment + " ",
        el("span", { class: "kind kind-" + e.kind }, e.kind), ": " + e.message)),
  );
}

function notAvailable(id, what) {
  $(id).querySelector(".body").replaceChildren(
    el("p", { class: "na" }, `Not available: this control plane has no ${what} API yet.`));
}

function drawCost(cost) {
  // by service, since the ledger began: $/h of what runs now, $ to date, $ per 1k requests
  const rows = cost.rows.map((r) =>
    el("tr", { "data-cost": r.key }, el("td", {}, r.key),
      el("td", { class: "num" }, dollars(r.hourly) + "/h"), el("td", { class: "num" }, dollars(r.cost)),
      el("td", { class: "num" }, r.requests === null ? "—" : r.requests),
      el("td", { class: "num" }, r.per_1k_requests === null ? "—" : "$" + r.per_1k_requests.toFixed(4))));
  $("cost").querySelector(".body").replaceChildren(
    el("div", { class: "figures" },
      el("div", {}, el("div", { class: "figure", id: "cost-hour" }, dollars(cost.hourly)), "per hour now"),
      el("div", {}, el("div", { class: "figure", id: "cost-total" }, dollars(cost.total)), "to date")),
    el("table", {},
      el("thead", {}, el("tr", {}, el("th", {}, "service"), el("th", { class: "num" }, "now"),
        el("th", { class: "num" }, "to date"), el("th", { class: "num" }, "requests"),
        el("th", { class: "num" }, "per 1k req"))),
      el("tbody", {}, ...rows)));
}

const limits = (q) =>
  [q.rps !== undefined ? `${q.rps} req/s (burst ${q.burst ?? q.rps})` : "",
   q.concurrency !== undefined ? `${q.concurrency} concurrent` : "",
   q.tokensPerMinute !== undefined ? `${q.tokensPerMinute} tokens/min` : ""].filter(Boolean).join(", ") || "no limit";

function drawQuotas(quotas) {
  const rows = quotas.tokens.map((t) =>
    el("tr", { "data-token": t.name },
      el("td", {}, t.name), el("td", {}, t.deployment), el("td", { class: "muted" }, "…" + t.last4),
      el("td", { class: "num in-use" }, t.rps.toFixed(1) + " req/s" +
        (t.tokens_per_minute > 0 ? `, ${Math.round(t.tokens_per_minute)} tokens/min` : "")),
      el("td", { class: "num refused" + (t.throttled_rps > 0 ? " error" : "") }, t.throttled_rps.toFixed(1) + " refused/s"),
      el("td", {}, limits(t.quota))));
  $("quotas").querySelector(".body").replaceChildren(rows.length
    ? el("table", {},
      el("thead", {}, el("tr", {}, el("th", {}, "token"), el("th", {}, "deployment"), el("th", {}, ""),
        el("th", { class: "num" }, "in use"), el("th", { class: "num" }, "429"), el("th", {}, "quota"))),
      el("tbody", {}, ...rows))
    : el("p", { class: "muted" }, "No API token: the services are open (crosscloud token create)."));
}

// A failing cost or quota call says so in its own panel; the rest of the page goes on.
const optional = (call) =>
  call.catch((err) => (err instanceof Unauthorized ? Promise.reject(err) : { failed: err.message }));

function panel(id, what, data, draw) {
  if (data === null) notAvailable(id, what);
  else if (data.failed) $(id).querySelector(".body").replaceChildren(el("p", { class: "error" }, data.failed));
  else draw(data);
}

async function refresh() {
  try {
    if (features === null) features = (await api("/v1/dashboard")).features;
    const [status, traffic, cost, quotas] = await Promise.all([
      api(`/v1/status?events=${EVENTS}`),
      api("/v1/traffic"),
      features.cost ? optional(api("/v1/cost?by=service&since=3650d")) : null,
      features.quotas ? optional(api("/v1/quotas")) : null,
    ]);
    drawDeployments(status);
    drawRegions(traffic);
    drawEvents(status.events || []);
    panel("cost", "cost", cost, drawCost);
    panel("quotas", "quota", quotas, drawQuotas);
    $("updated").textContent = "updated " + new Date().toLocaleTimeString([], { hour12: false });
  } catch (err) {
    if (err instanceof Unauthorized) {
      logout("The control plane refused this token (it makes a new one each time it starts).");
      return;
    }
    $("updated").textContent = "not updated: " + err.message;
  }
  timer = setTimeout(refresh, POLL_MS);
}

function login(event) {
  event.preventDefault();
  sessionStorage.setItem(KEY, $("token").value.trim());
  $("token").value = "";
  show();
}

function logout(why) {
  clearTimeout(timer);
  sessionStorage.removeItem(KEY);
  features = null;
  $("login-error").textContent = why || "";
  show();
}

function show() {
  const signedIn = Boolean(sessionStorage.getItem(KEY));
  $("login").hidden = signedIn;
  $("board").hidden = !signedIn;
  $("forget").hidden = !signedIn;
  if (signedIn) refresh();
  else $("token").focus();
}

document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("submit", login);
  $("forget").addEventListener("click", () => logout(""));
  show();
});
