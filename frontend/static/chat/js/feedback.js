// The optional "did this help?" question on the end screen.
// The conversation's token proves the answer comes from a chat that has
// just ended; the server keeps only the service, the day and the answer.
import { t } from "./strings.js";

export class FeedbackForm {
  constructor(form) {
    this.form = form;
    this.status = form.querySelector("[role=status]");
    this.button = form.querySelector("button[type=submit]");
    this.token = null;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
  }

  offer(token) {
    this.token = token;
    this.form.reset();
    this.status.textContent = "";
    this.setDisabled(false);
    this.form.hidden = !token;
  }

  setDisabled(disabled) {
    for (const control of this.form.querySelectorAll("input, textarea, button")) {
      control.disabled = disabled;
    }
  }

  reset() {
    this.token = null;
    this.form.hidden = true;
  }

  async send() {
    const choice = this.form.querySelector("input[name=feedback-answer]:checked");
    if (!choice) {
      this.status.textContent = t("feedback_choose");
      this.form.querySelector("input[name=feedback-answer]").focus();
      return;
    }
    this.button.disabled = true;
    let ok = false;
    try {
      const response = await fetch(this.form.action, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        credentials: "omit",
        cache: "no-store",
        referrerPolicy: "no-referrer",
        body: JSON.stringify({
          token: this.token,
          answer: choice.value,
          comment: this.form.querySelector("textarea").value,
        }),
      });
      ok = response.ok || response.status === 409;
    } catch {
      ok = false;
    }
    if (ok) {
      this.token = null;
      this.setDisabled(true);
      this.status.textContent = t("feedback_thanks");
    } else {
      this.button.disabled = false;
      this.status.textContent = t("feedback_failed");
    }
  }
}
