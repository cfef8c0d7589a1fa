#!/usr/bin/env node
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as v8 from "node:v8"
import * as ExitCode from "./internal/exitCodes.js"
import { heapGrowingFlag } from "./internal/heapGrowth.js"
import { isVersionRequest, version } from "./internal/version.js"

// A streaming command's peak RSS stays flat with the record count when V8 collects its old generation sooner
// (internal/heapGrowth.ts).
const heapFlag = heapGrowingFlag(process.execArgv, process.env["NODE_OPTIONS"])
if (heapFlag !== undefined) v8.setFlagsFromString(heapFlag)

// Start-up: `--version` loads no command, nor the Node context (its file system alone brings Schema and Stream);
// anything else loads the command line (Cli.js) and the context first, and each command loads what its run
// needs when it runs (the bundle's chunks: scripts/bundle.mjs). A chunk that cannot be loaded (a broken
// installation) is reported with its error and exits 1.
const main: Effect.Effect<number> = isVersionRequest(process.argv.slice(2))
  ? Effect.as(Console.log(version), ExitCode.ok)
  : Effect.tryPromise(() => Promise.all([import("./Cli.js"), import("@effect/platform-node/NodeContext")])).pipe(
    Effect.flatMap(([Cli, NodeContext]) => Effect.provide(Cli.run(process.argv), NodeContext.layer)),
    Effect.catchAll(({ cause }) =>
      Effect.as(
        Console.error(`vppkit: cannot load the command line (is the installation complete?): ${
          cause instanceof Error ? cause.message.split("\n")[0] : String(cause)
        }`),
        ExitCode.failure
      )
    )
  )

NodeRuntime.runMain(main, {
  disableErrorReporting: true,
  teardown: (exit, onExit) => {
    if (Exit.isSuccess(exit)) return onExit(typeof exit.value === "number" ? exit.value : ExitCode.ok)
    if (Exit.isInterrupted(exit)) {
      const code = ExitCode.ofInterruption()
      if (code !== ExitCode.ok) process.stderr.write("vppkit: interrupted\n")
      return onExit(code)
    }
    process.stderr.write("vppkit: internal error (please report it)\n")
    return onExit(ExitCode.failure)
  }
})
