import * as FileSystem from "@effect/platform/FileSystem"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { assert, describe, it } from "@effect/vitest"
import * as Page from "@vppkit/core/Page"
import * as SToken from "@vppkit/core/SToken"
import * as User from "@vppkit/core/User"
import * as VppClient from "@vppkit/core/VppClient"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as http from "node:http"
import * as net from "node:net"
import * as undici from "undici"
import * as NodeVppClient from "../src/NodeVppClient.js"
import * as SimulatorServer from "../src/SimulatorServer.js"

const token = SToken.make({ secret: "not-so-secret", orgName: "Config School", expiresAt: new Date("2031-05-01T00:00:00Z") })
const tokenText = Redacted.value(token.value)

/** Builds the environment-configured client with `env` as the whole environment. */
const fromEnv = (env: Record<string, string>) =>
  Layer.build(NodeVppClient.layerConfig()).pipe(
    Effect.map((context) => Context.get(context, VppClient.VppClient)),
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
  )

const configError = (env: Record<string, string>) =>
  Effect.flip(fromEnv(env)).pipe(Effect.tap((error) => assert.strictEqual(error._tag, "ConfigurationError")))

/** A file in a fresh temporary directory (removed with the scope). */
const tempFile = (name: string, content: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const dir = yield* fs.makeTempDirectoryScoped({ prefix: "vppkit-node-test-" })
    const path = `${dir}/${name}`
    yield* fs.writeFileString(path, content)
    return { dir, path }
  }).pipe(Effect.provide(NodeFileSystem.layer))

describe("NodeVppClient.checkBaseUrl", () => {
  it("accepts https and plain http on a loopback host only", () => {
    const accepted = [
      "https://vpp.itunes.apple.com/mdm",
      "https://vpp.itunes.apple.com/mdm/",
      "http://127.0.0.1:8080/mdm",
      "http://127.9.8.7/mdm",
      "http://localhost:1234",
      "HTTP://LOCALHOST/mdm",
      "http://[::1]:9999/mdm"
    ]
    const refused = [
      "http://example.com",
      "http://127.0.0.1.nip.io/mdm",
      "http://[::2]/mdm",
      "http://10.0.0.1/mdm",
      "http://128.0.0.1/mdm",
      "ftp://127.0.0.1/mdm",
      "vpp.itunes.apple.com/mdm",
      "https://vpp.itunes.apple.com/mdm?x=1"
    ]
    for (const url of accepted) assert.isTrue(Either.isRight(NodeVppClient.checkBaseUrl(url, "VPP_BASE_URL")), url)
    for (const url of refused) assert.isTrue(Either.isLeft(NodeVppClient.checkBaseUrl(url, "VPP_BASE_URL")), url)
    assert.deepStrictEqual(
      NodeVppClient.checkBaseUrl("https://vpp.itunes.apple.com/mdm/", "VPP_BASE_URL"),
      Either.right("https://vpp.itunes.apple.com/mdm")
    )
  })

  it("names the variable in a one-line message", () => {
    const result = NodeVppClient.checkBaseUrl("http://user:password@example.com/mdm", "VPP_BASE_URL")
    assert.isTrue(Either.isLeft(result))
    if (Either.isRight(result)) return
    assert.strictEqual(result.left.setting, "VPP_BASE_URL")
    assert.strictEqual(
      result.left.message,
      "VPP_BASE_URL must use https:// (plain http:// is accepted only for a loopback host: 127.0.0.0/8, localhost or ::1), got http://example.com"
    )
  })
})

