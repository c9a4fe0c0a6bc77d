// The visitor page: landing, queue, conversation, end; wired to the socket.
import { CallbackDialog, ConsentDialog, LeaveDialog, ParticipantDialog } from "./dialogs.js";
import { AttachmentSender } from "./attachments.js";
import { setupQuickExit } from "./exit.js";
import { FeedbackForm } from "./feedback.js";
import { keepHeaderClear } from "./layout.js";
import { say, setSummary } from "./live.js";
import { choiceText, PlaceField } from "./place.js";
import { RECEIPT_REF, ReceiptUi } from "./receipt.js";
import { Socket } from "../../common/js/socket.js";
import * as storage from "./storage.js";
import { t } from "./strings.js";
import { authorName, namesRole, newMessageId, Transcript } from "./transcript.js";

const CLOSE_NOT_FOUND = 4404;
const GAP_WAIT_MS = 1000;
const RETRY_SEND_MS = 2000;
const TYPING_SEND_EVERY_MS = 3000;
const TYPING_IDLE_MS = 4000;
const TYPING_SHOWN_MS = 8000;
const DEGRADED_POLL_MS = 5000;
const DEGRADED_FOR_MS = 60000;
const BACK_ONLINE_SHOWN_MS = 3000;
const STAFF_ROLES = ["operator", "psychologist", "supervisor"];

const byId = (id) => document.getElementById(id);
const root = byId("main");
const ui = {
  netStatus: byId("net-status"),
  startForm: byId("start-form"),
  startButton: byId("start-button"),
  startError: byId("start-error"),
  startBusy: byId("start-busy"),
  busyCountdown: byId("start-busy-countdown"),
  place: byId("place"),
  placeError: byId("place-error"),
  choices: byId("place-choices"),
  conversation: byId("screen-conversation"),
  serviceName: byId("service-name"),
  waiting: byId("waiting"),
  queuePosition: byId("queue-position"),
  queueWait: byId("queue-wait"),
  log: byId("log"),
  typing: byId("typing"),
  sendForm: byId("send-form"),
  text: byId("text"),
  closedHours: byId("closed-hours"),
  endReason: byId("end-reason"),
  endTranscript: byId("end-transcript"),
  endReceipt: byId("end-receipt"),
  neutralTitle: byId("neutral-title"),
  placeChosen: byId("place-chosen"),
  placeChosenLabel: byId("place-chosen-label"),
  childAlert: byId("child-alert"),
  overflowNote: byId("overflow-note"),
  forceNote: byId("force-note"),
  placeUnderstood: byId("place-understood"),
  placeUnderstoodLabel: byId("place-understood-label"),
  restartPlace: byId("restart-place"),
  closedNotice: byId("closed-notice"),
  callbackOffer: byId("callback-offer"),
};
// On /s/<slug>/ the page starts on that service (issue 10).
const fixedService = root.dataset.service || null;
const pageTitle = document.title;
const feedback = new FeedbackForm(byId("feedback-form"));

const state = {
  token: storage.get("token") || null,
  status: null, // waiting | active | closed
  pendingStart: null, // the start frame, until "started" or an error
  busy: 0, // starts refused in a row as the service is overloaded
  leaving: false, // leave asked while offline: send it once reconnected
  controls: [], // consent answers waiting for the socket
  staff: new Map(), // role -> pseudonym
  wasDown: false,
  timers: {},
  typingSentAt: 0,
  choices: [], // the communes offered by ambiguous_place
  changingPlace: false, // left to pick another commune: back to the form
  callbackPartners: [], // associations that can call back, from callback_options
  callbackRef: null, // the id of the callback frame awaiting its answer
  lingering: false, // the end screen keeps the closed conversation's socket
};
// The server gives a closed conversation a receipt this long after it closed.
const receiptGraceMs = (Number(root.dataset.receiptGrace) || 0) * 1000;

// -- screens -------------------------------------------------------------

function showScreen(name, { focus = true } = {}) {
  for (const screen of document.querySelectorAll("[data-screen]")) {
    screen.hidden = screen.dataset.screen !== name;
  }
  document.body.classList.toggle("in-conversation", name === "conversation");
  if (focus) document.querySelector(`[data-screen="${name}"] h1`)?.focus();
}

