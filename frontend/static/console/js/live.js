// The console's one voice for status messages (WCAG 4.1.3). Every notice
// goes through say(): it is read by screen readers from a polite (or, for
// what cannot wait, assertive) live region, and shown for a few seconds in
// the notice strip above the tabs, which sits in the page's flow and so
// never covers a control. The strip itself is hidden from the
// accessibility tree: the live region has already said it.
const SHOWN_MS = 6000;

const regions = {
  polite: document.getElementById("live-polite"),
  assertive: document.getElementById("live-assertive"),
};
const strip = document.getElementById("notice");
let stripTimer = null;

function speak(region, text) {
  if (!region) return;
  // Emptied then filled on the next frame, so that the same words said
  // twice are read twice.
  region.textContent = "";
  requestAnimationFrame(() => {
    region.textContent = text;
  });
}

export function say(text, { assertive = false, show = true } = {}) {
  if (!text) return;
  speak(assertive ? regions.assertive : regions.polite, text);
  if (!show || !strip) return;
  strip.textContent = text;
  strip.classList.add("shown");
  clearTimeout(stripTimer);
  stripTimer = setTimeout(() => {
    strip.classList.remove("shown");
    strip.textContent = "";
  }, SHOWN_MS);
}
