// Quick exit: the button, Escape, or Shift pressed three times (as GOV.UK's
// "exit this page" does). The page goes blank at once, the tab's storage is
// wiped, and the page is replaced, not left in the history, by a neutral one.
//
// Escape is first what everyone expects it to be: it closes an open list
// or dialog. Only when nothing is open does it leave the page; the button
// and the three Shift presses always leave.
import * as storage from "./storage.js";

// Something Escape should close rather than leave: a modal dialog, or a
// combobox whose list is showing.
function somethingOpen() {
  return Boolean(document.querySelector("dialog[open], [role=combobox][aria-expanded=true]"));
}

const SHIFT_PRESSES = 3;
const SHIFT_WINDOW_MS = 5000;

export function setupQuickExit({ url, beforeExit }) {
  let leaving = false;
  let presses = 0;
  let windowTimer = null;

  function exit() {
    if (leaving) return;
    leaving = true;
    document.documentElement.classList.add("exiting");
    document.body.hidden = true;
    document.title = "";
    try {
      beforeExit();
    } catch {
      // Leaving matters more than tidying up.
    }
    storage.wipe();
    location.replace(url);
  }

  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-quick-exit]")) {
      event.preventDefault();
      exit();
    }
  });

  window.addEventListener(
    "keydown",
    (event) => {
      if (event.isComposing) return;
      if (event.key === "Escape") {
        if (somethingOpen()) return;
        event.preventDefault();
        exit();
        return;
      }
      if (event.key !== "Shift") {
        // Shift held for a capital letter is typing, not a signal.
        presses = 0;
        return;
      }
      if (event.repeat) return;
      presses += 1;
      if (presses === 1) {
        clearTimeout(windowTimer);
        windowTimer = setTimeout(() => {
          presses = 0;
        }, SHIFT_WINDOW_MS);
      }
      if (presses >= SHIFT_PRESSES) exit();
    },
    true,
  );

  return exit;
}