function setStatus(status) {
  state.status = status;
  root.dataset.status = status;
  ui.waiting.hidden = status !== "waiting";
  // Back in the queue mid-conversation: a short box, the messages in view.
  ui.waiting.classList.toggle("compact", status === "waiting" && !transcript.isEmpty);
  ui.sendForm.hidden = status === "closed";
}

function setNet(key) {
  clearTimeout(state.timers.net);
  ui.netStatus.textContent = key ? t(key) : "";
  ui.netStatus.classList.toggle("is-offline", key === "offline");
  ui.netStatus.classList.toggle("is-visible", Boolean(key));
  root.classList.toggle("offline", key === "offline");
  if (key === "back_online") state.timers.net = setTimeout(() => setNet(null), BACK_ONLINE_SHOWN_MS);
}

function applyTitle() {
  document.title = storage.get("neutralTitle") ? t("neutral_title") : pageTitle;
}

// Every status notice is read through live.js; a burst of messages is
// read as a count and the last one.
setSummary((items) => `${t("new_messages", { n: items.length })} ${items[items.length - 1]}`);

// A line in the conversation that is also read aloud.
function notify(text, tone) {
  transcript.notice(text, tone);
  say(text);
}

// -- what the visitor says it is about, and where ------------------------

function communeLabel(commune) {
  if (!commune.postal_code) return t("commune_label_no_code", commune);
  return t("commune_label", commune);
}

function currentTopic() {
  if (fixedService) return root.dataset.topic || "violence";
  return ui.startForm.elements.topic?.value || "violence";
}

// Each topic has its own "you are" answers: someone worried about their
// attraction to children is neither victim nor witness.
function applyTopic() {
  const topic = currentTopic();
  for (const label of ui.startForm.querySelectorAll(".roles label[data-topics]")) {
    const shown = label.dataset.topics.split(" ").includes(topic);
    label.hidden = !shown;
    label.querySelector("input").disabled = !shown;
  }
  const roles = [...ui.startForm.querySelectorAll("input[name=role]")];
  if (!roles.some((input) => input.checked && !input.disabled)) {
    const first = roles.find((input) => !input.disabled);
    if (first) first.checked = true;
  }
  if (ui.childAlert) ui.childAlert.hidden = topic !== "child";
}

function showChosenPlace(choice) {
  ui.placeChosen.hidden = !choice;
  ui.placeChosenLabel.textContent = choice ? communeLabel(choice) : "";
}

function showUnderstood(frame) {
  const commune = frame.commune;
  ui.placeUnderstood.hidden = !commune;
  ui.placeUnderstoodLabel.textContent = commune ? communeLabel(commune) : "";
  ui.restartPlace.hidden = !transcript.isEmpty;
}

function showOverflow(frame) {
  const overflow = frame.overflow;
  ui.overflowNote.hidden = !overflow;
  ui.forceNote.hidden = frame.confirm_force !== true;
  if (!overflow) return;
  const key = overflow.reason === "full" ? "overflow_full" : "overflow_closed";
  ui.overflowNote.textContent = t(key, { closed: overflow.service_name, open: frame.service_name });
}

// -- the conversation's messages ----------------------------------------

const transcript = new Transcript(ui.log, {
  onIncoming(frame) {
    hideTyping();
    say(t("message_from", { name: authorName(frame), text: frame.text || frame.card?.name || "" }));
  },
});

function saveOutbox() {
  if (state.token) storage.set({ outbox: transcript.outbox });
}

// No ack in time: the socket is probably dead without knowing it
// (common/js/socket.js drops it and the outbox goes again on a fresh one).
function armAckTimer() {
  socket.expectReply();
}

function flushOutbox() {
  const outbox = transcript.outbox;
  if (!outbox.length || !socket.isOpen) return;
  for (const { id, text } of outbox) socket.send({ type: "message", id, text });
  transcript.setPendingState("sending");
  armAckTimer();
}

function sendMessage(text) {
  const id = newMessageId();
  ui.restartPlace.hidden = true; // leaving now would lose what was written
  transcript.addPending(id, text, socket.isOpen ? "sending" : "queued");
  saveOutbox();
  if (socket.send({ type: "message", id, text })) armAckTimer();
  stopTyping();
}