describe("NodeVppClient.layerConfig", () => {
  it.scopedLive("refuses http://example.com as VPP_BASE_URL", () =>
    Effect.gen(function*() {
      const error = yield* configError({ VPP_TOKEN: tokenText, VPP_BASE_URL: "http://example.com" })
      assert.strictEqual(error.setting, "VPP_BASE_URL")
      assert.include(error.message, "VPP_BASE_URL must use https://")
      assert.notInclude(error.message, "\n")
    }))

  it.scopedLive("reads VPP_TOKEN_FILE (trailing white space ignored) and talks to http://127.0.0.1:port", () =>
    Effect.gen(function*() {
      const server = yield* SimulatorServer.make({ seed: 8, records: { users: 9 } })
      const { path } = yield* tempFile("org.vpptoken", `${Redacted.value(server.simulator.token.value)}\n \n`)
      const client = yield* fromEnv({ VPP_TOKEN_FILE: path, VPP_BASE_URL: server.baseUrl })
      assert.strictEqual(client.baseUrl, server.baseUrl)
      assert.strictEqual(client.token.orgName, server.simulator.token.orgName)
      const page = yield* client.get("/v2/users", {}, Page.envelope("users", User.User))
      assert.strictEqual((page.users as ReadonlyArray<unknown>).length, (yield* server.simulator.records("users")).length)
    }))

  it.scopedLive("reads VPP_TOKEN and defaults VPP_BASE_URL to Apple's", () =>
    Effect.gen(function*() {
      const client = yield* fromEnv({ VPP_TOKEN: `${tokenText}\n` })
      assert.strictEqual(client.baseUrl, VppClient.defaultBaseUrl)
      assert.strictEqual(client.token.orgName, "Config School")
      assert.strictEqual(Redacted.value(client.token.value), tokenText)
    }))

  it.scopedLive("fails clearly when no token is configured", () =>
    Effect.gen(function*() {
      const error = yield* configError({ VPP_BASE_URL: "https://vpp.itunes.apple.com/mdm", VPP_TOKEN_FILE: "" })
      assert.strictEqual(error.setting, "VPP_TOKEN_FILE")
      assert.include(error.message, "no sToken configured: set VPP_TOKEN_FILE")
      assert.include(error.message, "VPP_TOKEN")
    }))

  it.scopedLive("fails clearly when the token file cannot be read", () =>
    Effect.gen(function*() {
      const { dir } = yield* tempFile("other", "")
      const missing = yield* configError({ VPP_TOKEN_FILE: `${dir}/absent.vpptoken` })
      assert.strictEqual(missing.message, `VPP_TOKEN_FILE: cannot read ${dir}/absent.vpptoken: no such file`)
      const directory = yield* configError({ VPP_TOKEN_FILE: dir })
      assert.strictEqual(directory.message, `VPP_TOKEN_FILE: cannot read ${dir}: not a regular file`)
    }))

  it.scopedLive("fails clearly on a malformed token without quoting it", () =>
    Effect.gen(function*() {
      const { path } = yield* tempFile("wrong.json", "{ \"password\": \"hunter2\" }\n")
      const fromFile = yield* configError({ VPP_TOKEN_FILE: path })
      assert.strictEqual(
        fromFile.message,
        `VPP_TOKEN_FILE: the content of ${path} is not a valid sToken: it is not Base64 text (is this the right file?)`
      )
      assert.notInclude(fromFile.message, "hunter2")

      // Base64, but not of a JSON token.
      const fromValue = yield* configError({ VPP_TOKEN: "aHVudGVyMi1zZWNyZXQ=" })
      assert.strictEqual(fromValue.setting, "VPP_TOKEN")
      assert.strictEqual(fromValue.message, "VPP_TOKEN: its value is not a valid sToken: its Base64 content is not JSON")
      assert.notInclude(String(fromValue), "aHVudGVyMi1zZWNyZXQ=")
    }))

  it.scopedLive("refuses VPP_TOKEN_FILE and VPP_TOKEN together", () =>
    Effect.gen(function*() {
      const { path } = yield* tempFile("org.vpptoken", tokenText)
      const error = yield* configError({ VPP_TOKEN_FILE: path, VPP_TOKEN: tokenText })
      assert.strictEqual(error.message, "set only one of VPP_TOKEN_FILE and VPP_TOKEN, not both")
      assert.notInclude(error.message, tokenText)
    }))
})

describe("NodeVppClient.layer", () => {
  it.scopedLive("refuses a plain-http base URL on a non-loopback host, naming the option", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(NodeVppClient.layer({ token, baseUrl: "http://example.com/mdm" })))
      assert.strictEqual(error._tag, "ConfigurationError")
      assert.strictEqual(error.setting, "baseUrl")
      assert.include(error.message, "baseUrl must use https://")
    }))
})

/** A loopback port nobody listens on (bound, then closed). */
const closedPort = Effect.async<number>((resume) => {
  const server = net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as net.AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
})

