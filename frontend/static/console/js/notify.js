// Visible and audible notices: a short WebAudio beep (no audio file), the
// unread count in the document title, and the console's live region.
import { say } from "./live.js";

let audio = null;

export function unlockAudio() {
  if (audio !== null) return;
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return;
  try {
    audio = new Context();
  } catch {
    audio = null;
  }
}

export function beep(frequency = 660, duration = 0.14) {
  if (audio === null) return;
  if (audio.state === "suspended") audio.resume();
  const now = audio.currentTime;
  const oscillator = audio.createOscillator();
  const gain = audio.createGain();
  oscillator.type = "sine";
  oscillator.frequency.value = frequency;
  gain.gain.setValueAtTime(0.0001, now);
  gain.gain.exponentialRampToValueAtTime(0.08, now + 0.02);
  gain.gain.exponentialRampToValueAtTime(0.0001, now + duration);
  oscillator.connect(gain).connect(audio.destination);
  oscillator.start(now);
  oscillator.stop(now + duration + 0.02);
}

const baseTitle = document.title;
const favicon = document.getElementById("favicon");
const baseIcon = favicon ? favicon.getAttribute("href") : "";

// What needs the staff member: shown in the title and as a badge on the
// tab's icon (static SVGs, so the page's CSP needs no data: images).
export function setUnreadTitle(count) {
  document.title = count > 0 ? `(${count}) ${baseTitle}` : baseTitle;
  if (!favicon) return;
  const badge = count > 9 ? "9plus" : String(count);
  favicon.setAttribute("href", count > 0 ? baseIcon.replace(/icon\.svg$/, `icon-${badge}.svg`) : baseIcon);
}

// A desktop notification when the page is not in front. The text names
// no visitor content: a notification can show on a shared screen.
export function notifyDesktop(title, { tag = "ecoute", body = "" } = {}) {
  if (!("Notification" in window) || Notification.permission !== "granted") return false;
  if (!document.hidden && document.hasFocus()) return false;
  try {
    const shown = new Notification(title, { body, tag, renotify: true, silent: false });
    shown.addEventListener("click", () => {
      window.focus();
      shown.close();
    });
    return true;
  } catch {
    return false;
  }
}

// Kept for the callers' sake: every notice now goes through live.js, which
// both reads it aloud and shows it in the notice strip.
export function showNotice(_element, text, options) {
  say(text, options);
}
