// The tab strip: one tab per open conversation (and the supervisors'
// board), arrow keys between tabs, Alt+1…9 hints, unread counts.
import { refreshAttention } from "./queue.js";
import { $, el, roleLabel, state, T } from "./state.js";

const tabs = $("tabs");
const panels = $("panels");

export function updateTab(conv) {
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

export function tabLabel(conv) {
  const data = conv.data;
  const base = `${data.place || "—"} · ${roleLabel(data.role)}`;
  // Two open conversations from the same place and role get a number, so
  // that no two tabs share a name.
  const twins = [...state.conversations.values()].filter((other) => `${other.data.place || "—"} · ${roleLabel(other.data.role)}` === base);
  const rank = twins.indexOf(conv);
  const label = rank > 0 ? `${base} (${rank + 1})` : base;
  return data.wrap_up ? `${label} · ${T.wrap_up_tab}` : label;
}

export function scrollToEnd(conv) {
  const history = conv.panel.querySelector(".history");
  history.scrollTop = history.scrollHeight;
}

export function selectTab(id, { focus = false } = {}) {
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

export function addTab(id, labelText, panel) {
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

// The board's tab comes first.
export function moveTabFirst(id) {
  tabs.prepend($(`tab-${id}`));
  state.order = [id, ...state.order.filter((other) => other !== id)];
  refreshShortcutHints();
}

export function removeTab(id) {
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

export function updateLoad() {
  let load = 0;
  for (const conv of state.conversations.values()) {
    // A conversation the visitor ended no longer takes a slot.
    if (conv.data.wrap_up) continue;
    if (conv.data.as === "operator" || conv.data.as === "colleague" || conv.data.as === "psychologist") load += 1;
  }
  $("load").textContent = String(load);
}

export function wireTabs() {
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
}
