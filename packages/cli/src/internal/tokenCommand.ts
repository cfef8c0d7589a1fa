import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import { globalOptions } from "./globals.js"
import { load } from "./lazy.js"

const json = Options.boolean("json").pipe(Options.withDescription("print a JSON object instead of text"))
const check = Options.boolean("check").pipe(
  Options.withDescription(
    "also ask Apple (GET /v2/client/config) whether it accepts the token: location name, uId, mdmInfo, expiry; exit 3 if refused"
  )
)

const options = { ...globalOptions, json, check }

/** The flags of `vppkit token`, as parsed. */
export type Flags = Command.Command.ParseConfig<typeof options>

/** Shows what the sToken says about itself, read offline; with `--check`, what Apple says of it. Never the secret. */
export const tokenCommand = Command.make("token", options, (flags) =>
  Effect.flatMap(load("vppkit token", () => import("./tokenRun.js")), (run) => run.runToken(flags))).pipe(
    Command.withDescription(
      "Show the sToken's organisation, expiry and days left (never the secret), read offline; --check also asks Apple whether it accepts the token"
    )
  )
