// The operator console: live queue, conversations in tabs, invitations,
// the supervisors' board. Strings come translated from the server
// (json_script); frames follow docs/protocol.md.
import { attachmentCard, onUploadToken, wireUpload } from "./attachments.js";
import { ConsoleSocket } from "./socket.js";
import { focusFirst, holdsFocus, preserveFocus } from "./focus.js";
import { say } from "./live.js";
import { safeText } from "./safetext.js";
import { beep, notifyDesktop, setUnreadTitle, showNotice, unlockAudio } from "./notify.js";
import { DirectoryDialog } from "./directory.js";
import {
  applyDefaultMode,
  dutyText,
  renderCompetence,
  renderPresence,
  renderWrapUp,
  updateModeWarning,
  wireCompetence,
} from "./extras.js";
import { LogoutGuard, ShiftKeeper } from "./shift.js";

const root = document.getElementById("console");
const T = JSON.parse(document.getElementById("console-strings").textContent);
const $ = (id) => document.getElementById(id);
const queueList = $("queue");
const tabs = $("tabs");
const panels = $("panels");
const statusLine = $("status");
const notice = $("notice");
const template = $("tpl-conversation");
const csrfToken = document.querySelector("input[name=csrfmiddlewaretoken]").value;

const state = {
  me: null,
  roles: [],
  services: [],
  allServices: [],
  canned: [],
  categories: [],
  capacity: 0,
  queue: [],
  conversations: new Map(),
  order: [],
  active: null,
  invitations: new Map(),
  board: null,
  outbox: new Map(),
  queueSeen: new Set(),
  claimedAt: 0, // when this person last asked for a conversation
};
const CLAIM_FOCUS_MS = 10000;

const isSupervisor = () => state.roles.includes("supervisor");
const isOperator = () => state.roles.includes("operator");

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child !== null) node.append(child);
  return node;
}

function minutes(seconds) {
  return `${Math.max(0, Math.floor(seconds / 60))} ${T.min}`;
}

function clock(iso) {
  const date = iso ? new Date(iso) : new Date();
  return date.toLocaleTimeString(document.documentElement.lang || "fr", {
    hour: "2-digit",
    minute: "2-digit",
  });
}

const roleLabel = (role) => T[role] || role;

// -- socket -----------------------------------------------------------------

const socket = new ConsoleSocket(root.dataset.ws, {
  onOpen: () => {
    statusLine.textContent = T.connected;
    statusLine.classList.remove("down");
    shift.socketOpen(true);
  },
  onDown: () => {
    statusLine.textContent = T.offline;
    statusLine.classList.add("down");
    shift.socketOpen(false);
  },
  onRefused: () => {
    statusLine.textContent = T.expired;
    if (!logoutGuard.confirmed) location.href = root.dataset.login;
  },
  onFrame: (frame) => (handlers[frame.type] || (() => {}))(frame),
});

function send(frame) {
  return socket.send(frame);
}

// -- queue --------------------------------------------------------------------

function renderQueue(items) {
  const fresh = items.filter((item) => !state.queueSeen.has(item.conversation));
  state.queue = items;
  state.queueSeen = new Set(items.map((item) => item.conversation));
  $("queue-count").textContent = String(items.length);
  preserveFocus($("queue-panel"), () => fillQueue(items), ...queueFocusTargets());
  if (fresh.length > 0 && isOperator() && state.me !== null) {
    beep(440, 0.18);
    say(T.new_in_queue, { show: document.hidden });
    notifyDesktop(T.new_in_queue, { tag: "queue" });
  }
  refreshAttention();
}

// Where focus goes when the queue item that had it disappears.
function queueFocusTargets() {
  return [() => queueList.querySelector("button:not([disabled])"), $("claim-next"), $("queue-title")];
}

function fillQueue(items) {
  if (items.length === 0) {
    queueList.replaceChildren(el("li", { class: "queue-empty", text: T.queue_empty }));
  } else {
    queueList.replaceChildren(
      ...items.map((item) => {
        const flags = el("span", { class: "flags" });
        if (item.urgent) flags.append(el("span", { class: "badge urgent", text: T.urgent }));
        if (item.minor) flags.append(el("span", { class: "badge minor", text: T.minor }));
        if (item.follow_up) flags.append(el("span", { class: "badge follow-up", text: T.follow_up }));
        if (item.competence?.confirm_force) flags.append(el("span", { class: "badge force", text: T.force_to_confirm }));
        // The visible text is the accessible name (WCAG 2.5.3); the verb
        // is read first by screen readers only.
        const button = el(
          "button",
          {
            type: "button",
            class: "queue-item",
            "data-conversation": item.conversation,
            "data-focus-key": item.conversation,
            disabled: !isOperator(),
          },
          el("span", { class: "visually-hidden", text: `${T.claim} : ` }),
          el("span", { class: "place", text: item.place }),
          flags,
          el("span", { class: "meta", text: `${roleLabel(item.role)} · ${item.service}` }),
          el("span", { class: "wait", text: minutes(item.waiting_s) }),
        );
        return el("li", {}, button);
      }),
    );
  }
}

queueList.addEventListener("click", (event) => {
  const button = event.target.closest("button.queue-item");
  if (button) claim(button.dataset.conversation);
});
$("claim-next").addEventListener("click", () => claim());

function claim(conversation) {
  state.claimedAt = Date.now();
  send(conversation ? { type: "claim", conversation } : { type: "claim" });
}

// -- invitations offered to me -------------------------------------------------

function renderInvitations() {
  // A withdrawn invitation takes its "Rejoindre" button with it.
  preserveFocus($("invitations-panel"), fillInvitations, ...queueFocusTargets());
}

function fillInvitations() {
  const list = $("invitations");
  const offered = [...state.invitations.values()].filter((inv) => inv.status === "offered");
  $("invitations-panel").hidden = offered.length === 0;
  list.replaceChildren(
    ...offered.map((inv) =>
      el(
        "li",
        { class: "invitation" },
        el("p", { class: "inv-head" },
          el("strong", { text: `${roleLabel(inv.visitor_role)} · ${inv.place}` }),
          inv.urgent ? el("span", { class: "badge urgent", text: T.urgent }) : null,
          inv.minor ? el("span", { class: "badge minor", text: T.minor }) : null),
        el("p", { class: "muted", text: `${inv.name} · ${inv.service_name}` }),
        inv.summary ? el("p", { class: "summary" }, safeText(inv.summary, T.hidden_char)) : null,
        el("button", { type: "button", class: "primary join", "data-conversation": inv.conversation, text: T.join }),
      ),
    ),
  );
}

