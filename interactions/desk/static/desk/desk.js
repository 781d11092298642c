// The agent desk: REST with the session (and CSRF) for reads and commands, the websocket for what happens.
//
// The socket is a doorbell, the REST answers are the mail: an event on the open customer's topic makes the
// page read the customer's context again with min_position set to that event, and the page is drawn from
// that answer, each timeline entry keyed by its log position (so nothing shows twice). The last position the
// socket delivered is kept (in sessionStorage, across reloads); a reconnect subscribes with `after` set to
// it, so whatever happened while the page was away is replayed and rings the bell (so nothing is missed).

const me = JSON.parse(document.getElementById("desk-me").textContent);
const csrfToken = document.querySelector('meta[name="csrf-token"]').content;
const $ = (id) => document.getElementById(id);

const KEY_POSITION = "threadline.desk.position";
const KEY_CUSTOMER = "threadline.desk.customer";
const KEY_STATUS = "threadline.desk.status";
const KEY_OWNER = "threadline.desk.owner";

// What this tab keeps is its person's: another person signed in to the same tab starts afresh (they used
// to inherit the open customer, and the status, which the page then sent for them as their own).
if (sessionStorage.getItem(KEY_OWNER) !== me.agent_id) {
  for (const key of Object.keys(sessionStorage)) {
    if (key.startsWith("threadline.desk.")) sessionStorage.removeItem(key);
  }
  sessionStorage.setItem(KEY_OWNER, me.agent_id);
}

const state = {
  customerId: sessionStorage.getItem(KEY_CUSTOMER),
  position: Number(sessionStorage.getItem(KEY_POSITION)) || null,
  socket: null,
  subscribed: new Set(),
  retry: 0,
  status: sessionStorage.getItem(KEY_STATUS),
  offer: null,
  dismissed: new Set(), // offers closed with Escape: still in My work, not popped again by a refresh
  ended: new Map(), // callback id -> the count of ended offers when a frame last said its offer ended
  workThreads: new Set(), // the threads My work lists (their topics are subscribed)
  nbaKeys: new Map(), // "customer/rule/thread/answer" -> the Idempotency-Key this page sends with that answer
};

// --- small helpers ----------------------------------------------------------------------------------------

// Explicit direction controls (embeddings, overrides, isolates) in what customers and integrations wrote:
// shown as U+FFFD, as the API's problems show them. An override in a name ("Jane \u202eDoe") reversed the
// text after it, the callback number included.
const DIRECTION_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/g;

function shown(text) {
  return String(text).replace(DIRECTION_CONTROLS, "\ufffd");
}

// A value drawn inside a sentence: isolated, so its direction (Arabic, Hebrew) cannot reorder the rest.
function value(text) {
  return el("bdi", {}, text);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : shown(child));
  }
  return node;
}

function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return date.toLocaleString([], { dateStyle: "short", timeStyle: "medium" });
}

function announce(text) {
  $("announce").textContent = shown(text);
}

// The problem line says what went wrong last, and `problemFrom` what said it. Reading the customer again in
// the background (each event for them does) clears only what such a read said: a failed action stays said
// until the agent acts again, however many events arrive meanwhile.
let problemFrom = "";

function showProblem(text, from = "action") {
  const node = $("problem");
  node.textContent = text || "";
  node.hidden = !text;
  problemFrom = text ? from : "";
}

function clearProblemFrom(from) {
  if (problemFrom === from) showProblem("");
}

class Problem extends Error {
  constructor(status, body) {
    // The fields at fault, when the problem names them ("text: Ensure this field has no more than ...").
    const fields = (Array.isArray(body.errors) ? body.errors : [])
      .map((e) => (e.field ? `${e.field}: ${e.message}` : e.message))
      .filter(Boolean);
    super([body.detail || body.title || `HTTP ${status}`, ...fields].join(". "));
    this.status = status;
    this.body = body;
  }
}

// --- keeping the keyboard's place -----------------------------------------------------------------------

// The parts of the page a redraw replaces, each with the heading that takes the focus when the control that
// had it is gone.
const PARTS = [
  ["work", "work-title"],
  ["nba-card", "nba-title"],
  ["open-threads", "open-title"],
  ["resolved-threads", "resolved-title"],
  ["customer", "customer-title"],
];

function placeOf(node) {
  const closest = (selector, key) => (node.closest(selector) || { dataset: {} }).dataset[key];
  const part = PARTS.find(([id]) => $(id).contains(node));
  return {
    key: closest("[data-key]", "key"),
    thread: closest("[data-thread]", "thread"),
    rule: closest("[data-rule]", "rule"),
    heading: part ? part[1] : null,
  };
}

function focusOn(node) {
  if (!node.hasAttribute("tabindex") && !node.matches("button, input, select, textarea, a[href]")) {
    node.setAttribute("tabindex", "-1");
  }
  node.focus();
}

// Whether a node is laid out on the page (checkVisibility is recent: Safari has it since 17.4).
function shownNow(node) {
  if (typeof node.checkVisibility === "function") return node.checkVisibility();
  return node.getClientRects().length > 0;
}

// Redraw without dropping the keyboard's place: when the focused control went away or was hidden (its
// thread resolved, "Assign to me" done, an action answered, My work redrawn), the focus goes to the same
// control drawn again, else to what stands for it (the thread's title, the answer given), else to the
// heading of its part of the page. It fell to <body>, and a screen reader's user had to start again.
function focusKept(draw) {
  const previous = document.activeElement;
  let place = null;
  try {
    place = previous && previous !== document.body ? placeOf(previous) : null;
  } catch {
    place = null; // keeping the focus is a courtesy: it never stops the redraw
  }
  draw();
  if (!place) return;
  try {
    refocus(previous, place);
  } catch {
    // as above
  }
}

