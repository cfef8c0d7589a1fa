import * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import * as Simulator from "@vppkit/simulator/Simulator"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Page from "../src/Page.js"
import * as SToken from "../src/SToken.js"
import * as User from "../src/User.js"
import * as VppClient from "../src/VppClient.js"
import * as ScriptedHttp from "./utils/scriptedHttp.js"

/**
 * The client configured from the environment needs only an `HttpClient` and a `FileSystem` from its runtime: here
 * the simulator's in-memory client and a file system of one file, no Node module in sight.
 */
const tokenPath = "/etc/vppkit/org.vpptoken"

/** A file system holding only `files`; any other path is not found (as a runtime reports it). */
const fileSystem = (files: Readonly<Record<string, string>>) =>
  FileSystem.layerNoop({
    readFileString: (path) =>
      path in files
        ? Effect.succeed(files[path]!)
        : Effect.fail(
          new PlatformError.SystemError({ reason: "NotFound", module: "FileSystem", method: "readFileString", pathOrDescriptor: path })
        )
  })

/** Builds `VppClient.layerConfig` with `env` as the whole environment, over the simulator and `files`. */
const fromEnv = (env: Record<string, string>, files: Readonly<Record<string, string>>) =>
  Layer.build(
    VppClient.layerConfig({ maxRequestsPerSecond: Infinity }).pipe(
      Layer.provide(Layer.merge(Simulator.layerHttpClient, fileSystem(files)))
    )
  ).pipe(
    Effect.map((context) => Context.get(context, VppClient.VppClient)),
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
  )

describe("VppClient.layerConfig", () => {
  it.scoped("reads VPP_TOKEN_FILE and VPP_BASE_URL through Config and FileSystem, over any HttpClient", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.Simulator
      const client = yield* fromEnv(
        { VPP_TOKEN_FILE: tokenPath, VPP_BASE_URL: "http://localhost:8080/mdm/" },
        { [tokenPath]: `${Redacted.value(simulator.token.value)}\n` }
      )
      assert.strictEqual(client.baseUrl, "http://localhost:8080/mdm")
      assert.strictEqual(client.token.orgName, simulator.token.orgName)
      const page = yield* client.get("/v2/users", {}, Page.envelope("users", User.User))
      assert.strictEqual((page.users as ReadonlyArray<unknown>).length, (yield* simulator.records("users")).length)
    }).pipe(Effect.provide(Simulator.layer({ seed: 3, records: { users: 4 } }))))

  it.scoped("a configuration error names the setting and keeps its cause", () =>
    Effect.gen(function*() {
      const missing = yield* Effect.flip(fromEnv({ VPP_TOKEN_FILE: tokenPath }, {}))
      assert.strictEqual(missing._tag, "ConfigurationError")
      assert.strictEqual(missing.setting, "VPP_TOKEN_FILE")
      assert.strictEqual(missing.message, `VPP_TOKEN_FILE: cannot read ${tokenPath}: no such file`)
      assert.isTrue(PlatformError.isPlatformError(missing.cause))

      const malformed = yield* Effect.flip(fromEnv({ VPP_TOKEN: "aHVudGVyMi1zZWNyZXQ=" }, {}))
      assert.strictEqual(malformed.setting, "VPP_TOKEN")
      assert.instanceOf(malformed.cause, SToken.InvalidTokenError)

      const clear = yield* Effect.flip(fromEnv({ VPP_TOKEN_FILE: tokenPath, VPP_BASE_URL: "http://vpp.example/mdm" }, {
        [tokenPath]: Redacted.value(SToken.make({ secret: "s", orgName: "O", expiresAt: new Date("2031-01-01") }).value)
      }))
      assert.strictEqual(clear.setting, "VPP_BASE_URL")
      assert.include(clear.message, "VPP_BASE_URL must use https://")
    }).pipe(Effect.provide(Simulator.layer({ seed: 3 }))))
})

describe("VppClient.makeChecked", () => {
  const token = SToken.make({ secret: "checked", orgName: "Checked School", expiresAt: new Date("2031-01-01T00:00:00Z") })
  const refusedThenOk: ScriptedHttp.Script = [{ fail: "Transport", code: "ECONNREFUSED" }, { body: { ok: true } }]
  const attemptsAt = (baseUrl: string) =>
    Effect.gen(function*() {
      const http = ScriptedHttp.make(refusedThenOk)
      const client = yield* VppClient.makeChecked({ token, baseUrl, retry: { baseDelay: "1 millis" } }).pipe(
        Effect.provide(http.layer)
      )
      yield* Effect.either(client.execute({ _tag: "Get", path: "/v2/assets" }, Page.envelope("assets", User.User)))
      return http.count()
    })

  it.live("does not retry a refused connection to a loopback host, and retries it elsewhere", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* attemptsAt("http://127.0.0.1:9/mdm"), 1)
      assert.strictEqual(yield* attemptsAt("https://vpp.test/mdm"), 2)
    }))

  it.effect("refuses a base URL that would send the sToken in clear text, naming the option", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(VppClient.makeChecked({ token, baseUrl: "http://vpp.test/mdm" }))
      assert.strictEqual(error.setting, "baseUrl")
      assert.isTrue(Either.isLeft(VppClient.checkBaseUrl("https://vpp.test/mdm?x=1", "baseUrl")))
    }).pipe(Effect.provide(ScriptedHttp.make([]).layer)))
})
