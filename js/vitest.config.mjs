// Vitest runs the front-end unit tests in jsdom (`npm test`).
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  // keep vite's cache in the repo root's node_modules, not in js/
  cacheDir: fileURLToPath(new URL("../node_modules/.vite", import.meta.url)),
  test: {
    environment: "jsdom",
    include: ["tests/**/*.test.js"],
    testTimeout: 60_000,
    // Timing tests compare early vs late cost: keep them on a quiet worker.
    fileParallelism: false,
  },
});
