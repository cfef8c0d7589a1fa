import { defineConfig } from "vitest/config"
import projects from "./vitest.workspace.js"

export default defineConfig({
  test: {
    projects,
    // Once per run: the PostgreSQL suites' server is checked, or their skipping said (VPPKIT_TEST_PG_URL).
    globalSetup: ["packages/node/test/support/postgresSetup.ts"]
  }
})
