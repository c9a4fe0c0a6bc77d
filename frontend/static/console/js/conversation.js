// One conversation's panel: its header, its history (messages by seq,
// notes, whispers, events), its composer and actions. The panels share
// one set of delegated listeners (wirePanels), which find the
// conversation from the panel the event came from.
import { addUploadRow, attachmentCard, fileChosen } from "./attachments.js";
import { openCloseDialog, openInviteDialog, openTransferDialog, openAbusiveDialog } from "./dialogs.js";
import { applyDefaultMode, renderCompetence, renderPresence, renderWrapUp, updateModeWarning } from "./extras.js";
import { preserveFocus } from "./focus.js";
import { beep, notifyDesktop, showNotice } from "./notify.js";
import { queueFocusTargets, refreshAttention } from "./queue.js";
import { safeText } from "./safetext.js";
import { $, clock, el, roleLabel, root, send, state, T } from "./state.js";
import { addTab, removeTab, scrollToEnd, selectTab, tabLabel, updateLoad, updateTab } from "./tabs.js";

const template = $("tpl-conversation");
const notice = $("notice");
const SYNC_WAIT_MS = 800;
const TYPING_SEND_EVERY_MS = 3000;
const TYPING_IDLE_MS = 4000;

export function openConversation(data, { select = false } = {}) {
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
  preparePanel(conv);
  renderHeader(conv);
  renderAll(conv);
  if (data.consent) renderConsent(conv, data.consent);
  if (select || state.active === null) selectTab(data.id);
  updateTab(conv);
  return conv;
}

