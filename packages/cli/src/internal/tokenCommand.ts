import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as SToken from "@vppkit/core/SToken"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { TokenError } from "../ExitCode.js"
import { globalOptions, loadSettings } from "./globals.js"

const json = Options.boolean("json").pipe(Options.withDescription("print a JSON object instead of text"))

/** Shows what the sToken says about itself, read offline. The secret is never printed. */
export const tokenCommand = Command.make("token", { ...globalOptions, json }, ({ json, ...globals }) =>
  Effect.gen(function*() {
    const settings = yield* loadSettings(globals, { allowExpired: true })
    const now = new Date()
    const expired = SToken.isExpired(settings.token, now)
    const days = SToken.daysLeft(settings.token, now)
    const expires = settings.token.expiresAt.toISOString().replace(".000Z", "Z")
    if (json) {
      yield* Console.log(JSON.stringify({ orgName: settings.token.orgName, expiresAt: expires, daysLeft: days, expired }))
    } else {
      yield* Console.log(`organisation  ${settings.token.orgName}`)
      yield* Console.log(`expires       ${expires}${expired ? " (expired)" : ""}`)
      yield* Console.log(`days left     ${Math.max(0, days)}`)
      yield* Console.log(`base URL      ${settings.baseUrl}`)
    }
    if (expired) {
      return yield* new TokenError({
        message: `the sToken expired on ${expires.slice(0, 10)}: download a new one from Apple School Manager or Apple Business Manager`
      })
    }
  })
).pipe(Command.withDescription("Show the sToken's organisation, expiry and days left (never the secret); no request is made"))
