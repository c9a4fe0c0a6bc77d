// Visible and audible notices: a short WebAudio beep (no audio file), the
// unread count in the document title, and an assertive live region.

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

let noticeTimer = null;

export function showNotice(element, text) {
  element.textContent = text;
  element.classList.add("shown");
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => {
    element.classList.remove("shown");
    element.textContent = "";
  }, 6000);
}
