// Receipt codes (issue 16): ask for one during a conversation, come back
// with one from the landing page. The code is shown, never stored: not in
// sessionStorage, not in the URL, and quick exit blanks it with the page.
import { t } from "./strings.js";

// Error frames about a receipt request carry this ref.
export const RECEIPT_REF = "receipt";

export class ReceiptUi {
  constructor({ button, endButton, dialog, recoverLink, recoverForm, send, onRecover }) {
    this.dialog = dialog;
    this.codeNode = dialog.querySelector("#receipt-code");
    this.status = dialog.querySelector("#receipt-status");
    this.copyButton = dialog.querySelector("[data-action=receipt-copy]");
    this.form = recoverForm;
    this.input = recoverForm.querySelector("#recover-code");
    this.error = recoverForm.querySelector("#recover-error");
    this.submit = recoverForm.querySelector("button[type=submit]");

    this.send = send;
    this.pending = false;
    button.addEventListener("click", () => this.ask("receipt_offline"));
    // On the end screen the socket never comes back once it is gone.
    endButton.addEventListener("click", () => this.ask("receipt_end_gone"));
    dialog.addEventListener("click", (event) => {
      const action = event.target.closest("[data-action]")?.dataset.action;
      if (action === "receipt-close") this.close();
      else if (action === "receipt-copy") this.copy();
    });
    dialog.addEventListener("close", () => this.forget());

    recoverLink.addEventListener("click", (event) => {
      event.preventDefault();
      this.form.hidden = false;
      this.input.focus();
    });
    recoverForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const digits = this.input.value.replace(/[\s-]/g, "");
      if (!/^\d{16}$/.test(digits)) {
        this.fail("receipt_error_format");
        return;
      }
      this.clearError();
      this.submit.disabled = true;
      this.submit.setAttribute("aria-busy", "true");
      onRecover(digits);
    });
  }

  ask(offlineKey) {
    this.codeNode.textContent = "…";
    this.status.textContent = t("receipt_asking");
    this.copyButton.disabled = true;
    if (!this.dialog.open) this.dialog.showModal();
    this.dialog.querySelector("[data-action=receipt-close]").focus();
    this.pending = this.send({ type: "receipt", id: RECEIPT_REF });
    if (!this.pending) this.refuse(offlineKey);
  }

  // The server's answer to {"type":"receipt"}.
  show(code) {
    this.pending = false;
    this.codeNode.textContent = code;
    this.copyButton.disabled = false;
    this.status.textContent = t("receipt_ready");
  }

  // A refused receipt (error frame with our ref), or a socket gone while
  // waiting: say why in the dialog's live region.
  refuse(key) {
    this.pending = false;
    this.codeNode.textContent = "";
    this.copyButton.disabled = true;
    this.status.textContent = t(key);
  }

  refused(code) {
    this.refuse(code === "receipt_too_late" ? "receipt_too_late" : "error_generic");
  }

  // The lingering socket closed: a pending request will not be answered.
  gone() {
    if (this.pending && this.dialog.open) this.refuse("receipt_end_gone");
  }

  async copy() {
    const code = this.codeNode.textContent;
    try {
      await navigator.clipboard.writeText(code);
      this.status.textContent = t("receipt_copied");
    } catch {
      // No clipboard (plain http, or refused): select it for a manual copy.
      const range = document.createRange();
      range.selectNodeContents(this.codeNode);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      this.status.textContent = t("receipt_copy_manual");
    }
  }

  close() {
    if (this.dialog.open) this.dialog.close();
    this.forget();
  }

  forget() {
    this.pending = false;
    this.codeNode.textContent = "";
    this.status.textContent = "";
  }

  // Back in the conversation: the code was right.
  recovered() {
    this.input.value = "";
    this.form.hidden = true;
    this.resetSubmit();
  }

  // A refused recover; returns true when the error was for this form.
  failed(code) {
    const keys = {
      not_found: "receipt_error_not_found",
      bad_request: "receipt_error_format",
      rate_limited: "receipt_error_rate_limited",
    };
    this.fail(keys[code] || "error_generic");
    return true;
  }

  fail(key) {
    this.resetSubmit();
    this.error.textContent = t(key);
    this.error.hidden = false;
    this.input.setAttribute("aria-invalid", "true");
    this.input.focus();
  }

  clearError() {
    this.error.hidden = true;
    this.error.textContent = "";
    this.input.removeAttribute("aria-invalid");
  }

  resetSubmit() {
    this.submit.disabled = false;
    this.submit.removeAttribute("aria-busy");
  }

  // Quick exit: nothing of the code stays on screen.
  wipe() {
    this.close();
    this.input.value = "";
  }
}
