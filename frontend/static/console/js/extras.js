// What a conversation shows beyond its messages (issue 10): the competent
// force and its confirmation, the visitor's presence, the wrap-up after the
// visitor left, the psychologists' rota, and the silent supervisor's
// composer that defaults to a whisper.

function fill(template, values) {
  return template.replace(/%\((\w+)\)s/g, (_, key) => String(values[key] ?? ""));
}

export { fill };

// -- competence ---------------------------------------------------------------

export function competenceText(competence, T) {
  if (!competence) return "";
  const force = T[`force_${competence.force}`] || competence.force;
  const parts = [`${T.competence} : ${force}`];
  if (competence.unit) parts.push(competence.unit);
  if (competence.approximate) parts.push(T.competence_estimate);
  if (competence.queue_force) parts.push(`${T.queue_of} ${T[`force_${competence.queue_force}`] || competence.queue_force}`);
  return parts.join(" · ");
}

export function renderCompetence(conv, T) {
  const { competence } = conv.data;
  const box = conv.panel.querySelector(".competence");
  box.hidden = !competence;
  if (!competence) return;
  box.querySelector(".competence-text").textContent = competenceText(competence, T);
  const confirm = box.querySelector(".confirm-force");
  const canConfirm = Boolean(competence.confirm_force) && Boolean(competence.queue_force) && conv.data.as === "operator" && !conv.data.wrap_up;
  confirm.hidden = !canConfirm;
  confirm.setAttribute("aria-label", T.confirm_force_question);
  confirm.querySelector(".confirm-force-label").textContent = T.confirm_force_question;
}

// -- the visitor's presence -----------------------------------------------------

export function renderPresence(conv, T) {
  const presence = conv.data.wrap_up ? "gone" : conv.data.presence || "here";
  const text = T[`presence_${presence}`];
  let badge = conv.tab.querySelector(".presence");
  if (!badge) {
    // A dot for the eye only: the words are in the panel (role=status),
    // so the tab's accessible name does not change with every reconnect.
    badge = document.createElement("span");
    badge.className = "presence";
    badge.setAttribute("aria-hidden", "true");
    conv.tab.insertBefore(badge, conv.tab.querySelector(".unread"));
  }
  badge.dataset.presence = presence;
  badge.title = text;
  const line = conv.panel.querySelector(".presence-line");
  if (line) {
    line.dataset.presence = presence;
    if (line.textContent !== text) line.textContent = text;
  }
}

// -- wrap-up -----------------------------------------------------------------------

export function renderWrapUp(conv, T) {
  const wrap = Boolean(conv.data.wrap_up);
  const { panel } = conv;
  panel.classList.toggle("wrapping-up", wrap);
  const box = panel.querySelector(".wrap-up");
  box.hidden = !wrap;
  if (wrap) {
    box.querySelector(".wrap-up-text").textContent = conv.data.wrap_up_reason === "quick_exit" ? T.wrap_up_quick_exit : T.wrap_up_left;
  }
  // Nothing more can be said to a person who left: only the outcome.
  panel.querySelector("form.composer").hidden = wrap;
  for (const button of panel.querySelectorAll(".actions button")) {
    if (!button.classList.contains("act-close")) button.hidden = wrap || button.hidden;
  }
  if (wrap) panel.querySelector(".act-close").hidden = conv.data.as !== "operator";
}

// -- psychologists on duty ------------------------------------------------------------

export function dutyText(conv, T) {
  const duty = conv.data.psychologists;
  if (!duty) return "";
  const hours = fill(T.psy_hours, { hours: duty.hours });
  if (!duty.on_duty) return `${T.psy_off_duty} ${hours}`;
  // The view carries the rota; who is online comes when the dialog asks.
  if (!duty.available) return `${T.psy_checking} ${hours}`;
  if (duty.available.length === 0) return `${T.psy_none_online} ${hours}`;
  return `${fill(T.psy_on_duty, { names: duty.available.join(", ") })} ${hours}`;
}

// -- the silent supervisor's composer ----------------------------------------------------

export function isSilentSupervisor(conv, me) {
  if (conv.data.as !== "supervisor") return false;
  const mine = (conv.data.participants || []).find((p) => p.name === me && p.role === "supervisor");
  return mine ? Boolean(mine.silent) : true;
}

// A silent supervisor starts on "whisper": one keystroke must never reveal
// them. Writing to the person is a deliberate choice, and says what it does.
export function applyDefaultMode(conv, me, T) {
  const form = conv.panel.querySelector("form.composer");
  const warning = conv.panel.querySelector(".mode-warning");
  const silent = isSilentSupervisor(conv, me);
  if (silent && !conv.modeChosen) {
    const whisper = form.querySelector('input[value="whisper"]');
    whisper.checked = true;
    form.classList.add("mode-whisper");
    form.classList.remove("mode-note");
  }
  updateModeWarning(conv, me, T);
  if (!silent) warning.textContent = "";
}

export function updateModeWarning(conv, me, T) {
  const form = conv.panel.querySelector("form.composer");
  const warning = conv.panel.querySelector(".mode-warning");
  if (!isSilentSupervisor(conv, me)) {
    warning.textContent = "";
    warning.classList.remove("danger-text");
    return;
  }
  const mode = form.querySelector("input[type=radio]:checked")?.value;
  warning.textContent = mode === "message" ? T.supervisor_speaks : T.supervisor_whisper_default;
  warning.classList.toggle("danger-text", mode === "message");
}
