// The login click is the staff member's first gesture: use it to ask for
// desktop notifications (browsers only allow the question on a click), so
// the first visitor of a quiet night is noticed even if the console never
// had the focus. The same click lets the console page play sounds.
const form = document.getElementById("login-form");
const ASK_TIMEOUT_MS = 15000;

form?.addEventListener("submit", (event) => {
  if (form.dataset.asked || !("Notification" in window) || Notification.permission !== "default") return;
  event.preventDefault();
  form.dataset.asked = "1";
  const proceed = () => form.submit();
  const timer = setTimeout(proceed, ASK_TIMEOUT_MS);
  Promise.resolve(Notification.requestPermission())
    .catch(() => null)
    .finally(() => {
      clearTimeout(timer);
      proceed();
    });
});