$("invitations").addEventListener("click", (event) => {
  const button = event.target.closest("button.join");
  if (button) {
    state.claimedAt = Date.now();
    send({ type: "join", conversation: button.dataset.conversation });
  }
});

// -- tabs ---------------------------------------------------------------------

function unreadTotal() {
  let total = 0;
  for (const conv of state.conversations.values()) total += conv.unread;
  return total;
}

// The title and the icon's badge count what waits for the staff member:
// unread lines, and for an operator the people in the queue.
function refreshAttention() {
  const waiting = isOperator() ? state.queue.length : 0;
  const offered = [...state.invitations.values()].filter((inv) => inv.status === "offered").length;
  setUnreadTitle(unreadTotal() + waiting + offered);
}

function updateTab(conv) {
  const badge = conv.tab.querySelector(".unread");
  // The count is shown, and read as words after the tab's name.
  badge.textContent = conv.unread > 0 ? String(conv.unread) : "";
  badge.hidden = conv.unread === 0;
  conv.tab.querySelector(".unread-text").textContent = conv.unread > 0 ? `, ${T.unread.replace("{n}", conv.unread)}` : "";
  conv.tab.classList.toggle("has-unread", conv.unread > 0);
  conv.tab.querySelector(".tab-label").textContent = tabLabel(conv);
  conv.tab.classList.toggle("wrap-up", Boolean(conv.data.wrap_up));
  refreshAttention();
  updateLoad();
}

function tabLabel(conv) {
  const data = conv.data;
  const base = `${data.place || "—"} · ${roleLabel(data.role)}`;
  // Two open conversations from the same place and role get a number, so
  // that no two tabs share a name.
  const twins = [...state.conversations.values()].filter((other) => `${other.data.place || "—"} · ${roleLabel(other.data.role)}` === base);
  const rank = twins.indexOf(conv);
  const label = rank > 0 ? `${base} (${rank + 1})` : base;
  return data.wrap_up ? `${label} · ${T.wrap_up_tab}` : label;
}

function selectTab(id, { focus = false } = {}) {
  state.active = id;
  for (const tab of tabs.querySelectorAll("[role=tab]")) {
    const selected = tab.dataset.id === id;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    if (selected && focus) tab.focus();
  }
  for (const panel of panels.querySelectorAll("[role=tabpanel]")) {
    panel.hidden = panel.dataset.id !== id;
  }
  const conv = state.conversations.get(id);
  if (conv) {
    conv.unread = 0;
    updateTab(conv);
    scrollToEnd(conv);
  }
  $("empty").hidden = state.order.length > 0;
}

function addTab(id, labelText, panel) {
  const tab = el(
    "button",
    {
      type: "button",
      role: "tab",
      id: `tab-${id}`,
      "data-id": id,
      "aria-controls": `panel-${id}`,
      "aria-selected": "false",
      tabindex: "-1",
    },
    el("span", { class: "tab-label", text: labelText }),
    el("span", { class: "unread", hidden: true, "aria-hidden": "true" }),
    el("span", { class: "unread-text visually-hidden" }),
  );
  panel.id = `panel-${id}`;
  panel.dataset.id = id;
  panel.setAttribute("aria-labelledby", tab.id);
  panel.hidden = true;
  tabs.append(tab);
  panels.append(panel);
  state.order.push(id);
  tabs.hidden = false;
  refreshShortcutHints();
  return tab;
}

function removeTab(id) {
  $(`tab-${id}`)?.remove();
  $(`panel-${id}`)?.remove();
  state.order = state.order.filter((other) => other !== id);
  tabs.hidden = state.order.length === 0;
  refreshShortcutHints();
  if (state.active === id) {
    const next = state.order[state.order.length - 1];
    if (next) selectTab(next);
    else {
      state.active = null;
      $("empty").hidden = false;
    }
  }
}

function refreshShortcutHints() {
  state.order.forEach((id, index) => {
    const tab = $(`tab-${id}`);
    if (tab && index < 9) tab.setAttribute("aria-keyshortcuts", `Alt+${index + 1}`);
  });
}

tabs.addEventListener("click", (event) => {
  const tab = event.target.closest("[role=tab]");
  if (tab) selectTab(tab.dataset.id);
});

tabs.addEventListener("keydown", (event) => {
  const index = state.order.indexOf(state.active);
  let next = null;
  if (event.key === "ArrowRight") next = state.order[(index + 1) % state.order.length];
  else if (event.key === "ArrowLeft") next = state.order[(index - 1 + state.order.length) % state.order.length];
  else if (event.key === "Home") next = state.order[0];
  else if (event.key === "End") next = state.order[state.order.length - 1];
  if (next) {
    event.preventDefault();
    selectTab(next, { focus: true });
  }
});

// -- conversations ----------------------------------------------------------------

function openConversation(data, { select = false } = {}) {
  let conv = state.conversations.get(data.id);
  if (conv) {
    conv.data = { ...conv.data, ...data };
    renderHeader(conv);
    renderAll(conv);
    if (select) selectTab(data.id);
    return conv;
  }
  const panel = template.content.firstElementChild.cloneNode(true);
  conv = { id: data.id, data, panel, tab: null, seen: new Set(), unread: 0, typingTimer: null, lastTyping: 0, syncTimer: null };
  conv.tab = addTab(data.id, tabLabel(conv), panel);
  state.conversations.set(data.id, conv);
  wireConversation(conv);
  renderHeader(conv);
  renderAll(conv);
  if (data.consent) renderConsent(conv, data.consent);
  if (select || state.active === null) selectTab(data.id);
  updateTab(conv);
  return conv;
}

