// The tab's memory of the conversation, in sessionStorage only: it dies
// with the tab, and quick exit wipes it. Never localStorage, never a cookie.
const KEY = "ecoute.visit";

function read() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY)) || {};
  } catch {
    return {};
  }
}

let state = read();

function write() {
  try {
    sessionStorage.setItem(KEY, JSON.stringify(state));
  } catch {
    // Storage full or disabled: the page still works, only a reload forgets.
  }
}

export function get(name) {
  return state[name];
}

export function set(values) {
  state = { ...state, ...values };
  write();
}

export function forgetConversation() {
  const { neutralTitle } = state;
  state = neutralTitle ? { neutralTitle } : {};
  write();
}

export function wipe() {
  state = {};
  try {
    sessionStorage.clear();
  } catch {
    // Nothing to clear.
  }
}
