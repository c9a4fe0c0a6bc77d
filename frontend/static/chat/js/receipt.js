// Receipt codes (issue 16): ask for one during a conversation, come back
// with one from the landing page. The code is shown, never stored: not in
// sessionStorage, not in the URL, and quick exit blanks it with the page.
import { t } from "./strings.js";

export class ReceiptUi {
  constructor({ button, dialog, recoverLink, recoverForm, send, onRecover }) {
    this.dialog = dialog;
    this.codeNode = dialog.querySelector("#receipt-code");
    this.status = dialog.querySelector("#receipt-status");
    this.copyButton = dialog.querySelector("[data-action=receipt-copy]");
    this.form = recoverForm;
    this.input = recoverForm.querySelector("#recover-code");
    this.error = recoverForm.querySelector("#recover-error");
    this.submit = recoverForm.querySelector("button[type=submit]");

    button.addEventListener("click", () => {
      this.codeNode.textContent = "…";
      this.status.textContent = t("receipt_asking");
      this.copyButton.disabled = true;
      if (!dialog.open) dialog.showModal();
      dialog.querySelector("[data-action=receipt-close]").focus();
      if (!send({ type: "receipt" })) this.status.textContent = t("receipt_offline");
    });
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

  // The server's answer to {"type":"receipt"}.
  show(code) {
    this.codeNode.textContent = code;
    this.copyButton.disabled = false;
    this.status.textContent = t("receipt_ready");
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
