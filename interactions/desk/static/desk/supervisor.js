// The supervisor page: the experience measures, read from /api/v1/analytics/surveys, /handling, /effort,
// /journeys and /outcomes with the session, drawn as figures, charts (Chart.js, served by the hub) and tables.
// Read again every minute and when the period
// changes; days and hours are the browser's own time zone's.
const $ = (id) => document.getElementById(id);
// The browser's zone; UTC if the hub does not know it (it answers 400 naming `timezone`).
let ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
const REFRESH_MS = 60_000;
const charts = {};

function hourStart(date) {
  const at = new Date(date);
  at.setUTCMinutes(0, 0, 0);
  return at;
}

function iso(date) {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

// A read of a measure (surveys, handling); a problem answer is thrown with its detail, in words.
async function measure(name, params) {
  const query = new URLSearchParams({ timezone: ZONE, ...params });
  let response;
  try {
    response = await fetch(`/api/v1/analytics/${name}?${query}`, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
  } catch {
    throw new Error("the hub could not be reached: check the network");
  }
  const text = await response.text();
  let body = {};
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    throw new Error(`the hub answered ${response.status} ${response.statusText}`.trim());
  }
  if (response.status === 401 || response.status === 403) {
    if (response.status === 401) location.assign("/accounts/login/?next=/supervisor/");
    throw new Error(body.detail || "you may not read the measures");
  }
  const zoneRefused = (body.errors || []).some((e) => e.field === "timezone");
  if (response.status === 400 && query.get("timezone") !== "UTC" && zoneRefused) {
    ZONE = "UTC"; // reads sent meanwhile with the old zone come here too, and are asked again in UTC
    $("zone").textContent = "Times in UTC (the hub does not know this browser's zone)";
    return measure(name, { ...params, timezone: ZONE });
  }
  if (!response.ok) throw new Error(body.detail || `the hub answered ${response.status}`);
  if (body.next) {
    // A long read comes in pages of whole buckets, each with the whole range's totals: the rest of its
    // rows are read one page after another, by the cursor `next` carries.
    const cursor = new URL(body.next, location.href).searchParams.get("cursor");
    const rest = await measure(name, { ...params, cursor });
    body.rows = body.rows.concat(rest.rows);
    body.next = null;
  }
  return body;
}

function percent(rate) {
  return rate === null || rate === undefined ? "–" : `${(rate * 100).toFixed(1)}%`;
}

function number(value, digits = 2) {
  return value === null || value === undefined ? "–" : value.toFixed(digits);
}

function total(body, metric, group = null) {
  return body.totals.find((row) => row.metric === metric && row.group === group);
}

function showFigures(body) {
  const nps = total(body, "nps");
  $("nps-value").textContent = nps ? (nps.nps > 0 ? `+${nps.nps}` : `${nps.nps}`) : "–";
  $("nps-detail").textContent = nps
    ? `${answers(nps.answers)}: ${percent(nps.promoters_rate)} promoters, ${percent(nps.passives_rate)} passives, ` +
      `${percent(nps.detractors_rate)} detractors`
    : "No answers in the period.";
  const csat = total(body, "csat");
  $("csat-value").textContent = csat ? `${number(csat.mean)} / 5` : "–";
  $("csat-detail").textContent = csat
    ? `${answers(csat.answers)}: ${percent(csat.top2_rate)} rated 4-5, ${percent(csat.bottom2_rate)} rated 1-2`
    : "No answers in the period.";
  const ces = total(body, "ces");
  $("ces-value").textContent = ces ? `${number(ces.mean)} / 7` : "–";
  $("ces-detail").textContent = ces
    ? `${answers(ces.answers)}: ${percent(ces.bottom2_rate)} found it hard (1-2)`
    : "No answers in the period.";
}

function showEffort(body) {
  const effort = body.totals.find((row) => row.group === null);
  $("effort-value").textContent = effort ? `${number(effort.effort_index, 1)} / 100` : "–";
  if (!effort) {
    $("effort-detail").textContent = "No thread resolved in the period.";
    return;
  }
  const agreement =
    effort.agreement === null
      ? "too few CES answers to compare"
      : `agreement with CES r = ${number(effort.agreement, 2)} over ${effort.with_ces}`;
  $("effort-detail").textContent =
    `${effort.threads} thread${effort.threads === 1 ? "" : "s"} resolved: ${number(effort.contacts, 1)} contacts, ` +
    `${number(effort.switches, 1)} channel switches each; ${agreement}`;
}

function label(bucket, granularity) {
  const at = new Date(bucket);
  if (granularity === "hour") {
    return at.toLocaleString(undefined, { timeZone: ZONE, weekday: "short", hour: "2-digit", minute: "2-digit" });
  }
  const day = at.toLocaleDateString(undefined, { timeZone: ZONE, month: "short", day: "numeric" });
  return granularity === "week" ? `week of ${day}` : day;
}

function draw(id, config) {
  if (!window.Chart) return; // the page's figures and table still show
  if (charts[id]) charts[id].destroy();
  charts[id] = new window.Chart($(id), { ...config, options: { animation: false, responsive: true, ...config.options } });
}

// Every bucket of the period, the empty ones too (the API leaves them out), so a chart's axis is the whole
// period: hours step through the period's UTC hours (each written in the zone: two hours that read 01:00 when
// clocks go back stay two), days through the days those hours fall in; weeks are those that have answers. A
// bucket is known by its start in time for hours, by its label for days and weeks.
function bucketKey(bucket, granularity) {
  return granularity === "hour" ? Date.parse(bucket) : label(bucket, granularity);
}

function axisOf(body) {
  const seen = new Map(body.rows.map((row) => [bucketKey(row.bucket, body.granularity), label(row.bucket, body.granularity)]));
  if (body.granularity === "week") return [...seen].map(([key, text]) => ({ key, text }));
  const axis = [];
  for (let at = Date.parse(body.from); at < Date.parse(body.to); at += 3600_000) {
    const text = label(new Date(at).toISOString(), body.granularity);
    const key = body.granularity === "hour" ? at : text;
    if (!axis.length || axis[axis.length - 1].key !== key) axis.push({ key, text });
  }
  return axis;
}

function series(body, metric, pick, axis) {
  const values = new Map(
    body.rows.filter((row) => row.metric === metric).map((row) => [bucketKey(row.bucket, body.granularity), pick(row)]),
  );
  return axis.map(({ key }) => (values.has(key) ? values.get(key) : null));
}

function answers(count) {
  return `${count} answer${count === 1 ? "" : "s"}`;
}

function showTrend(body) {
  const axis = axisOf(body);
  const value = (metric, pick) => series(body, metric, pick, axis);
  draw("trend", {
    type: "line",
    data: {
      labels: axis.map(({ text }) => text),
      datasets: [
        { label: "NPS", data: value("nps", (row) => row.nps), borderColor: "#1f5fbf", spanGaps: true },
        {
          label: "CSAT rated 4-5 (%)",
          data: value("csat", (row) => Math.round(row.top2_rate * 1000) / 10),
          borderColor: "#1b6e3a",
          spanGaps: true,
        },
      ],
    },
    options: { scales: { y: { min: -100, max: 100 } } },
  });
}

function showBottomBox(body) {
  const axis = axisOf(body);
  draw("bottom-box", {
    type: "bar",
    data: {
      labels: axis.map(({ text }) => text),
      datasets: [
        {
          label: "CSAT rated 1-2 (%)",
          data: series(body, "csat", (row) => Math.round(row.bottom2_rate * 1000) / 10, axis),
          backgroundColor: "#a4161a",
        },
      ],
    },
    options: { scales: { y: { min: 0, max: 100 } } },
  });
}

function showChannels(body, csvQuery) {
  const tbody = $("channels").querySelector("tbody");
  const groups = [...new Set(body.totals.map((row) => row.group))].sort();
  tbody.replaceChildren(
    ...groups.map((group) => {
      const csat = total(body, "csat", group);
      const nps = total(body, "nps", group);
      const tr = document.createElement("tr");
      const cells = [
        group ?? "not known",
        csat ? String(csat.answers) : "0",
        csat ? number(csat.mean) : "–",
        csat ? percent(csat.bottom2_rate) : "–",
        nps ? String(nps.answers) : "0",
        nps ? String(nps.nps) : "–",
      ];
      cells.forEach((text, index) => {
        const cell = document.createElement(index ? "td" : "th");
        if (!index) cell.scope = "row";
        else cell.className = "number";
        cell.textContent = text;
        tr.append(cell);
      });
      return tr;
    }),
  );
  $("channels-empty").hidden = groups.length > 0;
  // One page at the longest: a period by channel has at most 9 lines a bucket (8 channels and not known)
  // times 3 metrics, 810 lines over the 30 days by day this page reads at most.
  $("csv").href = `/api/v1/analytics/surveys?${new URLSearchParams({ ...csvQuery, format: "csv", limit: 2000 })}`;
}

// Seconds as a person reads a duration: 9:00 (minutes), 1:02:05 (hours), – for none.
function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const whole = Math.round(seconds);
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = String(whole % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

function showHandling(body) {
  const tbody = $("handling").querySelector("tbody");
  tbody.replaceChildren(
    ...body.totals.map((row) => {
      const tr = document.createElement("tr");
      const cells = [
        row.group ?? "not known",
        String(row.calls),
        duration(row.voice_handling_seconds),
        String(row.transfers),
        duration(row.first_response_seconds),
        String(row.resolutions),
        duration(row.resolution_seconds),
        duration(row.digital_handling_seconds),
        String(row.reopens),
        row.fcr_rate === null ? "–" : `${percent(row.fcr_rate)} of ${row.resolutions}`,
      ];
      cells.forEach((text, index) => {
        const cell = document.createElement(index ? "td" : "th");
        if (!index) cell.scope = "row";
        else cell.className = "number";
        cell.textContent = text;
        tr.append(cell);
      });
      return tr;
    }),
  );
  $("handling-empty").hidden = body.totals.length > 0;
}

// Journeys: the transitions as a matrix (from a step, in rows, to a step, in columns: how many customers,
// shaded by it, and the median time between), dead-ends per step as a stacked bar chart, the choke points,
// and each step's figures. All objectives, or the one chosen (the same read, grouped by topic).
const journeys = { whole: null, byTopic: null };

function journeyOf(objective) {
  if (!objective) return journeys.whole;
  const body = journeys.byTopic;
  const mine = (row) => row.group === objective;
  return { ...body, totals: body.totals.filter(mine), transitions: body.transitions.filter(mine),
    choke_points: body.choke_points.filter(mine) };
}

function cell(tag, text, className) {
  const node = document.createElement(tag);
  node.textContent = text;
  if (className) node.className = className;
  return node;
}

function showObjectives(body) {
  const select = $("objective");
  const chosen = select.value;
  const topics = [...new Set(body.totals.map((row) => row.group).filter((g) => g !== null))].sort();
  select.replaceChildren(new Option("All objectives", ""), ...topics.map((t) => new Option(t, t)));
  select.value = topics.includes(chosen) ? chosen : "";
}

function showJourneys() {
  if (!journeys.whole) return;
  const body = journeyOf($("objective").value);
  const froms = [...new Set(body.transitions.map((t) => t.from))].sort((a, b) => (a === "start" ? -1 : b === "start" ? 1 : a < b ? -1 : 1));
  const tos = [...new Set(body.transitions.map((t) => t.to))].sort();
  const most = Math.max(1, ...body.transitions.map((t) => t.transitions));
  const head = $("transitions").querySelector("thead tr");
  head.replaceChildren(cell("th", "From ↓ to →"), ...tos.map((to) => Object.assign(cell("th", to), { scope: "col" })));
  $("transitions").querySelector("tbody").replaceChildren(
    ...froms.map((from) => {
      const tr = document.createElement("tr");
      tr.append(Object.assign(cell("th", from), { scope: "row" }));
      for (const to of tos) {
        const move = body.transitions.find((t) => t.from === from && t.to === to);
        const td = document.createElement("td");
        td.dataset.from = from;
        td.dataset.to = to;
        if (move) {
          td.append(cell("span", String(move.transitions), "count"), cell("span", duration(move.median_seconds), "median"));
          td.style.background = `rgba(31, 95, 191, ${(0.1 + (0.6 * move.transitions) / most).toFixed(2)})`;
        }
        tr.append(td);
      }
      return tr;
    }),
  );
  $("transitions-empty").hidden = body.transitions.length > 0;
  const steps = body.totals.filter((row) => row.step !== "start");
  draw("dead-ends", {
    type: "bar",
    data: {
      labels: steps.map((row) => row.step),
      datasets: [
        { label: "Unanswered past the SLA", data: steps.map((row) => row.unanswered), backgroundColor: "#a4161a" },
        { label: "Abandoned calls", data: steps.map((row) => row.abandoned), backgroundColor: "#e07a1f" },
        { label: "Idle unresolved", data: steps.map((row) => row.idled), backgroundColor: "#6c757d" },
      ],
    },
    options: { indexAxis: "y", scales: { x: { stacked: true, beginAtZero: true, ticks: { precision: 0 } }, y: { stacked: true } } },
  });
  $("choke-points").replaceChildren(
    ...body.choke_points.map((point) =>
      cell("li", point.by === "wait"
        ? `${point.step}: customers waited ${duration(point.value)} on average for an answer`
        : `${point.step}: ${point.value} transfer${point.value === 1 ? "" : "s"}`),
    ),
  );
  $("choke-empty").hidden = body.choke_points.length > 0;
  $("steps").querySelector("tbody").replaceChildren(
    ...steps.map((row) => {
      const tr = document.createElement("tr");
      tr.dataset.step = row.step;
      const bounced = row.bounced === null ? "–" : `${row.bounced} (${percent(row.bounce_rate)})`;
      const cells = [row.entries, duration(row.mean_wait_seconds), row.transfers, row.unanswered, row.abandoned, row.idled, bounced];
      tr.append(Object.assign(cell("th", row.step), { scope: "row" }), ...cells.map((text) => cell("td", String(text), "number")));
      return tr;
    }),
  );
}

// An amount as the API wrote it (a decimal string with 4 decimals), shown with 2 unless more are used, and
// its currency: "74.50 EUR", "12.6544 GBP". The string is never read as a float, so nothing is rounded.
function money(value, currency) {
  const [whole, decimals = ""] = value.split(".");
  const shown = decimals.replace(/0+$/, "").padEnd(2, "0");
  return `${whole}.${shown} ${currency}`;
}

function outcomeRows(id, body) {
  $(id).querySelector("tbody").replaceChildren(
    ...body.totals.map((row) => {
      const tr = document.createElement("tr");
      const cells = [
        row.group ?? "not known",
        row.currency,
        String(row.sales),
        money(row.new_business, row.currency),
        money(row.refund_value, row.currency),
        money(row.cancellation_value, row.currency),
        money(row.net_new_business, row.currency),
        money(row.retention_value, row.currency),
      ];
      cells.forEach((text, index) => {
        const cell = document.createElement(index ? "td" : "th");
        if (!index) cell.scope = "row";
        else if (index > 1) cell.className = "number";
        cell.textContent = text;
        tr.append(cell);
      });
      return tr;
    }),
  );
}

const CURRENCY_COLOURS = ["#1f5fbf", "#1b6e3a", "#a4161a", "#7b4fa0", "#b5651d", "#333333"];

function showOutcomes(byChannel, bySegment) {
  outcomeRows("outcomes-channels", byChannel);
  outcomeRows("outcomes-segments", bySegment);
  $("outcomes-empty").hidden = byChannel.totals.length > 0;
  const channels = [...new Set(byChannel.totals.map((row) => row.group ?? "not known"))];
  const currencies = [...new Set(byChannel.totals.map((row) => row.currency))].sort();
  draw("outcomes-chart", {
    type: "bar",
    data: {
      labels: channels,
      // Drawn only: the bars' heights are floats, the tables' figures are the API's exact strings.
      datasets: currencies.map((currency, index) => ({
        label: `Net new business (${currency})`,
        data: channels.map((channel) => {
          const row = byChannel.totals.find((r) => (r.group ?? "not known") === channel && r.currency === currency);
          return row ? Number(row.net_new_business) : null;
        }),
        backgroundColor: CURRENCY_COLOURS[index % CURRENCY_COLOURS.length],
      })),
    },
  });
}

let reading = 0;
async function refresh() {
  const mine = ++reading;
  const [days, granularity] = $("range").value.split("/");
  const to = new Date(hourStart(Date.now()).getTime() + 3600_000);
  const from = new Date(to.getTime() - Number(days) * 86400_000);
  const period = { from: iso(from), to: iso(to), granularity };
  const lastHours = { from: iso(new Date(to.getTime() - 48 * 3600_000)), to: iso(to), granularity: "hour" };
  try {
    const [whole, hourly, channels, handling, effort, paths, pathsByTopic, outcomesByChannel, outcomesBySegment] =
      await Promise.all([
      measure("surveys", period),
      measure("surveys", { ...lastHours, metric: "csat" }),
      measure("surveys", { ...period, group_by: "channel" }),
      measure("handling", { ...period, group_by: "channel" }),
      measure("effort", period),
      measure("journeys", period),
      measure("journeys", { ...period, group_by: "topic" }),
      measure("outcomes", { ...period, group_by: "channel" }),
      measure("outcomes", { ...period, group_by: "segment" }),
    ]);
    if (mine !== reading) return; // a later read (the period changed) is under way
    showFigures(whole);
    showTrend(whole);
    showBottomBox(hourly);
    showChannels(channels, { ...period, group_by: "channel", timezone: ZONE });
    showHandling(handling);
    showEffort(effort);
    journeys.whole = paths;
    journeys.byTopic = pathsByTopic;
    showObjectives(pathsByTopic);
    showJourneys();
    // One page at the longest (2,000 lines): a step a line, some 16 steps a day over 30 days at most.
    $("journeys-csv").href = `/api/v1/analytics/journeys?${new URLSearchParams({ ...period, timezone: ZONE, format: "csv", limit: 2000 })}`;
    showOutcomes(outcomesByChannel, outcomesBySegment);
    $("problem").hidden = true;
    $("updated").textContent = `Updated ${new Date().toLocaleTimeString(undefined, { timeZone: ZONE })}`;
  } catch (error) {
    if (mine !== reading) return;
    $("problem").textContent = `Could not read the measures: ${error.message}. The page tries again in a minute.`;
    $("problem").hidden = false;
    $("updated").textContent = "Not up to date";
  }
}

// The follow-up queue: open and breached follow-ups, oldest first, their time left counted down each second,
// read again whenever a followup.* event arrives on the supervisor's socket (topic `followups`).
const queue = { rows: [], reading: 0, retry: 0 };

async function followups(state) {
  const response = await fetch(`/api/v1/followups?state=${state}&limit=200`, {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.detail || `the hub answered ${response.status}`);
  return body.results;
}

async function refreshQueue() {
  const mine = ++queue.reading;
  try {
    const [open, breached] = await Promise.all([followups("open"), followups("breached")]);
    if (mine !== queue.reading) return;
    // Oldest first; answers that arrived together in the order of the log.
    const order = (row) => [Date.parse(row.opened_at), row.survey.position ?? 0];
    queue.rows = [...open, ...breached].sort((a, b) => {
      const [x, y] = [order(a), order(b)];
      return x[0] - y[0] || x[1] - y[1];
    });
    drawQueue();
  } catch (error) {
    if (mine !== queue.reading) return;
    $("problem").textContent = `Could not read the follow-ups: ${error.message}.`;
    $("problem").hidden = false;
  }
}

function timeLeft(row) {
  const seconds = Math.round((Date.parse(row.due_at) - Date.now()) / 1000);
  return seconds >= 0 ? { text: duration(seconds), late: false } : { text: `overdue ${duration(-seconds)}`, late: true };
}

function drawQueue() {
  const tbody = $("followups").querySelector("tbody");
  tbody.replaceChildren(
    ...queue.rows.map((row) => {
      const tr = document.createElement("tr");
      tr.dataset.id = row.id;
      const left = timeLeft(row);
      const cells = [
        new Date(row.opened_at).toLocaleString(undefined, { timeZone: ZONE, dateStyle: "short", timeStyle: "short" }),
        `${row.metric.toUpperCase()} ${row.score}`,
        row.comment ?? "",
        left.text,
        row.state,
      ];
      cells.forEach((text, index) => {
        const cell = document.createElement("td");
        cell.textContent = text;
        if (index === 3) {
          cell.className = left.late ? "left overdue" : "left";
        }
        tr.append(cell);
      });
      return tr;
    }),
  );
  $("followups-empty").hidden = queue.rows.length > 0;
}

function tickQueue() {
  for (const tr of $("followups").querySelectorAll("tbody tr")) {
    const row = queue.rows.find((r) => r.id === tr.dataset.id);
    if (!row) continue;
    const left = timeLeft(row);
    const cell = tr.querySelector(".left");
    cell.textContent = left.text;
    cell.className = left.late ? "left overdue" : "left";
  }
}

function watchFollowups() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/v1/agent`);
  socket.addEventListener("open", () => {
    queue.retry = 0;
    socket.send(JSON.stringify({ op: "subscribe", topics: ["followups"] }));
  });
  socket.addEventListener("message", (message) => {
    const frame = JSON.parse(message.data);
    if (frame.op === "caught_up") {
      $("followups-live").textContent = "live";
      refreshQueue(); // whatever happened while the socket was away
    } else if (frame.op === "event" && frame.event.type.startsWith("followup.")) {
      refreshQueue();
    } else if (frame.op === "error") {
      $("followups-live").textContent = `${frame.code}: ${frame.detail}`;
    }
  });
  socket.addEventListener("close", (event) => {
    if (event.code === 4401) {
      location.assign("/accounts/login/?next=/supervisor/");
      return;
    }
    $("followups-live").textContent = "reconnecting…";
    setTimeout(watchFollowups, Math.min(5000, 250 * 2 ** queue.retry++));
  });
}

$("zone").textContent = `Times in ${ZONE}`;
$("range").addEventListener("change", refresh);
$("objective").addEventListener("change", showJourneys);
refresh();
setInterval(refresh, REFRESH_MS);
refreshQueue();
watchFollowups();
setInterval(tickQueue, 1000);
