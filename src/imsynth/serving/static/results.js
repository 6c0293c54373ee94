// The result panel: the layout that was synthesized beside the chosen photograph, thumbnails of
// all variants, and downloads of both the photograph and its layout.
"use strict";

const LARGE_WIDTH = 480;      // display width of the layout and the chosen photograph (CSS caps it to the window)
const THUMBNAIL_WIDTH = 160;  // display width of each variant's thumbnail

let photos = [];   // data URLs of the last synthesis
let meta = null;   // the rest of its response (method, step, seed, size)
let chosen = 0;    // the variant shown large; kept across live updates

function fit(img, displayWidth, result) {
  img.style.width = `${displayWidth}px`;
  img.style.aspectRatio = `${result.width} / ${result.height}`;
}

export function showResults(result, layoutUrl) {
  meta = result;
  const layoutShot = document.getElementById("layout-shot");
  layoutShot.src = layoutUrl;
  fit(layoutShot, LARGE_WIDTH, result);
  fit(document.getElementById("result-large"), LARGE_WIDTH, result);
  const downloadLayout = document.getElementById("download-layout");
  downloadLayout.href = layoutUrl;
  downloadLayout.download = "imsynth-layout.png";

  photos = result.variants.map((png) => `data:image/png;base64,${png}`);
  const thumbnails = document.getElementById("thumbnails");
  thumbnails.replaceChildren();
  photos.forEach((url, j) => {
    const img = document.createElement("img");
    img.src = url;
    img.alt = `variant ${j + 1}`;
    img.title = `variant ${j + 1} of ${photos.length}`;
    fit(img, THUMBNAIL_WIDTH, result);
    img.addEventListener("click", () => pickVariant(j));
    thumbnails.append(img);
  });
  document.getElementById("results").hidden = false;
  pickVariant(Math.min(chosen, photos.length - 1));
}

export function pickVariant(j) {
  chosen = j;
  const url = photos[j];
  document.getElementById("result-large").src = url;
  document.getElementById("result-caption").textContent =
    `variant ${j + 1} of ${photos.length} (${meta.method}, step ${meta.step}, seed ${meta.seed})`;
  const download = document.getElementById("download");
  download.href = url;
  download.download = `imsynth-${meta.method}-seed${meta.seed}-variant${j + 1}.png`;
  document.querySelectorAll("#thumbnails img").forEach((img, i) => {
    img.setAttribute("aria-selected", String(i === j));
  });
}
