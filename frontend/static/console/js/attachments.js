// Attachments in the console (issue 16): cards with the stripped preview,
// and sending a file into a conversation over HTTP with a one-time token
// asked for on the socket. Staff fetch files with their session cookie;
// every fetch is audited on the server.
const pending = new Map(); // conversation id -> { file, box }

function node(tag, attrs = {}, text) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) if (value !== null) element.setAttribute(key, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

function formatSize(bytes, T) {
  if (bytes < 1024) return T.size_bytes.replace("{n}", bytes);
  if (bytes < 1024 * 1024) return T.size_kb.replace("{n}", Math.round(bytes / 1024));
  return T.size_mb.replace("{n}", (bytes / (1024 * 1024)).toFixed(1));
}

export function attachmentCard(attachment, T) {
  const name = String(attachment.name || "");
  const box = node("div", { class: "att-card" });
  if (attachment.preview) {
    const image = node("img", { class: "att-preview", src: attachment.preview, alt: T.attachment_preview.replace("{name}", name), loading: "lazy" });
    if (attachment.width && attachment.height) {
      const width = Math.min(240, attachment.width);
      image.width = width;
      image.height = Math.round((width / attachment.width) * attachment.height);
    }
    box.append(image);
  }
  box.append(node("p", { class: "att-name" }, name));
  const kind = attachment.kind === "pdf" ? T.attachment_pdf : T.attachment_image;
  box.append(node("p", { class: "att-meta muted" }, `${kind} · ${formatSize(Number(attachment.size) || 0, T)}`));
  const link = node("a", { class: "att-download", href: attachment.url, download: name }, T.attachment_download);
  link.setAttribute("aria-label", `${T.attachment_download} ${name}`);
  box.append(link);
  return box;
}

// The "attach" control of one conversation's composer, put after it. Its
// events are handled by the panels' delegated listeners (conversation.js):
// the button opens the hidden file input, whose change calls fileChosen().
export function addUploadRow(panel, T) {
  const row = node("div", { class: "attach-row" });
  const button = node("button", { type: "button", class: "attach" }, T.attach);
  const input = node("input", { type: "file", class: "visually-hidden attach-file", tabindex: "-1", "aria-hidden": "true", accept: "image/jpeg,image/png,image/webp,application/pdf" });
  const progress = node("progress", { max: "100", value: "0", "aria-label": T.attachment_sending_label });
  progress.hidden = true;
  const status = node("p", { class: "attach-status", role: "status", "aria-live": "polite" });
  row.append(button, input, progress, status);
  panel.querySelector("form.composer").after(row);
}

// A file was picked in a conversation's input: ask the socket for a token.
export function fileChosen(conversationId, input, send, T) {
  const row = input.closest(".attach-row");
  const file = input.files?.[0];
  input.value = "";
  if (!file) return;
  const progress = row.querySelector("progress");
  const status = row.querySelector(".attach-status");
  pending.set(conversationId, { file, progress, status });
  status.textContent = T.attachment_preparing.replace("{name}", file.name);
  send({ type: "upload_token", conversation: conversationId });
}

export function onUploadToken(frame, T) {
  const entry = pending.get(frame.conversation);
  pending.delete(frame.conversation);
  if (!entry) return;
  const { file, progress, status } = entry;
  const max = formatSize(frame.max_bytes, T);
  if (file.size > frame.max_bytes) {
    status.textContent = T.attachment_too_large.replace("{max}", max);
    return;
  }
  const request = new XMLHttpRequest();
  request.open("POST", frame.url);
  request.setRequestHeader("Authorization", `Upload ${frame.token}`);
  request.setRequestHeader("X-File-Name", encodeURIComponent(file.name));
  request.setRequestHeader("Content-Type", "application/octet-stream");
  progress.hidden = false;
  progress.value = 0;
  status.textContent = T.attachment_sending.replace("{name}", file.name);
  request.upload.addEventListener("progress", (event) => {
    if (event.lengthComputable) progress.value = Math.round((event.loaded / event.total) * 100);
  });
  request.addEventListener("load", () => {
    progress.hidden = true;
    let code = "";
    try {
      code = JSON.parse(request.responseText).error || "";
    } catch {
      // A proxy's page.
    }
    if (request.status === 201) status.textContent = T.attachment_sent.replace("{name}", file.name);
    else if (code === "unsupported_type") status.textContent = T.attachment_refused_type;
    else if (code === "too_large") status.textContent = T.attachment_too_large.replace("{max}", max);
    else status.textContent = T.attachment_failed;
  });
  request.addEventListener("error", () => {
    progress.hidden = true;
    status.textContent = T.attachment_failed;
  });
  request.send(file);
}