describe("NodeVppClient.make on loopback", () => {
  // Connection refused by a loopback host is the kernel's answer that nothing listens on the port: a server not
  // started, a wrong port. Waiting does not change it, so it is not retried (8 retries took a minute before).
  for (const host of ["127.0.0.1", "localhost"]) {
    it.scopedLive(`a refused connection to ${host} fails at once, not retried`, () =>
      Effect.gen(function*() {
        const port = yield* closedPort
        const client = yield* NodeVppClient.make({
          token,
          baseUrl: `http://${host}:${port}/mdm`,
          retry: { maxRetries: 3, baseDelay: "1 millis" }
        })
        const error = yield* Effect.flip(client.get("/v2/service/config", {}, VppClient.ServiceConfig))
        assert.strictEqual(error._tag, "TransportError")
        assert.strictEqual(error._tag === "TransportError" && error.code, "ECONNREFUSED")
        assert.deepStrictEqual(yield* client.stats, { requests: 1, retries: 0, rateLimited: 0 })
      }))
  }

  it.scopedLive("other failures on loopback are still retried", () =>
    Effect.gen(function*() {
      const server = yield* Effect.orDie(SimulatorServer.make({ seed: 5 }))
      yield* server.simulator.inject({ _tag: "Unavailable" }, { path: "/v2/assets", times: 1 })
      const client = yield* NodeVppClient.make({ token: server.simulator.token, baseUrl: server.baseUrl, retry: { baseDelay: "1 millis" } })
      yield* client.get("/v2/assets", { pageIndex: 0 }, Schema.Unknown)
      assert.strictEqual((yield* client.stats).retries, 1)
    }))
})

/** An HTTP server on loopback answering every request with `body()`, written in the pieces it is cut into. */
const piecewiseServer = (body: () => ReadonlyArray<Uint8Array>) =>
  Effect.acquireRelease(
    Effect.async<http.Server>((resume) => {
      const server = http.createServer((_, response) => {
        response.writeHead(200, { "content-type": "application/json" })
        for (const piece of body()) response.write(piece)
        response.end()
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
  )

/** Bytes cut at the given offsets (taken modulo the length, in order). */
const cut = (bytes: Uint8Array, offsets: ReadonlyArray<number>): ReadonlyArray<Uint8Array> => {
  const at = [...new Set(offsets.map((offset) => offset % (bytes.length + 1)))].sort((a, b) => a - b)
  return [0, ...at].map((start, i) => bytes.subarray(start, at[i] ?? bytes.length)).filter((piece) => piece.length > 0)
}

describe("NodeVppClient reads a body as undici's own body.text() does", () => {
  const utf8 = new TextEncoder()
  // A JSON string: escaped text of any code points, and stray bytes that are not UTF-8 (a lone continuation
  // byte, a sequence cut short), behind an optional byte order mark; sent in pieces that may split a character.
  const bodies = FastCheck.record({
    bom: FastCheck.boolean(),
    parts: FastCheck.array(
      FastCheck.oneof(
        FastCheck.string({ unit: "binary", maxLength: 12 }).map((text) => utf8.encode(JSON.stringify(text).slice(1, -1))),
        FastCheck.uint8Array({ min: 0x80, max: 0xff, minLength: 1, maxLength: 3 })
      ),
      { maxLength: 12 }
    ),
    offsets: FastCheck.array(FastCheck.nat(), { maxLength: 6 })
  }).map(({ bom, offsets, parts }) => {
    const bytes = Uint8Array.from([
      ...(bom ? [0xef, 0xbb, 0xbf] : []),
      0x22,
      ...parts.flatMap((part) => [...part]),
      0x22
    ])
    return cut(bytes, offsets)
  })

  it.scopedLive("the same string for any bytes, whole or in pieces", () =>
    Effect.gen(function*() {
      let pieces: ReadonlyArray<Uint8Array> = []
      const server = yield* piecewiseServer(() => pieces)
      const baseUrl = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`
      const client = yield* NodeVppClient.make({ token, baseUrl, maxRequestsPerSecond: Infinity })
      yield* Effect.promise(() =>
        FastCheck.assert(
          FastCheck.asyncProperty(bodies, async (body) => {
            pieces = body
            const expected = await undici.request(`${baseUrl}/v2/text`).then((response) => response.body.text())
            const read = await Effect.runPromise(client.get("/v2/text", {}, Schema.String))
            assert.strictEqual(read, JSON.parse(expected))
          }),
          { numRuns: 150 }
        )
      )
    }))
})
