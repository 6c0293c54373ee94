// Pixel operations on the layout (an ImageData): every edit writes exact palette colours, pixel by
// pixel (canvas paths would anti-alias their edges into colours of no class).
"use strict";

export function packColor(r, g, b) {
  return (r << 16) | (g << 8) | b;
}

export function copyPixels(pixels) {
  return new ImageData(new Uint8ClampedArray(pixels.data), pixels.width, pixels.height);
}

function setPixel(pixels, x, y, color) {
  const { width, height, data } = pixels;
  if (x < 0 || y < 0 || x >= width || y >= height) return;
  const i = 4 * (y * width + x);
  data[i] = color[0];
  data[i + 1] = color[1];
  data[i + 2] = color[2];
  data[i + 3] = 255;
}

// A filled disc: every pixel whose centre lies within r + 1/2 of (cx, cy).
export function stampDisc(pixels, cx, cy, r, color) {
  const limit = r * r + r;  // (r + 1/2)^2 rounded down, for integer offsets
  for (let dy = -r; dy <= r; dy++) {
    for (let dx = -r; dx <= r; dx++) {
      if (dx * dx + dy * dy <= limit) setPixel(pixels, cx + dx, cy + dy, color);
    }
  }
}

// Bresenham's line from (x0, y0) to (x1, y1), stamping a disc on every pixel of it.
export function drawLine(pixels, x0, y0, x1, y1, r, color) {
  const dx = Math.abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
  const dy = -Math.abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
  let error = dx + dy;
  for (;;) {
    stampDisc(pixels, x0, y0, r, color);
    if (x0 === x1 && y0 === y1) return;
    const doubled = 2 * error;
    if (doubled >= dy) { error += dy; x0 += sx; }
    if (doubled <= dx) { error += dx; y0 += sy; }
  }
}

// Scanline flood fill: the 4-connected region of (x, y)'s exact colour takes `color`.
export function floodFill(pixels, x, y, color) {
  const { width, height, data } = pixels;
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

export function fillAll(pixels, color) {
  const { data } = pixels;
  for (let i = 0; i < data.length; i += 4) {
    data[i] = color[0]; data[i + 1] = color[1]; data[i + 2] = color[2]; data[i + 3] = 255;
  }
}
