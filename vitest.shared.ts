import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { ViteUserConfig } from "vitest/config"

const root = path.dirname(fileURLToPath(import.meta.url))

// Tests run against the TypeScript sources of every workspace package, not their build output.
const alias = (name: string) => ({
  [`@vppkit/${name}`]: path.join(root, "packages", name, "src")
})

const config: ViteUserConfig = {
  esbuild: { target: "es2022" },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    fakeTimers: { toFake: undefined },
    sequence: { concurrent: false },
    alias: { ...alias("core"), ...alias("simulator"), ...alias("sync"), ...alias("fleet"), ...alias("node"), ...alias("cli") }
  }
}

export default config
