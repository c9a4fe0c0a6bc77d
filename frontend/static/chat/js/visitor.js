// Plain visitor page: start or resume, send with an outbox, reconnect.
const root = document.getElementById("visitor");
const log = document.getElementById("log");
const statusLine = document.getElementById("status");
const startForm = document.getElementById("start-form");
const sendForm = document.getElementById("send-form");
const textBox = document.getElementById("text");
const KEY = "ecoute.conversation";

let socket = null;
let lastSeq = 0;
let backoff = 500;
const outbox = new Map();  // client id -> text, until acked

function show(text, mine = false) {
  const item = document.createElement("li");
  item.textContent = text;
  if (mine) item.classList.add("mine");
  log.append(item);
}

function saved() {
  try { return JSON.parse(sessionStorage.getItem(KEY)); } catch { return null; }
}

function connect(firstFrame) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}${root.dataset.ws}`);
  socket.addEventListener("open", () => {
    backoff = 500;
    const state = saved();
    socket.send(JSON.stringify(state ? { type: "resume", token: state.token, last_seq: lastSeq } : firstFrame));
  });
  socket.addEventListener("message", (event) => handle(JSON.parse(event.data)));
  socket.addEventListener("close", (event) => {
    if (event.code === 4404) { sessionStorage.removeItem(KEY); statusLine.textContent = "Conversation introuvable."; return; }
    statusLine.textContent = "Hors ligne — reconnexion…";
    setTimeout(() => connect(firstFrame), backoff);
    backoff = Math.min(backoff * 2, 15000);
  });
}

function flushOutbox() {
  for (const [id, text] of outbox) socket.send(JSON.stringify({ type: "message", id, text }));
}

function handle(frame) {
  switch (frame.type) {
    case "started":
      sessionStorage.setItem(KEY, JSON.stringify({ token: frame.token }));
      startForm.hidden = true; sendForm.hidden = false;
      statusLine.textContent = `${frame.service_name} — position ${frame.queue.position}, environ ${Math.round(frame.queue.estimated_wait_s / 60)} min`;
      break;
    case "resumed":
      startForm.hidden = true; sendForm.hidden = false;
      statusLine.textContent = frame.status === "closed" ? "Conversation terminée." : "Reconnecté·e.";
      flushOutbox();
      break;
    case "queue":
      statusLine.textContent = `Position ${frame.position}, environ ${Math.round(frame.estimated_wait_s / 60)} min`;
      break;
    case "ack":
      outbox.delete(frame.id);
      lastSeq = Math.max(lastSeq, frame.seq);
      break;
    case "message":
      if (frame.seq <= lastSeq && frame.from !== "visitor") break;
      if (frame.seq > lastSeq + 1) socket.send(JSON.stringify({ type: "sync", after: lastSeq }));
      lastSeq = Math.max(lastSeq, frame.seq);
      show(`${frame.name || (frame.from === "visitor" ? "Vous" : frame.from)} : ${frame.text}`, frame.from === "visitor");
      break;
    case "joined": statusLine.textContent = `${frame.name} a rejoint la conversation.`; break;
    case "left": statusLine.textContent = frame.reconnecting ? `${frame.name} se reconnecte…` : `${frame.name} a quitté la conversation.`; break;
    case "typing": statusLine.textContent = frame.active ? "…écrit" : ""; break;
    case "closed": statusLine.textContent = "Conversation terminée."; sendForm.hidden = true; sessionStorage.removeItem(KEY); break;
    case "error":
      if (frame.code === "ambiguous_place") {
        statusLine.textContent = frame.message + " " + frame.choices.map((c) => `${c.name} (${c.code_insee})`).join(", ");
      } else {
        statusLine.textContent = frame.message;
      }
      break;
    default: break;
  }
}

startForm.addEventListener("submit", (event) => {
  event.preventDefault();
  connect({ type: "start", place: startForm.place.value, role: startForm.role.value, lang: document.documentElement.lang });
});

sendForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = textBox.value.trim();
  if (!text) return;
  const id = crypto.randomUUID();
  outbox.set(id, text);
  show(`Vous : ${text}`, true);
  textBox.value = "";
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "message", id, text }));
});

document.getElementById("leave").addEventListener("click", () => {
  if (socket && confirm("Terminer la conversation ?")) socket.send(JSON.stringify({ type: "leave" }));
});

if (saved()) connect(null);