// Issue 16: the visitor came back with a receipt; say how it ended before.
function renderFollowUp(panel, followUp) {
  let line = panel.querySelector(".conv-follow-up");
  if (!line) {
    line = el("p", { class: "conv-follow-up" });
    panel.querySelector(".conv-as").after(line);
  }
  line.hidden = !followUp;
  if (!followUp) return;
  const outcome = followUp.previous_outcome_label;
  line.textContent = outcome ? T.follow_up_outcome.replace("{outcome}", outcome) : T.follow_up_open;
}

function renderHeader(conv) {
  const { data, panel } = conv;
  const inCharge = data.as === "operator";
  panel.classList.toggle("in-charge", inCharge);
  panel.querySelector(".conv-title").textContent = `${data.place || "—"} · ${roleLabel(data.role)}`;
  panel.querySelector(".conv-meta").textContent = `${data.service_name} · ${T.operator} : ${data.operator || "—"}`;
  const asText = { supervisor: T.as_supervisor, psychologist: T.as_psychologist, colleague: T.as_guest }[data.as] || "";
  panel.querySelector(".conv-as").textContent = asText;
  renderFollowUp(panel, data.follow_up);
  panel.querySelector(".flag-urgent").checked = Boolean(data.urgent);
  panel.querySelector(".flag-minor").checked = Boolean(data.minor);
  const people = (data.participants || []).map((p) => `${p.name} (${roleLabel(p.role)}${p.silent ? `, ${T.silent}` : ""})`);
  panel.querySelector(".participants").textContent = people.length ? `${T.participants} : ${people.join(", ")}` : "";
  const leave = panel.querySelector(".act-leave");
  leave.hidden = inCharge && !(data.participants || []).some((p) => p.role === "operator");
  leave.textContent = inCharge ? T.hand_over_leave : T.leave;
  for (const node of panel.querySelectorAll(".operator-only")) node.hidden = !inCharge;
  renderInvitationState(conv);
  renderCannedSelect(conv);
  renderCompetence(conv, T);
  renderWrapUp(conv, T);
  if (conv.tab) renderPresence(conv, T);
  applyDefaultMode(conv, state.me, T);
}

function renderInvitationState(conv) {
  const inv = conv.data.invitation;
  const line = conv.panel.querySelector(".invitation-state");
  line.replaceChildren();
  if (!inv) return;
  const text = {
    asking: T.invitation_asking,
    offered: T.invitation_offered,
    accepted: T.invitation_accepted,
    declined: T.invitation_declined,
    cancelled: T.invitation_cancelled,
  }[inv.status];
  line.append(el("span", { text: `${T.invitation} (${roleLabel(inv.role)}) : ${text}` }));
  if ((inv.status === "asking" || inv.status === "offered") && conv.data.as === "operator") {
    line.append(el("button", { type: "button", class: "link cancel-invitation", "data-invitation": inv.invitation, text: T.cancel }));
  }
}

// The consent's state line (never the details); returns its main text.
function renderConsent(conv, frame) {
  const text = { asked: T.consent_asked, accepted: T.consent_accepted, declined: T.consent_declined }[frame.status];
  if (!text) return "";
  const fields = frame.fields && frame.fields.length ? ` (${T.consent_fields} : ${frame.fields.map((field) => T[`field_${field}`] || field).join(", ")})` : "";
  conv.panel.querySelector(".consent-state").textContent = text + fields;
  conv.panel.querySelector(".act-consent").disabled = frame.status !== "declined";
  return text;
}

function renderCannedSelect(conv) {
  const select = conv.panel.querySelector("select.canned");
  const mine = state.canned.filter((answer) => answer.service === conv.data.service);
  select.replaceChildren(
    el("option", { value: "", text: T.canned_pick }),
    ...mine.map((answer) => el("option", { value: String(answer.id), text: answer.title })),
  );
  select.closest(".canned-pick").hidden = mine.length === 0;
}

function renderAll(conv) {
  const history = conv.panel.querySelector(".history");
  history.replaceChildren(el("li", { class: "event", text: `${T.history_start} · ${clock(conv.data.started_at)}` }));
  conv.seen = new Set();
  const items = [
    ...(conv.data.history || []).map((m) => ({ kind: "message", at: m.at, frame: m })),
    ...(conv.data.notes || []).map((n) => ({ kind: "note", at: n.at, frame: n })),
    ...(conv.data.whispers || []).map((w) => ({ kind: "whisper", at: w.at, frame: w })),
  ].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  for (const item of items) {
    if (item.kind === "message") addMessage(conv, item.frame, { silent: true });
    else addStaffLine(conv, item.kind, item.frame, { silent: true });
  }
  for (const [id, pending] of state.outbox) {
    if (pending.conversation === conv.id) history.append(pendingLine(id, pending));
  }
  scrollToEnd(conv);
}

function scrollToEnd(conv) {
  const history = conv.panel.querySelector(".history");
  history.scrollTop = history.scrollHeight;
}

function contiguous(conv) {
  let n = 0;
  while (conv.seen.has(n + 1)) n += 1;
  return n;
}

function messageLine(frame) {
  const mine = frame.from !== "visitor" && frame.from !== "system" && frame.name === state.me;
  const who = frame.from === "visitor" ? T.visitor : `${frame.name || roleLabel(frame.from)}`;
  return el(
    "li",
    { class: `msg from-${frame.from}${mine ? " mine" : ""}`, "data-seq": String(frame.seq), "data-id": frame.id || null },
    el("span", { class: "who", text: `${who}${frame.from !== "visitor" ? ` · ${roleLabel(frame.from)}` : ""}` }),
    el("time", { class: "at", datetime: frame.at, text: clock(frame.at) }),
    frame.attachment ? attachmentCard(frame.attachment, T) : el("p", { class: "body" }, safeText(frame.text, T.hidden_char)),
  );
}

function pendingLine(id, pending) {
  return el(
    "li",
    { class: "msg mine pending", "data-id": id },
    el("span", { class: "who", text: `${T.you} · ${T.sending}` }),
    el("time", { class: "at", text: clock() }),
    el("p", { class: "body" }, safeText(pending.text, T.hidden_char)),
  );
}

