import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import type * as Simulator from "@vppkit/simulator/Simulator"
import * as Effect from "effect/Effect"
import { globalOptions } from "./globals.js"
import { load } from "./lazy.js"

/** Every fault the mock server draws from when `--fault-rate` is above 0 (the ones a client must survive). */
export const survivableFaults: ReadonlyArray<Simulator.Fault> = [
  { _tag: "RateLimited" },
  { _tag: "RateLimited", retryAfter: { seconds: 1 } },
  { _tag: "Unavailable", retryAfter: { seconds: 1, format: "http-date" } },
  { _tag: "InternalError" },
  { _tag: "BadGateway" },
  { _tag: "GatewayTimeout" },
  { _tag: "MalformedJson" },
  { _tag: "ConnectionReset" },
  { _tag: "TokenlessResponse" },
  { _tag: "ZeroRecordBatch" }
]

const count = (name: string, description: string, fallback: number) =>
  Options.integer(name).pipe(Options.withDescription(description), Options.withDefault(fallback))

const options = {
  port: count("port", "TCP port on 127.0.0.1 (0: any free port)", 8080),
  seed: count("seed", "seeds the organisation and the random faults", 1),
  orgName: Options.text("org-name").pipe(Options.withDescription("the organisation's name"), Options.withDefault("Mock School")),
  assets: count("assets", "number of assets", 200),
  unlimitedAssets: count("unlimited-assets", "of the assets, how many are unlimited free assets (unlimitedAssets)", 0),
  assignments: count("assignments", "number of assignments", 5000),
  users: count("users", "number of users", 2000),
  pageSize: count("page-size", "records per page of the v2 page-index endpoints", 1000),
  latency: count("latency", "milliseconds added to every response", 0),
  faultRate: Options.float("fault-rate").pipe(
    Options.withDescription("probability (0..1) that a request meets a random fault: 429, 503, 500, 502, 504, bad JSON, reset, …"),
    Options.withDefault(0)
  ),
  churnEvery: count("churn-every", "apply random writes before every N-th data request (0: never)", 0),
  maxRequestsPerSecond: count("max-requests-per-second", "enforce this request rate with 429 (0: no limit)", 0),
  pages: Options.choice("pages", ["live", "snapshot"]).pipe(
    Options.withDescription("live pages shift under writes, as Apple's do; snapshot pages do not"),
    Options.withDefault("live" as const)
  ),
  legacyOverrideIndex: Options.choice("legacy-override-index", ["next-batch", "first-batch"]).pipe(
    Options.withDescription("what legacy overrideIndex 1 returns"),
    Options.withDefault("next-batch" as const)
  ),
  tokens: count("tokens", "sTokens the server accepts, all of its one library (a location's tokens, as downloaded twice)", 1),
  writeToken: Options.text("write-token").pipe(
    Options.withPseudoName("PATH"),
    Options.withDescription(
      "write the mock server's sToken to this file (for VPP_TOKEN_FILE / --token-file); with --tokens N, token i (2..N) to PATH.i"
    ),
    Options.optional
  )
}

export type MockServerFlags = Command.Command.ParseConfig<typeof options>

const config = { ...options, quiet: globalOptions.quiet }

/** `vppkit mock-server`: the simulator on 127.0.0.1 until stopped (the work is in mockServerRun.ts). */
export const mockServerCommand = Command.make("mock-server", config, (flags) =>
  Effect.flatMap(load("vppkit mock-server", () => import("./mockServerRun.js")), (run) => run.runMockServer(flags))).pipe(
  Command.withDescription("Serve the simulator of Apple's API on 127.0.0.1 for MDM development and tests")
)
