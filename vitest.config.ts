import * as os from "node:os"
import * as path from "node:path"
import { defineConfig } from "vitest/config"
import { BaseSequencer, type TestSpecification } from "vitest/node"
import projects from "./vitest.workspace.js"

/**
 * The test files that take longest (measured with `--reporter=verbose` on 2 cores, slowest first): most of their
 * time is spent waiting for the child processes and servers they start. They start first, so that no long file
 * is left running alone at the end while the other worker has nothing to do. A new file of more than ~10 s
 * belongs here.
 */
const slowestFirst = [
  "packages/cli/test/fleetCluster.test.ts",
  "packages/cli/test/fleetSqlite.test.ts",
  "packages/cli/test/fleet.test.ts",
  "packages/cli/test/list.test.ts",
  "packages/cli/test/locations.test.ts",
  "packages/node/test/FaultMatrix.test.ts",
  "packages/cli/test/badInput.test.ts",
  "packages/core/test/Legacy.test.ts",
  "packages/cli/test/SyncBin.test.ts",
  "packages/cli/test/commands.test.ts",
  "packages/cli/test/packed.test.ts",
  "packages/cli/test/help.test.ts",
  "packages/cli/test/LocationsPostgres.test.ts",
  "packages/cli/test/SyncPostgres.test.ts",
  "packages/cli/test/secrets.test.ts",
  "packages/cli/test/requests.test.ts",
  "packages/sync/test/Sync.test.ts"
]

/**
 * Vitest's own order (the durations of the last run, kept under node_modules/.vite) when it has one for every
 * file; on a clean clone (CI) it would only have the files' sizes, so the list above comes first, then the rest,
 * larger first.
 */
class SlowestFirst extends BaseSequencer {
  override async sort(files: Array<TestSpecification>): Promise<Array<TestSpecification>> {
    const cache = this.ctx.cache
    const key = (spec: TestSpecification) => `${spec.project.name}:${path.relative(this.ctx.config.root, spec.moduleId)}`
    if (files.every((spec) => cache.getFileTestResults(key(spec)) !== undefined)) return super.sort(files)
    const rank = (spec: TestSpecification) => {
      const index = slowestFirst.indexOf(path.relative(this.ctx.config.root, spec.moduleId).split(path.sep).join("/"))
      return index === -1 ? slowestFirst.length : index
    }
    const size = (spec: TestSpecification) => cache.getFileStats(key(spec))?.size ?? 0
    return [...files].sort((a, b) => rank(a) - rank(b) || size(b) - size(a))
  }
}

export default defineConfig({
  test: {
    projects,
    // Once per run: the PostgreSQL suites' server is checked, or their skipping said (VPPKIT_TEST_PG_URL).
    globalSetup: ["packages/node/test/support/postgresSetup.ts"],
    // A worker per core: vitest's default leaves one core out (1 worker on 2 cores), but the slow files mostly
    // wait for child processes and sockets, so two files at a time keep 2 cores busy.
    maxWorkers: Math.max(2, os.availableParallelism()),
    sequence: { sequencer: SlowestFirst }
  }
})