function addMessage(conv, frame, { silent = false } = {}) {
  if (conv.seen.has(frame.seq)) return;
  const history = conv.panel.querySelector(".history");
  if (frame.id) history.querySelector(`li.pending[data-id="${frame.id}"]`)?.remove();
  conv.seen.add(frame.seq);
  const line = messageLine(frame);
  const later = [...history.querySelectorAll("li.msg[data-seq]")].find((li) => Number(li.dataset.seq) > frame.seq);
  if (later) history.insertBefore(line, later);
  else history.append(line);
  if (contiguous(conv) < Math.max(...conv.seen)) scheduleSync(conv);
  if (!silent) {
    scrollToEnd(conv);
    if (frame.from !== "system" && frame.name !== state.me) noticeMessage(conv, frame);
  }
}

function scheduleSync(conv) {
  clearTimeout(conv.syncTimer);
  conv.syncTimer = setTimeout(() => {
    const max = Math.max(0, ...conv.seen);
    const upTo = contiguous(conv);
    if (upTo < max) send({ type: "sync", conversation: conv.id, after: upTo });
  }, 800);
}

function addStaffLine(conv, kind, frame, { silent = false } = {}) {
  const history = conv.panel.querySelector(".history");
  const key = `${kind}-${frame.id}`;
  if (history.querySelector(`[data-key="${key}"]`)) return;
  history.append(
    el(
      "li",
      { class: `staff-line ${kind}`, "data-key": key },
      el("span", { class: "who", text: `${kind === "note" ? T.note : T.whisper} · ${frame.name}` }),
      el("time", { class: "at", datetime: frame.at, text: clock(frame.at) }),
      el("p", { class: "body" }, safeText(frame.text, T.hidden_char)),
    ),
  );
  if (!silent) {
    scrollToEnd(conv);
    if (frame.name !== state.me) noticeMessage(conv, frame);
  }
}

function addEvent(conv, text) {
  const history = conv.panel.querySelector(".history");
  history.append(el("li", { class: "event", text: `${clock()} · ${text}` }));
  scrollToEnd(conv);
}

function noticeMessage(conv, frame) {
  const focused = state.active === conv.id && !document.hidden;
  if (focused) return;
  conv.unread += 1;
  updateTab(conv);
  beep(frame.from === "visitor" ? 740 : 560);
  showNotice(notice, `${T.new_message} — ${tabLabel(conv)}`);
  notifyDesktop(T.new_message, { tag: conv.id, body: tabLabel(conv) });
}

// Where focus goes when the conversation that had it goes away: the tab
// shown instead, else the queue.
function afterConversationFocusTargets() {
  return [() => composerOf(state.active), $("claim-next"), ...queueFocusTargets(), $("work")];
}

function composerOf(id) {
  return id ? $(`panel-${id}`)?.querySelector("textarea") : null;
}

function closeConversation(id, text) {
  const conv = state.conversations.get(id);
  if (!conv) return;
  const label = tabLabel(conv);
  state.conversations.delete(id);
  for (const [key, pending] of state.outbox) if (pending.conversation === id) state.outbox.delete(key);
  preserveFocus([conv.panel, conv.tab], () => removeTab(id), ...afterConversationFocusTargets());
  refreshAttention();
  updateLoad();
  showNotice(notice, `${text} — ${label}`);
}

function updateLoad() {
  let load = 0;
  for (const conv of state.conversations.values()) {
    // A conversation the visitor ended no longer takes a slot.
    if (conv.data.wrap_up) continue;
    if (conv.data.as === "operator" || conv.data.as === "colleague" || conv.data.as === "psychologist") load += 1;
  }
  $("load").textContent = String(load);
}

function wireConversation(conv) {
  const { panel } = conv;
  const form = panel.querySelector("form.composer");
  const textarea = form.querySelector("textarea");
  const hint = form.querySelector(".composer-hint");
  hint.id = `hint-${conv.id}`;
  textarea.setAttribute("aria-describedby", hint.id);
  for (const radio of form.querySelectorAll("input[name=mode]")) radio.name = `mode-${conv.id}`;
  const modeInput = () => form.querySelector(`input[name="mode-${conv.id}"]:checked`).value;
  wireUpload(conv.id, panel, send, T);

  function submit() {
    const text = textarea.value.trim();
    if (!text) return;
    const mode = modeInput();
    const id = crypto.randomUUID();
    if (mode === "message") {
      const pending = { conversation: conv.id, text };
      state.outbox.set(id, pending);
      panel.querySelector(".history").append(pendingLine(id, pending));
      send({ type: "message", conversation: conv.id, id, text });
      send({ type: "typing", conversation: conv.id, active: false });
    } else {
      send({ type: mode, conversation: conv.id, id, text });
    }
    textarea.value = "";
    scrollToEnd(conv);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      submit();
    }
  });
  textarea.addEventListener("input", () => {
    if (modeInput() !== "message") return;
    const now = Date.now();
    if (now - conv.lastTyping > 3000) {
      conv.lastTyping = now;
      send({ type: "typing", conversation: conv.id, active: true });
    }
    clearTimeout(conv.typingTimer);
    conv.typingTimer = setTimeout(() => {
      conv.lastTyping = 0;
      send({ type: "typing", conversation: conv.id, active: false });
    }, 4000);
  });
  form.addEventListener("change", (event) => {
    if (event.target.matches("input[type=radio]")) {
      conv.modeChosen = true;
      form.classList.toggle("mode-note", modeInput() === "note");
      form.classList.toggle("mode-whisper", modeInput() === "whisper");
      updateModeWarning(conv, state.me, T);
    }
  });
  wireCompetence(conv, send);
  panel.querySelector(".act-directory").addEventListener("click", (event) => directory.open(conv, event.currentTarget));
  panel.querySelector(".act-wrap-up").addEventListener("click", () => openCloseDialog(conv));
  // Choosing in the list changes nothing by itself (arrows browse it,
  // WCAG 3.2.2); the "Insérer" button puts the answer in the composer.
  const canned = panel.querySelector("select.canned");
  panel.querySelector("button.canned-insert").addEventListener("click", () => {
    const answer = state.canned.find((item) => String(item.id) === canned.value);
    if (!answer) {
      canned.focus();
      return;
    }
    textarea.value = textarea.value ? `${textarea.value}\n${answer.text}` : answer.text;
    canned.value = "";
    textarea.focus();
  });
  panel.querySelector(".flag-urgent").addEventListener("change", (event) =>
    send({ type: "flag", conversation: conv.id, urgent: event.target.checked }),
  );
  panel.querySelector(".flag-minor").addEventListener("change", (event) =>
    send({ type: "flag", conversation: conv.id, minor: event.target.checked }),
  );
  panel.querySelector(".act-release").addEventListener("click", () => send({ type: "release", conversation: conv.id }));
  panel.querySelector(".act-leave").addEventListener("click", () => send({ type: "leave", conversation: conv.id }));
  panel.querySelector(".act-close").addEventListener("click", () => openCloseDialog(conv));
  panel.querySelector(".act-abusive").addEventListener("click", () => {
    dialogConversation = conv;
    $("dlg-abusive").showModal();
  });
  panel.querySelector(".act-invite").addEventListener("click", () => openInviteDialog(conv, "psychologist"));
  panel.querySelector(".act-colleague").addEventListener("click", () => openInviteDialog(conv, "operator"));
  panel.querySelector(".act-transfer").addEventListener("click", () => openTransferDialog(conv));
  panel.querySelector(".act-consent").addEventListener("click", () => send({ type: "request_consent", conversation: conv.id }));
  panel.querySelector(".act-escalation").href = root.dataset.escalation.replace("00000000-0000-0000-0000-000000000000", conv.id);
  panel.addEventListener("click", (event) => {
    const cancel = event.target.closest("button.cancel-invitation");
    if (cancel) send({ type: "cancel_invitation", invitation: cancel.dataset.invitation });
  });
}

