/**
 * The console at /console: one self-contained page (no build step, nothing fetched from elsewhere)
 * that polls the HTTP API — /v1/queue, /v1/suspensions, /v1/failures and /metrics —
 * every two seconds, keeps the last ten minutes in the browser, and suspends and resumes through the
 * same endpoints. The page itself holds nothing secret; every number on it comes from a call with
 * the API key the user types in (kept for the browser tab only).
 */
export const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<link rel="icon" href="data:,">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sluice console</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d2330; background: #f7f8fa; }
  h1 { font-size: 1.3rem; margin: 0 0 1rem; } h2 { font-size: 1rem; margin: 1.2rem 0 .4rem; }
  .cards { display: flex; gap: .8rem; flex-wrap: wrap; }
  .card { background: #fff; border: 1px solid #dde1e8; border-radius: 6px; padding: .6rem .9rem; min-width: 8rem; }
  .card b { display: block; font-size: 1.4rem; }
  table { border-collapse: collapse; background: #fff; } td, th { border: 1px solid #dde1e8; padding: .25rem .6rem; text-align: left; }
  .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(22rem, 1fr)); gap: 1rem; }
  svg { background: #fff; border: 1px solid #dde1e8; border-radius: 6px; }
  #error { color: #b3261e; } .muted { color: #6b7280; }
  form * { margin-right: .4rem; }
</style>
</head>
<body>
<h1>Sluice <span id="error" role="alert"></span></h1>
<form id="key-form" hidden>
  <label>API key <input id="key" type="password" autocomplete="off"></label><button>Use</button>
</form>
<div class="cards">
  <div class="card">queued messages<b data-testid="total">–</b></div>
  <div class="card">queued<b data-testid="queued">–</b></div>
  <div class="card">deferred<b data-testid="deferred">–</b></div>
  <div class="card">delivering<b data-testid="delivering">–</b></div>
  <div class="card">oldest waits<b data-testid="oldest">–</b></div>
  <div class="card">delivered / s<b data-testid="rate-delivered">–</b></div>
  <div class="card">deferred / s<b data-testid="rate-deferred">–</b></div>
  <div class="card">bounced / s<b data-testid="rate-bounced">–</b></div>
</div>
<div class="grid">
  <div><h2>Queue depth by stream, last minutes</h2><svg id="chart-stream" width="360" height="120"></svg><table id="by-stream"></table></div>
  <div><h2>By upstream</h2><svg id="chart-upstream" width="360" height="120"></svg><table id="by-upstream"></table></div>
  <div><h2>By recipient domain</h2><table id="by-domain"></table></div>
  <div><h2>Circuits</h2><table id="circuits"></table></div>
</div>
<h2>Suspensions</h2>
<table id="suspensions"></table>
<form id="suspend">
  <select id="scope" aria-label="scope"><option>stream</option><option>upstream</option><option>domain</option></select>
  <input id="target" placeholder="name or domain" aria-label="target" required>
  <input id="reason" placeholder="reason" aria-label="reason">
  <input id="duration" placeholder="for, e.g. 2 hours" aria-label="duration">
  <button>Suspend</button>
</form>
<h2>The last failures</h2>
<table id="failures"></table>
<script>
"use strict";
const keyOf = () => sessionStorage.getItem("sluice-key") || "";
const history = [];
let previous;
const $ = (id) => document.getElementById(id);
const card = (name) => document.querySelector('[data-testid="' + name + '"]');
const text = (value) => document.createTextNode(String(value));

async function api(method, path, body) {
  const headers = {};
  if (keyOf()) headers.authorization = "Bearer " + keyOf();
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 401) { $("key-form").hidden = false; throw new Error("an API key is needed"); }
  const answer = response.status === 204 ? undefined : (path === "/metrics" ? await response.text() : await response.json());
  if (!response.ok) throw new Error((answer && answer.detail) || ("HTTP " + response.status));
  return answer;
}

function rows(table, head, lines) {
  table.replaceChildren();
  const tr = table.insertRow();
  for (const h of head) { const th = document.createElement("th"); th.append(text(h)); tr.append(th); }
  for (const line of lines) {
    const row = table.insertRow();
    for (const cell of line) { const td = row.insertCell(); if (cell instanceof Node) td.append(cell); else td.append(text(cell)); }
  }
}

// Prometheus text: the samples of one metric, by their labels.
function samples(metrics, name) {
  const found = [];
  for (const line of metrics.split("\\n")) {
    const m = /^([a-zA-Z_:][\\w:]*)(?:\\{([^}]*)\\})?\\s+(\\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels = {};
    for (const l of (m[2] || "").matchAll(/(\\w+)="((?:[^"\\\\]|\\\\.)*)"/g)) labels[l[1]] = l[2];
    found.push({ labels, value: Number(m[3]) });
  }
  return found;
}

