// Keeps what has focus out from under the sticky header (WCAG 2.4.11 in
// spirit, 2.4.7 in letter): the page scrolls with a top padding equal to
// the header's real height, which changes with zoom, language and screen.
export function keepHeaderClear(header) {
  if (!header) return;
  const root = document.documentElement;
  const update = () => {
    const sticky = getComputedStyle(header).position === "sticky";
    const height = sticky ? header.getBoundingClientRect().height : 0;
    root.style.setProperty("--header-height", `${Math.ceil(height)}px`);
  };
  update();
  if ("ResizeObserver" in window) new ResizeObserver(update).observe(header);
  window.addEventListener("resize", update);
}
