// The modal questions: leaving the conversation, whether someone may join
// it, and the consent to lift anonymity (texts shown exactly as sent).
import { t } from "./strings.js";

const CONTACT_FIELDS = ["name", "phone", "email", "address", "availability"];
// A French number (10 digits) or an international one (+ then 8 to 15 digits).
const PHONE = /^(?:0[1-9]\d{8}|(?:\+|00)[1-9]\d{7,14})$/;

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
    this.submitButton = this.form.querySelector("button[type=submit]");
    this.pending = false;
    this.form.addEventListener("input", (event) => event.target.removeAttribute("aria-invalid"));
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
      this.showError(t("consent_missing"), "phone");
      return;
    }
    if (contact.phone && !PHONE.test(contact.phone.replace(/[\s.\-()]/g, ""))) {
      this.showError(t("consent_bad_phone"), "phone");
      return;
    }
    if (contact.email && !this.form.elements.email.validity.valid) {
      this.showError(t("consent_bad_email"), "email");
      return;
    }
    this.answer(true, contact);
  }

  showError(message, field) {
    this.error.textContent = message;
    this.error.hidden = false;
    const input = field && this.form.elements[field];
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  }

  // An accepted answer stays on screen until the server has recorded it,
  // so a refused detail can be corrected without typing everything again.
  answer(accept, contact) {
    const frame = { type: "consent", request: this.request, accept };
    if (accept) {
      frame.contact = contact;
      this.pending = true;
      this.submitButton.setAttribute("aria-busy", "true");
      this.submitButton.disabled = true;
    } else {
      this.request = null;
      this.form.reset();
      this.dialog.close();
    }
    this.onAnswer(frame);
  }

  recorded(frame) {
    if (frame.request !== this.request) return;
    this.pending = false;
    this.submitButton.removeAttribute("aria-busy");
    this.submitButton.disabled = false;
    this.close();
  }

  failed(frame) {
    if (!this.pending || !this.dialog.open) return false;
    this.pending = false;
    this.submitButton.removeAttribute("aria-busy");
    this.submitButton.disabled = false;
    this.showError(frame.message || t("error_generic"), frame.field);
    return true;
  }

  close() {
    this.request = null;
    this.form.reset();
    if (this.dialog.open) this.dialog.close();
  }
}

// Ask a partner association to call back (issue 6's callback frames): the
// number is checked here for typos, and by the server, which seals it.
const PHONE_SEPARATORS = /[\s.\-()/]/g;

export function plausiblePhone(value) {
  const phone = value.replace(PHONE_SEPARATORS, "");
  return /^(0\d{9}|\+\d{8,15}|00\d{8,15})$/.test(phone);
}

export class CallbackDialog {
  constructor(dialog, { onSubmit }) {
    this.dialog = dialog;
    this.form = dialog.querySelector("#callback-form");
    this.partners = dialog.querySelector("#callback-partners");
    this.error = dialog.querySelector("#callback-error");
    this.onSubmit = onSubmit;
    dialog.addEventListener("click", (event) => {
      if (event.target.closest("[data-action=cancel-callback]")) this.close();
    });
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
  }

  open(partners) {
    this.partners.replaceChildren(
      ...partners.map((partner, index) => {
        const label = document.createElement("label");
        label.className = "option";
        const input = document.createElement("input");
        input.type = "radio";
        input.name = "partner";
        input.value = partner.id;
        input.checked = index === 0;
        const text = document.createElement("span");
        const name = document.createElement("strong");
        name.textContent = partner.name;
        text.append(name);
        for (const detail of [partner.description, partner.hours]) {
          if (!detail) continue;
          const line = document.createElement("span");
          line.className = "partner-detail";
          line.textContent = detail;
          text.append(line);
        }
        label.append(input, text);
        return label;
      }),
    );
    this.showError("");
    openModal(this.dialog, this.form.elements.phone);
  }

  submit() {
    const partner = this.form.elements.partner?.value;
    const phone = this.form.elements.phone.value.trim();
    if (!partner) {
      this.showError(t("callback_no_partner"));
      return;
    }
    if (!plausiblePhone(phone)) {
      this.showError(t("callback_bad_phone"), this.form.elements.phone);
      return;
    }
    this.showError("");
    this.onSubmit({ partner, phone, times: this.form.elements.times.value.trim() });
  }

  showError(text, field) {
    this.error.textContent = text;
    this.error.hidden = !text;
    const phone = this.form.elements.phone;
    if (field) {
      phone.setAttribute("aria-invalid", "true");
      field.focus();
    } else {
      phone.removeAttribute("aria-invalid");
    }
  }

  close() {
    this.form.reset();
    if (this.dialog.open) this.dialog.close();
  }
}
