/**
 * Bundles the built CLI (`dist/bin.js`, from `tsc -b`) with its dependencies into `dist/vppkit.js`, the file
 * the `vppkit` bin runs. One file loads in about half the time of the ~1000 modules it replaces (effect,
 * @effect/*, undici, fast-check …): Node's ES module loader spends most of a short run resolving and linking
 * them, and `vppkit` often runs briefly (an incremental sync from cron, `token`, `--help`).
 *
 * better-sqlite3 stays outside (a native addon, loaded from node_modules): it is the only dependency the published
 * @vppkit/cli declares; everything else is in the bundle (devDependencies). Run as a script
 * (`node packages/cli/scripts/bundle.mjs`, part of `npm run build`) or import `bundle` (the tests' global setup).
 */
import { build } from "esbuild"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const cliDir = path.dirname(path.dirname(fileURLToPath(import.meta.url)))

export const outfile = path.join(cliDir, "dist", "vppkit.js")

export const bundle = () =>
  build({
    entryPoints: [path.join(cliDir, "dist", "bin.js")],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    external: ["better-sqlite3"],
    // CommonJS dependencies inside an ES module bundle still call `require` for Node's built-ins.
    banner: { js: "import { createRequire as __vppkitCreateRequire } from 'node:module'; const require = __vppkitCreateRequire(import.meta.url);" },
    // Minified, it starts ~60 ms sooner (less to parse); names are kept for error messages. No source map: the
    // bundle's would be 11 MB (2 MB without the sources), more than the bundle, for stack traces vppkit never
    // prints; `node --enable-source-maps packages/cli/dist/bin.js` runs the unbundled build with its maps.
    minify: true,
    keepNames: true,
    sourcemap: false,
    logLevel: "warning"
  })

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await bundle()
}
