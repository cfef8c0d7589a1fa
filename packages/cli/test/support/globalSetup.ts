/**
 * Bundles the CLI before the tests run it, so that they run the file the `vppkit` bin runs, built from the
 * current `dist/` (tsc -b comes first: `npm test`).
 */
import { bundle } from "../../scripts/bundle.mjs"

export default async function setup(): Promise<void> {
  await bundle()
}
