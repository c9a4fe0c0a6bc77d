// The directory panel: find local structures (by the conversation's
// commune, another commune, a department, a kind or a word) and share one
// into the conversation as a card (`send_resource`; the server counts it
// as an orientation). Reads /directory/api/resources/.
import { fill } from "./extras.js";

const INSEE = /^(\d[\dAB]\d{3})$/i;

export class DirectoryDialog {
  constructor(dialog, { endpoint, communes, strings, send, onShared }) {
    this.dialog = dialog;
    this.endpoint = endpoint;
    this.communesEndpoint = communes;
    this.T = strings;
    this.send = send;
    this.onShared = onShared;
    this.conversation = null;
    this.opener = null;
    this.form = dialog.querySelector("form.directory-search");
    this.status = dialog.querySelector("#directory-status");
    this.results = dialog.querySelector("#directory-results");
    this.suggestions = dialog.querySelector("#directory-communes");
    this.suggestTimer = null;
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.search();
    });
    this.form.elements.commune.addEventListener("input", () => this.suggest());
    // One listener for the dialog's buttons: share a result, or close.
    dialog.addEventListener("click", (event) => {
      const share = event.target.closest("#directory-results button.share");
      if (share) this.share(share);
      else if (event.target.closest(".dlg-cancel")) dialog.close();
    });
    dialog.addEventListener("close", () => this.opener?.focus());
  }

  open(conv, opener) {
    this.conversation = conv;
    this.opener = opener || null;
    this.form.reset();
    this.results.replaceChildren();
    this.dialog.showModal();
    this.form.elements.q.focus();
    this.fetch(new URLSearchParams({ conversation: conv.id }), conv.data.place);
  }

  async suggest() {
    clearTimeout(this.suggestTimer);
    const text = this.form.elements.commune.value.trim();
    if (text.length < 2 || INSEE.test(text)) return;
    this.suggestTimer = setTimeout(async () => {
      const found = await this.lookupCommunes(text);
      this.suggestions.replaceChildren(
        ...found.map((choice) => {
          const option = document.createElement("option");
          option.value = `${choice.name} (${choice.postal_code}) ${choice.code_insee}`;
          return option;
        }),
      );
    }, 250);
  }

  async lookupCommunes(text) {
    try {
      const response = await fetch(`${this.communesEndpoint}?${new URLSearchParams({ q: text })}`, { credentials: "same-origin" });
      if (!response.ok) return [];
      return (await response.json()).results || [];
    } catch {
      return [];
    }
  }

  async search() {
    const data = new FormData(this.form);
    const params = new URLSearchParams();
    const q = String(data.get("q") || "").trim();
    const communeText = String(data.get("commune") || "").trim();
    const department = String(data.get("department") || "").trim();
    const kind = String(data.get("kind") || "");
    if (kind) params.set("kind", kind);
    if (this.conversation) params.set("service", this.conversation.data.service);
    let label = "";
    if (q) {
      params.set("q", q);
      label = q;
    } else if (communeText) {
      // A suggestion ("Arles (13200) 13004") carries its INSEE code; a
      // name or postal code takes the first match; else a bare INSEE code.
      let commune = communeText.match(/\)\s+(\d[\dAB]\d{3})$/i)?.[1] || null;
      if (!commune) {
        const found = await this.lookupCommunes(communeText);
        if (found.length > 0) {
          commune = found[0].code_insee;
          label = `${found[0].name} (${found[0].postal_code})`;
        } else if (INSEE.test(communeText)) {
          commune = communeText;
        } else {
          this.status.textContent = this.T.directory_commune_unknown;
          this.results.replaceChildren();
          return;
        }
      }
      params.set("commune", commune.toUpperCase());
      label = label || communeText;
    } else if (department) {
      params.set("department", department.toUpperCase());
      label = department;
    } else if (this.conversation) {
      params.delete("service");
      params.set("conversation", this.conversation.id);
      label = this.conversation.data.place;
    }
    await this.fetch(params, label);
  }

  async fetch(params, label) {
    this.status.textContent = this.T.directory_searching;
    let body = null;
    try {
      const response = await fetch(`${this.endpoint}?${params}`, { credentials: "same-origin" });
      body = await response.json();
      if (!response.ok) {
        this.status.textContent = body.message || this.T.error;
        this.results.replaceChildren();
        return;
      }
    } catch {
      this.status.textContent = this.T.error;
      return;
    }
    const results = body.results || [];
    const where = body.commune ? `${body.commune.name}` : label;
    this.status.textContent = results.length
      ? `${where ? `${this.T.directory_for} ${where} · ` : ""}${fill(this.T.directory_count, { n: results.length })}`
      : this.T.directory_none;
    this.results.replaceChildren(...results.map((item) => this.renderItem(item)));
  }

  renderItem(item) {
    const li = document.createElement("li");
    li.className = "directory-item";
    const head = document.createElement("p");
    head.className = "directory-name";
    const name = document.createElement("strong");
    name.textContent = item.name;
    head.append(name, document.createTextNode(` · ${item.kind_label}`));
    if (item.verified) {
      const badge = document.createElement("span");
      badge.className = "badge verified";
      badge.textContent = this.T.directory_verified;
      head.append(badge);
    }
    li.append(head);
    for (const text of [item.description, [item.phone, item.address].filter(Boolean).join(" · "), item.hours]) {
      if (!text) continue;
      const line = document.createElement("p");
      line.className = "muted";
      line.textContent = text;
      li.append(line);
    }
    if (item.id) {
      const share = document.createElement("button");
      share.type = "button";
      share.className = "share";
      share.dataset.resource = item.id;
      share.textContent = this.T.directory_share;
      share.setAttribute("aria-label", `${this.T.directory_share} : ${item.name}`);
      li.append(share);
    } else {
      const hint = document.createElement("p");
      hint.className = "hint";
      hint.textContent = this.T.directory_not_shareable;
      li.append(hint);
    }
    return li;
  }

  share(button) {
    if (!this.conversation) return;
    const id = crypto.randomUUID();
    button.disabled = true;
    this.send({ type: "send_resource", conversation: this.conversation.id, resource: button.dataset.resource, id });
    this.onShared?.(this.conversation, button);
  }
}
