// What each server frame does (docs/protocol.md, staff endpoint): update
// the state, then redraw the part it touched. console.js registers these
// on the socket.
import { onUploadToken } from "./attachments.js";
import { setBoard, refreshCannedEditor } from "./board.js";
import {
  addEvent,
  addMessage,
  addStaffLine,
  closeConversation,
  composerOf,
  confirmMessage,
  openConversation,
  renderCannedSelect,
  renderConsent,
  renderHeader,
  renderInvitationState,
} from "./conversation.js";
import { showDuty } from "./dialogs.js";
import { renderPresence } from "./extras.js";
import { focusFirst, holdsFocus } from "./focus.js";
import { say } from "./live.js";
import { beep, notifyDesktop, showNotice } from "./notify.js";
import { refreshAttention, renderInvitations, setQueue } from "./queue.js";
import { $, isOperator, roleLabel, send, state, T } from "./state.js";
import { scrollToEnd, tabLabel, updateLoad, updateTab } from "./tabs.js";

const notice = $("notice");
const CLAIM_FOCUS_MS = 10000;
const INVITATION_SHOWN_MS = 8000;

const conversationOf = (frame) => state.conversations.get(frame.conversation);

export const handlers = {
  hello(frame) {
    state.me = frame.user.name;
    state.roles = frame.user.roles;
    state.services = frame.user.services;
    state.allServices = frame.services || [];
    state.canned = frame.canned || [];
    state.categories = frame.categories || [];
    state.capacity = frame.capacity;
    $("me-name").textContent = frame.user.name;
    $("me-roles").textContent = frame.user.roles.map(roleLabel).join(", ");
    $("capacity").textContent = String(frame.capacity);
    $("load-wrap").hidden = !isOperator() && !state.roles.includes("psychologist");
    $("auto-assign-wrap").hidden = !isOperator();
    $("auto-assign").checked = Boolean(frame.auto_assign);
    $("claim-next").hidden = !isOperator();
    state.queueSeen = new Set(frame.queue.map((item) => item.conversation));
    setQueue(frame.queue);
    const present = new Set(frame.conversations.map((conv) => conv.id));
    for (const id of [...state.conversations.keys()]) if (!present.has(id)) closeConversation(id, T.released);
    for (const conv of frame.conversations) openConversation(conv);
    state.invitations = new Map((frame.invitations || []).map((inv) => [inv.invitation, inv]));
    renderInvitations();
    // What was sent and never acknowledged goes again: the server keeps
    // the first copy of an id and acks the second.
    for (const [id, pending] of state.outbox) send({ type: "message", conversation: pending.conversation, id, text: pending.text });
  },
  queue(frame) {
    setQueue(frame.items);
  },
  upload_token(frame) {
    onUploadToken(frame, T);
  },
  assigned(frame) {
    for (const [id, inv] of state.invitations) if (inv.conversation === frame.conversation.id) state.invitations.delete(id);
    // Asked for by this person (claim, "next", join) or focus was lost in
    // the change: go to the new tab's composer. Otherwise (automatic
    // assignment while typing elsewhere) leave focus where it is.
    const wanted = Date.now() - state.claimedAt < CLAIM_FOCUS_MS || holdsFocus([$("queue"), $("invitations")]);
    state.claimedAt = 0;
    renderInvitations();
    const conv = openConversation(frame.conversation, { select: true });
    if (wanted) focusFirst(composerOf(conv.id), conv.panel);
    beep(880, 0.1);
    say(`${T.assigned} — ${tabLabel(conv)}`);
  },
  message(frame) {
    const conv = conversationOf(frame);
    if (conv) addMessage(conv, frame);
  },
  ack(frame) {
    state.outbox.delete(frame.id);
    const conv = conversationOf(frame);
    if (conv) confirmMessage(conv, frame.id, frame.seq);
  },
  typing(frame) {
    const conv = conversationOf(frame);
    if (!conv) return;
    const line = conv.panel.querySelector(".typing");
    line.textContent = frame.active ? `${roleLabel(frame.from)} ${T.typing}` : "";
  },
  note(frame) {
    const conv = conversationOf(frame);
    if (conv) addStaffLine(conv, "note", frame);
  },
  whisper(frame) {
    const conv = conversationOf(frame);
    if (conv) addStaffLine(conv, "whisper", frame);
  },
  joined(frame) {
    const conv = conversationOf(frame);
    if (!conv) return;
    if (frame.name === state.me && !frame.silent) {
      // A silent supervisor who wrote to the person is now visible.
      for (const p of conv.data.participants || []) if (p.name === state.me) p.silent = false;
      renderHeader(conv);
    }
    if (frame.name !== state.me) {
      const others = (conv.data.participants || []).filter((p) => p.name !== frame.name);
      if (frame.role !== "operator" || conv.data.operator !== frame.name) others.push({ role: frame.role, name: frame.name, silent: Boolean(frame.silent) });
      conv.data.participants = others;
      renderHeader(conv);
    }
    addEvent(conv, `${frame.name} (${roleLabel(frame.role)}) ${frame.silent ? T.joined_silent : T.joined}`);
  },
  left(frame) {
    const conv = conversationOf(frame);
    if (!conv) return;
    conv.data.participants = (conv.data.participants || []).filter((p) => p.name !== frame.name);
    renderHeader(conv);
    addEvent(conv, `${frame.name} (${roleLabel(frame.role)}) ${frame.reconnecting ? T.reconnecting : T.left}`);
  },
  handed_over(frame) {
    const conv = conversationOf(frame);
    if (!conv) return;
    conv.data.operator = frame.name;
    if (frame.service) conv.data.service = frame.service;
    if (frame.service_name) conv.data.service_name = frame.service_name;
    conv.data.participants = (conv.data.participants || []).filter((p) => p.name !== frame.name);
    if (frame.you) conv.data.as = "operator";
    renderHeader(conv);
    updateLoad();
    addEvent(conv, frame.you ? T.handed_over : `${frame.name} ${T.handed_over_other}`);
  },
  invitation(frame) {
    const conv = conversationOf(frame);
    if (frame.status !== "offered" && state.invitations.delete(frame.invitation)) renderInvitations();
    if (conv) {
      conv.data.invitation = frame.status === "asking" || frame.status === "offered" ? frame : { ...frame };
      renderInvitationState(conv);
      if (frame.status !== "asking" && frame.status !== "offered") {
        setTimeout(() => {
          if (conv.data.invitation && conv.data.invitation.invitation === frame.invitation) {
            conv.data.invitation = null;
            renderInvitationState(conv);
          }
        }, INVITATION_SHOWN_MS);
      }
      return;
    }
    if (frame.status === "offered") {
      state.invitations.set(frame.invitation, frame);
      beep(620, 0.2);
      showNotice(notice, `${T.invitation} — ${frame.place || ""}`);
      notifyDesktop(T.invitation, { tag: frame.invitation });
    } else {
      state.invitations.delete(frame.invitation);
    }
    renderInvitations();
    refreshAttention();
  },
  consent_requested(frame) {
    handlers.consent({ ...frame, status: "asked", fields: [] });
  },
  consent(frame) {
    const conv = conversationOf(frame);
    if (!conv) return;
    const text = renderConsent(conv, frame);
    if (text && frame.status !== "asked") addEvent(conv, text);
  },
  flagged(frame) {
    const conv = conversationOf(frame);
    if (conv) {
      conv.data.urgent = frame.urgent;
      conv.data.minor = frame.minor;
      renderHeader(conv);
    }
  },
  closed(frame) {
    const conv = conversationOf(frame);
    if (conv && frame.wrap_up) {
      // The visitor left: the slot is free, the outcome still to record.
      conv.data.wrap_up = true;
      conv.data.wrap_up_reason = frame.reason;
      conv.data.presence = "gone";
      renderHeader(conv);
      updateTab(conv);
      const text = frame.reason === "quick_exit" ? T.wrap_up_quick_exit : T.wrap_up_left;
      addEvent(conv, text);
      showNotice(notice, `${T.presence_gone} — ${tabLabel(conv)}`);
      notifyDesktop(T.presence_gone, { tag: conv.id, body: tabLabel(conv) });
      beep(330, 0.2);
      return;
    }
    closeConversation(frame.conversation, frame.reason === "wrapped_up" ? T.wrapped_up : T.closed);
  },
  conversation(frame) {
    // A fresh staff view (after a handover): header, actions, canned answers.
    const conv = state.conversations.get(frame.conversation.id);
    if (!conv) return;
    const { history, notes, whispers, ...fresh } = frame.conversation;
    conv.data = { ...conv.data, ...fresh };
    renderHeader(conv);
    updateTab(conv);
  },
  presence(frame) {
    const conv = conversationOf(frame);
    if (!conv || conv.data.wrap_up) return;
    clearTimeout(conv.presenceTimer);
    conv.data.presence = frame.presence;
    renderPresence(conv, T);
    addEvent(conv, T[`presence_${frame.presence}`]);
    if (frame.presence === "reconnecting" && frame.grace_s) {
      // Past the visitor's grace period they are most likely gone; the
      // conversation stays open in case they come back.
      conv.presenceTimer = setTimeout(() => {
        if (conv.data.presence !== "reconnecting" || conv.data.wrap_up) return;
        conv.data.presence = "gone";
        renderPresence(conv, T);
        addEvent(conv, T.presence_gone);
      }, frame.grace_s * 1000);
    }
  },
  psychologists(frame) {
    const conv = conversationOf(frame);
    if (!conv) return;
    const { type, conversation, ...duty } = frame;
    conv.data.psychologists = duty;
    showDuty(conv);
  },
  force_confirmed(frame) {
    const conv = conversationOf(frame);
    if (!conv) return;
    if (conv.data.competence) conv.data.competence = { ...conv.data.competence, confirm_force: false };
    renderHeader(conv);
    addEvent(conv, `${frame.transferred ? T.force_transferred : T.force_confirmed} : ${T[`force_${frame.force}`] || frame.force}`);
  },
  resource_sent(frame) {
    // My own card comes back as this reply, not as a message frame.
    const conv = conversationOf(frame);
    if (!conv) return;
    const card = frame.card || {};
    const text = [card.name, card.phone, card.address, card.hours, card.url].filter(Boolean).join("\n");
    const from = conv.data.as === "colleague" ? "operator" : conv.data.as;
    addMessage(conv, { seq: frame.seq, from, name: state.me, text, card, at: new Date().toISOString() }, { silent: true });
    scrollToEnd(conv);
    showNotice(notice, `${T.directory_shared} — ${card.name || ""}`);
  },
  released(frame) {
    // Back in the queue by this person's hand: not a newcomer to announce.
    state.queueSeen.add(frame.conversation);
    closeConversation(frame.conversation, T.released);
  },
  board(frame) {
    setBoard(frame);
  },
  canned(frame) {
    state.canned = frame.items;
    for (const conv of state.conversations.values()) renderCannedSelect(conv);
    refreshCannedEditor();
  },
  canned_saved() {},
  canned_deleted() {},
  auto_assign(frame) {
    $("auto-assign").checked = frame.enabled;
    showNotice(notice, frame.enabled ? T.auto_assign_on : T.auto_assign_off);
  },
  error(frame) {
    if (frame.ref) state.outbox.delete(frame.ref);
    showNotice(notice, `${T.error} : ${frame.message}`);
  },
};
