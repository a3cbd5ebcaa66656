// Vitest runs the front-end unit tests in jsdom (`npm test`).
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

/** The export template is imported as text (esbuild does the same with its "text" loader). */
const htmlAsText = {
  name: "html-as-text",
  enforce: "pre",
  async load(id) {
    if (!id.endsWith(".html")) return null;
    const { readFile } = await import("node:fs/promises");
    return `export default ${JSON.stringify(await readFile(id, "utf8"))};`;
  },
};

export default defineConfig({
  plugins: [htmlAsText],
  root: fileURLToPath(new URL(".", import.meta.url)),
  // keep vite's cache in the repo root's node_modules, not in js/
  cacheDir: fileURLToPath(new URL("../node_modules/.vite", import.meta.url)),
  test: {
    environment: "jsdom",
    include: ["tests/**/*.test.js"],
    // Wall clock, for hangs only: the heaviest tests take ~15 s of CPU, and on a loaded 2-core machine the
    // wall clock runs 3-10x ahead of that. Cost checks measure CPU time (tests/helpers.js: cpuMs).
    testTimeout: 300_000,
    // Timing tests compare early vs late cost: keep them on a quiet worker.
    fileParallelism: false,
  },
});
