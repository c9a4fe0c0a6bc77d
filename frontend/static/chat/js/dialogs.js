// The modal questions: leaving the conversation, whether someone may join
// it, and the consent to lift anonymity (texts shown exactly as sent).
import { t } from "./strings.js";

const CONTACT_FIELDS = ["name", "phone", "email", "address", "availability"];

function openModal(dialog, focus) {
  if (!dialog.open) dialog.showModal();
  if (focus) focus.focus();
}

// Escape closes a question without answering it (the visitor may want the
// page behind it); the question stays pending and `onSetAside` is told, so
// that the page can offer to bring it back.
function whenSetAside(question, onSetAside) {
  question.dialog.addEventListener("cancel", () => {
    if (question.request !== null) setTimeout(() => onSetAside(question), 0);
  });
}

export class LeaveDialog {
  constructor(dialog, { onConfirm }) {
    this.dialog = dialog;
    dialog.addEventListener("click", (event) => {
      const action = event.target.closest("[data-action]")?.dataset.action;
      if (action === "confirm-leave") {
        dialog.close();
        onConfirm();
      } else if (action === "cancel-dialog") {
        dialog.close();
      }
    });
  }

  open() {
    openModal(this.dialog, this.dialog.querySelector("[data-action=cancel-dialog]"));
  }

  close() {
    if (this.dialog.open) this.dialog.close();
  }
}

// "May a psychologist (or a colleague) join?": yes or no.
export class ParticipantDialog {
  constructor(dialog, { onAnswer, onSetAside = () => {} }) {
    this.dialog = dialog;
    this.request = null;
    whenSetAside(this, onSetAside);
    dialog.addEventListener("click", (event) => {
      const action = event.target.closest("[data-action]")?.dataset.action;
      if (action !== "participant-accept" && action !== "participant-decline") return;
      const frame = { type: "participant_answer", request: this.request, accept: action === "participant-accept" };
      this.close();
      onAnswer(frame);
    });
  }

  open(request, text) {
    this.request = request;
    this.dialog.querySelector("#participant-text").textContent = text;
    openModal(this.dialog, this.dialog.querySelector("[data-action=participant-accept]"));
  }

  // Ask again a question set aside with Escape.
  reopen() {
    if (this.request === null) return;
    openModal(this.dialog, this.dialog.querySelector("[data-action=participant-accept]"));
  }

  // Close it; with a request id, only if it is that question. True when
  // that question was pending (shown, or set aside with Escape).
  close(request) {
    if (request !== undefined && request !== this.request) return false;
    const wasPending = this.request !== null;
    if (this.dialog.open) this.dialog.close();
    this.request = null;
    return wasPending;
  }
}

export class ConsentDialog {
  constructor(dialog, { onAnswer, onSetAside = () => {} }) {
    this.dialog = dialog;
    this.onAnswer = onAnswer;
    this.request = null;
    this.text = dialog.querySelector("#consent-text");
    this.choice = dialog.querySelector("#consent-choice");
    this.form = dialog.querySelector("#consent-form");
    this.error = dialog.querySelector("#consent-error");
    dialog.addEventListener("click", (event) => {
      const action = event.target.closest("[data-action]")?.dataset.action;
      if (action === "consent-accept") this.showForm();
      else if (action === "consent-decline") this.answer(false);
    });
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    whenSetAside(this, onSetAside);
  }

  // Ask again a question set aside with Escape, from its first step.
  reopen() {
    if (this.request === null) return;
    this.open(this.request, this.text.textContent);
  }

  open(request, text) {
    this.request = request;
    this.text.textContent = text;
    this.form.reset();
    this.form.hidden = true;
    this.error.hidden = true;
    this.choice.hidden = false;
    openModal(this.dialog, this.choice.querySelector("button"));
  }

  showForm() {
    this.choice.hidden = true;
    this.form.hidden = false;
    this.form.elements.name.focus();
  }

  submit() {
    const contact = {};
    for (const field of CONTACT_FIELDS) contact[field] = this.form.elements[field].value.trim();
    if (!contact.phone && !contact.email && !contact.address) {
      this.error.textContent = t("consent_missing");
      this.error.hidden = false;
      this.form.elements.phone.focus();
      return;
    }
    this.answer(true, contact);
  }

  answer(accept, contact) {
    const frame = { type: "consent", request: this.request, accept };
    if (accept) frame.contact = contact;
    this.request = null;
    this.form.reset();
    this.dialog.close();
    this.onAnswer(frame);
  }

  close() {
    this.request = null;
    this.form.reset();
    if (this.dialog.open) this.dialog.close();
  }
}