function refocus(previous, place) {
  if (previous.isConnected && shownNow(previous)) return;
  const live = (selector) => {
    const node = selector && document.querySelector(selector);
    return node && shownNow(node) ? node : null;
  };
  const q = (name, value) => (value ? `[${name}="${CSS.escape(value)}"]` : null);
  const target =
    live(place.key && `${q("data-key", place.key)} button`) ||
    live(place.thread && `#open-threads ${q("data-thread", place.thread)} .thread-title`) ||
    live(place.rule && `#nba ${q("data-rule", place.rule)} .answered`) ||
    live(place.rule && `#nba ${q("data-rule", place.rule)} button`) ||
    live(place.heading && `#${place.heading}`) ||
    $("customer");
  focusOn(target);
}

function signedOut() {
  if (state.signingOut) return; // this page's own sign-out is on its way to the sign-in page
  if (state.socket) state.socket.close();
  state.socket = null;
  setConnection("Signed out", "down");
  location.assign("/accounts/login/?next=/desk/");
}

// A fresh Idempotency-Key: random, from getRandomValues (crypto.randomUUID needs a secure context, and a
// desk served over plain HTTP on a LAN is not one).
function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// `key`: the command's Idempotency-Key. The same key for the same intent (a double click, a second try after
// a lost answer) makes the hub do the command once and answer both alike.
async function api(path, { method = "GET", body, key } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") {
    headers["X-CSRFToken"] = csrfToken;
    headers["Content-Type"] = "application/json";
  }
  if (key) headers["Idempotency-Key"] = key;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new Problem(0, { detail: "The hub could not be reached: check the network, then try again" });
  }
  const text = await response.text();
  let data;
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    // A proxy's HTML error page, say: say what happened, not the JSON parser's complaint.
    data = { detail: `The hub answered ${response.status} ${response.statusText} with a page the desk cannot read` };
  }
  // Signed out in another tab (or the session ended): this page can do nothing more.
  if (response.status === 401 || (data.type || "").endsWith("/unauthenticated")) signedOut();
  if (!response.ok) {
    const problem = new Problem(response.status, data);
    problem.retryAfter = Number(response.headers.get("Retry-After")) || 1;
    throw problem;
  }
  return data;
}

// A read that answered 503 (the read models are behind the page's position): say so, and ask again after
// the Retry-After the hub gave, rather than at once.
function catchingUp(error, again) {
  state.behind = true;
  setConnection("Catching up…", "");
  setTimeout(again, error.retryAfter * 1000);
}

function caughtUp() {
  if (!state.behind) return;
  state.behind = false;
  if (state.socket && state.socket.readyState === WebSocket.OPEN) setConnection("Live", "live");
}

function remember(position) {
  if (typeof position !== "number") return;
  if (state.position === null || position > state.position) {
    state.position = position;
    sessionStorage.setItem(KEY_POSITION, String(position));
  }
}

// The socket refused the page's position as past the end of the log (the log was restored from a backup
// since the page saw it): start again from now, with every read answered as the hub has it now. The page
// went on subscribed to nothing, "Connecting…" for good, with every reload.
function restartFromNow() {
  state.position = null;
  sessionStorage.removeItem(KEY_POSITION);
  workMin = null;
  customerMin = null;
  resubscribe();
}

// A subscribe fails whole when one of its topics is not in the hub (a customer or thread the page kept across
// a restore of the log from a backup): drop that one and subscribe to the rest again. The page went on
// subscribed to nothing, its status never sent.
function forgetTopic(topic) {
  const [kind, id] = topic.split(":");
  if (kind === "customer" && state.customerId === id) {
    closeCustomer();
    showProblem("The customer that was open is not in the hub (its log may have been restored): find them again");
  }
  if (kind === "thread") state.workThreads.delete(id);
  resubscribe();
  if (kind === "thread") refreshWork();
}

// Every topic the page wants, asked for afresh (a new socket, or one whose subscriptions were refused).
function resubscribe() {
  state.subscribed = new Set();
  subscribe(wantedTopics());
}

// --- the websocket ----------------------------------------------------------------------------------------

function setConnection(text, kind) {
  const node = $("connection");
  if (node.textContent === text && node.className === `connection ${kind}`) return; // said already
  node.textContent = text;
  node.className = `connection ${kind}`;
}

function send(frame) {
  if (state.socket && state.socket.readyState === WebSocket.OPEN) {
    state.socket.send(JSON.stringify(frame));
    return true;
  }
  return false;
}

function wantedTopics() {
  const topics = ["agent:me", ...[...state.workThreads].map((id) => `thread:${id}`)];
  if (state.customerId) topics.push(`customer:${state.customerId}`);
  return topics;
}

// My work's threads are listened to as well: one reassigned to someone else, or resolved by a supervisor,
// says so on its thread, not on agent:me (which hears only what comes to this agent).
function listenToWork(threadIds) {
  const wanted = new Set(threadIds);
  const gone = [...state.workThreads].filter((id) => !wanted.has(id)).map((id) => `thread:${id}`);
  const added = [...wanted].filter((id) => !state.workThreads.has(id)).map((id) => `thread:${id}`);
  state.workThreads = wanted;
  if (!state.socket || state.socket.readyState !== WebSocket.OPEN) return; // the next open subscribes
  if (gone.length) {
    gone.forEach((t) => state.subscribed.delete(t));
    send({ op: "unsubscribe", topics: gone });
  }
  subscribe(added.filter((t) => !state.subscribed.has(t)));
}