function checkGap() {
  if (!transcript.hasGap || state.timers.gap) return;
  // A message overtaken by a later one usually arrives a moment later.
  state.timers.gap = setTimeout(() => {
    state.timers.gap = null;
    if (transcript.hasGap) socket.send({ type: "sync", after: transcript.lastSeq });
  }, GAP_WAIT_MS);
}

// The server stored the message but its live delivery is down: poll.
function startDegradedPolling() {
  state.degradedUntil = Date.now() + DEGRADED_FOR_MS;
  if (state.timers.degraded) return;
  state.timers.degraded = setInterval(() => {
    if (Date.now() > state.degradedUntil) {
      clearInterval(state.timers.degraded);
      state.timers.degraded = null;
      return;
    }
    socket.send({ type: "sync", after: transcript.lastSeq });
  }, DEGRADED_POLL_MS);
}

function staffName(role) {
  return state.staff.get(role) || t(role);
}

function showTyping(role, active) {
  clearTimeout(state.timers.typingShown);
  if (!active) {
    hideTyping();
    return;
  }
  state.typingRole = role;
  const text = t("typing", { name: staffName(role) });
  // Read once when it appears, not at every refresh of the indicator.
  if (ui.typing.hidden || ui.typing.textContent !== text) say(text);
  ui.typing.textContent = text;
  ui.typing.hidden = false;
  state.timers.typingShown = setTimeout(hideTyping, TYPING_SHOWN_MS);
}

function hideTyping() {
  ui.typing.hidden = true;
  ui.typing.textContent = "";
}

function noteTyping() {
  if (state.status !== "active" || !socket.isOpen) return;
  const now = Date.now();
  if (now - state.typingSentAt > TYPING_SEND_EVERY_MS) {
    socket.send({ type: "typing", active: true });
    state.typingSentAt = now;
  }
  clearTimeout(state.timers.typingIdle);
  state.timers.typingIdle = setTimeout(stopTyping, TYPING_IDLE_MS);
}

function stopTyping() {
  clearTimeout(state.timers.typingIdle);
  if (state.typingSentAt && socket.isOpen) socket.send({ type: "typing", active: false });
  state.typingSentAt = 0;
}

function showQueue(position, waitSeconds) {
  ui.queuePosition.textContent = String(position);
  byId("queue-note").hidden = position > 1;
  const minutes = Math.round(waitSeconds / 60);
  let wait = t("wait_minutes", { n: minutes });
  if (waitSeconds < 60) wait = t("wait_under_minute");
  else if (minutes <= 1) wait = t("wait_one_minute");
  ui.queueWait.textContent = wait;
}

// -- starting, resuming, ending ------------------------------------------

function enterConversation(status, { focus = true } = {}) {
  const already = !ui.conversation.hidden;
  if (ui.log.parentElement !== ui.conversation) ui.typing.before(ui.log);
  showScreen("conversation", { focus: focus && !already });
  setStatus(status);
}

function begin(frame) {
  clearStartErrors();
  state.lastStart = frame; // a chosen commune resends it with its code
  state.pendingStart = frame;
  ui.startButton.disabled = true;
  ui.startButton.setAttribute("aria-busy", "true");
  if (state.leaving) return; // sent once the last conversation is closed
  stopLingering();
  if (!socket.send(frame)) socket.start();
}

// A refused start frees the form.
function startRefused() {
  state.pendingStart = null;
  stopBusy();
  socket.stop();
  setNet(null);
  ui.startButton.disabled = false;
  ui.startButton.removeAttribute("aria-busy");
}

function startFailed(message, { field = false } = {}) {
  startRefused();
  const target = field ? ui.placeError : ui.startError;
  target.textContent = message;
  target.hidden = false;
  if (field) {
    ui.place.setAttribute("aria-invalid", "true");
    ui.place.focus();
  }
}

