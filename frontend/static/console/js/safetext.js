// Text that cannot lie (issue 11): what a visitor writes is shown to staff
// isolated from the surrounding layout (<bdi>, unicode-bidi: isolate), and
// every bidi control or zero-width character is shown as a visible marker
// such as [U+202E] instead of silently reordering or hiding text. The
// stored message is never changed: this is rendering only.

// Bidi embeddings, overrides, isolates and marks; zero-width and other
// invisible format characters.
const HIDDEN = /[\u061C\u115F\u1160\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\u206A-\u206F\u3164\uFEFF\uFFA0]/g;

function codeOf(char) {
  return `U+${char.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}`;
}

// Return a <bdi> holding ``text`` with each hidden character as a marker.
export function safeText(text, markerTitle = "") {
  const bdi = document.createElement("bdi");
  const value = String(text ?? "");
  let last = 0;
  for (const match of value.matchAll(HIDDEN)) {
    if (match.index > last) bdi.append(value.slice(last, match.index));
    const marker = document.createElement("span");
    marker.className = "hidden-char";
    marker.textContent = `[${codeOf(match[0])}]`;
    if (markerTitle) marker.title = markerTitle;
    bdi.append(marker);
    last = match.index + match[0].length;
  }
  if (last < value.length) bdi.append(value.slice(last));
  return bdi;
}