// What a fresh panel needs once: ids that tie labels to fields, radio
// groups of its own, the attach row and the escalation link.
function preparePanel(conv) {
  const { panel } = conv;
  const form = panel.querySelector("form.composer");
  const hint = form.querySelector(".composer-hint");
  hint.id = `hint-${conv.id}`;
  form.querySelector("textarea").setAttribute("aria-describedby", hint.id);
  for (const radio of form.querySelectorAll("input[name=mode]")) radio.name = `mode-${conv.id}`;
  addUploadRow(panel, T);
  panel.querySelector(".act-escalation").href = root.dataset.escalation.replace("00000000-0000-0000-0000-000000000000", conv.id);
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

export function renderHeader(conv) {
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

export function renderInvitationState(conv) {
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
export function renderConsent(conv, frame) {
  const text = { asked: T.consent_asked, accepted: T.consent_accepted, declined: T.consent_declined }[frame.status];
  if (!text) return "";
  const fields = frame.fields && frame.fields.length ? ` (${T.consent_fields} : ${frame.fields.map((field) => T[`field_${field}`] || field).join(", ")})` : "";
  conv.panel.querySelector(".consent-state").textContent = text + fields;
  conv.panel.querySelector(".act-consent").disabled = frame.status !== "declined";
  return text;
}

export function renderCannedSelect(conv) {
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

export function addMessage(conv, frame, { silent = false } = {}) {
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

// The server stored my message: its pending line becomes a real one.
export function confirmMessage(conv, id, seq) {
  const line = conv.panel.querySelector(`li.pending[data-id="${id}"]`);
  conv.seen.add(seq);
  if (line) {
    line.classList.remove("pending");
    line.dataset.seq = String(seq);
    line.querySelector(".who").textContent = `${T.you} · ${roleLabel(conv.data.as === "colleague" ? "operator" : conv.data.as)}`;
  }
}

function scheduleSync(conv) {
  clearTimeout(conv.syncTimer);
  conv.syncTimer = setTimeout(() => {
    const max = Math.max(0, ...conv.seen);
    const upTo = contiguous(conv);
    if (upTo < max) send({ type: "sync", conversation: conv.id, after: upTo });
  }, SYNC_WAIT_MS);
}

export function addStaffLine(conv, kind, frame, { silent = false } = {}) {
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

export function addEvent(conv, text) {
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

export function composerOf(id) {
  return id ? $(`panel-${id}`)?.querySelector("textarea") : null;
}

export function closeConversation(id, text) {
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

// -- what the staff member does in a panel --------------------------------------

const modeOf = (conv) => conv.panel.querySelector(`input[name="mode-${conv.id}"]:checked`).value;

// Send the composer's text: a message waits in the outbox (and shows as
// pending) until its ack; a note or whisper goes as is.
function submit(conv, { onMessage }) {
  const textarea = conv.panel.querySelector("textarea.text");
  const text = textarea.value.trim();
  if (!text) return;
  const mode = modeOf(conv);
  const id = crypto.randomUUID();
  if (mode === "message") {
    const pending = { conversation: conv.id, text };
    state.outbox.set(id, pending);
    conv.panel.querySelector(".history").append(pendingLine(id, pending));
    send({ type: "message", conversation: conv.id, id, text });
    send({ type: "typing", conversation: conv.id, active: false });
    onMessage();
  } else {
    send({ type: mode, conversation: conv.id, id, text });
  }
  textarea.value = "";
  scrollToEnd(conv);
}

function typed(conv) {
  if (modeOf(conv) !== "message") return;
  const now = Date.now();
  if (now - conv.lastTyping > TYPING_SEND_EVERY_MS) {
    conv.lastTyping = now;
    send({ type: "typing", conversation: conv.id, active: true });
  }
  clearTimeout(conv.typingTimer);
  conv.typingTimer = setTimeout(() => {
    conv.lastTyping = 0;
    send({ type: "typing", conversation: conv.id, active: false });
  }, TYPING_IDLE_MS);
}

// Choosing in the list changes nothing by itself (arrows browse it,
// WCAG 3.2.2); the "Insérer" button puts the answer in the composer.
function insertCanned(conv) {
  const canned = conv.panel.querySelector("select.canned");
  const textarea = conv.panel.querySelector("textarea.text");
  const answer = state.canned.find((item) => String(item.id) === canned.value);
  if (!answer) {
    canned.focus();
    return;
  }
  textarea.value = textarea.value ? `${textarea.value}\n${answer.text}` : answer.text;
  canned.value = "";
  textarea.focus();
}

// The panel's buttons, by class: what each does to its conversation.
const ACTIONS = {
  "act-wrap-up": (conv) => openCloseDialog(conv),
  "act-close": (conv) => openCloseDialog(conv),
  "act-abusive": (conv) => openAbusiveDialog(conv),
  "act-invite": (conv) => openInviteDialog(conv, "psychologist"),
  "act-colleague": (conv) => openInviteDialog(conv, "operator"),
  "act-transfer": (conv) => openTransferDialog(conv),
  "act-release": (conv) => send({ type: "release", conversation: conv.id }),
  "act-leave": (conv) => send({ type: "leave", conversation: conv.id }),
  "act-consent": (conv) => send({ type: "request_consent", conversation: conv.id }),
  "canned-insert": (conv) => insertCanned(conv),
  attach: (conv) => conv.panel.querySelector("input.attach-file").click(),
};

function conversationOf(event) {
  const panel = event.target.closest("#panels > [role=tabpanel]");
  return panel ? state.conversations.get(panel.dataset.id) : undefined;
}

// One listener per event type for every conversation panel, present and
// future. onMessage runs after a message left (console.js arms the
// socket's dead-socket check); directory is the directory dialog.
export function wirePanels({ directory, onMessage }) {
  const panels = $("panels");
  panels.addEventListener("click", (event) => {
    const conv = conversationOf(event);
    if (!conv) return;
    const button = event.target.closest("button");
    if (!button) return;
    if (button.matches(".act-directory")) {
      directory.open(conv, button);
    } else if (button.matches(".confirm-force button[data-force]")) {
      send({ type: "confirm_force", conversation: conv.id, force: button.dataset.force });
    } else if (button.matches(".cancel-invitation")) {
      send({ type: "cancel_invitation", invitation: button.dataset.invitation });
    } else {
      const action = Object.keys(ACTIONS).find((name) => button.classList.contains(name));
      if (action) ACTIONS[action](conv, button);
    }
  });
  panels.addEventListener("submit", (event) => {
    const conv = conversationOf(event);
    if (!conv || !event.target.matches("form.composer")) return;
    event.preventDefault();
    submit(conv, { onMessage });
  });
  panels.addEventListener("keydown", (event) => {
    if (!event.target.matches("textarea.text")) return;
    const conv = conversationOf(event);
    if (conv && event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      submit(conv, { onMessage });
    }
  });
  panels.addEventListener("input", (event) => {
    const conv = conversationOf(event);
    if (conv && event.target.matches("textarea.text")) typed(conv);
  });
  panels.addEventListener("change", (event) => {
    const conv = conversationOf(event);
    if (!conv) return;
    const target = event.target;
    if (target.matches("form.composer input[type=radio]")) {
      conv.modeChosen = true;
      const form = target.form;
      form.classList.toggle("mode-note", modeOf(conv) === "note");
      form.classList.toggle("mode-whisper", modeOf(conv) === "whisper");
      updateModeWarning(conv, state.me, T);
    } else if (target.matches(".flag-urgent")) {
      send({ type: "flag", conversation: conv.id, urgent: target.checked });
    } else if (target.matches(".flag-minor")) {
      send({ type: "flag", conversation: conv.id, minor: target.checked });
    } else if (target.matches("input.attach-file")) {
      fileChosen(conv.id, target, send, T);
    }
  });
}
