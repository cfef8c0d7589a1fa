/**
 * The global setup of the whole test run (the root vitest.config.ts): says once that the PostgreSQL suites are
 * skipped when no server is named, and fails the run when the named server (or CI's) cannot be reached, so that
 * CI never passes without them.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as NodeDatabase from "../../src/NodeDatabase.js"
import { checkServer, serverUrl, skipNotice } from "./postgres.js"

export default async function setup(): Promise<void> {
  if (serverUrl === undefined) {
    process.stdout.write(`${skipNotice}\n`)
    return
  }
  const exit = await Effect.runPromiseExit(checkServer(serverUrl))
  if (Exit.isFailure(exit)) {
    const failure = Cause.squash(exit.cause)
    throw new Error(
      `PostgreSQL for the tests (${NodeDatabase.describe(serverUrl)}, from ${
        process.env["VPPKIT_TEST_PG_URL"] ? "VPPKIT_TEST_PG_URL" : "CI=true"
      }) cannot be used: ${failure instanceof Error ? failure.message : String(failure)}`
    )
  }
}
