/**
 * The exit codes of `vppkit` and the one-line message each failure prints.
 *
 * | code | meaning |
 * | --- | --- |
 * | 0 | success |
 * | 1 | anything else (a bad answer from Apple, a database error, …) |
 * | 2 | usage: a bad flag, argument, file or setting |
 * | 3 | the sToken: missing, unreadable, malformed, expired, revoked or refused |
 * | 4 | gave up after retries: Apple kept rate-limiting, was unavailable, or the network failed; or asked (with |
 * |   | `Retry-After`) for a wait longer than what is left of the retry budget: the message says when to retry |
 * | 5 | incomplete: the data changed while it was read (`list` without `--allow-drift`) |
 * | 6 | busy: another `vppkit sync` is running on the database |
 *
 * @since 0.1.0
 */
import * as ValidationError from "@effect/cli/ValidationError"
import { ConfigurationError } from "@vppkit/core/VppClient"
import * as VppError from "@vppkit/core/VppError"
import * as Data from "effect/Data"
import * as Predicate from "effect/Predicate"
import { busy, failure, gaveUp, incomplete, token, usage } from "./internal/exitCodes.js"

export {
  busy,
  failure,
  gaveUp,
  incomplete,
  interrupted,
  markStopAsSuccess,
  ofInterruption,
  ok,
  token,
  usage
} from "./internal/exitCodes.js"

/**
 * Bad input the command found itself (an unknown resource, a filter the resource does not have, an
 * unreadable checkpoint file): exit code 2.
 *
 * @since 0.1.0
 * @category errors
 */
export class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}

/**
 * A token problem found before any request (expired by its own date): exit code 3.
 *
 * @since 0.1.0
 * @category errors
 */
export class TokenError extends Data.TaggedError("TokenError")<{ readonly message: string }> {}

/**
 * A failure of the command's own work (a database that cannot be opened, a file that cannot be written):
 * exit code 1.
 *
 * @since 0.1.0
 * @category errors
 */
export class CommandError extends Data.TaggedError("CommandError")<{ readonly message: string }> {}

/**
 * Another `vppkit sync` is running on the database (its lock is held): exit code 6.
 *
 * @since 0.1.0
 * @category errors
 */
export class SyncLockedError extends Data.TaggedError("SyncLockedError")<{ readonly message: string }> {}

/**
 * The command read a drifted pass (the data changed while it was read): exit code 5.
 *
 * @since 0.1.0
 * @category errors
 */
export class IncompleteError extends Data.TaggedError("IncompleteError")<{ readonly message: string }> {}

const tokenSettings: ReadonlySet<string> = new Set(["VPP_TOKEN_FILE", "VPP_TOKEN", "--token-file"])

/**
 * The exit code of a failure.
 *
 * @since 0.1.0
 * @category codes
 */
export const of = (error: unknown): number => {
  if (ValidationError.isValidationError(error)) return usage
  if (Predicate.isTagged(error, "UsageError")) return usage
  if (Predicate.isTagged(error, "TokenError")) return token
  if (Predicate.isTagged(error, "SyncLockedError")) return busy
  if (Predicate.isTagged(error, "IncompleteError") || error instanceof VppError.DriftedError) return incomplete
  if (error instanceof ConfigurationError) return tokenSettings.has(error.setting) ? token : usage
  if (VppError.isVppError(error)) {
    if (error._tag === "AuthError") return token
    if (VppError.isRetryable(error)) return gaveUp
  }
  return failure
}

/**
 * The one line printed for a failure (never a stack trace; never the sToken, which no error carries).
 *
 * @since 0.1.0
 * @category messages
 */
export const message = (error: unknown): string => {
  if (VppError.isVppError(error) && error._tag === "TransportError" && error.code === "ECONNREFUSED") {
    // Not retried on a loopback host (see NodeVppClient.make): no "gave up after retries".
    const address = /ECONNREFUSED ([^\s,]+)/.exec(error.reason)?.[1]
    return `could not reach the server at ${error.endpoint}: connection refused${
      address === undefined ? "" : ` by ${address}`
    } (is the server running?)`
  }
  if (VppError.isVppError(error) && VppError.isRetryable(error)) {
    // A Retry-After: the error's message names the time to retry after (maybe beyond the budget, unretried).
    const retryAt = "retryAt" in error ? error.retryAt : undefined
    return retryAt === undefined ? `gave up after retries: ${error.message}` : `gave up: ${error.message}`
  }
  if (VppError.isVppError(error) && error._tag === "CheckpointUnusableError") {
    return `${error.message} (run again without --since / --checkpoint, or sync with --full)`
  }
  if (error instanceof Error && error.message.length > 0) return firstLine(error.message)
  if (Predicate.hasProperty(error, "message") && typeof error.message === "string") return firstLine(error.message)
  return firstLine(String(error))
}

const firstLine = (text: string): string => text.split("\n")[0]!.trim()
