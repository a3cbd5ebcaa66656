// Bundle the front end into the Python package: `npm run build` (or `npm run
// dev` to rebuild on change). Output: lazystream_widget/static/widget.js (ESM,
// everything bundled: no CDN at run time) and lazystream_widget/static/widget.css.
import * as esbuild from "esbuild";
import { statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

const root = fileURLToPath(new URL("..", import.meta.url));
const outdir = join(root, "lazystream_widget", "static");
const watch = process.argv.includes("--watch");

/** @type {import("esbuild").BuildOptions} */
const options = {
  absWorkingDir: root,
  entryPoints: ["js/widget.js", "js/widget.css"],
  outdir,
  entryNames: "[name]",
  bundle: true,
  format: "esm",
  target: "es2020",
  minify: !watch,
  sourcemap: watch ? "inline" : false,
  legalComments: "eof",
  logLevel: "info",
};

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
  console.log("watching js/ ...");
} else {
  await esbuild.build(options);
  for (const name of ["widget.js", "widget.css"]) {
    const size = statSync(join(outdir, name)).size;
    console.log(`${name}: ${(size / 1024).toFixed(1)} KiB`);
  }
}
