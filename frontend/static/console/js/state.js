// What the console knows, in one object, and the small helpers every part
// of the page uses. Handlers (frames.js, the delegated listeners) change
// `state`, then call the render functions of the part they touched.
export const root = document.getElementById("console");
// The interface strings, translated on the server (console/strings.py).
export const T = JSON.parse(document.getElementById("console-strings").textContent);
export const $ = (id) => document.getElementById(id);

export const state = {
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
  outbox: new Map(), // message id -> { conversation, text }: sent, not yet acked
  queueSeen: new Set(),
  claimedAt: 0, // when this person last asked for a conversation
  dialog: { conversation: null, inviteRole: "psychologist" }, // what the open dialog acts on
  link: "connecting", // the socket: connecting, connected, offline
};

export const isSupervisor = () => state.roles.includes("supervisor");
export const isOperator = () => state.roles.includes("operator");
export const roleLabel = (role) => T[role] || role;

// The socket's send, set once by console.js; false when the frame could
// not leave (no open socket).
let sender = () => false;

export function setSender(fn) {
  sender = fn;
}

export function send(frame) {
  return sender(frame);
}

export function el(tag, attrs = {}, ...children) {
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

export function minutes(seconds) {
  return `${Math.max(0, Math.floor(seconds / 60))} ${T.min}`;
}

export function clock(iso) {
  const date = iso ? new Date(iso) : new Date();
  return date.toLocaleTimeString(document.documentElement.lang || "fr", {
    hour: "2-digit",
    minute: "2-digit",
  });
}
