/**
 * Bundles the built CLI (`dist/bin.js`, from `tsc -b`) with its dependencies into `dist/vppkit.js`, the file
 * the `vppkit` bin runs, and its chunks in `dist/vppkit-chunks/`. Bundled, it loads in about half the time of
 * the ~1000 modules it replaces (effect, @effect/*, undici …): Node's ES module loader spends most of a short run
 * resolving and linking them, and `vppkit` often runs briefly (an incremental sync from cron, `token`, `--help`).
 *
 * Split into chunks, a run compiles only what it uses: most of a short run is V8 compiling the code it loads
 * (about 45 ms per 300 kB on a loaded 2-core machine). `vppkit.js` itself holds the runtime and `--version`; the
 * command line (its declarations and help) is a chunk loaded next, and each command's work (the HTTP client on
 * undici, the SQL store with PostgreSQL and SQLite, the simulator and its server) is loaded by `import()` when
 * that command runs. Chunks shared by several commands are chunks of their own, loaded once.
 *
 * better-sqlite3 stays outside (a native addon, loaded from node_modules): it is the only dependency the published
 * @vppkit/cli declares; everything else is in the bundle (devDependencies). Run as a script
 * (`node packages/cli/scripts/bundle.mjs`, part of `npm run build`) or import `bundle` (the tests' global setup).
 */
import { build } from "esbuild"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const cliDir = path.dirname(path.dirname(fileURLToPath(import.meta.url)))

const outdir = path.join(cliDir, "dist")

export const outfile = path.join(outdir, "vppkit.js")

/** The chunks `vppkit.js` imports (names end in a hash of their content). */
export const chunkDir = path.join(outdir, "vppkit-chunks")

export const bundle = async () => {
  // The chunks of an earlier build would stay beside the new ones (their hashes differ), and be packed.
  fs.rmSync(chunkDir, { recursive: true, force: true })
  return build({
    entryPoints: { vppkit: path.join(outdir, "bin.js") },
    outdir,
    splitting: true,
    chunkNames: "vppkit-chunks/[name]-[hash]",
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    external: ["better-sqlite3"],
    // CommonJS dependencies inside an ES module bundle still call `require` for Node's built-ins (in every chunk).
    banner: { js: "import { createRequire as __vppkitCreateRequire } from 'node:module'; const require = __vppkitCreateRequire(import.meta.url);" },
    // Minified, it starts ~60 ms sooner (less to parse); names are kept for error messages. No source map: the
    // bundle's would be 11 MB (2 MB without the sources), more than the bundle, for stack traces vppkit never
    // prints; `node --enable-source-maps packages/cli/dist/bin.js` runs the unbundled build with its maps.
    minify: true,
    keepNames: true,
    sourcemap: false,
    logLevel: "warning"
  })
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await bundle()
}
