// City-or-postal-code field: an ARIA 1.2 combobox with a listbox popup,
// fed by the project's own commune search (GET ?q=), debounced.
const DEBOUNCE_MS = 250;
const MIN_CHARS = 2;

// What fills the field once a commune is chosen: "Bordeaux (33000)", or
// the name alone when the commune has several postal codes.
export function choiceLabel(choice) {
  return choice.postal_code ? `${choice.name} (${choice.postal_code})` : choice.name;
}

// A choice between communes of the same name: the postal code when there
// is one, and the department, never an empty slot ("Saint-Denis (93)").
export function choiceText(choice) {
  const details = [choice.postal_code, choice.department].filter(Boolean);
  return details.length ? `${choice.name} (${details.join(", ")})` : choice.name;
}

export class PlaceField {
  constructor({ input, list, count, endpoint, countText, onChosen = () => {} }) {
    this.input = input;
    this.onChosen = onChosen;
    this.list = list;
    this.count = count;
    this.endpoint = endpoint;
    this.countText = countText;
    this.options = [];
    this.active = -1;
    this.chosen = null;
    this.timer = null;
    this.request = null;

    input.addEventListener("input", () => {
      if (this.chosen) {
        this.chosen = null;
        this.onChosen(null);
      }
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.search(), DEBOUNCE_MS);
    });
    input.addEventListener("keydown", (event) => this.onKey(event));
    input.addEventListener("blur", () => setTimeout(() => this.close(), 150));
    // Keep the focus in the input while an option is pressed.
    list.addEventListener("pointerdown", (event) => event.preventDefault());
    list.addEventListener("click", (event) => {
      const option = event.target.closest("[role=option]");
      if (option) this.choose(Number(option.dataset.index));
    });
  }

  // The INSEE code of the commune picked from the list, sent as "commune";
  // null when the visitor typed something else.
  get commune() {
    if (this.chosen && this.input.value === choiceLabel(this.chosen)) return this.chosen.code_insee;
    return null;
  }

  // Whatever was typed, sent as "place" (a postal code or a name; the
  // server resolves it).
  get value() {
    return this.input.value.trim();
  }

  async search() {
    const query = this.input.value.trim();
    if (this.request) this.request.abort();
    if (query.length < MIN_CHARS) {
      this.show([]);
      return;
    }
    const request = new AbortController();
    this.request = request;
    try {
      const response = await fetch(`${this.endpoint}?q=${encodeURIComponent(query)}`, {
        signal: request.signal,
        credentials: "omit",
        cache: "no-store",
        headers: { Accept: "application/json" },
      });
      if (!response.ok) return;
      const data = await response.json();
      if (this.request === request && document.activeElement === this.input) this.show(data.results || []);
    } catch {
      // Aborted or offline: the visitor can still type a postal code.
    }
  }

  show(results) {
    this.options = results;
    this.active = -1;
    this.input.removeAttribute("aria-activedescendant");
    this.list.replaceChildren(
      ...results.map((choice, index) => {
        const option = document.createElement("li");
        option.id = `place-option-${index}`;
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", "false");
        option.dataset.index = String(index);
        const name = document.createElement("span");
        name.className = "option-name";
        name.textContent = choice.name;
        const code = document.createElement("span");
        code.className = "option-code";
        code.textContent = ` ${choice.postal_code}`;
        option.append(name, code);
        return option;
      }),
    );
    const open = results.length > 0;
    this.list.hidden = !open;
    this.input.setAttribute("aria-expanded", String(open));
    this.count.textContent = this.input.value.trim().length >= MIN_CHARS ? this.countText(results.length) : "";
  }

  close() {
    this.list.hidden = true;
    this.active = -1;
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
  }

  highlight(index) {
    const options = this.list.querySelectorAll("[role=option]");
    if (!options.length) return;
    this.active = (index + options.length) % options.length;
    options.forEach((option, position) => option.setAttribute("aria-selected", String(position === this.active)));
    const current = options[this.active];
    this.input.setAttribute("aria-activedescendant", current.id);
    current.scrollIntoView({ block: "nearest" });
  }

  choose(index) {
    const choice = this.options[index];
    if (!choice) return;
    this.setChosen(choice);
    this.close();
    this.input.focus();
  }

  setChosen(choice) {
    this.chosen = choice;
    this.input.value = choiceLabel(choice);
    this.input.removeAttribute("aria-invalid");
    this.onChosen(choice);
  }

  onKey(event) {
    const open = !this.list.hidden;
    if (event.key === "ArrowDown") {
      event.preventDefault();
      if (!open && this.options.length) {
        this.list.hidden = false;
        this.input.setAttribute("aria-expanded", "true");
      }
      this.highlight(this.active + 1);
    } else if (event.key === "ArrowUp" && open) {
      event.preventDefault();
      this.highlight(this.active - 1);
    } else if (event.key === "Enter" && open && this.active >= 0) {
      event.preventDefault();
      this.choose(this.active);
    } else if (event.key === "Escape" && open) {
      // Escape closes the list first; the quick exit leaves it alone
      // while the list is open (see exit.js).
      event.preventDefault();
      this.close();
    } else if (event.key === "Tab") {
      this.close();
    }
  }

  reset() {
    if (this.chosen) this.onChosen(null);
    this.chosen = null;
    this.input.value = "";
    this.show([]);
    this.close();
  }
}
