// The swipe comparison: two pictures of the same size stacked, the left one cut at a split
// line that follows the pointer (or the arrow keys). `data` comes from
// autoencoder.views.swipe_payload: {left, right: data URIs; left_label, right_label, left_alt,
// right_alt, width, height: the pictures' pixels; max_height: the tallest it may be on screen,
// a CSS length; hint: the line under it}.
export default function ({ parentElement, data }) {
  // parentElement is a shadow root (styles isolated): everything lives in one block element,
  // `box`, whose width is the column's.
  let box = parentElement.querySelector(".swipe");
  let frame = parentElement.querySelector(".swipe-frame");
  if (!box) {
    box = document.createElement("div");
    box.className = "swipe";
    frame = document.createElement("div");
    frame.className = "swipe-frame";
    frame.innerHTML =
      '<img class="swipe-right" draggable="false"><img class="swipe-left" draggable="false">' +
      '<div class="swipe-line"></div><div class="swipe-knob" aria-hidden="true">⇔</div>' +
      '<span class="swipe-label left"></span><span class="swipe-label right"></span>' +
      '<input type="range" min="0" max="1000" value="500"><div class="swipe-focus"></div>';
    const hint = document.createElement("div");
    hint.className = "swipe-hint";
    box.append(frame, hint);
    parentElement.append(box);
  }
  const [right, left] = frame.querySelectorAll("img");
  const range = frame.querySelector("input");
  const hint = box.querySelector(".swipe-hint");
  if (left.src !== data.left) left.src = data.left;
  if (right.src !== data.right) right.src = data.right;
  left.alt = data.left_alt;
  right.alt = data.right_alt;
  frame.querySelector(".swipe-label.left").textContent = data.left_label;
  frame.querySelector(".swipe-label.right").textContent = data.right_label;
  range.setAttribute("aria-label", `Split between ${data.left_label} (left) and ${data.right_label} (right)`);
  // Touch screens get touch words (no pointer to move, no arrow keys).
  hint.textContent = data.touch_hint && matchMedia("(pointer: coarse)").matches ? data.touch_hint : data.hint;

  const split = () => frame.style.setProperty("--split", `${range.value / 10}%`);
  range.oninput = split;
  // Follow the pointer while it is over the picture, not only while dragging.
  frame.onpointermove = (event) => {
    const box = frame.getBoundingClientRect();
    range.value = Math.round(Math.min(Math.max((event.clientX - box.left) / box.width, 0), 1) * 1000);
    split();
  };
  split();

  // Fit the pictures inside the column width and max_height, keeping their aspect ratio;
  // pixels stay crisp squares when enlarged.
  const fit = () => {
    const limit = document.createElement("div");
    limit.style.height = data.max_height;
    box.append(limit);
    const maxHeight = limit.getBoundingClientRect().height || Infinity;
    limit.remove();
    const scale = Math.min(box.clientWidth / data.width, maxHeight / data.height);
    frame.style.width = `${Math.floor(data.width * scale)}px`;
    frame.style.height = `${Math.floor(data.height * scale)}px`;
    for (const img of [left, right]) img.classList.toggle("pixelated", scale >= 1);
  };
  fit();
  const observer = new ResizeObserver(fit);
  observer.observe(box);
  window.addEventListener("resize", fit);
  return () => {
    observer.disconnect();
    window.removeEventListener("resize", fit);
  };
}
