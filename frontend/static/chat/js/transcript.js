// The conversation's messages, kept in seq order, each shown exactly once.
//
// The visitor's own messages are shown at once as "pending", identified by
// their client id, and only get their seq from the server's ack. After a
// reconnect the server replays history (own messages included, without
// their client id) while the outbox is being resent, so replayed own
// messages are held back until the acks say which of them are already on
// screen: nothing is lost, nothing shows twice.
import { attachmentCard } from "./attachments.js";
import { t } from "./strings.js";

const HOLD_MS = 3000;
const NEAR_BOTTOM_PX = 80;

export function newMessageId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function clock(value) {
  const date = value ? new Date(value) : new Date();
  if (Number.isNaN(date.getTime())) return null;
  const node = element("time", "", date.toLocaleTimeString(document.documentElement.lang, { hour: "2-digit", minute: "2-digit" }));
  node.dateTime = date.toISOString();
  return node;
}

function safeUrl(value) {
  try {
    const url = new URL(value);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch {
    return null;
  }
}

function resourceCard(card) {
  const box = element("div", "res-card");
  if (card.kind) box.append(element("p", "res-kind", card.kind));
  if (card.name) box.append(element("p", "res-name", card.name));
  const details = element("dl", "res-details");
  const row = (label, content) => {
    details.append(element("dt", "", t(label)));
    const value = element("dd");
    value.append(content);
    details.append(value);
  };
  if (card.phone) {
    const link = element("a", "", card.phone);
    link.href = `tel:${String(card.phone).replace(/[^\d+]/g, "")}`;
    row("card_phone", link);
  }
  if (card.address) row("card_address", document.createTextNode(card.address));
  if (card.hours) row("card_hours", document.createTextNode(card.hours));
  const href = card.url && safeUrl(card.url);
  if (href) {
    const link = element("a", "", card.url);
    link.href = href;
    link.rel = "noreferrer noopener";
    row("card_url", link);
  }
  if (details.childElementCount) box.append(details);
  return box;
}

// True when a pseudonym already says the role ("Psychologue 3").
export function namesRole(name, role) {
  return name.toLocaleLowerCase().includes(t(role).toLocaleLowerCase());
}

export function authorName(frame) {
  if (frame.from === "visitor") return t("you");
  if (frame.from === "psychologist" && frame.name && !namesRole(frame.name, "psychologist")) {
    return t("psychologist_name", { name: frame.name });
  }
  return frame.name || t(frame.from);
}

export class Transcript {
  constructor(list, { onIncoming }) {
    this.list = list;
    this.onIncoming = onIncoming;
    this.reset();
  }

  reset() {
    clearTimeout(this.holdTimer);
    this.list.replaceChildren();
    this.lastSeq = 0; // every seq up to this one is known
    this.maxSeq = 0;
    this.seen = new Set();
    this.bySeq = new Map();
    this.pending = new Map(); // client id -> { id, text, node }
    this.held = new Map(); // seq -> replayed own message, waiting for acks
    this.holding = false;
  }

  get hasGap() {
    return this.maxSeq > this.lastSeq;
  }

  get isEmpty() {
    return this.list.childElementCount === 0;
  }

  markSeen(seq) {
    this.seen.add(seq);
    this.maxSeq = Math.max(this.maxSeq, seq);
    while (this.seen.has(this.lastSeq + 1)) {
      this.seen.delete(this.lastSeq + 1);
      this.lastSeq += 1;
    }
  }

  // -- the visitor's own messages --------------------------------------

  addPending(id, text, state) {
    const node = element("li", "msg mine pending");
    node.dataset.id = id;
    node.append(element("p", "sr-only", t("you")), element("p", "msg-text", text));
    const meta = element("p", "msg-meta");
    const time = clock();
    if (time) meta.append(time, " · ");
    meta.append(element("span", "msg-state", t(state)));
    node.append(meta);
    this.pending.set(id, { id, text, node });
    this.insert(node, null, true);
  }

  get outbox() {
    return [...this.pending.values()].map(({ id, text }) => ({ id, text }));
  }

  setPendingState(state) {
    for (const { node } of this.pending.values()) {
      node.querySelector(".msg-state").textContent = t(state);
    }
  }

  ack(id, seq) {
    const entry = this.pending.get(id);
    this.markSeen(seq);
    if (!entry) return false;
    this.pending.delete(id);
    this.held.delete(seq);
    if (this.bySeq.has(seq)) {
      // Already shown from a replay before this ack came back.
      entry.node.remove();
    } else {
      entry.node.classList.remove("pending");
      entry.node.dataset.seq = String(seq);
      entry.node.querySelector(".msg-state").textContent = t("sent");
      this.bySeq.set(seq, entry.node);
      entry.node.remove();
      this.insert(entry.node, seq, false);
    }
    if (this.holding && this.pending.size === 0) this.releaseHeld();
    return true;
  }

  fail(id, reason) {
    const entry = this.pending.get(id);
    if (!entry) return;
    this.pending.delete(id);
    entry.node.classList.replace("pending", "failed");
    entry.node.querySelector(".msg-state").textContent = t(reason);
    if (this.holding && this.pending.size === 0) this.releaseHeld();
  }

  // Call right after "resumed", before the outbox is resent.
  holdReplays() {
    clearTimeout(this.holdTimer);
    this.holding = this.pending.size > 0;
    if (this.holding) this.holdTimer = setTimeout(() => this.releaseHeld(), HOLD_MS);
  }

  releaseHeld() {
    clearTimeout(this.holdTimer);
    this.holding = false;
    const frames = [...this.held.values()].sort((a, b) => a.seq - b.seq);
    this.held.clear();
    for (const frame of frames) this.render(frame);
  }

  // -- messages from the server ------------------------------------------

  // Return true when the message is new and shown now.
  message(frame) {
    const seq = frame.seq;
    if (!Number.isInteger(seq) || seq < 1) return false;
    if (this.bySeq.has(seq) || this.held.has(seq)) return false;
    this.markSeen(seq);
    if (frame.from === "visitor" && this.holding) {
      this.held.set(seq, frame);
      return false;
    }
    this.render(frame);
    return true;
  }

  render(frame) {
    if (this.bySeq.has(frame.seq)) return;
    const mine = frame.from === "visitor";
    const kind = mine ? "mine" : frame.from === "system" ? "system" : "theirs";
    const node = element("li", `msg ${kind}`);
    if (frame.from === "psychologist") node.classList.add("psy");
    node.dataset.seq = String(frame.seq);
    node.append(element("p", mine ? "sr-only" : "msg-author", authorName(frame)));
    if (frame.attachment && typeof frame.attachment === "object") node.append(attachmentCard(frame.attachment));
    else if (frame.text) node.append(element("p", "msg-text", frame.text));
    if (frame.card && typeof frame.card === "object") node.append(resourceCard(frame.card));
    const meta = element("p", "msg-meta");
    const time = clock(frame.at);
    if (time) meta.append(time);
    if (mine) meta.append(" · ", element("span", "msg-state", t("sent")));
    if (meta.childNodes.length) node.append(meta);
    this.bySeq.set(frame.seq, node);
    this.insert(node, frame.seq, mine);
    if (!mine) this.onIncoming(frame);
  }

  notice(text, tone = "") {
    const node = element("li", `notice ${tone}`.trim(), text);
    this.insert(node, null, false);
    return node;
  }

  // Seq order; pending own messages stay last; notices stay where they fell.
  insert(node, seq, mine) {
    const nearBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < NEAR_BOTTOM_PX;
    let before = null;
    if (seq !== null || !node.classList.contains("pending")) {
      for (const child of this.list.children) {
        if (child.classList.contains("pending")) {
          before = child;
          break;
        }
        if (seq !== null && child.dataset.seq && Number(child.dataset.seq) > seq) {
          before = child;
          break;
        }
      }
    }
    this.list.insertBefore(node, before);
    if (nearBottom || mine) this.scrollToEnd();
  }

  scrollToEnd() {
    this.list.scrollTop = this.list.scrollHeight;
    // On a short window the log does not scroll by itself: the page does.
    if (this.list.scrollHeight <= this.list.clientHeight + 1) {
      this.list.lastElementChild?.scrollIntoView({ block: "nearest" });
    }
  }
}
