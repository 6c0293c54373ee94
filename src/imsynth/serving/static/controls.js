// Building the painter's controls from what the server says: palette, brush sizes, model line,
// seed fields, and the canvas's display size.
"use strict";

import { packColor } from "./raster.js";

const $ = (id) => document.getElementById(id);
const MAX_DISPLAY_HEIGHT = 720;  // CSS pixels

// One button per class; fills `classByColor` (packed colour -> name) for the hover read-out and checks.
export function buildPalette(palette, classByColor, onPick) {
  const container = $("palette");
  container.replaceChildren();
  classByColor.set(packColor(...palette.void.rgb), `${palette.void.name} (void)`);
  for (const entry of palette.classes) {
    classByColor.set(packColor(...entry.rgb), entry.name);
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.name = entry.name;
    button.title = `${entry.name} (${entry.color})`;
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = entry.color;
    button.append(swatch, entry.name);
    button.addEventListener("click", () => onPick(entry));
    container.append(button);
  }
}

export function buildSizes(radii, onPick) {
  const container = $("sizes");
  for (const radius of radii) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.radius = String(radius);
    button.textContent = String(2 * radius + 1);
    button.title = `${2 * radius + 1} pixels across`;
    button.addEventListener("click", () => onPick(radius));
    container.append(button);
  }
}

// Show the canvas large: a whole scale where the room allows two or more, so every label pixel
// is a crisp square; in a narrow window it takes the width there is (CSS max-width: 100% too).
export function scaleCanvas(canvas) {
  const room = $("workspace").clientWidth - 4;
  let scale = Math.min(room / canvas.width, MAX_DISPLAY_HEIGHT / canvas.height);
  if (scale >= 2) scale = Math.floor(scale);
  canvas.style.width = `${Math.max(1, Math.floor(canvas.width * scale))}px`;
}

// The model line in the header, and the seed controls it allows.
export function describeModel(info) {
  const seeds = info.stochastic ? "" : " · deterministic: the seed changes nothing";
  $("model-info").textContent =
    `${info.method} · step ${info.step} · ${info.label_space} · ${info.height}x${info.width} · ` +
    `${info.num_variants} variant${info.num_variants === 1 ? "" : "s"}${seeds}`;
  $("seed").max = String(info.max_seed);
  $("street-seed").max = String(info.max_seed);
  $("seed").value = String(info.default_seed);
  if (!info.stochastic) {
    for (const id of ["seed", "new-variants"]) {
      $(id).disabled = true;
      $(id).title = "this model is deterministic: its photographs do not depend on the seed";
    }
  }
  if (!info.random_layouts) {
    $("random-street").disabled = $("street-seed").disabled = true;
    $("random-street").title = "random streets need a model of the Cityscapes classes";
  }
}
