// imsynth painter: paint a semantic layout, get photographs back.
//
// The canvas holds the layout at the model's own resolution, one canvas pixel per label pixel.
// Every edit happens on an ImageData we own (raster.js) and is then copied to the canvas with
// putImageData, so the layout only ever holds the exact colours of the label space. Edits are
// synthesized live (live.js): after a quiet moment, one request at a time.
"use strict";

import { decodePng, errorText, getJSON } from "./api.js";
import { History } from "./history.js";
import { LiveRunner } from "./live.js";
import { copyPixels, drawLine, fillAll, floodFill, packColor, stampDisc } from "./raster.js";
import { buildPalette, buildSizes, describeModel, scaleCanvas } from "./controls.js";
import { showResults } from "./results.js";

const BRUSH_RADII = [0, 1, 2, 4, 8, 16];  // a disc of radius r is 2r + 1 pixels across
const MAX_UNDO = 100;
const LIVE_DELAY_MS = 250;  // quiet time after an edit before it is synthesized

const canvas = document.getElementById("layout");
const context = canvas.getContext("2d", { willReadFrequently: true });
const $ = (id) => document.getElementById(id);

const state = {
  info: null,           // GET api/info
  palette: null,        // GET api/palette
  tool: "brush",        // "brush" | "fill" | "eraser"
  radius: 2,
  color: null,          // [r, g, b] of the selected class
  pixels: null,         // ImageData: the layout being edited
  history: new History(MAX_UNDO),
  stroke: null,         // {x, y} of the last brush position while the pointer is down
  classByColor: new Map(),  // packed colour -> class name (hover read-out, checks)
};

const live = new LiveRunner(synthesize, LIVE_DELAY_MS, (busy) => {
  document.body.dataset.synthesis = busy ? "busy" : "idle";
});

// Two status lines: the layout's (loaded, drawn, errors) and the synthesis's (time, seed, errors).
function setStatus(text, isError = false, line = "status") {
  $(line).textContent = text;
  $(line).classList.toggle("error", isError);
}

function setSynthesisStatus(text, isError = false) {
  setStatus(text, isError, "synthesis-status");
}

// ------------------------------------------------------------------------------- editing
function show() {
  context.putImageData(state.pixels, 0, 0);
}

function updateHistoryButtons() {
  $("undo").disabled = !state.history.canUndo;
  $("redo").disabled = !state.history.canRedo;
}

// Call before changing state.pixels: remembers the layout for undo.
function beginEdit() {
  state.history.record(copyPixels(state.pixels));
  updateHistoryButtons();
}

// Call after state.pixels changed: shows it and asks for a live synthesis.
function edited() {
  show();
  if ($("live").checked) live.schedule();
}

function undo() {
  const previous = state.history.undo(state.pixels);
  if (!previous) return;
  state.pixels = previous;
  updateHistoryButtons();
  edited();
}

function redo() {
  const next = state.history.redo(state.pixels);
  if (!next) return;
  state.pixels = next;
  updateHistoryButtons();
  edited();
}

// A layout answered by the server (api/decode, api/random-layout) becomes the canvas.
async function putLayout(decoded) {
  const bitmap = await decodePng(decoded.image);
  beginEdit();
  context.imageSmoothingEnabled = false;
  context.drawImage(bitmap, 0, 0);
  state.pixels = context.getImageData(0, 0, canvas.width, canvas.height);
  edited();
}

// --------------------------------------------------------------------------------- tools
function paintColor() {
  return state.tool === "eraser" ? state.palette.void.rgb : state.color;
}

// Canvas pixel under a pointer event (may lie outside the canvas while a stroke is dragged out).
function pixelAt(event) {
  const box = canvas.getBoundingClientRect();
  return {
    x: Math.floor(((event.clientX - box.left) * canvas.width) / box.width),
    y: Math.floor(((event.clientY - box.top) * canvas.height) / box.height),
  };
}

function inside({ x, y }) {
  return x >= 0 && y >= 0 && x < canvas.width && y < canvas.height;
}