// -- dialogs -----------------------------------------------------------------------

function wireDialog(dialog, onConfirm) {
  dialog.querySelector(".dlg-cancel").addEventListener("click", () => dialog.close("cancel"));
  dialog.querySelector("form").addEventListener("submit", (event) => {
    if (!onConfirm()) event.preventDefault();
  });
}

let dialogConversation = null;

function openCloseDialog(conv) {
  dialogConversation = conv;
  const dialog = $("dlg-close");
  dialog.querySelector("form").reset();
  $("close-error").textContent = "";
  $("close-categories").replaceChildren(
    ...state.categories.map((category) =>
      el("label", {}, el("input", { type: "checkbox", name: "category", value: category.code }), ` ${category.label}`),
    ),
  );
  dialog.showModal();
}

wireDialog($("dlg-close"), () => {
  const dialog = $("dlg-close");
  const outcome = dialog.querySelector("input[name=outcome]:checked");
  if (!outcome) {
    $("close-error").textContent = T.outcome_required;
    // Focus goes to the choice that is missing.
    dialog.querySelector("input[name=outcome]").focus();
    return false;
  }
  const categories = [...dialog.querySelectorAll("input[name=category]:checked")].map((input) => input.value);
  send({ type: "close", conversation: dialogConversation.id, outcome: outcome.value, categories });
  return true;
});

let inviteRole = "psychologist";

function otherServices(conv) {
  return state.allServices.filter((service) => service.slug !== conv.data.service);
}

function openInviteDialog(conv, role) {
  dialogConversation = conv;
  inviteRole = role;
  const dialog = $("dlg-invite");
  dialog.querySelector("form").reset();
  $("invite-error").textContent = "";
  $("dlg-invite-title").textContent = role === "psychologist" ? T.invite_psychologist : T.invite_colleague;
  $("invite-duty").textContent = role === "psychologist" ? dutyText(conv, T) : "";
  $("invite-duty").hidden = role !== "psychologist";
  // Ask again: who is online and on duty changes during a conversation.
  if (role === "psychologist") send({ type: "psychologists", conversation: conv.id });
  dialog.querySelector(".invite-service").hidden = role === "psychologist";
  $("invite-service").replaceChildren(
    ...otherServices(conv).map((service) => el("option", { value: service.slug, text: service.name })),
  );
  dialog.showModal();
}

wireDialog($("dlg-invite"), () => {
  const frame = { type: "invite", conversation: dialogConversation.id, role: inviteRole, summary: $("invite-summary").value };
  if (inviteRole === "operator") frame.service = $("invite-service").value;
  send(frame);
  return true;
});

function openTransferDialog(conv) {
  dialogConversation = conv;
  $("transfer-service").replaceChildren(
    ...otherServices(conv).map((service) => el("option", { value: service.slug, text: service.name })),
  );
  $("dlg-transfer").showModal();
}

wireDialog($("dlg-transfer"), () => {
  send({ type: "transfer", conversation: dialogConversation.id, service: $("transfer-service").value });
  return true;
});

wireDialog($("dlg-abusive"), () => {
  send({ type: "abusive", conversation: dialogConversation.id });
  return true;
});

// -- the supervisors' board --------------------------------------------------------

function ensureBoard() {
  if ($("panel-board")) return;
  const panel = el("section", { class: "board", role: "tabpanel", tabindex: "-1" });
  panel.append(
    el("div", { id: "board-alerts", class: "board-alerts", role: "alert" }),
    el("h2", { text: T.board_conversations }),
    scrollBox(T.board_conversations, el("table", { class: "grid", id: "board-conversations" })),
    el("h2", { text: T.board_staff }),
    scrollBox(T.board_staff, el("table", { class: "grid", id: "board-staff" })),
    el("h2", { text: T.canned }),
    el("div", { id: "canned-editor" }),
  );
  const tab = addTab("board", T.board, panel);
  tabs.prepend(tab);
  state.order = ["board", ...state.order.filter((id) => id !== "board")];
  refreshShortcutHints();
  if (state.active === null) selectTab("board");
  panel.addEventListener("click", (event) => {
    const watch = event.target.closest("button.watch");
    if (watch) send({ type: "join", conversation: watch.dataset.conversation });
  });
  renderCannedEditor();
}

// A wide table scrolls sideways inside its own box on a narrow screen; the
// box is a named keyboard stop so that it can be scrolled without a mouse.
function scrollBox(label, table) {
  return el("div", { class: "table-scroll", role: "region", tabindex: "0", "aria-label": label }, table);
}

function row(cells, header = false) {
  return el("tr", {}, ...cells.map((cell) => el(header ? "th" : "td", { scope: header ? "col" : null }, cell)));
}

