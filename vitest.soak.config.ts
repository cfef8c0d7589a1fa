import { defineConfig } from "vitest/config"
import shared from "./vitest.shared.js"

// `npm run soak`: the long soak only. Its files (packages/*/soak/**/*.soak.ts) match no include pattern of the
// test projects (test/**/*.test.ts), so `npm test` never runs them. The soak is the only project here: a config
// without `projects` would pick up vitest.workspace.ts, i.e. the whole test suite.
// Settings (environment): VPPKIT_SOAK_MINUTES (default 10), VPPKIT_SOAK_ASSIGNMENTS (1,000,000),
// VPPKIT_SOAK_FAULT_RATE (0.1), VPPKIT_SOAK_RPS (100), VPPKIT_SOAK_SEED.
export default defineConfig({
  test: {
    // Per-cycle figures go to the terminal as they are printed.
    disableConsoleIntercept: true,
    projects: [
      {
        ...shared,
        test: {
          ...shared.test,
          name: "soak",
          disableConsoleIntercept: true,
          include: ["packages/*/soak/**/*.soak.ts"],
          globalSetup: ["packages/cli/test/support/globalSetup.ts"],
          pool: "forks",
          poolOptions: { forks: { singleFork: true, execArgv: ["--max-old-space-size=8192"] } }
        }
      }
    ]
  }
})
