// Translated strings, rendered by Django into <template id="visitor-strings">.
const table = new Map();
const source = document.getElementById("visitor-strings");
if (source) {
  for (const item of source.content.querySelectorAll("[data-key]")) {
    table.set(item.dataset.key, item.textContent.trim());
  }
}

// t("typing", { name: "Opératrice 12" }) -> "Opératrice 12 écrit…"
export function t(key, params = {}) {
  const text = table.get(key) ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}
