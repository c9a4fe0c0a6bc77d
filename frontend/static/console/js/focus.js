// Where focus goes when the console removes or replaces what had it
// (WCAG 2.4.3). One rule, used by every re-render: if focus was inside a
// region that is about to change and is lost afterwards (on <body> or on a
// node no longer in the page), it moves to the first place, in the order
// given, that can take it — the same control re-rendered, the new tab's
// composer, the queue. Focus that is elsewhere is never stolen.

export function focusIsLost() {
  const active = document.activeElement;
  return !active || active === document.body || active === document.documentElement || !active.isConnected;
}

function canTakeFocus(node) {
  if (!node || !node.isConnected || node.disabled) return false;
  if (node.closest("[hidden], [inert]")) return false;
  return node.getClientRects().length > 0;
}

// Focus the first candidate that can take it. Candidates are elements or
// functions returning one (evaluated lazily, after the re-render).
export function focusFirst(...candidates) {
  for (const candidate of candidates) {
    const node = typeof candidate === "function" ? candidate() : candidate;
    if (canTakeFocus(node)) {
      if (node.tabIndex < 0 && !node.hasAttribute("tabindex")) node.tabIndex = -1;
      node.focus();
      return node;
    }
  }
  return null;
}

// Whether focus is inside `region` (one element or a list of them).
// Focus already lost elsewhere does not count: it is not ours to move.
export function holdsFocus(region) {
  const active = document.activeElement;
  if (focusIsLost()) return false;
  return [region].flat().some((node) => node && node.contains(active));
}

// Run `change`; if focus was inside `region` and is lost afterwards, send
// it to the first candidate. A candidate with a `data-focus-key` matching
// the element that had focus is tried first, so a re-rendered list keeps
// the focus on "the same" item.
export function preserveFocus(region, change, ...candidates) {
  const had = holdsFocus(region);
  const key = document.activeElement?.dataset?.focusKey;
  const result = change();
  if (had && focusIsLost()) {
    const selector = key ? `[data-focus-key="${CSS.escape(key)}"]` : null;
    const same = () => selector && [region].flat().map((node) => node?.querySelector(selector)).find(Boolean);
    focusFirst(same, ...candidates);
  }
  return result;
}