function onPointerDown(event) {
  if (event.button !== 0 || !state.pixels) return;
  const p = pixelAt(event);
  if (!inside(p)) return;
  event.preventDefault();
  if (state.tool === "fill") {
    const before = copyPixels(state.pixels);
    if (floodFill(state.pixels, p.x, p.y, state.color)) {
      state.history.record(before);
      updateHistoryButtons();
      edited();
    }
    return;
  }
  canvas.setPointerCapture(event.pointerId);
  beginEdit();
  state.stroke = p;
  stampDisc(state.pixels, p.x, p.y, state.radius, paintColor());
  edited();
}

function onPointerMove(event) {
  const p = pixelAt(event);
  describePixel(p);
  if (!state.stroke) return;
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
  for (const e of events.length ? events : [event]) {
    const q = pixelAt(e);
    drawLine(state.pixels, state.stroke.x, state.stroke.y, q.x, q.y, state.radius, paintColor());
    state.stroke = q;
  }
  edited();
}

function onPointerUp() {
  state.stroke = null;
}

function describePixel(p) {
  const hover = $("hover");
  if (!inside(p) || !state.pixels) {
    hover.innerHTML = "&nbsp;";
    return;
  }
  const i = 4 * (p.y * canvas.width + p.x);
  const d = state.pixels.data;
  const name = state.classByColor.get(packColor(d[i], d[i + 1], d[i + 2])) ?? "unknown colour";
  hover.textContent = `x ${p.x}, y ${p.y}: ${name}`;
}

function selectTool(tool) {
  state.tool = tool;
  for (const button of document.querySelectorAll("button.tool")) {
    button.setAttribute("aria-pressed", String(button.dataset.tool === tool));
  }
}

function selectRadius(radius) {
  state.radius = radius;
  for (const button of document.querySelectorAll("#sizes button")) {
    button.setAttribute("aria-pressed", String(Number(button.dataset.radius) === radius));
  }
}

function selectClass(entry) {
  state.color = entry.rgb;
  if (state.tool === "eraser") selectTool("brush");
  for (const button of document.querySelectorAll("#palette button")) {
    button.setAttribute("aria-pressed", String(button.dataset.name === entry.name));
  }
}

// ------------------------------------------------------------------------- layouts in
async function loadStreet(seed) {
  setStatus(`drawing street ${seed}…`);
  const response = await fetch(`api/random-layout?seed=${seed}`);
  if (!response.ok) {
    setStatus(`could not draw street ${seed}: ${await errorText(response)}`, true);
    return;
  }
  const layout = await response.json();
  $("street-seed").value = String(layout.seed);
  await putLayout(layout);
  setStatus(`street ${layout.seed}`);
}

function randomSeed() {
  return Math.floor(Math.random() * (state.info.max_seed + 1));
}

async function uploadLabelMap(file) {
  const form = new FormData();
  form.append("file", file);
  form.append("width", String(canvas.width));
  form.append("height", String(canvas.height));
  setStatus(`loading ${file.name}…`);
  const response = await fetch("api/decode", { method: "POST", body: form });
  if (!response.ok) {
    setStatus(`could not load ${file.name}: ${await errorText(response)}`, true);
    return;
  }
  const decoded = await response.json();
  await putLayout(decoded);
  const foreign = countForeignPixels();
  const resized = decoded.source_width !== decoded.width || decoded.source_height !== decoded.height;
  setStatus(`loaded ${file.name}` + (resized ? ` (resized from ${decoded.source_height}x${decoded.source_width})` : "")
    + (foreign ? `; warning: ${foreign} pixels are not palette colours` : ""), foreign > 0);
}

function countForeignPixels() {
  const { data } = state.pixels;
  let foreign = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (!state.classByColor.has(packColor(data[i], data[i + 1], data[i + 2]))) foreign++;
  }
  return foreign;
}

// ---------------------------------------------------------------------------- synthesis
function currentSeed() {
  const seed = Number($("seed").value);
  return Number.isInteger(seed) && seed >= 0 && seed <= state.info.max_seed ? seed : state.info.default_seed;
}