function chart(svg, key) {
  const series = {};
  history.forEach((point, i) => { for (const [name, n] of Object.entries(point[key])) (series[name] ??= []).push([i, n]); });
  const max = Math.max(1, ...history.flatMap((p) => Object.values(p[key])));
  const w = Number(svg.getAttribute("width")), h = Number(svg.getAttribute("height"));
  const colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"];
  svg.innerHTML = Object.entries(series).map(([name, points], c) =>
    '<polyline fill="none" stroke="' + colors[c % colors.length] + '" stroke-width="2" points="' +
    points.map(([i, n]) => (i * w / Math.max(1, history.length - 1)).toFixed(1) + "," + (h - 4 - n * (h - 8) / max).toFixed(1)).join(" ") +
    '"><title>' + name.replace(/[<&]/g, "") + '</title></polyline>').join("");
}

async function refresh() {
  try {
    const [queue, suspended, failed, metrics] = await Promise.all([
      api("GET", "/v1/queue"), api("GET", "/v1/suspensions"),
      api("GET", "/v1/failures"), api("GET", "/metrics").catch(() => "")
    ]);
    $("error").textContent = "";
    for (const key of ["queued", "deferred", "delivering"]) card(key).textContent = queue.byStatus[key] ?? 0;
    card("total").textContent = queue.total;
    card("oldest").textContent = queue.oldestAgeSeconds === null ? "–" : Math.round(queue.oldestAgeSeconds) + " s";
    const counts = Object.fromEntries(samples(metrics, "sluice_messages_total").map((s) => [s.labels.outcome, s.value]));
    const now = Date.now();
    for (const outcome of ["delivered", "deferred", "bounced"]) {
      const rate = previous && previous.counts[outcome] !== undefined ? Math.max(0, ((counts[outcome] ?? 0) - previous.counts[outcome]) * 1000 / (now - previous.at)) : 0;
      card("rate-" + outcome).textContent = rate.toFixed(1);
    }
    previous = { at: now, counts };
    history.push({ stream: queue.byStream, upstream: queue.byUpstream });
    if (history.length > 300) history.shift();
    chart($("chart-stream"), "stream");
    chart($("chart-upstream"), "upstream");
    const sorted = (record) => Object.entries(record).sort((a, b) => b[1] - a[1]);
    rows($("by-stream"), ["stream", "messages"], sorted(queue.byStream));
    rows($("by-upstream"), ["upstream", "messages"], sorted(queue.byUpstream));
    rows($("by-domain"), ["domain", "messages"], sorted(queue.byDomain).slice(0, 20));
    const states = ["closed", "half-open", "open"];
    rows($("circuits"), ["upstream", "circuit"], samples(metrics, "sluice_upstream_circuit_state").map((s) => [s.labels.upstream, states[s.value] ?? s.value]));
    rows($("suspensions"), ["scope", "target", "until", "reason", ""], suspended.suspensions.map((s) => {
      const button = document.createElement("button");
      button.textContent = "Resume";
      button.dataset.resume = s.id;
      button.onclick = () => api("DELETE", "/v1/suspensions/" + encodeURIComponent(s.id)).then(refresh, show);
      return [s.scope, s.target, s.until ?? "until resumed", s.reason ?? "", button];
    }));
    rows($("failures"), ["when", "message", "outcome", "upstream", "recipients", "reply"], failed.failures.slice(0, 20).map((f) => [
      f.at, f.id, f.status, f.upstream, f.recipients.map((r) => r.address).join(", "),
      f.reply ? f.reply.code + " " + (f.reply.enhanced ?? "") + " " + f.reply.text : f.reason
    ]));
    document.body.dataset.loaded = String(Number(document.body.dataset.loaded ?? 0) + 1);
  } catch (error) { show(error); }
}

function show(error) { $("error").textContent = error.message; }

$("key-form").onsubmit = (event) => {
  event.preventDefault();
  sessionStorage.setItem("sluice-key", $("key").value);
  $("key-form").hidden = true;
  refresh();
};
$("suspend").onsubmit = (event) => {
  event.preventDefault();
  const body = { scope: $("scope").value, target: $("target").value };
  if ($("reason").value) body.reason = $("reason").value;
  if ($("duration").value) body.duration = $("duration").value;
  api("POST", "/v1/suspensions", body).then(() => { $("target").value = ""; refresh(); }, show);
};
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
`
