// The supervisors' board (a tab of its own): report alerts, every
// conversation and every staff member, and the canned-answers editor.
import { preserveFocus } from "./focus.js";
import { $, el, minutes, roleLabel, send, state, T } from "./state.js";
import { addTab, moveTabFirst, selectTab } from "./tabs.js";

function ensureBoard() {
  if ($("panel-board")) return;
  const panel = el("section", { class: "board", role: "tabpanel", tabindex: "-1" });
  panel.append(
    el("div", { id: "board-alerts", class: "board-alerts", role: "alert" }),
    el("h2", { text: T.board_conversations }),
    scrollBox(T.board_conversations, el("table", { class: "grid", id: "board-conversations" })),
    el("h2", { text: T.board_staff }),
    scrollBox(T.board_staff, el("table", { class: "grid", id: "board-staff" })),
    el("h2", { text: T.canned }),
    el("div", { id: "canned-editor" }),
  );
  addTab("board", T.board, panel);
  moveTabFirst("board");
  if (state.active === null) selectTab("board");
  wireBoard(panel);
  renderCannedEditor();
}

// A wide table scrolls sideways inside its own box on a narrow screen; the
// box is a named keyboard stop so that it can be scrolled without a mouse.
function scrollBox(label, table) {
  return el("div", { class: "table-scroll", role: "region", tabindex: "0", "aria-label": label }, table);
}

function row(cells, header = false) {
  return el("tr", {}, ...cells.map((cell) => el(header ? "th" : "td", { scope: header ? "col" : null }, cell)));
}

// A new board from the server. It is redrawn at every change: focus stays
// on "the same" button, else on the board itself.
export function setBoard(board) {
  state.board = board;
  ensureBoard();
  preserveFocus($("panel-board"), renderBoard, () => $("panel-board"));
}

function renderBoard() {
  const board = state.board;
  const alerts = board.report_alerts || [];
  $("board-alerts").replaceChildren(
    ...(alerts.length
      ? [
          el("h2", { text: T.report_alerts }),
          el(
            "ul",
            {},
            ...alerts.map((alert) =>
              el("li", { text: `${alert.report} → ${alert.unit} (${alert.method}) : ${alert.attempts} ${T.report_attempts} — ${alert.error}` }),
            ),
          ),
        ]
      : []),
  );
  $("board-conversations").replaceChildren(
    el("caption", { class: "visually-hidden", text: T.board_conversations }),
    row([T.service, T.state, T.person, T.operator, T.participants, el("span", { class: "visually-hidden", text: T.action })], true),
    ...board.conversations.map((conv) => {
      const flags = el("span", {});
      if (conv.urgent) flags.append(el("span", { class: "badge urgent", text: T.urgent }));
      if (conv.minor) flags.append(el("span", { class: "badge minor", text: T.minor }));
      const mine = state.conversations.has(conv.id);
      const action =
        conv.status === "active" && !mine
          ? el("button", { type: "button", class: "watch", "data-conversation": conv.id, "data-focus-key": `watch-${conv.id}`, text: T.watch })
          : document.createTextNode("");
      return row([
        document.createTextNode(conv.service),
        el("span", { class: `status-${conv.status}`, text: `${T[`status_${conv.status}`]} · ${minutes(conv.since_s)}` }),
        el("span", {}, document.createTextNode(`${conv.place} · ${roleLabel(conv.role)} `), flags),
        document.createTextNode(conv.operator || "—"),
        document.createTextNode(conv.participants.map((p) => `${p.name} (${roleLabel(p.role)})`).join(", ")),
        action,
      ]);
    }),
  );
  $("board-staff").replaceChildren(
    el("caption", { class: "visually-hidden", text: T.board_staff }),
    row([T.name, T.roles, T.presence, T.load, T.auto], true),
    ...board.staff.map((member) =>
      row([
        document.createTextNode(member.name),
        document.createTextNode(member.roles.map(roleLabel).join(", ")),
        el("span", { class: member.online ? "online" : "away", text: member.online ? T.online : T.away }),
        document.createTextNode(`${member.load}/${member.capacity}`),
        document.createTextNode(member.auto_assign ? "auto" : ""),
      ]),
    ),
  );
}

// New canned answers: the editor is rebuilt; focus stays on the same
// button, else goes to the form's first field.
export function refreshCannedEditor() {
  preserveFocus($("canned-editor"), renderCannedEditor, () => $("canned-title"));
}

function renderCannedEditor() {
  const box = $("canned-editor");
  if (!box) return;
  const list = el(
    "ul",
    { class: "canned-list" },
    ...state.canned.map((answer) =>
      el(
        "li",
        {},
        el("strong", { text: answer.title }),
        el("span", { class: "muted", text: ` · ${answer.service}` }),
        el("p", { text: answer.text }),
        // The visible verb first, then which answer (WCAG 2.5.3, 2.4.6).
        el("button", { type: "button", class: "canned-edit", "data-id": String(answer.id), "data-focus-key": `edit-${answer.id}` },
          T.canned_edit, el("span", { class: "visually-hidden", text: ` : ${answer.title}` })),
        el("button", { type: "button", class: "canned-delete danger", "data-id": String(answer.id), "data-focus-key": `delete-${answer.id}` },
          T.canned_delete, el("span", { class: "visually-hidden", text: ` : ${answer.title}` })),
      ),
    ),
  );
  const form = el(
    "form",
    { class: "canned-form" },
    el("input", { type: "hidden", name: "id" }),
    el("label", { for: "canned-service", text: T.service }),
    el("select", { id: "canned-service", name: "service" }, ...state.services.map((slug) => el("option", { value: slug, text: slug }))),
    el("label", { for: "canned-title", text: T.title }),
    el("input", { id: "canned-title", name: "title", maxlength: "80", required: true }),
    el("label", { for: "canned-text", text: T.text }),
    el("textarea", { id: "canned-text", name: "text", rows: "3", maxlength: "2000", required: true }),
    el("button", { type: "submit", class: "primary", text: T.canned_save }),
  );
  box.replaceChildren(list, el("h3", { text: T.canned_new }), form);
}

function editCanned(button) {
  const form = $("canned-editor").querySelector("form.canned-form");
  const answer = state.canned.find((item) => String(item.id) === button.dataset.id);
  form.elements.id.value = String(answer.id);
  form.elements.service.value = answer.service;
  form.elements.title.value = answer.title;
  form.elements.text.value = answer.text;
  form.elements.title.focus();
}

function deleteCanned(button) {
  const answer = state.canned.find((item) => String(item.id) === button.dataset.id);
  // A deletion cannot be undone: ask first (a native, accessible dialog).
  if (answer && window.confirm(T.canned_confirm_delete.replace("{title}", answer.title))) {
    send({ type: "canned_delete", id: answer.id });
  }
}

// One click and one submit listener for the whole board, whatever is
// redrawn inside it.
function wireBoard(panel) {
  panel.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    if (button.matches(".watch")) send({ type: "join", conversation: button.dataset.conversation });
    else if (button.matches(".canned-edit")) editCanned(button);
    else if (button.matches(".canned-delete")) deleteCanned(button);
  });
  panel.addEventListener("submit", (event) => {
    const form = event.target.closest("form.canned-form");
    if (!form) return;
    event.preventDefault();
    const id = form.elements.id.value ? Number(form.elements.id.value) : null;
    const frame = { type: "canned_save", service: form.elements.service.value, title: form.elements.title.value, text: form.elements.text.value };
    if (id !== null) frame.id = id;
    send(frame);
  });
}
