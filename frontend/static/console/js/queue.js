// The side panel: the live queue and the invitations offered to this
// person; and the count of what waits, in the title and the icon.
import { preserveFocus } from "./focus.js";
import { say } from "./live.js";
import { beep, notifyDesktop, setUnreadTitle } from "./notify.js";
import { safeText } from "./safetext.js";
import { $, el, isOperator, minutes, roleLabel, send, state, T } from "./state.js";

const queueList = $("queue");

// A new queue from the server: store it, redraw, and ring for newcomers.
export function setQueue(items) {
  const fresh = items.filter((item) => !state.queueSeen.has(item.conversation));
  state.queue = items;
  state.queueSeen = new Set(items.map((item) => item.conversation));
  renderQueue();
  if (fresh.length > 0 && isOperator() && state.me !== null) {
    beep(440, 0.18);
    say(T.new_in_queue, { show: document.hidden });
    notifyDesktop(T.new_in_queue, { tag: "queue" });
  }
  refreshAttention();
}

export function renderQueue() {
  $("queue-count").textContent = String(state.queue.length);
  preserveFocus($("queue-panel"), fillQueue, ...queueFocusTargets());
}

// Where focus goes when the queue item that had it disappears.
export function queueFocusTargets() {
  return [() => queueList.querySelector("button:not([disabled])"), $("claim-next"), $("queue-title")];
}

function queueItem(item) {
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
}

function fillQueue() {
  const items = state.queue;
  if (items.length === 0) queueList.replaceChildren(el("li", { class: "queue-empty", text: T.queue_empty }));
  else queueList.replaceChildren(...items.map(queueItem));
}

export function claim(conversation) {
  state.claimedAt = Date.now();
  send(conversation ? { type: "claim", conversation } : { type: "claim" });
}

export function renderInvitations() {
  // A withdrawn invitation takes its "Rejoindre" button with it.
  preserveFocus($("invitations-panel"), fillInvitations, ...queueFocusTargets());
}

const offered = () => [...state.invitations.values()].filter((inv) => inv.status === "offered");

function fillInvitations() {
  const invitations = offered();
  $("invitations-panel").hidden = invitations.length === 0;
  $("invitations").replaceChildren(
    ...invitations.map((inv) =>
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

// The title and the icon's badge count what waits for the staff member:
// unread lines, and for an operator the people in the queue.
export function refreshAttention() {
  let unread = 0;
  for (const conv of state.conversations.values()) unread += conv.unread;
  const waiting = isOperator() ? state.queue.length : 0;
  setUnreadTitle(unread + waiting + offered().length);
}

// One listener for the whole side panel.
export function wireSide() {
  $("queue-panel").closest(".side").addEventListener("click", (event) => {
    const item = event.target.closest("button.queue-item");
    if (item) claim(item.dataset.conversation);
    else if (event.target.closest("#claim-next")) claim();
    const join = event.target.closest("button.join");
    if (join) {
      state.claimedAt = Date.now();
      send({ type: "join", conversation: join.dataset.conversation });
    }
  });
}
