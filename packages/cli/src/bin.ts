#!/usr/bin/env node
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Cli from "./Cli.js"
import * as ExitCode from "./ExitCode.js"

NodeRuntime.runMain(Effect.provide(Cli.run(process.argv), NodeContext.layer), {
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
