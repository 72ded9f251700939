"use strict";
// The annotation page. Every piece of data (ids, file names, annotator names, captions) reaches
// the DOM through textContent or element properties, never through HTML strings.
const COLS = 6, PAGE = 24;
const KEYS = { f: "female", m: "male", u: "unknown" };
const ORDER = {
  review: "Most uncertain automatic labels come first.",
  blind: "Faces come in this pass's own shuffled order; no scores or other answers are shown.",
};
let items = [], cursor = 0, history = [], busy = false;

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(path, init);
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

function tile(item, index) {
  const element = document.createElement("div");
  element.className = "tile" + (index === cursor ? " current" : "");
  element.dataset.id = item.id;
  element.dataset.gender = item.answered ? item.gender : "";
  const image = document.createElement("img");
  image.alt = item.file === undefined ? `face ${item.id}` : item.file;
  image.src = `/api/image?id=${encodeURIComponent(item.id)}`;
  const caption = document.createElement("div");
  caption.className = "caption";
  if (item.gender) caption.classList.add(item.gender);
  if (item.answered) caption.classList.add("hand");
  caption.textContent = item.caption;
  element.append(image, caption);
  element.addEventListener("click", () => { cursor = index; render(); });
  return element;
}

function render() {
  const start = Math.floor(cursor / PAGE) * PAGE;
  const tiles = items.slice(start, start + PAGE).map((item, k) => tile(item, start + k));
  document.getElementById("grid").replaceChildren(...tiles);
  const done = items.filter((item) => item.answered).length;
  document.getElementById("status").textContent =
    ` — ${done} / ${items.length} answered by hand; face ${cursor + 1}`;
}

function move(delta) {
  cursor = Math.max(0, Math.min(items.length - 1, cursor + delta));
  render();
}

async function answer(gender) {
  const item = items[cursor];
  Object.assign(item, await api("/api/label", { id: item.id, gender }));
  history.push(item.id);
  move(1);
}

async function undo() {
  const id = history.pop();
  if (id === undefined) return;
  const index = items.findIndex((item) => item.id === id);
  Object.assign(items[index], await api("/api/undo", { id }));
  cursor = index;
  render();
}

document.addEventListener("keydown", async (event) => {
  if (busy || !items.length || event.ctrlKey || event.metaKey || event.altKey) return;
  const key = event.key.toLowerCase();
  const moves = { arrowleft: -1, arrowright: 1, arrowup: -COLS, arrowdown: COLS };
  let action = null;
  if (key in KEYS) action = () => answer(KEYS[key]);
  else if (key === "z" || key === "backspace") action = undo;
  else if (key in moves) action = async () => move(moves[key]);
  if (!action) return;
  event.preventDefault();
  busy = true;
  try { await action(); } catch (error) { alert(error.message); } finally { busy = false; }
});

api("/api/items").then((data) => {
  items = data.items;
  const next = items.findIndex((item) => !item.answered);
  cursor = next === -1 ? 0 : next;
  const who = data.pass === undefined ? data.annotator : `pass ${data.pass}, ${data.annotator}`;
  document.title = `ferbias annotate (${who})`;
  document.getElementById("order").textContent = ORDER[data.mode] || "";
  document.body.dataset.ready = "true";
  render();
});