// Overloaded (issue 14): keep the form, start again after retry_after,
// 1.5 times longer each time (60 s at most), with jitter.
function waitWhileBusy(frame) {
  socket.stop();
  setNet(null);
  const ms = Math.min((frame.retry_after || 10) * 1000 * 1.5 ** state.busy++, 60000);
  const wait = ms * (1 + Math.random() / 4);
  state.busyUntil = Date.now() + wait;
  ui.startBusy.hidden = false;
  say(t("busy_said", { n: Math.ceil(wait / 1000) }));
  clearTimeout(state.timers.busy);
  tickBusy();
}

function tickBusy() {
  const left = state.busyUntil - Date.now();
  ui.busyCountdown.textContent = t(left > 0 ? "busy_countdown" : "busy_retrying", { n: Math.ceil(left / 1000) });
  if (left > 0) state.timers.busy = setTimeout(tickBusy, Math.min(left, 1000));
  else socket.start(); // which sends the start it holds
}

function stopBusy() {
  clearTimeout(state.timers.busy);
  state.busy = 0;
  ui.startBusy.hidden = true;
}

function clearStartErrors() {
  stopBusy();
  for (const node of [ui.startError, ui.placeError]) {
    node.hidden = true;
    node.textContent = "";
  }
  ui.place.removeAttribute("aria-invalid");
  ui.choices.hidden = true;
}

function showChoices(choices) {
  state.choices = choices;
  const list = ui.choices.querySelector("ul");
  list.replaceChildren(
    ...choices.map((choice) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "button choice";
      button.dataset.action = "choose-place";
      button.dataset.code = choice.code_insee;
      button.textContent = choiceText(choice);
      item.append(button);
      return item;
    }),
  );
  ui.choices.hidden = false;
  list.querySelector("button")?.focus();
}

function endConversation(reason) {
  feedback.offer(state.token);
  const keys = {
    visitor_left: "end_visitor_left",
    closed_by_operator: "end_operator",
    abandoned: "end_abandoned",
  };
  storage.forgetConversation();
  if (!state.leaving) {
    state.token = null;
    if (state.changingPlace) socket.stop();
    else linger();
  }
  if (state.changingPlace) {
    // Left to pick another commune: back to the form, not the end screen.
    state.changingPlace = false;
    socket.cancelReplyWait();
    setStatus("closed");
    goHome();
    placeField.reset();
    ui.place.focus();
    return;
  }
  leaveDialog.close();
  callbackDialog.close();
  ui.callbackOffer.hidden = true;
  consentDialog.close();
  participantDialog.close();
  forgetSetAside(consentDialog);
  forgetSetAside(participantDialog);
  socket.cancelReplyWait();
  hideTyping();
  setNet(null);
  setStatus("closed");
  ui.endReason.textContent = t(keys[reason] || "end_other");
  ui.endTranscript.open = false;
  ui.endTranscript.hidden = transcript.isEmpty;
  ui.endTranscript.append(ui.log);
  ui.endReceipt.hidden = !state.lingering;
  ui.text.value = "";
  showScreen("end");
}

// Keep the closed conversation's socket a while, without reconnecting, so
// that the end screen can still ask for a receipt (issue 16): the server
// gives one for as long as the transcript replays after the close.
function linger() {
  if (!socket.isOpen || !receiptGraceMs) {
    socket.stop();
    return;
  }
  state.lingering = true;
  socket.linger(() => {
    state.lingering = false;
    ui.endReceipt.hidden = true;
    receiptUi.gone();
  });
  clearTimeout(state.timers.linger);
  state.timers.linger = setTimeout(stopLingering, receiptGraceMs);
}

function stopLingering() {
  if (!state.lingering) return;
  state.lingering = false;
  clearTimeout(state.timers.linger);
  ui.endReceipt.hidden = true;
  receiptUi.gone();
  socket.stop();
}

function goHome() {
  stopLingering();
  feedback.reset();
  transcript.reset();
  state.staff.clear();
  ui.typing.before(ui.log);
  ui.startButton.disabled = false;
  ui.startButton.removeAttribute("aria-busy");
  clearStartErrors();
  showScreen("landing");
}

function forgetAndGoHome() {
  state.token = null;
  state.leaving = false;
  storage.forgetConversation();
  goHome();
  ui.startError.textContent = t("error_not_found");
  ui.startError.hidden = false;
}

