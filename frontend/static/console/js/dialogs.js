// The conversation dialogs: close with an outcome, invite a psychologist
// or a colleague, transfer, close as abusive. state.dialog says which
// conversation (and which invitation role) the open dialog acts on.
import { dutyText } from "./extras.js";
import { $, el, send, state, T } from "./state.js";

export function openCloseDialog(conv) {
  state.dialog.conversation = conv;
  const dialog = $("dlg-close");
  dialog.querySelector("form").reset();
  $("close-error").textContent = "";
  $("close-categories").replaceChildren(
    ...state.categories.map((category) =>
      el("label", {}, el("input", { type: "checkbox", name: "category", value: category.code }), ` ${category.label}`),
    ),
  );
  dialog.showModal();
}

function confirmClose() {
  const dialog = $("dlg-close");
  const outcome = dialog.querySelector("input[name=outcome]:checked");
  if (!outcome) {
    $("close-error").textContent = T.outcome_required;
    // Focus goes to the choice that is missing.
    dialog.querySelector("input[name=outcome]").focus();
    return false;
  }
  const categories = [...dialog.querySelectorAll("input[name=category]:checked")].map((input) => input.value);
  send({ type: "close", conversation: state.dialog.conversation.id, outcome: outcome.value, categories });
  return true;
}

function otherServices(conv) {
  return state.allServices.filter((service) => service.slug !== conv.data.service);
}

export function openInviteDialog(conv, role) {
  state.dialog.conversation = conv;
  state.dialog.inviteRole = role;
  const dialog = $("dlg-invite");
  dialog.querySelector("form").reset();
  $("invite-error").textContent = "";
  $("dlg-invite-title").textContent = role === "psychologist" ? T.invite_psychologist : T.invite_colleague;
  $("invite-duty").textContent = role === "psychologist" ? dutyText(conv, T) : "";
  $("invite-duty").hidden = role !== "psychologist";
  // Ask again: who is online and on duty changes during a conversation.
  if (role === "psychologist") send({ type: "psychologists", conversation: conv.id });
  dialog.querySelector(".invite-service").hidden = role === "psychologist";
  $("invite-service").replaceChildren(
    ...otherServices(conv).map((service) => el("option", { value: service.slug, text: service.name })),
  );
  dialog.showModal();
}

// The psychologists' rota arrived: refresh the open invite dialog.
export function showDuty(conv) {
  if (state.dialog.conversation === conv && state.dialog.inviteRole === "psychologist") $("invite-duty").textContent = dutyText(conv, T);
}

function confirmInvite() {
  const { conversation, inviteRole } = state.dialog;
  const frame = { type: "invite", conversation: conversation.id, role: inviteRole, summary: $("invite-summary").value };
  if (inviteRole === "operator") frame.service = $("invite-service").value;
  send(frame);
  return true;
}

export function openTransferDialog(conv) {
  state.dialog.conversation = conv;
  $("transfer-service").replaceChildren(
    ...otherServices(conv).map((service) => el("option", { value: service.slug, text: service.name })),
  );
  $("dlg-transfer").showModal();
}

function confirmTransfer() {
  send({ type: "transfer", conversation: state.dialog.conversation.id, service: $("transfer-service").value });
  return true;
}

export function openAbusiveDialog(conv) {
  state.dialog.conversation = conv;
  $("dlg-abusive").showModal();
}

function confirmAbusive() {
  send({ type: "abusive", conversation: state.dialog.conversation.id });
  return true;
}

// Each dialog: "cancel" closes it; its form's submit confirms, and stays
// open when the confirmation refuses (a missing choice).
export function wireDialogs() {
  const confirmations = {
    "dlg-close": confirmClose,
    "dlg-invite": confirmInvite,
    "dlg-transfer": confirmTransfer,
    "dlg-abusive": confirmAbusive,
  };
  for (const [id, onConfirm] of Object.entries(confirmations)) {
    const dialog = $(id);
    dialog.addEventListener("click", (event) => {
      if (event.target.closest(".dlg-cancel")) dialog.close("cancel");
    });
    dialog.addEventListener("submit", (event) => {
      if (!onConfirm()) event.preventDefault();
    });
  }
}
