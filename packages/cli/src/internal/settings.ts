/**
 * What the commands that talk to Apple share when they run: the settings (sToken, base URL) from the global
 * flags and the environment, the request rate, the expiry warnings. Loaded with the command that runs, not with
 * the command line (globals.ts has the flags); the client itself is in client.ts.
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import * as SToken from "@vppkit/core/SToken"
import * as VppClient from "@vppkit/core/VppClient"
import type * as VppError from "@vppkit/core/VppError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { TokenError, UsageError } from "../ExitCode.js"
import type { Globals } from "./globals.js"

/**
 * Sets the request rate: the flag when given, else the limit Apple publishes in `service/config` (which it says
 * to re-read, as it can change). A server without that endpoint leaves the default of 15 per second.
 */
export const applyRateLimit = (
  flag: Option.Option<number>
): Effect.Effect<void, VppError.VppError | UsageError, VppClient.VppClient> =>
  Effect.flatMap(VppClient.VppClient, (client): Effect.Effect<void, VppError.VppError | UsageError> => {
    if (Option.isSome(flag)) {
      return flag.value >= 1
        ? client.setMaxRequestsPerSecond(flag.value)
        : Effect.fail(new UsageError({ message: "--max-requests-per-second must be at least 1" }))
    }
    return client.syncServiceConfig.pipe(
      Effect.asVoid,
      Effect.catchTags({ BadRequestError: () => Effect.void, DecodeError: () => Effect.void, ProtocolError: () => Effect.void })
    )
  })

/** Days before expiry from which every command warns. */
export const expiryWarningDays = 15

/**
 * The sToken and base URL: the flags first, then the environment. An expired token fails here, before any
 * request; one that expires within {@link expiryWarningDays} days is warned about.
 */
export const loadSettings = (
  globals: Globals,
  options: { readonly allowExpired?: boolean } = {}
): Effect.Effect<VppClient.Settings, VppClient.ConfigurationError | TokenError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const flags = new Map<string, string>()
    if (Option.isSome(globals.tokenFile)) {
      flags.set("VPP_TOKEN_FILE", globals.tokenFile.value)
      flags.set("VPP_TOKEN", "")
    }
    if (Option.isSome(globals.baseUrl)) flags.set("VPP_BASE_URL", globals.baseUrl.value)
    const provider = ConfigProvider.fromMap(flags).pipe(ConfigProvider.orElse(() => ConfigProvider.fromEnv()))
    const settings = yield* VppClient.loadSettings.pipe(
      Effect.withConfigProvider(provider),
      Effect.mapError((error) => renameSetting(error, globals))
    )
    const now = new Date()
    const expired = SToken.isExpired(settings.token, now)
    if (expired && options.allowExpired === true) return settings
    if (expired) {
      return yield* new TokenError({
        message: `the sToken of ${settings.token.orgName} expired on ${
          settings.token.expiresAt.toISOString().slice(0, 10)
        }: download a new one from Apple School Manager or Apple Business Manager`
      })
    }
    const days = SToken.daysLeft(settings.token, now)
    if (days < expiryWarningDays && !globals.quiet) {
      yield* Console.error(
        `warning: the sToken of ${settings.token.orgName} expires in ${days} day${days === 1 ? "" : "s"} (${
          settings.token.expiresAt.toISOString().slice(0, 10)
        }): renew it in Apple School Manager or Apple Business Manager`
      )
    }
    return settings
  })

/** Errors about a value that came from a flag name the flag, not the environment variable. */
const renameSetting = (error: VppClient.ConfigurationError, globals: Globals): VppClient.ConfigurationError => {
  if (error.message.startsWith("no sToken configured")) {
    return new VppClient.ConfigurationError({
      setting: error.setting,
      message: `no sToken configured: pass --token-file PATH (the token file downloaded from Apple School Manager or Apple Business Manager), or set VPP_TOKEN_FILE to its path or VPP_TOKEN to its content`
    })
  }
  const flag = error.setting === "VPP_TOKEN_FILE" && Option.isSome(globals.tokenFile)
    ? "--token-file"
    : error.setting === "VPP_BASE_URL" && Option.isSome(globals.baseUrl)
    ? "--base-url"
    : undefined
  return flag === undefined
    ? error
    : new VppClient.ConfigurationError({ setting: flag, message: error.message.replace(error.setting, flag) })
}

/**
 * Warns on stderr when Apple reported (in `tokenExpirationDate`, which it sends within 15 days of expiry) that
 * the sToken expires within {@link expiryWarningDays} days, unless the token file said so already (the
 * offline check warns before any request; this one covers a server that knows better).
 */
export const warnIfServerReportsExpiry = (
  tokenExpiresAt: Date | undefined,
  quiet: boolean
): Effect.Effect<void, never, VppClient.VppClient> =>
  Effect.flatMap(VppClient.VppClient, (client) => {
    if (tokenExpiresAt === undefined || quiet) return Effect.void
    const days = Math.floor((tokenExpiresAt.getTime() - Date.now()) / 86_400_000)
    const warnedOffline = SToken.daysLeft(client.token, new Date()) < expiryWarningDays
    if (days >= expiryWarningDays || warnedOffline) return Effect.void
    return Console.error(
      `warning: Apple reports that the sToken expires in ${days} day${days === 1 ? "" : "s"} (${
        tokenExpiresAt.toISOString().slice(0, 10)
      }): renew it in Apple School Manager or Apple Business Manager`
    )
  })