function requestLeave() {
  if (socket.send({ type: "leave" })) return;
  // Offline: end now on screen, tell the server once reconnected.
  state.leaving = true;
  endConversation("visitor_left");
}

// The server now knows the visitor left; a new conversation may have been
// asked for meanwhile, on a fresh socket.
function finishPendingLeave() {
  state.leaving = false;
  state.token = null;
  socket.stop();
  if (state.pendingStart) socket.start();
}

function sendControl(frame) {
  if (!socket.send(frame)) state.controls.push(frame);
}

// -- the socket ----------------------------------------------------------

const socket = new Socket(root.dataset.ws, {
  awaiting: () => transcript.pending.size > 0,
  onOpen() {
    if (state.token) {
      socket.send({ type: "resume", token: state.token, last_seq: transcript.lastSeq });
    } else if (state.pendingStart) {
      socket.send(state.pendingStart);
    } else {
      socket.stop();
    }
  },
  onDown() {
    state.wasDown = true;
    if (state.token && !state.leaving) {
      setNet("offline");
      transcript.setPendingState("queued");
    } else if (state.pendingStart) {
      setNet("connecting");
    }
  },
  final: {
    // 4404: the token is unknown or the conversation is over.
    [CLOSE_NOT_FOUND]() {
      if (state.leaving) {
        finishPendingLeave();
        return;
      }
      forgetAndGoHome();
    },
  },
});