function subscribe(topics) {
  if (!topics.length) return;
  topics.forEach((t) => state.subscribed.add(t));
  send({ op: "subscribe", topics, after: state.position });
}

function connect() {
  if (!navigator.onLine) {
    setConnection("Offline", "down");
    return;
  }
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const previous = state.socket;
  const socket = new WebSocket(`${scheme}://${location.host}/ws/v1/agent`);
  state.socket = socket;
  if (previous) previous.close(); // one socket a tab: two would bring every frame twice
  // The label is a live region: a retry leaves what the last close said ("Reconnecting…", "Too many desk
  // tabs open…"), or a screen reader would hear it change back and forth on every attempt of an outage.
  if (!state.retry) setConnection("Connecting…", "");
  socket.addEventListener("open", () => {
    state.retry = 0;
    // The status is sent again once the replay is in (at the first caught_up): a status the person chose in
    // another tab meanwhile is replayed first, and it is that one this tab then sends, not its own older one.
    state.statusToSend = me.has_status;
    resubscribe();
  });
  socket.addEventListener("message", (message) => onFrame(JSON.parse(message.data)));
  socket.addEventListener("close", (event) => {
    if (state.socket !== socket) return;
    state.socket = null;
    if (event.code === 4401) {
      signedOut();
      return;
    }
    if (event.code === 4409) {
      // This person's role changed (made an agent, a supervisor): the page was drawn for the old one, so it is
      // drawn again by the server, for the new one, and the new socket is opened under the new role's rules.
      setConnection("Your role has changed: reloading…", "down");
      location.reload();
      return;
    }
    let delay = Math.min(5000, 250 * 2 ** state.retry++);
    if (event.code === 4429) {
      // This person has as many sockets open as the server allows (other tabs): wait for one to close.
      setConnection("Too many desk tabs open: close one", "down");
      delay = 10000;
    } else {
      setConnection(navigator.onLine ? "Reconnecting…" : "Offline", "down");
    }
    setTimeout(() => {
      if (!state.socket && !state.signingOut) connect();
    }, delay);
  });
}

// Signing out here, leaving the page only once it has worked: the socket goes first, so that its 4401 (the
// session ends) does not race the way to the sign-in page; a sign-out that fails (the network, a refused
// request) says so and the page goes on live, rather than staying with no socket and nothing said.
$("sign-out").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (state.signingOut) return;
  const form = event.currentTarget;
  state.signingOut = true;
  showProblem("");
  const socket = state.socket;
  state.socket = null;
  if (socket) socket.close();
  setConnection("Signing out…", "");
  let problem;
  try {
    const response = await fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
    });
    if (response.ok) {
      location.assign("/accounts/login/");
      return;
    }
    problem = `the hub answered ${response.status} ${response.statusText}`.trim();
  } catch {
    problem = "the hub could not be reached: check the network";
  }
  state.signingOut = false;
  showProblem(`Could not sign out: ${problem}. Try again.`);
  connect();
});

// The browser knows first when the network goes: drop the socket at once, resume when it is back.
window.addEventListener("offline", () => {
  const socket = state.socket;
  state.socket = null;
  setConnection("Offline", "down");
  if (socket) socket.close();
});
window.addEventListener("online", () => {
  if (!state.socket) connect();
});

function onFrame(frame) {
  switch (frame.op) {
    case "event":
      remember(frame.position);
      onEvent(frame);
      break;
    case "caught_up":
      // Subscribed: a read from now on holds everything before the socket's cursor, and the socket brings
      // everything after it. So read the page's answers again (whatever happened while it was away).
      remember(frame.position);
      setConnection("Live", "live");
      if (state.statusToSend) {
        state.statusToSend = false;
        if (state.status) send({ op: "status", value: state.status });
      }
      refreshCustomer(frame.position);
      refreshWork(frame.position);
      break;
    case "ack":
      if (frame.callback) remember(frame.callback.position);
      break;
    case "error":
      if (frame.code === "bad_after") {
        restartFromNow();
        break;
      }
      if (frame.code === "not_found" && frame.topic) {
        forgetTopic(frame.topic);
        break;
      }
      showProblem(`${frame.code}: ${frame.detail}`);
      break;
    default:
      break;
  }
}

// Steps after which an open offer no longer stands, and what the dialog's closing says.
const WITHDRAWN = {
  "callback.cancelled": "The callback was cancelled",
  "callback.offer_timed_out": "The offer lapsed",
  "callback.declined": "The offer was declined",
  "callback.expired": "The callback expired",
  "callback.completed": "The call was recorded as completed",
  "callback.no_answer": "The call was recorded: no answer",
  "callback.busy": "The call was recorded: busy",
  "callback.failed": "The call was recorded: failed",
};

function onEvent(frame) {
  const event = frame.event;
  // A frame names one of the topics it came on (the first of them by name: agent:me before customer:), so
  // the open customer's is known by the event's customer, not by the topic.
  if (state.customerId && (frame.topic.startsWith("customer:") || event.customer_id === state.customerId)) {
    refreshCustomer(frame.position);
  }
  if (frame.topic.startsWith("thread:") || state.workThreads.has(event.thread_id)) {
    refreshWork(frame.position); // a thread of My work changed: still mine?
  }
  if (frame.topic.startsWith("agent:")) {
    if (event.type === "agent.status_changed" && event.data && event.data.agent_id === me.agent_id) {
      showStatus(event.data.status);
      // Chosen by the person (in another tab too): the status this tab sends again when it reconnects or
      // reloads. Not one the hub set when every socket had gone (its reason says so).
      if (!event.data.reason) {
        state.status = event.data.status;
        sessionStorage.setItem(KEY_STATUS, state.status);
      }
    }
    if (event.type === "callback.offered" && event.data && event.data.agent_id === me.agent_id) {
      state.dismissed.delete(event.data.callback_id); // a new offer pops, even of one closed before
      considerOffer(event.data);
    }
    const ended = WITHDRAWN[event.type];
    if (ended && event.data && event.data.callback_id) {
      state.ended.set(event.data.callback_id, ++endedOffers); // one still being read must not pop up after it
      if (state.offer && event.data.callback_id === state.offer.id && $("offer").open) {
        closeOffer(ended); // the offer no longer stands: no countdown to a refusal
      }
    }
    refreshWork(frame.position);
  }
}

