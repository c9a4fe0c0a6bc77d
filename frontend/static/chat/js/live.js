// The visitor page's one voice for status messages (WCAG 4.1.3): every
// notice that is not a change of screen goes through say(), which writes
// into the page's polite live region. Several notices in a short burst are
// read as one sentence; a long burst is summarised by the caller's words.
const BURST_MS = 200;

const region = document.getElementById("announcer");
let queued = [];
let timer = null;
let summarise = (items) => items.join(" ");

// How to read a burst of more than two notices (set once by the page).
export function setSummary(fn) {
  summarise = fn;
}

export function say(text) {
  if (!region || !text) return;
  // Emptied first, so that the same words said twice are read twice.
  region.textContent = "";
  queued.push(text);
  clearTimeout(timer);
  timer = setTimeout(() => {
    const items = queued;
    queued = [];
    region.textContent = items.length > 2 ? summarise(items) : items.join(" ");
  }, BURST_MS);
}

export function clear() {
  clearTimeout(timer);
  queued = [];
  if (region) region.textContent = "";
}