socket
  .on("started", (frame) => {
    state.token = frame.token;
    state.pendingStart = null;
    stopBusy();
    storage.set({ token: frame.token, outbox: [] });
    socket.settled();
    setNet(null);
    transcript.reset();
    state.staff.clear();
    ui.serviceName.textContent = frame.service_name || "";
    ui.startButton.disabled = false;
    ui.startButton.removeAttribute("aria-busy");
    placeField.reset();
    showUnderstood(frame);
    showOverflow(frame);
    enterConversation("waiting");
    ui.waiting.querySelector("h2").focus();
    showQueue(frame.queue.position, frame.queue.estimated_wait_s);
    if (frame.overflow) say(ui.overflowNote.textContent);
    socket.send({ type: "callback_options" });
  })
  .on("resumed", (frame) => {
    socket.settled();
    if (frame.follow_up && frame.token) {
      adoptRecovered(frame);
    } else if (typeof frame.token === "string" && !state.leaving) {
      // The server replaces the token at each resume: the old one is dead.
      state.token = frame.token;
      storage.set({ token: frame.token });
    }
    if (state.leaving) {
      socket.send({ type: "leave" });
      return;
    }
    setNet(state.wasDown ? "back_online" : null);
    if (state.wasDown) say(t("resumed"));
    state.wasDown = false;
    ui.serviceName.textContent = frame.service_name || "";
    showUnderstood(frame);
    transcript.holdReplays();
    flushOutbox();
    for (const control of state.controls.splice(0)) socket.send(control);
    if (frame.status !== "closed") {
      enterConversation(frame.status, { focus: false });
      socket.send({ type: "callback_options" });
    }
  })
  .on("queue", (frame) => {
    // A history replayed after a receipt is not a requeue.
    const requeued = state.status === "active" && !state.recovered;
    if (requeued) notify(t("requeued"));
    state.recovered = false;
    if (state.status !== "closed") setStatus("waiting");
    showQueue(frame.position, frame.estimated_wait_s);
    // The waiting box reappears above the log: keep the newest in view.
    if (requeued) requestAnimationFrame(() => transcript.scrollToEnd());
  })
  .on("ack", (frame) => {
    transcript.ack(frame.id, frame.seq);
    saveOutbox();
    armAckTimer();
    if (frame.live === false) startDegradedPolling();
    checkGap();
  })
  .on("message", (frame) => {
    if (STAFF_ROLES.includes(frame.from) && frame.name) state.staff.set(frame.from, frame.name);
    transcript.message(frame);
    ui.restartPlace.hidden = true; // leaving now would lose the conversation
    if (frame.from === "operator" && state.status === "waiting") setStatus("active");
    checkGap();
  })
  .on("joined", (frame) => {
    if (frame.name) state.staff.set(frame.role, frame.name);
    let key = { operator: "joined_operator", psychologist: "joined_psychologist" }[frame.role] || "joined_other";
    if (frame.role === "psychologist" && namesRole(staffName(frame.role), frame.role)) key = "joined_other";
    const text = t(key, { name: staffName(frame.role) });
    notify(text, "joined");
    if (frame.role === "operator") setStatus("active");
  })
  .on("left", (frame) => {
    const name = frame.name || staffName(frame.role);
    let key = frame.role === "psychologist" && !namesRole(name, frame.role) ? "left_psychologist" : "left_staff";
    if (frame.reconnecting) key = "reconnecting_staff";
    const text = t(key, { name });
    notify(text, frame.reconnecting ? "warning" : "left");
    if (frame.role === state.typingRole) hideTyping();
  })
  .on("typing", (frame) => showTyping(frame.from, frame.active === true))
  .on("consent_request", (frame) => {
    if (typeof frame.request === "string" && typeof frame.text === "string") {
      forgetSetAside(consentDialog);
      consentDialog.open(frame.request, frame.text);
    }
  })
  .on("consent_recorded", (frame) => {
    consentDialog.recorded(frame);
    if (frame.accept) {
      notify(t("consent_sent"), "consent");
      transcript.notice(t("consent_next"), "consent");
    } else {
      notify(t("consent_declined"), "consent");
    }
  })
  .on("participant_request", (frame) => {
    if (typeof frame.request === "string" && typeof frame.text === "string") {
      forgetSetAside(participantDialog);
      participantDialog.open(frame.request, frame.text);
    }
  })
  .on("participant_request_cancelled", (frame) => {
    if (participantDialog.close(frame.request)) {
      forgetSetAside(participantDialog);
      notify(t("participant_cancelled"));
    }
  })
  .on("participant_answered", (frame) => {
    notify(t(frame.accept ? "participant_accepted" : "participant_declined"), "consent");
  })
  .on("callback_options", (frame) => {
    state.callbackPartners = Array.isArray(frame.partners) ? frame.partners : [];
    ui.callbackOffer.hidden = !(frame.available && state.callbackPartners.length) || state.status === "closed";
  })
  .on("callback_requested", (frame) => {
    if (frame.id !== state.callbackRef) return;
    state.callbackRef = null;
    callbackDialog.close();
    say(t("callback_sent", { name: frame.partner_name || "" }));
  })
  .on("replaced", () => {
    // This conversation continues in another window or on another device.
    state.token = null;
    socket.stop();
    setNet(null);
    notify(t("replaced"), "warning");
    setStatus("closed");
  })
  .on("closed", (frame) => {
    if (state.leaving) {
      finishPendingLeave();
      return;
    }
    endConversation(frame.reason);
  })
  .on("receipt", (frame) => receiptUi.show(frame.code))
  .on("upload_token", (frame) => attachmentSender.upload(frame))
  .on("error", (frame) => {
    if (state.pendingStart?.type === "recover") {
      // A refused receipt code: the same answer for wrong and expired.
      startRefused();
      receiptUi.failed(frame.code);
      return;
    }
    if (frame.ref === RECEIPT_REF) {
      receiptUi.refused(frame.code);
      // Past the grace no code will come: the end screen stops offering one.
      if (frame.code === "receipt_too_late") stopLingering();
      return;
    }
    if (frame.ref && frame.ref === state.callbackRef) {
      state.callbackRef = null;
      if (frame.code === "callback_limit" || frame.code === "callback_unavailable") {
        callbackDialog.close();
        ui.callbackOffer.hidden = true;
        notify(frame.code === "callback_limit" ? t("callback_limit") : frame.message || "");
      } else {
        callbackDialog.showError(frame.message || t("error_generic"), byId("callback-phone"));
      }
      return;
    }
    switch (frame.code) {
      case "ambiguous_place":
        startRefused();
        showChoices(Array.isArray(frame.choices) ? frame.choices : []);
        break;
      case "invalid_place":
        startFailed(t("error_invalid_place"), { field: true });
        break;
      case "invalid_role":
      case "invalid_service":
        startFailed(t(`error_${frame.code}`));
        break;
      case "service_closed":
        startRefused();
        ui.closedHours.textContent = frame.hours || t("hours_unknown");
        ui.closedNotice.textContent = frame.emergency_notice || "";
        ui.closedNotice.hidden = !frame.emergency_notice;
        showScreen("closed");
        break;
      case "invalid_contact":
        consentDialog.failed(frame);
        break;
      case "not_found":
        break; // the 4404 close that follows forgets the conversation
      case "too_many_connections":
      case "busy":
      case "queue_full":
      case "blocked":
        // Admission refusals; the server's message carries the emergency
        // numbers, also listed at the top of the page.
        if (state.pendingStart) startFailed(frame.message || t("error_generic"));
        break;
      case "overloaded": // not a refusal: the page tries again by itself
        if (state.pendingStart) waitWhileBusy(frame);
        break;
      case "too_large":
        if (frame.ref) transcript.fail(frame.ref, "failed_too_long");
        saveOutbox();
        break;
      case "rate_limited":
      case "unavailable":
        if (frame.ref) {
          transcript.setPendingState("retrying");
          clearTimeout(state.timers.retry);
          state.timers.retry = setTimeout(flushOutbox, RETRY_SEND_MS);
        }
        break;
      default:
        if (consentDialog.failed(frame)) break;
        if (state.pendingStart) startFailed(t("error_generic"));
    }
  });