function renderBoard(board) {
  ensureBoard();
  state.board = board;
  const alerts = board.report_alerts || [];
  $("board-alerts").replaceChildren(
    ...(alerts.length
      ? [
          el("h2", { text: T.report_alerts }),
          el(
            "ul",
            {},
            ...alerts.map((alert) =>
              el("li", { text: `${alert.report} → ${alert.unit} (${alert.method}) : ${alert.attempts} ${T.report_attempts} — ${alert.error}` }),
            ),
          ),
        ]
      : []),
  );
  const conversations = $("board-conversations");
  conversations.replaceChildren(
    el("caption", { class: "visually-hidden", text: T.board_conversations }),
    row([T.service, T.state, T.person, T.operator, T.participants, el("span", { class: "visually-hidden", text: T.action })], true),
    ...board.conversations.map((conv) => {
      const flags = el("span", {});
      if (conv.urgent) flags.append(el("span", { class: "badge urgent", text: T.urgent }));
      if (conv.minor) flags.append(el("span", { class: "badge minor", text: T.minor }));
      const mine = state.conversations.has(conv.id);
      const action =
        conv.status === "active" && !mine
          ? el("button", { type: "button", class: "watch", "data-conversation": conv.id, "data-focus-key": `watch-${conv.id}`, text: T.watch })
          : document.createTextNode("");
      return row([
        document.createTextNode(conv.service),
        el("span", { class: `status-${conv.status}`, text: `${T[`status_${conv.status}`]} · ${minutes(conv.since_s)}` }),
        el("span", {}, document.createTextNode(`${conv.place} · ${roleLabel(conv.role)} `), flags),
        document.createTextNode(conv.operator || "—"),
        document.createTextNode(conv.participants.map((p) => `${p.name} (${roleLabel(p.role)})`).join(", ")),
        action,
      ]);
    }),
  );
  $("board-staff").replaceChildren(
    el("caption", { class: "visually-hidden", text: T.board_staff }),
    row([T.name, T.roles, T.presence, T.load, T.auto], true),
    ...board.staff.map((member) =>
      row([
        document.createTextNode(member.name),
        document.createTextNode(member.roles.map(roleLabel).join(", ")),
        el("span", { class: member.online ? "online" : "away", text: member.online ? T.online : T.away }),
        document.createTextNode(`${member.load}/${member.capacity}`),
        document.createTextNode(member.auto_assign ? "auto" : ""),
      ]),
    ),
  );
}

function renderCannedEditor() {
  const box = $("canned-editor");
  if (!box) return;
  const mine = state.services;
  const list = el(
    "ul",
    { class: "canned-list" },
    ...state.canned.map((answer) =>
      el(
        "li",
        {},
        el("strong", { text: answer.title }),
        el("span", { class: "muted", text: ` · ${answer.service}` }),
        el("p", { text: answer.text }),
        // The visible verb first, then which answer (WCAG 2.5.3, 2.4.6).
        el("button", { type: "button", class: "canned-edit", "data-id": String(answer.id), "data-focus-key": `edit-${answer.id}` },
          T.canned_edit, el("span", { class: "visually-hidden", text: ` : ${answer.title}` })),
        el("button", { type: "button", class: "canned-delete danger", "data-id": String(answer.id), "data-focus-key": `delete-${answer.id}` },
          T.canned_delete, el("span", { class: "visually-hidden", text: ` : ${answer.title}` })),
      ),
    ),
  );
  const form = el(
    "form",
    { class: "canned-form" },
    el("input", { type: "hidden", name: "id" }),
    el("label", { for: "canned-service", text: T.service }),
    el("select", { id: "canned-service", name: "service" }, ...mine.map((slug) => el("option", { value: slug, text: slug }))),
    el("label", { for: "canned-title", text: T.title }),
    el("input", { id: "canned-title", name: "title", maxlength: "80", required: true }),
    el("label", { for: "canned-text", text: T.text }),
    el("textarea", { id: "canned-text", name: "text", rows: "3", maxlength: "2000", required: true }),
    el("button", { type: "submit", class: "primary", text: T.canned_save }),
  );
  box.replaceChildren(list, el("h3", { text: T.canned_new }), form);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const id = form.elements.id.value ? Number(form.elements.id.value) : null;
    const frame = { type: "canned_save", service: form.elements.service.value, title: form.elements.title.value, text: form.elements.text.value };
    if (id !== null) frame.id = id;
    send(frame);
  });
  list.addEventListener("click", (event) => {
    const edit = event.target.closest("button.canned-edit");
    const del = event.target.closest("button.canned-delete");
    if (edit) {
      const answer = state.canned.find((item) => String(item.id) === edit.dataset.id);
      form.elements.id.value = String(answer.id);
      form.elements.service.value = answer.service;
      form.elements.title.value = answer.title;
      form.elements.text.value = answer.text;
      form.elements.title.focus();
    }
    if (del) {
      const answer = state.canned.find((item) => String(item.id) === del.dataset.id);
      // A deletion cannot be undone: ask first (a native, accessible dialog).
      if (answer && window.confirm(T.canned_confirm_delete.replace("{title}", answer.title))) {
        send({ type: "canned_delete", id: answer.id });
      }
    }
  });
}

// -- frames ----------------------------------------------------------------------------

