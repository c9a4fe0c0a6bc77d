// The operator console: live queue, conversations in tabs, invitations,
// the supervisors' board. This module wires the parts together: the
// shared socket (common/js/socket.js), the frame handlers (frames.js),
// one delegated listener per container, keyboard shortcuts and the shift.
// Strings come translated from the server (json_script); frames follow
// docs/protocol.md.
import { Socket } from "../../common/js/socket.js";
import { wirePanels } from "./conversation.js";
import { wireDialogs } from "./dialogs.js";
import { DirectoryDialog } from "./directory.js";
import { handlers } from "./frames.js";
import { unlockAudio } from "./notify.js";
import { wireSide } from "./queue.js";
import { LogoutGuard, ShiftKeeper } from "./shift.js";
import { $, isOperator, root, send, setSender, state, T } from "./state.js";
import { selectTab, updateTab, wireTabs } from "./tabs.js";

// Close codes after which a new socket would be refused the same way.
const CLOSE_NOT_LOGGED_IN = 4401;
const CLOSE_NOT_ALLOWED = 4403;
// The account changed (roles, services): come back at once for a new hello.
const CLOSE_ACCOUNT_CHANGED = 4409;
const CLOSE_SERVICE_RESTART = 1012;

const statusLine = $("status");

// The link's state, shown in the header's status line (a polite live
// region) and on the page root for styles: connecting, connected, offline.
function setLink(link, text) {
  state.link = link;
  root.dataset.link = link;
  statusLine.textContent = text;
  statusLine.classList.toggle("down", link === "offline");
}

function refused() {
  setLink("offline", T.expired);
  if (!logoutGuard.confirmed) location.href = root.dataset.login;
}

const socket = new Socket(root.dataset.ws, {
  onOpen: () => shift.socketOpen(true),
  onDown: () => {
    setLink("offline", T.offline);
    shift.socketOpen(false);
  },
  final: { [CLOSE_NOT_LOGGED_IN]: refused, [CLOSE_NOT_ALLOWED]: refused },
  prompt: [CLOSE_SERVICE_RESTART, CLOSE_ACCOUNT_CHANGED],
  // A message sent and not yet acknowledged: the socket owes a reply.
  awaiting: () => state.outbox.size > 0,
});
setSender((frame) => socket.send(frame));

for (const [type, handler] of Object.entries(handlers)) socket.on(type, handler);
// The console's resume: the server's hello carries every open
// conversation; what waited in the outbox goes again (frames.js).
socket.on("hello", (frame) => {
  socket.settled();
  setLink("connected", T.connected);
  handlers.hello(frame);
  socket.expectReply();
});
// Each ack (or refusal of a message) re-arms the dead-socket check.
socket.on("ack", (frame) => {
  handlers.ack(frame);
  socket.expectReply();
});
socket.on("error", (frame) => {
  handlers.error(frame);
  socket.expectReply();
});

// -- one listener per container ------------------------------------------------------

const directory = new DirectoryDialog($("dlg-directory"), {
  endpoint: root.dataset.directory,
  communes: root.dataset.communes,
  strings: T,
  send,
});

wireSide();
wireTabs();
wireDialogs();
wirePanels({ directory, onMessage: () => socket.expectReply() });

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
    ($("queue").querySelector("button") || $("claim-next")).focus();
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

const shift = new ShiftKeeper({
  endpoint: root.dataset.keepalive,
  csrfToken: document.querySelector("input[name=csrfmiddlewaretoken]").value,
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

socket.start();