// A receipt code brought a conversation back (issue 16): its new token
// replaces any, and the history that follows fills the transcript.
function adoptRecovered(frame) {
  state.token = frame.token;
  state.pendingStart = null;
  storage.set({ token: frame.token, outbox: [] });
  transcript.reset();
  state.recovered = true;
  state.staff.clear();
  receiptUi.recovered();
  ui.startButton.disabled = false;
  ui.startButton.removeAttribute("aria-busy");
  enterConversation(frame.status);
  notify(t("receipt_follow_up"), "joined");
}

// -- page wiring ---------------------------------------------------------

const attachmentSender = new AttachmentSender({
  button: byId("attach-button"),
  input: byId("attach-input"),
  progress: byId("attach-progress"),
  status: byId("attach-status"),
  send: (frame) => socket.send(frame),
  getToken: () => state.token,
});

const receiptUi = new ReceiptUi({
  button: byId("receipt-button"),
  endButton: byId("end-receipt-button"),
  dialog: byId("receipt-dialog"),
  recoverLink: byId("recover-link"),
  recoverForm: byId("recover-form"),
  send: (frame) => socket.send(frame),
  onRecover: (code) => begin({ type: "recover", code }),
});

const placeField = new PlaceField({
  input: ui.place,
  list: byId("place-list"),
  count: byId("place-count"),
  endpoint: root.dataset.communes,
  countText: (n) => t(n === 0 ? "place_count_none" : n === 1 ? "place_count_one" : "place_count_many", { n }),
  onChosen: showChosenPlace,
});

const leaveDialog = new LeaveDialog(byId("leave-dialog"), { onConfirm: requestLeave });

// A question closed with Escape stays pending: a line in the conversation
// says so and its button asks it again. The line goes once the question is
// answered, withdrawn or asked again.
const setAside = new Map(); // dialog object -> its line in the log

function offerToReopen(question) {
  forgetSetAside(question);
  const line = transcript.notice(t("question_set_aside"), "consent");
  const button = document.createElement("button");
  button.type = "button";
  button.className = "button quiet reopen";
  button.textContent = t("question_reopen");
  button.addEventListener("click", () => {
    forgetSetAside(question);
    question.reopen();
  });
  line.append(" ", button);
  setAside.set(question, line);
  say(t("question_set_aside"));
}

function forgetSetAside(question) {
  setAside.get(question)?.remove();
  setAside.delete(question);
}

const participantDialog = new ParticipantDialog(byId("participant-dialog"), {
  onAnswer(frame) {
    forgetSetAside(participantDialog);
    sendControl(frame);
  },
  onSetAside: offerToReopen,
});

const consentDialog = new ConsentDialog(byId("consent-dialog"), {
  onSetAside: offerToReopen,
  onAnswer(frame) {
    forgetSetAside(consentDialog);
    sendControl(frame);
  },
});

