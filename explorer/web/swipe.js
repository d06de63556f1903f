// The swipe comparison: two pictures of the same size stacked, the left one cut at a split
// line; both zoom and pan together. `data` comes from explorer.views.swipe_payload: {left,
// right: data URIs; left_label, right_label, left_alt, right_alt; width, height: the pictures'
// pixels; max_height: the tallest it may be on screen, a CSS length; hint, touch_hint: the line under it, for
// pointers and for touch screens}.
//
// Split: follows the pointer at 1× (mouse), drags anywhere at 1× or by the line when zoomed;
// keys: arrows 1 % (Shift 10 %), PageUp/PageDown 10 %, Home/End. Zoom: wheel about the
// pointer, pinch, the + − buttons or keys (about the split line), 0 or "Fit" back to the whole
// picture; drag to pan when zoomed. One transform, on the stage that holds both pictures, so
// the two sides can never drift apart; the left picture's clip is set in the stage's own units.
const MAX_ZOOM = 32; // × the fitted size
const UNITS = 1000; // the range input's resolution: 0.1 % for the pointer
const STEP = 10; // one arrow press: 1 %
const BIG_STEP = 100; // Shift+arrow, PageUp/PageDown: 10 %
const HANDLE_PX = 16; // how near the line a press drags the split when zoomed

function build(parentElement) {
  const box = document.createElement("div");
  box.className = "swipe";
  box.innerHTML =
    '<div class="swipe-frame">' +
    '<div class="swipe-stage"><img class="swipe-right" draggable="false"><img class="swipe-left" draggable="false"></div>' +
    '<div class="swipe-line"></div><div class="swipe-handle"><div class="swipe-knob" aria-hidden="true">⇔</div></div>' +
    '<span class="swipe-label left"></span><span class="swipe-label right"></span>' +
    '<input type="range" min="0" max="' + UNITS + '" value="' + UNITS / 2 + '"><div class="swipe-focus"></div>' +
    '<div class="swipe-tools" role="group" aria-label="Zoom">' +
    '<button type="button" class="zoom-out" aria-label="Zoom out" title="Zoom out (−)">−</button>' +
    '<span class="zoom-level" aria-hidden="true">100 %</span>' +
    '<button type="button" class="zoom-in" aria-label="Zoom in" title="Zoom in (+)">+</button>' +
    '<button type="button" class="zoom-fit" aria-label="Fit the whole picture" title="Fit (0)">Fit</button></div>' +
    '<div class="swipe-live" role="status" aria-live="polite"></div>' +
    "</div>" +
    '<div class="swipe-hint"></div>';
  parentElement.append(box);
  return box;
}

