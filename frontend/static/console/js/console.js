// Plain console page: hello, queue, claim, talk, close.
const root = document.getElementById("console");
const queueList = document.getElementById("queue");
const area = document.getElementById("conversations");
const statusLine = document.getElementById("status");
let socket = null;
let backoff = 500;
const lastSeq = new Map();

function send(frame) { if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame)); }

function renderQueue(items) {
  queueList.replaceChildren(...items.map((item) => {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = `${item.urgent ? "URGENT " : ""}${item.place} — ${item.role} — ${Math.round(item.waiting_s / 60)} min`;
    button.addEventListener("click", () => send({ type: "claim", conversation: item.conversation }));
    li.append(button);
    return li;
  }));
}

function addLine(id, frame) {
  const box = document.getElementById(`c-${id}`);
  if (!box) return;
  const li = document.createElement("li");
  li.textContent = `${frame.name || frame.from} : ${frame.text}`;
  if (frame.from !== "visitor") li.classList.add("mine");
  box.querySelector(".history").append(li);
  lastSeq.set(id, Math.max(lastSeq.get(id) || 0, frame.seq));
}

function openConversation(conv) {
  if (document.getElementById(`c-${conv.id}`)) return;
  const box = document.createElement("section");
  box.className = "conversation";
  box.id = `c-${conv.id}`;
  box.innerHTML = `<h3></h3><ol class="history" aria-live="polite"></ol>
    <form><label>Message<textarea rows="2"></textarea></label><button type="submit">Envoyer</button>
    <label>Issue <select name="outcome"><option value="orientation">orientation</option><option value="information">information</option><option value="report">signalement</option><option value="other">autre</option></select></label>
    <button type="button" class="close">Clore</button><button type="button" class="release">Remettre en file</button></form>`;
  box.querySelector("h3").textContent = `${conv.place} — ${conv.role}`;
  const form = box.querySelector("form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const textarea = form.querySelector("textarea");
    const text = textarea.value.trim();
    if (!text) return;
    const id = crypto.randomUUID();
    send({ type: "message", conversation: conv.id, id, text });
    addLine(conv.id, { from: "operator", name: "Moi", text, seq: 0 });
    textarea.value = "";
  });
  box.querySelector(".close").addEventListener("click", () => send({ type: "close", conversation: conv.id, outcome: form.outcome.value, categories: [] }));
  box.querySelector(".release").addEventListener("click", () => send({ type: "release", conversation: conv.id }));
  area.append(box);
  for (const frame of conv.history || []) addLine(conv.id, frame);
}

function handle(frame) {
  switch (frame.type) {
    case "hello":
      document.getElementById("me").textContent = `— ${frame.user.name}`;
      renderQueue(frame.queue);
      frame.conversations.forEach(openConversation);
      break;
    case "queue": renderQueue(frame.items); break;
    case "assigned": openConversation(frame.conversation); break;
    case "message": addLine(frame.conversation, frame); break;
    case "ack": lastSeq.set(frame.conversation, Math.max(lastSeq.get(frame.conversation) || 0, frame.seq)); break;
    case "closed": case "released": document.getElementById(`c-${frame.conversation}`)?.remove(); break;
    case "error": statusLine.textContent = frame.message; break;
    case "left": statusLine.textContent = `${frame.role} ${frame.name || ""} est parti·e.`; break;
    default: break;
  }
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}${root.dataset.ws}`);
  socket.addEventListener("open", () => { backoff = 500; statusLine.textContent = "Connecté·e."; area.replaceChildren(); });
  socket.addEventListener("message", (event) => handle(JSON.parse(event.data)));
  socket.addEventListener("close", (event) => {
    if (event.code === 4401 || event.code === 4403) { location.href = "/console/login/"; return; }
    statusLine.textContent = "Hors ligne — reconnexion…";
    setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 15000);
  });
}

document.getElementById("claim-next").addEventListener("click", () => send({ type: "claim" }));
connect();