const handlers = {
  hello(frame) {
    state.me = frame.user.name;
    state.roles = frame.user.roles;
    state.services = frame.user.services;
    state.allServices = frame.services || [];
    state.canned = frame.canned || [];
    state.categories = frame.categories || [];
    state.capacity = frame.capacity;
    $("me-name").textContent = frame.user.name;
    $("me-roles").textContent = frame.user.roles.map(roleLabel).join(", ");
    $("capacity").textContent = String(frame.capacity);
    $("load-wrap").hidden = !isOperator() && !state.roles.includes("psychologist");
    $("auto-assign-wrap").hidden = !isOperator();
    $("auto-assign").checked = Boolean(frame.auto_assign);
    $("claim-next").hidden = !isOperator();
    state.queueSeen = new Set(frame.queue.map((item) => item.conversation));
    renderQueue(frame.queue);
    const present = new Set(frame.conversations.map((conv) => conv.id));
    for (const id of [...state.conversations.keys()]) if (!present.has(id)) closeConversation(id, T.released);
    for (const conv of frame.conversations) openConversation(conv);
    state.invitations = new Map((frame.invitations || []).map((inv) => [inv.invitation, inv]));
    renderInvitations();
    for (const [id, pending] of state.outbox) send({ type: "message", conversation: pending.conversation, id, text: pending.text });
  },
  queue(frame) {
    renderQueue(frame.items);
  },
  upload_token(frame) {
    onUploadToken(frame, T);
  },
  assigned(frame) {
    for (const [id, inv] of state.invitations) if (inv.conversation === frame.conversation.id) state.invitations.delete(id);
    // Asked for by this person (claim, "next", join) or focus was lost in
    // the change: go to the new tab's composer. Otherwise (automatic
    // assignment while typing elsewhere) leave focus where it is.
    const wanted = Date.now() - state.claimedAt < CLAIM_FOCUS_MS || holdsFocus([queueList, $("invitations")]);
    state.claimedAt = 0;
    renderInvitations();
    const conv = openConversation(frame.conversation, { select: true });
    if (wanted) focusFirst(composerOf(conv.id), conv.panel);
    beep(880, 0.1);
    say(`${T.assigned} — ${tabLabel(conv)}`);
  },
  message(frame) {
    const conv = state.conversations.get(frame.conversation);
    if (conv) addMessage(conv, frame);
  },
  ack(frame) {
    state.outbox.delete(frame.id);
    const conv = state.conversations.get(frame.conversation);
    if (!conv) return;
    const line = conv.panel.querySelector(`li.pending[data-id="${frame.id}"]`);
    conv.seen.add(frame.seq);
    if (line) {
      line.classList.remove("pending");
      line.dataset.seq = String(frame.seq);
      line.querySelector(".who").textContent = `${T.you} · ${roleLabel(conv.data.as === "colleague" ? "operator" : conv.data.as)}`;
    }
  },
  typing(frame) {
    const conv = state.conversations.get(frame.conversation);
    if (!conv) return;
    const line = conv.panel.querySelector(".typing");
    line.textContent = frame.active ? `${roleLabel(frame.from)} ${T.typing}` : "";
  },
  note(frame) {
    const conv = state.conversations.get(frame.conversation);
    if (conv) addStaffLine(conv, "note", frame);
  },
  whisper(frame) {
    const conv = state.conversations.get(frame.conversation);
    if (conv) addStaffLine(conv, "whisper", frame);
  },
  joined(frame) {
    const conv = state.conversations.get(frame.conversation);
    if (!conv) return;
    if (frame.name === state.me && !frame.silent) {
      // A silent supervisor who wrote to the person is now visible.
      for (const p of conv.data.participants || []) if (p.name === state.me) p.silent = false;
      renderHeader(conv);
    }
    if (frame.name !== state.me) {
      const others = (conv.data.participants || []).filter((p) => p.name !== frame.name);
      if (frame.role !== "operator" || conv.data.operator !== frame.name) others.push({ role: frame.role, name: frame.name, silent: Boolean(frame.silent) });
      conv.data.participants = others;
      renderHeader(conv);
    }
    addEvent(conv, `${frame.name} (${roleLabel(frame.role)}) ${frame.silent ? T.joined_silent : T.joined}`);
  },
  left(frame) {
    const conv = state.conversations.get(frame.conversation);
    if (!conv) return;
    conv.data.participants = (conv.data.participants || []).filter((p) => p.name !== frame.name);
    renderHeader(conv);
    addEvent(conv, `${frame.name} (${roleLabel(frame.role)}) ${frame.reconnecting ? T.reconnecting : T.left}`);
  },
  handed_over(frame) {
    const conv = state.conversations.get(frame.conversation);
    if (!conv) return;
    conv.data.operator = frame.name;
    if (frame.service) conv.data.service = frame.service;
    if (frame.service_name) conv.data.service_name = frame.service_name;
    conv.data.participants = (conv.data.participants || []).filter((p) => p.name !== frame.name);
    if (frame.you) conv.data.as = "operator";
    renderHeader(conv);
    updateLoad();
    addEvent(conv, frame.you ? T.handed_over : `${frame.name} ${T.handed_over_other}`);
  },
  invitation(frame) {
    const conv = state.conversations.get(frame.conversation);
    if (frame.status !== "offered" && state.invitations.delete(frame.invitation)) renderInvitations();
    if (conv) {
      conv.data.invitation = frame.status === "asking" || frame.status === "offered" ? frame : { ...frame };
      renderInvitationState(conv);
      if (frame.status !== "asking" && frame.status !== "offered") {
        setTimeout(() => {
          if (conv.data.invitation && conv.data.invitation.invitation === frame.invitation) {
            conv.data.invitation = null;
            renderInvitationState(conv);
          }
        }, 8000);
      }
      return;
    }
    if (frame.status === "offered") {
      state.invitations.set(frame.invitation, frame);
      beep(620, 0.2);
      showNotice(notice, `${T.invitation} — ${frame.place || ""}`);
      notifyDesktop(T.invitation, { tag: frame.invitation });
    } else {
      state.invitations.delete(frame.invitation);
    }
    renderInvitations();
    refreshAttention();
  },
  consent_requested(frame) {
    handlers.consent({ ...frame, status: "asked", fields: [] });
  },
  consent(frame) {
    const conv = state.conversations.get(frame.conversation);
    if (!conv) return;
    const text = renderConsent(conv, frame);
    if (text && frame.status !== "asked") addEvent(conv, text);
  },
  flagged(frame) {
    const conv = state.conversations.get(frame.conversation);
    if (conv) {
      conv.data.urgent = frame.urgent;
      conv.data.minor = frame.minor;
      renderHeader(conv);
    }
  },
  closed(frame) {
    const conv = state.conversations.get(frame.conversation);
    if (conv && frame.wrap_up) {
      // The visitor left: the slot is free, the outcome still to record.
      conv.data.wrap_up = true;
      conv.data.wrap_up_reason = frame.reason;
      conv.data.presence = "gone";
      renderHeader(conv);
      updateTab(conv);
      const text = frame.reason === "quick_exit" ? T.wrap_up_quick_exit : T.wrap_up_left;
      addEvent(conv, text);
      showNotice(notice, `${T.presence_gone} — ${tabLabel(conv)}`);
      notifyDesktop(T.presence_gone, { tag: conv.id, body: tabLabel(conv) });
      beep(330, 0.2);
      return;
    }
    closeConversation(frame.conversation, frame.reason === "wrapped_up" ? T.wrapped_up : T.closed);
  },
  conversation(frame) {
    // A fresh staff view (after a handover): header, actions, canned answers.
    const conv = state.conversations.get(frame.conversation.id);
    if (!conv) return;
    const { history, notes, whispers, ...fresh } = frame.conversation;
    conv.data = { ...conv.data, ...fresh };
    renderHeader(conv);
    updateTab(conv);
  },
  presence(frame) {
    const conv = state.conversations.get(frame.conversation);
    if (!conv || conv.data.wrap_up) return;
    clearTimeout(conv.presenceTimer);
    conv.data.presence = frame.presence;
    renderPresence(conv, T);
    addEvent(conv, T[`presence_${frame.presence}`]);
    if (frame.presence === "reconnecting" && frame.grace_s) {
      // Past the visitor's grace period they are most likely gone; the
      // conversation stays open in case they come back.
      conv.presenceTimer = setTimeout(() => {
        if (conv.data.presence !== "reconnecting" || conv.data.wrap_up) return;
        conv.data.presence = "gone";
        renderPresence(conv, T);
        addEvent(conv, T.presence_gone);
      }, frame.grace_s * 1000);
    }
  },
  psychologists(frame) {
    const conv = state.conversations.get(frame.conversation);
    if (!conv) return;
    const { type, conversation, ...duty } = frame;
    conv.data.psychologists = duty;
    if (dialogConversation === conv && inviteRole === "psychologist") $("invite-duty").textContent = dutyText(conv, T);
  },
  force_confirmed(frame) {
    const conv = state.conversations.get(frame.conversation);
    if (!conv) return;
    if (conv.data.competence) conv.data.competence = { ...conv.data.competence, confirm_force: false };
    renderHeader(conv);
    addEvent(conv, `${frame.transferred ? T.force_transferred : T.force_confirmed} : ${T[`force_${frame.force}`] || frame.force}`);
  },
  resource_sent(frame) {
    // My own card comes back as this reply, not as a message frame.
    const conv = state.conversations.get(frame.conversation);
    if (!conv) return;
    const card = frame.card || {};
    const text = [card.name, card.phone, card.address, card.hours, card.url].filter(Boolean).join("\n");
    const from = conv.data.as === "colleague" ? "operator" : conv.data.as;
    addMessage(conv, { seq: frame.seq, from, name: state.me, text, card, at: new Date().toISOString() }, { silent: true });
    scrollToEnd(conv);
    showNotice(notice, `${T.directory_shared} — ${card.name || ""}`);
  },
  released(frame) {
    closeConversation(frame.conversation, T.released);
  },
  board(frame) {
    // The board is redrawn at every change: focus stays on "the same"
    // button, else on the board itself.
    preserveFocus($("panel-board"), () => renderBoard(frame), () => $("panel-board"));
  },
  canned(frame) {
    state.canned = frame.items;
    for (const conv of state.conversations.values()) renderCannedSelect(conv);
    // The editor is rebuilt: focus stays on the same button, else goes to
    // the form's first field.
    preserveFocus($("canned-editor"), renderCannedEditor, () => $("canned-title"));
  },
  canned_saved() {},
  canned_deleted() {},
  auto_assign(frame) {
    $("auto-assign").checked = frame.enabled;
    showNotice(notice, frame.enabled ? T.auto_assign_on : T.auto_assign_off);
  },
  error(frame) {
    if (frame.ref) state.outbox.delete(frame.ref);
    showNotice(notice, `${T.error} : ${frame.message}`);
  },
};

