import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import { globalOptions } from "./globals.js"
import { load } from "./lazy.js"

const options = {
  quiet: globalOptions.quiet,
  db: Options.text("db").pipe(
    Options.withPseudoName("PATH"),
    Options.withDescription("the demo's database (replaced at the start of each demo)"),
    Options.withDefault("vppkit-demo.sqlite")
  ),
  assignments: Options.integer("assignments").pipe(
    Options.withDescription("assignments in the simulated organisation"),
    Options.withDefault(40_000)
  ),
  assets: Options.integer("assets").pipe(
    Options.withDescription("assets (apps and books) in the simulated organisation; legacy licences grow with them"),
    Options.withDefault(150)
  ),
  seed: Options.integer("seed").pipe(Options.withDescription("seeds the organisation and its faults"), Options.withDefault(7)),
  faultRate: Options.float("fault-rate").pipe(
    Options.withDescription("probability (0..1) that a request meets a fault"),
    Options.withDefault(0.05)
  )
}

/** Everything `vppkit demo` parses. */
export type Flags = Command.Command.ParseConfig<typeof options>

/** `vppkit demo`: a simulated organisation synced, changed, synced again and verified (the work is in demoRun.ts). */
export const demoCommand = Command.make("demo", options, (flags) =>
  Effect.flatMap(load("vppkit demo", () => import("./demoRun.js")), (run) => run.runDemo(flags))).pipe(
  Command.withDescription(
    "Sync a simulated organisation (faults and writes on) into SQLite, change it, sync again, and verify the database"
  )
)