// One synthesis of the canvas as it is now (LiveRunner makes sure only one runs at a time).
async function synthesize() {
  const layoutUrl = canvas.toDataURL("image/png");
  const layout = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  const form = new FormData();
  form.append("file", layout, "layout.png");
  form.append("strict", "true");  // the server accepts exact palette colours only
  form.append("seed", String(currentSeed()));
  setSynthesisStatus("synthesizing…");
  try {
    const response = await fetch("api/synthesize", { method: "POST", body: form });
    if (!response.ok) {
      setSynthesisStatus(`synthesis failed: ${await errorText(response)}`, true);
      return;
    }
    const result = await response.json();
    showResults(result, layoutUrl);
    setSynthesisStatus(`${result.variants.length} variants in ${result.seconds.toFixed(2)} s, seed ${result.seed}`);
  } catch (error) {
    setSynthesisStatus(`synthesis failed: ${error.message}`, true);
  }
}

function newVariants() {
  $("seed").value = String(randomSeed());
  live.runNow();
}

// -------------------------------------------------------------------------------- events
function listen() {
  canvas.addEventListener("pointerdown", onPointerDown);
  canvas.addEventListener("pointermove", onPointerMove);
  canvas.addEventListener("pointerup", onPointerUp);
  canvas.addEventListener("pointercancel", onPointerUp);
  canvas.addEventListener("pointerleave", () => describePixel({ x: -1, y: -1 }));
  for (const button of document.querySelectorAll("button.tool")) {
    button.addEventListener("click", () => selectTool(button.dataset.tool));
  }
  const report = (error) => setStatus(error.message, true);
  $("undo").addEventListener("click", undo);
  $("redo").addEventListener("click", redo);
  $("clear").addEventListener("click", () => {
    beginEdit();
    fillAll(state.pixels, state.palette.void.rgb);
    edited();
  });
  $("random-street").addEventListener("click", () => loadStreet(randomSeed()).catch(report));
  $("street-seed").addEventListener("change", () => {
    const seed = Number($("street-seed").value);
    if (Number.isInteger(seed) && seed >= 0) loadStreet(seed).catch(report);
  });
  $("upload").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    event.target.value = "";  // choosing the same file again fires "change" again
    if (file) await uploadLabelMap(file).catch(report);
  });
  $("synthesize").addEventListener("click", () => live.runNow());
  $("new-variants").addEventListener("click", newVariants);
  $("seed").addEventListener("change", () => live.runNow());
  $("live").addEventListener("change", () => { if ($("live").checked) live.runNow(); });
  window.addEventListener("resize", () => scaleCanvas(canvas));
  document.addEventListener("keydown", (event) => {
    if (event.target instanceof HTMLInputElement && event.target.type !== "checkbox") return;
    const key = event.key.toLowerCase();
    if (event.ctrlKey || event.metaKey) {
      if ((key === "z" && event.shiftKey) || key === "y") { event.preventDefault(); redo(); }
      else if (key === "z") { event.preventDefault(); undo(); }
      return;
    }
    if (key === "b") selectTool("brush");
    else if (key === "f") selectTool("fill");
    else if (key === "e") selectTool("eraser");
    else if (key === "[" || key === "]") {
      const i = BRUSH_RADII.indexOf(state.radius) + (key === "]" ? 1 : -1);
      selectRadius(BRUSH_RADII[Math.max(0, Math.min(BRUSH_RADII.length - 1, i))]);
    }
  });
}

// --------------------------------------------------------------------------------- start
async function start() {
  const [info, palette] = await Promise.all([getJSON("api/info"), getJSON("api/palette")]);
  state.info = info;
  state.palette = palette;
  canvas.width = info.width;
  canvas.height = info.height;
  scaleCanvas(canvas);
  describeModel(info);
  buildPalette(palette, state.classByColor, selectClass);
  buildSizes(BRUSH_RADII, selectRadius);
  selectTool("brush");
  selectRadius(state.radius);
  if (palette.classes.length > 0) selectClass(palette.classes[0]);
  listen();

  // Start from an example street (a void canvas for models of other classes), synthesized at once.
  state.pixels = context.createImageData(info.width, info.height);
  fillAll(state.pixels, palette.void.rgb);
  show();
  if (info.random_layouts) await loadStreet(info.example_street);
  state.history = new History(MAX_UNDO);  // the example is where undo stops
  updateHistoryButtons();
  $("synthesize").disabled = false;
  live.runNow();
  document.body.dataset.ready = "true";
}

start().catch((error) => setStatus(`could not start: ${error.message}`, true));