export default function ({ parentElement, data }) {
  // parentElement is a shadow root (styles isolated): everything lives in one block element,
  // `box`, whose width is the column's. Streamlit calls the returned cleanup only on unmount,
  // not before drawing new data, so the last drawing's listeners are removed here first.
  const box = parentElement.querySelector(".swipe") || build(parentElement);
  const frame = box.querySelector(".swipe-frame");
  frame._cleanup?.();
  const stage = frame.querySelector(".swipe-stage");
  const [right, left] = stage.querySelectorAll("img");
  const range = frame.querySelector("input");
  const handle = frame.querySelector(".swipe-handle");
  const level = frame.querySelector(".zoom-level");
  const live = frame.querySelector(".swipe-live");
  if (left.src !== data.left) left.src = data.left;
  if (right.src !== data.right) right.src = data.right;
  left.alt = data.left_alt;
  right.alt = data.right_alt;
  frame.querySelector(".swipe-label.left").textContent = data.left_label;
  frame.querySelector(".swipe-label.right").textContent = data.right_label;
  range.setAttribute("aria-label", `Split between ${data.left_label} (left) and ${data.right_label} (right)`);
  // Touch screens get touch words (no pointer to move, no arrow keys).
  box.querySelector(".swipe-hint").textContent =
    data.touch_hint && matchMedia("(pointer: coarse)").matches ? data.touch_hint : data.hint;

  // The view: zoom s (1 = fitted) and the stage's offset (x, y) as fractions of the frame, so
  // a resize keeps what is shown. Kept on the element across new data; a new size starts afresh.
  const size = `${data.width}×${data.height}`;
  if (frame._size !== size) frame._view = { s: 1, x: 0, y: 0 };
  frame._size = size;
  const view = frame._view;
  let fitted = 1; // screen pixels per picture pixel at s = 1

  const percent = () => Math.round(range.value / (UNITS / 100));
  const clamp = (v, low, high) => Math.min(Math.max(v, low), high);
  const draw = () => {
    const { width: w, height: h } = frame.getBoundingClientRect();
    view.s = clamp(view.s, 1, MAX_ZOOM);
    view.x = clamp(view.x, 1 - view.s, 0); // the stage always covers the frame
    view.y = clamp(view.y, 1 - view.s, 0);
    stage.style.transform = `translate(${view.x * w}px, ${view.y * h}px) scale(${view.s})`;
    const split = range.value / UNITS;
    frame.style.setProperty("--split", `${range.value / (UNITS / 100)}%`);
    // The left picture shows up to the split line, in the stage's units.
    const shown = clamp((split - view.x) / view.s, 0, 1);
    left.style.clipPath = `inset(0 ${+(100 - shown * 100).toFixed(4)}% 0 0)`;
    for (const img of [left, right]) img.classList.toggle("pixelated", fitted * view.s >= 1);
    frame.classList.toggle("zoomed", view.s > 1);
    level.textContent = `${Math.round(view.s * 100)} %`;
    range.setAttribute("aria-valuetext", `Split at ${percent()} %`);
  };
  const say = (words) => {
    live.textContent = words;
  };
  // Zoom by `factor` keeping the frame point (px, py), as fractions of the frame, in place.
  const zoomAbout = (factor, px, py) => {
    const s = clamp(view.s * factor, 1, MAX_ZOOM);
    view.x = px - ((px - view.x) * s) / view.s;
    view.y = py - ((py - view.y) * s) / view.s;
    view.s = s;
    draw();
  };
  const fit = () => {
    view.s = 1;
    draw();
  };
  const where = (event) => {
    const r = frame.getBoundingClientRect();
    return [(event.clientX - r.left) / r.width, (event.clientY - r.top) / r.height];
  };
  const splitAt = (fx) => {
    range.value = Math.round(clamp(fx, 0, 1) * UNITS);
    draw();
  };

  // Pointers: mouse, pen and touch alike. One press: the split (at 1×, or on the line) or a
  // pan (zoomed); two touches: pinch about their middle.
  const pointers = new Map();
  let gesture = null;
  const pinchState = () => {
    const [a, b] = [...pointers.values()];
    return { d: Math.hypot(a[0] - b[0], a[1] - b[1]), mid: [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2] };
  };
  const onDown = (event) => {
    if (event.target.closest(".swipe-tools") || event.button > 0) return;
    const p = where(event);
    pointers.set(event.pointerId, [event.clientX, event.clientY]);
    frame.setPointerCapture(event.pointerId);
    if (pointers.size === 2) {
      if (gesture?.kind === "split") range.value = gesture.from; // the first finger was a pinch's, not a swipe
      gesture = { kind: "pinch", ...pinchState(), s: view.s };
    } else if (pointers.size === 1) {
      const r = frame.getBoundingClientRect();
      const nearLine = Math.abs(p[0] - range.value / UNITS) * r.width <= HANDLE_PX;
      if (view.s === 1 || nearLine || event.target === handle || handle.contains(event.target)) {
        gesture = { kind: "split", from: range.value };
        splitAt(p[0]);
      } else {
        gesture = { kind: "pan", from: p, x: view.x, y: view.y };
        frame.classList.add("panning");
      }
    }
    event.preventDefault();
    range.focus({ preventScroll: true });
  };
  const onMove = (event) => {
    const p = where(event);
    if (!pointers.has(event.pointerId)) {
      // A mouse over the picture at 1× moves the split without a press (not over the zoom buttons).
      const free = pointers.size === 0 && !event.target.closest(".swipe-tools");
      if (event.pointerType === "mouse" && view.s === 1 && free) splitAt(p[0]);
      return;
    }
    pointers.set(event.pointerId, [event.clientX, event.clientY]);
    if (!gesture) return;
    if (gesture.kind === "split") splitAt(p[0]);
    else if (gesture.kind === "pan") {
      view.x = gesture.x + p[0] - gesture.from[0];
      view.y = gesture.y + p[1] - gesture.from[1];
      draw();
    } else if (gesture.kind === "pinch" && pointers.size === 2) {
      const now = pinchState();
      const r = frame.getBoundingClientRect();
      const [mx, my] = [(now.mid[0] - r.left) / r.width, (now.mid[1] - r.top) / r.height];
      const [ox, oy] = [(gesture.mid[0] - now.mid[0]) / r.width, (gesture.mid[1] - now.mid[1]) / r.height];
      view.x -= ox; // the fingers' middle carries the picture with it
      view.y -= oy;
      gesture.mid = now.mid;
      zoomAbout((gesture.s * now.d) / gesture.d / view.s, mx, my);
    }
  };
  const onUp = (event) => {
    pointers.delete(event.pointerId);
    frame.classList.remove("panning");
    gesture = null;
    if (pointers.size === 1) {
      // One finger left after a pinch: it pans on from where it is.
      const [[cx, cy]] = [...pointers.values()];
      const r = frame.getBoundingClientRect();
      gesture = { kind: "pan", from: [(cx - r.left) / r.width, (cy - r.top) / r.height], x: view.x, y: view.y };
    }
  };
  const onWheel = (event) => {
    const out = event.deltaY > 0;
    if (out && view.s === 1) return; // nothing to zoom out of: the page scrolls on
    event.preventDefault();
    const lines = event.deltaMode === 1 ? 16 : event.deltaMode === 2 ? 400 : 1;
    const [px, py] = where(event);
    zoomAbout(Math.exp(-event.deltaY * lines * 0.002), px, py);
  };

  // Keys on the focused split (a range input: screen readers know it, and hear each step).
  const onKey = (event) => {
    const v = Number(range.value);
    const step = event.shiftKey ? BIG_STEP : STEP;
    const up = (n) => Math.round((v + n) / STEP) * STEP; // on whole percents: 50.3 % → 51 %, Shift → 60 %
    const down = (n) => Math.round((v - n) / STEP) * STEP;
    const moves = {
      ArrowRight: up(step), ArrowUp: up(step), ArrowLeft: down(step), ArrowDown: down(step),
      PageUp: up(BIG_STEP), PageDown: down(BIG_STEP), Home: 0, End: UNITS,
    };
    const zooms = { "+": 2, "=": 2, "-": 0.5, _: 0.5 };
    if (event.key in moves) {
      range.value = clamp(moves[event.key], 0, UNITS);
      draw();
      say(`Split at ${percent()} %`);
    } else if (event.key in zooms) {
      zoomAbout(zooms[event.key], range.value / UNITS, 0.5);
      say(`Zoom ${Math.round(view.s * 100)} %`);
    } else if (event.key === "0") {
      fit();
      say("Zoom 100 %, the whole picture");
    } else {
      return;
    }
    event.preventDefault();
  };
  const button = (name, act) => {
    const b = frame.querySelector(name);
    b.onclick = () => {
      act();
      say(`Zoom ${Math.round(view.s * 100)} %`);
    };
  };
  button(".zoom-in", () => zoomAbout(2, 0.5, 0.5));
  button(".zoom-out", () => zoomAbout(0.5, 0.5, 0.5));
  button(".zoom-fit", fit);

  // Fit the pictures inside the column width and max_height, keeping their aspect ratio.
  const layout = () => {
    const limit = document.createElement("div");
    limit.style.height = data.max_height;
    box.append(limit);
    const maxHeight = limit.getBoundingClientRect().height || Infinity;
    limit.remove();
    fitted = Math.min(box.clientWidth / data.width, maxHeight / data.height);
    frame.style.width = `${Math.floor(data.width * fitted)}px`;
    frame.style.height = `${Math.floor(data.height * fitted)}px`;
    draw();
  };
  layout();

  const listeners = [
    [frame, "pointerdown", onDown], [frame, "pointermove", onMove], [frame, "pointerup", onUp],
    [frame, "pointercancel", onUp], [frame, "wheel", onWheel, { passive: false }], [range, "keydown", onKey],
    [range, "input", draw], [window, "resize", layout],
  ];
  for (const [target, type, fn, options] of listeners) target.addEventListener(type, fn, options);
  const observer = new ResizeObserver(layout);
  observer.observe(box);
  const cleanup = () => {
    for (const [target, type, fn, options] of listeners) target.removeEventListener(type, fn, options);
    observer.disconnect();
    frame._cleanup = null;
  };
  frame._cleanup = cleanup;
  return cleanup;
}
