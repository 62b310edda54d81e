#!/usr/bin/env bash
# Copy the front-end files the web app serves from node_modules into webui/static/vendor/.
# Run after `npm ci`; the app never loads anything from a CDN (its CSP allows only 'self').
set -euo pipefail
cd "$(dirname "$0")/.."

src=node_modules
dest=webui/static/vendor

for pkg in bpmn-js chart.js bpmn-js-properties-panel @bpmn-io/properties-panel bpmn-js-bpmnlint bpmnlint \
    bpmn-js-token-simulation bpmn-js-differ esbuild; do
  if [ ! -d "$src/$pkg" ]; then
    echo "copy_vendor: $src/$pkg is missing; run 'npm ci' first" >&2
    exit 1
  fi
done

rm -rf "$dest"
mkdir -p "$dest/bpmn-js/assets" "$dest/chart.js"

# bpmn-js: viewer for instance diagrams, modeler for the editor; the CSS and the bpmn font
# (used by the palette and context pad) live under dist/assets.
cp "$src/bpmn-js/dist/bpmn-viewer.production.min.js" "$dest/bpmn-js/"
cp "$src/bpmn-js/dist/bpmn-navigated-viewer.production.min.js" "$dest/bpmn-js/"
cp "$src/bpmn-js/dist/bpmn-modeler.production.min.js" "$dest/bpmn-js/"
cp -R "$src/bpmn-js/dist/assets/." "$dest/bpmn-js/assets/"
cp "$src/bpmn-js/LICENSE" "$dest/bpmn-js/LICENSE"

# The editor bundle: the modeler with the properties panel and the product's pf provider, built from
# webui/static/src by esbuild (from npm); a build error stops `make install` with esbuild's message.
mkdir -p "$dest/editor"
"$src/.bin/esbuild" webui/static/src/editor.js --bundle --minify --format=iife --target=es2019 \
  --outfile="$dest/editor/editor.js" --log-level=warning
"$src/.bin/esbuild" webui/static/src/compare.js --bundle --minify --format=iife --target=es2019 \
  --outfile="$dest/editor/compare.js" --log-level=warning
cp "$src/@bpmn-io/properties-panel/dist/assets/properties-panel.css" "$dest/editor/"
cp "$src/bpmn-js-bpmnlint/dist/assets/css/bpmn-js-bpmnlint.css" "$dest/editor/"
cp "$src/bpmn-js-token-simulation/assets/css/bpmn-js-token-simulation.css" "$dest/editor/"
cp "$src/bpmn-js-properties-panel/LICENSE" "$dest/editor/LICENSE"

# chart.js: the UMD build exposes window.Chart without a bundler.
cp "$src/chart.js/dist/chart.umd.min.js" "$dest/chart.js/"
cp "$src/chart.js/LICENSE.md" "$dest/chart.js/LICENSE.md"

# Record what was copied so the app (and humans) can tell which versions are served.
node -e '
const fs = require("fs");
const out = {};
for (const p of ["bpmn-js", "chart.js"]) {
  out[p] = JSON.parse(fs.readFileSync(`node_modules/${p}/package.json`, "utf8")).version;
}
fs.writeFileSync(process.argv[1], JSON.stringify(out, null, 2) + "\n");
' "$dest/versions.json"

echo "copy_vendor: bpmn-js $(node -p 'require("./node_modules/bpmn-js/package.json").version'), chart.js $(node -p 'require("./node_modules/chart.js/package.json").version') -> $dest"