$("auto-assign").addEventListener("change", (event) => send({ type: "auto_assign", enabled: event.target.checked }));

// -- keyboard, activity, session ------------------------------------------------------

document.addEventListener("keydown", (event) => {
  if (event.altKey && !event.ctrlKey && /^[1-9]$/.test(event.key)) {
    const id = state.order[Number(event.key) - 1];
    if (id) {
      event.preventDefault();
      selectTab(id, { focus: true });
      const textarea = $(`panel-${id}`)?.querySelector("textarea");
      if (textarea) textarea.focus();
    }
  } else if (event.altKey && (event.key === "n" || event.key === "N")) {
    event.preventDefault();
    if (isOperator()) send({ type: "claim" });
  } else if (event.altKey && (event.key === "q" || event.key === "Q")) {
    event.preventDefault();
    (queueList.querySelector("button") || $("claim-next")).focus();
  }
});

function activity() {
  unlockAudio();
  shift.activity();
}

for (const type of ["keydown", "pointerdown"]) document.addEventListener(type, activity, { passive: true });

document.addEventListener("visibilitychange", () => {
  if (!document.hidden && state.active) {
    const conv = state.conversations.get(state.active);
    if (conv) {
      conv.unread = 0;
      updateTab(conv);
    }
  }
});

// -- issue 10: directory, shift, logout ---------------------------------------------------

const directory = new DirectoryDialog($("dlg-directory"), {
  endpoint: root.dataset.directory,
  communes: root.dataset.communes,
  strings: T,
  send,
});

const shift = new ShiftKeeper({
  endpoint: root.dataset.keepalive,
  csrfToken,
  idleSeconds: Number(root.dataset.idle),
  strings: T,
  warning: $("shift-warning"),
  onOver: (text) => {
    statusLine.textContent = text;
    location.href = root.dataset.login;
  },
});

const logoutGuard = new LogoutGuard({
  form: $("logout-form"),
  dialog: $("dlg-logout"),
  strings: T,
  openConversations: () => [...state.conversations.values()].filter((conv) => conv.data.as === "operator" && !conv.data.wrap_up),
  services: () => state.allServices,
  release: (conv) => send({ type: "release", conversation: conv.id }),
  transfer: (conv, slug) => {
    if (slug && slug !== conv.data.service) send({ type: "transfer", conversation: conv.id, service: slug });
    else send({ type: "release", conversation: conv.id });
  },
});

// The login click lets this page play sounds (same-origin navigation after
// a gesture); try at once rather than waiting for a click here.
unlockAudio();

socket.connect();