// --- status -----------------------------------------------------------------------------------------------

function showStatus(value) {
  const select = $("status");
  if (select && value) select.value = value;
}

// The status the agent set stays set across a reload (the socket sends it again when it opens); a new tab
// shows the status they have (set in another tab), and sends nothing until it is changed here.
showStatus(state.status || me.status);

if (me.has_status) {
  $("status").addEventListener("change", (event) => {
    state.status = event.target.value;
    sessionStorage.setItem(KEY_STATUS, state.status);
    if (send({ op: "status", value: state.status })) announce(`Status: ${state.status}`);
  });
}

// --- my work ----------------------------------------------------------------------------------------------

let workTimer = null;
let workMin = null;
// Reads of My work may overlap (a timer fires while the last read waits): each is numbered, and an answer
// is drawn only if no answer to a later read has been drawn already, so an old list never replaces a newer.
let workAsked = 0;
let workDrawn = 0;

function refreshWork(position) {
  if (typeof position === "number") workMin = Math.max(workMin || 0, position);
  clearTimeout(workTimer);
  workTimer = setTimeout(loadWork, 50);
}

async function loadWork() {
  const min = workMin ? `&min_position=${workMin}` : "";
  const read = ++workAsked;
  try {
    // Open threads, then those gone idle (quiet for the window, not resolved: still theirs to finish).
    const [threads, idle, offered, accepted] = await Promise.all([
      api(`/api/v1/threads?agent=${encodeURIComponent(me.agent_id)}&status=open&limit=50${min}`),
      api(`/api/v1/threads?agent=${encodeURIComponent(me.agent_id)}&status=idle&limit=50${min}`),
      api(`/api/v1/callbacks?agent=${encodeURIComponent(me.agent_id)}&state=offered&limit=50${min}`),
      api(`/api/v1/callbacks?agent=${encodeURIComponent(me.agent_id)}&state=accepted&limit=50${min}`),
    ]);
    if (read < workDrawn) return;
    workDrawn = read;
    const items = [
      ...[...threads.results, ...idle.results].map((t) => ({ kind: "thread", at: t.last_activity_at, item: t })),
      ...[...offered.results, ...accepted.results].map((c) => ({ kind: "callback", at: c.due_at, item: c })),
    ].sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
    focusKept(() => drawWork(items));
    clearProblemFrom("work");
    listenToWork([...threads.results, ...idle.results].map((t) => t.id));
    for (const c of offered.results) considerOffer({ callback_id: c.id, agent_id: c.agent_id });
    caughtUp();
  } catch (error) {
    if (read < workDrawn) return; // a later read has answered
    if (error instanceof Problem && error.status === 503) catchingUp(error, () => refreshWork());
    else if (!problemFrom || problemFrom === "work") showProblem(`My work could not be read: ${error.message}`, "work");
  }
}

function drawWork(items) {
  const list = $("work-list");
  list.replaceChildren(
    ...items.map(({ kind, item }) => {
      if (kind === "thread") {
        return el(
          "li",
          { class: "thread-item", "data-key": `thread:${item.id}` },
          el(
            "button",
            { type: "button", onclick: () => openCustomer(item.customer_id) },
            el("span", { class: "kind" }, item.status === "idle" ? "Idle thread" : "Thread"),
            `${item.topic || "Conversation"} · ${item.channels.join(", ")} · ${when(item.last_activity_at)}`,
          ),
        );
      }
      const label = item.state === "offered" ? "Callback offer" : "Callback under way";
      return el(
        "li",
        { class: "offer", "data-key": `callback:${item.id}` },
        el(
          "button",
          { type: "button", onclick: () => considerOffer({ callback_id: item.id, agent_id: item.agent_id }, true) },
          el("span", { class: "kind" }, label),
          `${item.phone} · ${item.reason || "no reason given"}`,
        ),
      );
    }),
  );
  $("work-empty").hidden = items.length > 0;
}

// --- the customer -----------------------------------------------------------------------------------------

let customerTimer = null;
let customerMin = null;
let customerBusy = false;

function refreshCustomer(position) {
  if (!state.customerId) return;
  if (typeof position === "number") customerMin = Math.max(customerMin || 0, position);
  clearTimeout(customerTimer);
  customerTimer = setTimeout(loadCustomer, 30);
}

async function loadCustomer() {
  if (customerBusy) {
    refreshCustomer();
    return;
  }
  const id = state.customerId;
  if (!id) return;
  const min = customerMin;
  customerBusy = true;
  try {
    const query = min ? `?min_position=${min}` : "";
    const context = await api(`/api/v1/customers/${id}/context${query}`);
    if (state.customerId !== id) return;
    if (context.customer.id !== id) {
      // Merged into another customer: follow the survivor.
      setCustomer(context.customer.id);
    }
    focusKept(() => drawCustomer(context));
    clearProblemFrom("context");
    caughtUp();
  } catch (error) {
    if (state.customerId !== id) return; // another customer, or none, is open now: its problem is not theirs
    if (error instanceof Problem && error.status === 503) catchingUp(error, () => refreshCustomer());
    else if (error instanceof Problem) showProblem(error.message, "context");
    // A network error: the socket's reconnect reads the context again.
  } finally {
    customerBusy = false;
  }
}

