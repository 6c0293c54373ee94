// The painter's round trips to its server (same origin, relative URLs: no other site is contacted).
"use strict";

export async function getJSON(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: ${await errorText(response)}`);
  return response.json();
}

// The server's message for a failed request (FastAPI's {"detail": ...}), else the HTTP status.
export async function errorText(response) {
  try {
    const body = await response.json();
    return typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
  } catch {
    return `HTTP ${response.status}`;
  }
}

export function base64ToBlob(text, type) {
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  return new Blob([bytes], { type });
}

// A base64 PNG as an ImageBitmap, decoded without colour management so exact palette colours survive.
export function decodePng(text) {
  return createImageBitmap(base64ToBlob(text, "image/png"), { colorSpaceConversion: "none", premultiplyAlpha: "none" });
}
