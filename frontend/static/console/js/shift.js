// Staying signed in for a whole shift, and leaving it cleanly.
//
// While the console's socket is open the page posts the keep-alive on a
// timer, activity or not: an operator waiting on an empty queue at night is
// not logged out by the inactivity timeout. The server ends the session at
// the end of the shift (CONSOLE_SHIFT_SECONDS) and says how long is left;
// the page warns before. Logging out with conversations open first asks to
// release or transfer them.
import { fill } from "./extras.js";

const TICK_MS = 60 * 1000;

export class ShiftKeeper {
  constructor({ endpoint, csrfToken, idleSeconds, strings, warning, onOver }) {
    this.endpoint = endpoint;
    this.csrfToken = csrfToken;
    this.T = strings;
    this.warning = warning;
    this.onOver = onOver;
    // Well within the inactivity timeout, whatever it is set to.
    this.intervalMs = Math.max(30, Math.min(300, Math.floor((idleSeconds || 1800) / 3))) * 1000;
    this.lastPing = 0;
    this.open = false;
    this.remaining = null;
    this.remainingAt = 0;
    this.warningSeconds = 900;
    setInterval(() => this.tick(), TICK_MS);
  }

  socketOpen(open) {
    this.open = open;
    if (open) this.tick();
  }

  activity() {
    if (Date.now() - this.lastPing >= 60000) this.ping();
  }

  tick() {
    if (this.open && Date.now() - this.lastPing >= this.intervalMs) this.ping();
    this.renderWarning();
  }

  async ping() {
    this.lastPing = Date.now();
    let response;
    try {
      response = await fetch(this.endpoint, {
        method: "POST",
        headers: { "X-CSRFToken": this.csrfToken },
        credentials: "same-origin",
      });
    } catch {
      return;
    }
    if (response.status === 401 || response.status === 403) {
      this.onOver(this.T.shift_over);
      return;
    }
    if (!response.ok) return;
    try {
      const body = await response.json();
      this.remaining = body.shift_remaining_s;
      this.warningSeconds = body.warning_s ?? this.warningSeconds;
      this.remainingAt = Date.now();
    } catch {
      // An old server answering 204: nothing to show.
    }
    this.renderWarning();
  }

  renderWarning() {
    if (this.remaining === null) return;
    const left = this.remaining - (Date.now() - this.remainingAt) / 1000;
    const show = left <= this.warningSeconds;
    const text = fill(this.T.shift_warning, { min: Math.max(0, Math.ceil(left / 60)) });
    if (show && this.warning.textContent !== text) this.warning.textContent = text;
    this.warning.hidden = !show;
    if (left <= 0) this.ping();
  }
}

export class LogoutGuard {
  constructor({ form, dialog, strings, openConversations, services, release, transfer }) {
    this.form = form;
    this.dialog = dialog;
    this.T = strings;
    this.openConversations = openConversations;
    this.services = services;
    this.release = release;
    this.transfer = transfer;
    // True once the staff member chose to leave: the socket's closing
    // must not start a second navigation racing the logout's own.
    this.confirmed = false;
    form.addEventListener("submit", (event) => {
      if (this.confirmed) return;
      const open = this.openConversations();
      if (open.length === 0) {
        this.confirmed = true;
        return;
      }
      event.preventDefault();
      this.ask(open);
    });
    // One listener for the dialog's three buttons.
    dialog.addEventListener("click", (event) => {
      const button = event.target.closest("button");
      if (!button) return;
      if (button.matches(".dlg-cancel")) dialog.close();
      else if (button.matches(".logout-release")) this.leave((conv) => this.release(conv));
      else if (button.matches(".logout-transfer")) {
        const slug = dialog.querySelector("#logout-service").value;
        this.leave((conv) => this.transfer(conv, slug));
      }
    });
    dialog.addEventListener("close", () => form.querySelector("button")?.focus());
  }

  ask(open) {
    this.dialog.querySelector("#logout-text").textContent = fill(this.T.logout_open, { n: open.length });
    const select = this.dialog.querySelector("#logout-service");
    select.replaceChildren(
      ...this.services().map((service) => {
        const option = document.createElement("option");
        option.value = service.slug;
        option.textContent = service.name;
        return option;
      }),
    );
    this.dialog.querySelector(".logout-transfer").hidden = select.options.length === 0;
    select.closest(".field").hidden = select.options.length === 0;
    this.dialog.showModal();
    this.dialog.querySelector(".logout-release").focus();
  }

  leave(action) {
    for (const conv of this.openConversations()) action(conv);
    this.confirmed = true;
    this.dialog.close();
    // The server requeues whatever is left at logout too; a moment lets
    // the frames above go first so each visitor hears the right reason.
    setTimeout(() => this.form.submit(), 400);
  }
}
