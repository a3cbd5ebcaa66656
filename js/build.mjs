// Bundle the front end into the Python package: `npm run build` (or `npm run
// dev` to rebuild on change). Output: lazystream_widget/static/widget.js (ESM,
// everything bundled: no CDN at run time) and lazystream_widget/static/widget.css.
import * as esbuild from "esbuild";
import { statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

/** KaTeX's CSS lists woff2, woff and ttf for each font: keep woff2 (the others would triple the size). */
const katexWoff2Only = {
  name: "katex-woff2-only",
  setup(build) {
    build.onLoad({ filter: /katex[\\/]dist[\\/]katex(\.min)?\.css$/ }, async (args) => {
      const css = await readFile(args.path, "utf8");
      const slim = css.replace(/,\s*url\([^)]*\.(woff|ttf)\)\s*format\("(woff|truetype)"\)/g, "");
      if (/\.(woff|ttf)\)/.test(slim)) throw new Error("katex-woff2-only: KaTeX's CSS changed shape; update the plugin");
      return { contents: slim, loader: "css", resolveDir: dirname(args.path) };
    });
  },
};

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
  // the export template is shared with Python (run.to_html): imported as text; KaTeX's fonts travel
  // inside the CSS (woff2 only: every browser that runs the widget reads woff2)
  loader: { ".html": "text", ".woff2": "dataurl" },
  plugins: [katexWoff2Only],
  logLevel: "info",
};

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
  console.log("watching js/ ...");
} else {
  await esbuild.build(options);
  let total = 0;
  for (const name of ["widget.js", "widget.css"]) {
    const size = statSync(join(outdir, name)).size;
    total += size;
    console.log(`${name}: ${(size / 1024).toFixed(1)} KiB`);
  }
  // limits.WIDGET_BUNDLE_MAX_BYTES: anywidget loads the bundle from a Blob URL, every saved notebook keeps it
  const MAX = 1_100_000;
  console.log(`bundle: ${(total / 1024).toFixed(1)} KiB of ${(MAX / 1024).toFixed(0)} KiB allowed`);
  if (total > MAX) {
    console.error(`the bundle (${total} bytes) is over limits.WIDGET_BUNDLE_MAX_BYTES (${MAX})`);
    process.exit(1);
  }
}