function closeCustomer() {
  state.customerId = null;
  customerMin = null;
  sessionStorage.removeItem(KEY_CUSTOMER);
  state.openThreadIds = [];
  $("customer-title").textContent = "No customer open";
  $("customer-hint").hidden = false;
  $("customer-body").hidden = true;
  $("open-threads").replaceChildren();
}

function setCustomer(id) {
  const old = state.customerId;
  state.customerId = id;
  customerMin = null;
  sessionStorage.setItem(KEY_CUSTOMER, id);
  if (old && old !== id && state.subscribed.has(`customer:${old}`)) {
    send({ op: "unsubscribe", topics: [`customer:${old}`] });
    state.subscribed.delete(`customer:${old}`);
  }
  if (!state.subscribed.has(`customer:${id}`)) subscribe([`customer:${id}`]);
}

// The agent's last choice of customer wins: a search answered after the agent has chosen again (searched
// again, or opened one from My work or an offer) is not shown.
let customerChoices = 0;

async function openCustomer(id) {
  customerChoices += 1;
  if (id !== state.customerId) {
    $("open-threads").replaceChildren();
    setCustomer(id);
  }
  showProblem(""); // the agent has moved on; a read that fails says so itself
  await loadCustomer();
  $("customer").focus();
}

$("search").addEventListener("submit", async (event) => {
  event.preventDefault();
  const identifier = toIdentifier($("search-identifier").value);
  if (!identifier) return;
  const choice = ++customerChoices;
  try {
    const context = await api(`/api/v1/context?identifier=${encodeURIComponent(identifier)}`);
    if (choice !== customerChoices) return;
    showProblem("");
    $("open-threads").replaceChildren();
    setCustomer(context.customer.id);
    drawCustomer(context);
    $("customer").focus();
  } catch (error) {
    if (choice !== customerChoices) return;
    showProblem(
      error instanceof Problem && error.status === 404
        ? `No customer with the identifier ${identifier}.`
        : error.message,
    );
  }
});

