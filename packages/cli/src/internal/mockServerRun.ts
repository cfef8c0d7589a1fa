import * as FileSystem from "@effect/platform/FileSystem"
import type * as PlatformError from "@effect/platform/Error"
import type * as Simulator from "@vppkit/simulator/Simulator"
import * as SimulatorServer from "@vppkit/node/SimulatorServer"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Path from "node:path"
import * as ExitCode from "../ExitCode.js"
import { CommandError, UsageError } from "../ExitCode.js"
import { type MockServerFlags, survivableFaults } from "./mockServerCommand.js"

/** Most tokens `--tokens` asks for. */
const maxTokens = 100

/** The files `--write-token PATH` writes for `tokens` tokens: `PATH`, then `PATH.2`, `PATH.3`, … */
export const tokenFiles = (path: string, tokens: number): Array<string> =>
  Array.from({ length: tokens }, (_, i) => i === 0 ? path : `${path}.${i + 1}`)

/** The simulator settings the flags describe, or a usage message. */
export const settingsOf = (flags: Omit<MockServerFlags, "port" | "writeToken">): Effect.Effect<Simulator.Settings, UsageError> => {
  const negative = Object.entries(flags).find(([, value]) => typeof value === "number" && value < 0)
  if (negative !== undefined) return Effect.fail(new UsageError({ message: `--${kebab(negative[0])} must not be negative` }))
  if (flags.faultRate > 1) return Effect.fail(new UsageError({ message: "--fault-rate is a probability between 0 and 1" }))
  if (flags.pageSize < 1) return Effect.fail(new UsageError({ message: "--page-size must be at least 1" }))
  if (flags.tokens < 1 || flags.tokens > maxTokens) {
    return Effect.fail(new UsageError({ message: `--tokens must be between 1 and ${maxTokens}` }))
  }
  return Effect.succeed({
    seed: flags.seed,
    orgName: flags.orgName,
    records: { assets: flags.assets, unlimitedAssets: flags.unlimitedAssets, assignments: flags.assignments, users: flags.users },
    pageSize: flags.pageSize,
    pages: flags.pages,
    legacyOverrideIndex: flags.legacyOverrideIndex,
    ...(flags.latency > 0 ? { latency: flags.latency } : {}),
    ...(flags.faultRate > 0 ? { randomFaults: { probability: flags.faultRate, faults: survivableFaults } } : {}),
    ...(flags.churnEvery > 0
      ? { churn: { every: flags.churnEvery, resources: ["assignments", "users"], inserts: 2, updates: 2, deletes: 1 } }
      : {}),
    ...(flags.maxRequestsPerSecond > 0 ? { maxRequestsPerSecond: flags.maxRequestsPerSecond } : {}),
    ...(flags.tokens > 1 ? { tokens: flags.tokens } : {})
  })
}

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)

/** Why a file could not be written, in words (not the platform's `NotFound: FileSystem.writeFile (…)`). */
const describeWriteError = (path: string, error: PlatformError.PlatformError): string => {
  if (error._tag === "SystemError") {
    switch (error.reason) {
      case "NotFound":
        return `its directory ${Path.dirname(Path.resolve(path))} does not exist`
      case "PermissionDenied":
        return "permission denied"
      case "BadResource":
        return "it is a directory"
    }
  }
  const code = (error.cause as { readonly code?: unknown } | undefined)?.code
  return code === "EISDIR" ? "it is a directory" : error.description ?? error._tag
}

/**
 * Writes a secret file readable by its owner only; a path that cannot be written is a usage error (exit 2)
 * that names it.
 */
export const writeSecretFile = (flag: string, path: string, content: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.writeFileString(path, content, { mode: 0o600 })).pipe(
    Effect.mapError((error) => new UsageError({ message: `${flag} ${path}: cannot write it: ${describeWriteError(path, error)}` }))
  )

/** The work of `vppkit mock-server` (mockServerCommand.ts), once its command line is parsed. */
export const runMockServer = (flags: MockServerFlags & { readonly quiet: boolean }) =>
  Effect.gen(function*() {
    if (flags.port > 65535) return yield* new UsageError({ message: "--port must be between 0 and 65535" })
    const settings = yield* settingsOf(flags)
    const server = yield* SimulatorServer.make(settings, { port: flags.port }).pipe(
      Effect.mapError((error) => new CommandError({ message: `cannot listen on 127.0.0.1:${flags.port}: ${describeServeError(error)}` }))
    )
    const files = Option.isSome(flags.writeToken) ? tokenFiles(flags.writeToken.value, server.simulator.tokens.length) : []
    for (const [i, file] of files.entries()) {
      yield* writeSecretFile("--write-token", file, Redacted.value(server.simulator.tokens[i]!.value) + "\n")
    }
    yield* Console.log(`vppkit mock server for "${settings.orgName}" on ${server.baseUrl}`)
    yield* Console.log(`  export VPP_BASE_URL=${server.baseUrl}`)
    yield* Console.log(
      Option.isSome(flags.writeToken)
        ? `  export VPP_TOKEN_FILE=${flags.writeToken.value}`
        : "  (pass --write-token FILE to get a token this server accepts)"
    )
    if (files.length > 1 && !flags.quiet) {
      yield* Console.log(`  tokens of the same library (--tokens ${files.length}): ${files.join(", ")}`)
    }
    if (!flags.quiet) yield* Console.error("Press Ctrl-C to stop.")
    // Serving until stopped is the job: Ctrl-C or SIGTERM ends it with exit 0 and one line.
    yield* ExitCode.markStopAsSuccess
    return yield* Effect.never.pipe(Effect.onInterrupt(() => flags.quiet ? Effect.void : Console.error("stopped")))
  }).pipe(Effect.scoped)

const describeServeError = (error: { readonly cause?: unknown; readonly message: string }): string => {
  const cause = error.cause as { readonly code?: unknown; readonly message?: unknown } | undefined
  if (cause?.code === "EADDRINUSE") return "the port is in use (choose another with --port, or 0 for any free port)"
  return typeof cause?.message === "string" ? cause.message : error.message
}
