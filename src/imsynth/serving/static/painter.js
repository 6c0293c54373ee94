// imsynth painter: paint a semantic layout, get photographs back.
//
// The canvas holds the layout at the model's own resolution, one canvas pixel per label pixel.
// Every edit happens on an ImageData we own and is then copied to the canvas with putImageData:
// the brush and the fill are rasterised here, pixel by pixel, so the layout only ever holds the
// exact colours of the label space (canvas paths would anti-alias their edges into new colours).
"use strict";

(() => {
  const BRUSH_RADII = [0, 1, 2, 4, 8, 16];  // a disc of radius r is 2r + 1 pixels across
  const MAX_UNDO = 100;
  const LARGE_WIDTH = 480;      // display width of the layout and the chosen photograph
  const THUMBNAIL_WIDTH = 160;  // display width of each variant's thumbnail

  const canvas = document.getElementById("layout");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  const statusLine = document.getElementById("status");
  const synthesizeButton = document.getElementById("synthesize");

  const state = {
    info: null,           // GET api/info
    palette: null,        // GET api/palette
    tool: "brush",        // "brush" | "fill" | "eraser"
    radius: 2,
    color: null,          // [r, g, b] of the selected class
    pixels: null,         // ImageData: the layout being edited
    undo: [],             // ImageData snapshots, newest last
    stroke: null,         // {x, y} of the last brush position while the pointer is down
    classByColor: new Map(),  // packed colour -> class name (hover read-out, checks)
    results: [],          // data URLs of the last synthesis
    resultMeta: null,     // the rest of its response (method, step, size)
  };

  // ---------------------------------------------------------------------------- small helpers
  async function getJSON(url) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return response.json();
  }

  async function errorText(response) {
    try {
      const body = await response.json();
      return typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    } catch {
      return `HTTP ${response.status}`;
    }
  }

  function setStatus(text, isError = false) {
    statusLine.textContent = text;
    statusLine.classList.toggle("error", isError);
  }

  function packColor(r, g, b) {
    return (r << 16) | (g << 8) | b;
  }

  function base64ToBlob(text, type) {
    const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
    return new Blob([bytes], { type });
  }

  // ------------------------------------------------------------------------ pixel operations
  function setPixel(x, y, color) {
    const { width, height, data } = state.pixels;
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    const i = 4 * (y * width + x);
    data[i] = color[0];
    data[i + 1] = color[1];
    data[i + 2] = color[2];
    data[i + 3] = 255;
  }

  // A filled disc: every pixel whose centre lies within r + 1/2 of (cx, cy).
  function stampDisc(cx, cy, r, color) {
    const limit = r * r + r;  // (r + 1/2)^2 rounded down, for integer offsets
    for (let dy = -r; dy <= r; dy++) {
      for (let dx = -r; dx <= r; dx++) {
        if (dx * dx + dy * dy <= limit) setPixel(cx + dx, cy + dy, color);
      }
    }
  }

  // Bresenham's line from (x0, y0) to (x1, y1), stamping a disc on every pixel of it.
  function drawLine(x0, y0, x1, y1, r, color) {
    const dx = Math.abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
    const dy = -Math.abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
    let error = dx + dy;
    for (;;) {
      stampDisc(x0, y0, r, color);
      if (x0 === x1 && y0 === y1) return;
      const doubled = 2 * error;
      if (doubled >= dy) { error += dy; x0 += sx; }
      if (doubled <= dx) { error += dx; y0 += sy; }
    }
  }

  // Scanline flood fill: the 4-connected region of (x, y)'s exact colour takes `color`.
  function floodFill(x, y, color) {
    const { width, height, data } = state.pixels;
    const words = new Uint32Array(data.buffer);  // one 32-bit word per RGBA pixel
    const replacement = new Uint32Array(Uint8ClampedArray.of(color[0], color[1], color[2], 255).buffer)[0];
    const target = words[y * width + x];
    if (target === replacement) return false;
    const stack = [y * width + x];
    while (stack.length > 0) {
      const start = stack.pop();
      if (words[start] !== target) continue;
      const rowStart = start - (start % width);
      let left = start, right = start;
      while (left > rowStart && words[left - 1] === target) left--;
      while (right < rowStart + width - 1 && words[right + 1] === target) right++;
      for (let i = left; i <= right; i++) {
        words[i] = replacement;
        if (i >= width && words[i - width] === target) stack.push(i - width);
        if (i + width < width * height && words[i + width] === target) stack.push(i + width);
      }
    }
    return true;
  }

  function fillAll(color) {
    const { data } = state.pixels;
    for (let i = 0; i < data.length; i += 4) {
      data[i] = color[0]; data[i + 1] = color[1]; data[i + 2] = color[2]; data[i + 3] = 255;
    }
  }

  function show() {
    context.putImageData(state.pixels, 0, 0);
  }

  // ---------------------------------------------------------------------------------- undo
  function pushUndo() {
    const { data, width, height } = state.pixels;
    state.undo.push(new ImageData(new Uint8ClampedArray(data), width, height));
    if (state.undo.length > MAX_UNDO) state.undo.shift();
    document.getElementById("undo").disabled = false;
  }

  function undo() {
    const previous = state.undo.pop();
    if (!previous) return;
    state.pixels = previous;
    show();
    document.getElementById("undo").disabled = state.undo.length === 0;
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
      const before = new ImageData(new Uint8ClampedArray(state.pixels.data), canvas.width, canvas.height);
      if (floodFill(p.x, p.y, state.color)) {
        state.undo.push(before);
        if (state.undo.length > MAX_UNDO) state.undo.shift();
        document.getElementById("undo").disabled = false;
        show();
      }
      return;
    }
    canvas.setPointerCapture(event.pointerId);
    pushUndo();
    state.stroke = p;
    stampDisc(p.x, p.y, state.radius, paintColor());
    show();
  }

  function onPointerMove(event) {
    const p = pixelAt(event);
    describePixel(p);
    if (!state.stroke) return;
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const e of events.length ? events : [event]) {
      const q = pixelAt(e);
      drawLine(state.stroke.x, state.stroke.y, q.x, q.y, state.radius, paintColor());
      state.stroke = q;
    }
    show();
  }

  function onPointerUp() {
    state.stroke = null;
  }

  function describePixel(p) {
    const hover = document.getElementById("hover");
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

  // ---------------------------------------------------------------------------- set-up
  function buildPalette(palette) {
    const container = document.getElementById("palette");
    container.replaceChildren();
    state.classByColor.set(packColor(...palette.void.rgb), `${palette.void.name} (void)`);
    for (const entry of palette.classes) {
      state.classByColor.set(packColor(...entry.rgb), entry.name);
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.name = entry.name;
      button.title = `${entry.name} (${entry.color})`;
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = entry.color;
      button.append(swatch, entry.name);
      button.addEventListener("click", () => selectClass(entry));
      container.append(button);
    }
  }

  function buildSizes() {
    const container = document.getElementById("sizes");
    for (const radius of BRUSH_RADII) {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.radius = String(radius);
      button.textContent = String(2 * radius + 1);
      button.title = `${2 * radius + 1} pixels across`;
      button.addEventListener("click", () => selectRadius(radius));
      container.append(button);
    }
  }

  // Show the canvas large: an integer scale so every label pixel is a crisp square.
  function scaleCanvas(width, height) {
    const room = Math.max(256, document.getElementById("workspace").clientWidth - 4);
    const scale = Math.max(1, Math.min(Math.floor(room / width), Math.floor(720 / height)));
    canvas.style.width = `${width * scale}px`;
    canvas.style.height = `${height * scale}px`;
    return scale;
  }

  // ------------------------------------------------------------------- server round trips
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
    // Decode the PNG without colour management so the exact palette colours arrive on the canvas.
    const bitmap = await createImageBitmap(base64ToBlob(decoded.image, "image/png"),
      { colorSpaceConversion: "none", premultiplyAlpha: "none" });
    pushUndo();
    context.imageSmoothingEnabled = false;
    context.drawImage(bitmap, 0, 0);
    state.pixels = context.getImageData(0, 0, canvas.width, canvas.height);
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

  async function synthesize() {
    synthesizeButton.disabled = true;
    setStatus("synthesizing…");
    try {
      const layout = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
      const form = new FormData();
      form.append("file", layout, "layout.png");
      form.append("strict", "true");  // the server accepts exact palette colours only
      const response = await fetch("api/synthesize", { method: "POST", body: form });
      if (!response.ok) {
        setStatus(`synthesis failed: ${await errorText(response)}`, true);
        return;
      }
      const result = await response.json();
      showResults(result, canvas.toDataURL("image/png"));
      setStatus(`${result.variants.length} variants in ${result.seconds.toFixed(2)} s`);
    } catch (error) {
      setStatus(`synthesis failed: ${error.message}`, true);
    } finally {
      synthesizeButton.disabled = false;
    }
  }

  function showResults(result, layoutUrl) {
    // Display sizes in CSS pixels: the photos are scaled smoothly, the layout stays pixelated.
    const fit = (img, displayWidth) => {
      img.style.width = `${displayWidth}px`;
      img.style.height = `${Math.round((displayWidth * result.height) / result.width)}px`;
    };
    const layoutShot = document.getElementById("layout-shot");
    layoutShot.src = layoutUrl;
    fit(layoutShot, LARGE_WIDTH);
    fit(document.getElementById("result-large"), LARGE_WIDTH);

    state.results = result.variants.map((png) => `data:image/png;base64,${png}`);
    const thumbnails = document.getElementById("thumbnails");
    thumbnails.replaceChildren();
    state.results.forEach((url, j) => {
      const img = document.createElement("img");
      img.src = url;
      img.alt = `variant ${j + 1}`;
      img.title = `variant ${j + 1} of ${state.results.length}`;
      fit(img, THUMBNAIL_WIDTH);
      img.addEventListener("click", () => pickVariant(j));
      thumbnails.append(img);
    });
    document.getElementById("results").hidden = false;
    state.resultMeta = result;
    pickVariant(0);
  }

  function pickVariant(j) {
    const url = state.results[j];
    const meta = state.resultMeta;
    document.getElementById("result-large").src = url;
    document.getElementById("result-caption").textContent =
      `variant ${j + 1} of ${state.results.length} (${meta.method}, step ${meta.step})`;
    const download = document.getElementById("download");
    download.href = url;
    download.download = `imsynth-${meta.method}-variant${j + 1}.png`;
    document.querySelectorAll("#thumbnails img").forEach((img, i) => {
      img.setAttribute("aria-selected", String(i === j));
    });
  }

  // --------------------------------------------------------------------------------- start
  async function start() {
    const [info, palette] = await Promise.all([getJSON("api/info"), getJSON("api/palette")]);
    state.info = info;
    state.palette = palette;
    canvas.width = info.width;
    canvas.height = info.height;
    scaleCanvas(info.width, info.height);
    document.getElementById("model-info").textContent =
      `${info.method} · step ${info.step} · ${info.label_space} · ${info.height}x${info.width} · ` +
      `${info.num_variants} variant${info.num_variants === 1 ? "" : "s"}`;

    state.pixels = context.createImageData(info.width, info.height);
    fillAll(palette.void.rgb);
    show();

    buildPalette(palette);
    buildSizes();
    selectTool("brush");
    selectRadius(state.radius);
    if (palette.classes.length > 0) selectClass(palette.classes[0]);
    document.getElementById("undo").disabled = true;

    canvas.addEventListener("pointerdown", onPointerDown);
    canvas.addEventListener("pointermove", onPointerMove);
    canvas.addEventListener("pointerup", onPointerUp);
    canvas.addEventListener("pointercancel", onPointerUp);
    canvas.addEventListener("pointerleave", () => describePixel({ x: -1, y: -1 }));
    for (const button of document.querySelectorAll("button.tool")) {
      button.addEventListener("click", () => selectTool(button.dataset.tool));
    }
    document.getElementById("undo").addEventListener("click", undo);
    document.getElementById("clear").addEventListener("click", () => {
      pushUndo();
      fillAll(palette.void.rgb);
      show();
    });
    document.getElementById("upload").addEventListener("change", async (event) => {
      const file = event.target.files[0];
      event.target.value = "";  // choosing the same file again fires "change" again
      if (file) await uploadLabelMap(file).catch((error) => setStatus(error.message, true));
    });
    synthesizeButton.addEventListener("click", synthesize);
    window.addEventListener("resize", () => scaleCanvas(info.width, info.height));
    document.addEventListener("keydown", (event) => {
      if (event.target instanceof HTMLInputElement) return;
      if ((event.ctrlKey || event.metaKey) && event.key === "z") { event.preventDefault(); undo(); return; }
      const key = event.key.toLowerCase();
      if (key === "b") selectTool("brush");
      else if (key === "f") selectTool("fill");
      else if (key === "e") selectTool("eraser");
      else if (key === "[" || key === "]") {
        const i = BRUSH_RADII.indexOf(state.radius) + (key === "]" ? 1 : -1);
        selectRadius(BRUSH_RADII[Math.max(0, Math.min(BRUSH_RADII.length - 1, i))]);
      }
    });

    synthesizeButton.disabled = false;
    setStatus("paint a layout, then synthesize");
    document.body.dataset.ready = "true";
  }

  start().catch((error) => setStatus(`could not start: ${error.message}`, true));
})();