// What people type, as the identifier URI the API takes: a number is a phone, an address an e-mail.
function toIdentifier(text) {
  const value = text.trim();
  if (!value) return "";
  if (/^[a-z]+:/i.test(value)) return value;
  if (/^[+(\d][\d\s().\-]*$/.test(value)) return `tel:${value.replace(/[\s().\-]/g, "")}`;
  if (value.includes("@")) return `mailto:${value}`;
  return value;
}

function drawCustomer(context) {
  const customer = context.customer;
  $("customer-title").textContent = shown(customer.name || customer.identifiers[0] || "Customer");
  $("customer-hint").hidden = true;
  $("customer-body").hidden = false;
  drawProfile(customer, context.lifetime_value || []);
  $("identifiers").replaceChildren(...customer.identifiers.map((i) => el("li", {}, i)));
  drawReachable(context.reachable);
  drawSurveys(context.surveys || {});
  drawPendingCallbacks(context.pending_callbacks || []);
  state.openThreadIds = (context.open_threads || []).map((t) => t.id);
  drawNextBestActions(context.next_best_actions, customer.id);
  // Threads gone idle are open too, their objective not met: shown after the active ones, marked idle.
  drawOpenThreads([...(context.open_threads || []), ...(context.idle_threads || [])]);
  drawResolved(context.recently_resolved || []);
}

function drawProfile(customer, lifetimeValue) {
  const rows = [["Name", customer.name || "unknown"]];
  if (customer.language) rows.push(["Language", customer.language]);
  if (customer.timezone) {
    let local = customer.timezone;
    try {
      local = `${new Date().toLocaleTimeString([], { timeZone: customer.timezone, timeStyle: "short" })} (${customer.timezone})`;
    } catch (_) {
      /* an unknown zone: show its name */
    }
    rows.push(["Local time", local]);
  }
  if (customer.segment) rows.push(["Segment", customer.segment]);
  // Per currency, as the hub wrote it (a decimal string; never converted or added across currencies).
  const values = lifetimeValue.map((v) => `${v.value.replace(/(\.\d\d\d*?)0+$/, "$1")} ${v.currency}`);
  if (values.length) rows.push(["Lifetime value", values.join(", ")]);
  if (customer.birthday) rows.push(["Birthday", customer.birthday]);
  const counts = Object.entries(customer.channel_counts || {}).map(([c, n]) => `${c} ${n}`);
  if (counts.length) rows.push(["Contacts", counts.join(", ")]);
  if (customer.last_contact_at) rows.push(["Last contact", when(customer.last_contact_at)]);
  $("profile").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

// `reachable` is in the context answer once the reachability read model is there; drawn from whatever
// channels it names.
function drawReachable(reachable) {
  const card = $("reachable-card");
  if (!reachable || typeof reachable !== "object") {
    card.hidden = true;
    return;
  }
  card.hidden = false;
  $("reachable").replaceChildren(
    ...Object.entries(reachable).map(([channel, info]) => {
      const open = info && info.open;
      const until = info && info.until ? ` until ${when(info.until)}` : "";
      const why = info && info.why ? el("span", { class: "why" }, ` (${info.why})`) : null;
      return el("li", { class: open ? "open" : "closed" }, `${channel}: ${open ? "yes" : "no"}${until}`, why);
    }),
  );
}

function drawSurveys(surveys) {
  const entries = Object.entries(surveys);
  $("surveys").replaceChildren(
    ...(entries.length
      ? entries.map(([metric, s]) =>
          el(
            "li",
            {},
            `${metric.toUpperCase()} ${s.last}${s.trend ? `, trend ${s.trend}` : ""} (all: ${(s.history || []).join(", ")})`,
          ),
        )
      : [el("li", { class: "muted" }, "none")]),
  );
}

function drawPendingCallbacks(callbacks) {
  $("pending-callbacks").replaceChildren(
    ...(callbacks.length
      ? callbacks.map((c) => el("li", {}, `${c.state} · ${c.phone} · due ${when(c.due_at)}${c.reason ? ` · ${c.reason}` : ""}`))
      : [el("li", { class: "muted" }, "none")]),
  );
}

// `next_best_actions` comes with the context answer when the rules are there: each with what to do and why,
// and buttons that record whether it was taken up.
function drawNextBestActions(actions, customerId) {
  state.nbaShown = { customerId, actions }; // what an answer that comes back later redraws
  const card = $("nba-card");
  if (!Array.isArray(actions) || actions.length === 0) {
    card.hidden = true;
    $("nba").replaceChildren();
    return;
  }
  card.hidden = false;
  // The context keeps recommending what holds; the page remembers what this agent answered (per tab).
  const key = `threadline.desk.nba.${customerId}`;
  const answered = JSON.parse(sessionStorage.getItem(key) || "{}");
  const threadId = (state.openThreadIds || [])[0];
  $("nba").replaceChildren(
    ...actions.map((action) => {
      // One key per answer to a recommendation on a thread: a double click, or a retry after an error, sends
      // the same key and the hub records it once. Another answer (Dismiss after Take) or the same on another
      // thread is another request with a key of its own: one key for both was refused as reused, for good.
      const answer = async (outcome) => {
        const answerKey = `${customerId}/${action.id}/${threadId || ""}/${outcome}`;
        if (!state.nbaKeys.has(answerKey)) state.nbaKeys.set(answerKey, newKey());
        try {
          const body = threadId ? { thread_id: threadId } : {};
          await api(`/api/v1/customers/${customerId}/next-best-actions/${encodeURIComponent(action.id)}/${outcome}`, {
            method: "POST",
            body,
            key: state.nbaKeys.get(answerKey),
          });
          showProblem("");
          // Marked in what is stored now, not in the copy read when this button was drawn: another answer
          // may have been stored since (its mark was lost), and the list drawn since is the one redrawn.
          const stored = JSON.parse(sessionStorage.getItem(key) || "{}");
          stored[action.id] = outcome;
          sessionStorage.setItem(key, JSON.stringify(stored));
          announce(`Recorded: ${outcome}`);
          // The agent may have opened another customer while the answer was on its way: draw nothing over it.
          const shown = state.nbaShown;
          if (state.customerId === customerId && shown && shown.customerId === customerId) {
            focusKept(() => drawNextBestActions(shown.actions, customerId));
          }
        } catch (error) {
          showProblem(error.message);
        }
      };
      const done = answered[action.id];
      const name = action.do || action.id;
      return el(
        "li",
        { "data-rule": action.id },
        el("strong", {}, name),
        action.why ? el("span", { class: "muted" }, ` — ${action.why}`) : null,
        " ",
        done
          ? el("span", { class: "answered" }, done === "taken" ? "(taken)" : "(dismissed)")
          : [
              el("button", { type: "button", "aria-label": `Take: ${name}`, onclick: () => answer("taken") }, "Take"),
              " ",
              el(
                "button",
                { type: "button", class: "secondary", "aria-label": `Dismiss: ${name}`, onclick: () => answer("dismissed") },
                "Dismiss",
              ),
            ],
      );
    }),
  );
}

function entryNode(entry) {
  const direction = entry.direction || "";
  const isNote = entry.type === "note.added";
  const label = isNote ? "note" : entry.channel;
  const who = entry.agent_id ? ` · agent ${entry.agent_id === me.agent_id ? "me" : entry.agent_id.slice(0, 8)}` : "";
  const text = entry.text || entry.type;
  return el(
    "li",
    { class: `${direction} ${isNote ? "note" : ""}`.trim(), "data-position": entry.position },
    el("span", { class: "when" }, when(entry.occurred_at)),
    el("span", { class: "channel" }, label),
    direction ? el("span", { class: "visually-hidden" }, `${direction} `) : null,
    el("span", { class: "text" }, text),
    el("span", { class: "muted" }, who),
  );
}

function drawOpenThreads(threads) {
  const container = $("open-threads");
  const keep = new Set(threads.map((t) => String(t.id)));
  for (const node of [...container.children]) {
    if (!keep.has(node.dataset.thread)) node.remove();
  }
  threads.forEach((thread, index) => {
    let node = container.querySelector(`[data-thread="${thread.id}"]`);
    if (!node) node = threadNode(thread);
    if (container.children[index] !== node) container.insertBefore(node, container.children[index] || null);
    node.querySelector(".thread-title").textContent = shown(thread.topic || "Conversation");
    const assigned = thread.assigned_agent
      ? `assigned to ${thread.assigned_agent === me.agent_id ? "me" : thread.assigned_agent}`
      : "unassigned";
    const idle = thread.status === "idle" ? `idle: no activity since ${when(thread.last_activity_at)} · ` : "";
    node.querySelector(".thread-meta").textContent = shown(
      `${idle}${thread.channels.join(", ")} · ${assigned} · opened ${when(thread.opened_at)}`,
    );
    node.classList.toggle("idle", Boolean(idle));
    node.querySelector(".take").hidden = me.role !== "agent" || thread.assigned_agent === me.agent_id;
    node.dataset.version = thread.version;
    // Keyed by log position and drawn from the answer: each entry once, in the order things happened.
    const seen = new Set();
    const entries = (thread.recent || []).filter((e) => !seen.has(e.position) && seen.add(e.position));
    node.querySelector(".timeline").replaceChildren(...entries.map(entryNode));
  });
  $("open-empty").hidden = threads.length > 0;
}

function threadNode(thread) {
  const node = $("thread-template").content.firstElementChild.cloneNode(true);
  node.dataset.thread = thread.id;
  const titleId = `thread-title-${thread.id}`;
  node.querySelector(".thread-title").id = titleId;
  node.setAttribute("aria-labelledby", titleId);
  node.querySelector(".timeline").setAttribute("aria-label", "Timeline, oldest first");
  node.querySelector(".assign").hidden = me.role === "agent";
  const command = async (path, body, key) => {
    try {
      const result = await api(`/api/v1/threads/${thread.id}/${path}`, { method: "POST", body, key });
      showProblem("");
      refreshCustomer(result.position);
      refreshWork(result.position);
      return true;
    } catch (error) {
      showProblem(error.message);
      return false;
    }
  };
  const seen = (what) => commandKey(what, thread.id, node.dataset.version);
  node.querySelector(".take").addEventListener("click", async () => {
    if (await command("assign", {}, seen("take"))) announce("Thread assigned to you");
  });
  node.querySelector(".resolve").addEventListener("click", async () => {
    if (await command("resolve", {}, seen("resolve"))) announce("Thread resolved");
  });
  node.querySelector(".assign").addEventListener("submit", async (event) => {
    event.preventDefault();
    const agentId = event.target.elements.agent_id.value.trim();
    if (await command("assign", { agent_id: agentId }, seen(`assign-${agentId}`))) announce("Thread assigned");
  });
  // A note's key lasts as long as its text: submitted twice (a double click, a retry after an error), it
  // is one note; edited, it is a new one.
  let noteKey = null;
  let noteText = null;
  node.querySelector(".note").addEventListener("submit", async (event) => {
    event.preventDefault();
    const field = event.target.elements.text;
    if (!field.value.trim()) return;
    const text = field.value;
    if (noteText !== text) {
      noteKey = newKey();
      noteText = text;
    }
    if (await command("notes", { text }, noteKey)) {
      if (field.value === text) field.value = "";
      noteKey = noteText = null;
      announce("Note added");
    }
  });
  return node;
}

// A thread command's Idempotency-Key names what the agent saw (the thread at its version): a double click is
// one command.
function commandKey(what, threadId, version) {
  return `${what}:${threadId}:${version}:${me.agent_id}`;
}

function drawResolved(threads) {
  $("resolved-threads").replaceChildren(
    ...(threads.length
      ? threads.map((t) =>
          el(
            "li",
            { "data-thread": t.id },
            `${t.topic || "Conversation"} · ${t.channels.join(", ")} · resolved ${when(t.resolved_at)} `,
            el(
              "button",
              {
                type: "button",
                class: "secondary",
                "aria-label": `Reopen ${t.topic || "conversation"} resolved ${when(t.resolved_at)}`,
                onclick: async () => {
                  try {
                    // The same key for the thread as the agent saw it resolved: a double click reopens once.
                    const key = commandKey("reopen", t.id, t.version);
                    const result = await api(`/api/v1/threads/${t.id}/reopen`, { method: "POST", body: {}, key });
                    showProblem("");
                    announce("Thread reopened");
                    refreshCustomer(result.position);
                  } catch (error) {
                    showProblem(error.message);
                  }
                },
              },
              "Reopen",
            ),
          ),
        )
      : [el("li", { class: "muted" }, "none")]),
  );
}

// --- callback offers --------------------------------------------------------------------------------------

let countdown = null;

let endedOffers = 0;

// An offer rings on agent:me (live or replayed after a reload): the callback's own state says whether it
// still stands, so a replayed, lapsed or answered offer never pops.
async function considerOffer(data, reopen = false) {
  if (!data.callback_id || data.agent_id !== me.agent_id) return;
  if (!reopen && state.dismissed.has(data.callback_id)) return;
  if (state.offer && state.offer.id === data.callback_id && $("offer").open) return;
  const since = endedOffers; // what was read from here on is newer than any frame that came before
  let callback;
  let context = data.context;
  try {
    callback = await api(`/api/v1/callbacks/${data.callback_id}`);
    if (callback.agent_id !== me.agent_id) return;
    if (callback.state !== "offered" && !(reopen && callback.state === "accepted")) return;
    if (!context) context = await offerContext(callback);
  } catch (error) {
    // Opened from My work by the agent: say why nothing opens. A read for a frame or a refresh is tried
    // again by the next one.
    if (reopen) showProblem(`The callback could not be opened: ${error.message}`);
    return;
  }
  // The reads above take time, and the same offer may be considered twice at once (its frame and My work):
  // show it once, and not at all if a frame said it ended meanwhile (a cancelled offer must not pop up).
  if ((state.ended.get(callback.id) || 0) > since) return;
  if (state.offer && state.offer.id === callback.id && $("offer").open) return;
  showOffer(callback, context, data.expires_at || callback.offer_expires_at);
}

async function offerContext(callback) {
  // Listed from My work: the offer's context as the thread and customer are now.
  const thread = await api(`/api/v1/threads/${callback.thread_id}?limit=20`);
  const context = await api(`/api/v1/customers/${thread.customer_id}/context`);
  // Their local time, as the live offer has it: now, in the zone the callback is scheduled in (the one the
  // request named, else the customer's current one: callback_zone on the server).
  const zone = callback.requested_timezone || (context.customer && context.customer.timezone) || null;
  return {
    customer: context.customer,
    thread,
    recent: thread.timeline,
    reason: callback.reason,
    phone: callback.phone,
    customer_timezone: zone,
    customer_local_time: zone ? new Date().toISOString() : null,
  };
}

function showOffer(callback, context, expiresAt) {
  // Its attempt and offer number go with the answer: a retried answer never lands on a later offer.
  state.offer = {
    id: callback.id,
    answer: { attempt: callback.attempt, offer: callback.offer },
    context,
    customerId: context.customer && context.customer.id,
  };
  const dialog = $("offer");
  const customer = context.customer || {};
  const name = customer.name || (customer.identifiers || [])[0] || "a customer";
  $("offer-summary").replaceChildren(
    "Call ",
    value(name),
    " on ",
    value(callback.phone),
    ": ",
    value(callback.reason || "no reason given"),
  );
  const rows = [
    ["Number", callback.phone],
    ["Reason", callback.reason || "none given"],
    ["Attempt", String(callback.attempt)],
  ];
  if (context.customer_local_time) rows.push(["Their local time", localTime(context)]);
  if (context.thread && context.thread.topic) rows.push(["Thread", context.thread.topic]);
  if ((callback.outcomes || []).length) rows.push(["Earlier attempts", callback.outcomes.map((o) => o.outcome || o).join(", ")]);
  if (customer.identifiers) rows.push(["Identifiers", customer.identifiers.join(", ")]);
  $("offer-details").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  $("offer-timeline").replaceChildren(...(context.recent || []).map(entryNode));
  $("offer-problem").hidden = true;
  const accepted = callback.state === "accepted";
  $("offer-answer").hidden = accepted;
  $("offer-outcome").hidden = !accepted;
  $("offer-accept").disabled = false;
  clearInterval(countdown);
  const tick = () => {
    if (accepted) {
      $("offer-countdown").textContent = "Call under way";
      return;
    }
    const left = Math.max(0, Math.round((new Date(expiresAt) - new Date()) / 1000));
    $("offer-countdown").textContent = left > 0 ? `${left} s left to accept` : "The offer has lapsed";
    if (left === 0) {
      $("offer-accept").disabled = true;
      clearInterval(countdown);
    }
  };
  tick();
  if (!accepted && expiresAt) countdown = setInterval(tick, 1000);
  if (!dialog.open) dialog.showModal();
  (accepted ? $("outcome") : $("offer-accept")).focus();
  announce(`Callback offer: ${$("offer-summary").textContent}`);
}

function localTime(context) {
  const zone = context.customer_timezone;
  try {
    const time = new Date(context.customer_local_time).toLocaleString([], { timeZone: zone, timeStyle: "short" });
    return `${time} (${zone})`;
  } catch (_) {
    return context.customer_local_time;
  }
}

function offerProblem(error) {
  const node = $("offer-problem");
  node.textContent = error.message;
  node.hidden = false;
}

$("offer-accept").addEventListener("click", async () => {
  const offer = state.offer;
  try {
    const callback = await api(`/api/v1/callbacks/${offer.id}/accept`, { method: "POST", body: offer.answer });
    clearInterval(countdown);
    $("offer-problem").hidden = true;
    $("offer-countdown").textContent = "Call under way";
    $("offer-answer").hidden = true;
    $("offer-outcome").hidden = false;
    $("outcome").focus();
    announce("Callback accepted: call the customer, then record the outcome");
    if (offer.customerId) openCustomer(offer.customerId);
    refreshWork(callback.position);
  } catch (error) {
    offerProblem(error);
  }
});

$("offer-decline").addEventListener("click", async () => {
  try {
    const callback = await api(`/api/v1/callbacks/${state.offer.id}/decline`, {
      method: "POST",
      body: state.offer.answer,
    });
    closeOffer("Callback declined");
    refreshWork(callback.position);
  } catch (error) {
    offerProblem(error);
  }
});

$("offer-outcome").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = { outcome: $("outcome").value };
  const note = $("outcome-note").value.trim();
  if (note) body.note = note;
  try {
    const callback = await api(`/api/v1/callbacks/${state.offer.id}/outcome`, { method: "POST", body });
    $("outcome-note").value = "";
    closeOffer(`Outcome recorded: ${body.outcome.replace("_", " ")}`);
    refreshWork(callback.position);
    refreshCustomer(callback.position);
  } catch (error) {
    offerProblem(error);
  }
});

// Escape closes the dialog; the offer stays in My work until it is answered or lapses.
$("offer").addEventListener("close", () => {
  clearInterval(countdown);
  // The browser gives the focus back to what had it when the offer opened; that may have been redrawn
  // away meanwhile (My work changes with the offer): then My work, where the offer is listed, takes it.
  setTimeout(() => {
    if (!$("offer").open && (!document.activeElement || document.activeElement === document.body)) {
      focusOn($("work-title"));
    }
  }, 0);
});
// Escape: the offer stays in My work (opened from there again), but a refresh does not pop it back.
$("offer").addEventListener("cancel", () => {
  if (state.offer) state.dismissed.add(state.offer.id);
});

function closeOffer(text) {
  clearInterval(countdown);
  $("offer").close();
  announce(text);
  showProblem("");
  const status = $("announce");
  status.textContent = text;
}

// --- start ------------------------------------------------------------------------------------------------

connect();
loadWork();
if (state.customerId) loadCustomer();
