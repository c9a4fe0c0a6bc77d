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

export function setUnreadTitle(count) {
  document.title = count > 0 ? `(${count}) ${baseTitle}` : baseTitle;
}

// Kept for the callers' sake: every notice now goes through live.js, which
// both reads it aloud and shows it in the notice strip.
export function showNotice(_element, text, options) {
  say(text, options);
}
