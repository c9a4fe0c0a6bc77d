// Attachments on the visitor page (issue 16). A file goes over HTTP with a
// one-time token asked for on the socket, never in a WebSocket frame; it
// comes back as a message with an "attachment" field, so it takes its seq
// like any message. Previews and downloads are fetched with the
// conversation's token in a header, never in a URL.
import { t } from "./strings.js";

let tokenSource = () => null;
let pendingFile = null;

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function formatSize(bytes) {
  if (bytes < 1024) return t("size_bytes", { n: bytes });
  if (bytes < 1024 * 1024) return t("size_kb", { n: Math.round(bytes / 1024) });
  return t("size_mb", { n: (bytes / (1024 * 1024)).toFixed(1) });
}

async function fetchBlob(url) {
  const token = tokenSource();
  if (!token) throw new Error("no conversation");
  const response = await fetch(url, { headers: { "X-Conversation-Token": token }, credentials: "omit" });
  if (!response.ok) throw new Error(String(response.status));
  return response.blob();
}

// The card shown in the transcript for a message's attachment.
export function attachmentCard(attachment) {
  const box = element("div", "att-card");
  const name = String(attachment.name || "");
  if (attachment.preview) {
    const image = element("img", "att-preview");
    image.alt = t("attachment_preview", { name });
    if (attachment.width && attachment.height) {
      image.width = Math.min(240, attachment.width);
      image.height = Math.round((image.width / attachment.width) * attachment.height);
    }
    box.append(image);
    fetchBlob(attachment.preview)
      .then((blob) => {
        image.src = URL.createObjectURL(blob);
      })
      .catch(() => image.replaceWith(element("p", "att-missing", t("attachment_unavailable"))));
  }
  box.append(element("p", "att-name", name));
  const kind = attachment.kind === "pdf" ? t("attachment_pdf") : t("attachment_image");
  box.append(element("p", "att-meta", `${kind} · ${formatSize(Number(attachment.size) || 0)}`));
  const download = element("button", "button quiet att-download", t("attachment_download"));
  download.type = "button";
  download.setAttribute("aria-label", `${t("attachment_download")} ${name}`);
  download.addEventListener("click", async () => {
    try {
      const url = URL.createObjectURL(await fetchBlob(attachment.url));
      const link = element("a");
      link.href = url;
      link.download = name;
      link.hidden = true;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch {
      download.textContent = t("attachment_unavailable");
    }
  });
  box.append(download);
  return box;
}

export class AttachmentSender {
  constructor({ button, input, progress, status, send, getToken }) {
    tokenSource = getToken;
    this.input = input;
    this.progress = progress;
    this.status = status;
    this.send = send;
    button.addEventListener("click", () => input.click());
    input.addEventListener("change", () => {
      const file = input.files?.[0];
      input.value = "";
      if (!file) return;
      pendingFile = file;
      this.say(t("attachment_preparing", { name: file.name }));
      if (!this.send({ type: "upload_token" })) {
        pendingFile = null;
        this.say(t("attachment_offline"));
      }
    });
  }

  say(text) {
    this.status.textContent = text;
    this.status.hidden = !text;
  }

  // The socket's answer: a one-time token for one file.
  upload(frame) {
    const file = pendingFile;
    pendingFile = null;
    if (!file) return;
    if (file.size > frame.max_bytes) {
      this.say(t("attachment_too_large", { max: formatSize(frame.max_bytes) }));
      return;
    }
    const request = new XMLHttpRequest();
    request.open("POST", frame.url);
    request.setRequestHeader("Authorization", `Upload ${frame.token}`);
    request.setRequestHeader("X-File-Name", encodeURIComponent(file.name));
    request.setRequestHeader("Content-Type", "application/octet-stream");
    this.progress.hidden = false;
    this.progress.value = 0;
    this.say(t("attachment_sending", { name: file.name }));
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) this.progress.value = Math.round((event.loaded / event.total) * 100);
    });
    request.addEventListener("load", () => {
      this.progress.hidden = true;
      if (request.status === 201) {
        this.say(t("attachment_sent", { name: file.name }));
        return;
      }
      let code = "";
      try {
        code = JSON.parse(request.responseText).error;
      } catch {
        // Not JSON: a proxy's page.
      }
      const keys = { unsupported_type: "attachment_refused_type", too_large: "attachment_too_large" };
      this.say(t(keys[code] || "attachment_failed", { max: formatSize(frame.max_bytes) }));
    });
    request.addEventListener("error", () => {
      this.progress.hidden = true;
      this.say(t("attachment_failed"));
    });
    request.send(file);
  }

  wipe() {
    pendingFile = null;
    this.say("");
    this.progress.hidden = true;
  }
}