const callbackDialog = new CallbackDialog(byId("callback-dialog"), {
  onSubmit({ partner, phone, times }) {
    const ref = newMessageId();
    if (!socket.send({ type: "callback", id: ref, partner, phone, times })) {
      callbackDialog.showError(t("offline"));
      return;
    }
    state.callbackRef = ref;
  },
});

byId("callback-button").addEventListener("click", () => callbackDialog.open(state.callbackPartners));

const quickExitLink = document.querySelector("[data-quick-exit]");
setupQuickExit({
  url: quickExitLink.href,
  beforeExit() {
    receiptUi.wipe();
    attachmentSender.wipe();
    // End the conversation before the socket closes: the operator's slot
    // is freed at once and they see the person left in a hurry.
    socket.send({ type: "leave", quick_exit: true });
    socket.stop();
    transcript.reset();
  },
});

ui.startForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const place = placeField.value;
  if (!place) {
    startFailed(t("error_place_empty"), { field: true });
    return;
  }
  const role = ui.startForm.elements.role.value;
  const frame = { type: "start", role, lang: document.documentElement.lang };
  const commune = placeField.commune;
  if (commune) frame.commune = commune;
  else frame.place = place;
  if (fixedService) frame.service = fixedService;
  else frame.topic = currentTopic();
  begin(frame);
});

ui.sendForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = ui.text.value.trim();
  if (!text) return;
  ui.text.value = "";
  storage.set({ draft: "" });
  sendMessage(text);
  ui.text.focus();
});

const coarsePointer = window.matchMedia("(pointer: coarse)");
// Say how Enter behaves, where it sends (a keyboard, not a phone).
function explainEnter() {
  const hint = byId("composer-hint");
  hint.hidden = coarsePointer.matches;
  if (hint.hidden) ui.text.removeAttribute("aria-describedby");
  else ui.text.setAttribute("aria-describedby", hint.id);
}
explainEnter();
coarsePointer.addEventListener?.("change", explainEnter);
ui.text.addEventListener("keydown", (event) => {
  // On a phone Enter makes a new line; with a keyboard it sends.
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !coarsePointer.matches) {
    event.preventDefault();
    ui.sendForm.requestSubmit();
  }
});

ui.text.addEventListener("input", () => {
  noteTyping();
  clearTimeout(state.timers.draft);
  state.timers.draft = setTimeout(() => {
    if (state.token) storage.set({ draft: ui.text.value });
  }, 400);
});

ui.neutralTitle.addEventListener("change", () => {
  storage.set({ neutralTitle: ui.neutralTitle.checked });
  applyTitle();
});

document.addEventListener("click", (event) => {
  const target = event.target.closest("[data-action], [data-replace]");
  if (!target) return;
  if (target.matches("[data-replace]")) {
    // Switching language replaces this history entry instead of adding one.
    event.preventDefault();
    if (state.token) storage.set({ draft: ui.text.value });
    location.replace(target.href);
    return;
  }
  const action = target.dataset.action;
  if (action === "home") goHome();
  else if (action === "choose-place") {
    const choice = state.choices.find((item) => item.code_insee === target.dataset.code);
    if (choice) placeField.setChosen(choice);
    const { place: _typed, ...frame } = state.lastStart;
    begin({ ...frame, commune: target.dataset.code });
  } else if (action === "restart-place") {
    state.changingPlace = true;
    requestLeave();
  }
});

byId("leave-button").addEventListener("click", () => leaveDialog.open());

// -- boot ----------------------------------------------------------------

keepHeaderClear(document.querySelector(".topbar"));

ui.startForm.addEventListener("change", (event) => {
  if (event.target.name === "topic") applyTopic();
});
applyTopic();

ui.neutralTitle.checked = Boolean(storage.get("neutralTitle"));
applyTitle();

if (state.token) {
  // A reload: show what was not yet sent, and resume.
  for (const { id, text } of storage.get("outbox") || []) transcript.addPending(id, text, "queued");
  ui.text.value = storage.get("draft") || "";
  showScreen("conversation", { focus: false });
  ui.waiting.hidden = true;
  setNet("resuming");
  socket.start();
}
